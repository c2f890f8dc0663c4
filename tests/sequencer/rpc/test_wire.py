"""Answers describe any record a sequencer could serve, malformed ones included."""

from __future__ import annotations

from prover.hashing import leaf_hash
from prover.record import Record, encode_kind, encode_record
from sequencer.rpc.wire import event_json


def _record(**changes: object) -> bytes:
    fields: dict[str, object] = dict(
        seq=7, timestamp=1_700_000_000_000, kind=encode_kind("sensor_hash"), subject=b"\x01" * 32,
        digest=b"\x02" * 32, meta_hash=bytes(32), submitter=b"\x03" * 20, nonce=0, v=0,
        r=bytes(32), s=bytes(32),
    )
    fields.update(changes)
    return encode_record(Record(**fields))  # type: ignore[arg-type]


def test_a_well_formed_record_is_decoded() -> None:
    rec = _record()
    out = event_json(rec, leaf_hash(rec), None, 3)
    assert (out["seq"], out["kind"], out["wellFormed"], out["signed"]) == (7, "sensor_hash", True, False)
    assert out["submitter"] == "0x" + "03" * 20 and out["block"] == 3


def test_a_malformed_kind_or_padding_is_served_not_refused() -> None:
    bad_kind = _record()[:64] + b"BAD KIND".ljust(32, b"\x00") + _record()[96:]
    out = event_json(bad_kind, leaf_hash(bad_kind), None, None)
    assert out["wellFormed"] is False and out["kind"] == "0x" + b"BAD KIND".ljust(32, b"\x00").hex()
    rec = _record()
    dirty_address = rec[:192] + b"\xff" + rec[193:]  # high bytes of the address word set
    out = event_json(dirty_address, leaf_hash(dirty_address), None, None)
    assert out["wellFormed"] is False and out["record"] == "0x" + dirty_address.hex()
