"""The packed indexes (layouts in `state_db.schema`): what a group commit puts for them, shared
by `Store.commit` and the migrations so that both write the same keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from prover.record import RECORD_SIZE, SUBMITTER_BYTES, V_OFFSET
from state_db import schema

_MASK: Final[int] = (1 << schema.LEAF_CHUNK_BITS) - 1
_OFFSETS: Final[tuple[bytes, ...]] = tuple(i.to_bytes(2, "big") for i in range(_MASK + 1))
_HASH: Final[int] = 32
SUBMITTER_LEN: Final[int] = 20

if schema.LEAF_PREFIX_BYTES != 2:
    raise AssertionError("leaf_prefixes and leaf_candidates take 2 bytes of each leaf hash")

Put = Callable[[bytes, bytes], None]


def leaf_prefixes(joined: bytes) -> bytes:
    """The leaf-index value of the leaf hashes `joined` (32 bytes each, concatenated): the
    first byte of each, in order, then the second byte of each (two strided slices in C, no
    Python per leaf hash). Two columns rather than 2-byte pairs, so that a lookup can find
    the first byte with memchr and check the second only there (twice as fast as a search for
    a 2-byte needle)."""
    if len(joined) % _HASH:
        raise AssertionError(f"{len(joined)} bytes are not whole leaf hashes")
    return joined[0::_HASH] + joined[1::_HASH]


def put_complete_leaf_chunks(
    put: Put, first_seq: int, leaf_hashes: Sequence[bytes], tail: Sequence[bytes]
) -> list[bytes]:
    """Put the leaf-index value of every leaf chunk that appending `leaf_hashes` at `first_seq`
    completes, each once and whole (a chunk's value never changes again; the last, incomplete
    chunk has none: lookups compare its leaf hashes directly). `tail` holds the leaf hashes of
    the incomplete chunk before `first_seq` (those of seqs ``[first_seq & ~mask, first_seq)``);
    returns the tail after the append."""
    if len(tail) != first_seq & _MASK:
        raise AssertionError(f"leaf tail of {len(tail)} hashes at seq {first_seq}")
    leaves = [*tail, *leaf_hashes]
    size = _MASK + 1
    complete = len(leaves) - len(leaves) % size
    if complete:
        joined = b"".join(leaves[:complete])
        step = size * _HASH
        first_chunk = first_seq >> schema.LEAF_CHUNK_BITS
        for i, at in enumerate(range(0, len(joined), step)):
            put(schema.leaf_chunk_key(first_chunk + i), leaf_prefixes(joined[at : at + step]))
    return leaves[complete:]


def leaf_candidates(value: bytes, leaf_hash: bytes, chunk: int) -> list[int]:
    """Seqs of chunk `chunk` whose first two leaf-hash bytes in its index `value` (two
    columns, `leaf_prefixes`) are `leaf_hash`'s: candidates only, to be checked against the
    whole leaf hash."""
    n = len(value) // 2
    first, second = leaf_hash[0], leaf_hash[1]
    base = chunk << schema.LEAF_CHUNK_BITS
    out: list[int] = []
    find = value.find
    at = find(first, 0, n)
    while at >= 0:
        if value[n + at] == second:
            out.append(base + at)
        at = find(first, at + 1, n)
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
