"""The light client's view of L1 under reorganisations: `--l1-block` reads L1 as of a tag
(`finalized`, `safe`) or N confirmations below the head, so a checkpoint that a reorganisation
of depth < N takes back was never trusted. On anvil, configured like a chain with blocks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from prover.errors import L1Error
from sequencer.client.l1 import default_l1_block, parse_l1_block
from sequencer.devnet.process import SequencerProcess
from sequencer.lightclient.fetch import L1Reader
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.sequencer.l1.anvil_kit import anvil_rpc, bonded
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


def test_confirmations_keep_a_reorganised_checkpoint_out(anvil: str, tmp_path: Path) -> None:
    d = bonded(anvil, challenge_window=600, da_window=60)
    w3 = d.w3
    contract = bytes.fromhex(d.contract[2:])
    # The deployment buried under 4 blocks before mining pauses, so reads 3 confirmations
    # below the head find the contract (a slow start once left it 2 blocks below the commit).
    deployed = w3.eth.block_number
    wait_for(lambda: w3.eth.block_number >= deployed + 4, timeout=30, what="4 blocks mined")
    args = d.serve_args(0.3)
    with (
        SequencerProcess(tmp_path / "seq", extra_args=args) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        anvil_rpc(w3, "evm_setIntervalMining", 0)
        rpc.call("attest_submit", unsigned(1))
        wait_for(
            lambda: anvil_rpc(w3, "txpool_content")["pending"], timeout=30, what="the commit sent"
        )
        anvil_rpc(w3, "evm_mine")
        # At the head the checkpoint is there; three confirmations below it, not yet.
        assert L1Reader(anvil, contract, block="latest").count() == 1
        assert L1Reader(anvil, contract, block=3).count() == 0
        # A reorganisation of depth 2 takes it back: who waited for 3 confirmations never saw it.
        anvil_rpc(w3, "evm_mine")
        anvil_rpc(w3, "anvil_reorg", 2, [])
        assert L1Reader(anvil, contract, block="latest").count() == 0
        assert L1Reader(anvil, contract, block=3).count() == 0
        # The sequencer commits it again; buried under 3 blocks it is visible at depth 3.
        head = int(w3.eth.get_block("latest")["timestamp"])
        anvil_rpc(w3, "evm_setNextBlockTimestamp", max(head + 1, int(time.time()) + 1))
        wait_for(
            lambda: anvil_rpc(w3, "txpool_content")["pending"], timeout=30, what="the commit again"
        )
        for _ in range(4):
            anvil_rpc(w3, "evm_mine")
        reader = L1Reader(anvil, contract, block=3)
        assert reader.count() == 1 and reader.checkpoint(0).size == 1
        # anvil's "finalized" block is its genesis (a development chain has no finality):
        # the contract is not there yet — why `auto` reads `latest` on development chains.
        with pytest.raises(L1Error, match="no rollup contract"):
            L1Reader(anvil, contract, block="finalized").count()
        with pytest.raises(L1Error, match="confirmations"):
            L1Reader(anvil, contract, block=10**6).count()
