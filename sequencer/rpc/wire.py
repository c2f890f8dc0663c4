"""JSON shapes of the answers (DESIGN §7) and the checks of plain parameters.

Kept apart from the methods so the validator's read API (which serves the same shapes from its
replica) uses the very same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from prover.block import BlockHeader
from prover.errors import InvalidFieldError
from prover.record import RECORD_SIZE, decode_kind, is_valid_kind
from prover.validity import is_well_formed


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def parse_uint(value: Any, name: str, *, maximum: int = 2**64 - 1) -> int:
    """A JSON integer (or 0x-hex string) in [0, maximum]."""
    if isinstance(value, bool):
        raise InvalidFieldError(name, "must be a non-negative integer")
    if isinstance(value, str) and value.startswith("0x"):
        try:
            value = int(value, 16)
        except ValueError:
            raise InvalidFieldError(name, "must be a non-negative integer") from None
    if not isinstance(value, int) or value < 0:
        raise InvalidFieldError(name, "must be a non-negative integer")
    if value > maximum:
        raise InvalidFieldError(name, f"must be at most {maximum}")
    return value


def parse_hash32(value: Any, name: str) -> bytes:
    """A 0x-prefixed 32-byte hex string."""
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise InvalidFieldError(name, "must be 0x followed by 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidFieldError(name, "must be 0x followed by 64 hex digits") from None


def parse_object(value: Any, name: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    """An optional options object (None -> {}) with only `allowed` keys."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidFieldError(name, "must be an object")
    unknown = set(value) - set(allowed)
    if unknown:
        raise InvalidFieldError(name, f"unknown keys {sorted(unknown)}; allowed: {list(allowed)}")
    return value


def event_json(
    record: bytes, leaf_hash: bytes, meta: bytes | None, block: int | None
) -> dict[str, Any]:
    """`attest_getEvent`'s answer: the fields, the raw record and its leaf hash.

    Read word by word, never refused: a follower must be able to fetch a record that breaks
    DESIGN §3 (a malformed kind or padding) to prove it; `wellFormed` says whether it does.
    """
    word = [record[i : i + 32] for i in range(0, len(record), 32)]
    kind = word[2]
    v = int.from_bytes(word[8], "big")
    signed = v != 0
    # DESIGN §3 / rule 3 as validators check it, plus the seq word's uint64 padding.
    well_formed = (
        len(record) == RECORD_SIZE
        and is_well_formed(record)
        and int.from_bytes(word[0], "big") < 2**64
    )
    return {
        "seq": int.from_bytes(word[0], "big"),
        "timestamp": int.from_bytes(word[1], "big"),
        "kind": decode_kind(kind) if is_valid_kind(kind) else hex0x(kind),
        "subject": hex0x(word[3]),
        "digest": hex0x(word[4]),
        "metaHash": hex0x(word[5]),
        "submitter": hex0x(word[6][12:]),
        "nonce": int.from_bytes(word[7], "big"),
        "signed": signed,
        "signature": hex0x(word[9] + word[10] + bytes([v & 0xFF])) if signed else None,
        "wellFormed": well_formed,
        "meta": orjson.loads(meta) if meta is not None else None,
        "record": hex0x(record),
        "leafHash": hex0x(leaf_hash),
        "block": block,
    }


def block_json(header: BlockHeader) -> dict[str, Any]:
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
