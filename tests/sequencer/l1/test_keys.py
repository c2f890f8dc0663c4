"""L1 keys: encrypted keystores with the passphrase from a file or the environment, plain key
files for the devnet only (a warning elsewhere), `attest key new`, and no private key in any
message, log line or traceback."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from l1_contracts.devnet_node import start_devnet_subprocess, stop_process
from sequencer.config import Config
from sequencer.devnet.process import SequencerProcess
from sequencer.l1.keys import (
    KeyLoadError,
    LoadedKey,
    decrypt_keystore,
    encrypt_keystore,
    read_passphrase,
    warn_if_unsafe,
)
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.waiting import wait_for

PASSPHRASE = "correct horse battery staple"
LIGHT_SCRYPT_N = 2**12  # a test keystore opens in milliseconds; `attest key new` uses 2**18
PUBLIC_CHAIN_ID = 1337  # any chain that is not the devnet's 31337


def _variants(key: bytes) -> list[str]:
    """Every way a key could show up in text."""
    lower = key.hex()
    return [lower, lower.upper(), "0x" + lower, "0X" + lower.upper(), "0x" + lower.upper()]


def _assert_no_secret(text: str, key: bytes) -> None:
    for variant in [*_variants(key), PASSPHRASE]:
        assert variant not in text, f"a secret ({variant[:6]}...) leaked into: {text[:2000]}"
    # The key's bytes as Python would print them (a repr of a config or a key object).
    assert repr(key)[2:-1] not in text


def _attest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


# --- in-process ------------------------------------------------------------------------------


def test_keystore_round_trip_and_clear_errors(tmp_path: Path) -> None:
    key = os.urandom(32)
    path = tmp_path / "ks.json"
    path.write_text(json.dumps(encrypt_keystore(key, PASSPHRASE, scrypt_n=LIGHT_SCRYPT_N)))
    assert decrypt_keystore(path, PASSPHRASE) == key

    with pytest.raises(KeyLoadError, match="wrong passphrase") as err:
        decrypt_keystore(path, "not it")
    # Nothing of eth-account's decryption is chained into a traceback.
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert str(path) in str(err.value)

    (tmp_path / "plain.key").write_text("0x" + key.hex())
    (tmp_path / "junk.json").write_text('{"address": "00"}')
    for wrong, reason in [
        ("plain.key", "not JSON"),
        ("junk.json", "no crypto section"),
        ("missing.json", "cannot read keystore"),
    ]:
        with pytest.raises(KeyLoadError, match=reason) as err:
            decrypt_keystore(tmp_path / wrong, PASSPHRASE)
        _assert_no_secret(str(err.value), key)


def test_passphrase_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "pass"
    f.write_text(PASSPHRASE + "\n")
    assert read_passphrase(str(f), None, flag="--keystore") == PASSPHRASE
    monkeypatch.setenv("ATTEST_TEST_PASS", PASSPHRASE)
    assert read_passphrase(None, "ATTEST_TEST_PASS", flag="--keystore") == PASSPHRASE
    with pytest.raises(KeyLoadError, match="not set"):
        read_passphrase(None, "ATTEST_TEST_UNSET_VARIABLE", flag="--keystore")
    with pytest.raises(KeyLoadError, match="not both"):
        read_passphrase(str(f), "ATTEST_TEST_PASS", flag="--keystore")
    with pytest.raises(KeyLoadError, match="needs --passphrase-file"):
        read_passphrase(None, None, flag="--keystore")


def test_keys_stay_out_of_reprs() -> None:
    key = os.urandom(32)
    _assert_no_secret(repr(LoadedKey(key, "keystore x", True)), key)
    _assert_no_secret(repr(Config(data_dir=Path("d"), sequencer_key=key)), key)


def test_plain_keys_warn_off_the_devnet_only(caplog: pytest.LogCaptureFixture) -> None:
    key = os.urandom(32)
    plain = LoadedKey(key, "plain key file /k", False)
    with caplog.at_level(logging.WARNING):
        assert warn_if_unsafe(plain, 31337, "sequencer") is False
        assert (
            warn_if_unsafe(LoadedKey(key, "keystore /k", True), PUBLIC_CHAIN_ID, "sequencer")
            is False
        )
        assert warn_if_unsafe(plain, PUBLIC_CHAIN_ID, "sequencer") is True
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "plain key file /k" in message and "1337" in message and "--keystore" in message
    _assert_no_secret(message, key)


# --- end to end: every message of a run, grepped for the key ----------------------------------


@pytest.fixture(scope="module")
def public_like_l1() -> Iterator[str]:
    """An embedded L1 with a chain id that is not the devnet's: plain keys earn a warning."""
    proc, url = start_devnet_subprocess(port=0, chain_id=PUBLIC_CHAIN_ID)
    try:
        yield url
    finally:
        stop_process(proc)


def _funded_keystore(l1_url: str, directory: Path) -> tuple[bytes, Path]:
    key = os.urandom(32)
    path = directory / "sequencer.json"
    path.write_text(json.dumps(encrypt_keystore(key, PASSPHRASE, scrypt_n=LIGHT_SCRYPT_N)))
    w3 = Web3(Web3.HTTPProvider(l1_url))
    tx = w3.eth.send_transaction(
        {"from": w3.eth.accounts[0], "to": Account.from_key(key).address, "value": 100 * 10**18}
    )
    w3.eth.wait_for_transaction_receipt(tx)
    return key, path


def test_key_new_prints_only_the_address(tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    done = _attest(
        "key",
        "new",
        "--out",
        str(out),
        "--passphrase-env",
        "ATTEST_TEST_PASS",
        env={"ATTEST_TEST_PASS": PASSPHRASE},
    )
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", address), done.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = decrypt_keystore(out, PASSPHRASE)
    assert Account.from_key(key).address == address
    _assert_no_secret(done.stdout + done.stderr, key)
    # Never over an existing keystore.
    again = _attest(
        "key",
        "new",
        "--out",
        str(out),
        "--passphrase-env",
        "ATTEST_TEST_PASS",
        env={"ATTEST_TEST_PASS": PASSPHRASE},
    )
    assert again.returncode == 2 and "exists" in again.stderr
    assert decrypt_keystore(out, PASSPHRASE) == key


def test_no_run_ever_shows_the_key(public_like_l1: str, tmp_path: Path) -> None:
    key, keystore = _funded_keystore(public_like_l1, tmp_path)
    passfile = tmp_path / "pass"
    passfile.write_text(PASSPHRASE + "\n")
    plain = tmp_path / "plain.key"
    plain.write_text("0x" + key.hex() + "\n")
    not_a_keystore = tmp_path / "notes.json"
    not_a_keystore.write_text("[1, 2, 3]")
    seen: list[str] = []
    deploy = ["l1", "deploy", "--l1-rpc", public_like_l1]

    # A wrong passphrase, a wrong file, a passphrase variable that is not set: one line each,
    # exit 2, no traceback.
    for args, env, says in [
        (
            [*deploy, "--keystore", str(keystore), "--passphrase-env", "P"],
            {"P": "wrong"},
            "wrong passphrase",
        ),
        (
            [*deploy, "--keystore", str(not_a_keystore), "--passphrase-file", str(passfile)],
            {},
            "no crypto section",
        ),
        (
            [*deploy, "--keystore", str(keystore), "--passphrase-env", "ATTEST_TEST_UNSET"],
            {},
            "not set",
        ),
        (
            [
                "serve",
                "--data-dir",
                str(tmp_path / "x"),
                "--keystore",
                str(keystore),
                "--passphrase-env",
                "P",
            ],
            {"P": "wrong"},
            "wrong passphrase",
        ),
        (
            [
                "validate",
                "--sequencer",
                "http://127.0.0.1:9",
                "--l1-rpc",
                public_like_l1,
                "--contract",
                "0x" + "11" * 20,
                "--data-dir",
                str(tmp_path / "v"),
                "--keystore",
                str(plain),
                "--passphrase-file",
                str(passfile),
            ],
            {},
            "not a keystore",
        ),
    ]:
        done = _attest(*args, env=env)
        seen.append(done.stdout + done.stderr)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert says in done.stderr and "Traceback" not in done.stderr, done.stderr

    # Deploy with the keystore: works, and warns about nothing.
    done = _attest(
        "--log-level",
        "DEBUG",
        *deploy,
        "--keystore",
        str(keystore),
        "--passphrase-file",
        str(passfile),
        "--challenge-window",
        "3600",
        "--da-window",
        "600",
        env={},
    )
    seen.append(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "unencrypted" not in done.stderr
    contract = re.search(r"(0x[0-9a-fA-F]{40})", done.stdout)
    assert contract, done.stdout

    # Serve with the keystore: commits under the keystore's key, at DEBUG.
    args = [
        "--l1-rpc",
        public_like_l1,
        "--contract",
        contract.group(1),
        "--checkpoint-interval",
        "0.5",
    ]
    with (
        SequencerProcess(
            tmp_path / "seq",
            log_level="DEBUG",
            capture_log=True,
            env={"P": PASSPHRASE},
            extra_args=[*args, "--keystore", str(keystore), "--passphrase-env", "P"],
        ) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        out = rpc.call("attest_submit", unsigned(1))
        assert out["receipt"]["sequencer"].lower() == Account.from_key(key).address.lower()
        wait_for(lambda: rpc.call("attest_getCheckpoint", "latest"), what="a checkpoint")
        seq.stop()
    seen.append("".join(seq.lines + seq.log_lines))
    assert not any("unencrypted" in line for line in seq.log_lines)

    # Serve with the same key in a plain file, on a chain that is not the devnet: a warning
    # naming the file, not the key.
    with SequencerProcess(
        tmp_path / "seq", capture_log=True, extra_args=[*args, "--sequencer-key-file", str(plain)]
    ) as seq:
        wait_for(
            lambda: any("unencrypted" in line for line in seq.log_lines),
            what="the plain-key warning",
        )
        seq.stop()
    warning = next(line for line in seq.log_lines if "unencrypted" in line)
    assert str(plain) in warning and str(PUBLIC_CHAIN_ID) in warning
    seen.append("".join(seq.lines + seq.log_lines))

    for text in seen:
        _assert_no_secret(text, key)
