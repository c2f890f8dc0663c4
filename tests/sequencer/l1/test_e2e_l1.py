"""End to end with L1: `attest devnet` in its own process, on the embedded L1 and on anvil.

Events in; checkpoints on L1 whose roots equal the log's roots at those sizes; finality after the
window; commits by anyone else, or with a wrong consistency proof, refused on chain; an L1
outage survived without losing ingest.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.contract import read_checkpoint, rollup_at
from l1_contracts.devnet_node import start_devnet_subprocess, stop_process
from prover.checkpoint import CheckpointStatus
from prover.eip712 import Domain, compute_receipt_digest, recover_signer
from sequencer.devnet.process import DevnetProcess, SequencerProcess
from sequencer.l1.reader import RollupReader
from sequencer.rpc.client import RpcClient
from tests.conftest_l1 import L1_BLOCK_TIME_S
from tests.sequencer.events import ALICE_KEY, signed, unsigned
from tests.sequencer.scrape import scrape
from tests.waiting import wait_for, wait_for_rounds

pytestmark = pytest.mark.slow  # devnet processes on the embedded L1 and anvil


@pytest.fixture
def devnet(l1_url: str) -> Iterator[DevnetProcess]:
    with DevnetProcess(
        l1_rpc=l1_url,
        extra_args=[
            "--checkpoint-interval",
            "0.5",
            "--challenge-window",
            "30",
            "--da-window",
            "10",
        ],
    ) as proc:
        yield proc


def test_checkpoints_anchor_the_log_and_become_final(devnet: DevnetProcess) -> None:
    w3 = Web3(Web3.HTTPProvider(devnet.l1_rpc))
    rollup = rollup_at(w3, devnet.contract)
    with RpcClient(devnet.url, token="dev") as rpc:
        status = rpc.call("attest_status")
        assert status["eip712Domain"]["verifyingContract"].lower() == devnet.contract.lower()
        assert status["l1"]["contract"].lower() == devnet.contract.lower()
        # Signed events must be signed in the deployment's domain.
        chain_id = status["eip712Domain"]["chainId"]
        out = rpc.call("attest_submitBatch", [unsigned(i) for i in range(50)])
        rpc.call("attest_submit", signed(ALICE_KEY, 1, chain_id=chain_id, contract=devnet.contract))
        receipt = out["receipt"]
        digest = compute_receipt_digest(
            Domain(chain_id, bytes.fromhex(devnet.contract[2:])).separator,
            receipt["firstSeq"],
            receipt["count"],
            bytes.fromhex(receipt["leavesRoot"][2:]),
            receipt["deadline"],
        )
        sig = bytes.fromhex(receipt["signature"][2:])
        assert (
            recover_signer(digest, sig[64], sig[:32], sig[32:64]).hex() == receipt["sequencer"][2:]
        )

        size = rpc.call("attest_status")["treeSize"]
        cp = wait_for(
            lambda: (
                (c := rpc.call("attest_getCheckpoint", "latest")) and c["treeSize"] >= size and c
            ),
            what="a checkpoint covering the events",
        )
        on_l1 = read_checkpoint(rollup, cp["index"])
        assert (on_l1.size, "0x" + on_l1.root.hex()) == (cp["treeSize"], cp["root"])
        assert on_l1.status == CheckpointStatus.PENDING and cp["status"] == "pending"
        assert (on_l1.committed_at, on_l1.challenge_ends) == (
            cp["committedAt"],
            cp["challengeEnds"],
        )
        assert cp["l1Tx"].startswith("0x") and len(cp["l1Tx"]) == 66
        # The L1 root is the log's root at that size.
        log_root = rpc.call("attest_getConsistencyProof", cp["treeSize"], cp["treeSize"])[
            "firstRoot"
        ]
        assert log_root == cp["root"]
        # Every checkpoint extends the previous one, so all roots agree with the log.
        for i in range(rollup.functions.checkpointCount().call()):
            c = read_checkpoint(rollup, i)
            assert (
                "0x" + c.root.hex()
                == rpc.call("attest_getConsistencyProof", c.size, c.size)["firstRoot"]
            )
            # docs/spec.md §8 rule 4: no record stamped after the commit time of its checkpoint
            # (L1 seconds vs record milliseconds): an honest sequencer is never slashable.
            assert rpc.call("attest_getEvent", c.size - 1)["timestamp"] <= c.committed_at * 1000

        # A proof against the checkpoint verifies against L1's root.
        proof = rpc.call("attest_getProof", out["events"][7]["seq"], {"checkpoint": cp["index"]})
        assert proof["root"] == cp["root"] and proof["treeSize"] == cp["treeSize"]

        # Finality after the window, computed on L1 without anyone sending a transaction.
        # (Pinned to the window's end: the chain's clock runs ahead of wall time when blocks
        # come faster than one a second, so a relative evm_increaseTime may fall short.)
        w3.provider.make_request("evm_setNextBlockTimestamp", [cp["challengeEnds"]])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        assert read_checkpoint(rollup, cp["index"]).status == CheckpointStatus.FINAL
        final = wait_for(lambda: rpc.call("attest_getCheckpoint", "finalized"), what="finality")
        assert final["index"] >= cp["index"] and final["status"] == "final"
        fin_proof = rpc.call("attest_getProof", 3, {"checkpoint": "finalized"})
        assert fin_proof["checkpoint"]["status"] == "final"
        lag = rpc.call("attest_status")["checkpointLag"]
        assert lag is not None and lag >= 0


def test_checkpoint_turns_final_on_an_idle_l1(l1_url: str) -> None:
    """Nobody sends a transaction after the commit, yet L1 time moves (a block every second)
    and the contract's status reaches FINAL after the window plus two block intervals."""
    window = 10  # contract v2 refuses a challenge window under 10 s (MIN_CHALLENGE_WINDOW)
    with (
        DevnetProcess(
            l1_rpc=l1_url,
            extra_args=[
                "--checkpoint-interval",
                "0.5",
                "--challenge-window",
                str(window),
                "--da-window",
                "2",
            ],
        ) as devnet,
        RpcClient(devnet.url, token="dev") as rpc,
    ):
        rpc.call("attest_submit", unsigned(1))
        cp = wait_for(lambda: rpc.call("attest_getCheckpoint", "latest"), what="a checkpoint")
        l1 = RollupReader(devnet.l1_rpc, devnet.contract)
        sequencer = Account.from_key(DEV_KEYS[0]).address
        nonce = l1.w3.eth.get_transaction_count(sequencer)
        assert l1.checkpoint(cp["index"]).status == CheckpointStatus.PENDING
        assert l1.latest_finalized() is None
        final_by = cp["challengeEnds"] + 2 * L1_BLOCK_TIME_S
        # L1 time, as the contract sees it, reaches the window's end by itself.
        wait_for(
            lambda: l1.latest_block_time() >= cp["challengeEnds"],
            timeout=window + 4 * L1_BLOCK_TIME_S + 5,
            what="L1 time to pass the window",
        )
        assert time.time() <= final_by + 1, "L1 time lagged the wall clock by more than a second"
        assert l1.checkpoint(cp["index"]).status == CheckpointStatus.FINAL
        assert l1.latest_finalized() == cp["index"]
        assert l1.w3.eth.get_transaction_count(sequencer) == nonce  # idle: nothing was sent
        fin = wait_for(
            lambda: rpc.call("attest_getCheckpoint", "finalized"), what="the sequencer to see it"
        )
        assert fin["index"] == cp["index"]


def _send(w3: Web3, key: bytes, fn: Any) -> int:
    """Send for real with a fixed gas limit (no estimate to fail early); the receipt status."""
    account = Account.from_key(key)
    tx = fn.build_transaction(
        {
            "from": account.address,
            "gas": 1_000_000,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        }
    )
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    return int(w3.eth.wait_for_transaction_receipt(tx_hash)["status"])


def test_commits_by_others_or_with_wrong_proofs_are_refused(devnet: DevnetProcess) -> None:
    w3 = Web3(Web3.HTTPProvider(devnet.l1_rpc))
    rollup = rollup_at(w3, devnet.contract)
    with RpcClient(devnet.url, token="dev") as rpc:
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(20)])
        cp = wait_for(lambda: rpc.call("attest_getCheckpoint", "latest"), what="a checkpoint")
    stranger = Account.from_key(DEV_KEYS[2]).address
    with pytest.raises(ContractLogicError, match="not the sequencer"):
        rollup.functions.commit(cp["treeSize"] + 1, b"\x11" * 32, [], 0).call({"from": stranger})
    sequencer = Account.from_key(DEV_KEYS[0]).address
    bogus = [b"\x22" * 32] * 3
    with pytest.raises(ContractLogicError, match="proof does not reproduce"):
        rollup.functions.commit(cp["treeSize"] + 1, b"\x11" * 32, bogus, 0).call(
            {"from": sequencer}
        )
    count = rollup.functions.checkpointCount().call()
    # And sent for real, it reverts and leaves no checkpoint behind.
    assert (
        _send(w3, DEV_KEYS[2], rollup.functions.commit(cp["treeSize"] + 1, b"\x11" * 32, [], 0))
        == 0
    )
    assert rollup.functions.checkpointCount().call() == count


def test_l1_outage_does_not_stop_ingest() -> None:
    node, l1_rpc = start_devnet_subprocess(port=0)
    try:
        with (
            DevnetProcess(
                l1_rpc=l1_rpc,
                extra_args=[
                    "--checkpoint-interval",
                    "0.5",
                    "--l1-timeout",
                    "1",
                ],
            ) as devnet,
            RpcClient(devnet.url, token="dev") as rpc,
        ):
            rpc.call("attest_submitBatch", [unsigned(i) for i in range(10)])
            wait_for(
                lambda: (c := rpc.call("attest_getCheckpoint", "latest")) and c["treeSize"] == 10,
                what="a checkpoint of the first 10 events",
            )
            s = scrape(rpc)
            assert (
                s("attest_l1_up"),
                s("attest_checkpoint_tree_size"),
                s("attest_checkpoint_lag_events"),
            ) == (1, 10, 0)
            assert s("attest_l1_rounds_total") >= 1
            os.kill(node.pid, signal.SIGSTOP)  # L1 hangs: every call times out
            try:
                out = rpc.call("attest_submitBatch", [unsigned(100 + i) for i in range(10)])
                assert len(out["events"]) == 10  # ingest goes on, durable as ever
                health = wait_for(
                    lambda: (h := rpc.call("attest_status")["l1"]) and not h["up"] and h,
                    what="the committer to notice the outage",
                )
                assert health["lastError"]
                s = scrape(rpc)
                assert (
                    s("attest_l1_up"),
                    s("attest_checkpoint_tree_size"),
                    s("attest_checkpoint_lag_events"),
                ) == (0, 10, 10)
                assert s("attest_l1_commit_failures_total") >= 1 and s("attest_tree_size") == 20
            finally:
                os.kill(node.pid, signal.SIGCONT)
            size = rpc.call("attest_status")["treeSize"]
            cp = wait_for(
                lambda: (
                    (c := rpc.call("attest_getCheckpoint", "latest"))
                    and c["treeSize"] >= size
                    and c
                ),
                timeout=60,
                what="recovery after the outage",
            )
            assert cp["status"] == "pending"
            assert rpc.call("attest_status")["l1"]["up"] is True
    finally:
        stop_process(node)


def test_restart_never_double_commits_and_l1_deploy_cli(devnet_url: str, tmp_path: Path) -> None:
    # `attest l1 deploy` on a real node, with the key from the environment (never argv).
    env = {**os.environ, "DEPLOYER_KEY": "0x" + DEV_KEYS[0].hex()}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "--log-level",
            "WARNING",
            "l1",
            "deploy",
            "--l1-rpc",
            devnet_url,
            "--key-env",
            "DEPLOYER_KEY",
            "--challenge-window",
            "60",
            "--da-window",
            "10",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    m = re.search(r"rollup deployed at (0x[0-9a-fA-F]{40})", out)
    assert m, out
    contract = m.group(1)
    w3 = Web3(Web3.HTTPProvider(devnet_url))
    rollup = rollup_at(w3, contract)
    assert w3.eth.get_code(contract) and rollup.functions.bond().call() > 0

    args = ["--l1-rpc", devnet_url, "--contract", contract, "--checkpoint-interval", "0.3"]
    with (
        SequencerProcess(tmp_path / "seq", extra_args=args) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(30)])
        wait_for(lambda: rpc.call("attest_getCheckpoint", "latest"), what="a checkpoint")
        assert seq.stop() == 0  # SIGTERM: a clean exit
    count = rollup.functions.checkpointCount().call()
    with (
        SequencerProcess(tmp_path / "seq", extra_args=args) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        # Three whole committer rounds with nothing new: L1 already holds the head.
        wait_for_rounds(
            lambda: rpc.call("attest_status")["l1"]["rounds"], 3, what="committer rounds"
        )
        assert rollup.functions.checkpointCount().call() == count
        assert rpc.call("attest_getCheckpoint", "latest")["index"] == count - 1
        rpc.call("attest_submitBatch", [unsigned(100 + i) for i in range(5)])
        size = rpc.call("attest_status")["treeSize"]
        cp = wait_for(
            lambda: (
                (c := rpc.call("attest_getCheckpoint", "latest")) and c["treeSize"] == size and c
            ),
            what="the next checkpoint",
        )
        assert cp["index"] == count and rollup.functions.checkpointCount().call() == count + 1


def test_devnet_starts_a_validator_that_follows_and_serves_reads() -> None:
    with DevnetProcess(validator=True, extra_args=["--checkpoint-interval", "0.5"]) as devnet:
        assert devnet.validator_url is not None
        with RpcClient(devnet.url, token="dev") as rpc, RpcClient(devnet.validator_url) as replica:
            out = rpc.call("attest_submitBatch", [unsigned(i) for i in range(40)])
            size = rpc.call("attest_status")["treeSize"]
            wait_for(
                lambda: replica.call("attest_status")["treeSize"] >= size,
                timeout=60,
                what="the validator to replicate the log",
            )
            seq = out["events"][5]["seq"]
            theirs = replica.call("attest_getEvent", seq)
            # A follower labels what no live checkpoint covers yet (docs/validator.md).
            assert isinstance(theirs.pop("provisional"), bool)
            assert theirs == rpc.call("attest_getEvent", seq)
            assert (
                replica.call("attest_getProof", seq)["root"]
                == rpc.call("attest_getConsistencyProof", size, size)["firstRoot"]
            )


def test_a_receipt_deadline_beyond_the_receipt_horizon_is_refused_at_start(
    devnet_url: str, tmp_path: Path
) -> None:
    """A receipt whose deadline outlives `receiptHorizon()` could be claimed against the bond
    of the epoch after a recovery (docs/spec.md §9.2): `attest serve` refuses to start with one
    line naming the setting and the contract's horizon, before it signs anything."""
    from l1_contracts.contract import deploy_rollup

    w3 = Web3(Web3.HTTPProvider(devnet_url))
    owner, sequencer = Account.from_key(DEV_KEYS[0]), Account.from_key(DEV_KEYS[3])
    rollup = deploy_rollup(
        w3, sequencer.address, owner.address, 60, 10, 10**18, receipt_horizon=900
    )
    config = tmp_path / "serve.toml"
    config.write_text("[serve]\nreceipt_deadline_s = 901\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "serve",
            "--dev",
            "--data-dir",
            str(tmp_path / "seq"),
            "--config",
            str(config),
            "--l1-rpc",
            devnet_url,
            "--contract",
            rollup.address,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "receipt_deadline_s" in lines[0] and "receiptHorizon() of 900 s" in lines[0], lines
    assert not (tmp_path / "seq" / "log").exists()  # refused before the store was opened
