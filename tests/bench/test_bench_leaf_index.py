"""bench/bench_leaf_index.py at a small size: the paired run puts every variant through the
same commits and reports the differences to the floor; the tree runs rotate their order."""

from __future__ import annotations

from bench import bench_leaf_index


def test_paired_run_reports_each_variant_against_the_floor() -> None:
    out = bench_leaf_index.run_paired(records=16_000, group=1000, block_groups=4)
    assert out["blocks"] == 4 and out["records_per_block"] == 4000
    variants = out["variants"]
    assert set(variants) == {"no leaf index", "schema 3 (buckets)", "schema 4 (prefixes)"}
    assert variants["no leaf index"]["added_us_mean"] == 0.0
    assert all(v["commit_thread_us_per_record"] > 0 for v in variants.values())


def test_tree_order_rotates_and_reverses() -> None:
    orders = bench_leaf_index._orders(["a", "b", "c"], 6)
    assert orders[:3] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert orders[3:] == [["c", "b", "a"], ["a", "c", "b"], ["b", "a", "c"]]
    # Every tree runs first, and last, equally often.
    assert (
        sorted(o[0] for o in orders)
        == sorted(o[-1] for o in orders)
        == ["a", "a", "b", "b", "c", "c"]
    )
