"""The event and block JSON objects (prover/answers.py): what any server answers, malformed
records included, and the decoders a client uses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.answers import (
    block_from_json,
    block_json,
    block_records_from_json,
    block_records_json,
    event_from_json,
    event_json,
)
from prover.block import BlockHeader
from prover.errors import InvalidFieldError
from prover.hashing import leaf_hash
from prover.record import (
    KIND_BYTES,
    SUBMITTER_BYTES,
    Record,
    Word,
    encode_kind,
    encode_record,
    word_slice,
)


def _record(**changes: object) -> bytes:
    fields: dict[str, object] = dict(
        seq=7, timestamp=1_700_000_000_000, kind=encode_kind("sensor_hash"), subject=b"\x01" * 32,
        digest=b"\x02" * 32, meta_hash=bytes(32), submitter=b"\x03" * 20, nonce=0, v=0,
        r=bytes(32), s=bytes(32),
    )  # fmt: skip
    fields.update(changes)
    return encode_record(Record(**fields))  # type: ignore[arg-type]


def test_a_well_formed_record_is_decoded() -> None:
    rec = _record()
    out = event_json(rec, leaf_hash(rec), None, 3)
    assert (out["seq"], out["kind"], out["wellFormed"], out["signed"]) == (
        7,
        "sensor_hash",
        True,
        False,
    )
    assert out["submitter"] == "0x" + "03" * 20 and out["block"] == 3
    assert out["signature"] is None and out["meta"] is None
    assert out["leafHash"] == "0x" + leaf_hash(rec).hex()


def test_a_signed_record_serves_its_signature_r_s_v() -> None:
    rec = _record(v=28, r=b"\x0a" * 32, s=b"\x0b" * 32, nonce=5)
    out = event_json(rec, leaf_hash(rec), b'{"a":1}', None)
    assert out["signed"] is True and out["nonce"] == 5
    assert out["signature"] == "0x" + "0a" * 32 + "0b" * 32 + "1c"
    assert out["meta"] == {"a": 1}


def test_a_malformed_kind_or_padding_is_served_not_refused() -> None:
    good = _record()
    bad_kind = good[: KIND_BYTES.start] + b"BAD KIND".ljust(32, b"\x00") + good[KIND_BYTES.stop :]
    out = event_json(bad_kind, leaf_hash(bad_kind), None, None)
    assert out["wellFormed"] is False and out["kind"] == "0x" + b"BAD KIND".ljust(32, b"\x00").hex()
    # High bytes of the address word set.
    at = word_slice(Word.SUBMITTER).start
    dirty_address = good[:at] + b"\xff" + good[at + 1 :]
    out = event_json(dirty_address, leaf_hash(dirty_address), None, None)
    assert out["wellFormed"] is False and out["record"] == "0x" + dirty_address.hex()
    assert out["submitter"] == "0x" + dirty_address[SUBMITTER_BYTES].hex()
    # A seq word beyond uint64 is served whole, and not well formed.
    big_seq = (2**64 + 7).to_bytes(32, "big") + good[32:]
    out = event_json(big_seq, leaf_hash(big_seq), None, None)
    assert out["seq"] == 2**64 + 7 and out["wellFormed"] is False


def test_a_record_of_the_wrong_size_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        event_json(_record()[:-1], bytes(32), None, None)


def test_event_decoder_keeps_the_record_and_canonical_meta() -> None:
    rec = _record()
    served = event_from_json(event_json(rec, leaf_hash(rec), b'{"b":2,"a":1}', 0))
    assert served.record == rec and served.meta == b'{"a":1,"b":2}'
    for bad, field in (
        ({"record": "0x00"}, "event.record"),
        ({"record": "0x" + rec.hex()[:-2] + "  "}, "event.record"),
        ({}, "event.record"),
        ({"record": "0x" + rec.hex(), "meta": [1]}, "meta"),
        ([], "event"),
    ):
        with pytest.raises(InvalidFieldError) as e:
            event_from_json(bad)
        assert e.value.field == field


headers = st.builds(
    BlockHeader,
    number=st.integers(0, 2**64 - 1),
    parent_hash=st.binary(min_size=32, max_size=32),
    start=st.integers(0, 2**32),
    end=st.integers(2**32, 2**33),
    log_root=st.binary(min_size=32, max_size=32),
    timestamp=st.integers(0, 2**64 - 1),
)


@given(headers)
def test_block_round_trip(header: BlockHeader) -> None:
    obj = block_json(header)
    assert obj["count"] == header.end - header.start
    assert block_from_json(obj) == (header, header.block_hash)


def test_block_decoder_names_the_key() -> None:
    obj = block_json(BlockHeader(0, bytes(32), 0, 1, bytes(32), 1))
    for change, field in (
        ({"number": -1}, "block.number"),
        ({"number": True}, "block.number"),
        ({"logRoot": "0x" + "zz" * 32}, "block.logRoot"),
        ({"parentHash": None}, "block.parentHash"),
        ({"blockHash": "0x" + "00" * 31}, "block.blockHash"),
        ({"timestamp": 1.5}, "block.timestamp"),
    ):
        with pytest.raises(InvalidFieldError) as e:
            block_from_json({**obj, **change})
        assert e.value.field == field


def test_compact_block_records_decode_or_name_the_bad_one() -> None:
    records = [_record(seq=seq) for seq in range(3)]
    obj = block_records_json(BlockHeader(0, bytes(32), 0, 3, bytes(32), 1), records, [None] * 3)
    assert block_records_from_json(obj)[2] == records
    good = obj["records"][1]
    for bad, reason in (
        (None, "is required"),
        (7, "704 hex digits"),
        (good[2:] + "00", "704 hex digits"),  # no 0x
        ("0X" + good[2:], "704 hex digits"),
        (good[:-2], "704 hex digits"),
        (good + "00", "704 hex digits"),
        (good[:-2] + "zz", "704 hex digits"),
        (good[:-6] + "00 00 ", "704 hex digits"),  # whitespace bytes.fromhex skips
        (good[:-3] + "\u00e9a", "704 hex digits"),
    ):
        changed = {**obj, "records": [obj["records"][0], bad, obj["records"][2]]}
        with pytest.raises(InvalidFieldError, match=reason) as e:
            block_records_from_json(changed)
        assert e.value.field == "block.records[1]"
