"""bench/bench_explorer.py at a small size: every page it times answers, and the tab and
ingest measurements produce their figures (the real run is 10M records, docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench import bench_explorer
from prover.checkpoint import CheckpointStatus, checkpoint_from_json
from sequencer.devnet.process import SequencerProcess
from state_db.store import Store


def test_pages_and_tabs_at_a_small_store(tmp_path: Path) -> None:
    built = bench_explorer.build_store(tmp_path / "store", 3000)
    assert built["records"] == 3000 and not built["reused"]
    assert bench_explorer.build_store(tmp_path / "store", 3000)["reused"]
    with SequencerProcess(tmp_path / "store", dev=False) as proc:
        pages = bench_explorer.time_pages(proc.url, 3000, runs=2)
        assert set(pages) >= {
            "dashboard snapshot, full (a new tab)",
            "search by number (event, block, checkpoint)",
            "search by leaf hash (find + event)",
            "search by 32-byte hash of no record (all three scans)",
            "event page + revocations + verifier fetches",
            "submitter page, unsigned submitter (both lists)",
            "checkpoint page (checkpoint, consistency proof)",
            "block page (256 events)",
            "GET /explorer/verify.js",
        }
        assert all(p["n"] == 2 and p["max_ms"] > 0 for p in pages.values())
        tabs = bench_explorer.tab_cpu(proc, tabs=2, seconds=4.5)
        # Live tabs get one message a second (the first on connecting), polling ones poll.
        assert tabs["sse_1"]["messages"] >= 3 and tabs["sse_2"]["messages"] >= 6
        assert tabs["polling"]["polls"] >= 2
        assert all(tabs[k]["per_tab_core_share"] >= 0 for k in ("sse_1", "sse_2", "polling"))


def test_the_bench_store_has_the_committers_checkpoints(tmp_path: Path) -> None:
    """One checkpoint per CHECKPOINT_EVERY records with the true root, the last pending (as
    `sequencer.l1.committer` stores them), so the checkpoint pages read real values."""
    bench_explorer.build_store(tmp_path / "store", 2 * bench_explorer.CHECKPOINT_EVERY // 50)
    with Store.open(tmp_path / "store" / "log") as store:
        assert store.checkpoint_count() == 1
        cp, _tx = checkpoint_from_json(orjson.loads(store.get_checkpoint(0) or b""))
        assert (cp.size, cp.root) == (store.head.tree_size, store.head.root)
        assert cp.status == CheckpointStatus.PENDING
