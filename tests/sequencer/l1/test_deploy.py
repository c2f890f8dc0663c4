"""`attest l1 deploy`: prints everything an operator must record, refuses unsafe parameters
with one line before sending anything."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from eth_account import Account
from web3 import Web3

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.contract import rollup_at
from l1_contracts.devnet_node import start_devnet_subprocess, stop_process
from sequencer.l1.deploy import (
    MIN_PUBLIC_CHALLENGE_WINDOW_S,
    UnsafeParameterError,
    check_deploy_parameters,
)

DEVNET = 31337
PUBLIC = 1337  # any chain that is not the devnet


@pytest.mark.parametrize(
    ("chain", "window", "da", "min_bond", "bond", "refusal"),
    [
        (DEVNET, 60, 10, 1, 1, None),
        (PUBLIC, MIN_PUBLIC_CHALLENGE_WINDOW_S, 600, 1, 1, None),
        (PUBLIC, MIN_PUBLIC_CHALLENGE_WINDOW_S - 1, 600, 1, 1, "below the minimum"),
        (DEVNET, 60, 60, 1, 1, "shorter than --challenge-window"),
        (PUBLIC, 7200, 9000, 1, 1, "shorter than --challenge-window"),
        (DEVNET, 60, 10, 0, 1, "must be positive"),
        (DEVNET, 60, 10, 1, 0, "must be positive"),
        (DEVNET, 60, 10, 10, 5, "below --min-bond"),
        (DEVNET, 0, 10, 1, 1, "must both be positive"),
    ],
)
def test_unsafe_parameters_are_refused(
    chain: int, window: int, da: int, min_bond: int, bond: int, refusal: str | None
) -> None:
    if refusal is None:
        check_deploy_parameters(
            chain, challenge_window=window, da_window=da, min_bond=min_bond, bond=bond
        )
        return
    with pytest.raises(UnsafeParameterError, match=refusal) as err:
        check_deploy_parameters(
            chain, challenge_window=window, da_window=da, min_bond=min_bond, bond=bond
        )
    assert "\n" not in str(err.value)


def _deploy(l1_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "--log-level",
            "WARNING",
            "l1",
            "deploy",
            "--l1-rpc",
            l1_url,
            "--key-env",
            "DEPLOYER_KEY",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DEPLOYER_KEY": "0x" + DEV_KEYS[2].hex()},
    )


def test_deploy_prints_transaction_contract_block_parameters_and_bond(devnet_url: str) -> None:
    done = _deploy(
        devnet_url,
        "--challenge-window",
        "60",
        "--da-window",
        "10",
        "--min-bond",
        str(10**18),
        "--bond",
        str(3 * 10**18),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout

    def field(name: str) -> str:
        m = re.search(rf"^\s+{name}\s+(\S+)", out, flags=re.M)
        assert m, f"no {name} line in:\n{out}"
        return m.group(1)

    w3 = Web3(Web3.HTTPProvider(devnet_url))
    contract, tx, block = field("contract"), field("transaction"), int(field("block"))
    receipt = w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
    assert receipt["contractAddress"] == contract and receipt["blockNumber"] == block
    assert field("owner") == Account.from_key(DEV_KEYS[2]).address
    # Every constructor parameter, with the value the contract holds.
    rollup = rollup_at(w3, contract)
    ctor = next(e for e in rollup.abi if e.get("type") == "constructor")
    names = [str(p["name"]).lstrip("_") for p in ctor["inputs"]]  # type: ignore[typeddict-item]
    assert names and all(re.search(rf"^\s+{n}\s", out, flags=re.M) for n in names), out
    for name in names:
        assert field(name) == str(rollup.functions[name]().call()), name
    assert field("challengeWindow") == "60" and field("minBond") == str(10**18)
    # The bond, and the transaction that deposited it.
    bond_line = next(line for line in out.splitlines() if line.strip().startswith("bond "))
    assert f"{3 * 10**18} wei (3 ETH)" in bond_line
    bond_tx = re.search(r"(0x[0-9a-f]{64})", bond_line)
    assert bond_tx and w3.eth.get_transaction_receipt(bond_tx.group(1))["status"] == 1  # type: ignore[arg-type]
    assert rollup.functions.bond().call() == 3 * 10**18


@pytest.fixture(scope="module")
def public_like_l1() -> Iterator[str]:
    proc, url = start_devnet_subprocess(port=0, chain_id=PUBLIC)
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--challenge-window", "60", "--da-window", "10"],
            "below the minimum of 3600 s on chain 1337",
        ),
        (["--challenge-window", "7200", "--da-window", "7200"], "shorter than --challenge-window"),
        (["--bond", "0"], "must be positive"),
    ],
)
def test_refusals_are_one_line_and_send_nothing(
    public_like_l1: str, args: list[str], says: str
) -> None:
    w3 = Web3(Web3.HTTPProvider(public_like_l1))
    deployer = Account.from_key(DEV_KEYS[2]).address
    nonce = w3.eth.get_transaction_count(deployer, "pending")
    done = _deploy(public_like_l1, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""
    assert w3.eth.get_transaction_count(deployer, "pending") == nonce
