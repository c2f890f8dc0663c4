"""The packed indexes of schema 3 (layouts in `state_db.schema`): what a group commit puts for
them, shared by `Store.commit` and the 2 -> 3 migration so that both write the same keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

from prover.record import SUBMITTER_BYTES, V_OFFSET
from state_db import schema

_MASK: Final[int] = (1 << schema.LEAF_CHUNK_BITS) - 1
_OFFSETS: Final[tuple[bytes, ...]] = tuple(i.to_bytes(2, "big") for i in range(_MASK + 1))
_SHIFT: Final[int] = schema.LEAF_BUCKET_SHIFT
_PREFIX: Final[int] = schema.LEAF_PREFIX_BYTES

EMPTY_LEAF_PARTIALS: Final[tuple[bytes, ...]] = (b"",) * schema.LEAF_BUCKETS

Put = Callable[[bytes, bytes], None]


def put_leaf_index(
    put: Put, first_seq: int, leaf_hashes: Sequence[bytes], partials: Sequence[bytes]
) -> tuple[bytes, ...]:
    """Put the leaf-index values that change when `leaf_hashes` are appended at `first_seq`.

    `partials` are the current values of the leaf chunk holding seq `first_seq`, by bucket
    (`EMPTY_LEAF_PARTIALS` at a chunk boundary); returns those of the chunk holding the new
    size. Each touched (bucket, chunk) key is put once, with its whole value.
    """
    current = list(partials)
    seq, i, n = first_seq, 0, len(leaf_hashes)
    while i < n:
        chunk = seq >> schema.LEAF_CHUNK_BITS
        take = min(n - i, ((chunk + 1) << schema.LEAF_CHUNK_BITS) - seq)
        lists: list[list[bytes]] = [[] for _ in range(schema.LEAF_BUCKETS)]
        offsets = _OFFSETS[seq & _MASK : (seq & _MASK) + take]
        for leaf, offset in zip(leaf_hashes[i : i + take], offsets, strict=True):
            lists[leaf[0] >> _SHIFT].append(leaf[:_PREFIX] + offset)
        for bucket, new in enumerate(lists):
            if new:
                value = current[bucket] + b"".join(new)
                put(schema.leaf_chunk_key(bucket, chunk), value)
                current[bucket] = value
        seq += take
        i += take
        if seq & _MASK == 0:
            current = list(EMPTY_LEAF_PARTIALS)
    return tuple(current)


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


def put_unsigned_runs(
    put: Put, first_seq: int, records: Sequence[bytes], last: Run | None
) -> Run | None:
    """Put the runs of unsigned records among `records` (352-byte records appended at
    `first_seq`). `last` is the run ending at `first_seq` (None if the record before is signed
    or there is none), which a first record of the same submitter extends (its key is put
    again, with the new end). Returns the run ending at the new size, or None."""
    who_run: bytes | None = None
    first = end = 0
    if last is not None and last.end == first_seq:
        who_run, first, end = last.submitter, last.first, last.end
    seq = first_seq
    for record in records:
        if record[V_OFFSET] == 0:
            who = record[SUBMITTER_BYTES]
            if who == who_run:
                end = seq + 1
            else:
                if who_run is not None:
                    put(schema.unsigned_run_key(who_run, first), schema.u64(end))
                who_run, first, end = who, seq, seq + 1
        elif who_run is not None:
            put(schema.unsigned_run_key(who_run, first), schema.u64(end))
            who_run = None
        seq += 1
    if who_run is None:
        return None
    put(schema.unsigned_run_key(who_run, first), schema.u64(end))
    return Run(who_run, first, end)
