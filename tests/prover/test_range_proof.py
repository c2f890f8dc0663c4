"""The DA range proof (prover.range_proof) against MemoryTree; tests/l1_contracts/test_da.py
runs the same proofs through the contract's revealRecords."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prover.errors import InclusionProofError, InvalidFieldError
from prover.hashing import keccak256
from prover.range_proof import is_valid_range, prove_range, root_from_range, verify_range
from prover.tree import MemoryTree

LEAVES = [keccak256(i.to_bytes(4, "big")) for i in range(300)]


def test_every_range_of_small_trees() -> None:
    for n in range(1, 34):
        tree = MemoryTree(LEAVES[:n])
        root = tree.root()
        for start in range(n):
            for end in range(start + 1, n + 1):
                proof = prove_range(tree.nodes, start, end, n)
                assert len(proof) <= 2 * max(1, (n - 1).bit_length())
                assert root_from_range(LEAVES[start:end], start, n, proof) == root


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_ranges_of_larger_trees(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 300))
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start + 1, min(n, start + 256)))
    tree = MemoryTree(LEAVES[:n])
    proof = prove_range(tree.nodes, start, end, n)
    assert root_from_range(LEAVES[start:end], start, n, proof) == tree.root()
    # Any changed leaf or boundary hash changes the root.
    leaves = list(LEAVES[start:end])
    i = data.draw(st.integers(0, len(leaves) - 1))
    leaves[i] = keccak256(b"x")
    assert root_from_range(leaves, start, n, proof) != tree.root()
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[j] = keccak256(b"y")
        assert root_from_range(LEAVES[start:end], start, n, bad) != tree.root()


def test_bad_inputs() -> None:
    tree = MemoryTree(LEAVES[:10])
    with pytest.raises(InvalidFieldError, match="range"):
        prove_range(tree.nodes, 5, 5, 10)
    with pytest.raises(InvalidFieldError, match="range"):
        prove_range(tree.nodes, 5, 11, 10)
    with pytest.raises(InvalidFieldError, match="tree_size"):
        prove_range(tree.nodes, 0, 1, 0)
    proof = prove_range(tree.nodes, 3, 6, 10)
    with pytest.raises(InvalidFieldError, match="too short"):
        root_from_range(LEAVES[3:6], 3, 10, proof[:-1])
    with pytest.raises(InvalidFieldError, match="too long"):
        root_from_range(LEAVES[3:6], 3, 10, [*proof, proof[0]])


def test_edge_ranges() -> None:
    for n in (1, 2, 3, 5, 8, 13, 64, 100):
        tree = MemoryTree(LEAVES[:n])
        # The whole tree needs no boundary hashes.
        assert prove_range(tree.nodes, 0, n, n) == []
        # One leaf: the range proof is the RFC 9162 audit path, leaf side first.
        for i in range(n):
            assert prove_range(tree.nodes, i, i + 1, n) == tree.inclusion_proof(i)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_verify_and_is_valid(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 120))
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start + 1, n))
    tree = MemoryTree(LEAVES[:n])
    proof = prove_range(tree.nodes, start, end, n)
    leaves = LEAVES[start:end]
    verify_range(leaves, start, n, proof, tree.root())
    assert is_valid_range(leaves, start, n, proof, tree.root())
    # A wrong root is a failed proof; a malformed one (wrong length) is malformed input.
    with pytest.raises(InclusionProofError):
        verify_range(leaves, start, n, proof, keccak256(b"other"))
    assert not is_valid_range(leaves, start, n, proof, keccak256(b"other"))
    assert not is_valid_range(
        leaves, start, n, [*proof, proof[0] if proof else LEAVES[0]], tree.root()
    )
    assert not is_valid_range([], start, n, proof, tree.root())
