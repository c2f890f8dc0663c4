"""The RFC 9162 tree (prover/tree.py) against the RFC's own recursive definitions.

The reference functions below (`naive_mth`, `naive_path`, `naive_proof`, and the two naive
verifiers) transcribe RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 literally, recursion and all; the
fast iterative code in prover/tree.py must agree with them everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import lru_cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prover.errors import ConsistencyProofError, InclusionProofError, InvalidFieldError
from prover.hashing import EMPTY_ROOT, keccak256, leaf_hash, node_hash
from prover.tree import (
    CompactTree,
    LevelsNodeReader,
    MemoryTree,
    NodeId,
    compute_root,
    consistency_ranges,
    inclusion_ranges,
    is_valid_consistency,
    is_valid_inclusion,
    prove_consistency,
    prove_inclusion,
    root_from_inclusion_proof,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)
from prover.types import MAX_TREE_SIZE, Hash32

# --- the RFC 9162 definitions, written out recursively ----------------------------------------


def _split(n: int) -> int:
    """RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Naive:
    """MTH, PATH and PROOF of RFC 9162 §2.1 over a list of leaf hashes, memoised by range."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, start: int, end: int) -> bytes:
        # MTH({}) = H(); MTH({d0}) = the leaf hash; else H(0x01 || MTH(left) || MTH(right)).
        n = end - start
        if n == 0:
            return keccak256(b"")
        if n == 1:
            return self.leaves[start]
        k = _split(n)
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[start:end]) of §2.1.3.1 (m relative to start)."""
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[start:end], b) of §2.1.4.1."""
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = _split(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[0:n]) of §2.1.4.1; empty for m == 0 or m == n."""
        if m == 0 or m == n:
            return []
        return self.subproof(m, 0, n, True)


def naive_root_from_path(leaf: bytes, m: int, n: int, proof: Sequence[bytes]) -> bytes | None:
    """Undo PATH(m, D[n]) recursively: the root `proof` implies, or None if its length is wrong."""
    if n == 1:
        return leaf if not proof else None
    if not proof:
        return None
    k = _split(n)
    last = proof[-1]
    if m < k:
        sub = naive_root_from_path(leaf, m, k, proof[:-1])
        return None if sub is None else node_hash(sub, last)
    sub = naive_root_from_path(leaf, m - k, n - k, proof[:-1])
    return None if sub is None else node_hash(last, sub)


def _naive_subproof_roots(
    m: int, n: int, b: bool, proof: Sequence[bytes], first_root: bytes
) -> tuple[bytes, bytes] | None:
    """Undo SUBPROOF(m, D[n], b): the (old, new) subtree roots implied, or None on bad length."""
    if m == n:
        if b:
            return (first_root, first_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = _split(n)
    last = proof[-1]
    if m <= k:
        sub = _naive_subproof_roots(m, k, b, proof[:-1], first_root)
        return None if sub is None else (sub[0], node_hash(sub[1], last))
    sub = _naive_subproof_roots(m - k, n - k, False, proof[:-1], first_root)
    return None if sub is None else (node_hash(last, sub[0]), node_hash(last, sub[1]))


def naive_is_consistent(
    m: int, n: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4 checked by undoing the recursion (m == 0 and m == n as in RFC 6962)."""
    if not 0 <= m <= n:
        return False
    if m == n:
        return not proof and first_root == second_root
    if m == 0:
        return not proof and first_root == keccak256(b"")
    roots = _naive_subproof_roots(m, n, True, proof, first_root)
    return roots is not None and roots == (first_root, second_root)


CROSS_CHECK_MAX = 20
"""Largest size for which every other (index, size) pair is tried against each proof."""


def leaves_for(n: int, salt: bytes = b"") -> list[Hash32]:
    return [leaf_hash(salt + i.to_bytes(8, "big")) for i in range(n)]


def flip(h: bytes, byte: int = 0) -> bytes:
    return h[:byte] + bytes([h[byte] ^ 0x01]) + h[byte + 1 :]


# --- known answers ---------------------------------------------------------------------------


def test_known_answers() -> None:
    empty = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    assert keccak256(b"") == empty
    assert empty == EMPTY_ROOT
    assert CompactTree().root() == empty
    assert MemoryTree().root() == empty
    assert compute_root(LevelsNodeReader(), 0) == empty
    one = MemoryTree([leaf_hash(b"")])
    assert one.root() == keccak256(b"\x00")
    assert one.root() == bytes.fromhex(
        "bc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a"
    )
    two = MemoryTree([leaf_hash(b"a"), leaf_hash(b"b")])
    assert two.root() == keccak256(b"\x01" + keccak256(b"\x00a") + keccak256(b"\x00b"))


# --- the incremental tree equals MTH ---------------------------------------------------------


@pytest.mark.parametrize("n", range(0, 70))
def test_roots_exhaustive_small(n: int) -> None:
    leaves = leaves_for(n)
    naive = Naive(leaves)
    one_at_a_time = CompactTree()
    reader = LevelsNodeReader()
    for i, h in enumerate(leaves):
        assert one_at_a_time.root() == naive.mth(0, i)
        reader.add(one_at_a_time.append_many([h]))
    assert one_at_a_time.size == n
    assert one_at_a_time.root() == naive.mth(0, n)
    for size in range(n + 1):
        assert compute_root(reader, size) == naive.mth(0, size)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=3000),
    seed=st.integers(min_value=0, max_value=2**32),
    max_chunk=st.sampled_from([1, 2, 3, 7, 64, 1000]),
)
@example(n=3000, seed=1, max_chunk=1000)
@example(n=1025, seed=2, max_chunk=1)
def test_random_chunks_match_naive(n: int, seed: int, max_chunk: int) -> None:
    leaves = leaves_for(n, seed.to_bytes(8, "big"))
    naive = Naive(leaves)
    rng = random.Random(seed)
    whole = MemoryTree(leaves)
    chunked = MemoryTree()
    compact = CompactTree()
    sizes = [0]
    while chunked.size < n:
        step = rng.randint(1, max_chunk)
        batch = leaves[chunked.size : chunked.size + step]
        new_levels = compact.append_many(batch)
        # Level L of the output starts at node index old_size >> L and is contiguous.
        assert new_levels[0] == batch
        assert not new_levels or new_levels[-1]
        chunked.extend(batch)
        assert compact.size == chunked.size
        assert compact.root() == naive.mth(0, chunked.size)
        sizes.append(chunked.size)
    assert whole.nodes.levels == chunked.nodes.levels
    assert whole.root() == chunked.root() == naive.mth(0, n)
    for size in sizes:
        assert whole.root(size) == naive.mth(0, size)
    # A copy continues independently of the original.
    twin = compact.copy()
    twin.append_many([leaf_hash(b"extra")])
    assert compact.size == n
    assert twin.size == n + 1
    assert twin.root() == Naive([*leaves, leaf_hash(b"extra")]).mth(0, n + 1)


def test_perfect_subtree_nodes_match_mth() -> None:
    leaves = leaves_for(300)
    naive = Naive(leaves)
    tree = MemoryTree(leaves)
    for level, hashes in enumerate(tree.nodes.levels):
        assert len(hashes) == 300 >> level
        for index, h in enumerate(hashes):
            assert h == naive.mth(index << level, (index + 1) << level)


# --- inclusion proofs ------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 65))
def test_inclusion_exhaustive_small(n: int) -> None:
    leaves = leaves_for(n + 5)
    naive = Naive(leaves)
    tree = MemoryTree(leaves)
    root = naive.mth(0, n)
    for i in range(n):
        proof = tree.inclusion_proof(i, n)
        assert proof == naive.path(i, 0, n)
        # inclusion_ranges names the same subtrees (it is public: stores batch their reads).
        assert [subtree_hash(tree.nodes, s, e) for s, e in inclusion_ranges(i, n)] == proof
        verify_inclusion(leaves[i], i, n, proof, root)
        assert is_valid_inclusion(leaves[i], i, n, proof, root)
        assert root_from_inclusion_proof(leaves[i], i, n, proof) == root
        if n > CROSS_CHECK_MAX:
            continue
        # Every other (index, size) either implies the same root by the RFC recursion, or fails.
        for j in range(n + 5):
            for size in range(j + 1, n + 6):
                expected = naive_root_from_path(leaves[i], j, size, proof) == root
                assert is_valid_inclusion(leaves[i], j, size, proof, root) == expected, (
                    i,
                    n,
                    j,
                    size,
                )
                if j != i and j < n:
                    # The leaf at j is another leaf: it can never verify with i's path.
                    assert not is_valid_inclusion(leaves[j], j, size, proof, root)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=1, max_value=3000), seed=st.integers(0, 2**32))
@example(n=3000, seed=3)
@example(n=2049, seed=4)
def test_inclusion_all_indices(n: int, seed: int) -> None:
    leaves = leaves_for(n, seed.to_bytes(8, "big"))
    naive = Naive(leaves)
    tree = MemoryTree(leaves)
    root = tree.root()
    assert root == naive.mth(0, n)
    rng = random.Random(seed)
    checked = set(rng.sample(range(n), min(n, 40)))
    for i in range(n):
        proof = prove_inclusion(tree.nodes, i, n)
        verify_inclusion(leaves[i], i, n, proof, root)
        assert len(proof) <= n.bit_length()
        if i in checked:
            assert proof == naive.path(i, 0, n)


def _assert_inclusion_fails(leaf: bytes, i: int, n: int, proof: list[Hash32], root: bytes) -> None:
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaf, i, n, proof, root)
    assert not is_valid_inclusion(leaf, i, n, proof, root)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=600))
def test_inclusion_tampering(data: st.DataObject, n: int) -> None:
    leaves = leaves_for(n)
    tree = MemoryTree(leaves)
    root = tree.root()
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = tree.inclusion_proof(i)
    verify_inclusion(leaves[i], i, n, proof, root)
    # Any flipped bit of any element, of the leaf, or of the root fails.
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="element")
        byte = data.draw(st.integers(0, 31), label="byte")
        tampered = list(proof)
        tampered[k] = Hash32(flip(proof[k], byte))
        _assert_inclusion_fails(leaves[i], i, n, tampered, root)
    _assert_inclusion_fails(flip(leaves[i], 31), i, n, proof, root)
    _assert_inclusion_fails(leaves[i], i, n, proof, flip(root, 7))
    # Adding or removing an element always fails: the length is fixed by (index, size).
    _assert_inclusion_fails(leaves[i], i, n, [*proof, Hash32(keccak256(b"x"))], root)
    _assert_inclusion_fails(leaves[i], i, n, [Hash32(keccak256(b"x")), *proof], root)
    if proof:
        _assert_inclusion_fails(leaves[i], i, n, proof[:-1], root)
        _assert_inclusion_fails(leaves[i], i, n, proof[1:], root)
    # A wrong index or size fails unless the RFC recursion combines the path the same way
    # (e.g. index 0 of sizes 3 and 4): then it must pass, since the verifier cannot tell.
    j = data.draw(st.integers(0, n + 3), label="other index")
    size = data.draw(st.integers(j + 1, n + 4), label="other size")
    expected = naive_root_from_path(leaves[i], j, size, proof) == root
    assert is_valid_inclusion(leaves[i], j, size, proof, root) == expected
    if (j, size) != (i, n) and not expected:
        _assert_inclusion_fails(leaves[i], j, size, proof, root)


def test_inclusion_shape_ambiguity_is_real() -> None:
    # Index 0 of sizes 3 and 4 combines its path the same way: right, right.
    leaves = leaves_for(3)
    tree = MemoryTree(leaves)
    proof = tree.inclusion_proof(0)
    assert is_valid_inclusion(leaves[0], 0, 4, proof, tree.root())
    # ... but index 1 of size 3 (left, right) does not match index 2 (-, left).
    proof1 = tree.inclusion_proof(1)
    assert not is_valid_inclusion(leaves[1], 2, 3, proof1, tree.root())


def test_inclusion_rejects_bad_input() -> None:
    tree = MemoryTree(leaves_for(8))
    root = tree.root()
    proof = tree.inclusion_proof(3)
    leaf = tree.nodes.levels[0][3]
    for index, size in [(-1, 8), (8, 8), (0, 0), (3, MAX_TREE_SIZE + 1)]:
        _assert_inclusion_fails(leaf, index, size, proof, root)
    short = [*proof[:-1], proof[-1][:31]]
    with pytest.raises(InclusionProofError, match="32 bytes"):
        verify_inclusion(leaf, 3, 8, short, root)
    with pytest.raises(InvalidFieldError, match="index"):
        tree.inclusion_proof(8)
    with pytest.raises(InvalidFieldError, match="tree_size"):
        tree.inclusion_proof(0, 9)
    with pytest.raises(InvalidFieldError, match="tree_size"):
        prove_inclusion(tree.nodes, 0, MAX_TREE_SIZE + 1)


# --- consistency proofs ----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(0, 49))
def test_consistency_exhaustive_small(n: int) -> None:
    leaves = leaves_for(n + 3)
    naive = Naive(leaves)
    tree = MemoryTree(leaves)
    second_root = naive.mth(0, n)
    for m in range(n + 1):
        first_root = naive.mth(0, m)
        proof = tree.consistency_proof(m, n)
        assert proof == naive.proof(m, n)
        assert [subtree_hash(tree.nodes, s, e) for s, e in consistency_ranges(m, n)] == proof
        verify_consistency(m, n, first_root, second_root, proof)
        assert is_valid_consistency(m, n, first_root, second_root, proof)
        if n > CROSS_CHECK_MAX:
            continue
        # Differential check against the recursive verifier for every other pair of sizes:
        # same verdict everywhere, including the pairs that combine the same way.
        for m2 in range(n + 4):
            for n2 in range(m2, n + 4):
                assert is_valid_consistency(
                    m2, n2, first_root, second_root, proof
                ) == naive_is_consistent(m2, n2, first_root, second_root, proof), (m, n, m2, n2)
                if (m2, n2) != (m, n) and 0 < m2 < n2 <= n + 3:
                    # With the true roots of m2 and n2 this (m, n) proof is not theirs unless
                    # the RFC recursion says both proofs are the same list.
                    r1, r2 = naive.mth(0, m2), naive.mth(0, n2)
                    if naive.proof(m2, n2) != proof:
                        assert not is_valid_consistency(m2, n2, r1, r2, proof)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=0, max_value=2500), seed=st.integers(0, 2**32))
@example(n=2500, seed=5)
@example(n=2049, seed=6)
def test_consistency_all_first_sizes(n: int, seed: int) -> None:
    leaves = leaves_for(n, seed.to_bytes(8, "big"))
    tree = MemoryTree(leaves)
    naive = Naive(leaves)
    second_root = tree.root()
    roots = [compute_root(tree.nodes, m) for m in range(n + 1)]
    rng = random.Random(seed)
    checked = set(rng.sample(range(n + 1), min(n + 1, 30)))
    for m in range(n + 1):
        proof = prove_consistency(tree.nodes, m, n)
        verify_consistency(m, n, roots[m], second_root, proof)
        assert len(proof) <= 2 * max(1, n.bit_length())
        if m in checked:
            assert roots[m] == naive.mth(0, m)
            assert proof == naive.proof(m, n)


def _assert_consistency_fails(m: int, n: int, r1: bytes, r2: bytes, proof: list[Hash32]) -> None:
    with pytest.raises(ConsistencyProofError):
        verify_consistency(m, n, r1, r2, proof)
    assert not is_valid_consistency(m, n, r1, r2, proof)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=600))
def test_consistency_tampering(data: st.DataObject, n: int) -> None:
    leaves = leaves_for(n)
    tree = MemoryTree(leaves)
    m = data.draw(st.integers(0, n), label="first")
    r1, r2 = tree.root(m), tree.root(n)
    proof = tree.consistency_proof(m, n)
    verify_consistency(m, n, r1, r2, proof)
    extra = Hash32(keccak256(b"x"))
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="element")
        byte = data.draw(st.integers(0, 31), label="byte")
        tampered = list(proof)
        tampered[k] = Hash32(flip(proof[k], byte))
        _assert_consistency_fails(m, n, r1, r2, tampered)
        _assert_consistency_fails(m, n, r1, r2, proof[:-1])
        _assert_consistency_fails(m, n, r1, r2, proof[1:])
    _assert_consistency_fails(m, n, r1, r2, [*proof, extra])
    _assert_consistency_fails(m, n, r1, r2, [extra, *proof])
    # Either root wrong fails, except the second one from size 0: every tree extends the
    # empty tree, so there is nothing to check about it.
    _assert_consistency_fails(m, n, flip(r1, 5), r2, proof)
    if m == 0:
        verify_consistency(m, n, r1, flip(r2, 9), proof)
    else:
        _assert_consistency_fails(m, n, r1, flip(r2, 9), proof)
    # Wrong sizes with the same roots and proof: the verdict of the recursive verifier.
    m2 = data.draw(st.integers(0, n + 3), label="other first")
    n2 = data.draw(st.integers(m2, n + 3), label="other second")
    expected = naive_is_consistent(m2, n2, r1, r2, proof)
    assert is_valid_consistency(m2, n2, r1, r2, proof) == expected


def test_consistency_rejects_bad_input() -> None:
    tree = MemoryTree(leaves_for(10))
    r4, r10 = tree.root(4), tree.root(10)
    proof = tree.consistency_proof(4, 10)
    _assert_consistency_fails(5, 4, r4, r10, proof)
    _assert_consistency_fails(-1, 10, r4, r10, proof)
    _assert_consistency_fails(4, MAX_TREE_SIZE + 1, r4, r10, proof)
    _assert_consistency_fails(4, 10, r4, r10, [])
    _assert_consistency_fails(4, 10, r4, r10, [*proof[:-1], proof[-1][:31]])
    # Equal sizes need an empty proof and equal roots; from 0 an empty proof and H("").
    verify_consistency(10, 10, r10, r10, [])
    _assert_consistency_fails(10, 10, r10, r10, proof[:1])
    _assert_consistency_fails(10, 10, r4, r10, [])
    verify_consistency(0, 10, EMPTY_ROOT, r10, [])
    _assert_consistency_fails(0, 10, r4, r10, [])
    _assert_consistency_fails(0, 10, EMPTY_ROOT, r10, proof[:1])
    with pytest.raises(InvalidFieldError, match="first"):
        tree.consistency_proof(11, 10)
    with pytest.raises(InvalidFieldError, match="tree_size"):
        tree.consistency_proof(1, 11)
    assert consistency_ranges(0, 10) == consistency_ranges(10, 10) == []


# --- CompactTree input checks ----------------------------------------------------------------


def test_compact_tree_rejects_wrong_frontier() -> None:
    h = leaf_hash(b"a")
    for size, frontier in [(1, []), (1, [h, h]), (6, [h]), (7, [h, h]), (0, [h])]:
        with pytest.raises(InvalidFieldError, match="frontier"):
            CompactTree(size, frontier)
    with pytest.raises(InvalidFieldError, match="tree_size"):
        CompactTree(-1, [])
    with pytest.raises(InvalidFieldError, match="tree_size"):
        CompactTree(MAX_TREE_SIZE + 1, [h])
    full = CompactTree(MAX_TREE_SIZE, [h])
    with pytest.raises(InvalidFieldError, match="2\\*\\*52"):
        full.append_many([h])
    assert full.size == MAX_TREE_SIZE
    assert full.frontier == [h]


def test_compact_tree_resumes_from_frontier() -> None:
    leaves = leaves_for(100)
    naive = Naive(leaves)
    for cut in range(0, 100, 7):
        head = CompactTree()
        head.append_many(leaves[:cut])
        resumed = CompactTree(cut, list(head.frontier))
        resumed.append_many(leaves[cut:])
        assert resumed.root() == naive.mth(0, 100)


# --- a tree of size near MAX_TREE_SIZE (2**52) ---------------------------------------------------


MAX_LEVEL = MAX_TREE_SIZE.bit_length() - 1  # 52: the height of the largest tree


class SparseReader:
    """A consistent tree of up to MAX_TREE_SIZE leaves that is all one filler leaf except a few.

    A perfect subtree with no special leaf has the hash of `level` levels of filler, so only
    the branches above special leaves are hashed: O(specials * MAX_LEVEL) work for any node.
    """

    def __init__(self, specials: dict[int, bytes]) -> None:
        self.specials = specials
        self.filler = [leaf_hash(b"filler")]
        for _ in range(MAX_LEVEL + 1):
            self.filler.append(node_hash(self.filler[-1], self.filler[-1]))
        self.node = lru_cache(maxsize=None)(self._node)
        self.reads = 0

    def leaf(self, index: int) -> Hash32:
        return Hash32(self.specials.get(index, self.filler[0]))

    def _node(self, level: int, index: int) -> Hash32:
        start, end = index << level, (index + 1) << level
        if not any(start <= s < end for s in self.specials):
            return Hash32(self.filler[level])
        if level == 0:
            return self.leaf(index)
        return node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))

    def read_nodes(self, ids: Sequence[NodeId]) -> list[Hash32]:
        self.reads += len(ids)
        return [self.node(level, index) for level, index in ids]


@settings(max_examples=30, deadline=None)
@given(
    below=st.integers(min_value=0, max_value=2**20),
    specials=st.lists(st.integers(1, 2**36), min_size=1, max_size=4, unique=True),
    first_back=st.integers(min_value=1, max_value=2**39),
)
def test_near_max_tree_size(below: int, specials: list[int], first_back: int) -> None:
    n = MAX_TREE_SIZE - below
    positions = sorted({n - s for s in specials if n - s >= 0} | {0, n - 1})
    reader = SparseReader({p: leaf_hash(p.to_bytes(8, "big")) for p in positions})
    root = compute_root(reader, n)
    for p in positions:
        proof = prove_inclusion(reader, p, n)
        assert len(proof) <= MAX_LEVEL
        verify_inclusion(reader.leaf(p), p, n, proof, root)
        _assert_inclusion_fails(flip(reader.leaf(p), 0), p, n, proof, root)
    m = max(1, n - first_back)
    proof = prove_consistency(reader, m, n)
    assert len(proof) <= 2 * MAX_LEVEL
    verify_consistency(m, n, compute_root(reader, m), root, proof)
    _assert_consistency_fails(m, n, flip(compute_root(reader, m), 3), root, proof)
    # The frontier of size n, read back from the reader, appends like any other tree.
    ids = _frontier_ids(n)
    compact = CompactTree(n, reader.read_nodes(ids))
    assert compact.root() == root
    tail = [leaf_hash(b"tail%d" % i) for i in range(min(below, 3))]
    compact.append_many(tail)
    full = SparseReader({**reader.specials, **{n + i: t for i, t in enumerate(tail)}})
    assert compact.root() == compute_root(full, n + len(tail))


def _frontier_ids(n: int) -> list[NodeId]:
    ids: list[NodeId] = []
    start = 0
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            ids.append((level, start >> level))
            start += 1 << level
    return ids


def test_max_size_proof_lengths() -> None:
    reader = SparseReader({0: leaf_hash(b"a"), MAX_TREE_SIZE - 1: leaf_hash(b"b")})
    n = MAX_TREE_SIZE
    root = compute_root(reader, n)
    for index in (0, n - 1):
        proof = prove_inclusion(reader, index, n)
        assert len(proof) == MAX_LEVEL
        verify_inclusion(reader.leaf(index), index, n, proof, root)
    # The longest consistency proofs come from sizes just past a large power of two.
    worst = max(len(consistency_ranges(m, n - 1)) for m in (3, 2**20 + 1, n // 2 + 1, n - 3))
    assert worst <= 2 * MAX_LEVEL
    assert len(inclusion_ranges(n // 2 - 1, n - 1)) <= MAX_LEVEL


# --- is_valid_* mirrors verify_* --------------------------------------------------------------


def _raises(fn: Callable[[], None], error: type[Exception]) -> bool:
    try:
        fn()
    except error:
        return True
    return False


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 40),
    i=st.integers(-2, 45),
    size=st.integers(-2, 45),
    m=st.integers(-2, 45),
    drop=st.integers(0, 8),
)
def test_is_valid_mirrors_verify(n: int, i: int, size: int, m: int, drop: int) -> None:
    leaves = leaves_for(n)
    tree = MemoryTree(leaves)
    root = tree.root()
    proof = tree.inclusion_proof(min(max(i, 0), n - 1))[drop:]
    leaf = leaves[min(max(i, 0), n - 1)]
    assert is_valid_inclusion(leaf, i, size, proof, root) == (
        not _raises(lambda: verify_inclusion(leaf, i, size, proof, root), InclusionProofError)
    )
    first = min(max(m, 0), n)
    cproof = tree.consistency_proof(first)[drop:]
    r1 = tree.root(first)
    assert is_valid_consistency(m, size, r1, root, cproof) == (
        not _raises(
            lambda: verify_consistency(m, size, r1, root, cproof), ConsistencyProofError
        )
    )
