"""The RFC 9162 §2.1 Merkle tree with keccak256 (docs/spec.md §2): appending, roots, proofs.

A *node id* ``(level, index)`` names the perfect subtree of ``2**level`` leaves that starts at
leaf ``index << level``. Only perfect subtrees are ever stored: every other subtree hash (the
right edge of an unbalanced tree) is computed from at most log2(n) of them, which is what lets
the store answer roots, inclusion and consistency proofs for any earlier size.

Proof math reaches storage only through `NodeReader` (as golang.org/x/mod/sumdb/tlog does
with its HashReader), so the same functions serve LevelDB, memory and receipt trees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, cast

import sha3

from prover.errors import ConsistencyProofError, InclusionProofError, InvalidFieldError
from prover.hashing import EMPTY_ROOT
from prover.types import MAX_TREE_SIZE, Hash32

_keccak = sha3.keccak_256
_NODE: Final[bytes] = b"\x01"
HASH_SIZE: Final[int] = 32
MAX_LEVELS: Final[int] = 64
_SMALL_BATCH: Final[int] = 16
"""Below this many leaves `append_many` goes leaf by leaf (measured with bench/bench_tree.py)."""

NodeId = tuple[int, int]
"""``(level, index)``: the perfect subtree of 2**level leaves starting at leaf index<<level."""


class NodeReader(Protocol):
    """Read access to the stored perfect-subtree hashes of one tree."""

    def read_nodes(self, ids: Sequence[NodeId]) -> list[Hash32]:
        """Return the hashes of `ids`, in order. Every id names a complete subtree."""
        ...


# --- appending -------------------------------------------------------------------------------


class CompactTree:
    """The right edge ("frontier") of an RFC 9162 tree: O(log n) memory, appends in O(1) hashes.

    The frontier holds one hash per set bit of `size`, largest subtree first; together they
    are exactly the perfect subtrees the tree of that size decomposes into (RFC 9162 §2.1.1
    splits at the largest power of two smaller than n, recursively).
    """

    __slots__ = ("frontier", "size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        # Verify the frontier has one hash per set bit of size.
        if size < 0 or size > MAX_TREE_SIZE:
            raise InvalidFieldError("tree_size", f"must be in [0, 2**40], got {size}")
        if len(frontier) != size.bit_count():
            raise InvalidFieldError(
                "frontier",
                f"tree of size {size} needs {size.bit_count()} hashes, got {len(frontier)}",
            )
        self.size = size
        self.frontier: list[bytes] = list(frontier)

    def copy(self) -> CompactTree:
        """An independent copy (appending to it leaves this one unchanged)."""
        return CompactTree(self.size, self.frontier)

    def append_many(self, leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
        """Append leaf hashes; return the perfect subtrees this completed, level by level.

        ``result[level]`` lists the new nodes of that level in index order, starting at index
        ``old_size >> level`` (new complete nodes of one level are always contiguous). Level 0
        is `leaf_hashes` itself. Trailing empty levels are omitted.
        """
        size = self.size
        count = len(leaf_hashes)
        if size + count > MAX_TREE_SIZE:
            raise InvalidFieldError("tree_size", "appending would exceed 2**40 leaves")
        if count < _SMALL_BATCH:
            return self._append_leaf_by_leaf(leaf_hashes)
        # The old frontier, smallest level first: pending[i] is the left sibling waiting at
        # the level of the i-th lowest set bit of `size`.
        pending = self.frontier[::-1]
        pending_pos = 0
        new_frontier: list[bytes] = []  # smallest level first, reversed at the end
        out: list[list[bytes]] = [list(leaf_hashes)]
        keccak = _keccak
        node = _NODE
        level_nodes = out[0]
        level = 0
        # Work one level at a time rather than one leaf at a time: the new nodes of a level
        # are contiguous, so pairing them is a single comprehension over two strided slices,
        # with no per-leaf frontier pops and pushes. That keeps a large batch close to the
        # bare cost of its keccak calls (bench/bench_tree.py measures the gap).
        while level_nodes:
            if (size >> level) & 1:
                # An odd index at this level: its left sibling is the waiting frontier node.
                level_nodes = [pending[pending_pos], *level_nodes]
                pending_pos += 1
            if len(level_nodes) & 1:
                # One node is left without a right sibling: it joins the new frontier.
                new_frontier.append(level_nodes[-1])
            parents = [
                keccak(node + left + right).digest()
                for left, right in zip(level_nodes[0::2], level_nodes[1::2], strict=False)
            ]
            if not parents:
                break
            out.append(parents)
            level_nodes = parents
            level += 1
        # Levels above the last one that gained a node keep their old frontier nodes.
        new_frontier.extend(pending[pending_pos:])
        new_frontier.reverse()
        self.frontier = new_frontier
        self.size = size + count
        return out

    def _append_leaf_by_leaf(self, leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
        """`append_many` for a few leaves, where setting up the level-wise pass costs more."""
        frontier = self.frontier
        size = self.size
        out: list[list[bytes]] = [list(leaf_hashes)]
        keccak = _keccak
        for h in leaf_hashes:
            index = size
            level = 0
            # Each trailing 1 bit of the old size is a left sibling waiting for this node.
            while index & 1:
                h = keccak(_NODE + frontier.pop() + h).digest()
                level += 1
                index >>= 1
                if level == len(out):
                    out.append([])
                out[level].append(h)
            frontier.append(h)
            size += 1
        self.size = size
        return out

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash."""
        self.append_many((leaf_hash,))

    def root(self) -> Hash32:
        """MTH of the current tree (RFC 9162 §2.1.1)."""
        return fold_subtrees(self.frontier)


def fold_subtrees(hashes: Sequence[bytes]) -> Hash32:
    """Hash a left-to-right decomposition into perfect subtrees (largest first) into one root."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = _keccak(_NODE + left + acc).digest()
    return Hash32(acc)


# --- node arithmetic -------------------------------------------------------------------------


def _largest_power_of_two_below(n: int) -> int:
    """k such that k < n <= 2k (RFC 9162 §2.1.1), for n > 1."""
    return 1 << ((n - 1).bit_length() - 1)


def range_node_ids(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees, largest first, whose concatenation is the leaf range [start, end).

    Valid for every range the RFC 9162 recursion produces: `start` is a multiple of a power
    of two at least as large as ``end - start``.
    """
    ids: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        ids.append((level, start >> level))
        start += 1 << level
    return ids


def subtree_hash(reader: NodeReader, start: int, end: int) -> Hash32:
    """MTH(D[start:end]) for a range of the RFC 9162 recursion, from stored nodes."""
    return fold_subtrees(reader.read_nodes(range_node_ids(start, end)))


def compute_root(reader: NodeReader, tree_size: int) -> Hash32:
    """Root of the tree of `tree_size` leaves, from at most log2(tree_size) stored nodes."""
    _check_size(tree_size)
    return subtree_hash(reader, 0, tree_size)


def _check_size(tree_size: int) -> None:
    if tree_size < 0 or tree_size > MAX_TREE_SIZE:
        raise InvalidFieldError("tree_size", f"must be in [0, 2**40], got {tree_size}")


def _read_ranges(reader: NodeReader, ranges: Sequence[tuple[int, int]]) -> list[Hash32]:
    """Hash each range with one batched read of all the nodes involved."""
    groups = [range_node_ids(s, e) for s, e in ranges]
    flat = reader.read_nodes([node for g in groups for node in g])
    out: list[Hash32] = []
    pos = 0
    for g in groups:
        out.append(fold_subtrees(flat[pos : pos + len(g)]))
        pos += len(g)
    return out


# --- inclusion (RFC 9162 §2.1.3) -------------------------------------------------------------


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PATH(index, D[0:tree_size]), leaf side first."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def prove_inclusion(reader: NodeReader, index: int, tree_size: int) -> list[Hash32]:
    """RFC 9162 §2.1.3.1 audit path for leaf `index` in the tree of `tree_size` leaves."""
    _check_size(tree_size)
    if not 0 <= index < tree_size:
        raise InvalidFieldError("index", f"must be in [0, {tree_size}), got {index}")
    # The same path as `inclusion_ranges` gives, found without the recursion: the tree is
    # the perfect subtrees C_0 (largest) .. C_m of the set bits of tree_size, nested as
    # C_0 + (C_1 + (... + C_m)) (§2.1.1). The leaf lies in the C whose bit is the highest
    # where index and tree_size differ; its path is the sibling of each node above the leaf
    # inside that C, then MTH of all smaller Cs (on its right), then the larger Cs (on its
    # left), nearest first.
    height = (index ^ tree_size).bit_length() - 1
    ids: list[NodeId] = [(level, (index >> level) ^ 1) for level in range(height)]
    right = [
        (level, (tree_size >> level) - 1)
        for level in range(height - 1, -1, -1)
        if tree_size >> level & 1
    ]
    left = [
        (level, (tree_size >> level) - 1)
        for level in range(height + 1, tree_size.bit_length())
        if tree_size >> level & 1
    ]
    hashes = reader.read_nodes([*ids, *right, *left])
    path = hashes[:height]
    if right:
        path.append(fold_subtrees(hashes[height : height + len(right)]))
    path.extend(hashes[height + len(right) :])
    return path


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> Hash32:
    """RFC 9162 §2.1.3.2 steps 1-5 without the final comparison: the root the proof implies."""
    # Verify the index is inside the tree (step 1).
    if not 0 <= index < tree_size or tree_size > MAX_TREE_SIZE:
        raise InclusionProofError(f"index {index} is not inside a tree of size {tree_size}")
    fn, sn = index, tree_size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if len(p) != HASH_SIZE:
            raise InclusionProofError("proof element is not 32 bytes")
        # Verify the path is not longer than the tree is deep (step 4).
        if sn == 0:
            raise InclusionProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _keccak(_NODE + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _keccak(_NODE + r + p).digest()
        fn >>= 1
        sn >>= 1
    # Verify the path reached the root (step 5).
    if sn != 0:
        raise InclusionProofError("inclusion proof is too short")
    return Hash32(r)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise `InclusionProofError` unless `proof` shows `leaf_hash` at `index` under `root`."""
    if root_from_inclusion_proof(leaf_hash, index, tree_size, proof) != root:
        raise InclusionProofError(f"inclusion proof for index {index} does not match the root")


def is_valid_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when `verify_inclusion` would pass."""
    try:
        verify_inclusion(leaf_hash, index, tree_size, proof, root)
    except InclusionProofError:
        return False
    return True


# --- consistency (RFC 9162 §2.1.4) -----------------------------------------------------------


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PROOF(first, D[0:second]), leaf side first.

    Empty when first == 0 (every tree extends the empty one) or first == second.
    """
    if first == 0 or first == second:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m = 0, second, first
    complete = True  # SUBPROOF's flag b: is D[start:start+m] a subtree the verifier knows?
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def prove_consistency(reader: NodeReader, first: int, second: int) -> list[Hash32]:
    """RFC 9162 §2.1.4.1 consistency proof from the tree of `first` leaves to `second`."""
    _check_size(second)
    if not 0 <= first <= second:
        raise InvalidFieldError("first", f"must be in [0, {second}], got {first}")
    return _read_ranges(reader, consistency_ranges(first, second))


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise `ConsistencyProofError` unless `proof` shows tree `second` extends tree `first`.

    RFC 9162 §2.1.4.2, plus the two cases it leaves out, handled as RFC 6962 clients do:
    first == second needs an empty proof and equal roots; first == 0 needs an empty proof.
    """
    # Verify the sizes are ordered and inside the specified range.
    if not 0 <= first <= second <= MAX_TREE_SIZE:
        raise ConsistencyProofError(f"sizes {first} -> {second} are not 0 <= first <= second")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ConsistencyProofError("proof element is not 32 bytes")
    if first == second:
        if proof:
            raise ConsistencyProofError("proof between equal sizes must be empty")
        if first_root != second_root:
            raise ConsistencyProofError("roots of equal sizes differ")
        return
    if first == 0:
        if proof:
            raise ConsistencyProofError("proof from the empty tree must be empty")
        if first_root != EMPTY_ROOT:
            raise ConsistencyProofError("root of the empty tree is not keccak256('')")
        return
    # Step 1 of §2.1.4.2: a non-empty proof is required from here on.
    if not proof:
        raise ConsistencyProofError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # first is an exact power of two: the verifier knows it
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = _keccak(_NODE + c + fr).digest()
            sr = _keccak(_NODE + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _keccak(_NODE + sr + c).digest()
        fn >>= 1
        sn >>= 1
    # Verify both roots were reproduced and the path reached the top (step 6).
    if sn != 0:
        raise ConsistencyProofError("consistency proof is too short")
    if fr != first_root:
        raise ConsistencyProofError(f"proof does not reproduce the root of size {first}")
    if sr != second_root:
        raise ConsistencyProofError(f"proof does not reproduce the root of size {second}")


def is_valid_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when `verify_consistency` would pass."""
    try:
        verify_consistency(first, second, first_root, second_root, proof)
    except ConsistencyProofError:
        return False
    return True


# --- in-memory node storage ------------------------------------------------------------------


class LevelsNodeReader:
    """Perfect-subtree hashes kept as one list per level, for trees that fit in memory.

    Used for receipt trees (docs/spec.md §5), tests and the known-answer vectors.
    """

    __slots__ = ("levels",)

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = []

    def add(self, new_levels: Sequence[Sequence[bytes]]) -> None:
        """Store the output of `CompactTree.append_many` (levels start where the last ended)."""
        for level, hashes in enumerate(new_levels):
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].extend(hashes)

    def read_nodes(self, ids: Sequence[NodeId]) -> list[Hash32]:
        levels = self.levels
        # Every stored hash came out of keccak256 (or was checked as a leaf hash), so the
        # cast is free where wrapping each element in Hash32() costs a call per node.
        return cast(list[Hash32], [levels[level][index] for level, index in ids])


class MemoryTree:
    """A whole tree in memory: a `CompactTree` plus every perfect subtree it completed."""

    __slots__ = ("compact", "nodes")

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.compact = CompactTree()
        self.nodes = LevelsNodeReader()
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return self.compact.size

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        self.nodes.add(self.compact.append_many(leaf_hashes))

    def root(self, tree_size: int | None = None) -> Hash32:
        if tree_size is None:
            return self.compact.root()
        self._check(tree_size)
        return compute_root(self.nodes, tree_size)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[Hash32]:
        n = self.size if tree_size is None else tree_size
        self._check(n)
        return prove_inclusion(self.nodes, index, n)

    def consistency_proof(self, first: int, second: int | None = None) -> list[Hash32]:
        n = self.size if second is None else second
        self._check(n)
        return prove_consistency(self.nodes, first, n)

    def _check(self, tree_size: int) -> None:
        if not 0 <= tree_size <= self.size:
            raise InvalidFieldError("tree_size", f"must be in [0, {self.size}], got {tree_size}")
