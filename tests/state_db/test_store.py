"""Store: opening, fatal storage errors, input errors, a failed write, restart reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import plyvel
import pytest

from prover.errors import InvalidFieldError, NotFoundError, StorageError
from prover.hashing import EMPTY_ROOT, leaf_hash
from prover.tree import MemoryTree
from state_db import schema
from state_db.store import Entry, Head, Store, decode_head, encode_head
from tests.state_db.records import deterministic_entry, make_record


def entries(start: int, end: int) -> list[Entry]:
    return [deterministic_entry(seq) for seq in range(start, end)]


def test_new_store_is_empty(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        assert store.head == Head(0, EMPTY_ROOT, (), 0, bytes(32), 0)
        assert store.root_at(0) == EMPTY_ROOT
        assert store.find_by_digest(bytes(32)) == []
        assert store.checkpoint_count() == 0
        with pytest.raises(NotFoundError, match="no record at seq 0: tree size is 0"):
            store.get_record(0)


def test_open_creates_missing_parent_directories(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a" / "b" / "log") as store:
        assert store.head.tree_size == 0


def test_open_without_create_needs_a_store(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no store at"):
        Store.open(tmp_path / "missing", create=False)


def test_second_open_of_a_locked_store_is_a_storage_error(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s"), pytest.raises(StorageError, match="cannot open"):
        Store.open(tmp_path / "s")


def test_foreign_leveldb_is_refused(tmp_path: Path) -> None:
    db = plyvel.DB(str(tmp_path / "s"), create_if_missing=True)
    db.put(b"other", b"data")
    db.close()
    with pytest.raises(StorageError, match="without an attest-rollup schema key"):
        Store.open(tmp_path / "s")


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path / "s").close()
    db = plyvel.DB(str(tmp_path / "s"))
    db.put(schema.SCHEMA_KEY, (schema.SCHEMA_VERSION + 1).to_bytes(4, "big") + b"\x08")
    db.close()
    version = schema.SCHEMA_VERSION
    with pytest.raises(
        StorageError, match=f"schema version {version + 1}, this code reads {version}"
    ):
        Store.open(tmp_path / "s")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda v: v[:-1], "frontier hashes"),  # truncated
        (lambda v: v[:56] + bytes(32) + v[88:], "does not fold to the root"),  # root flipped
        (lambda v: v[:-32] + bytes(32), "does not fold"),  # frontier hash flipped
        (lambda v: (5).to_bytes(8, "big") + v[8:], "frontier hashes"),  # wrong size
        (lambda v: b"", "at least"),
    ],
)
def test_corrupt_head_is_a_storage_error(
    tmp_path: Path, damage: Callable[[bytes], bytes], message: str
) -> None:
    with Store.open(tmp_path / "s") as store:
        store.commit(entries(0, 300), [(300, 1)])
    db = plyvel.DB(str(tmp_path / "s"))
    db.put(schema.HEAD_KEY, damage(db.get(schema.HEAD_KEY)))
    db.close()
    with pytest.raises(StorageError, match=message):
        Store.open(tmp_path / "s")


def test_head_that_disagrees_with_stored_nodes_is_a_storage_error(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        store.commit(entries(0, 300))
        stale = store.head
        store.commit(entries(300, 301))
    db = plyvel.DB(str(tmp_path / "s"))
    db.put(schema.HEAD_KEY, encode_head(stale))  # an old head over newer nodes
    db.close()
    with pytest.raises(StorageError, match="corrupt store"):
        Store.open(tmp_path / "s")


def test_head_round_trips() -> None:
    tree = MemoryTree([leaf_hash(bytes([i])) for i in range(13)])
    head = Head(13, tree.root(), tuple(tree.compact.frontier), 2, b"\x07" * 32, 9)
    assert decode_head(encode_head(head)) == head


def test_failed_commit_leaves_memory_and_disk_unchanged(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s", node_chunk_bits=2) as store:
        store.commit(entries(0, 10), [(5, 1)])
        before = store.head
        batch = entries(10, 20)
        # A state value that is not bytes fails inside the batch, after the tree was grown
        # and the blocks were built: everything must be dropped.
        with pytest.raises(TypeError):
            store.commit(batch, [(20, 2)], {"k": "not bytes"})  # type: ignore[dict-item]
        assert store.head == before
        with pytest.raises(NotFoundError):
            store.get_record(10)
        # The same batch then commits normally, nodes and all.
        result = store.commit(batch, [(20, 2)])
        tree = MemoryTree([e.leaf_hash for e in entries(0, 20)])
        assert result.root == tree.root() == store.root_at(20)
        assert store.inclusion_proof(3, 17) == tree.inclusion_proof(3, 17)
        assert result.blocks[0].start == 5


def test_bad_commit_input(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        store.commit(entries(0, 4), [(2, 1)])
        with pytest.raises(InvalidFieldError, match=r"seal\[1\]: block end must be in \(3, 4\]"):
            store.commit([], [(3, 1), (3, 2)])
        with pytest.raises(InvalidFieldError, match="block end"):
            store.commit([], [(5, 1)])
        short = make_record(4, subject=bytes(32), digest=bytes(32))[:-1]
        with pytest.raises(AssertionError, match="352"):
            store.commit([Entry(short, leaf_hash(short), None)])
        assert store.head.tree_size == 4


def test_bad_read_input(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        store.commit(entries(0, 4))
        with pytest.raises(InvalidFieldError, match="digest"):
            store.find_by_digest(b"short")
        with pytest.raises(InvalidFieldError, match="limit"):
            store.find_by_subject(bytes(32), limit=-1)
        with pytest.raises(InvalidFieldError, match="nonce"):
            store.find_by_nonce(bytes(20), 2**64)
        with pytest.raises(InvalidFieldError, match="start"):
            store.get_records(3, 2)
        with pytest.raises(InvalidFieldError, match="index"):
            store.inclusion_proof(4, 4)
        with pytest.raises(NotFoundError, match="not in a sealed block yet"):
            store.block_of_seq(0)
        with pytest.raises(InvalidFieldError, match="append or overwrite"):
            store.put_checkpoint(1, b"x")


def test_checkpoints_and_state_survive_reopen(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        store.put_checkpoint(0, b"a")
        store.put_checkpoint(1, b"b")
        store.put_checkpoint(0, b"a2")
        store.put_state({"committer.l1_block": b"\x01"})
    with Store.open(tmp_path / "s") as store:
        assert store.checkpoint_count() == 2
        assert [store.get_checkpoint(i) for i in range(3)] == [b"a2", b"b", None]
        assert store.get_state("committer.l1_block") == b"\x01"
        assert store.get_state("missing") is None


def test_checkpoints_forgotten_after_a_reorganisation_stay_forgotten(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        for i, value in enumerate((b"a", b"b", b"c")):
            store.put_checkpoint(i, value)
        store.truncate_checkpoints(1)  # L1 holds one checkpoint now
        assert store.checkpoint_count() == 1
        assert [store.get_checkpoint(i) for i in range(3)] == [b"a", None, None]
        store.truncate_checkpoints(5)  # more than stored: nothing to forget
        assert store.checkpoint_count() == 1
        store.put_checkpoint(1, b"b2")  # the commit sent again lands at the same index
    with Store.open(tmp_path / "s") as store:
        assert store.checkpoint_count() == 2
        assert [store.get_checkpoint(i) for i in range(3)] == [b"a", b"b2", None]


def test_keys_have_distinct_versioned_prefixes() -> None:
    prefixes = schema.ALL_PREFIXES
    assert len(set(prefixes)) == len(prefixes)
    assert all(len(p) == 2 for p in prefixes)
    # No prefix may be a prefix of another, or scans would cross namespaces.
    assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)
    assert schema.prefix_upper_bound(b"\x01e") == b"\x01f"
    assert schema.prefix_upper_bound(b"\x01\xff") == b"\x02"


class CountingDB:
    """A `plyvel.DB` that counts the keys read through it: point reads and iterated keys."""

    real = plyvel.DB

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._db = self.real(*args, **kwargs)
        self.reads = 0

    def get(self, *args: Any) -> Any:
        self.reads += 1
        return self._db.get(*args)

    def iterator(self, **kwargs: Any) -> CountingIterator:
        return CountingIterator(self, self._db.iterator(**kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class CountingIterator:
    """A plyvel iterator (also a context manager) that counts the keys it yields."""

    def __init__(self, db: CountingDB, it: Any) -> None:
        self._db = db
        self._it = it

    def __enter__(self) -> CountingIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self._it.close()

    def __iter__(self) -> CountingIterator:
        return self

    def __next__(self) -> Any:
        item = next(self._it)
        self._db.reads += 1
        return item


def test_reopening_a_large_store_reads_o_log_n_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 20_000
    with Store.open(tmp_path / "s") as store:
        for start in range(0, n, 5000):
            store.commit(entries(start, start + 5000), [(start + 5000, start)])
        store.put_checkpoint(0, b"c")
        head = store.head
    monkeypatch.setattr(plyvel, "DB", CountingDB)
    with Store.open(tmp_path / "s") as store:
        db = store._db
        assert isinstance(db, CountingDB)
        reads = db.reads
        assert store.head == head
        assert store.get_record(n - 1) == deterministic_entry(n - 1).record
        assert store.checkpoint_count() == 1
    # Restart does not replay the log: it reads the schema key, the head, at most one partial
    # node chunk and one frontier chunk per level, the last record chunk, the last checkpoint
    # key and the last block (bench/bench_restart.py measures the time this takes), plus
    # the leaf hashes of the last leaf chunk (16 node chunks) and the last unsigned run. A replay
    # would read all n / 16 record chunks.
    tail_chunks = (1 << schema.LEAF_CHUNK_BITS) >> schema.DEFAULT_NODE_CHUNK_BITS
    bound = 2 * n.bit_length() + 6 + tail_chunks
    assert reads <= bound, f"reopen read {reads} keys at tree size {n}"


def test_every_record_is_found_by_its_leaf_hash(tmp_path: Path) -> None:
    """The leaf-hash index (schema 3): each record by its leaf hash, across leaf chunks and
    commits of every size, after a reopen too; a hash of no record finds nothing."""
    path = tmp_path / "s"
    chunk = 1 << schema.LEAF_CHUNK_BITS
    size = chunk + 700
    written = entries(0, size)
    with Store.open(path, node_chunk_bits=2) as store:
        # Groups of 1, then 999, then one across the leaf chunk boundary, then the rest.
        for start, end in ((0, 1), (1, 1000), (1000, chunk + 10), (chunk + 10, size)):
            store.commit(written[start:end])
    with Store.open(path) as store:
        for seq in (*range(0, size, 97), chunk - 1, chunk, size - 1):
            assert store.find_by_leaf_hash(written[seq].leaf_hash) == [seq]
            assert store.find_by_leaf_hash(written[seq].leaf_hash, after=seq) == []
        assert store.find_by_leaf_hash(leaf_hash(b"no such record")) == []
        with pytest.raises(InvalidFieldError, match="leafHash"):
            store.find_by_leaf_hash(b"\x00" * 31)
        # The store keeps growing from the reopened tails (last leaf chunk, last run).
        store.commit(entries(size, size + 5))
        assert store.find_by_leaf_hash(deterministic_entry(size + 2).leaf_hash) == [size + 2]


def test_a_lying_leaf_index_entry_is_not_believed(tmp_path: Path) -> None:
    """An index entry whose 8-byte prefix matches but whose record's leaf hash differs (a
    prefix collision, or a damaged value) is checked against the tree and dropped."""
    path = tmp_path / "s"
    written = entries(0, (1 << schema.LEAF_CHUNK_BITS) + 3)  # chunk 0 is complete: indexed
    with Store.open(path) as store:
        store.commit(written)
    target = written[3].leaf_hash
    bucket = schema.leaf_bucket(target)
    other = next(
        seq
        for seq, e in enumerate(written)
        if seq != 3 and schema.leaf_bucket(e.leaf_hash) == bucket
    )
    db = plyvel.DB(str(path))
    key = schema.leaf_chunk_key(bucket, 0)
    value = bytearray(db.get(key))
    step = schema.LEAF_ENTRY_BYTES
    for at in range(0, len(value), step):
        if int.from_bytes(value[at + 8 : at + step], "big") == other:
            value[at : at + 8] = target[:8]  # seq `other` now claims target's prefix
    db.put(key, bytes(value))
    db.close()
    with Store.open(path) as store:
        assert store.find_by_leaf_hash(target) == [3]


def test_a_failed_commit_leaves_no_index_entry(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        store.commit(entries(0, 5))
        batch = entries(5, 9)
        with pytest.raises(TypeError):
            store.commit(batch, (), {"k": "not bytes"})  # type: ignore[dict-item]
        assert store.find_by_leaf_hash(batch[0].leaf_hash) == []
        # The in-memory tails are unchanged: the same batch commits and is found.
        store.commit(batch)
        assert [store.find_by_leaf_hash(e.leaf_hash) for e in batch] == [[5], [6], [7], [8]]
    with Store.open(tmp_path / "s") as store:
        assert store.find_by_leaf_hash(batch[3].leaf_hash) == [8]
