"""`Store.commit(grown=...)`: the tree a validator already hashed, taken instead of hashed twice.

The store refuses a growth it can see is not this commit's (another base, other leaf hashes,
the wrong shape, a frontier or last root that is not the levels'); a store written with
growths is the store written without them, node for node.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.tree import CompactTree, MemoryTree
from state_db.store import Entry, Grown, Store
from tests.state_db.records import deterministic_entry


def entries(start: int, end: int) -> list[Entry]:
    return [deterministic_entry(seq) for seq in range(start, end)]


def grow(store: Store, batch: list[Entry], seal: list[tuple[int, int]]) -> Grown:
    """What the validator hands over: the tree grown segment by segment to each seal end."""
    head = store.head
    tree = CompactTree(head.tree_size, head.frontier)
    merged: list[list[bytes]] = []
    roots: list[bytes] = []
    leaves = [e.leaf_hash for e in batch]
    for end, _ts in (*seal, (head.tree_size + len(batch), 0)):
        if end > tree.size:
            levels = tree.append_many(leaves[tree.size - head.tree_size : end - head.tree_size])
            for level, nodes in enumerate(levels):
                if level == len(merged):
                    merged.append([])
                merged[level].extend(nodes)
        roots.append(tree.root() if end == tree.size else store.root_at(end))
    return Grown(head.tree_size, head.frontier, merged, tree, roots[: len(seal)])


# Commits of every shape: seals inside, at and below the old size, none, empty commits.
PLAN = [
    (0, 3, [(2, 1), (3, 2)]),
    (3, 3, []),
    (3, 17, [(9, 3)]),
    (17, 40, [(17, 4), (33, 5), (40, 6)]),
    (40, 41, [(41, 7)]),
    (41, 41, []),
    (41, 300, [(100, 8), (256, 9)]),
    (300, 301, [(300, 10)]),
    (301, 513, []),
]


def test_a_store_written_with_growths_is_the_store_written_without(tmp_path: Path) -> None:
    with (
        Store.open(tmp_path / "plain", node_chunk_bits=2) as plain,
        Store.open(tmp_path / "grown", node_chunk_bits=2) as given,
    ):
        for start, end, seal in PLAN:
            batch = entries(start, end)
            want = plain.commit(batch, seal)
            got = given.commit(batch, seal, grown=grow(given, batch, seal))
            assert got == want
            assert given.head == plain.head
    with (
        Store.open(tmp_path / "plain", node_chunk_bits=2) as plain,
        Store.open(tmp_path / "grown", node_chunk_bits=2) as given,
    ):
        tree = MemoryTree([e.leaf_hash for e in entries(0, 513)])
        assert given.head == plain.head
        assert given.head.root == tree.root()
        for size in (1, 2, 3, 17, 40, 64, 255, 256, 300, 511, 512, 513):
            assert given.root_at(size) == tree.root(size)
            for index in {0, size // 2, size - 1}:
                assert given.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
            assert given.consistency_proof(size, 513) == tree.consistency_proof(size, 513)
        for number in range(plain.head.block_count):
            assert given.get_block(number) == plain.get_block(number)


def test_a_growth_that_is_not_this_commits_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s", node_chunk_bits=2) as store:
        store.commit(entries(0, 5), [(5, 1)])
        before = store.head
        batch, seal = entries(5, 23), [(12, 2), (23, 3)]
        good = grow(store, batch, seal)
        other = [deterministic_entry(seq + 1000) for seq in range(5, 23)]
        lying_tree = good.tree.copy()
        lying_tree.frontier[-1] = bytes(32)
        lying_levels = [list(nodes) for nodes in good.levels]
        lying_levels[1][-1] = bytes(32)  # the node on the new frontier
        attempts: list[tuple[Grown, str]] = [
            # Grown from another tree: the store's own before the last commit.
            (good._replace(base_size=0, base_frontier=()), "size 0, not the store's"),
            (good._replace(base_frontier=(bytes(32),) * 2), "not the store's"),
            # Over other records' leaf hashes, or missing one.
            (grow(store, other, seal), "other leaf hashes"),
            (good._replace(levels=[good.levels[0][:-1], *good.levels[1:]]), "other leaf hashes"),
            # The wrong shape: a level short, a level missing, a root too few.
            (
                good._replace(levels=[good.levels[0], good.levels[1][:-1], *good.levels[2:]]),
                "level 1",
            ),
            (good._replace(levels=good.levels[:-1]), "too few"),
            (good._replace(roots=good.roots[:1]), "one root per seal"),
            # A frontier or last root that is not the levels'.
            (good._replace(tree=lying_tree), "frontier"),
            (good._replace(levels=lying_levels), "frontier"),
            (good._replace(roots=[good.roots[0], bytes(32)]), "last seal's root"),
        ]
        for attempt, reason in attempts:
            with pytest.raises(AssertionError, match=reason):
                store.commit(batch, seal, grown=attempt)
            assert store.head == before
        # The honest growth commits, and is what the store would have hashed.
        result = store.commit(batch, seal, grown=good)
        tree = MemoryTree([e.leaf_hash for e in entries(0, 23)])
        assert result.root == tree.root() == store.root_at(23)
        assert [b.log_root for b in result.blocks] == [tree.root(12), tree.root(23)]
        assert store.inclusion_proof(6, 20) == tree.inclusion_proof(6, 20)
