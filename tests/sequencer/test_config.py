"""One home for defaults (sequencer/config.py), a TOML table per command that holds every
option, and docs/config.md that cannot drift from either."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prover.errors import InvalidFieldError, UsageError
from sequencer.config import (
    CONFIG_CLASSES,
    DEV_TOKEN,
    SECTIONS,
    Config,
    DevnetConfig,
    ValidatorConfig,
    devnet_config,
    documented_default,
    hash_token,
    read_config_file,
    serve_config,
    validator_config,
)
from sequencer.node.faults import Fault

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "config.md"
KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
"""A test key (anvil's account 1, public)."""

COMMANDS = ("serve", "validate", "devnet")


def parser_of(command: str) -> argparse.ArgumentParser:
    """The `attest COMMAND` subparser, as the command line builds it."""
    from sequencer.cli import build_parser

    parser = build_parser([command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def parse(command: str, *argv: str) -> argparse.Namespace:
    return parser_of(command).parse_args(list(argv))


def write_keys(directory: Path) -> None:
    for name in ("sequencer.key", "validator.key"):
        (directory / name).write_text("0x" + KEY.hex() + "\n")


def doc_example() -> str:
    text = DOC.read_text()
    section = text.split("## Complete example", 1)[1]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match is not None, "docs/config.md has no ```toml block under ## Complete example"
    return match.group(1)


def doc_tables() -> dict[str, dict[str, tuple[str, str, str]]]:
    """{command: {key: (type, default, flag)}} from the tables of docs/config.md."""
    tables: dict[str, dict[str, tuple[str, str, str]]] = {}
    current: dict[str, tuple[str, str, str]] | None = None
    for line in DOC.read_text().splitlines():
        heading = re.fullmatch(r"### `\[(\w+)\]`", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
            continue
        row = re.fullmatch(r"\| `(\w+)` \| (.+?) \| (.+?) \| (.+?) \| .+ \|", line)
        if row and current is not None:
            key, type_, default, flag = row.groups()
            current[key] = (type_, default.strip("`"), flag.strip("`"))
    return tables


# --- docs/config.md ------------------------------------------------------------------------


def test_doc_tables_list_every_key_with_its_type_default_and_flag() -> None:
    tables = doc_tables()
    assert set(tables) == set(SECTIONS)
    for command, settings in SECTIONS.items():
        code = {
            s.key: (s.kind.name, documented_default(command, s), s.flag_name if s.flag else "—")
            for s in settings
        }
        assert tables[command] == code, (
            f"docs/config.md [{command}] differs from sequencer/config.py"
        )


def test_doc_example_holds_every_key_and_yields_its_values(tmp_path: Path) -> None:
    path = tmp_path / "attest.toml"
    path.write_text(doc_example())
    write_keys(tmp_path)
    tables = read_config_file(path)
    for command, settings in SECTIONS.items():
        assert set(tables[command]) == {s.key for s in settings}, f"[{command}] misses keys"

    empty = {c: argparse.Namespace(config=str(path)) for c in COMMANDS}
    serve = serve_config(empty["serve"])
    validate = validator_config(empty["validate"])
    devnet = devnet_config(empty["devnet"])
    # Every one-to-one key landed in its field...
    for command, config in (("serve", serve), ("validate", validate), ("devnet", devnet)):
        for s in SECTIONS[command]:
            if s.field is not None and s.field != "data_dir":
                assert getattr(config, s.field) == tables[command][s.key], (command, s.key)
    # ...and the ones the builders convert, as the example writes them.
    assert serve.data_dir == tmp_path / "sequencer-data"
    assert (serve.host, serve.port) == ("0.0.0.0", 9645)
    assert serve.sequencer_key == KEY
    assert serve.dev and serve.tokens == {
        "sha256:c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a": bytes.fromhex(
            "3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
        ),
        hash_token(DEV_TOKEN): Config(data_dir=tmp_path).with_dev().tokens[hash_token(DEV_TOKEN)],
    }
    assert serve.checkpoint_interval_s == 12.5 and serve.l1_timeout_s == 4.0
    assert serve.max_body_bytes == 4194304 and serve.block_max_records == 512
    assert serve.allowlist == frozenset({bytes.fromhex("70997970C51812dc3A010C7d01b50e0d17dc79C8")})
    assert validate == ValidatorConfig(
        data_dir=tmp_path / "replica",
        upstreams=("http://127.0.0.1:9645", "http://10.0.0.7:8646"),
        l1_rpc="https://l1.example.org/rpc",
        contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        key=KEY,
        host="127.0.0.1",
        port=9646,
        poll_s=2.0,
        pull_s=0.5,
        da_grace_s=30.0,
        l1_timeout_s=6.0,
        upstream_timeout_s=3.0,
        cors_origins=frozenset({"*"}),
    )
    assert devnet == DevnetConfig(
        data_dir=tmp_path / "devnet-data",
        host="127.0.0.1",
        port=7645,
        l1_port=7545,
        l1_rpc="http://127.0.0.1:8545",
        checkpoint_interval_s=2.0,
        challenge_window_s=60,
        da_window_s=15,
        l1_timeout_s=3.0,
        inject="bad-signature",
        no_validator=True,
        validator_host="127.0.0.1",
        validator_port=7646,
    )


def test_doc_names_every_fault_inject_accepts() -> None:
    (inject,) = [s for s in SECTIONS["serve"] if s.key == "inject"]
    assert all(f.value in inject.help for f in Fault)


# --- flags and keys ------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_has_a_key_and_defaults_to_none(command: str) -> None:
    keys = {s.key: s for s in SECTIONS[command]}
    for action in parser_of(command)._actions:
        if action.dest in ("help", "config"):
            continue
        assert action.dest in keys, f"attest {command} {action.option_strings}: no TOML key"
        assert action.option_strings == [keys[action.dest].flag_name]
        # None: `resolve` can tell a flag left out from one given (flags override the file).
        assert action.default is None, f"attest {command} {action.option_strings}: a default"
    flagged = {a.dest for a in parser_of(command)._actions}
    assert {s.key for s in SECTIONS[command] if s.flag} <= flagged


@pytest.mark.parametrize("command", COMMANDS)
def test_every_field_of_the_config_class_is_settable(command: str) -> None:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(CONFIG_CLASSES[command])}
    mapped = {s.field for s in SECTIONS[command] if s.field is not None}
    converted = {  # set by the builders from a key that is not one to one
        "serve": {"host", "port", "sequencer_key", "tokens"},
        "validate": {"host", "port", "key"},
        "devnet": {"host", "port", "validator_host", "validator_port"},
    }[command]
    assert fields == mapped | converted


def test_flag_over_file_over_default(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[serve]\ndata_dir = "d"\ncheckpoint_interval = 7\nl1_clock_lag = 1\n')
    args = parse("serve", "--config", str(path), "--checkpoint-interval", "3")
    config = serve_config(args)
    assert config.checkpoint_interval_s == 3.0  # the flag
    assert config.l1_clock_lag_s == 1.0  # the file
    assert config.l1_timeout_s == Config(data_dir=tmp_path).l1_timeout_s  # the default
    assert config.data_dir == tmp_path / "d"  # relative to the file
    flag_dir = serve_config(parse("serve", "--config", str(path), "--data-dir", "x")).data_dir
    assert flag_dir == Path("x")  # relative to the working directory


def test_validate_flags_replace_the_files_upstreams(tmp_path: Path) -> None:
    write_keys(tmp_path)
    path = tmp_path / "c.toml"
    path.write_text(
        '[validate]\nsequencer = ["http://a:1"]\nl1_rpc = "http://l1"\nkey_file = "validator.key"\n'
        'contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"\ndata_dir = "r"\n'
    )
    args = parse(
        "validate", "--config", str(path), "--sequencer", "http://b:2", "--sequencer", "http://c:3"
    )
    assert validator_config(args).upstreams == ("http://b:2", "http://c:3")
    assert validator_config(parse("validate", "--config", str(path))).upstreams == ("http://a:1",)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[serve]\nport = 1\n", "[serve] port: unknown key"),
        ('[serve]\ncheckpoint_interval = "5"\n', "[serve] checkpoint_interval: must be a number"),
        ("[serve]\ndev = 1\n", "[serve] dev: must be true or false"),
        ("[serve]\nmax_body_bytes = 0\n", "[serve] max_body_bytes: must be an integer"),
        ('[serve]\nrpc = "localhost"\n', "[serve] rpc: must be HOST:PORT"),
        ('[serve]\nl1_rpc = "localhost:8545"\n', "[serve] l1_rpc: must be a URL"),
        (
            '[validate]\nsequencer = "http://a:1"\n',
            "[validate] sequencer: must be a non-empty list",
        ),
        ("[devnet]\nl1_port = 70000\n", "[devnet] l1_port: must be an integer"),
        (
            '[serve.tokens]\n"secret-token" = "0x' + "11" * 20 + '"\n',
            "[serve] tokens: a key is not",
        ),
        ("chain_id = 1\n", "chain_id: unknown table or key"),
        ("[serv]\n", "serv: unknown table or key"),
    ],
)
def test_file_errors_name_the_file_and_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(InvalidFieldError) as err:
        read_config_file(path)
    assert str(path) in str(err.value) and named in str(err.value)
    assert "secret-token" not in str(err.value)


def test_token_hashes_are_kept_in_the_case_ingest_looks_up(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    upper = hash_token("t").removeprefix("sha256:").upper()
    path.write_text(f'[serve.tokens]\n"sha256:{upper}" = "0x{"11" * 20}"\n')
    assert read_config_file(path)["serve"]["tokens"] == {hash_token("t"): bytes([0x11] * 20)}


def test_unreadable_and_non_toml_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="No such file"):
        read_config_file(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("this is = not = toml\n")
    with pytest.raises(UsageError, match="not a TOML file"):
        read_config_file(tmp_path / "bad.toml")


# --- attest token hash ---------------------------------------------------------------------


def attest(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_token_hash_prints_the_stored_form_and_never_the_token(tmp_path: Path) -> None:
    token = "correct horse battery staple"
    expected = hash_token(token)
    assert expected == "sha256:c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a"
    from_stdin = attest("token", "hash", stdin=token + "\n")
    assert from_stdin.returncode == 0 and from_stdin.stdout == expected + "\n"
    (tmp_path / "token").write_text(token)
    address = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    from_file = attest(
        "token", "hash", "--token-file", str(tmp_path / "token"), "--address", address
    )
    assert from_file.returncode == 0 and from_file.stdout == f'"{expected}" = "{address}"\n'
    for run in (from_stdin, from_file):
        assert "horse" not in run.stdout + run.stderr
    # The printed line is what [serve.tokens] accepts.
    config = tmp_path / "c.toml"
    config.write_text(f'[serve]\ndata_dir = "d"\n[serve.tokens]\n{from_file.stdout}')
    tokens = serve_config(argparse.Namespace(config=str(config))).tokens
    assert tokens == {expected: bytes.fromhex(address[2:])}


def test_token_hash_refuses_an_empty_token() -> None:
    run = attest("token", "hash", stdin="\n")
    assert run.returncode == 2 and run.stderr.startswith("attest: error: no token given")


def test_serve_parses_without_a_config() -> None:
    args = parse("serve", "--data-dir", "d", "--rpc", ":0")
    config = serve_config(args)
    assert (config.host, config.port, config.data_dir) == ("127.0.0.1", 0, Path("d"))
    assert config == Config(data_dir=Path("d"), port=0)
