"""bench/bench_explorer.py at a small size: every page it times answers, and the tab and
ingest measurements produce their figures (the real run is 10M records, docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

from bench import bench_explorer
from sequencer.devnet.process import SequencerProcess


def test_pages_and_tabs_at_a_small_store(tmp_path: Path) -> None:
    built = bench_explorer.build_store(tmp_path / "store", 3000)
    assert built["records"] == 3000 and not built["reused"]
    assert bench_explorer.build_store(tmp_path / "store", 3000)["reused"]
    with SequencerProcess(tmp_path / "store", dev=False) as proc:
        pages = bench_explorer.time_pages(proc.url, 3000, runs=2)
        assert set(pages) >= {
            "dashboard (first poll, all samples)",
            "event page + in-browser verification fetches",
            "block page (256 events)",
            "GET /explorer/verify.js",
        }
        assert all(p["n"] == 2 and p["max_ms"] > 0 for p in pages.values())
        tabs = bench_explorer.tab_cpu(proc, tabs=2, seconds=4.5)
        assert tabs["polls"] >= 2 and tabs["per_tab_core_share"] >= 0
