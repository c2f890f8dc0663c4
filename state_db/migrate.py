"""Schema migrations: bring a store written by older code up to `schema.SCHEMA_VERSION`.

`Store.open` refuses a store of another schema version with a `SchemaVersionError`;
`migrate_store` (the ``attest db migrate --db PATH`` command) moves it forward one version at a
time. Each step N -> N+1 is one `Migration` in `MIGRATIONS`: a function that reads the store
and puts its whole change into one write batch, to which `migrate_store` adds the new schema
key and writes with ``sync=True``. A crash during a step therefore keeps the store at version
N or at N+1, never in between, and running the command again resumes from where it stopped.
Before the first step, `migrate_store` copies the LevelDB directory to
``<path>.bak-schema<N>``.

A step holds its whole change in memory (LevelDB builds a batch in memory): the 1 -> 2 step
needs about the size of the records, 352 bytes each, plus the keys it deletes. An *additive*
step (one that only adds keys under prefixes the older version never reads, such as the
indexes of 2 -> 3) instead writes its keys in synced batches of `ADDITIVE_BATCH_KEYS`, so its
memory stays bounded at any log size; only the last batch carries the new schema key. A crash
part-way leaves a store of the old version with some unread extra keys, which a rerun writes
again (the same keys, the same values).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import plyvel

from prover.errors import NotFoundError, StorageError, UsageError
from prover.record import RECORD_SIZE
from state_db import schema

log = logging.getLogger(__name__)

MIGRATE_COMMAND: Final[str] = "attest db migrate --db"
"""The command a user runs to migrate a store; `MigrationNeededError` quotes it."""


# --- errors ----------------------------------------------------------------------------------


class SchemaVersionError(StorageError, UsageError):
    """The store at `path` was written with schema `found`; this code reads `expected`.

    Also a `UsageError`: the operator fixes it with a command (`attest db migrate`) or by
    pointing the service at another store, so the CLI reports it as one line, not a traceback.
    """

    def __init__(self, path: str, found: int, expected: int, message: str) -> None:
        self.path = path
        self.found = found
        self.expected = expected
        super().__init__(message)


class MigrationNeededError(SchemaVersionError):
    """An older schema that registered migrations upgrade: run ``attest db migrate --db PATH``."""

    def __init__(self, path: str, found: int, expected: int) -> None:
        super().__init__(
            path,
            found,
            expected,
            f"{path} has schema version {found}, this code reads {expected}: "
            f"run `{MIGRATE_COMMAND} {path}` to upgrade it (a backup copy is kept)",
        )


class NoMigrationPathError(SchemaVersionError):
    """No chain of registered migrations leads from `found` to `expected`: a store written by
    newer code, or older than the oldest migration."""

    def __init__(self, path: str, found: int, expected: int) -> None:
        if found > expected:
            why = "it was written by a newer attest-rollup; run that version"
        else:
            known = ", ".join(f"{m.from_version} -> {m.to_version}" for m in MIGRATIONS.values())
            why = f"known migrations: {known or 'none'}"
        super().__init__(
            path,
            found,
            expected,
            f"{path} has schema version {found}, this code reads {expected}, and no migration "
            f"leads from {found} to {expected} ({why})",
        )


def schema_version_error(path: str, found: int) -> SchemaVersionError:
    """The error `Store.open` raises for a store of schema `found` (not the current one)."""
    try:
        migration_path(found, schema.SCHEMA_VERSION, path)
    except NoMigrationPathError as e:
        return e
    return MigrationNeededError(path, found, schema.SCHEMA_VERSION)


# --- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: schema `from_version` -> ``from_version + 1``."""

    from_version: int
    description: str
    """One line for the user, e.g. "records 16 to a key"."""
    apply: Callable[[Any, Any], None]
    """``apply(db, batch)``: read the store through `db` (a `plyvel.DB` at `from_version`) and
    put every change into `batch`; never write to `db` directly. Raise `StorageError` when the
    store is not what `from_version` promises. The caller adds the schema key to the batch."""
    additive: bool = False
    """The step only puts keys the old version never reads: `batch` then writes itself out in
    bounded, synced pieces as it fills (see the module docstring), and must not delete."""

    @property
    def to_version(self) -> int:
        return self.from_version + 1


_V1_RECORD_PREFIX: Final[bytes] = b"\x01r"
"""Schema 1 stored one record per key: ``\\x01r`` + seq u64 -> the 352-byte record."""


def _records_in_chunks(db: Any, batch: Any) -> None:
    """1 -> 2: records move from one per key (``\\x01r`` seq) to RECORDS_PER_CHUNK per key
    (``\\x02r`` seq // RECORDS_PER_CHUNK, concatenated). Nothing else changed between them."""
    per_chunk = schema.RECORDS_PER_CHUNK
    pending: list[bytes] = []
    seq = 0
    with db.iterator(prefix=_V1_RECORD_PREFIX) as records:
        for key, record in records:
            # Verify the records are seqs 0, 1, 2, ... with no gap: the log a head covers.
            if key != _V1_RECORD_PREFIX + schema.u64(seq) or len(record) != RECORD_SIZE:
                raise StorageError(
                    f"corrupt schema 1 store: key {key.hex()} ({len(record)} bytes) where the "
                    f"{RECORD_SIZE}-byte record {seq} was expected"
                )
            pending.append(record)
            batch.delete(key)
            seq += 1
            if len(pending) == per_chunk:
                batch.put(schema.record_chunk_key(seq // per_chunk - 1), b"".join(pending))
                pending = []
    if pending:
        batch.put(schema.record_chunk_key(seq // per_chunk), b"".join(pending))
    with db.iterator(prefix=schema.RECORD_PREFIX, include_value=False) as chunks:
        # Verify no schema 2 record chunk exists yet (it would be overwritten or left stale).
        if next(chunks, None) is not None:
            raise StorageError("corrupt schema 1 store: it already holds schema 2 record chunks")
    log.info("migration 1 -> 2: %d records regrouped %d to a key", seq, per_chunk)


ADDITIVE_BATCH_KEYS: Final[int] = 100_000
"""Keys per synced batch of an additive step (about 6 MiB of batch at the 2 -> 3 key sizes)."""


class _FlushingBatch:
    """A write batch for an additive step: writes itself (synced) every `limit` puts."""

    def __init__(self, db: Any, limit: int | None = None) -> None:
        self._db = db
        self._limit = ADDITIVE_BATCH_KEYS if limit is None else limit
        self._batch = db.write_batch(sync=True)
        self._count = 0
        self.flushed = 0

    def put(self, key: bytes, value: bytes) -> None:
        self._batch.put(key, value)
        self._count += 1
        if self._count >= self._limit:
            self._batch.write()
            # After this write batch, a crash keeps these keys; the old version ignores them.
            self.flushed += self._count
            self._batch = self._db.write_batch(sync=True)
            self._count = 0

    def delete(self, key: bytes) -> None:
        raise AssertionError("an additive migration step must not delete keys")

    def write(self) -> None:
        self._batch.write()


_V2_HEAD_SIZE_BYTES: Final[int] = 8
"""The head value starts with the tree size, u64 (`state_db.store.encode_head`)."""


def _leaf_and_unsigned_submitter_indexes(db: Any, batch: Any) -> None:
    """2 -> 3: the leaf-hash index and the windows of unsigned records by submitter, exactly as
    `Store.commit` writes them (`state_db.indexes`), built one leaf chunk at a time. Leaf hashes
    are read from level 0 of the stored tree (what the commit that wrote each record stored),
    records from their chunks, both in seq order."""
    # Imported here: state_db.indexes is a leaf module, but keeps this module's imports light.
    from state_db.indexes import put_complete_leaf_chunks, put_unsigned_windows

    head = db.get(schema.HEAD_KEY)
    if head is None or len(head) < _V2_HEAD_SIZE_BYTES:
        raise StorageError("corrupt schema 2 store: no head")
    tree_size = int.from_bytes(head[:_V2_HEAD_SIZE_BYTES], "big")
    per_group = 1 << schema.LEAF_CHUNK_BITS
    leaves = db.iterator(
        start=schema.node_chunk_key(0, 0), stop=schema.node_chunk_key(1, 0), include_key=False
    )
    records = db.iterator(prefix=schema.RECORD_PREFIX)
    seq = 0
    hashes, at = b"", 0  # the current level-0 node chunk, and the next leaf hash's offset in it
    group_records: list[bytes] = []
    group_leaves: list[bytes] = []

    def flush() -> None:
        first = seq - len(group_records)
        # Groups start at leaf chunk boundaries: no earlier leaf hash is part of their chunk.
        put_complete_leaf_chunks(batch.put, first, group_leaves, [])
        put_unsigned_windows(batch.put, first, b"".join(group_records), {})
        group_records.clear()
        group_leaves.clear()

    try:
        for key, chunk in records:
            # Verify the record chunks are 0, 1, 2, ... with whole records: the log a head covers.
            if key != schema.record_chunk_key(seq // schema.RECORDS_PER_CHUNK) or (
                len(chunk) % RECORD_SIZE
            ):
                raise StorageError(
                    f"corrupt schema 2 store: record chunk key {key.hex()} ({len(chunk)} bytes) "
                    f"where chunk {seq // schema.RECORDS_PER_CHUNK} was expected"
                )
            for offset in range(0, len(chunk), RECORD_SIZE):
                if seq >= tree_size:
                    break
                if at + 32 > len(hashes):
                    hashes, at = next(leaves, b""), 0
                    if len(hashes) < 32 or len(hashes) % 32:
                        raise StorageError(f"corrupt schema 2 store: no leaf hash for record {seq}")
                group_leaves.append(hashes[at : at + 32])
                group_records.append(chunk[offset : offset + RECORD_SIZE])
                at += 32
                seq += 1
                if seq % per_group == 0:
                    flush()
        if group_records:
            flush()
    finally:
        leaves.close()
        records.close()
    if seq != tree_size:
        raise StorageError(f"corrupt schema 2 store: {seq} records under a head of {tree_size}")
    log.info("migration 2 -> 3: %d records indexed by leaf hash and unsigned submitter", seq)


MIGRATIONS: Mapping[int, Migration] = {
    1: Migration(1, "records 16 to a key instead of one per key", _records_in_chunks),
    2: Migration(
        2,
        "leaf-hash index and submitter index of unsigned records",
        _leaf_and_unsigned_submitter_indexes,
        additive=True,
    ),
}
"""Every registered step, by the version it starts from. Changing the layout means: bump
`schema.SCHEMA_VERSION` and register the step from the previous version here."""


def migration_path(found: int, target: int, path: str = "store") -> tuple[Migration, ...]:
    """The steps from schema `found` to `target`, in order (empty when equal);
    `NoMigrationPathError` when a step is missing or `found` is newer than `target`."""
    steps: list[Migration] = []
    version = found
    while version < target:
        step = MIGRATIONS.get(version)
        if step is None:
            raise NoMigrationPathError(path, found, target)
        steps.append(step)
        version = step.to_version
    if version != target:
        raise NoMigrationPathError(path, found, target)
    return tuple(steps)


# --- running them ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What `migrate_store` did."""

    path: str
    from_version: int
    """The schema version the store had."""
    to_version: int
    """The schema version it has now (`schema.SCHEMA_VERSION`)."""
    steps: tuple[str, ...]
    """One line per step applied ("1 -> 2: ..."); empty when the store was already current."""
    backup: str | None
    """The copy of the store taken before the first step, or None (no step, or backup=False)."""
    tree_size: int
    """Records in the migrated store (checked by reopening it)."""

    def summary(self) -> str:
        """One line for the user."""
        if not self.steps:
            return f"{self.path}: schema version {self.to_version} is current, nothing to migrate"
        kept = f"backup at {self.backup}" if self.backup else "no backup taken"
        return (
            f"{self.path}: migrated schema {self.from_version} -> {self.to_version} "
            f"({'; '.join(self.steps)}), {self.tree_size} records; {kept}"
        )


def _open_existing(path: str) -> Any:
    try:
        return plyvel.DB(path, create_if_missing=False)
    except plyvel.IOError as e:
        raise StorageError(
            f"cannot open store {path}: {e} (is a sequencer or validator running on it?)"
        ) from e
    except plyvel.Error as e:
        if "does not exist" in str(e):
            raise NotFoundError(f"no store at {path}") from e
        raise StorageError(f"cannot open store {path}: {e}") from e


def _read_schema(db: Any, path: str) -> tuple[int, int]:
    """(schema version, node chunk bits) of an open store; `StorageError` without one."""
    value = db.get(schema.SCHEMA_KEY)
    if value is None:
        raise StorageError(f"{path} is not an attest-rollup store: it has no schema key")
    try:
        return schema.decode_schema_value(value)
    except ValueError as e:
        raise StorageError(f"corrupt schema key in {path}: {e}") from e


def current_schema_version(path: str | os.PathLike[str]) -> int:
    """The schema version of the store at `path` (without migrating or resuming it).

    `NotFoundError` when there is no store, `StorageError` when it is locked by a running
    process or is not an attest-rollup store.
    """
    fspath = os.fspath(path)
    db = _open_existing(fspath)
    try:
        return _read_schema(db, fspath)[0]
    finally:
        db.close()


def migrate_store(path: str | os.PathLike[str], *, backup: bool = True) -> MigrationReport:
    """Upgrade the store at `path` to `schema.SCHEMA_VERSION`, step by step; a no-op when current.

    With `backup`, first copies the LevelDB directory to ``<path>.bak-schema<N>`` (N: the
    version found), and refuses to run if that directory exists. Stop every process using the
    store first. Raises `NotFoundError` when there is no store, `NoMigrationPathError` when no
    registered steps lead to the current version (nothing is changed or copied), and
    `StorageError` when the store is locked, corrupt, or fails its check after migrating.
    """
    started = time.perf_counter()
    fspath = os.path.normpath(os.fspath(path))
    db = _open_existing(fspath)
    try:
        found, bits = _read_schema(db, fspath)
        steps = migration_path(found, schema.SCHEMA_VERSION, fspath)
    finally:
        db.close()
    if not steps:
        return MigrationReport(fspath, found, found, (), None, _reopened_tree_size(fspath))

    backup_path = f"{fspath}.bak-schema{found}" if backup else None
    if backup_path is not None:
        if os.path.lexists(backup_path):
            raise StorageError(
                f"backup {backup_path} already exists: move it away first (it may be the only "
                f"copy of an earlier store)"
            )
        # Copy the closed store (no background compaction can change files mid-copy) under a
        # temporary name, so a directory named like a backup is always a complete one.
        partial = backup_path + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(fspath, partial)
        os.rename(partial, backup_path)
        log.info("backed up %s (schema %d) to %s", fspath, found, backup_path)

    db = _open_existing(fspath)
    try:
        for step in steps:
            step_started = time.perf_counter()
            batch = _FlushingBatch(db) if step.additive else db.write_batch(sync=True)
            step.apply(db, batch)
            batch.put(schema.SCHEMA_KEY, schema.encode_schema_value(bits, step.to_version))
            batch.write()
            # After this write batch, a crash keeps the store wholly at `step.to_version`;
            # before it, wholly at `step.from_version` (LevelDB applies a batch atomically).
            log.info(
                "migrated %s: schema %d -> %d (%s) elapsed=%.3fs",
                fspath,
                step.from_version,
                step.to_version,
                step.description,
                time.perf_counter() - step_started,
            )
    finally:
        db.close()
    try:
        tree_size = _reopened_tree_size(fspath)
    except StorageError as e:
        kept = f"the backup is at {backup_path}" if backup_path else "no backup was taken"
        raise StorageError(f"{fspath} fails its check after migrating: {e}; {kept}") from e
    log.info("migration of %s done: elapsed=%.3fs", fspath, time.perf_counter() - started)
    return MigrationReport(
        fspath,
        found,
        schema.SCHEMA_VERSION,
        tuple(f"{s.from_version} -> {s.to_version}: {s.description}" for s in steps),
        backup_path,
        tree_size,
    )


def _reopened_tree_size(path: str) -> int:
    """Open the store as the services do (which checks the head against the stored nodes,
    blocks and last record chunk) and return its tree size."""
    # Imported here: state_db.store imports this module for its schema errors.
    from state_db.store import Store

    with Store.open(path, create=False) as store:
        return store.head.tree_size
