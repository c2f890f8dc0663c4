"""The LevelDB store of the log: records, metas, tree nodes, blocks, indexes, checkpoints.

One group commit is one plyvel write batch written with ``sync=True`` (docs/design.md): records,
metas, tree-node chunks, indexes, sealed blocks, caller state and the new head land together
or not at all, so a restart resumes from the head without replaying the log.

Threads: which code calls what, and why that is safe.

* Writes (`commit`, `put_checkpoint`, `put_state`) wait for an fsync, so their callers run
  them in a worker thread via ``trio.to_thread.run_sync``: the sequencer's writer task (which in
  that same thread also reads what it needs to place a group: `head`, `find_by_nonce`,
  `get_record`, `receipt_of_seq`, `read_nodes`), the L1 committer (`put_checkpoint`), and a
  validator's replica and watcher (`commit`, `put_state`). `_write_lock` serialises writes.
* Reads for JSON-RPC (`head`, `get_record(s)`, `get_meta`, `get_leaf_hash`, `root_at`,
  `inclusion_proof`, `consistency_proof`, `get_block`, `block_of_seq`, `find_by_*`,
  `get_checkpoint`, `get_state`) run directly on the event loop's thread: a point read or a
  short scan from LevelDB's block cache costs microseconds, less than the hop to a worker
  thread, and never waits for the writer. Other services read on the loop too, or in worker
  threads of their own (a validator's verdicts).
* `open` and `close` run once, before the services start and after they stop.

So reads run in several threads at once, also while a commit runs. That is safe because:
(1) one LevelDB handle may be shared by concurrent threads (LevelDB guarantees it for `Get`,
iterators and `Write`); (2) readers only see durable state: `_head` is an immutable `Head`,
replaced by one assignment only after the batch holding it is on disk, every read is bounded by
the head it took, and a commit never changes a key below that bound except by extending the
last partial chunk (old bytes stay in place); (3) the writer's in-memory tree and partial
chunks are touched only under `_write_lock`; (4) the chunk cache, the one structure that
readers change, is safe to share between threads (`_ChunkCache`).

`truncate` (a validator rolling back provisional records, docs/validator.md) is the one write
that removes keys below an old head: it runs under `_write_lock` too, clears the chunk cache
(a generation count keeps a chunk read before the cut out of the cache after it), and a reader
that took the old head may get `NotFoundError` or `StorageError` for a removed seq meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial as partial_key
from types import MappingProxyType, TracebackType
from typing import Final, NamedTuple, Self

import plyvel

from prover.block import GENESIS_PARENT_HASH, BlockHeader, decode_block_header, encode_block_header
from prover.errors import InvalidFieldError, NotFoundError, StorageError
from prover.hashing import EMPTY_ROOT
from prover.record import (
    DIGEST_BYTES,
    RECORD_SIZE,
    SUBJECT_BYTES,
    SUBMITTER_BYTES,
    V_OFFSET,
    Word,
    word_slice,
)
from prover.tree import (
    CompactTree,
    NodeId,
    fold_subtrees,
    prove_consistency,
    prove_inclusion,
    range_node_ids,
)
from prover.types import Hash32
from state_db import schema
from state_db.indexes import leaf_candidates, put_complete_leaf_chunks, put_unsigned_windows
from state_db.migrate import schema_version_error
from state_db.schema import RECORDS_PER_CHUNK

log = logging.getLogger(__name__)

HASH_SIZE: Final[int] = 32

# Byte ranges of the record fields the store indexes (docs/spec.md §3, word i = [32i, 32i+32)).
_SEQ = word_slice(Word.SEQ)  # the whole word
_SUBJECT = SUBJECT_BYTES
_DIGEST = DIGEST_BYTES
_SUBMITTER = SUBMITTER_BYTES  # the low 20 bytes of an ABI address
_NONCE_WORD = word_slice(Word.NONCE)  # the whole word
_V_BYTE: Final[int] = V_OFFSET  # low byte of word 8: 0 for an unsigned event

_U64_MAX: Final[int] = 2**64 - 1

WRITE_BUFFER_SIZE: Final[int] = 16 << 20
"""LevelDB memtable size. The default 4 MiB fills every ~8 group commits of 1000 records and
the resulting stream of level-0 tables and compactions (each re-compressing with snappy) cost
about 7 µs of CPU per record; 16 MiB nearly halves the store's CPU per record (measured
over 200k records in groups of 1000: 16.4 -> 9.5 µs) while the write-ahead log that a
restart replays stays at most 16 MiB (first reopen ~0.2 s). Snappy stays on: it halves the
disk (records are ~40% zero padding).
"""

_CHUNK_CACHE_MAX: Final[int] = 4096
"""Complete node and record chunks kept in memory (at 256 nodes a chunk: at most 32 MiB)."""

_HEAD_FIXED: Final[int] = 3 * 8 + 2 * HASH_SIZE
_NO_STATE: Mapping[str, bytes] = MappingProxyType({})


class Entry(NamedTuple):
    """One record to append, as the sequencer built it (a NamedTuple: one per event, so it
    must be cheap to build; as immutable as a frozen dataclass)."""

    record: bytes
    """The 352-byte ABI record (docs/spec.md §3); its seq word must equal its position in the log."""
    leaf_hash: bytes
    """keccak256(0x00 || record) (RFC 9162 §2.1.1), computed by the caller."""
    meta: bytes | None = None
    """RFC 8785 canonical JSON of the event's meta, stored beside the record, or None."""


def _set_bits(n: int) -> list[int]:
    """The set bits of `n`, highest first (the levels of a tree of size n's frontier)."""
    return [k for k in range(n.bit_length() - 1, -1, -1) if n >> k & 1]


class Grown(NamedTuple):
    """The tree growth a commit's caller already computed (`Store.commit`'s `grown`): a
    validator hashes the tree over a pulled range to check the served log roots, and hands
    the result over so the store does not hash it a second time (docs/design.md)."""

    base_size: int
    """Tree size the growth started from: must be the store's."""
    base_frontier: tuple[bytes, ...]
    """Frontier it started from: must be the store's."""
    levels: list[list[bytes]]
    """`CompactTree.append_many`'s levels over exactly the commit's leaf hashes, merged
    level by level across segments (level 0 is the leaf hashes themselves)."""
    tree: CompactTree
    """The tree after the growth (size: the new tree size)."""
    roots: list[bytes]
    """The log root at each `seal` end, in order."""


@dataclass(frozen=True, slots=True)
class Head:
    """The durable tip of the log: what a restart resumes from."""

    tree_size: int
    """Number of records in the log."""
    root: bytes
    """RFC 9162 root of the tree of `tree_size` leaves."""
    frontier: tuple[bytes, ...]
    """The perfect subtrees the tree decomposes into, largest first (`CompactTree.frontier`)."""
    block_count: int
    """Number of sealed blocks; the last one is number ``block_count - 1``."""
    last_block_hash: bytes
    """Hash of the last sealed block, or 32 zero bytes before the first."""
    last_block_end: int
    """`end` of the last sealed block, or 0: records from here on are not sealed yet."""


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What one `Store.commit` made durable."""

    first_seq: int
    """Seq of the first appended record (the old tree size)."""
    tree_size: int
    """The new tree size."""
    root: bytes
    """Root of the tree of the new size."""
    blocks: tuple[BlockHeader, ...]
    """The blocks sealed by this commit, in order."""


def encode_head(head: Head) -> bytes:
    """tree_size u64 | block_count u64 | last_block_end u64 | last_block_hash | root | frontier."""
    return b"".join(
        (
            schema.u64(head.tree_size),
            schema.u64(head.block_count),
            schema.u64(head.last_block_end),
            head.last_block_hash,
            head.root,
            *head.frontier,
        )
    )


def decode_head(value: bytes) -> Head:
    """Inverse of `encode_head`; raises `StorageError` unless the head is self-consistent."""
    if len(value) < _HEAD_FIXED:
        raise StorageError(f"corrupt head: {len(value)} bytes, need at least {_HEAD_FIXED}")
    tree_size = int.from_bytes(value[0:8], "big")
    block_count = int.from_bytes(value[8:16], "big")
    last_block_end = int.from_bytes(value[16:24], "big")
    last_block_hash = value[24:56]
    root = value[56:88]
    body = value[88:]
    # Verify the frontier has one hash per set bit of the size and folds to the stored root.
    if len(body) != HASH_SIZE * tree_size.bit_count():
        raise StorageError(
            f"corrupt head: tree size {tree_size} needs {tree_size.bit_count()} frontier "
            f"hashes, found {len(body) / HASH_SIZE:g}"
        )
    frontier = tuple(body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE))
    if fold_subtrees(frontier) != root:
        raise StorageError(f"corrupt head: frontier does not fold to the root at size {tree_size}")
    if last_block_end > tree_size or (block_count == 0) != (last_block_end == 0):
        raise StorageError(
            f"corrupt head: {block_count} blocks ending at {last_block_end}, tree size {tree_size}"
        )
    return Head(tree_size, root, frontier, block_count, last_block_hash, last_block_end)


_EMPTY_HEAD: Final[Head] = Head(0, EMPTY_ROOT, (), 0, GENESIS_PARENT_HASH, 0)


def _put_chunks(
    put: Callable[[bytes, bytes], None],
    key: Callable[[int], bytes],
    first_chunk: int,
    data: bytes,
    chunk_bytes: int,
) -> bytes:
    """Write `data` as consecutive chunks from `first_chunk` on; return the incomplete tail."""
    chunk, offset = first_chunk, 0
    while offset < len(data):
        put(key(chunk), data[offset : offset + chunk_bytes])
        chunk += 1
        offset += chunk_bytes
    tail = len(data) % chunk_bytes
    return data[len(data) - tail :] if tail else b""


class _ChunkCache:
    """Complete node and record chunks by ``(level, chunk index)`` (level -1: records); bounded,
    oldest in, first out. A complete chunk never changes again, so entries never go stale.

    Shared by every thread that reads the store: the event loop's readers, the writer thread
    (the sequencer's placement reads, and `Store.commit` itself when a timer seal takes a root
    from stored nodes) and other worker threads. `get` takes no lock: it is the bound
    ``dict.get``, one C call whose key (a tuple of ints) runs no Python code, so it is atomic
    under the GIL (free-threaded builds lock each dict internally). `put` changes the dict, and
    its eviction iterates it (``next(iter(...))``), which raises RuntimeError if another thread
    changes the dict's size meanwhile; so every change happens under `_lock`, and only on a
    miss, after a LevelDB read that costs far more than the lock.
    """

    __slots__ = ("_chunks", "_limit", "_lock", "generation", "get")

    def __init__(self, limit: int) -> None:
        self._chunks: dict[tuple[int, int], bytes] = {}
        self._limit = limit
        self._lock = threading.Lock()
        self.get: Callable[[tuple[int, int]], bytes | None] = self._chunks.get
        """The cached chunk at ``(level, chunk index)``, or None; lock-free (see above)."""
        self.generation = 0
        """Bumped by `clear`: a reader takes it before reading LevelDB and hands it to `put`,
        so a chunk read before a truncation is never cached after it."""

    def put(self, where: tuple[int, int], chunk: bytes, generation: int) -> None:
        """Cache the complete chunk `chunk` at `where`, read during `generation`, evicting the
        oldest entry when full."""
        chunks = self._chunks
        with self._lock:
            if where in chunks or generation != self.generation:
                return  # another thread read the same chunk meanwhile, or it may be stale
            if len(chunks) >= self._limit:
                del chunks[next(iter(chunks))]
            chunks[where] = chunk

    def clear(self) -> None:
        """Forget every chunk (`Store.truncate` removed or shortened some)."""
        with self._lock:
            self.generation += 1
            self._chunks.clear()

    def __len__(self) -> int:
        return len(self._chunks)


class Store:
    """The log in LevelDB. Open with `Store.open`.

    Writes (`commit`, `put_checkpoint`, `put_state`) block on an fsync: run them in a worker
    thread. Reads take microseconds and may run on the event loop, concurrently with a write
    and with each other. All writes of one `commit` go through one atomic, synced write batch;
    see the module docstring for which code calls what from which thread, and why it is safe.
    """

    def __init__(
        self,
        db: plyvel.DB,
        path: str,
        node_chunk_bits: int,
        head: Head,
        partials: list[bytes],
        checkpoint_count: int,
        record_partial: bytes = b"",
    ) -> None:
        """Use `Store.open`."""
        self._db = db
        self._path = path
        self._bits = node_chunk_bits
        self._mask = (1 << node_chunk_bits) - 1
        self._chunk_bytes = HASH_SIZE << node_chunk_bits
        self._head = head
        # The tree is kept as its frontier; the stored node chunks hold everything else.
        self._tree = CompactTree(head.tree_size, head.frontier)
        # partials[L]: the nodes of the last, incomplete chunk of level L (b"" when complete),
        # so a commit can rewrite that chunk without reading it back.
        self._partials = partials
        # The records of the last, incomplete record chunk, likewise.
        self._record_partial = record_partial
        self._chunk_cache = _ChunkCache(_CHUNK_CACHE_MAX)
        self._checkpoint_count = checkpoint_count
        self._write_lock = threading.Lock()
        # The packed indexes' tails (`state_db.indexes`): the submitter-index values of the
        # head's window, and the leaf hashes of the last, incomplete leaf chunk.
        self._unsigned_tail: dict[bytes, bytes] = {}
        self._leaf_tail: list[bytes] = []

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        node_chunk_bits: int = schema.DEFAULT_NODE_CHUNK_BITS,
    ) -> Store:
        """Open (or with `create`, create) the store at `path` and resume from its head.

        Reads O(log n) keys whatever the log size. `node_chunk_bits` sets how many tree nodes
        share one key (2**bits) for a NEW store; an existing store keeps the value it was
        created with. Raises `NotFoundError` when there is no store and `create` is false;
        `state_db.migrate.MigrationNeededError` when the store has an older schema version that
        ``attest db migrate`` upgrades, `NoMigrationPathError` when no migration leads to this
        version (both `SchemaVersionError`, a `StorageError`); `StorageError` when the store is
        locked or corrupt. Blocking (LevelDB may replay its write-ahead log): call it before the
        services start, or via ``trio.to_thread.run_sync``.
        """
        started = time.perf_counter()
        if not 0 <= node_chunk_bits <= schema.MAX_NODE_CHUNK_BITS:
            raise InvalidFieldError(
                "node_chunk_bits",
                f"must be in [0, {schema.MAX_NODE_CHUNK_BITS}], got {node_chunk_bits}",
            )
        fspath = os.fspath(path)
        if create:
            # LevelDB creates only the last directory of the path.
            os.makedirs(fspath, exist_ok=True)
        try:
            db = plyvel.DB(fspath, create_if_missing=create, write_buffer_size=WRITE_BUFFER_SIZE)
        except plyvel.IOError as e:
            raise StorageError(f"cannot open store {fspath}: {e}") from e
        except plyvel.Error as e:
            if not create and "does not exist" in str(e):
                raise NotFoundError(f"no store at {fspath}") from e
            raise StorageError(f"cannot open store {fspath}: {e}") from e
        try:
            store = cls._resume(db, fspath, node_chunk_bits)
        except BaseException:
            db.close()
            raise
        log.info(
            "opened store %s: tree_size=%d blocks=%d elapsed=%.3fs",
            fspath,
            store._head.tree_size,
            store._head.block_count,
            time.perf_counter() - started,
        )
        return store

    @classmethod
    def _resume(cls, db: plyvel.DB, path: str, node_chunk_bits: int) -> Store:
        schema_value = db.get(schema.SCHEMA_KEY)
        if schema_value is None:
            # Verify the database is empty before claiming it: a LevelDB without our schema
            # key belongs to something else.
            with db.iterator(include_value=False) as it:
                if next(it, None) is not None:
                    raise StorageError(f"{path} is a LevelDB without an attest-rollup schema key")
            batch = db.write_batch(sync=True)
            batch.put(schema.SCHEMA_KEY, schema.encode_schema_value(node_chunk_bits))
            batch.put(schema.HEAD_KEY, encode_head(_EMPTY_HEAD))
            batch.write()
            # After this write batch, a crash keeps an empty store of this schema version.
            return cls(db, path, node_chunk_bits, _EMPTY_HEAD, [], 0)
        try:
            version, bits = schema.decode_schema_value(schema_value)
        except ValueError as e:
            raise StorageError(f"corrupt schema key in {path}: {e}") from e
        # Verify the layout is the one this code reads.
        if version != schema.SCHEMA_VERSION:
            raise schema_version_error(path, version)
        if bits > schema.MAX_NODE_CHUNK_BITS:
            raise StorageError(f"corrupt schema key in {path}: node chunk bits {bits}")
        head_value = db.get(schema.HEAD_KEY)
        if head_value is None:
            raise StorageError(f"corrupt store {path}: no head")
        head = decode_head(head_value)
        partials = cls._load_partials(db, head.tree_size, bits)
        record_partial = cls._load_record_partial(db, head.tree_size)
        store = cls(db, path, bits, head, partials, cls._count_checkpoints(db), record_partial)
        store._check_head_against_storage()
        store._load_index_tails()
        return store

    def _load_index_tails(self) -> None:
        """Read the leaf hashes of the incomplete leaf chunk and the submitter-index values of
        the head's window (checked: written in the same batches as the head)."""
        size = self._head.tree_size
        mask = (1 << schema.LEAF_CHUNK_BITS) - 1
        self._leaf_tail = list(self._read_leaves(size & ~mask, size))
        window = size >> schema.LEAF_CHUNK_BITS
        prefix = schema.unsigned_window_prefix(window)
        tail: dict[bytes, bytes] = {}
        with self._db.iterator(prefix=prefix) as it:
            for key, value in it:
                last = int.from_bytes(value[-2:], "big") if value else mask + 1
                if len(key) != len(prefix) + 20 or len(value) % 2 or last >= size & mask:
                    raise StorageError(
                        f"corrupt store: submitter index value {key.hex()} ({len(value)} bytes) "
                        f"beyond tree size {size}"
                    )
                tail[key[len(prefix) :]] = value
        self._unsigned_tail = tail

    @staticmethod
    def _load_partials(db: plyvel.DB, tree_size: int, bits: int) -> list[bytes]:
        """Read the last, incomplete node chunk of every level of the tree of `tree_size`."""
        mask = (1 << bits) - 1
        partials: list[bytes] = []
        for level in range(tree_size.bit_length()):
            count = tree_size >> level
            if count & mask == 0:
                partials.append(b"")
                continue
            value = db.get(schema.node_chunk_key(level, count >> bits), b"")
            # Verify the chunk holds exactly the nodes the head says exist: it was written in
            # the same batch as the head.
            if len(value) != (count & mask) * HASH_SIZE:
                raise StorageError(
                    f"corrupt store: node chunk {count >> bits} of level {level} has "
                    f"{len(value)} bytes, tree size {tree_size} needs {(count & mask) * HASH_SIZE}"
                )
            partials.append(value)
        return partials

    @staticmethod
    def _load_record_partial(db: plyvel.DB, tree_size: int) -> bytes:
        """The records of the last, incomplete record chunk of a log of `tree_size` records."""
        count = tree_size % RECORDS_PER_CHUNK
        if count == 0:
            return b""
        value: bytes = db.get(schema.record_chunk_key(tree_size // RECORDS_PER_CHUNK), b"")
        # Verify the chunk holds exactly the records the head says exist (same batch).
        if len(value) != count * RECORD_SIZE:
            raise StorageError(
                f"corrupt store: last record chunk has {len(value)} bytes, tree size {tree_size} "
                f"needs {count * RECORD_SIZE}"
            )
        return value

    @staticmethod
    def _count_checkpoints(db: plyvel.DB) -> int:
        with db.iterator(prefix=schema.CHECKPOINT_PREFIX, reverse=True, include_value=False) as it:
            last = next(it, None)
        return 0 if last is None else int.from_bytes(last[-8:], "big") + 1

    def _check_head_against_storage(self) -> None:
        """Verify the head's frontier and last block against the stored nodes and blocks."""
        head = self._head
        stored = self.read_nodes(range_node_ids(0, head.tree_size))
        if tuple(stored) != head.frontier:
            raise StorageError(
                f"corrupt store: frontier differs from stored nodes at {head.tree_size}"
            )
        if head.block_count:
            block = self._read_block(head.block_count - 1)
            if block.block_hash != head.last_block_hash or block.end != head.last_block_end:
                raise StorageError(f"corrupt store: block {block.number} does not match the head")

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database (idempotent). Durable state needs no flush: commits are synced."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> str:
        return self._path

    @property
    def node_chunk_bits(self) -> int:
        """log2 of the number of tree nodes stored per key."""
        return self._bits

    @property
    def head(self) -> Head:
        """The durable head, from memory (O(1)); replaced only after a commit is on disk."""
        return self._head

    # --- writing -----------------------------------------------------------------------------

    def commit(
        self,
        entries: Sequence[Entry],
        seal: Sequence[tuple[int, int]] = (),
        state: Mapping[str, bytes] = _NO_STATE,
        *,
        receipt: bytes | None = None,
        check_seq: bool = True,
        grown: Grown | None = None,
    ) -> CommitResult:
        """Append `entries`, seal blocks, write `state` and `receipt`; one synced write batch.

        `entries[i]` gets seq ``head.tree_size + i``; its record's seq word must say so
        (`AssertionError` otherwise: the caller built a wrong record), unless `check_seq` is
        False: a follower replicating a log that breaks docs/spec.md §8 rule 1 must store it as served
        (to prove the fraud), and so must the sequencer's fault injection. `seal` lists
        ``(end, timestamp_ms)``: each `end` in ``(last block end, new tree size]``, increasing;
        each seals the block ``[previous end, end)`` whose log root is the root at size `end`.
        ``commit([], seal=[(end, ts)])`` seals without appending. The caller must already
        have rejected replayed (submitter, nonce) pairs (docs/spec.md §8 rule 5): the nonce index
        keeps the last seq written for a pair. `receipt` (opaque bytes, docs/spec.md §5) is stored
        for the appended range and returned by `receipt_of_seq` for any seq in it.

        `grown` (the validator's replica only) is the tree growth the caller already computed
        over these leaf hashes (`Grown`); the store then does not hash the tree again. It
        refuses (`AssertionError`) a growth from another base, over other leaf hashes, of the
        wrong shape, or whose last root is not its tree's; like `Entry.leaf_hash`, the inner
        nodes and the roots at earlier seals are the caller's word: pass only what
        `CompactTree.append_many` computed and the caller checked against the served roots.

        If the write raises, nothing is written and the store's state is unchanged.
        Blocking (fsync): call it via ``trio.to_thread.run_sync``.
        """
        with self._write_lock:
            return self._commit(entries, seal, state, receipt, check_seq, grown)

    def _commit(
        self,
        entries: Sequence[Entry],
        seal: Sequence[tuple[int, int]],
        state: Mapping[str, bytes],
        receipt: bytes | None,
        check_seq: bool,
        grown: Grown | None = None,
    ) -> CommitResult:
        started = time.perf_counter()
        old = self._head
        first_seq = old.tree_size
        new_size = first_seq + len(entries)
        # Verify the block ends before touching anything.
        prev_end = old.last_block_end
        for i, (end, _ts) in enumerate(seal):
            if not prev_end < end <= new_size:
                raise InvalidFieldError(
                    f"seal[{i}]",
                    f"block end must be in ({prev_end}, {new_size}], got {end}",
                )
            prev_end = end
        if receipt is not None and not entries:
            raise InvalidFieldError("receipt", "a receipt needs at least one appended record")

        batch = self._db.write_batch(sync=True)
        put = batch.put
        leaf_hashes: list[bytes] = []
        for i, entry in enumerate(entries):
            seq = first_seq + i
            record = entry.record
            if len(record) != RECORD_SIZE or len(entry.leaf_hash) != HASH_SIZE:
                raise AssertionError(
                    f"entry {i}: record of {len(record)} bytes / leaf hash of "
                    f"{len(entry.leaf_hash)} bytes, need {RECORD_SIZE} / {HASH_SIZE}"
                )
            if check_seq and int.from_bytes(record[_SEQ], "big") != seq:
                raise AssertionError(
                    f"entry {i}: record seq {int.from_bytes(record[_SEQ], 'big')} != position {seq}"
                )
            seq_bytes = schema.u64(seq)
            if entry.meta is not None:
                put(schema.meta_key(seq), entry.meta)
            put(schema.digest_key(record[_DIGEST], seq), b"")
            put(schema.subject_key(record[_SUBJECT], seq), b"")
            # Signed records only (v 27/28): unsigned (0) and forced (1, docs/spec.md §3) ones
            # have no replay key.
            if record[_V_BYTE] > 1:
                put(schema.nonce_key(record[_SUBMITTER], record[_NONCE_WORD]), seq_bytes)
            leaf_hashes.append(entry.leaf_hash)
        # The leaf-index values of any chunk this commit completes; a commit that completes
        # none (most) just extends the tail in place once written, without copying it.
        leaf_tail: list[bytes] | None = None
        if new_size >> schema.LEAF_CHUNK_BITS != first_seq >> schema.LEAF_CHUNK_BITS:
            leaf_tail = put_complete_leaf_chunks(put, first_seq, leaf_hashes, self._leaf_tail)
        joined = b"".join([e.record for e in entries])
        crossed, unsigned_values = put_unsigned_windows(put, first_seq, joined, self._unsigned_tail)

        blocks: list[BlockHeader] = []

        def next_block() -> tuple[int, bytes, int]:
            """(number, parent hash, start) of the next block: after this commit's last."""
            if not blocks:
                return old.block_count, old.last_block_hash, old.last_block_end
            last = blocks[-1]
            return last.number + 1, last.block_hash, last.end

        def seal_block(end: int, timestamp: int, log_root: bytes) -> None:
            """Write the header of the block ending at `end`, continuing the last one."""
            number, parent, start = next_block()
            header = BlockHeader(number, parent, start, end, log_root, timestamp)
            put(schema.block_key(number), encode_block_header(header))
            put(schema.block_end_key(end), schema.u64(number))
            blocks.append(header)

        if grown is not None:
            tree, new_levels = self._take_grown(grown, first_seq, new_size, leaf_hashes, seal)
            for (sealed, sealed_at), log_root in zip(seal, grown.roots, strict=True):
                # A seal at or below first_seq ends records an earlier commit appended.
                seal_block(
                    sealed, sealed_at, log_root if sealed > first_seq else self.root_at(sealed)
                )
            seal = ()  # sealed above
        else:
            # Grow a copy of the tree, stopping at every block end to take that size's root.
            tree = self._tree.copy()
            new_levels = []
        for end, timestamp in (*seal, (new_size, None)):
            if end > tree.size:
                levels = tree.append_many(leaf_hashes[tree.size - first_seq : end - first_seq])
                for level, nodes in enumerate(levels):
                    if level == len(new_levels):
                        new_levels.append([])
                    # Each segment's nodes of a level continue where the previous segment's
                    # ended (they are the level's new complete nodes, contiguous from
                    # first_seq >> level).
                    new_levels[level].extend(nodes)
            if timestamp is None:
                break
            # A timer seal may end below the old tree size (records an earlier commit
            # appended): that root comes from the durable nodes.
            seal_block(end, timestamp, tree.root() if end == tree.size else self.root_at(end))

        partials = self._put_node_chunks(put, first_seq, new_levels)
        record_partial = self._record_partial
        if entries:
            record_partial = _put_chunks(
                put,
                schema.record_chunk_key,
                first_seq // RECORDS_PER_CHUNK,
                record_partial + joined,
                RECORDS_PER_CHUNK * RECORD_SIZE,
            )
        root = tree.root()
        head = Head(new_size, root, tuple(tree.frontier), *next_block())
        put(schema.HEAD_KEY, encode_head(head))
        for name, value in state.items():
            put(schema.state_key(name), value)
        if receipt is not None:
            put(schema.receipt_key(first_seq), schema.u64(new_size) + receipt)

        batch.write()
        # After this write batch, a crash keeps every record, meta, tree node, index entry and
        # block of this commit together with the head that covers them, and the caller's
        # state keys; before it, a crash keeps none of them (LevelDB applies a batch
        # atomically, and sync=True waits for the log write to reach the disk). This is the
        # point where docs/spec.md §5 lets the sequencer hand out receipts.

        # Swap in the new state only now, so a failed write leaves the old one in place.
        self._tree = tree
        self._partials = partials
        self._record_partial = record_partial
        if crossed:
            self._unsigned_tail = unsigned_values
        else:
            self._unsigned_tail.update(unsigned_values)
        if leaf_tail is None:
            self._leaf_tail.extend(leaf_hashes)
        else:
            self._leaf_tail = leaf_tail
        self._head = head
        log.debug(
            "commit: tree_size=%d appended=%d blocks=%d elapsed=%.4fs",
            new_size,
            len(entries),
            len(blocks),
            time.perf_counter() - started,
        )
        return CommitResult(first_seq, new_size, root, tuple(blocks))

    def _take_grown(
        self,
        grown: Grown,
        first_seq: int,
        new_size: int,
        leaf_hashes: list[bytes],
        seal: Sequence[tuple[int, int]],
    ) -> tuple[CompactTree, list[list[bytes]]]:
        """`grown`'s tree and levels, once what can be checked without hashing is checked."""
        tree, levels = grown.tree, grown.levels
        # Verify it grew from this store's tree, over these very leaf hashes, to the new size.
        if (grown.base_size, grown.base_frontier) != (first_seq, tuple(self._tree.frontier)):
            raise AssertionError(
                f"grown from a tree of size {grown.base_size}, not the store's ({first_seq})"
            )
        if tree.size != new_size or len(grown.roots) != len(seal):
            raise AssertionError(
                f"grown to size {tree.size} with {len(grown.roots)} roots, need {new_size} "
                f"and one root per seal ({len(seal)})"
            )
        if (levels[0] if levels else []) != leaf_hashes:
            raise AssertionError("grown over other leaf hashes than the entries'")
        # Verify each level holds exactly the nodes the appended range completes.
        for level, nodes in enumerate(levels):
            if len(nodes) != (new_size >> level) - (first_seq >> level):
                raise AssertionError(f"grown level {level}: {len(nodes)} nodes")
        if leaf_hashes and new_size >> len(levels) != first_seq >> len(levels):
            raise AssertionError(f"grown: {len(levels)} levels are too few")
        # Verify the new frontier (the head a restart resumes from) is made of these levels'
        # last nodes and the old frontier, the nodes the store will hold.
        old_at = dict(zip(_set_bits(first_seq), self._tree.frontier, strict=True))
        frontier = [
            levels[k][-1] if new_size >> k > first_seq >> k else old_at[k]
            for k in _set_bits(new_size)
        ]
        if frontier != tree.frontier:
            raise AssertionError("grown: the tree's frontier is not the levels' last nodes")
        # Verify the last root, where the last seal ends at the new size.
        if seal and seal[-1][0] == new_size and grown.roots[-1] != tree.root():
            raise AssertionError("grown: the last seal's root is not the grown tree's")
        return tree.copy(), levels

    def _put_node_chunks(
        self, put: Callable[[bytes, bytes], None], first_seq: int, new_levels: list[list[bytes]]
    ) -> list[bytes]:
        """Write the chunks touched by `new_levels`; return the new partial chunks."""
        bits, mask, chunk_bytes = self._bits, self._mask, self._chunk_bytes
        partials = list(self._partials)
        for level, nodes in enumerate(new_levels):
            if level == len(partials):
                partials.append(b"")
            if not nodes:
                continue
            first = first_seq >> level
            partial = partials[level]
            if len(partial) != (first & mask) * HASH_SIZE:
                raise AssertionError(f"partial chunk of level {level} out of step with the tree")
            partials[level] = _put_chunks(
                put,
                partial_key(schema.node_chunk_key, level),
                first >> bits,
                partial + b"".join(nodes),
                chunk_bytes,
            )
        return partials

    def truncate(
        self,
        size: int,
        *,
        anchored_size: int,
        state: Mapping[str, bytes | None] = _NO_STATE,
        reindex_nonces: Sequence[int] = (),
    ) -> tuple[BlockHeader, ...]:
        """Remove every record from seq `size` on, with all that hangs on them; one synced
        write batch. Returns the headers of the blocks removed (those ending beyond `size`).

        For a follower whose provisional records a checkpoint contradicted (docs/validator.md,
        "Rollback"): records, metas, tree nodes (the partial chunk of every level shortened,
        the chunks beyond deleted), blocks ending beyond `size` and their block-by-end entries
        (records of a removed block below `size` stay, held and not sealed), the digest,
        subject, nonce, leaf-hash and unsigned-submitter index entries of the removed records,
        the receipts of commits starting at or beyond `size`, and the head. `state` is written
        in the same batch (None deletes a key): the caller's evidence and bookkeeping land
        with the truncation or not at all. `reindex_nonces` lists seqs below `size` of signed
        records whose (submitter, nonce) a removed record replayed: the nonce index points at
        them again (it kept the last seq written for a pair). Refuses (`InvalidFieldError`)
        a `size` below `anchored_size`, the records the caller holds on L1's word, or beyond
        the tree size. Checkpoints are not touched.

        LevelDB applies the batch atomically and syncs it: a crash before the write leaves
        the store as it was, after it as truncated; there is no state between. Readers that
        took the old head may get `NotFoundError` or `StorageError` for seqs beyond `size`
        while it runs. Holds every removed record in memory at once (352 bytes each, plus
        about 150 bytes of batch per record). Blocking (fsync): call it in a worker thread.
        """
        with self._write_lock:
            return self._truncate(size, anchored_size, state, reindex_nonces)

    def _truncate(
        self,
        size: int,
        anchored_size: int,
        state: Mapping[str, bytes | None],
        reindex_nonces: Sequence[int],
    ) -> tuple[BlockHeader, ...]:
        old = self._head
        old_size = old.tree_size
        # Verify the cut leaves what L1 anchors and lies within the log.
        if not 0 <= anchored_size <= size:
            raise InvalidFieldError(
                "size",
                f"must not cut below the anchored size {anchored_size}: got {size}",
            )
        if size > old_size:
            raise InvalidFieldError("size", f"must be <= tree size {old_size}, got {size}")
        for seq in reindex_nonces:
            if not 0 <= seq < size:
                raise InvalidFieldError("reindex_nonces", f"seq {seq} is not below {size}")
        db = self._db
        batch = db.write_batch(sync=True)
        put, delete = batch.put, batch.delete

        # Records, and the index entries each one put.
        removed = self.get_records(size, old_size)
        for seq, record in enumerate(removed, size):
            delete(schema.digest_key(record[_DIGEST], seq))
            delete(schema.subject_key(record[_SUBJECT], seq))
            if record[_V_BYTE] != 0:
                key = schema.nonce_key(record[_SUBMITTER], record[_NONCE_WORD])
                value = db.get(key)
                if value is not None and int.from_bytes(value, "big") >= size:
                    delete(key)
        for seq in reindex_nonces:
            record = self.get_record(seq)
            if record[_V_BYTE] != 0:
                put(schema.nonce_key(record[_SUBMITTER], record[_NONCE_WORD]), schema.u64(seq))
        with db.iterator(
            start=schema.meta_key(size), stop=schema.meta_key(old_size), include_value=False
        ) as keys:
            for key in keys:
                delete(key)
        first_chunk = size // RECORDS_PER_CHUNK
        keep = size % RECORDS_PER_CHUNK
        record_partial = b""
        if keep:
            chunk = db.get(schema.record_chunk_key(first_chunk), b"")
            record_partial = chunk[: keep * RECORD_SIZE]
            put(schema.record_chunk_key(first_chunk), record_partial)
            first_chunk += 1
        for index in range(first_chunk, (old_size + RECORDS_PER_CHUNK - 1) // RECORDS_PER_CHUNK):
            delete(schema.record_chunk_key(index))

        # The leaf-hash index: chunks complete before and not after lose their values.
        bits = schema.LEAF_CHUNK_BITS
        mask = (1 << bits) - 1
        leaf_tail: list[bytes] = list(self._read_leaves(size & ~mask, size))
        for chunk_index in range(size >> bits, old_size >> bits):
            delete(schema.leaf_chunk_key(chunk_index))
        # The unsigned-submitter index: the cut's window keeps its offsets below the cut.
        window = size >> bits
        unsigned_tail: dict[bytes, bytes] = {}
        prefix = schema.unsigned_window_prefix(window)
        with db.iterator(
            start=prefix, stop=schema.prefix_upper_bound(schema.UNSIGNED_SUBMITTER_PREFIX)
        ) as it:
            for key, value in it:
                if key.startswith(prefix):
                    kept = b"".join(
                        value[at : at + 2]
                        for at in range(0, len(value), 2)
                        if int.from_bytes(value[at : at + 2], "big") < size & mask
                    )
                    if kept:
                        put(key, kept)
                        unsigned_tail[key[len(prefix) :]] = kept
                        continue
                delete(key)

        # Tree nodes: level L keeps its first size >> L nodes.
        chunk_bits, node_mask = self._bits, self._mask
        partials: list[bytes] = []
        for level in range(old_size.bit_length()):
            old_count, count = old_size >> level, size >> level
            first = count >> chunk_bits
            tail = b""
            if count & node_mask:
                key = schema.node_chunk_key(level, first)
                tail = db.get(key, b"")[: (count & node_mask) * HASH_SIZE]
                if old_count != count:
                    put(key, tail)
                first += 1
            if level < size.bit_length():
                partials.append(tail)
            if old_count != count:
                for chunk_index in range(first, ((old_count - 1) >> chunk_bits) + 1):
                    delete(schema.node_chunk_key(level, chunk_index))
        frontier = tuple(self.read_nodes(range_node_ids(0, size)))
        tree = CompactTree(size, frontier)

        # Blocks ending beyond the cut, and their block-by-end entries.
        with db.iterator(
            start=schema.block_end_key(size + 1),
            stop=schema.prefix_upper_bound(schema.BLOCK_END_PREFIX),
            include_key=False,
        ) as it:
            found = next(it, None)
        kept_blocks = old.block_count if found is None else int.from_bytes(found, "big")
        removed_blocks = tuple(self._read_block(n) for n in range(kept_blocks, old.block_count))
        for header in removed_blocks:
            delete(schema.block_key(header.number))
            delete(schema.block_end_key(header.end))
        if kept_blocks:
            last = self._read_block(kept_blocks - 1)
            last_hash, last_end = bytes(last.block_hash), last.end
        else:
            last_hash, last_end = GENESIS_PARENT_HASH, 0
        # Receipts of commits from the cut on (one straddling it keeps its signed range).
        with db.iterator(
            start=schema.receipt_key(size),
            stop=schema.prefix_upper_bound(schema.RECEIPT_PREFIX),
            include_value=False,
        ) as keys:
            for key in keys:
                delete(key)

        head = Head(size, tree.root(), frontier, kept_blocks, last_hash, last_end)
        put(schema.HEAD_KEY, encode_head(head))
        for name, value in state.items():
            if value is None:
                delete(schema.state_key(name))
            else:
                put(schema.state_key(name), bytes(value))
        batch.write()
        # After this write batch, a crash keeps the log cut at `size` with every index, block
        # and the head to match, and the caller's state; before it, the log as it was.

        self._chunk_cache.clear()  # complete chunks beyond the cut are gone or shortened
        self._tree = tree
        self._partials = partials
        self._record_partial = record_partial
        self._unsigned_tail = unsigned_tail
        self._leaf_tail = leaf_tail
        self._head = head
        log.warning(
            "store truncated from %d to %d records (%d blocks removed)",
            old_size,
            size,
            len(removed_blocks),
        )
        return removed_blocks

    def put_checkpoint(self, index: int, value: bytes) -> None:
        """Store checkpoint `index` (overwrite one, or append the next: index <= count).

        Blocking (fsync): call it via ``trio.to_thread.run_sync``.
        """
        with self._write_lock:
            if not 0 <= index <= self._checkpoint_count:
                raise InvalidFieldError(
                    "index",
                    f"must be in [0, {self._checkpoint_count}] (append or overwrite), got {index}",
                )
            self._db.put(schema.checkpoint_key(index), bytes(value), sync=True)
            # After this write, a crash keeps checkpoint `index` as `value`.
            self._checkpoint_count = max(self._checkpoint_count, index + 1)

    def truncate_checkpoints(self, count: int) -> None:
        """Forget the checkpoints from index `count` on (L1 reorganised them away).

        Blocking (fsync): call it via ``trio.to_thread.run_sync``.
        """
        with self._write_lock:
            if count >= self._checkpoint_count:
                return
            batch = self._db.write_batch(sync=True)
            for index in range(max(0, count), self._checkpoint_count):
                batch.delete(schema.checkpoint_key(index))
            batch.write()
            self._checkpoint_count = max(0, count)

    def put_state(self, values: Mapping[str, bytes]) -> None:
        """Write state keys (name -> bytes) in one synced batch.

        Blocking (fsync): call it via ``trio.to_thread.run_sync``.
        """
        with self._write_lock:
            batch = self._db.write_batch(sync=True)
            for name, value in values.items():
                batch.put(schema.state_key(name), bytes(value))
            batch.write()
            # After this write batch, a crash keeps all of `values` or none of them.

    # --- reading -----------------------------------------------------------------------------

    def _check_seq(self, seq: int) -> None:
        size = self._head.tree_size
        if not 0 <= seq < size:
            raise NotFoundError(f"no record at seq {seq}: tree size is {size}")

    def get_record(self, seq: int) -> bytes:
        """The 352-byte record at `seq`; `NotFoundError` beyond the durable tree size."""
        self._check_seq(seq)
        chunk = self._record_chunk(seq // RECORDS_PER_CHUNK)
        offset = (seq % RECORDS_PER_CHUNK) * RECORD_SIZE
        record = chunk[offset : offset + RECORD_SIZE]
        if len(record) != RECORD_SIZE:
            raise StorageError(f"corrupt store: record {seq} is missing below the head")
        return record

    def _record_chunk(self, index: int) -> bytes:
        """One record chunk; complete ones are cached like node chunks (they never change)."""
        where = (-1, index)  # level -1: not a tree level
        cache = self._chunk_cache
        chunk = cache.get(where)
        if chunk is None:
            generation = cache.generation
            chunk = self._db.get(schema.record_chunk_key(index), b"")
            if len(chunk) == RECORDS_PER_CHUNK * RECORD_SIZE:
                cache.put(where, chunk, generation)
        return chunk

    def get_records(self, start: int, end: int) -> list[bytes]:
        """Records of seqs [start, end), by one range scan over their chunks."""
        size = self._head.tree_size
        if not 0 <= start <= end:
            raise InvalidFieldError("start", f"must be in [0, end={end}], got {start}")
        if end > size:
            raise NotFoundError(f"no records up to seq {end}: tree size is {size}")
        if start == end:
            return []
        first, last = start // RECORDS_PER_CHUNK, (end - 1) // RECORDS_PER_CHUNK
        data = b"".join(
            self._db.iterator(
                start=schema.record_chunk_key(first),
                stop=schema.record_chunk_key(last + 1),
                include_key=False,
            )
        )
        offset = start - first * RECORDS_PER_CHUNK
        out = [
            data[i * RECORD_SIZE : (i + 1) * RECORD_SIZE]
            for i in range(offset, offset + end - start)
        ]
        if not out or len(out[-1]) != RECORD_SIZE:
            raise StorageError(f"corrupt store: records [{start}, {end}) are incomplete")
        return out

    def get_meta(self, seq: int) -> bytes | None:
        """The canonical JSON meta stored with `seq`, or None when the event had none."""
        self._check_seq(seq)
        value: bytes | None = self._db.get(schema.meta_key(seq))
        return value

    def get_metas(self, start: int, end: int) -> list[bytes | None]:
        """The metas of seqs [start, end) (None where an event had none), by one range scan."""
        size = self._head.tree_size
        if not 0 <= start <= end:
            raise InvalidFieldError("start", f"must be in [0, end={end}], got {start}")
        if end > size:
            raise NotFoundError(f"no records up to seq {end}: tree size is {size}")
        out: list[bytes | None] = [None] * (end - start)
        with self._db.iterator(start=schema.meta_key(start), stop=schema.meta_key(end)) as it:
            for key, value in it:
                out[int.from_bytes(key[-8:], "big") - start] = value
        return out

    def get_leaf_hash(self, seq: int) -> Hash32:
        """The RFC 9162 leaf hash of `seq` (level 0 of the stored tree)."""
        self._check_seq(seq)
        return self.read_nodes([(0, seq)])[0]

    def read_nodes(self, ids: Sequence[NodeId]) -> list[Hash32]:
        """`prover.tree.NodeReader`: the stored perfect-subtree hashes `ids`, in order.

        Complete chunks are cached (bounded, oldest out first): a full chunk of 2**bits nodes
        never changes again, so the cache needs no invalidation, and the upper levels that every
        proof touches stay in memory. Partial chunks are always read from LevelDB.
        """
        bits, mask, full = self._bits, self._mask, self._chunk_bytes
        cache = self._chunk_cache
        cached = cache.get
        generation = cache.generation
        chunks: dict[tuple[int, int], bytes] = {}
        out: list[Hash32] = []
        get = self._db.get
        for level, index in ids:
            where = (level, index >> bits)
            chunk = chunks.get(where) or cached(where)
            if chunk is None:
                if not 0 <= level < 256 or index < 0:
                    raise InvalidFieldError("node", f"no tree node ({level}, {index})")
                chunk = get(schema.node_chunk_key(*where), b"")
                if len(chunk) == full:
                    cache.put(where, chunk, generation)
            chunks[where] = chunk
            offset = (index & mask) * HASH_SIZE
            node = chunk[offset : offset + HASH_SIZE]
            if len(node) != HASH_SIZE:
                raise NotFoundError(
                    f"tree node ({level}, {index}) is not stored: tree size is {self._head.tree_size}"
                )
            out.append(Hash32(node))
        return out

    def _check_size(self, tree_size: int) -> None:
        size = self._head.tree_size
        if tree_size > size:
            raise NotFoundError(f"no tree of size {tree_size}: tree size is {size}")
        if tree_size < 0:
            raise InvalidFieldError("tree_size", f"must be >= 0, got {tree_size}")

    def root_at(self, tree_size: int) -> Hash32:
        """RFC 9162 root of the tree of the first `tree_size` records."""
        head = self._head
        if tree_size == head.tree_size:
            return Hash32(head.root)
        self._check_size(tree_size)
        return fold_subtrees(self.read_nodes(range_node_ids(0, tree_size)))

    def inclusion_proof(self, index: int, tree_size: int) -> list[Hash32]:
        """RFC 9162 §2.1.3.1 audit path of `index` in the tree of size `tree_size`."""
        self._check_size(tree_size)
        return prove_inclusion(self, index, tree_size)

    def consistency_proof(self, first: int, second: int) -> list[Hash32]:
        """RFC 9162 §2.1.4.1 proof that the tree of size `second` extends that of `first`."""
        self._check_size(second)
        return prove_consistency(self, first, second)

    def _read_block(self, number: int) -> BlockHeader:
        value = self._db.get(schema.block_key(number))
        if value is None:
            raise StorageError(f"corrupt store: block {number} is missing below the head")
        return decode_block_header(value)

    def get_block(self, number: int) -> BlockHeader:
        """Header of block `number`; `NotFoundError` when it is not sealed yet."""
        count = self._head.block_count
        if not 0 <= number < count:
            raise NotFoundError(f"no block {number}: {count} blocks are sealed")
        return self._read_block(number)

    def block_of_seq(self, seq: int) -> BlockHeader:
        """The sealed block whose range holds `seq` (one seek in the block-by-end index)."""
        head = self._head
        self._check_seq(seq)
        if seq >= head.last_block_end:
            raise NotFoundError(
                f"seq {seq} is not in a sealed block yet: sealed blocks end at {head.last_block_end}"
            )
        # The first block whose end is > seq holds it (blocks tile [0, last_block_end)).
        with self._db.iterator(
            start=schema.block_end_key(seq + 1),
            stop=schema.prefix_upper_bound(schema.BLOCK_END_PREFIX),
            include_key=False,
        ) as it:
            number = next(it, None)
        if number is None:
            raise StorageError(f"corrupt store: no block ends after seq {seq}")
        return self._read_block(int.from_bytes(number, "big"))

    def receipt_of_seq(self, seq: int) -> bytes:
        """The receipt bytes stored by the commit that appended `seq` (one reverse seek)."""
        self._check_seq(seq)
        # The receipt keyed by the largest first seq <= seq is the only candidate.
        with self._db.iterator(
            start=schema.RECEIPT_PREFIX,
            stop=schema.receipt_key(seq + 1),
            reverse=True,
        ) as it:
            found = next(it, None)
        if found is not None:
            _key, value = found
            if seq < int.from_bytes(value[:8], "big"):
                return bytes(value[8:])
        raise NotFoundError(f"no receipt covers seq {seq}: it was committed without one")

    def _scan_index(self, prefix: bytes, after: int, limit: int) -> list[int]:
        _check_page(after, limit)
        size = self._head.tree_size
        out: list[int] = []
        if limit == 0 or after + 1 >= size:
            return out
        with self._db.iterator(
            start=prefix + schema.u64(after + 1),
            stop=prefix + schema.u64(size),
            include_value=False,
        ) as keys:
            for key in keys:
                out.append(int.from_bytes(key[-8:], "big"))
                if len(out) == limit:
                    break
        return out

    def find_by_digest(self, digest: bytes, *, after: int = -1, limit: int = 100) -> list[int]:
        """Seqs (ascending, > `after`, at most `limit`) of records with this digest."""
        if len(digest) != HASH_SIZE:
            raise InvalidFieldError("digest", f"must be 32 bytes, got {len(digest)}")
        return self._scan_index(schema.digest_prefix(digest), after, limit)

    def find_by_subject(self, subject: bytes, *, after: int = -1, limit: int = 100) -> list[int]:
        """Seqs (ascending, > `after`, at most `limit`) of records with this subject."""
        if len(subject) != HASH_SIZE:
            raise InvalidFieldError("subject", f"must be 32 bytes, got {len(subject)}")
        return self._scan_index(schema.subject_prefix(subject), after, limit)

    def find_by_leaf_hash(
        self, leaf_hash: bytes, *, after: int = -1, limit: int = 100
    ) -> list[int]:
        """Seqs (ascending, > `after`, at most `limit`) of records with this leaf hash: one in
        an honest log (the record holds its seq), more only in a replica of a log that broke
        docs/spec.md §8 rule 1, stored as served.

        Reads the first two bytes of the leaf hashes of every complete leaf chunk from `after`
        on (`state_db.schema`: 2 bytes per record) and checks each candidate's whole leaf hash
        against level 0 of the tree, then the leaf hashes of the last, incomplete chunk. The
        index only proposes: no seq is returned whose stored leaf hash differs."""
        if len(leaf_hash) != HASH_SIZE:
            raise InvalidFieldError("leafHash", f"must be 32 bytes, got {len(leaf_hash)}")
        _check_page(after, limit)
        size = self._head.tree_size
        out: list[int] = []
        if limit == 0 or after + 1 >= size:
            return out
        complete = size >> schema.LEAF_CHUNK_BITS  # chunks below this one have index values
        # The level-0 node chunk read for the last candidate: candidates come in ascending seq
        # order, so one is enough, and memory stays bounded however many a damaged (or
        # ground) index proposes.
        level0_index, nodes = -1, b""
        bits, mask = self._bits, self._mask
        # fill_cache=False: one search reads 2 bytes per record (20 MB at 10M), more than
        # LevelDB's block cache, which would otherwise lose the blocks other reads need.
        with self._db.iterator(
            start=schema.leaf_chunk_key((after + 1) >> schema.LEAF_CHUNK_BITS),
            stop=schema.leaf_chunk_key(complete),
            fill_cache=False,
        ) as it:
            for key, value in it:
                chunk = int.from_bytes(key[-8:], "big")
                for seq in leaf_candidates(value, leaf_hash, chunk):
                    if not after < seq < size:
                        continue
                    # Read level 0 around the bounded cache: candidates are spread over the
                    # whole log and would evict the upper levels that every proof reads.
                    if seq >> bits != level0_index:
                        level0_index = seq >> bits
                        nodes = self._db.get(schema.node_chunk_key(0, level0_index), b"")
                    at = (seq & mask) * HASH_SIZE
                    if nodes[at : at + HASH_SIZE] == leaf_hash:
                        out.append(seq)
                        if len(out) == limit:
                            return out
        # The last, incomplete chunk is not indexed yet: compare its leaf hashes directly.
        start = max(after + 1, complete << schema.LEAF_CHUNK_BITS)
        for seq, leaf in enumerate(self._read_leaves(start, size), start):
            if leaf == leaf_hash:
                out.append(seq)
                if len(out) == limit:
                    break
        return out

    def _read_leaves(self, start: int, end: int) -> list[Hash32]:
        """Leaf hashes of seqs [start, end) from level 0 of the stored tree."""
        return self.read_nodes([(0, seq) for seq in range(start, end)])

    def find_unsigned_by_submitter(
        self, submitter: bytes, *, after: int = -1, limit: int = 100
    ) -> list[int]:
        """Seqs (ascending, > `after`, at most `limit`) of the unsigned records whose submitter
        is `submitter` (the address the sequencer bound to the bearer token that vouched for
        them, docs/spec.md §3); signed records are found by `find_by_submitter`."""
        if len(submitter) != 20:
            raise InvalidFieldError("submitter", f"must be 20 bytes, got {len(submitter)}")
        _check_page(after, limit)
        size = self._head.tree_size
        out: list[int] = []
        if limit == 0 or after + 1 >= size:
            return out
        bits = schema.LEAF_CHUNK_BITS
        for window in range((after + 1) >> bits, ((size - 1) >> bits) + 1):
            value = self._db.get(schema.unsigned_window_key(window, submitter))
            if not value:
                continue
            base = window << bits
            for at in range(0, len(value), 2):
                seq = base | int.from_bytes(value[at : at + 2], "big")
                if after < seq < size:
                    out.append(seq)
                    if len(out) == limit:
                        return out
        return out

    def find_by_nonce(self, submitter: bytes, nonce: int) -> int | None:
        """Seq of the signed record of (submitter, nonce), or None."""
        if len(submitter) != 20:
            raise InvalidFieldError("submitter", f"must be 20 bytes, got {len(submitter)}")
        if not 0 <= nonce <= _U64_MAX:
            raise InvalidFieldError("nonce", f"must be a uint64, got {nonce}")
        value = self._db.get(schema.nonce_key(submitter, nonce.to_bytes(32, "big")))
        if value is None:
            return None
        seq = int.from_bytes(value, "big")
        return seq if seq < self._head.tree_size else None

    def find_by_submitter(
        self, submitter: bytes, *, after_nonce: int = -1, limit: int = 100
    ) -> list[tuple[int, int]]:
        """(nonce, seq) of the signed records of `submitter`, by ascending nonce, nonce >
        `after_nonce`, at most `limit`: a range scan of the (submitter, nonce) index (unsigned
        records are not in it, their nonces need not be unique: `find_unsigned_by_submitter`)."""
        if len(submitter) != 20:
            raise InvalidFieldError("submitter", f"must be 20 bytes, got {len(submitter)}")
        if not -1 <= after_nonce <= _U64_MAX:
            raise InvalidFieldError("after_nonce", f"must be a uint64 or -1, got {after_nonce}")
        out: list[tuple[int, int]] = []
        if limit <= 0 or after_nonce == _U64_MAX:
            return out
        size = self._head.tree_size
        prefix = schema.nonce_key(submitter, b"")
        with self._db.iterator(
            start=schema.nonce_key(submitter, (after_nonce + 1).to_bytes(32, "big")),
            stop=schema.prefix_upper_bound(prefix),
        ) as it:
            for key, value in it:
                seq = int.from_bytes(value, "big")
                if seq < size:
                    out.append((int.from_bytes(key[-32:], "big"), seq))
                    if len(out) == limit:
                        break
        return out

    def get_checkpoint(self, index: int) -> bytes | None:
        """The value stored for checkpoint `index`, or None."""
        if not 0 <= index <= _U64_MAX:
            return None
        value: bytes | None = self._db.get(schema.checkpoint_key(index))
        return value

    def checkpoint_count(self) -> int:
        """One past the highest stored checkpoint index."""
        return self._checkpoint_count

    def get_state(self, name: str) -> bytes | None:
        """The value of state key `name`, or None."""
        value: bytes | None = self._db.get(schema.state_key(name))
        return value


def _check_page(after: int, limit: int) -> None:
    """Refuse a page outside what the index lookups take: `after` in [-1, 2**64), `limit` >= 0."""
    if not -1 <= after <= _U64_MAX:
        raise InvalidFieldError("after", f"must be >= -1, got {after}")
    if limit < 0:
        raise InvalidFieldError("limit", f"must be >= 0, got {limit}")
