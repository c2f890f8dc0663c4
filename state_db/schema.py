"""Every LevelDB key of the store, built in this one module (py-evm's eth/db/schema.py style).

Each namespace has a two-byte prefix: a schema version byte (``\\x01``) and a letter. A change to
any key or value layout bumps `SCHEMA_VERSION` (and the version byte of the prefixes it
touches); `Store.open` refuses a database written with another version instead of misreading it,
and `state_db.migrate` registers the step that upgrades a store from the previous version.
Integers in keys are big-endian so LevelDB's bytewise order is numeric order, which the range
scans (records, indexes, block-by-end) depend on.

| prefix    | key                               | value                                   |
|-----------|-----------------------------------|-----------------------------------------|
| ``\\x00v``  | (none)                            | schema version u32, node chunk bits u8  |
| ``\\x01h``  | (none)                            | the head (`state_db.store`)             |
| ``\\x02r``  | seq u64 // RECORDS_PER_CHUNK      | up to 16 352-byte records, concatenated |
| ``\\x01m``  | seq u64                           | canonical JSON meta                     |
| ``\\x01n``  | level u8, chunk index u64         | up to 2**bits node hashes, concatenated |
| ``\\x01b``  | block number u64                  | abi-encoded `BlockHeader` (192 bytes)   |
| ``\\x01e``  | block end u64                     | block number u64                        |
| ``\\x01c``  | checkpoint index u64              | caller-defined bytes                    |
| ``\\x01d``  | digest 32, seq u64                | empty                                   |
| ``\\x01s``  | subject 32, seq u64               | empty                                   |
| ``\\x01o``  | submitter 20, nonce word 32       | seq u64                                 |
| ``\\x01S``  | UTF-8 name                        | caller-defined bytes                    |
| ``\\x01R``  | first seq u64 of a group commit   | end seq u64, caller's receipt bytes     |
| ``\\x03l``  | bucket u8, leaf chunk u64         | 10-byte entries, see below              |
| ``\\x03u``  | window u64, submitter 20          | u16 offsets of its unsigned records     |

Schema 3 added two indexes, both packed so that ingest writes a few keys per 4,096 records
rather than one per record (one small key per record cost 2-4.5 µs of CPU per event, 15-30%
of the sequencer's; packed, 0.25-0.5 µs; docs/benchmarks.md §7a):

* the **leaf-hash index** (`attest_findByLeafHash`): records are grouped into leaf chunks of
  ``2**LEAF_CHUNK_BITS`` seqs and, within a chunk, into `LEAF_BUCKETS` buckets by the first bits
  of their leaf hash. Key (bucket, chunk) holds one entry per record of that chunk and bucket,
  in seq order: the leaf hash's first 8 bytes, then the seq's offset in the chunk (u16). The
  commit that completes a chunk writes its values, once (they never change); the last,
  incomplete chunk has none. A lookup reads one bucket of every complete chunk (1/16 of the
  leaf hashes' prefixes, ~6 MB at 10M records), checks each candidate's whole leaf hash
  against level 0 of the tree, and compares the incomplete chunk's leaf hashes directly;
* the **submitter index of unsigned records** (signed ones are in the nonce index; unsigned
  nonces need not be unique): per window of ``2**LEAF_CHUNK_BITS`` seqs and submitter (the
  token's address), the offsets (u16) of that submitter's unsigned records in the window,
  ascending. A commit puts one key per window and unsigned submitter it holds (its value
  extended), however its records interleave; a lookup reads one key per window.
"""

from __future__ import annotations

import struct
from typing import Final

SCHEMA_VERSION: Final[int] = 3
"""2: records stored RECORDS_PER_CHUNK to a key (``\x02r``) instead of one per key (``\x01r``).
3: the leaf-hash index (``\x03l``) and the submitter index of unsigned records (``\x03u``)."""

RECORDS_PER_CHUNK: Final[int] = 16
"""Records per key. One key per record cost LevelDB ~6 µs of CPU per event (memtable, SST
blocks, compaction: mostly on the second core, the one everything else needs); 16 to a key
cost ~0.5 µs, and a point read still fetches only 5.6 KiB (docs/benchmarks.md)."""

DEFAULT_NODE_CHUNK_BITS: Final[int] = 8
"""Tree nodes are stored 2**8 = 256 per key (one key per node when 0); see `node_chunk_key`."""

MAX_NODE_CHUNK_BITS: Final[int] = 16

SCHEMA_KEY: Final[bytes] = b"\x00v"
HEAD_KEY: Final[bytes] = b"\x01h"

RECORD_PREFIX: Final[bytes] = b"\x02r"
META_PREFIX: Final[bytes] = b"\x01m"
NODE_PREFIX: Final[bytes] = b"\x01n"
BLOCK_PREFIX: Final[bytes] = b"\x01b"
BLOCK_END_PREFIX: Final[bytes] = b"\x01e"
CHECKPOINT_PREFIX: Final[bytes] = b"\x01c"
DIGEST_PREFIX: Final[bytes] = b"\x01d"
SUBJECT_PREFIX: Final[bytes] = b"\x01s"
NONCE_PREFIX: Final[bytes] = b"\x01o"
STATE_PREFIX: Final[bytes] = b"\x01S"
RECEIPT_PREFIX: Final[bytes] = b"\x01R"
LEAF_PREFIX: Final[bytes] = b"\x03l"
UNSIGNED_SUBMITTER_PREFIX: Final[bytes] = b"\x03u"

ALL_PREFIXES: Final[tuple[bytes, ...]] = (
    SCHEMA_KEY,
    HEAD_KEY,
    RECORD_PREFIX,
    META_PREFIX,
    NODE_PREFIX,
    BLOCK_PREFIX,
    BLOCK_END_PREFIX,
    CHECKPOINT_PREFIX,
    DIGEST_PREFIX,
    SUBJECT_PREFIX,
    NONCE_PREFIX,
    STATE_PREFIX,
    RECEIPT_PREFIX,
    LEAF_PREFIX,
    UNSIGNED_SUBMITTER_PREFIX,
)


u64 = struct.Struct(">Q").pack
"""8-byte big-endian encoding of an int (struct.error outside [0, 2**64)); a bound C method
because the commit path calls it several times per record."""


def encode_schema_value(node_chunk_bits: int, version: int = SCHEMA_VERSION) -> bytes:
    return version.to_bytes(4, "big") + bytes((node_chunk_bits,))


def decode_schema_value(value: bytes) -> tuple[int, int]:
    """(schema version, node chunk bits); ValueError when the value has the wrong length."""
    if len(value) != 5:
        raise ValueError(f"schema value must be 5 bytes, got {len(value)}")
    return int.from_bytes(value[:4], "big"), value[4]


def record_chunk_key(chunk: int) -> bytes:
    """Records [chunk * RECORDS_PER_CHUNK, ...), concatenated; the last chunk may be partial."""
    return RECORD_PREFIX + u64(chunk)


def meta_key(seq: int) -> bytes:
    return META_PREFIX + u64(seq)


def node_chunk_key(level: int, chunk: int) -> bytes:
    """Key of chunk `chunk` of tree level `level`.

    With chunk bits b, node (level, index) lives in chunk ``index >> b`` at byte offset
    ``(index & (2**b - 1)) * 32``. The last chunk of a level may be partial; the store rewrites
    it as the level grows, always as a prefix-extension of the old value.
    """
    return NODE_PREFIX + bytes((level,)) + u64(chunk)


def block_key(number: int) -> bytes:
    return BLOCK_PREFIX + u64(number)


def block_end_key(end: int) -> bytes:
    return BLOCK_END_PREFIX + u64(end)


def checkpoint_key(index: int) -> bytes:
    return CHECKPOINT_PREFIX + u64(index)


def digest_prefix(digest: bytes) -> bytes:
    return DIGEST_PREFIX + digest


def digest_key(digest: bytes, seq: int) -> bytes:
    return DIGEST_PREFIX + digest + u64(seq)


def subject_prefix(subject: bytes) -> bytes:
    return SUBJECT_PREFIX + subject


def subject_key(subject: bytes, seq: int) -> bytes:
    return SUBJECT_PREFIX + subject + u64(seq)


def nonce_key(submitter: bytes, nonce_word: bytes) -> bytes:
    """`nonce_word` is the record's 32-byte ABI word 7, so the key needs no integer parsing."""
    return NONCE_PREFIX + submitter + nonce_word


LEAF_CHUNK_BITS: Final[int] = 12
"""Seqs per leaf chunk: 4096 (the entry's offset is a u16)."""
LEAF_BUCKET_SHIFT: Final[int] = 4
"""Bucket of a leaf hash: its first byte >> 4, so `LEAF_BUCKETS` = 16 buckets."""
LEAF_BUCKETS: Final[int] = 256 >> LEAF_BUCKET_SHIFT
LEAF_ENTRY_BYTES: Final[int] = 10
LEAF_PREFIX_BYTES: Final[int] = 8


def leaf_bucket(leaf_hash: bytes) -> int:
    return leaf_hash[0] >> LEAF_BUCKET_SHIFT


def leaf_chunk_key(bucket: int, chunk: int) -> bytes:
    """Entries (leaf hash[:8], u16 offset) of chunk `chunk`'s records in bucket `bucket`."""
    return LEAF_PREFIX + bytes((bucket,)) + u64(chunk)


def leaf_bucket_prefix(bucket: int) -> bytes:
    return LEAF_PREFIX + bytes((bucket,))


def unsigned_window_key(window: int, submitter: bytes) -> bytes:
    """Offsets (u16 each, ascending) of the unsigned records of `submitter` among seqs
    ``[window << LEAF_CHUNK_BITS, (window + 1) << LEAF_CHUNK_BITS)``."""
    return UNSIGNED_SUBMITTER_PREFIX + u64(window) + submitter


def unsigned_window_prefix(window: int) -> bytes:
    return UNSIGNED_SUBMITTER_PREFIX + u64(window)


def receipt_key(first_seq: int) -> bytes:
    """Key of the receipt signed for the group commit whose first record is `first_seq`."""
    return RECEIPT_PREFIX + u64(first_seq)


def state_key(name: str) -> bytes:
    return STATE_PREFIX + name.encode("utf-8")


def prefix_upper_bound(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix` (an iterator `stop`)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        raise ValueError("a prefix of only 0xff bytes has no upper bound")
    return stripped[:-1] + bytes((stripped[-1] + 1,))
