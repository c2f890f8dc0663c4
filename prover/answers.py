"""The JSON objects of events and blocks, as the read methods answer with them (docs/spec.md §10.4).

Pure functions, shared by every server (the sequencer and the validator's read API serve the
same shapes from their stores) and with the decoders a client needs (the validator pulling
blocks from an upstream). The checkpoint object is `prover.checkpoint.checkpoint_json`; the
scalars inside are `prover.wire`'s.

An event (``attest_getEvent``, and each of ``attest_getBlock(n, true).events``)::

    {"seq", "timestamp", "kind", "subject", "digest", "metaHash", "submitter", "nonce",
     "signed", "signature", "wellFormed", "meta", "record", "leafHash", "block"}

A block (``attest_getBlock``)::

    {"number", "blockHash", "parentHash", "start", "end", "count", "logRoot", "timestamp"}

and in its compact form (``attest_getBlock(n, "records")``, what a follower replicates from)
the same fields plus ``records`` (each record's 0x-hex, in seq order) and ``metas`` (the meta
object of each, or null).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

from prover.block import BlockHeader
from prover.errors import InvalidFieldError
from prover.record import (
    RECORD_SIZE,
    SUBMITTER_BYTES,
    Word,
    canonical_meta,
    decode_kind,
    is_valid_kind,
    record_word,
    word_slice,
)
from prover.validity import is_well_formed
from prover.wire import UINT64_MAX, hex0x, parse_hash32, parse_hex, parse_hex_list, parse_uint

_U64_LIMIT: Final[int] = UINT64_MAX + 1


def event_json(
    record: bytes, leaf_hash: bytes, meta: bytes | None, block: int | None
) -> dict[str, Any]:
    """`attest_getEvent`'s answer: the fields, the raw record and its leaf hash.

    Read word by word (whole words, as the contract reads them), never refused: a follower
    must be able to fetch a record that breaks docs/spec.md §3 (a malformed kind or padding) to
    prove it; `wellFormed` says whether it does. `meta` is the RFC 8785 canonical JSON kept
    beside the record, or None.
    """
    if len(record) != RECORD_SIZE:  # stores hold 352-byte records only
        raise AssertionError(f"a stored record of {len(record)} bytes")
    kind = record[word_slice(Word.KIND)]
    v = record_word(record, Word.V)
    signed = v != 0
    seq = record_word(record, Word.SEQ)
    return {
        "seq": seq,
        "timestamp": record_word(record, Word.TIMESTAMP),
        "kind": decode_kind(kind) if is_valid_kind(kind) else hex0x(kind),
        "subject": hex0x(record[word_slice(Word.SUBJECT)]),
        "digest": hex0x(record[word_slice(Word.DIGEST)]),
        "metaHash": hex0x(record[word_slice(Word.META_HASH)]),
        "submitter": hex0x(record[SUBMITTER_BYTES]),
        "nonce": record_word(record, Word.NONCE),
        "signed": signed,
        "signature": (
            hex0x(record[word_slice(Word.R, Word.S + 1)] + bytes([v & 0xFF])) if signed else None
        ),
        # Rule 3 as validators check it, plus the seq word's uint64 padding.
        "wellFormed": is_well_formed(record) and seq < _U64_LIMIT,
        "meta": orjson.loads(meta) if meta is not None else None,
        "record": hex0x(record),
        "leafHash": hex0x(leaf_hash),
        "block": block,
    }


class ServedEvent(NamedTuple):
    """What a client keeps of a served event: the bytes it can check, nothing it is told."""

    record: bytes
    """The 352-byte record (its fields are read from here, never from the JSON fields)."""
    meta: bytes | None
    """RFC 8785 canonical JSON of the served `meta`, or None; not yet checked against the
    record's metaHash (a wrong meta is not provable, so what to do with it is the caller's)."""


def event_from_json(obj: object, field: str = "event") -> ServedEvent:
    """The record and meta of an event object; `InvalidFieldError` naming what is malformed."""
    if type(obj) is not dict:
        raise InvalidFieldError(field, "must be a JSON object")
    record = parse_hex(obj.get("record"), f"{field}.record", size=RECORD_SIZE)
    return ServedEvent(record, canonical_meta(obj.get("meta")))


def block_json(header: BlockHeader) -> dict[str, Any]:
    """`attest_getBlock`'s header fields (the events, when asked for, are `event_json`s)."""
    return {
        "number": header.number,
        "blockHash": hex0x(header.block_hash),
        "parentHash": hex0x(header.parent_hash),
        "start": header.start,
        "end": header.end,
        "count": header.end - header.start,
        "logRoot": hex0x(header.log_root),
        "timestamp": header.timestamp,
    }


def block_from_json(obj: object, field: str = "block") -> tuple[BlockHeader, bytes]:
    """The header of a block object and the block hash it was served with (which the caller
    compares with `header.block_hash`); `InvalidFieldError` naming the malformed key."""
    if type(obj) is not dict:
        raise InvalidFieldError(field, "must be a JSON object")
    header = BlockHeader(
        parse_uint(obj.get("number"), f"{field}.number"),
        parse_hash32(obj.get("parentHash"), f"{field}.parentHash"),
        parse_uint(obj.get("start"), f"{field}.start"),
        parse_uint(obj.get("end"), f"{field}.end"),
        parse_hash32(obj.get("logRoot"), f"{field}.logRoot"),
        parse_uint(obj.get("timestamp"), f"{field}.timestamp"),
    )
    return header, parse_hash32(obj.get("blockHash"), f"{field}.blockHash")


def block_records_json(
    header: BlockHeader, records: list[bytes], metas: list[bytes | None]
) -> dict[str, Any]:
    """`attest_getBlock(n, "records")`'s answer: the header fields, the records' hex and the
    metas (docs/spec.md §10.4); the receipt, if any, is the server's to add."""
    out = block_json(header)
    out["records"] = ["0x" + r.hex() for r in records]
    out["metas"] = [orjson.loads(m) if m is not None else None for m in metas]
    return out


def block_records_from_json(
    obj: object, field: str = "block"
) -> tuple[BlockHeader, bytes, list[bytes], list[bytes | None]]:
    """The header, served block hash, records and canonical metas of a compact block object;
    `InvalidFieldError` naming what is malformed (a record that is not 0x and 352 bytes of
    hex, arrays of the wrong type or length, a meta JCS refuses). Metas are not checked
    against the records' metaHash here."""
    header, block_hash = block_from_json(obj, field)
    if type(obj) is not dict:  # block_from_json checked it; for the type checker
        raise InvalidFieldError(field, "must be a JSON object")
    raw, raw_metas = obj.get("records"), obj.get("metas")
    count = header.end - header.start
    if type(raw) is not list or len(raw) != count:
        raise InvalidFieldError(
            f"{field}.records", f"must be an array of {count} record hex strings"
        )
    if type(raw_metas) is not list or len(raw_metas) != count:
        raise InvalidFieldError(f"{field}.metas", f"must be an array of {count} objects or nulls")
    records = parse_hex_list(raw, f"{field}.records", RECORD_SIZE)
    metas: list[bytes | None] = []
    for i, meta in enumerate(raw_metas):
        try:
            metas.append(canonical_meta(meta))
        except InvalidFieldError as exc:
            raise InvalidFieldError(f"{field}.metas[{i}]", exc.reason) from None
    return header, block_hash, records, metas
