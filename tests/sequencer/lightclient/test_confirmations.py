"""The light client's view of L1 under reorganisations: `--l1-block` reads L1 as of a tag
(`finalized`, `safe`) or N confirmations below the head, so a checkpoint that a reorganisation
of depth < N takes back was never trusted. On anvil, configured like a chain with blocks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_KEYS
from prover.errors import L1Error
from sequencer.client.l1 import default_l1_block, parse_l1_block
from sequencer.devnet.process import SequencerProcess
from sequencer.l1.deploy import deploy_and_bond
from sequencer.lightclient.fetch import L1Reader
from sequencer.rpc.client import RpcClient
from tests.conftest_l1 import l1_node
from tests.sequencer.events import unsigned
from tests.waiting import wait_for


def test_l1_block_values() -> None:
    assert parse_l1_block("finalized") == "finalized"
    assert parse_l1_block("auto") == "auto"
    assert parse_l1_block("12") == 12
    for bad in ("-1", "final", "1.5", ""):
        with pytest.raises(ValueError):
            parse_l1_block(bad)
    # The documented defaults: public chains trust only what is finalized; development chains
    # (the devnet, anvil) have no finalized block and read the latest.
    assert default_l1_block(1) == "finalized"
    assert default_l1_block(11155111) == "finalized"
    assert default_l1_block(31337) == "latest"


def test_a_bad_l1_block_is_one_clear_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "verify", "--seq", "0", "--l1-block", "soon"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--l1-block must be auto, latest, safe, finalized" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.fixture
def anvil() -> Iterator[str]:
    with l1_node("anvil") as url:
        yield url


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def test_confirmations_keep_a_reorganised_checkpoint_out(anvil: str, tmp_path: Path) -> None:
    d = deploy_and_bond(
        anvil, owner_key=DEV_KEYS[0], sequencer_key=DEV_KEYS[0], challenge_window=600, da_window=60
    )
    w3 = Web3(Web3.HTTPProvider(anvil))
    contract = bytes.fromhex(d.contract[2:])
    args = ["--l1-rpc", anvil, "--contract", d.contract, "--checkpoint-interval", "0.3"]
    with (
        SequencerProcess(tmp_path / "seq", extra_args=args) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        _rpc(w3, "evm_setIntervalMining", 0)
        rpc.call("attest_submit", unsigned(1))
        wait_for(lambda: _rpc(w3, "txpool_content")["pending"], timeout=30, what="the commit sent")
        _rpc(w3, "evm_mine")
        # At the head the checkpoint is there; three confirmations below it, not yet.
        assert L1Reader(anvil, contract, block="latest").count() == 1
        assert L1Reader(anvil, contract, block=3).count() == 0
        # A reorganisation of depth 2 takes it back: who waited for 3 confirmations never saw it.
        _rpc(w3, "evm_mine")
        _rpc(w3, "anvil_reorg", 2, [])
        assert L1Reader(anvil, contract, block="latest").count() == 0
        assert L1Reader(anvil, contract, block=3).count() == 0
        # The sequencer commits it again; buried under 3 blocks it is visible at depth 3.
        head = int(w3.eth.get_block("latest")["timestamp"])
        _rpc(w3, "evm_setNextBlockTimestamp", max(head + 1, int(time.time()) + 1))
        wait_for(lambda: _rpc(w3, "txpool_content")["pending"], timeout=30, what="the commit again")
        for _ in range(4):
            _rpc(w3, "evm_mine")
        reader = L1Reader(anvil, contract, block=3)
        assert reader.count() == 1 and reader.checkpoint(0).size == 1
        # anvil's "finalized" block is its genesis (a development chain has no finality):
        # the contract is not there yet — why `auto` reads `latest` on development chains.
        with pytest.raises(L1Error, match="no rollup contract"):
            L1Reader(anvil, contract, block="finalized").count()
        with pytest.raises(L1Error, match="confirmations"):
            L1Reader(anvil, contract, block=10**6).count()
