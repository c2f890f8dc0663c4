"""Prometheus metrics of one sequencer process (`GET /metrics`, text format)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_GROUP_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
_COMMIT_BUCKETS = (0.5, 1, 2, 5, 12, 30, 60, 120, 300, 600)


class Metrics:
    """All counters and gauges, in a registry of their own (so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter("attest_events_accepted", "Events durably written", registry=r)
        self.rejected = Counter(
            "attest_events_rejected", "Events refused, by reason", ["reason"], registry=r
        )
        self.queue_depth = Gauge("attest_queue_depth", "Events waiting for the writer", registry=r)
        self.group_size = Histogram(
            "attest_group_commit_size",
            "Events per group commit",
            buckets=_GROUP_BUCKETS,
            registry=r,
        )
        self.group_latency = Histogram(
            "attest_group_commit_seconds",
            "Time to build and durably write one group",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tree_size = Gauge("attest_tree_size", "Leaves in the durable log", registry=r)
        self.blocks = Gauge("attest_blocks", "Sealed blocks", registry=r)
        self.rpc_requests = Counter(
            "attest_rpc_requests",
            "JSON-RPC request objects by method and outcome (ok, or the error's name)",
            ["method", "outcome"],
            registry=r,
        )
        self._rpc_children: dict[tuple[str, str], Any] = {}
        self.l1_up = Gauge("attest_l1_up", "1 when the last L1 call succeeded", registry=r)
        self.checkpoint_size = Gauge(
            "attest_checkpoint_tree_size", "Tree size of the latest L1 checkpoint", registry=r
        )
        self.checkpoint_lag = Gauge(
            "attest_checkpoint_lag_events", "Durable events not yet covered on L1", registry=r
        )
        self.commit_failures = Counter(
            "attest_l1_commit_failures",
            "Committer rounds that failed (an L1 read or the commit itself)",
            registry=r,
        )
        self.l1_rounds = Counter(
            "attest_l1_rounds", "Committer rounds completed without an L1 error", registry=r
        )
        self.l1_head_block = Gauge(
            "attest_l1_head_block", "Number of L1's latest block", registry=r
        )
        self.l1_head_age = Gauge(
            "attest_l1_head_age_seconds", "Now minus the time of L1's latest block seen", registry=r
        )
        self.l1_pending_transactions = Gauge(
            "attest_l1_pending_transactions",
            "Sequencer transactions sent but not mined",
            registry=r,
        )
        self.commit_latency = Histogram(
            "attest_l1_commit_latency_seconds",
            "From sending a commit to its successful receipt",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.commit_in_flight = Gauge(
            "attest_l1_commit_in_flight_seconds",
            "Age of the commit waiting for its receipt (0: none)",
            registry=r,
        )
        self.receipt_deadline_left = Gauge(
            "attest_receipt_deadline_seconds_left",
            "Time left on the nearest deadline of a receipt not yet covered on L1 (NaN: none open)",
            registry=r,
        )

        self.deadline_at_risk = Gauge(
            "attest_receipt_deadline_at_risk",
            "1 while the nearest open receipt deadline may be missed (fees pushed, alert)",
            registry=r,
        )
        self.refusing_receipts = Gauge(
            "attest_receipts_refused_now",
            "1 while submissions are refused because a receipt deadline could not be kept",
            registry=r,
        )
        self.commit_estimate = Gauge(
            "attest_l1_commit_estimate_seconds",
            "How long a commit sent now is expected to take (deadline judgement)",
            registry=r,
        )
        self.l1_replacements = Gauge(
            "attest_l1_replacements",
            "Replacement transactions sent since start (by fee bump or a near deadline)",
            registry=r,
        )
        self.l1_urgent_replacements = Gauge(
            "attest_l1_urgent_replacements",
            "Replacements a near receipt deadline pushed beyond the normal schedule",
            registry=r,
        )
        self.l1_fees_paid = Gauge(
            "attest_l1_fees_paid_wei",
            "Gas fees paid for the sequencer's mined transactions since start (wei)",
            registry=r,
        )
        self.l1_reorgs = Gauge(
            "attest_l1_reorgs", "L1 reorganisations seen since start", registry=r
        )
        self.l1_reorg_depth = Gauge(
            "attest_l1_reorg_deepest_blocks", "Deepest L1 reorganisation seen (blocks)", registry=r
        )

    def count_requests(self, method: str, outcome: str, n: int) -> None:
        """`n` JSON-RPC request objects answered (by the HTTP front process)."""
        self.rpc_requests.labels(method=method, outcome=outcome).inc(n)

    def count_request(self, method: str, outcome: str) -> None:
        """One JSON-RPC request object answered (`Dispatcher(observe=...)`, the ingest pool)."""
        key = (method, outcome)
        child = self._rpc_children.get(key)
        if child is None:  # labels() costs a lock and a tuple build: once per pair, not per call
            child = self._rpc_children[key] = self.rpc_requests.labels(
                method=method, outcome=outcome
            )
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
