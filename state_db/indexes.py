"""The packed indexes of schema 3 (layouts in `state_db.schema`): what a group commit puts for
them, shared by `Store.commit` and the 2 -> 3 migration so that both write the same keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from prover.record import RECORD_SIZE, SUBMITTER_BYTES, V_OFFSET
from state_db import schema

_MASK: Final[int] = (1 << schema.LEAF_CHUNK_BITS) - 1
_OFFSETS: Final[tuple[bytes, ...]] = tuple(i.to_bytes(2, "big") for i in range(_MASK + 1))
_SHIFT: Final[int] = schema.LEAF_BUCKET_SHIFT
_PREFIX: Final[int] = schema.LEAF_PREFIX_BYTES
SUBMITTER_LEN: Final[int] = 20

Put = Callable[[bytes, bytes], None]


def put_complete_leaf_chunks(
    put: Put, first_seq: int, leaf_hashes: Sequence[bytes], tail: Sequence[bytes]
) -> list[bytes]:
    """Put the leaf-index values of every leaf chunk that appending `leaf_hashes` at
    `first_seq` completes, each value once and whole (a chunk's values never change again;
    the last, incomplete chunk has none: lookups compare its leaf hashes directly). `tail`
    holds the leaf hashes of the incomplete chunk before `first_seq` (those of seqs
    ``[first_seq & ~mask, first_seq)``); returns the tail after the append."""
    if len(tail) != first_seq & _MASK:
        raise AssertionError(f"leaf tail of {len(tail)} hashes at seq {first_seq}")
    leaves = [*tail, *leaf_hashes]
    chunk = first_seq >> schema.LEAF_CHUNK_BITS
    size = _MASK + 1
    while len(leaves) >= size:
        lists: list[list[bytes]] = [[] for _ in range(schema.LEAF_BUCKETS)]
        for leaf, offset in zip(leaves[:size], _OFFSETS, strict=True):
            lists[leaf[0] >> _SHIFT].append(leaf[:_PREFIX] + offset)
        for bucket, entries in enumerate(lists):
            if entries:
                put(schema.leaf_chunk_key(bucket, chunk), b"".join(entries))
        leaves = leaves[size:]
        chunk += 1
    return leaves


def leaf_candidates(value: bytes, leaf_hash: bytes, chunk: int) -> list[int]:
    """Seqs of the entries of one (bucket, chunk) value whose leaf-hash prefix matches."""
    prefix = leaf_hash[:_PREFIX]
    out: list[int] = []
    at = value.find(prefix)
    while at >= 0:
        if at % schema.LEAF_ENTRY_BYTES == 0:
            offset = int.from_bytes(value[at + _PREFIX : at + schema.LEAF_ENTRY_BYTES], "big")
            out.append((chunk << schema.LEAF_CHUNK_BITS) | offset)
        at = value.find(prefix, at + 1)
    return out


_ALL_OFFSETS: Final[bytes] = b"".join(_OFFSETS)
"""The u16 offsets 0, 1, ... of a window, concatenated: a run of them is one slice."""


def put_unsigned_windows(
    put: Put, first_seq: int, joined: bytes, tail: Mapping[bytes, bytes]
) -> tuple[bool, dict[bytes, bytes]]:
    """Put the submitter-index values that appending `joined` (352-byte records, concatenated)
    at `first_seq` changes. `tail` holds the values of the window of `first_seq`, by submitter.
    Returns (whether the new size is in another window, the new size's window values this
    commit wrote): the caller's tail becomes that dict when the window changed, else is
    updated with it.

    The common commits cost no loop over records: the v bytes and each byte of the submitters
    are read as strided slices (one C call each), so a commit all signed, or all unsigned from
    one token, is decided in about 20 slices and its offsets are one slice per window."""
    n = len(joined) // RECORD_SIZE
    end = first_seq + n
    bits = schema.LEAF_CHUNK_BITS
    first_window, end_window = first_seq >> bits, end >> bits
    pieces: dict[tuple[int, bytes], list[bytes]] = {}
    v_bytes = joined[V_OFFSET::RECORD_SIZE]
    unsigned = v_bytes.count(0)
    start = SUBMITTER_BYTES.start
    if (
        unsigned == n
        and n
        and all(
            joined[start + k :: RECORD_SIZE] == joined[start + k : start + k + 1] * n
            for k in range(SUBMITTER_LEN)
        )
    ):
        who = joined[SUBMITTER_BYTES]
        for window in range(first_window, ((end - 1) >> bits) + 1):
            a = max(first_seq, window << bits) & _MASK
            b = min(end, (window + 1) << bits) - (window << bits)
            pieces[(window, who)] = [_ALL_OFFSETS[2 * a : 2 * b]]
    elif unsigned:
        for i in range(n):
            if v_bytes[i] == 0:
                seq = first_seq + i
                at = i * RECORD_SIZE + start
                key = (seq >> bits, joined[at : at + SUBMITTER_LEN])
                got = pieces.get(key)
                if got is None:
                    pieces[key] = [_OFFSETS[seq & _MASK]]
                else:
                    got.append(_OFFSETS[seq & _MASK])
    written: dict[bytes, bytes] = {}
    for (window, who), parts in pieces.items():
        base = tail.get(who, b"") if window == first_window else b""
        value = base + b"".join(parts)
        put(schema.unsigned_window_key(window, who), value)
        if window == end_window:
            written[who] = value
    return end_window != first_window, written
