"""Schema migrations: a schema 1 or 2 store comes back whole under schema 3, with a backup.

Schema 1 (before commit ca16a29) stored one record per key, ``\\x01r`` + seq u64; every other
key was as in schema 2. Schema 2 had no leaf-hash index and no submitter index of unsigned
records (``\\x03l``, ``\\x03u``). `write_as_schema2` and `write_as_schema1` turn a store written
by the current code into those layouts, so the tests start from a store whose contents are known.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import plyvel
import pytest

from prover.errors import NotFoundError, StorageError
from prover.record import SUBMITTER_BYTES, V_OFFSET
from prover.tree import verify_consistency, verify_inclusion
from state_db import migrate, schema
from state_db.migrate import (
    Migration,
    MigrationNeededError,
    NoMigrationPathError,
    current_schema_version,
    migrate_store,
    migration_path,
)
from state_db.store import Store
from tests.state_db.records import deterministic_entry

SIZE = 1003  # not a multiple of RECORDS_PER_CHUNK: the last chunk is partial
V1_RECORD_PREFIX = b"\x01r"


def write_store(path: Path, size: int = SIZE) -> None:
    """A store of `size` records in groups of 100, with metas, receipts, blocks, checkpoints
    and state, written by the current code."""
    with Store.open(path, node_chunk_bits=4) as store:
        for start in range(0, size, 100):
            end = min(start + 100, size)
            store.commit(
                [deterministic_entry(seq) for seq in range(start, end)],
                [(end, end)] if start % 200 == 0 else [],
                {"writer.tree_size": end.to_bytes(8, "big")},
                receipt=b"receipt %d" % start,
            )
        store.put_checkpoint(0, b"checkpoint 0")


SCHEMA3_INDEXES = (schema.LEAF_PREFIX, schema.UNSIGNED_SUBMITTER_PREFIX)


def write_as_schema2(path: Path) -> None:
    """Drop the indexes schema 3 added from a current store, and mark it schema 2."""
    db = plyvel.DB(str(path))
    try:
        version, bits = schema.decode_schema_value(db.get(schema.SCHEMA_KEY))
        assert version == 3
        batch = db.write_batch(sync=True)
        for prefix in SCHEMA3_INDEXES:
            for key in db.iterator(prefix=prefix, include_value=False):
                batch.delete(key)
        batch.put(schema.SCHEMA_KEY, schema.encode_schema_value(bits, 2))
        batch.write()
    finally:
        db.close()


def write_as_schema1(path: Path) -> None:
    """Rewrite a current store as schema 1 wrote it: no schema 3 indexes, one record per key."""
    write_as_schema2(path)
    db = plyvel.DB(str(path))
    try:
        version, bits = schema.decode_schema_value(db.get(schema.SCHEMA_KEY))
        assert version == 2
        batch = db.write_batch(sync=True)
        seq = 0
        for key, chunk in db.iterator(prefix=schema.RECORD_PREFIX):
            batch.delete(key)
            for offset in range(0, len(chunk), 352):
                batch.put(V1_RECORD_PREFIX + schema.u64(seq), chunk[offset : offset + 352])
                seq += 1
        batch.put(schema.SCHEMA_KEY, schema.encode_schema_value(bits, 1))
        batch.write()
    finally:
        db.close()


def set_schema_version(path: Path, version: int) -> None:
    db = plyvel.DB(str(path))
    try:
        _, bits = schema.decode_schema_value(db.get(schema.SCHEMA_KEY))
        db.put(schema.SCHEMA_KEY, schema.encode_schema_value(bits, version), sync=True)
    finally:
        db.close()


def snapshot(path: Path) -> dict[bytes, bytes]:
    """Every key and value of the LevelDB at `path`."""
    db = plyvel.DB(str(path))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def check_contents(store: Store, size: int = SIZE) -> None:
    """Every read of `store` agrees with what `write_store` wrote."""
    expected = [deterministic_entry(seq) for seq in range(size)]
    head = store.head
    assert head.tree_size == size
    assert store.get_records(0, size) == [e.record for e in expected]
    for seq in (0, 15, 16, 17, size // 2, size - 1):
        assert store.get_record(seq) == expected[seq].record
        assert store.get_meta(seq) == expected[seq].meta
        assert store.get_leaf_hash(seq) == expected[seq].leaf_hash
        assert store.receipt_of_seq(seq) == b"receipt %d" % (seq // 100 * 100)
        proof = store.inclusion_proof(seq, size)
        verify_inclusion(expected[seq].leaf_hash, seq, size, proof, head.root)
    first = size // 3
    verify_consistency(
        first, size, store.root_at(first), head.root, store.consistency_proof(first, size)
    )
    assert store.get_block(head.block_count - 1).block_hash == head.last_block_hash
    assert store.block_of_seq(0).number == 0
    assert store.get_checkpoint(0) == b"checkpoint 0"
    assert store.get_state("writer.tree_size") == size.to_bytes(8, "big")
    # The schema 3 indexes: every record by its leaf hash, unsigned ones by their submitter.
    for seq in range(size):
        assert store.find_by_leaf_hash(expected[seq].leaf_hash) == [seq]
    for who in {e.record[SUBMITTER_BYTES] for e in expected}:
        assert store.find_unsigned_by_submitter(who, limit=size) == [
            seq
            for seq, e in enumerate(expected)
            if e.record[V_OFFSET] == 0 and e.record[SUBMITTER_BYTES] == who
        ]


def test_schema1_store_is_migrated_with_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_store(path)
    with Store.open(path) as store:
        head = store.head
    write_as_schema1(path)
    old = snapshot(path)

    # Verify the store refuses to open and names the command that fixes it.
    with pytest.raises(
        MigrationNeededError, match=re.escape(f"run `attest db migrate --db {path}`")
    ) as e:
        Store.open(path)
    assert (e.value.found, e.value.expected, e.value.path) == (1, 3, str(path))
    assert current_schema_version(path) == 1

    report = migrate_store(path)
    assert (report.from_version, report.to_version, report.tree_size) == (1, 3, SIZE)
    assert report.steps == (
        "1 -> 2: records 16 to a key instead of one per key",
        "2 -> 3: leaf-hash index and submitter index of unsigned records",
    )
    assert report.backup == f"{path}.bak-schema1"
    assert "migrated schema 1 -> 3" in report.summary()
    # Verify the backup is the untouched schema 1 store.
    assert snapshot(Path(report.backup)) == old

    assert current_schema_version(path) == 3
    with Store.open(path) as store:
        assert store.head == head
        check_contents(store)
        # The migrated store keeps growing: the partial last chunk was regrouped correctly.
        more = [deterministic_entry(seq) for seq in range(SIZE, SIZE + 40)]
        store.commit(more, [(SIZE + 40, 1)])
    with Store.open(path) as store:
        assert store.get_records(SIZE - 5, SIZE + 40) == [
            deterministic_entry(seq).record for seq in range(SIZE - 5, SIZE + 40)
        ]
    new = snapshot(path)
    assert not any(key.startswith(V1_RECORD_PREFIX) for key in new)


def test_migrating_a_current_store_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_store(path, 40)
    before = snapshot(path)
    report = migrate_store(path)
    assert (report.from_version, report.to_version, report.steps, report.backup) == (3, 3, (), None)
    assert "nothing to migrate" in report.summary()
    assert snapshot(path) == before
    assert os.listdir(tmp_path) == ["log"]


@pytest.mark.parametrize(
    ("version", "why"),
    [
        (0, "known migrations: 1 -> 2, 2 -> 3"),
        (4, "it was written by a newer attest-rollup; run that version"),
    ],
)
def test_unknown_schema_version_is_a_clear_error(tmp_path: Path, version: int, why: str) -> None:
    path = tmp_path / "log"
    write_store(path, 40)
    set_schema_version(path, version)
    before = snapshot(path)
    message = re.escape(
        f"{path} has schema version {version}, this code reads 3, and no migration leads "
        f"from {version} to 3 ({why})"
    )
    with pytest.raises(NoMigrationPathError, match=message):
        Store.open(path)
    with pytest.raises(NoMigrationPathError, match=message) as e:
        migrate_store(path)
    assert (e.value.found, e.value.expected) == (version, 3)
    # Verify nothing was changed or copied.
    assert snapshot(path) == before
    assert os.listdir(tmp_path) == ["log"]


def test_a_failing_step_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log"
    write_store(path, 100)
    write_as_schema1(path)
    before = snapshot(path)

    real = migrate.MIGRATIONS[1]
    monkeypatch.setitem(migrate.MIGRATIONS, 1, Migration(1, "fails", _failing_after(real)))  # type: ignore[index]
    with pytest.raises(StorageError, match="disk on fire"):
        migrate_store(path)
    assert snapshot(path) == before
    assert current_schema_version(path) == 1

    # A second run finds the first run's backup and will not overwrite it...
    monkeypatch.setitem(migrate.MIGRATIONS, 1, real)  # type: ignore[index]
    with pytest.raises(StorageError, match="bak-schema1 already exists"):
        migrate_store(path)
    assert snapshot(path) == before
    # ...unless told to take none.
    report = migrate_store(path, backup=False)
    assert (report.backup, report.tree_size) == (None, 100)
    with Store.open(path) as store:
        check_contents(store, 100)


def _failing_after(step: Migration) -> Any:
    def apply(db: Any, batch: Any) -> None:
        step.apply(db, batch)  # every change of the real step is in the batch...
        raise StorageError("disk on fire")  # ...and the step fails before it is written

    return apply


def test_a_schema1_store_with_a_missing_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_store(path, 40)
    write_as_schema1(path)
    db = plyvel.DB(str(path))
    db.delete(V1_RECORD_PREFIX + schema.u64(17))
    db.close()
    before = snapshot(path)
    with pytest.raises(StorageError, match="record 17 was expected"):
        migrate_store(path, backup=False)
    assert snapshot(path) == before


def test_migration_path_chains_registered_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing(db: Any, batch: Any) -> None:
        pass

    step3 = Migration(3, "a later layout", nothing)
    monkeypatch.setitem(migrate.MIGRATIONS, 3, step3)  # type: ignore[index]
    assert migration_path(1, 4) == (migrate.MIGRATIONS[1], migrate.MIGRATIONS[2], step3)
    assert migration_path(2, 2) == ()
    with pytest.raises(NoMigrationPathError, match="no migration leads from 0 to 4"):
        migration_path(0, 4)
    with pytest.raises(NoMigrationPathError, match="newer"):
        migration_path(5, 4)


def test_missing_or_foreign_stores(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no store at"):
        current_schema_version(tmp_path / "missing")
    with pytest.raises(NotFoundError, match="no store at"):
        migrate_store(tmp_path / "missing")
    db = plyvel.DB(str(tmp_path / "other"), create_if_missing=True)
    db.put(b"other", b"data")
    db.close()
    with pytest.raises(StorageError, match="not an attest-rollup store"):
        migrate_store(tmp_path / "other")
    with Store.open(tmp_path / "log"), pytest.raises(StorageError, match="running on it"):
        migrate_store(tmp_path / "log")


def test_schema2_store_gets_its_indexes_in_bounded_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 -> 3 builds the leaf-hash and unsigned-submitter indexes from the stored records and
    level-0 nodes; with a tiny batch limit it writes many batches, and the result is the
    same store the current code writes (key for key)."""
    path = tmp_path / "log"
    size = 2 * (1 << schema.LEAF_CHUNK_BITS) + 37  # two complete leaf chunks, and a tail
    write_store(path, size)
    want = snapshot(path)
    assert sum(k.startswith(schema.LEAF_PREFIX) for k in want) == 2 * schema.LEAF_BUCKETS
    write_as_schema2(path)
    assert current_schema_version(path) == 2
    with pytest.raises(MigrationNeededError):
        Store.open(path)
    monkeypatch.setattr(migrate, "ADDITIVE_BATCH_KEYS", 7)
    written: list[int] = []
    real_write = migrate._FlushingBatch.put

    def counting_put(self: Any, key: bytes, value: bytes) -> None:
        real_write(self, key, value)
        written.append(self.flushed)

    monkeypatch.setattr(migrate._FlushingBatch, "put", counting_put)
    report = migrate_store(path, backup=False)
    assert report.steps == ("2 -> 3: leaf-hash index and submitter index of unsigned records",)
    assert max(written) >= 4 * 7  # several batches of 7 keys were written before the last one
    assert snapshot(path) == want
    with Store.open(path) as store:
        check_contents(store, size)


def test_a_crash_inside_an_additive_step_keeps_schema2_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that dies after some of its batches were written leaves a schema 2 store (the
    extra index keys are unread by schema 2); running the migration again completes it."""
    path = tmp_path / "log"
    write_store(path, 2 * (1 << schema.LEAF_CHUNK_BITS) + 37)  # 44 index keys
    want = snapshot(path)
    write_as_schema2(path)
    real = migrate.MIGRATIONS[2]

    def dies_half_way(db: Any, batch: Any) -> None:
        count = 0

        class Half:
            def put(self, key: bytes, value: bytes) -> None:
                nonlocal count
                batch.put(key, value)
                count += 1
                if count == 20:
                    raise StorageError("power cut")

        real.apply(db, Half())

    monkeypatch.setattr(migrate, "ADDITIVE_BATCH_KEYS", 5)
    monkeypatch.setitem(  # type: ignore[index]
        migrate.MIGRATIONS, 2, Migration(2, real.description, dies_half_way, additive=True)
    )
    with pytest.raises(StorageError, match="power cut"):
        migrate_store(path, backup=False)
    assert current_schema_version(path) == 2
    # Some of its batches were written (the unread extra keys), not all.
    partial = snapshot(path)
    extra = [k for k in partial if k.startswith(SCHEMA3_INDEXES)]
    assert 0 < len(extra) < len([k for k in want if k.startswith(SCHEMA3_INDEXES)])
    monkeypatch.setitem(migrate.MIGRATIONS, 2, real)  # type: ignore[index]
    migrate_store(path, backup=False)
    assert snapshot(path) == want
