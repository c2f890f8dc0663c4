"""Forced records and the L1 inbox (protocol v2, docs/spec.md §3 "Forced records", §7.3, rule 2).

Anyone can post ``(kind, subject, digest, metaHash)`` to the rollup contract's inbox; entry
``j`` becomes a *forced record* that the sequencer must log within ``forceInclusionWindow``.
The record marks itself with ``v = 1`` and carries everything but ``seq`` and ``timestamp``
from the inbox:

    submitter = the posting L1 account, nonce = j, v = 1, r = postedAt (L1 s), s = 0

The inbox keeps ``entryHash_j = keccak256(record[64:352])`` (words 2..10) and the running
``inboxHash = keccak256(inboxHash || entryHash_j)``. Everything here is pure: the contract's
``forcedEntryHash`` / ``forcedSeq`` / ``recordAuthentic`` compute the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prover.errors import InvalidFieldError
from prover.hashing import keccak256
from prover.record import (
    RECORD_SIZE,
    ZERO32,
    Record,
    Word,
    encode_record,
    is_valid_kind,
    record_word,
    stamp_record,
    word_slice,
)

FORCED_V: Final[int] = 1
"""The reserved v of a forced record (signed records use 27/28, unsigned ones 0)."""

ENTRY_WORDS: Final[slice] = word_slice(Word.KIND, Word.S + 1)
"""Words 2..10 of a forced record: what the inbox entry fixes (its hash is the entry hash)."""

ZERO_INBOX_HASH: Final[bytes] = ZERO32
"""The running inbox hash before the first entry."""


@dataclass(frozen=True, slots=True)
class ForcedEntry:
    """One inbox entry, as the contract's ``ForcedPosted`` event reports it."""

    index: int
    """j: the entry's position in the inbox, from 0 (the forced record's nonce)."""
    poster: bytes
    """20-byte posting account (the forced record's submitter)."""
    kind: bytes
    """bytes32 kind, well formed (the contract refuses a post whose record would not be)."""
    subject: bytes
    """bytes32 subject."""
    digest: bytes
    """bytes32 digest."""
    meta_hash: bytes
    """bytes32 metaHash (zero without meta)."""
    posted_at: int
    """L1 block time (s) of the post (the forced record's r word)."""

    def template(self) -> bytes:
        """The forced record with seq and timestamp 0 (`stamp_record` sets them)."""
        return encode_record(
            Record(
                0,
                0,
                self.kind,
                self.subject,
                self.digest,
                self.meta_hash,
                self.poster,
                self.index,
                FORCED_V,
                self.posted_at.to_bytes(32, "big"),
                ZERO32,
            )
        )

    def record(self, seq: int, timestamp_ms: int) -> bytes:
        """The forced record of this entry at `seq`, stamped `timestamp_ms`."""
        return stamp_record(self.template(), seq, timestamp_ms)

    def entry_hash(self) -> bytes:
        """keccak256 of words 2..10 of the forced record: what the inbox stores."""
        return compute_entry_hash(self.template())


def compute_entry_hash(record: bytes) -> bytes:
    """keccak256(record[64:352]) of a 352-byte record (the inbox's entry hash if it is forced)."""
    if len(record) != RECORD_SIZE:
        raise InvalidFieldError("record", f"must be {RECORD_SIZE} bytes, got {len(record)}")
    return keccak256(record[ENTRY_WORDS])


def next_inbox_hash(inbox_hash: bytes, entry_hash: bytes) -> bytes:
    """The running inbox hash after an entry: keccak256(inboxHash || entryHash)."""
    return keccak256(inbox_hash + entry_hash)


def is_forced(record: bytes) -> bool:
    """True when the record's whole v word is 1 (the contract's test)."""
    return record_word(record, Word.V) == FORCED_V


def forced_index(record: bytes) -> int:
    """The inbox index a forced record claims: its whole nonce word."""
    return record_word(record, Word.NONCE)


def verify_forced_entry(entry: ForcedEntry) -> None:
    """Raise `InvalidFieldError` if `entry` could not have been posted (the contract refuses a
    kind that is not well formed)."""
    if not is_valid_kind(entry.kind):
        raise InvalidFieldError("kind", "is not [a-z0-9_.-]{1,32} zero-padded")
