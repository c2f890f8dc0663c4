"""Prometheus metrics of one validator process (`GET /metrics`), in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class ValidatorMetrics:
    """Replica size, checkpoints seen and verified, proofs and challenges sent, L1/upstream health."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.replica_size = Gauge("validator_replica_size", "Records in the replica", registry=r)
        self.blocks = Gauge("validator_blocks", "Blocks replicated", registry=r)
        self.violations = Gauge(
            "validator_violations", "docs/spec.md §8 violations found", registry=r
        )
        self.checkpoints_seen = Counter(
            "validator_checkpoints_seen", "L1 checkpoints seen", registry=r
        )
        self.checkpoints_verified = Counter(
            "validator_checkpoints_verified", "Checkpoints whose root and records agree", registry=r
        )
        self.proofs_sent = Counter(
            "validator_proofs_sent",
            "Fraud and broken-receipt proofs sent, by rule",
            ["rule"],
            registry=r,
        )
        self.da_challenges = Counter("validator_da_challenges", "DA challenges opened", registry=r)
        self.rollbacks = Counter(
            "validator_rollbacks",
            "Rollbacks of provisional records an L1 checkpoint contradicted",
            registry=r,
        )
        self.receipts_watched = Gauge(
            "validator_receipts_watched", "Receipts handed over", registry=r
        )
        self.l1_up = Gauge("validator_l1_up", "1 when the last L1 round succeeded", registry=r)
        self.upstream_up = Gauge(
            "validator_upstream_up", "1 when the last pull from the upstreams succeeded", registry=r
        )
        self.l1_rounds = Counter(
            "validator_l1_rounds", "Watcher rounds completed without an L1 error", registry=r
        )
        self.rpc_requests = Counter(
            "validator_rpc_requests",
            "JSON-RPC request objects by method and outcome (ok, or the error's name)",
            ["method", "outcome"],
            registry=r,
        )

    def count_request(self, method: str, outcome: str) -> None:
        """One JSON-RPC request object answered (`Dispatcher(observe=...)`)."""
        self.rpc_requests.labels(method=method, outcome=outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
