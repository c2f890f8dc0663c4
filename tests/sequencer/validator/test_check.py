"""The fast checker against the obvious one: same violations on random valid and hostile records.

`BlockChecker` takes shortcuts (byte comparisons, a kind cache, signatures on threads); an
attacker who finds a record the shortcuts pass and the rules do not gets fraud past every
validator. So every hostile shape a sequencer could serve — a bad signature, a wrong seq, a
replay, time travel, each malformed word — is generated, stored in a real LevelDB replica or
checked in the same pull, and the fast verdict must equal `check_records_reference` (the
replica's code before it) and, where the store's index does not decide which earlier record a
replay names, an all-pairs oracle written from docs/spec.md §8 alone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prover.eip712 import Domain, Signer, compute_event_digest
from prover.errors import InvalidFieldError
from prover.hashing import leaf_hash
from prover.record import (
    RECORD_SIZE,
    SECP256K1_N,
    Record,
    Word,
    encode_kind,
    encode_record,
    word_slice,
)
from prover.validity import (
    FraudRule,
    Violation,
    check_adjacent,
    check_record,
    check_replay,
    replay_key,
)
from sequencer.validator.check import BlockChecker, check_records_reference
from state_db.store import Entry, Store

DOMAIN = Domain(31337, b"\x5f" * 20)
SEP = DOMAIN.separator
T0 = 1_700_000_000_000
KEYS = (
    bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
    bytes.fromhex("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"),
)
SIGNERS = tuple(Signer(k) for k in KEYS)
KINDS = (encode_kind("attestation"), encode_kind("sensor_hash"))


def _signed_template(key: int, nonce: int, kind: int) -> Record:
    """A signed record at seq 0 (seq and timestamp are not signed: placed later)."""
    signer = SIGNERS[key]
    subject, digest = bytes([key + 1]) * 32, nonce.to_bytes(32, "big")
    v, r, s = signer.sign(compute_event_digest(SEP, KINDS[kind], subject, digest, bytes(32), nonce))
    return Record(0, T0, KINDS[kind], subject, digest, bytes(32), signer.address, nonce, v, r, s)


# Few keys and nonces, so replays are common; signed once at import (signing is ~100 µs).
SIGNED = {(k, n, c): _signed_template(k, n, c) for k in (0, 1) for n in range(4) for c in (0, 1)}


def _unsigned_template(i: int, kind: int) -> Record:
    return Record(
        0, T0, KINDS[kind], b"\x09" * 32, i.to_bytes(32, "big"), bytes(32), b"\x0a" * 20, i % 3,
        0, bytes(32), bytes(32),
    )  # fmt: skip


def _set_word(raw: bytearray, word: int, value: int) -> None:
    raw[word_slice(word)] = value.to_bytes(32, "big")


def _flip(raw: bytearray, at: int) -> None:
    raw[at] ^= 0x01


def _unsigned_with_r(raw: bytearray) -> None:
    """v = 0 says "unsigned", but r is not zero."""
    _set_word(raw, Word.V, 0)
    _set_word(raw, Word.R, 1)


def _swap_v(raw: bytearray) -> None:
    """The other recovery id: recovers some other key (or none)."""
    v = raw[Word.V * 32 + 31]
    _set_word(raw, Word.V, 55 - v if v in (27, 28) else 28)


MUTATIONS: dict[str, Callable[[bytearray, int], object]] = {
    "none": lambda raw, seq: None,
    "wrong_seq": lambda raw, seq: _set_word(raw, Word.SEQ, seq + 1),
    "huge_seq": lambda raw, seq: _set_word(raw, Word.SEQ, 2**255 + seq),
    "flip_digest": lambda raw, seq: _flip(raw, Word.DIGEST * 32 + 7),
    "flip_r": lambda raw, seq: _flip(raw, Word.R * 32 + 31),
    "flip_s": lambda raw, seq: _flip(raw, Word.S * 32 + 31),
    "flip_submitter": lambda raw, seq: _flip(raw, Word.SUBMITTER * 32 + 31),
    "v_29": lambda raw, seq: _set_word(raw, Word.V, 29),
    "v_swapped": lambda raw, seq: _swap_v(raw),
    "v_256_plus_27": lambda raw, seq: _set_word(raw, Word.V, 256 + 27),
    "v_256": lambda raw, seq: _set_word(raw, Word.V, 256),
    "v_0_r_set": lambda raw, seq: _unsigned_with_r(raw),
    "r_0": lambda raw, seq: _set_word(raw, Word.R, 0),
    "r_n": lambda raw, seq: _set_word(raw, Word.R, SECP256K1_N),
    "s_high": lambda raw, seq: _set_word(
        raw, Word.S, SECP256K1_N - int.from_bytes(raw[word_slice(Word.S)], "big")
    ),
    "s_0": lambda raw, seq: _set_word(raw, Word.S, 0),
    "kind_upper": lambda raw, seq: raw.__setitem__(Word.KIND * 32, ord("A")),
    "kind_empty": lambda raw, seq: _set_word(raw, Word.KIND, 0),
    "kind_hole": lambda raw, seq: raw.__setitem__(Word.KIND * 32 + 31, ord("x")),
    "timestamp_high": lambda raw, seq: _flip(raw, Word.TIMESTAMP * 32),
    "submitter_high": lambda raw, seq: _flip(raw, Word.SUBMITTER * 32 + 11),
    "nonce_high": lambda raw, seq: _flip(raw, Word.NONCE * 32 + 23),
}


@st.composite
def hostile_logs(draw: st.DrawFn) -> list[bytes]:
    """A log of 1-40 records: honest ones, replays, time travel and every mutation above."""
    n = draw(st.integers(1, 40))
    out: list[bytes] = []
    ts = T0
    for seq in range(n):
        kind = draw(st.integers(0, 1))
        if draw(st.booleans()):
            key = (draw(st.integers(0, 1)), draw(st.integers(0, 3)), kind)
            template = SIGNED[key]
        else:
            template = _unsigned_template(draw(st.integers(0, 50)), kind)
        ts += draw(st.sampled_from((0, 1, 5, -1, -1000)))  # negative: time travel
        raw = bytearray(encode_record(replace(template, seq=seq, timestamp=max(ts, 0))))
        mutation = draw(st.sampled_from(sorted(MUTATIONS)))
        if draw(st.integers(0, 2)) == 0:  # mostly honest records, like a real log
            MUTATIONS[mutation](raw, seq)
        out.append(bytes(raw))
    return out


def oracle(records: list[bytes]) -> list[Violation]:
    """docs/spec.md §8 rules 1-3, 4a, 5 over a whole log, all pairs, nothing indexed."""
    out: list[Violation] = []
    for j, record in enumerate(records):
        out.extend(check_record(record, j, SEP))
        if j > 0:
            tt = check_adjacent(records[j - 1], record, j)
            if tt is not None:
                out.append(tt)
        key = replay_key(record)
        for i in range(j):
            if key is not None and replay_key(records[i]) == key:
                rp = check_replay(records[i], i, record, j)
                assert rp is not None
                out.append(rp)
                break
    return out


@pytest.fixture(scope="module")
def checkers() -> Iterator[tuple[BlockChecker, ...]]:
    # Two workers with 2-record chunks: the threaded path runs on these small logs too.
    with BlockChecker(SEP, workers=2, signature_chunk=2) as threaded, \
            BlockChecker(SEP, workers=0) as inline:  # fmt: skip
        yield threaded, inline


def _is_odd(record: bytes) -> bool:
    """A signed record the store's nonce index keys differently from rule 5's whole words."""
    return replay_key(record) is not None and (
        record[Word.V * 32 + 31] == 0
        or any(record[Word.SUBMITTER * 32 : Word.SUBMITTER * 32 + 12])
        or any(record[Word.NONCE * 32 : Word.NONCE * 32 + 24])
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=hostile_logs(), data=st.data())
def test_fast_checker_agrees_with_reference_and_oracle(
    checkers: tuple[BlockChecker, ...], records: list[bytes], data: st.DataObject
) -> None:
    stored = data.draw(st.integers(0, len(records)), label="records already in the replica")
    with tempfile.TemporaryDirectory() as tmp:
        # A real replica store holding the first `stored` records, as earlier pulls left it.
        store = Store.open(Path(tmp))
        try:
            if stored:
                entries = [Entry(r, leaf_hash(r), None) for r in records[:stored]]
                store.commit(entries, [(stored, T0)], check_seq=False)
            pulled = records[stored:]
            previous = records[stored - 1] if stored else None
            expected = check_records_reference(
                stored, pulled, previous, store.get_record, store.find_by_nonce, {}, SEP
            )
            for checker in checkers:
                got = checker.check(stored, pulled, previous, store.get_record, store.find_by_nonce)
                assert got == expected
        finally:
            store.close()
    whole = oracle(records)
    if stored == 0:
        assert expected == [v for v in whole]
    elif not any(_is_odd(r) for r in records):
        # The index keeps the last earlier record of a key, the oracle names the first:
        # both are proofs of the same replay.
        def where(vs: list[Violation]) -> list[tuple[FraudRule, int]]:
            return [(v.rule, v.seq) for v in vs]

        assert where(expected) == where([v for v in whole if v.seq >= stored])


def _log(mutation: str, *, signed: bool) -> list[bytes]:
    """Three honest records, then the fourth mutated."""
    out = []
    for seq in range(4):
        template = SIGNED[(0, seq, 0)] if signed else _unsigned_template(seq, 0)
        raw = bytearray(encode_record(replace(template, seq=seq, timestamp=T0 + seq)))
        if seq == 3:
            MUTATIONS[mutation](raw, seq)
        out.append(bytes(raw))
    return out


EXPECTED_RULES = {
    "none": set(),
    "wrong_seq": {FraudRule.WRONG_SEQ},
    "huge_seq": {FraudRule.WRONG_SEQ},
    "flip_digest": {FraudRule.BAD_SIGNATURE},
    "flip_r": {FraudRule.BAD_SIGNATURE},
    "flip_s": {FraudRule.BAD_SIGNATURE},
    "flip_submitter": {FraudRule.BAD_SIGNATURE},
    "v_29": {FraudRule.BAD_SIGNATURE},
    "v_swapped": {FraudRule.BAD_SIGNATURE},
    "v_256_plus_27": {FraudRule.BAD_SIGNATURE, FraudRule.MALFORMED},
    "v_256": {FraudRule.BAD_SIGNATURE, FraudRule.MALFORMED},
    "v_0_r_set": {FraudRule.BAD_SIGNATURE},
    "r_0": {FraudRule.BAD_SIGNATURE},
    "r_n": {FraudRule.BAD_SIGNATURE},
    "s_high": {FraudRule.BAD_SIGNATURE},
    "s_0": {FraudRule.BAD_SIGNATURE},
    "kind_upper": {FraudRule.MALFORMED, FraudRule.BAD_SIGNATURE},
    "kind_empty": {FraudRule.MALFORMED, FraudRule.BAD_SIGNATURE},
    "kind_hole": {FraudRule.MALFORMED, FraudRule.BAD_SIGNATURE},
    "timestamp_high": {FraudRule.MALFORMED},
    "submitter_high": {FraudRule.MALFORMED, FraudRule.BAD_SIGNATURE},
    "nonce_high": {FraudRule.MALFORMED, FraudRule.BAD_SIGNATURE},
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_hostile_signed_record_is_caught(
    checkers: tuple[BlockChecker, ...], mutation: str
) -> None:
    """Every mutation of a signed record breaks what it must, and only that (the fast path
    cannot pass it: the table fixes the rules independently of both checkers)."""
    records = _log(mutation, signed=True)
    for checker in checkers:
        found = checker.check(0, records, None, _no_record, _no_nonce)
        assert {v.rule for v in found} == EXPECTED_RULES[mutation]
        assert all(v.seq == 3 for v in found)


@pytest.mark.parametrize(
    ("mutation", "rules"),
    [
        ("wrong_seq", {FraudRule.WRONG_SEQ}),
        ("v_0_r_set", {FraudRule.BAD_SIGNATURE}),
        ("v_29", {FraudRule.BAD_SIGNATURE}),
        ("kind_upper", {FraudRule.MALFORMED}),
        ("timestamp_high", {FraudRule.MALFORMED}),
        ("submitter_high", {FraudRule.MALFORMED}),
        ("nonce_high", {FraudRule.MALFORMED}),
    ],
)
def test_each_hostile_unsigned_record_is_caught(
    checkers: tuple[BlockChecker, ...], mutation: str, rules: set[FraudRule]
) -> None:
    records = _log(mutation, signed=False)
    for checker in checkers:
        found = checker.check(0, records, None, _no_record, _no_nonce)
        assert {v.rule for v in found} == rules


def test_replay_across_pulls_and_time_travel(
    checkers: tuple[BlockChecker, ...], tmp_path: Path
) -> None:
    """A replay of a stored record, and a timestamp below the stored predecessor's."""
    first = encode_record(replace(SIGNED[(1, 2, 0)], seq=0, timestamp=T0 + 10))
    store = Store.open(tmp_path)
    try:
        store.commit([Entry(first, leaf_hash(first), None)], [(1, T0)], check_seq=False)
        again = encode_record(replace(SIGNED[(1, 2, 1)], seq=1, timestamp=T0 + 9))
        # Same submitter and nonce, another kind: a new signature, still a replay.
        for checker in checkers:
            found = checker.check(1, [again], first, store.get_record, store.find_by_nonce)
            assert [(v.rule, v.seq, v.related) for v in found] == [
                (FraudRule.TIME_TRAVEL, 1, 0),
                (FraudRule.REPLAY, 1, 0),
            ]
    finally:
        store.close()


def test_many_signatures_on_the_workers(checkers: tuple[BlockChecker, ...]) -> None:
    """A batch far larger than a chunk, one forgery in the middle: found, at its seq."""
    records = []
    for seq in range(64):
        raw = bytearray(
            encode_record(replace(SIGNED[(seq % 2, seq % 4, 0)], seq=seq, timestamp=T0))
        )
        if seq == 37:
            _flip(raw, Word.DIGEST * 32)
        records.append(bytes(raw))
    threaded = checkers[0]
    found = [v for v in threaded.check(0, records, None, _no_record, _no_nonce)
             if v.rule is FraudRule.BAD_SIGNATURE]  # fmt: skip
    assert [v.seq for v in found] == [37]


def test_a_short_record_is_refused(checkers: tuple[BlockChecker, ...]) -> None:
    record = encode_record(replace(SIGNED[(0, 0, 0)], seq=0))
    for checker in checkers:
        with pytest.raises(InvalidFieldError, match=f"must be {RECORD_SIZE} bytes"):
            checker.check(0, [record[:-1]], None, _no_record, _no_nonce)


def _no_record(seq: int) -> bytes:
    raise AssertionError(f"no stored record should be read (asked for {seq})")


def _no_nonce(submitter: bytes, nonce: int) -> int | None:
    return None
