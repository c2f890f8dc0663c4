"""Deterministic 352-byte records (docs/spec.md §3) for the store tests and the crash writer."""

from __future__ import annotations

from prover.hashing import keccak256, leaf_hash
from state_db.store import Entry


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def make_record(
    seq: int,
    *,
    subject: bytes,
    digest: bytes,
    submitter: bytes = b"\x11" * 20,
    nonce: int = 0,
    signed: bool = False,
    timestamp: int = 1_700_000_000_000,
) -> bytes:
    """An ABI record; signatures are not real (the store does not check them)."""
    kind = b"attestation".ljust(32, b"\x00")
    v = 27 if signed else 0
    r = keccak256(b"r" + word(seq)) if signed else bytes(32)
    s = keccak256(b"s" + word(seq)) if signed else bytes(32)
    record = b"".join(
        (
            word(seq),
            word(timestamp),
            kind,
            subject,
            digest,
            bytes(32),
            bytes(12) + submitter,
            word(nonce),
            word(v),
            r,
            s,
        )
    )
    assert len(record) == 352
    return record


def subject_of(i: int) -> bytes:
    return keccak256(b"subject" + word(i))


def digest_of(i: int) -> bytes:
    return keccak256(b"digest" + word(i))


def submitter_of(i: int) -> bytes:
    return keccak256(b"submitter" + word(i))[:20]


def deterministic_entry(seq: int) -> Entry:
    """The record the crash writer appends at `seq`: a pure function of seq."""
    signed = seq % 3 == 0
    record = make_record(
        seq,
        subject=subject_of(seq % 5),
        digest=digest_of(seq % 11),
        submitter=submitter_of(seq % 4),
        nonce=seq,
        signed=signed,
        timestamp=1_700_000_000_000 + seq,
    )
    meta = b'{"i":%d}' % seq if seq % 2 else None
    return Entry(record, leaf_hash(record), meta)
