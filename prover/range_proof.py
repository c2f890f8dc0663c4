"""The DA range proof: leaves [start, end) of a tree completed to its root (docs/spec.md §9).

A sequencer answers a data-availability challenge on checkpoint c over records [start, end)
with `revealRecords(challengeId, records, proof)`: the contract hashes the records into leaf
hashes and folds them with `proof` into a root, which must be c's. `prove_range` makes that
proof from the tree's nodes; `root_from_range` is the contract's fold (``_rootFromRange`` in
Rollup.vy), so a validator or a test can check a reveal off chain before paying for it.

The fold works on the bottom-up view of the RFC 9162 tree: at each level, node i covers
leaves [i << level, (i + 1) << level) clipped to the tree, and a level's last node is carried
up unchanged when it has no right sibling (the tree's right edge, RFC 9162 §2.1.1's
unbalanced split seen from below). The range's nodes at a level are [lo, hi]; the proof adds
the left sibling of lo when lo is odd, and the right sibling of hi when hi is even and not the
level's last node; at most two hashes per level, bottom level first.
"""

from __future__ import annotations

from collections.abc import Sequence

from prover.errors import InclusionProofError, InvalidFieldError
from prover.hashing import node_hash
from prover.tree import NodeReader, subtree_hash
from prover.types import MAX_TREE_SIZE, Hash32


def _check_range(start: int, end: int, tree_size: int) -> None:
    if not 0 < tree_size <= MAX_TREE_SIZE:
        raise InvalidFieldError("tree_size", f"must be in [1, 2**40], got {tree_size}")
    if not 0 <= start < end <= tree_size:
        raise InvalidFieldError(
            "range", f"need 0 <= start < end <= {tree_size}, got [{start}, {end})"
        )


def _node(reader: NodeReader, level: int, index: int, tree_size: int) -> Hash32:
    # Node `index` of `level` in the bottom-up view: leaves [index << level, ...) clipped to the
    # tree; its hash is MTH of that range (a perfect subtree, or the tree's right edge).
    start = index << level
    return subtree_hash(reader, start, min(tree_size, start + (1 << level)))


def prove_range(reader: NodeReader, start: int, end: int, tree_size: int) -> list[Hash32]:
    """Boundary hashes that complete leaves [start, end) to the root of `tree_size` leaves.

    Order as `revealRecords` consumes them: bottom level first; per level the left sibling
    (when the range starts at an odd node) before the right one (when it ends at an even node
    that is not the level's last). At most two hashes per level.
    """
    _check_range(start, end, tree_size)
    proof: list[Hash32] = []
    lo, hi, width, level = start, end - 1, tree_size, 0
    while width > 1:
        if lo & 1:
            proof.append(_node(reader, level, lo - 1, tree_size))
        if not hi & 1 and hi + 1 < width:
            proof.append(_node(reader, level, hi + 1, tree_size))
        lo, hi, width, level = lo >> 1, hi >> 1, (width + 1) >> 1, level + 1
    return proof


def root_from_range(
    leaf_hashes: Sequence[bytes], start: int, tree_size: int, proof: Sequence[bytes]
) -> Hash32:
    """The root implied by leaves at [start, start+len) and `prove_range`'s hashes.

    The same fold as the contract's `_rootFromRange`, so a validator can check a reveal
    off chain before paying for it.
    """
    _check_range(start, start + len(leaf_hashes), tree_size)
    layer: list[bytes] = list(leaf_hashes)
    pending = list(proof)
    lo, width = start, tree_size
    while width > 1:
        hi = lo + len(layer) - 1
        if lo & 1:
            if not pending:
                raise InvalidFieldError("proof", "range proof is too short")
            layer.insert(0, pending.pop(0))
            lo -= 1
        if not hi & 1 and hi + 1 < width:
            if not pending:
                raise InvalidFieldError("proof", "range proof is too short")
            layer.append(pending.pop(0))
        nxt: list[bytes] = [
            node_hash(layer[i], layer[i + 1]) if i + 1 < len(layer) else Hash32(layer[i])
            for i in range(0, len(layer), 2)
        ]
        layer, lo, width = nxt, lo >> 1, (width + 1) >> 1
    if pending:
        raise InvalidFieldError("proof", "range proof is too long")
    return Hash32(layer[0])


def verify_range(
    leaf_hashes: Sequence[bytes], start: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise `InclusionProofError` unless the leaves at `start` and `proof` give `root`.

    This is exactly the check `revealRecords` makes, so a reveal that passes here will not
    revert on chain for its proof. Malformed arguments raise `InvalidFieldError`.
    """
    if root_from_range(leaf_hashes, start, tree_size, proof) != root:
        raise InclusionProofError(
            f"range [{start}, {start + len(leaf_hashes)}) does not match the root"
        )


def is_valid_range(
    leaf_hashes: Sequence[bytes], start: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when `verify_range` would pass."""
    try:
        verify_range(leaf_hashes, start, tree_size, proof, root)
    except (InclusionProofError, InvalidFieldError):
        return False
    return True
