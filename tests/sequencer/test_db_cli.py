"""`attest db migrate` and `attest db version` as a user runs them: a real subprocess on a real
store written in the old (schema 1) layout, and `attest serve` refusing that store until then."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from state_db.store import Store
from tests.state_db.test_migrate import (
    SIZE,
    check_contents,
    write_as_schema1,
    write_as_schema2,
    write_store,
)

REPO = Path(__file__).resolve().parents[2]


def attest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_an_old_store_is_refused_then_migrated_with_a_backup(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    db = data_dir / "log"
    write_store(db)
    write_as_schema1(db)

    assert (
        "schema version 1 (needs `attest db migrate`"
        in attest("db", "version", "--db", str(db)).stdout
    )

    # The sequencer refuses to open it, in one line that names the command to run.
    serve = attest("serve", "--data-dir", str(data_dir), "--rpc", "127.0.0.1:0", "--dev")
    assert serve.returncode != 0
    assert "Traceback" not in serve.stderr, serve.stderr
    assert "attest db migrate --db" in serve.stderr, serve.stderr

    done = attest("db", "migrate", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "migrated schema 1 -> 3" in done.stdout and f"{SIZE} records" in done.stdout
    assert Path(f"{db}.bak-schema1").is_dir()
    with Store.open(db) as store:
        check_contents(store)

    again = attest("db", "migrate", "--db", str(db))
    assert again.returncode == 0 and "nothing to migrate" in again.stdout
    assert "(current)" in attest("db", "version", "--db", str(db)).stdout


def test_a_schema2_store_gets_the_leaf_hash_index(tmp_path: Path) -> None:
    """`attest db migrate` builds the leaf-hash and unsigned-submitter indexes of a store
    written before them (check_contents looks every record up by its leaf hash)."""
    db = tmp_path / "log"
    write_store(db)
    write_as_schema2(db)
    done = attest("db", "migrate", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "migrated schema 2 -> 3" in done.stdout, done.stdout
    with Store.open(db) as store:
        check_contents(store)


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    missing = attest("db", "migrate", "--db", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    assert "no store" in missing.stderr

    db = tmp_path / "log"
    write_store(db)
    write_as_schema1(db)
    Path(f"{db}.bak-schema1").mkdir()  # a backup is never overwritten
    blocked = attest("db", "migrate", "--db", str(db))
    assert blocked.returncode == 1 and blocked.stderr.count("\n") == 1, blocked.stderr
    assert "bak-schema1" in blocked.stderr
