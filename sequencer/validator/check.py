"""Rules 1-3, 4a and 5 of docs/spec.md §8 over a run of consecutive records, at ingest speed.

`BlockChecker.check` gives exactly what `check_records_reference` gives — the rules applied one
record at a time with `prover.validity`'s predicates — but fast enough that a validator keeps
pace with the sequencer (issue 11; docs/design.md, "Replicate-and-check throughput"):

* **A fast path that only ever says "nothing wrong".** Each record is first tested with a few
  byte comparisons (the seq word against its position, the high bytes of every narrower ABI
  word, the kind against a cache of kinds already judged, the timestamp word against its
  predecessor's — equal-length big-endian words compare as their integers). A record that
  fails any of them is judged again by `prover.validity` itself, so a `Violation` (its rule,
  its `related`, its `reason`) always comes from the reference code; the fast path can only
  skip work for records the reference would pass.
* **Signatures on worker threads.** Recovery (libsecp256k1 through coincurve's cffi, which
  releases the GIL inside the C call) runs on a `ThreadPoolExecutor` in chunks; a signature
  that does not recover to the submitter word is judged again by
  `prover.validity.verify_signature_words`. Threads, not processes, by measurement (bench
  figures in docs/design.md).
* **Rule 5 from an index.** Keys claimed earlier in the same call are kept in a dict; earlier
  records come from `ReplayLookup` (the replica's nonce index), as before this module.

Pure CPU and the lookups the caller passes; no I/O of its own. One caller at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import coincurve
import sha3

from prover.eip712 import EVENT_TYPEHASH
from prover.record import (
    RECORD_SIZE,
    REPLAY_KEY_WORDS,
    SECP256K1_HALF_N,
    SECP256K1_N,
    Word,
    is_valid_kind,
    record_submitter,
    record_word,
    word_slice,
)
from prover.validity import (
    Violation,
    check_adjacent,
    check_record,
    check_replay,
    replay_key,
)

_U64_LIMIT: Final[int] = 2**64
_U160_LIMIT: Final[int] = 2**160

# Byte ranges read by the fast path (docs/spec.md §3: word k is bytes [32k, 32k + 32)).
_SEQ: Final[slice] = word_slice(Word.SEQ)
_TIMESTAMP: Final[slice] = word_slice(Word.TIMESTAMP)
_TIMESTAMP_HIGH: Final[slice] = slice(Word.TIMESTAMP * 32, Word.TIMESTAMP * 32 + 24)
_KIND: Final[slice] = word_slice(Word.KIND)
_SUBMITTER_HIGH: Final[slice] = slice(Word.SUBMITTER * 32, Word.SUBMITTER * 32 + 12)
_SUBMITTER_LOW: Final[slice] = slice(Word.SUBMITTER * 32 + 12, Word.NONCE * 32)
_NONCE_HIGH: Final[slice] = slice(Word.NONCE * 32, Word.NONCE * 32 + 24)
_V_WORD: Final[slice] = word_slice(Word.V)
_V_HIGH: Final[slice] = slice(Word.V * 32, Word.V * 32 + 31)
_V_BYTE: Final[int] = Word.V * 32 + 31
_R: Final[slice] = word_slice(Word.R)
_S: Final[slice] = word_slice(Word.S)
_SIGNATURE: Final[slice] = word_slice(Word.V, Word.S + 1)
_EVENT_WORDS: Final[slice] = word_slice(Word.KIND, Word.SUBMITTER)
_NONCE_WORD: Final[slice] = word_slice(Word.NONCE)

_Z12: Final[bytes] = bytes(12)
_Z24: Final[bytes] = bytes(24)
_Z31: Final[bytes] = bytes(31)
_Z32: Final[bytes] = bytes(32)
_Z96: Final[bytes] = bytes(96)
_N_BYTES: Final[bytes] = SECP256K1_N.to_bytes(32, "big")
_HALF_N_BYTES: Final[bytes] = SECP256K1_HALF_N.to_bytes(32, "big")
_EIP712_PREFIX: Final[bytes] = b"\x19\x01"

_KIND_CACHE_LIMIT: Final[int] = 4096
"""Kinds remembered as well formed; a log uses few, an attacker's many only cost the slow path."""

_SIGNATURE_CHUNK: Final[int] = 256
"""Signed records per worker task: large enough that submitting a task is noise (~20 µs
against ~256 recoveries of ~50 µs), small enough that both workers get several."""

ReplayLookup = Callable[[bytes, int], "int | None"]
"""(submitter, nonce) -> seq of the signed record the replica's index holds for it, or None."""
RecordLookup = Callable[[int], bytes]
"""seq -> the stored record (seqs below the first one checked)."""


def signers_match(separator: bytes, records: Sequence[bytes]) -> list[bool]:
    """For each record (v word 27/28, r and s in range: see `_needs_recovery`), whether its
    EIP-712 `Event` digest recovers to its submitter word. False means "ask the reference"."""
    keccak = sha3.keccak_256
    prefix = _EIP712_PREFIX + separator
    from_signature = coincurve.PublicKey.from_signature_and_message
    out: list[bool] = []
    for record in records:
        struct_hash = keccak(EVENT_TYPEHASH + record[_EVENT_WORDS] + record[_NONCE_WORD]).digest()
        digest = keccak(prefix + struct_hash).digest()
        try:
            # libsecp256k1's compact recoverable form: r || s || recovery id (v - 27).
            key = from_signature(
                record[_R] + record[_S] + bytes((record[_V_BYTE] - 27,)), digest, hasher=None
            )
        except Exception:  # no point with this x, etc.: the reference words the reason
            out.append(False)
            continue
        address = keccak(key.format(compressed=False)[1:]).digest()[12:]
        out.append(address == record[_SUBMITTER_LOW] and record[_SUBMITTER_HIGH] == _Z12)
    return out


def _needs_recovery(record: bytes) -> bool:
    """A signed record whose v, r and s pass every range check of rule 2, so only the
    recovery itself can fail it (anything else goes to the reference)."""
    r, s = record[_R], record[_S]
    return (
        record[_V_HIGH] == _Z31
        and record[_V_BYTE] in (27, 28)
        and _Z32 < r < _N_BYTES
        and _Z32 < s <= _HALF_N_BYTES
    )


class BlockChecker:
    """Checks runs of consecutive records for one EIP-712 domain; reuse it across pulls."""

    def __init__(
        self,
        domain_separator: bytes,
        *,
        workers: int | None = None,
        signature_chunk: int = _SIGNATURE_CHUNK,
    ) -> None:
        """`workers`: signature threads (default: the CPU count, at most 4; 0 or 1: none);
        `signature_chunk`: signed records per worker task (a test makes it small)."""
        if signature_chunk < 1:
            raise ValueError(f"signature_chunk must be at least 1, got {signature_chunk}")
        self.domain_separator = domain_separator
        self.signature_chunk = signature_chunk
        if workers is None:
            workers = min(4, os.cpu_count() or 1)
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, "sigcheck") if workers > 1 else None
        self._good_kinds: set[bytes] = set()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> BlockChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(
        self,
        first_seq: int,
        records: Sequence[bytes],
        previous: bytes | None,
        get_record: RecordLookup,
        find_by_nonce: ReplayLookup,
        claimed: dict[bytes, int] | None = None,
    ) -> list[Violation]:
        """Every violation of rules 1-3, 4a and 5 by `records` at seqs ``first_seq, ...``.

        `previous` is the record at ``first_seq - 1`` (None when `first_seq` is 0). Rule 5
        looks for an earlier record with the same key in `claimed` (key -> seq, updated here:
        pass the same dict for consecutive calls of one write batch), then through
        `find_by_nonce` and `get_record` for the stored log. Same order as the reference:
        by seq; for one record, rules 1, 2, 3 (`check_record`), then 4a, then 5.
        Raises `InvalidFieldError` for a record that is not 352 bytes.
        """
        if claimed is None:
            claimed = {}
        sep = self.domain_separator
        n = len(records)
        # Pass 1 (this thread): every record's cheap checks; signed ones queued for recovery.
        suspect = [False] * n
        to_recover: list[int] = []
        good_kinds = self._good_kinds
        for i, record in enumerate(records):
            if len(record) != RECORD_SIZE:
                check_record(record, first_seq + i, sep)  # raises InvalidFieldError
            kind = record[_KIND]
            if kind not in good_kinds:
                if not is_valid_kind(kind):
                    suspect[i] = True
                    continue
                if len(good_kinds) < _KIND_CACHE_LIMIT:
                    good_kinds.add(kind)
            # Verify the seq word is the position, and the narrower words fit (rules 1, 3).
            if (
                record[_SEQ] != (first_seq + i).to_bytes(32, "big")
                or record[_TIMESTAMP_HIGH] != _Z24
                or record[_SUBMITTER_HIGH] != _Z12
                or record[_NONCE_HIGH] != _Z24
            ):
                suspect[i] = True
            elif record[_SIGNATURE] != _Z96:
                # Signed (or a non-empty signature on an unsigned record: the reference says).
                if _needs_recovery(record):
                    to_recover.append(i)
                else:
                    suspect[i] = True
        # Rule 2: recover the queued signatures, on the workers when there are enough.
        if to_recover:
            signed = [records[i] for i in to_recover]
            step = self.signature_chunk
            if self._pool is not None and len(signed) > step:
                chunks = [signed[k : k + step] for k in range(0, len(signed), step)]
                verdicts = [
                    ok
                    for part in self._pool.map(lambda c: signers_match(sep, c), chunks)
                    for ok in part
                ]
            else:
                verdicts = signers_match(sep, signed)
            for i, ok in zip(to_recover, verdicts, strict=True):
                if not ok:
                    suspect[i] = True
        # Pass 2, by seq: the reference judges suspects; 4a and 5 for everyone.
        found: list[Violation] = []
        before = previous
        for i, record in enumerate(records):
            seq = first_seq + i
            if suspect[i]:
                found.extend(check_record(record, seq, sep))
            # Verify the timestamp does not decrease (rule 4a): fixed-width big-endian words
            # compare as bytes exactly as they compare as integers.
            if before is not None and record[_TIMESTAMP] < before[_TIMESTAMP]:
                tt = check_adjacent(before, record, seq)
                if tt is not None:
                    found.append(tt)
            before = record
            # Verify no earlier signed record has this (submitter, nonce) key (rule 5).
            if record[_V_WORD] == _Z32:
                continue
            key = record[REPLAY_KEY_WORDS]
            earlier = claimed.get(key)
            if earlier is None and record[_SUBMITTER_HIGH] == _Z12 and record[_NONCE_HIGH] == _Z24:
                earlier = find_by_nonce(record_submitter(record), record_word(record, Word.NONCE))
            if earlier is not None and earlier < seq:
                earlier_record = (
                    records[earlier - first_seq] if earlier >= first_seq else get_record(earlier)
                )
                rp = check_replay(earlier_record, earlier, record, seq)
                if rp is not None:
                    found.append(rp)
            claimed.setdefault(key, seq)
        return found


def check_records_reference(
    first_seq: int,
    records: Sequence[bytes],
    previous: bytes | None,
    get_record: RecordLookup,
    find_by_nonce: ReplayLookup,
    claimed: dict[bytes, int],
    domain_separator: bytes,
) -> list[Violation]:
    """The obvious version of `BlockChecker.check` (the replica's code before it): one record at
    a time, every predicate from `prover.validity`. Kept as the oracle of the differential test
    (tests/sequencer/validator/test_check.py) and as the definition a reader checks against."""
    out: list[Violation] = []
    for i, record in enumerate(records):
        seq = first_seq + i
        out.extend(check_record(record, seq, domain_separator))
        before = records[i - 1] if i > 0 else previous
        if before is not None:
            tt = check_adjacent(before, record, seq)
            if tt is not None:
                out.append(tt)
        key = replay_key(record)
        if key is None:
            continue
        earlier = claimed.get(key)
        if earlier is None and record_word(record, Word.SUBMITTER) < _U160_LIMIT:
            nonce = record_word(record, Word.NONCE)
            if nonce < _U64_LIMIT:
                earlier = find_by_nonce(record_submitter(record), nonce)
        if earlier is not None and earlier < seq:
            earlier_record = (
                records[earlier - first_seq] if earlier >= first_seq else get_record(earlier)
            )
            rp = check_replay(earlier_record, earlier, record, seq)
            if rp is not None:
                out.append(rp)
        claimed.setdefault(key, seq)
    return out


__all__ = ["BlockChecker", "check_records_reference", "signers_match"]
