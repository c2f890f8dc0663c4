"""The event record (docs/spec.md §3) and wire event parsing (docs/spec.md §10)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import eth_abi
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.hashing import keccak256
from prover.record import (
    CONTENT_WORDS,
    KIND_SENSOR_HASH,
    MAX_META_BYTES,
    RECORD_SIZE,
    RECORD_WORDS,
    REPLAY_KEY_WORDS,
    SECP256K1_HALF_N,
    SECP256K1_N,
    WELL_KNOWN_KINDS,
    WORD_SIZE,
    ZERO32,
    EventInput,
    Record,
    Word,
    build_record,
    canonical_meta,
    compute_meta_hash,
    decode_kind,
    decode_record,
    encode_kind,
    encode_record,
    is_valid_kind,
    parse_event,
    parse_signature,
    record_digest,
    record_kind,
    record_meta_hash,
    record_nonce,
    record_r,
    record_s,
    record_seq,
    record_signature,
    record_subject,
    record_submitter,
    record_timestamp,
    record_v,
    record_word,
    stamp_record,
    verify_kind,
    word_slice,
)

ABI_TYPES = [
    "uint64", "uint64", "bytes32", "bytes32", "bytes32", "bytes32",
    "address", "uint64", "uint8", "bytes32", "bytes32",
]  # fmt: skip

u64 = st.integers(0, 2**64 - 1)
b32 = st.binary(min_size=32, max_size=32)
records = st.builds(
    Record,
    seq=u64,
    timestamp=u64,
    kind=b32,
    subject=b32,
    digest=b32,
    meta_hash=b32,
    submitter=st.binary(min_size=20, max_size=20),
    nonce=u64,
    v=st.integers(0, 255),
    r=b32,
    s=b32,
)


def abi_tuple(rec: Record) -> tuple[Any, ...]:
    return (
        rec.seq, rec.timestamp, rec.kind, rec.subject, rec.digest, rec.meta_hash,
        "0x" + rec.submitter.hex(), rec.nonce, rec.v, rec.r, rec.s,
    )  # fmt: skip


SAMPLE = Record(
    seq=7,
    timestamp=1_700_000_000_123,
    kind=KIND_SENSOR_HASH,
    subject=b"\x11" * 32,
    digest=b"\x22" * 32,
    meta_hash=ZERO32,
    submitter=b"\x33" * 20,
    nonce=9,
    v=27,
    r=b"\x44" * 32,
    s=b"\x55" * 32,
)


# --- encode / decode -------------------------------------------------------------------------


@given(records)
def test_encode_is_the_abi_encoding_and_decode_inverts_it(rec: Record) -> None:
    encoded = encode_record(rec)
    assert len(encoded) == RECORD_SIZE
    assert encoded == eth_abi.encode(ABI_TYPES, abi_tuple(rec))
    assert decode_record(encoded) == rec


@given(records)
def test_accessors_read_the_same_fields_as_decode(rec: Record) -> None:
    b = encode_record(rec)
    assert (
        record_seq(b), record_timestamp(b), record_kind(b), record_subject(b), record_digest(b),
        record_meta_hash(b), record_submitter(b), record_nonce(b), record_v(b), record_r(b),
        record_s(b),
    ) == (
        rec.seq, rec.timestamp, rec.kind, rec.subject, rec.digest, rec.meta_hash,
        rec.submitter, rec.nonce, rec.v, rec.r, rec.s,
    )  # fmt: skip


def test_sample_record_layout_by_hand() -> None:
    b = encode_record(SAMPLE)
    words = [b[32 * k : 32 * k + 32] for k in range(11)]
    assert words[0] == bytes(31) + b"\x07"
    assert words[2] == b"sensor_hash" + bytes(21)
    assert words[6] == bytes(12) + b"\x33" * 20
    assert words[8] == bytes(31) + b"\x1b"
    assert words[10] == b"\x55" * 32


def test_layout_constants_agree_with_each_other() -> None:
    # One word per field of `Record`, in order, and the slices inside the words they name.
    assert RECORD_SIZE == RECORD_WORDS * WORD_SIZE == 352
    assert [w.name.lower() for w in Word] == [
        "seq", "timestamp", "kind", "subject", "digest", "meta_hash", "submitter", "nonce",
        "v", "r", "s",
    ]  # fmt: skip
    assert list(Record.__dataclass_fields__) == [w.name.lower() for w in Word]
    assert word_slice(Word.KIND, Word.V) == CONTENT_WORDS == slice(64, 256)
    assert slice(192, 256) == REPLAY_KEY_WORDS
    assert word_slice(Word.S) == slice(320, 352)


@given(records)
def test_whole_words_and_signature(rec: Record) -> None:
    b = encode_record(rec)
    assert [record_word(b, k) for k in Word] == [
        int.from_bytes(x, "big") if isinstance(x, bytes) else x for x in abi_tuple(rec)[:6]
    ] + [int.from_bytes(rec.submitter, "big"), rec.nonce, rec.v] + [
        int.from_bytes(rec.r, "big"), int.from_bytes(rec.s, "big"),
    ]  # fmt: skip
    assert record_signature(b) == rec.r + rec.s + bytes([rec.v])
    assert b[CONTENT_WORDS] == eth_abi.encode(ABI_TYPES[2:8], abi_tuple(rec)[2:8])
    assert b[REPLAY_KEY_WORDS] == eth_abi.encode(ABI_TYPES[6:8], abi_tuple(rec)[6:8])


@given(records, u64, u64)
def test_stamp_record_sets_seq_and_timestamp_only(rec: Record, seq: int, ts: int) -> None:
    stamped = stamp_record(encode_record(rec), seq, ts)
    assert decode_record(stamped) == replace(rec, seq=seq, timestamp=ts)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", -1),
        ("seq", 2**64),
        ("seq", True),
        ("timestamp", 2**64),
        ("kind", b"\x00" * 31),
        ("subject", b"\x00" * 33),
        ("digest", "00" * 32),
        ("meta_hash", b""),
        ("submitter", b"\x00" * 32),
        ("nonce", -5),
        ("v", 256),
        ("r", b"\x01" * 31),
        ("s", None),
    ],
)
def test_encode_names_the_bad_field(field: str, value: object) -> None:
    import dataclasses

    bad = dataclasses.replace(SAMPLE, **{field: value})
    with pytest.raises(InvalidFieldError) as e:
        encode_record(bad)
    assert e.value.field == field


@pytest.mark.parametrize(
    ("field", "byte_offset"),
    [
        ("seq", 0),
        ("seq", 23),
        ("timestamp", 32),
        ("timestamp", 55),
        ("submitter", 192),
        ("submitter", 203),
        ("nonce", 224),
        ("nonce", 247),
        ("v", 256),
        ("v", 286),
    ],
)
def test_decode_rejects_dirty_padding_naming_the_field(field: str, byte_offset: int) -> None:
    b = bytearray(encode_record(SAMPLE))
    b[byte_offset] = 1
    with pytest.raises(InvalidFieldError) as e:
        decode_record(bytes(b))
    assert e.value.field == field


@pytest.mark.parametrize("size", [0, 351, 353, 704])
def test_decode_rejects_wrong_length(size: int) -> None:
    with pytest.raises(InvalidFieldError, match="352 bytes") as e:
        decode_record(bytes(size))
    assert e.value.field == "record"


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(InvalidFieldError, match="must be bytes"):
        decode_record("00" * 352)  # type: ignore[arg-type]


# --- kinds -----------------------------------------------------------------------------------

kind_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=32)


@given(kind_names)
def test_kind_round_trip(name: str) -> None:
    k = encode_kind(name)
    assert len(k) == 32
    assert k.startswith(name.encode())
    assert is_valid_kind(k)
    assert decode_kind(k) == name


@given(st.binary(min_size=32, max_size=32))
def test_is_valid_kind_matches_the_spelled_out_rule(k: bytes) -> None:
    name, _, rest = k.partition(b"\x00")
    expected = (
        len(name) >= 1
        and all(c in b"abcdefghijklmnopqrstuvwxyz0123456789_.-" for c in name)
        and rest == bytes(len(rest))
    )
    assert is_valid_kind(k) == expected


@pytest.mark.parametrize("name", WELL_KNOWN_KINDS)
def test_well_known_kinds_are_valid(name: str) -> None:
    assert decode_kind(encode_kind(name)) == name


@pytest.mark.parametrize(
    "name",
    ["", "A", "Sensor", "a b", "a/b", "x" * 33, "é", "a\x00", "ü" * 3, "inference-receipt!"],
)
def test_encode_kind_rejects(name: str) -> None:
    with pytest.raises(InvalidFieldError) as e:
        encode_kind(name)
    assert e.value.field == "kind"


@pytest.mark.parametrize(
    "raw",
    [
        bytes(32),  # empty name
        b"abc" + bytes(28) + b"d",  # non-zero after the first zero
        b"ABC" + bytes(29),  # upper case
        b"x" * 31,  # too short
        b"x" * 33,  # too long
        b"\x00abc" + bytes(28),  # leading zero
    ],
)
def test_invalid_kinds(raw: bytes) -> None:
    assert not is_valid_kind(raw)
    with pytest.raises(InvalidFieldError):
        verify_kind(raw)
    with pytest.raises(InvalidFieldError):
        decode_kind(raw)


def test_full_32_char_kind_is_valid() -> None:
    assert is_valid_kind(b"a" * 32)
    assert decode_kind(b"a" * 32) == "a" * 32


# --- meta ------------------------------------------------------------------------------------


def test_meta_hash_of_hand_written_canonical_form() -> None:
    meta = {"z": [3, 1.5, "é"], "a": {"y": None, "b": True}, "m": 1e21, "n": 100.0}
    # RFC 8785: keys sorted by UTF-16 code units, no whitespace, ECMAScript number forms,
    # non-ASCII kept as UTF-8.
    by_hand = '{"a":{"b":true,"y":null},"m":1e+21,"n":100,"z":[3,1.5,"é"]}'.encode()
    assert canonical_meta(meta) == by_hand
    assert compute_meta_hash(meta) == keccak256(by_hand)


def test_meta_none_hashes_to_zero() -> None:
    assert compute_meta_hash(None) == ZERO32
    assert canonical_meta(None) is None


def test_meta_size_limit_is_on_the_canonical_form() -> None:
    # '{"k":"' + x*n + '"}' is n + 8 bytes.
    assert canonical_meta({"k": "x" * (MAX_META_BYTES - 8)}) is not None
    with pytest.raises(InvalidFieldError, match="1025 bytes") as e:
        canonical_meta({"k": "x" * (MAX_META_BYTES - 7)})
    assert e.value.field == "meta"


@pytest.mark.parametrize(
    "meta",
    [[1, 2], "text", 5, {"big": 2**60}, {"nan": float("nan")}, {1: "non-string key"}],
)
def test_bad_meta(meta: object) -> None:
    with pytest.raises(InvalidFieldError) as e:
        canonical_meta(meta)
    assert e.value.field == "meta"


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


# The orjson fast path's subset: ASCII keys, no fractions (see prover.record._is_orjson_canonical).
ascii_keys = st.text(st.characters(max_codepoint=127), max_size=4)
fast_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(
    st.dictionaries(st.text(max_size=6), json_values, max_size=5)
    | st.dictionaries(ascii_keys, fast_values, min_size=2, max_size=5)
)
def test_canonical_meta_equals_rfc8785(meta: dict[str, Any]) -> None:
    # The orjson fast path must never disagree with the reference JCS implementation.
    try:
        expected: bytes | None = rfc8785.dumps(meta)
    except (rfc8785.CanonicalizationError, ValueError):
        expected = None
    if expected is None or len(expected) > MAX_META_BYTES:
        with pytest.raises(InvalidFieldError):
            canonical_meta(meta)
    else:
        assert canonical_meta(meta) == expected


@pytest.mark.parametrize(
    "meta",
    [
        {"\U0001f600": 1, "\ufb01": 2, "a": 3},  # UTF-16 order differs from code point order
        {"s": '\x00\x1f\x7f"\\/\u2028é\U0001f600'},
        {"i": 2**53 - 1, "j": -(2**53 - 1), "f": 0.1, "g": -0.0, "h": 1e-7},
        {"nested": [{"b": [1, {"z": None, "y": True}]}, []], "e": {}},
    ],
)
def test_canonical_meta_edge_cases_equal_rfc8785(meta: dict[str, Any]) -> None:
    assert canonical_meta(meta) == rfc8785.dumps(meta)


def test_deeply_nested_meta_is_an_input_error() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    # Depending on the recursion limit it is too deep to walk, or its canonical form too big:
    # either way an input error on meta, never a crash.
    with pytest.raises(InvalidFieldError) as e:
        canonical_meta({"d": deep})
    assert e.value.field == "meta"


@pytest.mark.parametrize("depth", [63, 64, 65, 200])
def test_nested_meta_within_the_size_limit_is_canonical(depth: int) -> None:
    nested: Any = {"x": 1}
    for i in range(depth):
        nested = [nested] if i % 2 else {"k": nested}
    assert canonical_meta({"d": nested}) == rfc8785.dumps({"d": nested})


def test_lone_surrogate_meta_is_an_input_error() -> None:
    with pytest.raises(InvalidFieldError) as e:
        canonical_meta({"s": "\ud800"})
    assert e.value.field == "meta"


# --- parse_event -----------------------------------------------------------------------------

SUBJECT = "0x" + "ab" * 32
DIGEST = "0x" + "CD" * 32
SUBMITTER = "0x" + "12" * 20
GOOD_S = (SECP256K1_HALF_N).to_bytes(32, "big")
GOOD_R = (1).to_bytes(32, "big")


def sig_hex(r: bytes = GOOD_R, s: bytes = GOOD_S, v: int = 27) -> str:
    return "0x" + (r + s + bytes((v,))).hex()


def unsigned(**over: object) -> dict[str, object]:
    return {"kind": "sensor_hash", "subject": SUBJECT, "digest": DIGEST, **over}


def signed(**over: object) -> dict[str, object]:
    return unsigned(**{"nonce": 3, "signature": sig_hex(), "submitter": SUBMITTER, **over})


def test_parse_unsigned_event() -> None:
    ev = parse_event(unsigned())
    assert ev == EventInput(
        kind=KIND_SENSOR_HASH,
        subject=b"\xab" * 32,
        digest=b"\xcd" * 32,
        meta_bytes=None,
        meta_hash=ZERO32,
        nonce=None,
        signature=None,
        submitter=None,
    )
    assert not ev.is_signed


def test_parse_signed_event_with_meta() -> None:
    ev = parse_event(signed(meta={"b": 1, "a": "x"}))
    assert ev.meta_bytes == b'{"a":"x","b":1}'
    assert ev.meta_hash == keccak256(b'{"a":"x","b":1}')
    assert ev.nonce == 3
    assert ev.signature == (27, GOOD_R, GOOD_S)
    assert ev.submitter == b"\x12" * 20
    assert ev.is_signed


def test_meta_null_is_no_meta() -> None:
    assert parse_event(unsigned(meta=None)).meta_hash == ZERO32


def test_kind_as_bytes32_hex() -> None:
    assert parse_event(unsigned(kind="0x" + KIND_SENSOR_HASH.hex())).kind == KIND_SENSOR_HASH


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0, 0),
        (2**64 - 1, 2**64 - 1),
        ("18446744073709551615", 2**64 - 1),
        ("0xffffffffffffffff", 2**64 - 1),
        ("0x0a", 10),
        ("007", 7),
    ],
)
def test_nonce_forms(raw: object, value: int) -> None:
    assert parse_event(unsigned(nonce=raw)).nonce == value


@pytest.mark.parametrize("v_wire,v", [(0, 27), (1, 28), (27, 27), (28, 28)])
def test_signature_v_is_normalised(v_wire: int, v: int) -> None:
    sig = parse_event(signed(signature=sig_hex(v=v_wire))).signature
    assert sig is not None and sig[0] == v


# (event, field the error must name, a fragment of the message)
BAD_EVENTS: list[tuple[object, str, str]] = [
    ([], "event", "JSON object"),
    ("x", "event", "JSON object"),
    (unsigned(extra=1), "extra", "not a field"),
    (unsigned(mata={}), "mata", "not a field"),
    ({"subject": SUBJECT, "digest": DIGEST}, "kind", "required"),
    (unsigned(kind=5), "kind", "string"),
    (unsigned(kind="Sensor"), "kind", "[a-z0-9_.-]"),
    (unsigned(kind=""), "kind", "[a-z0-9_.-]"),
    (unsigned(kind="k" * 33), "kind", "[a-z0-9_.-]"),
    (unsigned(kind="0x" + bytes(32).hex()), "kind", "zero-padded"),
    (unsigned(kind="0x" + "zz" * 32), "kind", "64 hex digits"),
    ({"kind": "a", "digest": DIGEST}, "subject", "required"),
    (unsigned(subject="ab" * 32), "subject", "0x followed by 64 hex digits"),
    (unsigned(subject="0x" + "ab" * 31), "subject", "0x followed by 64 hex digits"),
    (unsigned(subject="0x" + "ab" * 33), "subject", "0x followed by 64 hex digits"),
    (unsigned(subject="0x" + "gg" * 32), "subject", "0x followed by 64 hex digits"),
    (unsigned(subject="0x" + "ab " * 21 + "a"), "subject", "0x followed by 64 hex digits"),
    (unsigned(subject=list(range(32))), "subject", "0x followed by 64 hex digits"),
    ({"kind": "a", "subject": SUBJECT}, "digest", "required"),
    (unsigned(digest="0x" + "0" * 63), "digest", "0x followed by 64 hex digits"),
    (unsigned(digest=b"\x00" * 32), "digest", "0x followed by 64 hex digits"),
    (unsigned(meta=[1]), "meta", "JSON object"),
    (unsigned(meta={"k": "x" * 2000}), "meta", "more than 1024"),
    (unsigned(nonce=-1), "nonce", "integer"),
    (unsigned(nonce=2**64), "nonce", "integer"),
    (unsigned(nonce=True), "nonce", "integer"),
    (unsigned(nonce=1.0), "nonce", "integer"),
    (unsigned(nonce="1_000"), "nonce", "integer"),
    (unsigned(nonce=" 1"), "nonce", "integer"),
    (unsigned(nonce="-1"), "nonce", "integer"),
    (unsigned(nonce="0x"), "nonce", "integer"),
    (unsigned(nonce="0xg"), "nonce", "integer"),
    (unsigned(nonce="0X0a"), "nonce", "integer"),  # prover.wire: the prefix is "0x" only
    (unsigned(subject="0X" + "ab" * 32), "subject", "0x followed by 64 hex digits"),
    (unsigned(subject="0x" + "00" * 31 + "  "), "subject", "0x followed by 64 hex digits"),
    (unsigned(nonce="0x1" + "0" * 16), "nonce", "integer"),
    (unsigned(nonce="١"), "nonce", "integer"),  # Arabic-Indic digit one: int() would take it
    (unsigned(submitter=SUBMITTER), "submitter", "only allowed with a signature"),
    (signed(nonce=None), "nonce", "required for a signed event"),
    (signed(submitter=None), "submitter", "required for a signed event"),
    (signed(submitter="0x" + "12" * 19), "submitter", "40 hex digits"),
    (signed(submitter="12" * 21), "submitter", "40 hex digits"),
]

BAD_SIGNATURES: list[tuple[object, str]] = [
    (sig_hex()[:-2], "130 hex digits"),
    (sig_hex() + "00", "130 hex digits"),
    (sig_hex().replace("0x", "0y"), "130 hex digits"),
    (sig_hex()[:-1] + "z", "130 hex digits"),
    (12345, "130 hex digits"),
    (sig_hex(v=2), "v must be 27 or 28"),
    (sig_hex(v=29), "v must be 27 or 28"),
    (sig_hex(r=bytes(32)), "r is not in"),
    (sig_hex(r=SECP256K1_N.to_bytes(32, "big")), "r is not in"),
    (sig_hex(s=bytes(32)), "s is zero"),
    (sig_hex(s=(SECP256K1_HALF_N + 1).to_bytes(32, "big")), "upper half"),
    (sig_hex(s=(SECP256K1_N - 1).to_bytes(32, "big")), "upper half"),
]


@pytest.mark.parametrize(("event", "field", "message"), BAD_EVENTS)
def test_parse_event_names_the_bad_field(event: object, field: str, message: str) -> None:
    with pytest.raises(InvalidFieldError) as e:
        parse_event(event)
    assert e.value.field == field
    assert message in e.value.reason
    assert not isinstance(e.value, InvalidSignatureError)


@pytest.mark.parametrize(("signature", "message"), BAD_SIGNATURES)
def test_parse_event_rejects_bad_signatures(signature: object, message: str) -> None:
    with pytest.raises(InvalidSignatureError) as e:
        parse_event(signed(signature=signature))
    assert e.value.field == "signature"
    assert message in e.value.reason
    with pytest.raises(InvalidSignatureError):
        parse_signature(signature)


def test_batch_errors_carry_the_index() -> None:
    with pytest.raises(InvalidFieldError) as e:
        parse_event(unsigned(digest="0x"))
    located = e.value.at_index(4)
    assert str(located).startswith("events[4].digest:")


# --- build_record ----------------------------------------------------------------------------


def test_build_record_signed() -> None:
    ev = parse_event(signed(meta={"a": 1}, kind="model_fingerprint"))
    b = build_record(ev, 5, 1_700_000_000_000, b"\x12" * 20)
    rec = decode_record(b)
    assert rec == Record(
        seq=5,
        timestamp=1_700_000_000_000,
        kind=encode_kind("model_fingerprint"),
        subject=b"\xab" * 32,
        digest=b"\xcd" * 32,
        meta_hash=keccak256(b'{"a":1}'),
        submitter=b"\x12" * 20,
        nonce=3,
        v=27,
        r=GOOD_R,
        s=GOOD_S,
    )
    assert b == encode_record(rec)


def test_build_record_unsigned_has_zero_signature_and_default_nonce() -> None:
    b = build_record(parse_event(unsigned()), 0, 1, b"\x99" * 20)
    rec = decode_record(b)
    assert (rec.v, rec.r, rec.s, rec.nonce, rec.submitter) == (0, ZERO32, ZERO32, 0, b"\x99" * 20)
    assert not rec.is_signed


def test_build_record_rejects_a_submitter_other_than_the_signed_one() -> None:
    ev = parse_event(signed())
    with pytest.raises(InvalidFieldError) as e:
        build_record(ev, 0, 0, b"\x13" * 20)
    assert e.value.field == "submitter"


@pytest.mark.parametrize(
    ("seq", "ts", "submitter", "field"),
    [(-1, 0, b"\x00" * 20, "seq"), (2**64, 0, b"\x00" * 20, "seq"), (0, 2**64, b"\x00" * 20, "timestamp"),
     (0, 0, b"\x00" * 19, "submitter")],
)  # fmt: skip
def test_build_record_bad_arguments(seq: int, ts: int, submitter: bytes, field: str) -> None:
    with pytest.raises(InvalidFieldError) as e:
        build_record(parse_event(unsigned()), seq, ts, submitter)
    assert e.value.field == field
