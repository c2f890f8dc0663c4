"""A block receipt's `leavesRoot` taken partly from the log tree's nodes the validator already
hashed (`compute_leaves_root(leaves, start, levels)`) is the root hashed from the leaves."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prover.hashing import keccak256
from prover.receipt import compute_leaves_root
from prover.tree import CompactTree, MemoryTree


def leaves(first: int, count: int) -> list[bytes]:
    return [keccak256(i.to_bytes(8, "big")) for i in range(first, first + count)]


@settings(max_examples=300, deadline=None)
@given(
    start=st.one_of(st.integers(0, 2100), st.sampled_from([0, 256, 512, 1000, 1024, 2048])),
    count=st.integers(1, 700),
)
def test_the_root_from_the_logs_nodes_is_the_root_from_the_leaves(start: int, count: int) -> None:
    log = CompactTree()
    log.append_many(leaves(0, start))
    block = leaves(start, count)
    levels = log.append_many(block)
    want = MemoryTree(block).root()
    assert compute_leaves_root(block) == want
    assert compute_leaves_root(block, start, levels) == want


def test_levels_of_another_range_are_a_bug() -> None:
    log = CompactTree()
    log.append_many(leaves(0, 1024))
    levels = log.append_many(leaves(1024, 100))
    with pytest.raises(AssertionError, match="another range"):
        compute_leaves_root(leaves(1024, 99), 1024, levels)
    # Nodes that are not those of these leaves give another root, which no receipt signs.
    forged = [list(nodes) for nodes in levels]
    forged[-1][0] = bytes(32)  # the level the receipt's tree is taken from
    assert (
        compute_leaves_root(leaves(1024, 100), 1024, forged) != MemoryTree(leaves(1024, 100)).root()
    )
