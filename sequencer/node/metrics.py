"""Prometheus metrics of one sequencer process (`GET /metrics`, text format)."""

from __future__ import annotations

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
            "attest_group_commit_size", "Events per group commit", buckets=_GROUP_BUCKETS, registry=r
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
            "attest_rpc_requests", "JSON-RPC calls by method", ["method"], registry=r
        )
        self.l1_up = Gauge("attest_l1_up", "1 when the last L1 call succeeded", registry=r)
        self.checkpoint_size = Gauge(
            "attest_checkpoint_tree_size", "Tree size of the latest L1 checkpoint", registry=r
        )
        self.checkpoint_lag = Gauge(
            "attest_checkpoint_lag_events", "Durable events not yet covered on L1", registry=r
        )
        self.commit_failures = Counter(
            "attest_l1_commit_failures", "Failed checkpoint commits", registry=r
        )
        self.l1_head_block = Gauge("attest_l1_head_block", "Number of L1's latest block", registry=r)
        self.l1_head_age = Gauge(
            "attest_l1_head_age_seconds", "Now minus the time of L1's latest block seen", registry=r
        )
        self.l1_pending_transactions = Gauge(
            "attest_l1_pending_transactions", "Sequencer transactions sent but not mined", registry=r
        )
        self.commit_latency = Histogram(
            "attest_l1_commit_latency_seconds",
            "From sending a commit to its successful receipt",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.commit_in_flight = Gauge(
            "attest_l1_commit_in_flight_seconds", "Age of the commit waiting for its receipt (0: none)",
            registry=r,
        )
        self.l1_replacements = Gauge(
            "attest_l1_replacements", "Transactions replaced with higher fees since start", registry=r
        )
        self.receipt_deadline_left = Gauge(
            "attest_receipt_deadline_seconds_left",
            "Time left on the nearest deadline of a receipt not yet covered on L1 (NaN: none open)",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
