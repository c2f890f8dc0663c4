"""`bench.bench_overload`'s pooling of runs (docs/benchmarks.md §10 reports pooled p99s)."""

from __future__ import annotations

from typing import Any

from bench.bench_overload import percentiles, pooled


def report(head_ms: list[float], body_ms: list[float]) -> dict[str, Any]:
    each = head_ms + body_ms
    return {
        "probe_refused_head_each_ms": head_ms,
        "probe_refused_body_each_ms": body_ms,
        "probe_refused_ms": percentiles([t / 1000 for t in each]),
        "status_ms": percentiles([0.002]),
        "health_ms": percentiles([0.003]),
    }


def test_pooled_runs_are_one_sample_with_each_runs_p99_beside() -> None:
    # 99 fast refusals in one run, one slow refusal after the body in the other: pooled, the
    # slow one is the 100th of 100, so it is the max and the p99 (index 99), not the p90.
    fast = report([1.0] * 99, [])
    slow = report([], [40.0])
    out = pooled([fast, slow])
    assert out["runs"] == 2 and out["after_the_body"] == 1
    assert out["probe_refused_ms"]["n"] == 100
    assert out["probe_refused_ms"]["p90"] == 1.0
    assert out["probe_refused_ms"]["p99"] == 40.0 == out["probe_refused_ms"]["max"]
    assert out["runs_p99_ms"] == [1.0, 40.0]
    assert out["status_p99_ms"] == [2.0, 2.0] and out["health_p99_ms"] == [3.0, 3.0]
