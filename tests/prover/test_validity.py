"""prover/validity.py: every rule of docs/spec.md §8, on valid and invalid records."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from prover.eip712 import Domain, compute_event_digest, sign_digest
from prover.errors import InvalidFieldError
from prover.record import SECP256K1_N, Record, encode_kind, encode_record
from prover.validity import (
    FraudRule,
    Violation,
    check_adjacent,
    check_commit_time,
    check_record,
    check_replay,
    is_valid_signature_words,
    is_well_formed,
    replay_key,
    violation_from_json,
)

KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
ADDRESS = bytes.fromhex(Account.from_key(KEY).address[2:])
DOMAIN = Domain(31337, bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3"))
SEP = DOMAIN.separator


def unsigned(seq: int, ts: int = 1_700_000_000_000) -> Record:
    return Record(
        seq,
        ts,
        encode_kind("sensor_hash"),
        b"\x01" * 32,
        b"\x02" * 32,
        bytes(32),
        b"\x0a" * 20,
        0,
        0,
        bytes(32),
        bytes(32),
    )


def signed(seq: int, nonce: int = 5, ts: int = 1_700_000_000_000, key: bytes = KEY) -> Record:
    kind, subject, digest, meta = (
        encode_kind("inference_receipt"),
        b"\x03" * 32,
        b"\x04" * 32,
        bytes(32),
    )
    v, r, s = sign_digest(key, compute_event_digest(SEP, kind, subject, digest, meta, nonce))
    return Record(seq, ts, kind, subject, digest, meta, ADDRESS, nonce, v, r, s)


def word(raw: bytes, k: int, value: int) -> bytes:
    return raw[: 32 * k] + value.to_bytes(32, "big") + raw[32 * k + 32 :]


def rules(raw: bytes, index: int) -> list[FraudRule]:
    return [v.rule for v in check_record(raw, index, SEP)]


def test_valid_records_break_nothing() -> None:
    assert check_record(encode_record(unsigned(7)), 7, SEP) == []
    assert check_record(encode_record(signed(0)), 0, SEP) == []
    assert is_well_formed(encode_record(signed(3)))


def test_rule_1_wrong_seq() -> None:
    (v,) = check_record(encode_record(unsigned(8)), 7, SEP)
    assert (v.rule, v.seq, v.related) == (FraudRule.WRONG_SEQ, 7, None)
    assert "8" in v.reason
    # A seq word above uint64 is rule 1's too, not a malformed record.
    assert rules(word(encode_record(unsigned(7)), 0, 2**64 + 7), 7) == [FraudRule.WRONG_SEQ]


def test_rule_2_signatures() -> None:
    good = encode_record(signed(1))
    # Signed by someone else than the submitter.
    other = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
    forged = encode_record(replace(signed(1, key=other), submitter=ADDRESS))
    assert rules(forged, 1) == [FraudRule.BAD_SIGNATURE]
    # A field changed after signing.
    assert rules(encode_record(replace(signed(1), digest=b"\x09" * 32)), 1) == [
        FraudRule.BAD_SIGNATURE
    ]
    # Signed in another domain.
    assert not is_valid_signature_words(Domain(1, bytes(20)).separator, good)
    # Unsigned with leftovers in r or s.
    assert rules(encode_record(replace(unsigned(1), s=b"\x01" * 32)), 1) == [
        FraudRule.BAD_SIGNATURE
    ]
    # v outside {0, 27, 28}.
    assert rules(encode_record(replace(signed(1), v=29)), 1) == [FraudRule.BAD_SIGNATURE]
    # High s (the malleable twin of a valid signature).
    rec = signed(1)
    high = (SECP256K1_N - int.from_bytes(rec.s, "big")).to_bytes(32, "big")
    twin = replace(rec, s=high, v=55 - rec.v)
    assert rules(encode_record(twin), 1) == [FraudRule.BAD_SIGNATURE]
    # r = 0 recovers nothing.
    assert rules(encode_record(replace(rec, r=bytes(32))), 1) == [FraudRule.BAD_SIGNATURE]


def test_rule_3_malformed() -> None:
    bad_kind = replace(unsigned(2), kind=b"Sensor".ljust(32, b"\x00"))
    assert rules(encode_record(bad_kind), 2) == [FraudRule.MALFORMED]
    assert rules(encode_record(replace(unsigned(2), kind=bytes(32))), 2) == [FraudRule.MALFORMED]
    gap = b"ab\x00c".ljust(32, b"\x00")
    assert rules(encode_record(replace(unsigned(2), kind=gap)), 2) == [FraudRule.MALFORMED]
    raw = encode_record(unsigned(2))
    for k, value in ((1, 2**64), (7, 2**64), (6, 2**160)):
        (v,) = check_record(word(raw, k, value), 2, SEP)
        assert v.rule == FraudRule.MALFORMED and "fit" in v.reason
    # v = 256 is malformed and also not a valid signature byte.
    assert rules(word(raw, 8, 256), 2) == [FraudRule.BAD_SIGNATURE, FraudRule.MALFORMED]


def test_rule_4a_time_travel() -> None:
    a, b = encode_record(unsigned(4, ts=1000)), encode_record(unsigned(5, ts=999))
    v = check_adjacent(a, b, 5)
    assert v is not None and (v.rule, v.seq, v.related) == (FraudRule.TIME_TRAVEL, 5, 4)
    assert check_adjacent(a, encode_record(unsigned(5, ts=1000)), 5) is None
    assert check_adjacent(b, a, 5) is None
    with pytest.raises(InvalidFieldError):
        check_adjacent(a, b, 0)


def test_rule_4b_future_timestamp() -> None:
    raw = encode_record(unsigned(9, ts=1_700_000_000_001))
    v = check_commit_time(raw, 9, 1_700_000_000)
    assert v is not None and v.rule == FraudRule.FUTURE_TIMESTAMP and v.seq == 9
    assert check_commit_time(raw, 9, 1_700_000_001) is None
    assert (
        check_commit_time(encode_record(unsigned(9, ts=1_700_000_000_000)), 9, 1_700_000_000)
        is None
    )


def test_rule_5_replay() -> None:
    first, again = encode_record(signed(2, nonce=9)), encode_record(signed(6, nonce=9))
    assert replay_key(first) == replay_key(again) is not None
    assert replay_key(encode_record(unsigned(1))) is None
    v = check_replay(first, 2, again, 6)
    assert v is not None and (v.rule, v.seq, v.related) == (FraudRule.REPLAY, 6, 2)
    assert check_replay(first, 2, encode_record(signed(6, nonce=10)), 6) is None
    assert check_replay(encode_record(unsigned(2)), 2, encode_record(unsigned(6)), 6) is None
    with pytest.raises(InvalidFieldError):
        check_replay(first, 6, again, 6)


def test_violation_json_round_trip_and_bad_length() -> None:
    v = Violation(FraudRule.REPLAY, 6, 2, "why")
    assert violation_from_json(v.to_json()) == v
    with pytest.raises(InvalidFieldError):
        violation_from_json({"rule": "NOPE", "seq": 1})
    with pytest.raises(InvalidFieldError, match="352"):
        check_record(b"\x00" * 351, 0, SEP)
