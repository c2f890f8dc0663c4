"""Receipt trees (docs/spec.md §5): one signed `leavesRoot` for a batch, one audit path per event.

A receipt covers the records ``[firstSeq, firstSeq + count)``. Its `leavesRoot` is the RFC 9162
root of a *fresh* tree whose leaves are those records' leaf hashes, in order, so:

* node hashes are ``H(0x01 || left || right)`` (RFC 9162 §2.1.1), exactly as in the log;
* the leaf hashes are used as they are (they are already ``H(0x00 || record)``), so a batch of
  one event has ``leavesRoot == leafHash``;
* each event's audit path is RFC 9162 §2.1.3.1 PATH(index, batch), and checking it is plain
  inclusion verification in a tree of `count` leaves.

The sequencer builds one of these per group commit (up to ~10,000 leaves), so
`compute_receipt_tree` hashes every node once and then assembles all the paths from lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, Final, cast

import sha3  # safe-pysha3, as prover/hashing.py

from prover.errors import InclusionProofError, InvalidFieldError
from prover.hashing import node_hash
from prover.tree import HASH_SIZE, CompactTree, verify_inclusion
from prover.types import MAX_TREE_SIZE, Hash32
from prover.wire import encode_hashes, parse_hash32

_keccak = sha3.keccak_256
_NODE: Final[bytes] = b"\x01"


@dataclass(frozen=True, slots=True)
class ReceiptTree:
    """The batch tree of one receipt."""

    root: Hash32
    """`leavesRoot`: MTH of the batch's leaf hashes (RFC 9162 §2.1.1)."""

    paths: tuple[tuple[Hash32, ...], ...]
    """``paths[i]``: the RFC 9162 §2.1.3.1 audit path of leaf ``i``, leaf side first."""


def compute_receipt_tree(leaf_hashes: Sequence[bytes]) -> ReceiptTree:
    """Root and every audit path of the RFC 9162 tree over `leaf_hashes` (docs/spec.md §5).

    Raises `InvalidFieldError` for an empty batch (a receipt covers at least one event) or a
    leaf hash that is not 32 bytes.
    """
    root, paths = _receipt_tree(leaf_hashes, None)
    return ReceiptTree(root=root, paths=cast(tuple[tuple[Hash32, ...], ...], paths))


def compute_receipt_tree_hex(
    leaf_hashes: Sequence[bytes],
) -> tuple[Hash32, tuple[tuple[str, ...], ...]]:
    """`compute_receipt_tree` with the paths as 0x-hex strings, for the JSON answers.

    Each node is hex-encoded once (about 2n conversions) rather than once per path it appears
    in (n log n): the group-commit hot path answers every event with its path.
    """
    root, paths = _receipt_tree(leaf_hashes, encode_hashes)
    return root, cast(tuple[tuple[str, ...], ...], paths)


def _receipt_tree(
    leaf_hashes: Sequence[bytes], encode: Callable[[Sequence[bytes]], list[str]] | None
) -> tuple[Hash32, tuple[tuple[Any, ...], ...]]:
    count = len(leaf_hashes)
    # Verify the batch is non-empty and made of 32-byte hashes.
    if count == 0:
        raise InvalidFieldError("leaf_hashes", "a receipt tree needs at least one leaf")
    if count > MAX_TREE_SIZE:
        raise InvalidFieldError("leaf_hashes", f"more than 2**52 leaves: {count}")
    for i, h in enumerate(leaf_hashes):
        if len(h) != HASH_SIZE:
            raise InvalidFieldError("leaf_hashes", f"leaf hash is {len(h)} bytes, not 32", i)

    tree = CompactTree()
    levels = tree.append_many(leaf_hashes)
    # The tree decomposes into perfect subtrees C_0 (largest) .. C_m, one per set bit of
    # count, and RFC 9162 §2.1.1 nests them as C_0 + (C_1 + (... + (C_{m-1} + C_m))).
    components = tree.frontier
    m = len(components) - 1
    # suffix[c] = MTH of C_c + ... + C_m: the right sibling of C_{c-1} in that nesting.
    suffix: list[bytes] = [b""] * (m + 1)
    suffix[m] = components[m]
    for c in range(m - 1, -1, -1):
        suffix[c] = node_hash(components[c], suffix[c + 1])
    root = Hash32(suffix[0])

    # heights[c]: the level of C_c, i.e. the c-th highest set bit of count.
    heights = [level for level in range(count.bit_length() - 1, -1, -1) if count >> level & 1]
    paths: list[tuple[Any, ...]] = []
    nodes_of: list[Sequence[Any]] = list(levels)
    comps: Sequence[Any] = components
    sufs: Sequence[Any] = suffix
    if encode is not None:
        nodes_of = [encode(level) for level in levels]
        comps = encode(components)
        sufs = [*encode(suffix[:m]), comps[m]]
    start = 0
    for c, height in enumerate(heights):
        width = 1 << height
        # Above C_c, every leaf of C_c shares one tail: the suffix on its right (if any),
        # then the larger components on its left, nearest first (RFC 9162 §2.1.3.1 adds
        # the sibling of each subtree on the way up).
        tail: list[Any] = [sufs[c + 1]] if c < m else []
        tail.extend(comps[c - 1 :: -1] if c > 0 else [])
        # Inside C_c (a perfect subtree), the level-L path element of leaf i is the sibling
        # of node i >> L, i.e. node (i >> L) ^ 1. Build one column per level (siblings
        # swapped pairwise, each repeated 2**L times) and zip the columns into paths, so
        # the work per path element is done by C loops rather than Python bytecode.
        columns: list[Sequence[Any]] = []
        for level in range(height):
            first = start >> level
            nodes = nodes_of[level][first : first + (width >> level)]
            swapped: list[Any] = [b""] * len(nodes)
            swapped[0::2] = nodes[1::2]
            swapped[1::2] = nodes[0::2]
            if level == 0:
                columns.append(swapped)
            else:
                rep = 1 << level
                columns.append(list(chain.from_iterable(repeat(h, rep) for h in swapped)))
        columns.extend(list(repeat(h, width)) for h in tail)
        if columns:
            paths.extend(zip(*columns, strict=True))
        else:
            paths.append(())  # a one-leaf batch: the leaf is the root, the path is empty
        start += width
    # Every element is a 32-byte keccak256 digest (or its hex) from `levels` or `suffix`.
    return root, tuple(paths)


def verify_receipt_path(
    leaf_hash: bytes, index: int, count: int, path: Sequence[bytes], leaves_root: bytes
) -> None:
    """Raise `InclusionProofError` unless `path` puts `leaf_hash` at `index` of the batch.

    This is RFC 9162 §2.1.3.2 in the batch tree of `count` leaves whose root is the receipt's
    signed `leavesRoot` (docs/spec.md §5).
    """
    # Verify the index lies inside the batch before any hashing.
    if not 0 <= index < count:
        raise InclusionProofError(f"index {index} is not inside a batch of {count} leaves")
    verify_inclusion(leaf_hash, index, count, path, leaves_root)


def is_valid_receipt_path(
    leaf_hash: bytes, index: int, count: int, path: Sequence[bytes], leaves_root: bytes
) -> bool:
    """True when `verify_receipt_path` would pass."""
    try:
        verify_receipt_path(leaf_hash, index, count, path, leaves_root)
    except InclusionProofError:
        return False
    return True


def verify_receipt_paths(
    leaf_hashes: Sequence[bytes],
    indices: Sequence[int],
    count: int,
    paths: Sequence[Sequence[str]],
    leaves_root: bytes,
) -> None:
    """`verify_receipt_path` for many leaves of one receipt, with each path as served (0x-hex
    strings), hashing every internal node about once instead of once per path through it.

    For a batch that is only part of a receipt (the sequencer's group commit put another
    client's batch under the same receipt), checking each path alone costs log2(count) hashes
    and parses an event; here each node reached is remembered with the rest of the path above
    it, and a later leaf that reaches the same node stops hashing there: its node must equal
    the one remembered (two different values at one position cannot both hash to the signed
    root) and the rest of its path must be the same strings. Any difference sends that leaf to
    the plain check, so a path that is merely written otherwise (upper-case hex) still passes
    and a wrong one fails exactly as `verify_receipt_path` says.
    """
    memo: dict[tuple[int, int], tuple[bytes, Sequence[str]]] = {}
    for leaf, index, path in zip(leaf_hashes, indices, paths, strict=True):
        if not 0 <= index < count:
            raise InclusionProofError(f"index {index} is not inside a batch of {count} leaves")
        fn, sn, shift = index, count - 1, 0
        r = bytes(leaf)
        for j, element in enumerate(path):
            if sn == 0:
                raise InclusionProofError("inclusion proof is too long")
            p = _element(element)
            if fn & 1 or fn == sn:
                r = _keccak(_NODE + p + r).digest()
                if not fn & 1:
                    while fn and not fn & 1:
                        fn >>= 1
                        sn >>= 1
                        shift += 1
            else:
                r = _keccak(_NODE + r + p).digest()
            fn >>= 1
            sn >>= 1
            shift += 1
            known = memo.get((shift, fn))
            if known is not None:
                if known[0] != r or known[1] != path[j + 1 :]:
                    verify_receipt_path(
                        leaf, index, count, [_element(e) for e in path], leaves_root
                    )
                break
            memo[(shift, fn)] = (r, path[j + 1 :])
        else:
            if sn != 0:
                raise InclusionProofError("inclusion proof is too short")
            if r != leaves_root:
                raise InclusionProofError(
                    f"inclusion proof for index {index} does not match the root"
                )


def _element(element: object) -> bytes:
    """One served path element: a 0x-hex string of 32 bytes."""
    try:
        return parse_hash32(element, "path element")
    except InvalidFieldError:
        raise InclusionProofError(
            f"path element {element!r:.80} is not a 0x-hex 32-byte hash"
        ) from None
