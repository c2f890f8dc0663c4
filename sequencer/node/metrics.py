"""Prometheus metrics of one sequencer process (`GET /metrics`, text format)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_GROUP_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


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
