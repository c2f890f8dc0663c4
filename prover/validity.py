"""The validity rules of docs/spec.md §8 over raw 352-byte records: pure predicates for validators.

Each check reads the record's ABI words exactly as the rollup contract does (docs/contract.md,
"Fraud-proof catalogue"), so a `Violation` found here is one the contract accepts as a fraud
proof, and a record that passes here is one it refuses to call invalid:

* rule 1 (`WRONG_SEQ`): word 0, read as a uint256, differs from the record's position;
* rule 2 (`BAD_SIGNATURE`): v = 0 with r or s nonzero; or v (the whole word) not 27/28; or
  s > n/2; or the EIP-712 `Event` digest does not recover to the submitter word;
* rule 3 (`MALFORMED`): the kind is not ``[a-z0-9_.-]{1,32}`` zero-padded, or a word does not
  fit its ABI type (timestamp or nonce >= 2**64, submitter >= 2**160, v >= 256);
* rule 4a (`TIME_TRAVEL`): ``timestamp[i+1] < timestamp[i]``;
* rule 4b (`FUTURE_TIMESTAMP`): a record's timestamp (ms) is later than the commit time (s) of
  the first checkpoint covering it;
* rule 5 (`REPLAY`): two signed records (v word above 1) share the submitter and nonce words.

A forced record (v = 1, protocol v2, `prover.forced`) passes rule 2 here: whether it is the
inclusion the L1 inbox recorded is judged against the contract's state, not the record alone
(`check_forced`), and is proven with `proveBadSignature` like any other rule 2 violation.

Rules 1-3 look at one record (`check_record`); 4a at two neighbours (`check_adjacent`); 4b at a
record and a checkpoint (`check_commit_time`); 5 needs every earlier signed record, which a
validator keeps in an index: `replay_key` gives the key, `check_replay` the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import sha3

from prover.eip712 import EVENT_TYPEHASH, recover_signer
from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.forced import FORCED_V, compute_entry_hash, forced_index, is_forced
from prover.record import (
    KIND_BYTES,
    R_BYTES,
    RECORD_SIZE,
    REPLAY_KEY_WORDS,
    S_BYTES,
    SECP256K1_HALF_N,
    SUBMITTER_BYTES,
    Word,
    is_valid_kind,
    record_word,
    word_slice,
)

_U64_LIMIT: Final[int] = 2**64
_U160_LIMIT: Final[int] = 2**160
_U8_LIMIT: Final[int] = 2**8
_ZERO_WORD: Final[bytes] = bytes(32)
_EIP712_PREFIX: Final[bytes] = b"\x19\x01"
_FORCED_V: Final[int] = FORCED_V


class FraudRule(IntEnum):
    """What a violation breaks: the contract's `FraudProven.rule` codes (its ``RULE_*``
    constants; tests/prover/test_contract_codes.py compares them with Rollup.vy)."""

    WRONG_SEQ = 1
    """docs/spec.md §8 rule 1: ``record.seq != i`` (`proveWrongSeq`)."""
    BAD_SIGNATURE = 2
    """Rule 2: the signature does not recover to the submitter (`proveBadSignature`)."""
    MALFORMED = 3
    """Rule 3: a malformed kind, or a word that does not fit its ABI type (`proveBadKind`)."""
    TIME_TRAVEL = 4
    """Rule 4, first half: a timestamp decreases (`proveTimeTravel`)."""
    FUTURE_TIMESTAMP = 5
    """Rule 4, second half: a timestamp after the covering commit (`proveFutureTimestamp`)."""
    REPLAY = 6
    """Rule 5: two signed records share (submitter, nonce) (`proveReplay`)."""
    RECEIPT_MISMATCH = 7
    """docs/spec.md §5: a checkpoint holds another record where a receipt promised a leaf
    (`proveReceiptMismatch`)."""
    RECEIPT_DEADLINE = 8
    """docs/spec.md §5: no checkpoint covered a receipt by its deadline (`proveReceiptDeadlineMissed`)."""
    DA_UNANSWERED = 9
    """docs/spec.md §9: a DA challenge was not answered in time (`resolveDAChallenge`)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule, located well enough to build its one-step fraud proof."""

    rule: FraudRule
    """The rule broken."""
    seq: int
    """Position of the offending record: the one the proof's checkpoint must newly cover."""
    related: int | None
    """Position of the other record of a two-record proof (the earlier one, for rules 4a and
    5), else None."""
    reason: str
    """What is wrong, for logs and operators."""

    def to_json(self) -> dict[str, object]:
        """A JSON object (stored by validators, served by `validator_status`)."""
        return {
            "rule": self.rule.name,
            "seq": self.seq,
            "related": self.related,
            "reason": self.reason,
        }


def violation_from_json(obj: dict[str, object]) -> Violation:
    """Inverse of `Violation.to_json`; `InvalidFieldError` for a malformed object."""
    try:
        rule = FraudRule[str(obj["rule"])]
        seq = obj["seq"]
        related = obj.get("related")
        reason = str(obj.get("reason", ""))
    except KeyError as e:
        raise InvalidFieldError("violation", f"missing or unknown {e}") from None
    if not isinstance(seq, int) or not (related is None or isinstance(related, int)):
        raise InvalidFieldError("violation", "seq and related must be integers")
    return Violation(rule, seq, related, reason)


# --- words ------------------------------------------------------------------------------------


# Word k of the record as a uint256 (what the contract's ``extract32`` reads).
_word = record_word

# hashStruct(Event) covers words 2-5 (kind, subject, digest, metaHash) and 7 (nonce).
_EVENT_WORDS: Final[slice] = word_slice(Word.KIND, Word.SUBMITTER)
_NONCE_WORD: Final[slice] = word_slice(Word.NONCE)


def _check_length(record: bytes) -> None:
    if len(record) != RECORD_SIZE:
        raise InvalidFieldError("record", f"must be {RECORD_SIZE} bytes, got {len(record)}")


def record_timestamp_word(record: bytes) -> int:
    """Word 1, the timestamp (ms), whole: a malformed record may hold more than 64 bits."""
    return _word(record, Word.TIMESTAMP)


# --- rules 1-3: one record --------------------------------------------------------------------


def is_well_formed(record: bytes) -> bool:
    """Rule 3 as the contract's ``_wellFormed``: the kind is well formed and every word fits
    its ABI type (seq is rule 1's business)."""
    _check_length(record)
    return (
        _word(record, Word.TIMESTAMP) < _U64_LIMIT
        and _word(record, Word.SUBMITTER) < _U160_LIMIT
        and _word(record, Word.NONCE) < _U64_LIMIT
        and _word(record, Word.V) < _U8_LIMIT
        and is_valid_kind(record[KIND_BYTES])
    )


def _malformed_reason(record: bytes) -> str:
    if _word(record, Word.TIMESTAMP) >= _U64_LIMIT:
        return "timestamp word does not fit uint64"
    if _word(record, Word.SUBMITTER) >= _U160_LIMIT:
        return "submitter word does not fit an address"
    if _word(record, Word.NONCE) >= _U64_LIMIT:
        return "nonce word does not fit uint64"
    if _word(record, Word.V) >= _U8_LIMIT:
        return "v word does not fit uint8"
    return f"kind {record[KIND_BYTES]!r} is not [a-z0-9_.-]{{1,32}} zero-padded"


def verify_signature_words(domain_separator: bytes, record: bytes) -> None:
    """Rule 2 as the contract's ``_signatureValid``; raises `InvalidSignatureError` if broken.

    Unlike `prover.eip712.verify_record_signature`, this reads whole words, so it also judges
    records whose words overflow their ABI types exactly as the contract does.
    """
    _check_length(record)
    v = _word(record, Word.V)
    r = record[R_BYTES]
    s = record[S_BYTES]
    # Verify an unsigned record carries no signature at all.
    if v == 0:
        if r != _ZERO_WORD or s != _ZERO_WORD:
            raise InvalidSignatureError("signature", "unsigned record (v = 0) has non-zero r or s")
        return
    # A forced record's authority is the L1 inbox (`check_forced`), not a signature.
    if v == _FORCED_V:
        return
    # Verify v and s are in the ranges ecrecover callers accept (EIP-2 low s).
    if v not in (27, 28):
        raise InvalidSignatureError("signature", f"v must be 0, 1, 27 or 28, got {v}")
    if int.from_bytes(s, "big") > SECP256K1_HALF_N:
        raise InvalidSignatureError("signature", "s is in the upper half (EIP-2)")
    # hashStruct(Event) over the raw words 2, 3, 4, 5 and 7, as the contract hashes them.
    struct_hash = sha3.keccak_256(
        EVENT_TYPEHASH + record[_EVENT_WORDS] + record[_NONCE_WORD]
    ).digest()
    digest = sha3.keccak_256(_EIP712_PREFIX + domain_separator + struct_hash).digest()
    signer = recover_signer(digest, v, r, s)
    # Verify the signer is the submitter word (an overflowing word matches no address).
    if int.from_bytes(signer, "big") != _word(record, Word.SUBMITTER):
        raise InvalidSignatureError(
            "signature",
            f"recovers to 0x{signer.hex()}, not the submitter 0x{record[SUBMITTER_BYTES].hex()}",
        )


def is_valid_signature_words(domain_separator: bytes, record: bytes) -> bool:
    """True when `verify_signature_words` would pass."""
    try:
        verify_signature_words(domain_separator, record)
    except InvalidSignatureError:
        return False
    return True


def check_record(record: bytes, index: int, domain_separator: bytes) -> list[Violation]:
    """Every one-record rule (1, 2, 3) `record` breaks at position `index`; [] if none.

    Raises `InvalidFieldError` only for a record that is not 352 bytes (nothing to prove).
    """
    _check_length(record)
    found: list[Violation] = []
    seq_word = _word(record, Word.SEQ)
    if seq_word != index:
        found.append(
            Violation(
                FraudRule.WRONG_SEQ, index, None, f"record says seq {seq_word}, sits at {index}"
            )
        )
    try:
        verify_signature_words(domain_separator, record)
    except InvalidSignatureError as e:
        found.append(Violation(FraudRule.BAD_SIGNATURE, index, None, e.reason))
    if not is_well_formed(record):
        found.append(Violation(FraudRule.MALFORMED, index, None, _malformed_reason(record)))
    return found


# --- rule 4: time -----------------------------------------------------------------------------


def check_adjacent(previous: bytes, record: bytes, index: int) -> Violation | None:
    """Rule 4a for records `index - 1` (`previous`) and `index`: a decrease is a violation."""
    _check_length(previous)
    _check_length(record)
    if index < 1:
        raise InvalidFieldError("index", f"the later of two neighbours is at >= 1, got {index}")
    before, after = _word(previous, Word.TIMESTAMP), _word(record, Word.TIMESTAMP)
    if after < before:
        return Violation(
            FraudRule.TIME_TRAVEL,
            index,
            index - 1,
            f"timestamp {after} ms after {before} ms at {index - 1}",
        )
    return None


def check_commit_time(record: bytes, index: int, committed_at_s: int) -> Violation | None:
    """Rule 4b: `record` at `index` is timestamped after the commit time (Unix seconds) of the
    first checkpoint that covers it."""
    _check_length(record)
    timestamp = _word(record, Word.TIMESTAMP)
    if timestamp > committed_at_s * 1000:
        return Violation(
            FraudRule.FUTURE_TIMESTAMP,
            index,
            None,
            f"timestamp {timestamp} ms is after the covering commit at {committed_at_s} s",
        )
    return None


def check_timestamp_bound(record: bytes, index: int, bound_ms: int) -> Violation | None:
    """Rule 4b as contract v2 judges it: `record` at `index`, new in a checkpoint, is stamped
    after the timestamp bound (ms) that checkpoint's commit declared (itself never after the
    commit's block time, so this is at least as strict as `check_commit_time`)."""
    _check_length(record)
    timestamp = _word(record, 1)
    if timestamp > bound_ms:
        return Violation(
            FraudRule.FUTURE_TIMESTAMP,
            index,
            None,
            f"timestamp {timestamp} ms is after the covering commit's declared bound {bound_ms} ms",
        )
    return None


# --- rule 5: replay ---------------------------------------------------------------------------


def replay_key(record: bytes) -> bytes | None:
    """The (submitter word, nonce word) key of a signed record (v word above 1), else None.

    Whole words, as the contract compares them: two records with equal keys replay. Unsigned
    (v = 0) and forced (v = 1) records have none.
    """
    _check_length(record)
    if _word(record, Word.V) <= _FORCED_V:
        return None
    return record[REPLAY_KEY_WORDS]


def check_replay(
    earlier_record: bytes, earlier: int, record: bytes, index: int
) -> Violation | None:
    """Rule 5 for the records at `earlier` < `index`: both signed with the same key."""
    if not 0 <= earlier < index:
        raise InvalidFieldError("earlier", f"must be in [0, {index}), got {earlier}")
    key = replay_key(record)
    if key is None or replay_key(earlier_record) != key:
        return None
    return Violation(
        FraudRule.REPLAY,
        index,
        earlier,
        f"(submitter 0x{record[SUBMITTER_BYTES].hex()}, nonce {_word(record, Word.NONCE)}) "
        f"already used at {earlier}",
    )


# --- forced records (protocol v2, docs/spec.md §7.3) --------------------------------------------


def check_forced(
    record: bytes,
    index: int,
    checkpoint_index: int,
    entry_hash: bytes | None,
    included_at: tuple[int, int] | None,
) -> Violation | None:
    """Rule 2 for a forced record (v = 1) at `index`, new in checkpoint `checkpoint_index`, as
    the contract's ``recordAuthentic`` judges it: `entry_hash` is the inbox's hash of entry
    j = its nonce word (None if never posted), `included_at` the (seq, checkpoint index) L1
    recorded for that entry's inclusion (None if none). None for a record that is not forced
    or that matches."""
    _check_length(record)
    if not is_forced(record):
        return None
    j = forced_index(record)
    if entry_hash is None:
        reason = f"forced record names inbox entry {j}, which was never posted"
    elif compute_entry_hash(record) != entry_hash:
        reason = f"forced record does not match inbox entry {j}"
    elif included_at != (index, checkpoint_index):
        reason = (
            f"forced record for inbox entry {j} sits at {index} in checkpoint "
            f"{checkpoint_index}; L1 recorded its inclusion at {included_at}"
        )
    else:
        return None
    return Violation(FraudRule.BAD_SIGNATURE, index, None, reason)
