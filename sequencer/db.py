"""`attest db`: maintenance of a store (the sequencer's log or a validator's replica).

`attest db migrate --db PATH` upgrades a store written by an older schema to the current one,
keeping a backup copy first (state_db/migrate.py; docs/storage.md). `attest serve` and
`attest validate` refuse an old store and name this command.
"""

from __future__ import annotations

import argparse
import sys

from prover.errors import NotFoundError, StorageError


def _cmd_migrate(args: argparse.Namespace) -> int:
    from state_db.migrate import migrate_store

    try:
        report = migrate_store(args.db, backup=not args.no_backup)
    except (NotFoundError, StorageError) as exc:
        # No store there, locked by a running service, a backup already present, no migration
        # path, or data that fails its check: each message names the path and what to do.
        sys.stderr.write(f"attest db migrate: {exc}\n")
        return 1
    print(report.summary(), flush=True)
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    from state_db.migrate import current_schema_version
    from state_db.schema import SCHEMA_VERSION

    try:
        found = current_schema_version(args.db)
    except (NotFoundError, StorageError) as exc:
        sys.stderr.write(f"attest db version: {exc}\n")
        return 1
    state = (
        "current" if found == SCHEMA_VERSION else f"needs `attest db migrate` to {SCHEMA_VERSION}"
    )
    print(f"{args.db}: schema version {found} ({state})", flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="store maintenance (schema migration)")
    db_sub = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    m = db_sub.add_parser(
        "migrate",
        help="upgrade a store to the current schema (a backup copy is kept)",
        description="Upgrade a LevelDB store written by an older attest-rollup to the current "
        "schema, in one atomic write batch per step, after copying it to PATH.bak-schemaN.",
    )
    m.add_argument(
        "--db",
        required=True,
        metavar="PATH",
        help="the LevelDB directory: DATA_DIR/log (sequencer) or DATA_DIR/replica (validator)",
    )
    m.add_argument("--no-backup", action="store_true", help="do not keep a copy of the old store")
    m.set_defaults(handler=_cmd_migrate)
    v = db_sub.add_parser("version", help="print a store's schema version")
    v.add_argument("--db", required=True, metavar="PATH", help="the LevelDB directory")
    v.set_defaults(handler=_cmd_version)
