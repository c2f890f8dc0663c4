"""The packed indexes of schema 3 (layouts in `state_db.schema`): what a group commit puts for
them, shared by `Store.commit` and the 2 -> 3 migration so that both write the same keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

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


class Run(NamedTuple):
    """The last run of unsigned records of one submitter: seqs [first, end)."""

    submitter: bytes
    first: int
    end: int


def put_unsigned_runs(put: Put, first_seq: int, joined: bytes, last: Run | None) -> Run | None:
    """Put the runs of unsigned records among `joined` (the 352-byte records appended at
    `first_seq`, concatenated). `last` is the run ending at `first_seq` (None if the record
    before is signed or there is none), which a first record of the same submitter extends
    (its key is put again, with the new end). Returns the run ending at the new size, or None.

    The common commits cost no loop over records: the v bytes and each byte of the submitters
    are read as strided slices (one C call each), so a commit all signed, or all unsigned from
    one token, is decided in ~20 slices; only a mixed commit walks its records."""
    n = len(joined) // RECORD_SIZE
    if n == 0:
        return last
    v_bytes = joined[V_OFFSET::RECORD_SIZE]
    unsigned = v_bytes.count(0)
    if unsigned == 0:
        return None  # all signed: `last` (if any) already ends at first_seq, as stored
    if unsigned == n:
        first_who = joined[SUBMITTER_BYTES]
        start = SUBMITTER_BYTES.start
        if all(
            joined[start + k :: RECORD_SIZE] == first_who[k : k + 1] * n
            for k in range(SUBMITTER_LEN)
        ):
            # One run: all unsigned, one submitter.
            if last is not None and last.end == first_seq and last.submitter == first_who:
                run = Run(first_who, last.first, first_seq + n)
            else:
                run = Run(first_who, first_seq, first_seq + n)
            put(schema.unsigned_run_key(run.submitter, run.first), schema.u64(run.end))
            return run
    who_run: bytes | None = None
    first = end = 0
    if last is not None and last.end == first_seq:
        who_run, first, end = last.submitter, last.first, last.end
    for i in range(n):
        seq = first_seq + i
        if v_bytes[i] == 0:
            at = i * RECORD_SIZE + SUBMITTER_BYTES.start
            who = joined[at : at + SUBMITTER_LEN]
            if who == who_run:
                end = seq + 1
            else:
                if who_run is not None:
                    put(schema.unsigned_run_key(who_run, first), schema.u64(end))
                who_run, first, end = who, seq, seq + 1
        elif who_run is not None:
            put(schema.unsigned_run_key(who_run, first), schema.u64(end))
            who_run = None
    if who_run is None:
        return None
    put(schema.unsigned_run_key(who_run, first), schema.u64(end))
    return Run(who_run, first, end)
