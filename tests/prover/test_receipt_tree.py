"""Receipt trees (docs/spec.md §5) against the RFC 9162 recursion and the log's own proofs."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prover.errors import InclusionProofError, InvalidFieldError
from prover.hashing import leaf_hash, node_hash
from prover.receipt_tree import (
    ReceiptTree,
    compute_receipt_tree,
    is_valid_receipt_path,
    verify_receipt_path,
    verify_receipt_paths,
)
from prover.tree import MemoryTree, verify_inclusion
from prover.types import Hash32
from tests.prover.test_tree import Naive, flip, leaves_for


@pytest.mark.parametrize("count", range(1, 80))
def test_matches_naive_rfc9162(count: int) -> None:
    leaves = leaves_for(count, b"receipt")
    naive = Naive(leaves)
    tree = compute_receipt_tree(leaves)
    assert tree.root == naive.mth(0, count)
    assert len(tree.paths) == count
    for i, path in enumerate(tree.paths):
        assert isinstance(path, tuple)
        assert list(path) == naive.path(i, 0, count)
        verify_receipt_path(leaves[i], i, count, path, tree.root)
        assert is_valid_receipt_path(leaves[i], i, count, path, tree.root)


def test_one_leaf_batch_root_is_the_leaf_hash() -> None:
    h = leaf_hash(b"only event")
    tree = compute_receipt_tree([h])
    assert tree.root == h
    assert tree.paths == ((),)
    verify_receipt_path(h, 0, 1, (), h)


def test_two_leaves_known_answer() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    tree = compute_receipt_tree([a, b])
    assert tree.root == node_hash(a, b)
    assert tree.paths == ((b,), (a,))


@settings(max_examples=30, deadline=None)
@given(count=st.integers(1, 10_000), salt=st.binary(max_size=8))
@example(count=10_000, salt=b"")
@example(count=8192, salt=b"")
@example(count=8193, salt=b"")
def test_large_batches_match_the_log_tree(count: int, salt: bytes) -> None:
    leaves = leaves_for(count, salt)
    log = MemoryTree(leaves)
    tree = compute_receipt_tree(leaves)
    assert tree.root == log.root()
    step = max(1, count // 97)
    for i in [*range(0, count, step), count - 1]:
        assert list(tree.paths[i]) == log.inclusion_proof(i)
        verify_inclusion(leaves[i], i, count, tree.paths[i], tree.root)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), count=st.integers(2, 300))
def test_tampering_fails(data: st.DataObject, count: int) -> None:
    leaves = leaves_for(count)
    tree = compute_receipt_tree(leaves)
    i = data.draw(st.integers(0, count - 1), label="index")
    path = tree.paths[i]
    k = data.draw(st.integers(0, len(path) - 1), label="element")
    byte = data.draw(st.integers(0, 31), label="byte")
    bad_path = (*path[:k], Hash32(flip(path[k], byte)), *path[k + 1 :])
    cases = [
        (leaves[i], i, count, bad_path, tree.root),
        (flip(leaves[i], byte), i, count, path, tree.root),
        (leaves[i], i, count, path, flip(tree.root, byte)),
        (leaves[i], i, count, path[:-1], tree.root),
        (leaves[i], i, count, (*path, path[0]), tree.root),
        # Another leaf of the batch never verifies with this leaf's path.
        (leaves[(i + 1) % count], (i + 1) % count, count, path, tree.root),
    ]
    for leaf, index, size, p, root in cases:
        with pytest.raises(InclusionProofError):
            verify_receipt_path(leaf, index, size, p, root)
        assert not is_valid_receipt_path(leaf, index, size, p, root)


def _hex(path: tuple[bytes, ...]) -> list[str]:
    return ["0x" + p.hex() for p in path]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), count=st.integers(1, 300))
def test_many_paths_at_once_agree_with_one_at_a_time(data: st.DataObject, count: int) -> None:
    # A slice of the receipt (a batch that shares it with another), in order, as the client
    # sees it; every honest path passes, and one tampered element anywhere fails the whole set.
    leaves = leaves_for(count)
    tree = compute_receipt_tree(leaves)
    lo = data.draw(st.integers(0, count - 1), label="lo")
    hi = data.draw(st.integers(lo + 1, count), label="hi")
    idx = list(range(lo, hi))
    paths = [_hex(tree.paths[i]) for i in idx]
    verify_receipt_paths([leaves[i] for i in idx], idx, count, paths, tree.root)
    # Upper-case hex is the same path written otherwise: still passes (the plain check).
    upper = [[("0x" + e[2:].upper()) for e in p] for p in paths]
    verify_receipt_paths([leaves[i] for i in idx], idx, count, upper, tree.root)
    j = data.draw(st.integers(0, len(idx) - 1), label="which leaf")
    if paths[j]:
        k = data.draw(st.integers(0, len(paths[j]) - 1), label="element")
        bad = [list(p) for p in paths]
        bad[j][k] = "0x" + flip(bytes.fromhex(bad[j][k][2:])).hex()
        with pytest.raises(InclusionProofError):
            verify_receipt_paths([leaves[i] for i in idx], idx, count, bad, tree.root)
        short = [list(p) for p in paths]
        short[j] = short[j][:-1]
        with pytest.raises(InclusionProofError):
            verify_receipt_paths([leaves[i] for i in idx], idx, count, short, tree.root)
        junk = [list(p) for p in paths]
        junk[j][k] = "0xnothex"
        with pytest.raises(InclusionProofError, match="not a 0x-hex"):
            verify_receipt_paths([leaves[i] for i in idx], idx, count, junk, tree.root)
    forged = [*(leaves[i] for i in idx)]
    forged[j] = flip(forged[j])
    with pytest.raises(InclusionProofError):
        verify_receipt_paths(forged, idx, count, paths, tree.root)
    longer = [list(p) for p in paths]
    longer[j] = [*longer[j], "0x" + bytes(32).hex()]
    with pytest.raises(InclusionProofError):
        verify_receipt_paths([leaves[i] for i in idx], idx, count, longer, tree.root)
    with pytest.raises(InclusionProofError):
        verify_receipt_paths([leaves[i] for i in idx], idx, count, paths, flip(tree.root))


def test_bad_input() -> None:
    with pytest.raises(InvalidFieldError, match="at least one leaf"):
        compute_receipt_tree([])
    with pytest.raises(InvalidFieldError, match=r"events\[1\]\.leaf_hashes: leaf hash is 31"):
        compute_receipt_tree([leaf_hash(b"a"), leaf_hash(b"b")[:31]])
    tree = compute_receipt_tree(leaves_for(5))
    for index, count in [(-1, 5), (5, 5), (0, 0)]:
        with pytest.raises(InclusionProofError, match="not inside a batch"):
            verify_receipt_path(leaves_for(5)[0], index, count, tree.paths[0], tree.root)


def test_receipt_tree_is_frozen() -> None:
    tree = compute_receipt_tree(leaves_for(3))
    assert isinstance(tree, ReceiptTree)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.root = Hash32(b"\x00" * 32)  # type: ignore[misc]
