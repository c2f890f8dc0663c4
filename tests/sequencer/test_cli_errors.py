"""Every user mistake the `attest` command line can meet: one line on stderr, exit 2, no
traceback, and never a private key (sequencer/cli.py, `main`).

Each row runs ``python -m sequencer.cli ...`` as a real process. Two sources report errors,
both as one line: argparse (``attest serve: error: argument --rpc: ... (see attest serve
--help)``) for what it checks while parsing, and `main` (``attest: error: ...``) for what is
found after (files, ports, settings that may come from the config file).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

KEY_HEX = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
"""A well-formed test key (anvil's public account 1); every malformed key file is a variant."""

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

ERROR_LINE = re.compile(r"attest( [a-z0-9]+)*: error: \S.*")


@dataclass(frozen=True)
class Row:
    name: str
    argv: tuple[str, ...]
    names: str
    """A piece of the error line that says what was wrong."""


def _validate(*more: str, key: str = "{tmp}/good.key", sequencer: bool = True) -> tuple[str, ...]:
    upstream = ("--sequencer", "http://127.0.0.1:1") if sequencer else ()
    return (
        "validate",
        *upstream,
        "--l1-rpc",
        "http://127.0.0.1:1",
        "--contract",
        CONTRACT,
        "--key-file",
        key,
        "--data-dir",
        "{tmp}/replica",
        *more,
    )


ROWS = (
    # Key files: missing, and malformed in every way; never quoted.
    Row(
        "serve key file missing",
        ("serve", "--data-dir", "{tmp}/d", "--sequencer-key-file", "{tmp}/absent.key"),
        "--sequencer-key-file: cannot read {tmp}/absent.key",
    ),
    *(
        Row(
            f"serve key file {kind}",
            ("serve", "--data-dir", "{tmp}/d", "--sequencer-key-file", f"{{tmp}}/{kind}.key"),
            "--sequencer-key-file: {tmp}/" + kind + ".key must hold one",
        )
        for kind in ("short", "long", "not-hex", "space", "tab", "two-keys", "0X")
    ),
    Row(
        "validate key file missing",
        _validate(key="{tmp}/absent.key"),
        "--key-file: cannot read {tmp}/absent.key",
    ),
    Row(
        "validate key file with whitespace",
        _validate(key="{tmp}/space.key"),
        "--key-file: {tmp}/space.key must hold one",
    ),
    Row(
        "l1 deploy key file not hex",
        ("l1", "deploy", "--l1-rpc", "http://127.0.0.1:1", "--key-file", "{tmp}/not-hex.key"),
        "--key-file: {tmp}/not-hex.key must hold one",
    ),
    Row(
        "key file named by the config",
        ("serve", "--config", "{tmp}/key-in-file.toml"),
        "{tmp}/key-in-file.toml: [serve] sequencer_key_file: {tmp}/short.key must hold one",
    ),
    # --config: missing, not TOML, unknown key, wrong type; for each command.
    Row(
        "serve config missing",
        ("serve", "--config", "{tmp}/absent.toml"),
        "--config {tmp}/absent.toml: No such file",
    ),
    Row(
        "serve config not TOML",
        ("serve", "--config", "{tmp}/not.toml"),
        "--config {tmp}/not.toml: not a TOML file",
    ),
    Row(
        "serve config unknown key",
        ("serve", "--config", "{tmp}/unknown.toml"),
        "{tmp}/unknown.toml: [serve] port: unknown key",
    ),
    Row(
        "serve config wrong type",
        ("serve", "--config", "{tmp}/wrong-type.toml"),
        "{tmp}/wrong-type.toml: [serve] checkpoint_interval: must be a number",
    ),
    Row(
        "serve config old flat layout",
        ("serve", "--config", "{tmp}/flat.toml"),
        "{tmp}/flat.toml: chain_id: unknown table or key",
    ),
    Row(
        "validate config missing",
        ("validate", "--config", "{tmp}/absent.toml"),
        "--config {tmp}/absent.toml: No such file",
    ),
    Row(
        "devnet config wrong type",
        ("devnet", "--config", "{tmp}/devnet.toml"),
        "{tmp}/devnet.toml: [devnet] no_validator: must be true or false",
    ),
    # Addresses, URLs, numbers.
    Row(
        "port in use",
        ("serve", "--data-dir", "{tmp}/busy", "--rpc", "127.0.0.1:{busy}"),
        "cannot listen on 127.0.0.1:{busy}: Address already in use",
    ),
    Row(
        "serve --rpc not HOST:PORT",
        ("serve", "--data-dir", "{tmp}/d", "--rpc", "127.0.0.1:abc"),
        "argument --rpc: must be HOST:PORT",
    ),
    Row(
        "serve --rpc without a port",
        ("serve", "--data-dir", "{tmp}/d", "--rpc", "localhost"),
        "argument --rpc: must be HOST:PORT",
    ),
    Row(
        "serve --l1-rpc without a scheme",
        ("serve", "--data-dir", "{tmp}/d", "--l1-rpc", "localhost:8545", "--contract", CONTRACT),
        "argument --l1-rpc: must be a URL",
    ),
    Row(
        "verify --rpc without a scheme",
        ("verify", "--rpc", "localhost:8645", "--seq", "1"),
        "argument --rpc: must be a URL",
    ),
    Row(
        "proof export --rpc without a scheme",
        ("proof", "export", "--rpc", "localhost:8645", "--seq", "1", "-o", "-"),
        "argument --rpc: must be a URL",
    ),
    Row(
        "validate --sequencer without a scheme",
        _validate("--sequencer", "localhost:8645", sequencer=False),
        "argument --sequencer: must be a URL",
    ),
    Row(
        "serve --checkpoint-interval 0",
        ("serve", "--data-dir", "{tmp}/d", "--checkpoint-interval", "0"),
        "argument --checkpoint-interval: must be a number",
    ),
    Row(
        "serve --contract malformed",
        ("serve", "--data-dir", "{tmp}/d", "--contract", "0x12"),
        "argument --contract: must be 0x followed by 40 hex digits",
    ),
    Row(
        "serve --inject unknown",
        ("serve", "--data-dir", "{tmp}/d", "--inject", "nope"),
        "inject: must be one of",
    ),
    Row("devnet --inject unknown", ("devnet", "--inject", "nope"), "inject: must be one of"),
    # Missing settings and subcommands.
    Row(
        "validate without --sequencer",
        _validate(sequencer=False),
        "attest validate needs --sequencer",
    ),
    Row("serve without --data-dir", ("serve",), "attest serve needs --data-dir"),
    Row(
        "serve --l1-rpc without --contract",
        ("serve", "--data-dir", "{tmp}/d", "--l1-rpc", "http://127.0.0.1:1"),
        "needs the rollup contract address",
    ),
    Row(
        "l1 without a subcommand", ("l1",), "attest l1: error: the following arguments are required"
    ),
    Row(
        "proof without a subcommand",
        ("proof",),
        "attest proof: error: the following arguments are required",
    ),
    Row(
        "token without a subcommand",
        ("token",),
        "attest token: error: the following arguments are required",
    ),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("cli-errors")
    files = {
        "good.key": "0x" + KEY_HEX + "\n",
        "short.key": "0x" + KEY_HEX[:62] + "\n",
        "long.key": "0x" + KEY_HEX + "00\n",
        "not-hex.key": "0x" + KEY_HEX[:30] + "zz" + KEY_HEX[32:] + "\n",
        "space.key": "0x" + KEY_HEX[:32] + " " + KEY_HEX[32:] + "\n",
        "tab.key": "0x" + KEY_HEX[:2] + "\t" + KEY_HEX[2:] + "\n",
        "two-keys.key": "0x" + KEY_HEX + "\n0x" + KEY_HEX + "\n",
        "0X.key": "0X" + KEY_HEX + "\n",
        "key-in-file.toml": '[serve]\ndata_dir = "d"\nsequencer_key_file = "short.key"\n',
        "not.toml": "[serve\ndata_dir = \n",
        "unknown.toml": '[serve]\ndata_dir = "d"\nport = 8645\n',
        "wrong-type.toml": '[serve]\ndata_dir = "d"\ncheckpoint_interval = "5s"\n',
        "flat.toml": "chain_id = 31337\n",
        "devnet.toml": '[devnet]\nno_validator = "yes"\n',
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield {"tmp": str(tmp), "busy": str(busy.getsockname()[1])}


def _key_windows(width: int = 12) -> set[str]:
    """Every run of `width` characters of the test key: none may appear in any output."""
    return {KEY_HEX[i : i + width].lower() for i in range(len(KEY_HEX) - width + 1)}


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_user_mistake_gets_one_line(row: Row, world: dict[str, str]) -> None:
    argv = [a.format(**world) for a in row.argv]
    run = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "--log-level", "WARNING", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    out = run.stdout + run.stderr
    assert "Traceback" not in out, out
    assert run.returncode == 2, out
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert ERROR_LINE.fullmatch(lines[0]), lines[0]
    assert row.names.format(**world) in lines[0], lines[0]
    assert run.stdout == "", run.stdout
    leaked = [w for w in _key_windows() if w in out.lower()]
    assert not leaked, f"the key leaked: {leaked[:3]} in {out!r}"


def test_a_reader_that_goes_away_is_no_error() -> None:
    """`attest l1 status | grep -q frozen`: grep leaves at its first match, and the next line
    written finds no reader. The command stops quietly with 141 (as a tool killed by SIGPIPE),
    no traceback, nothing on stderr (seen in the operations walk-through, docs/operations.md)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sequencer.cli", "openrpc"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""
