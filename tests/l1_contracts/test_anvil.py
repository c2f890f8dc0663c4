"""Locating and starting anvil (the npm-installed real node) for tests and ``--l1-rpc``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_ADDRESSES
from l1_contracts.anvil import (
    ANVIL_ENV_VAR,
    AnvilNotFoundError,
    find_anvil,
    start_anvil,
)
from l1_contracts.devnet_node import DEFAULT_CHAIN_ID, stop_process


def _installed_anvil() -> Path:
    try:
        return find_anvil()
    except AnvilNotFoundError as exc:
        pytest.skip(f"anvil is not installed ({exc})")


def test_start_anvil_on_a_free_port_with_the_dev_accounts() -> None:
    exe = _installed_anvil()
    proc, url = start_anvil(port=0, anvil=exe)
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        w3 = Web3(Web3.HTTPProvider(url))
        assert w3.eth.chain_id == DEFAULT_CHAIN_ID
        # anvil's default mnemonic is the one l1_contracts.accounts caches.
        assert w3.eth.accounts[:10] == list(DEV_ADDRESSES)
        # Many requests: anvil logs each to stdout, which must be drained or it blocks.
        for _ in range(300):
            assert w3.eth.block_number >= 0
    finally:
        code = stop_process(proc)
    assert proc.poll() is not None
    assert code is not None


def test_env_override_must_be_an_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_exec = tmp_path / "anvil"
    not_exec.write_text("#!/bin/sh\n")
    monkeypatch.setenv(ANVIL_ENV_VAR, str(not_exec))
    with pytest.raises(AnvilNotFoundError, match=ANVIL_ENV_VAR):
        find_anvil()
    not_exec.chmod(not_exec.stat().st_mode | stat.S_IXUSR)
    assert find_anvil() == not_exec


def test_not_found_names_where_it_looked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ANVIL_ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AnvilNotFoundError, match="make"):
        find_anvil(tools_dir=tmp_path / "nowhere")


def test_start_fails_clearly_when_the_binary_dies(tmp_path: Path) -> None:
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\necho 'error: bad flag' \nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"exited \(code 3\).*bad flag"):
        start_anvil(port=0, anvil=fake, timeout=10)
