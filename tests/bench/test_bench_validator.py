"""`bench.bench_validator --follow`: a replica following a live stream ends holding all of it."""

from __future__ import annotations

from pathlib import Path

from bench.bench_validator import follow


def test_follow_a_short_stream_catches_up(tmp_path: Path) -> None:
    out = follow(2000, 1.5, tmp_path, batch=100)
    assert out["errors"] == 0
    assert out["acked_eps"] > 0
    assert out["lag_at_stop"] >= 0 and out["caught_up_s"] >= 0
    assert all(lag >= 0 for lag in out["lag_records_each_s"])
    # Every acknowledged event was sealed and replicated by the end.
    assert out["acked_events"] > 0
    assert out["replicated"] == out["sealed"] == out["acked_events"]
