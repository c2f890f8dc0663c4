"""BlockHeader encoding and hashing (docs/spec.md §6), checked against eth-abi as the reference."""

import pytest
from eth_abi import encode as abi_encode
from hypothesis import given
from hypothesis import strategies as st

from prover.block import (
    GENESIS_PARENT_HASH,
    HEADER_SIZE,
    BlockHeader,
    compute_block_hash,
    decode_block_header,
    encode_block_header,
)
from prover.errors import InvalidFieldError
from prover.hashing import keccak256

u64 = st.integers(min_value=0, max_value=2**64 - 1)
h32 = st.binary(min_size=32, max_size=32)


@st.composite
def headers(draw: st.DrawFn) -> BlockHeader:
    start = draw(u64)
    end = draw(st.integers(min_value=start, max_value=2**64 - 1))
    return BlockHeader(draw(u64), draw(h32), start, end, draw(h32), draw(u64))


@given(headers())
def test_encoding_matches_abi_encode_and_round_trips(h: BlockHeader) -> None:
    expected = abi_encode(
        ["uint64", "bytes32", "uint64", "uint64", "bytes32", "uint64"],
        [h.number, h.parent_hash, h.start, h.end, h.log_root, h.timestamp],
    )
    data = encode_block_header(h)
    assert data == expected
    assert len(data) == HEADER_SIZE
    assert decode_block_header(data) == h
    assert compute_block_hash(h) == keccak256(expected) == h.block_hash


def test_known_answer_genesis_block() -> None:
    # Computed independently: keccak256 of six words (0, 0x00*32, 0, 1, 0x11*32, 1000).
    h = BlockHeader(0, GENESIS_PARENT_HASH, 0, 1, b"\x11" * 32, 1000)
    words = bytes(32) + bytes(32) + bytes(32) + (1).to_bytes(32, "big") + b"\x11" * 32
    words += (1000).to_bytes(32, "big")
    assert h.block_hash == keccak256(words)
    assert h.block_hash != keccak256(words[:-1] + b"\x01")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"number": -1}, "number"),
        ({"number": 2**64}, "number"),
        ({"timestamp": 2**64}, "timestamp"),
        ({"parent_hash": b"\x00" * 31}, "parent_hash"),
        ({"log_root": "00" * 32}, "log_root"),
        ({"start": 5, "end": 4}, "end"),
    ],
)
def test_bad_fields_are_named(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "number": 0,
        "parent_hash": bytes(32),
        "start": 0,
        "end": 1,
        "log_root": bytes(32),
        "timestamp": 0,
    }
    base.update(kwargs)
    with pytest.raises(InvalidFieldError) as info:
        BlockHeader(**base)  # type: ignore[arg-type]
    assert info.value.field == field


def test_decode_rejects_bad_length_and_dirty_uint_words() -> None:
    data = encode_block_header(BlockHeader(1, b"\x01" * 32, 2, 3, b"\x02" * 32, 4))
    with pytest.raises(InvalidFieldError, match="192 bytes"):
        decode_block_header(data[:-1])
    dirty = bytearray(data)
    dirty[0] = 1  # high byte of the uint64 `number` word
    with pytest.raises(InvalidFieldError) as info:
        decode_block_header(bytes(dirty))
    assert info.value.field == "number"
