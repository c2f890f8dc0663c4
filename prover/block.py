"""Block headers: the sequencer's sealing unit (docs/spec.md §6).

A block is a consecutive range ``[start, end)`` of the log. Its header commits to the root of
the tree of size `end` and to the previous header, so the chain of block hashes pins the whole
log history. ``block_hash = keccak256(abi.encode(number, parentHash, start, end, logRoot,
timestamp))``: six static 32-byte words, packed by hand here because the layout is fixed and
this runs once per sealed block on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prover.errors import InvalidFieldError
from prover.hashing import keccak256
from prover.types import Hash32

WORD: Final[int] = 32
HEADER_SIZE: Final[int] = 6 * WORD
"""abi.encode of the six header fields: one 32-byte word each (docs/spec.md §7)."""

GENESIS_PARENT_HASH: Final[bytes] = bytes(32)
"""The parent hash of block 0."""

_U64_MAX: Final[int] = 2**64 - 1
_U64_PAD: Final[bytes] = bytes(WORD - 8)


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """One sealed block of the log (docs/spec.md §6)."""

    number: int
    """Block number; block 0 is the first."""
    parent_hash: bytes
    """`block_hash` of block ``number - 1``, or 32 zero bytes for block 0."""
    start: int
    """First seq of the block."""
    end: int
    """One past the last seq of the block; also the tree size whose root is `log_root`."""
    log_root: bytes
    """RFC 9162 root of the tree of size `end`."""
    timestamp: int
    """Sealing time, milliseconds since the Unix epoch."""

    def __post_init__(self) -> None:
        # Verify every field fits its ABI type, so encode/decode round-trip exactly.
        for name in ("number", "start", "end", "timestamp"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U64_MAX:
                raise InvalidFieldError(name, f"must be a uint64, got {value!r}")
        for name in ("parent_hash", "log_root"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != WORD:
                raise InvalidFieldError(name, f"must be 32 bytes, got {value!r}")
        # Verify the range is ordered (an empty block is representable, though the store
        # never seals one).
        if self.start > self.end:
            raise InvalidFieldError("end", f"must be >= start {self.start}, got {self.end}")

    @property
    def block_hash(self) -> Hash32:
        """keccak256 of the ABI-encoded header (docs/spec.md §7)."""
        return compute_block_hash(self)


def _u64_word(value: int) -> bytes:
    return _U64_PAD + value.to_bytes(8, "big")


def encode_block_header(header: BlockHeader) -> bytes:
    """abi.encode(uint64 number, bytes32 parentHash, uint64 start, uint64 end,
    bytes32 logRoot, uint64 timestamp): 192 bytes."""
    return b"".join(
        (
            _u64_word(header.number),
            header.parent_hash,
            _u64_word(header.start),
            _u64_word(header.end),
            header.log_root,
            _u64_word(header.timestamp),
        )
    )


def _read_u64_word(data: bytes, index: int, name: str) -> int:
    word = data[index * WORD : (index + 1) * WORD]
    # Verify the high 24 bytes are zero: anything else is not an ABI uint64.
    if word[: WORD - 8] != _U64_PAD:
        raise InvalidFieldError(name, "is not an ABI-encoded uint64 (high bytes are not zero)")
    return int.from_bytes(word[WORD - 8 :], "big")


def decode_block_header(data: bytes) -> BlockHeader:
    """Inverse of `encode_block_header`; raises `InvalidFieldError` on a malformed encoding."""
    if len(data) != HEADER_SIZE:
        raise InvalidFieldError("block_header", f"must be {HEADER_SIZE} bytes, got {len(data)}")
    return BlockHeader(
        number=_read_u64_word(data, 0, "number"),
        parent_hash=bytes(data[WORD : 2 * WORD]),
        start=_read_u64_word(data, 2, "start"),
        end=_read_u64_word(data, 3, "end"),
        log_root=bytes(data[4 * WORD : 5 * WORD]),
        timestamp=_read_u64_word(data, 5, "timestamp"),
    )


def compute_block_hash(header: BlockHeader) -> Hash32:
    """keccak256(encode_block_header(header)) (docs/spec.md §6)."""
    return keccak256(encode_block_header(header))
