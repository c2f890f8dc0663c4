"""Shared pieces of the validator's end-to-end tests: processes, waiting, L1 reads."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from l1_contracts.accounts import DEV_ADDRESSES, DEV_KEYS
from l1_contracts.contract import rollup_at
from sequencer.devnet.process import DevnetProcess, ValidatorProcess, write_key_file
from tests.waiting import wait_for  # noqa: F401  (re-exported for the validator tests)

VALIDATOR_ADDRESS = DEV_ADDRESSES[1]
CHALLENGE_WINDOW = 40
DA_WINDOW = 6


def _devnet_flags() -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "devnet", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    return {w for w in out.stdout.split() if w.startswith("--")}


_FLAGS: set[str] | None = None


def devnet_args(inject: str | None = None) -> list[str]:
    """Fast windows; the devnet's own validator (once `attest devnet` starts one) left out so
    the validator under test is the only challenger."""
    global _FLAGS
    if _FLAGS is None:
        _FLAGS = _devnet_flags()
    args = [
        "--checkpoint-interval",
        "0.5",
        "--challenge-window",
        str(CHALLENGE_WINDOW),
        "--da-window",
        str(DA_WINDOW),
    ]
    if "--no-validator" in _FLAGS:
        args.append("--no-validator")
    if inject is not None:
        args += ["--inject", inject]
    return args


@contextmanager
def validator_for(
    devnet: DevnetProcess,
    data_dir: Path,
    *,
    extra: Sequence[str] = (),
    upstreams: Sequence[str] = (),
) -> Iterator[ValidatorProcess]:
    key_file = write_key_file(DEV_KEYS[1], data_dir.parent)
    with ValidatorProcess(
        sequencer=[devnet.url, *upstreams],
        l1_rpc=devnet.l1_rpc,
        contract=devnet.contract,
        key_file=key_file,
        data_dir=data_dir,
        extra_args=["--poll-interval", "0.5", "--pull-interval", "0.1", "--da-grace", "2", *extra],
    ) as proc:
        yield proc


def rollup(devnet: DevnetProcess) -> tuple[Web3, Contract]:
    w3 = Web3(Web3.HTTPProvider(devnet.l1_rpc))
    return w3, rollup_at(w3, devnet.contract)


def events(contract: Contract, name: str) -> list[Any]:
    return list(getattr(contract.events, name)().get_logs(from_block=0))


def pin_l1_ahead(w3: Web3, seconds: int) -> None:
    """Move L1's clock `seconds` ahead of the wall clock (later blocks continue from there)."""
    latest = int(w3.eth.get_block("latest")["timestamp"])
    target = max(latest, int(time.time())) + seconds
    w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
