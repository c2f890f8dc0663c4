"""One end-to-end test per injected fault (`attest devnet --inject FAULT`): the validator, in
its own process, proves it inside the window; on L1 the checkpoint ends reverted, the bond is
slashed and the challenger (dev account 1) paid, net of gas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from l1_contracts.contract import read_checkpoint
from prover.checkpoint import CheckpointStatus
from prover.validity import FraudRule
from sequencer.devnet.process import DevnetProcess
from sequencer.rpc.client import RpcClient
from tests.conftest_l1 import l1_node
from tests.sequencer.events import ALICE_KEY, signed, unsigned
from tests.sequencer.validator.helpers import (
    CHALLENGE_WINDOW,
    VALIDATOR_ADDRESS,
    devnet_args,
    events,
    pin_l1_ahead,
    rollup,
    validator_for,
    wait_for,
)
from tests.waiting import wait_for_rounds

pytestmark = pytest.mark.slow  # devnet, sequencer and validator processes per fault


# fault -> the FraudProven rule the validator must land on L1.
EXPECTED = {
    "bad-signature": FraudRule.BAD_SIGNATURE,
    "wrong-seq": FraudRule.WRONG_SEQ,
    "time-travel": FraudRule.TIME_TRAVEL,
    "replay": FraudRule.REPLAY,
    "withhold-data": FraudRule.DA_UNANSWERED,
    "break-receipt": FraudRule.RECEIPT_MISMATCH,
}


def _submit(rpc: RpcClient, fault: str, chain_id: int, contract: str) -> list[tuple[Any, Any]]:
    """Events that let the fault fire; (receipt, placement) of each, for the validator."""
    if fault == "replay":
        events_ = [signed(ALICE_KEY, n, chain_id=chain_id, contract=contract) for n in (1, 2)]
    else:
        events_ = [unsigned(i) for i in range(10)]
    out = rpc.call("attest_submitBatch", events_)
    # More traffic afterwards: checkpoints keep coming, as in a live system.
    rpc.call("attest_submitBatch", [unsigned(100 + i) for i in range(5)])
    return [(out["receipt"], placement) for placement in out["events"]]


def _tx_cost(w3: Web3, tx: str) -> int:
    receipt = w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def run_fault(fault: str, tmp_path: Path, l1_rpc: str | None = None) -> None:
    with DevnetProcess(l1_rpc=l1_rpc, extra_args=devnet_args(fault)) as devnet:
        w3, contract = rollup(devnet)
        pin_l1_ahead(w3, 3)  # see test_e2e_honest: keeps rule 4b out of the picture
        bond_before = contract.functions.bond().call()
        with (
            validator_for(devnet, tmp_path / "v") as val,
            RpcClient(devnet.url, token="dev") as rpc,
            RpcClient(val.url) as vrpc,
        ):
            balance_before = w3.eth.get_balance(VALIDATOR_ADDRESS)
            chain_id = rpc.call("attest_status")["eip712Domain"]["chainId"]
            shares = _submit(rpc, fault, chain_id, devnet.contract)
            if fault == "break-receipt":
                for receipt, placement in shares:
                    assert (
                        vrpc.call("validator_watchReceipt", receipt, placement)["status"]
                        == "watching"
                    )
            proven = wait_for(
                lambda: events(contract, "FraudProven"),
                timeout=60,
                what=f"a fraud proof for {fault}",
            )
            # The validator's view rolls back with L1: the checkpoint reads as reverted, and
            # "latest" is an earlier live one (or none).
            reverted = proven[0]["args"]["checkpointIndex"]
            wait_for(
                lambda: vrpc.call("attest_getCheckpoint", reverted)["status"] == "reverted",
                what="the validator to see the revert",
            )
            latest = vrpc.call("attest_getCheckpoint", "latest")
            assert latest is None or latest["index"] < reverted
            anchored = vrpc.call("attest_status")["l1"]["anchoredSize"]
            assert anchored == (latest["treeSize"] if latest else 0)
            # The validator records its transactions once their receipts are in, a moment
            # after the event is visible on L1.
            status = wait_for(
                lambda: (
                    (st := vrpc.call("validator_status"))
                    and (
                        st["proofs"]
                        or any(
                            c.get("resolveTx") and c["state"] != "OPEN" for c in st["daChallenges"]
                        )
                    )
                    and st["claims"]
                    and st
                ),
                what="the validator to record its transactions and claim its reward",
            )
        (event,) = proven
        args = event["args"]
        assert args["rule"] == EXPECTED[fault]
        assert args["challenger"] == VALIDATOR_ADDRESS
        index = args["checkpointIndex"]
        cp = read_checkpoint(contract, index)
        # Proven inside the window: the proof's block is before the checkpoint's window end.
        proof_time = w3.eth.get_block(event["blockNumber"])["timestamp"]
        assert proof_time < cp.challenge_ends <= proof_time + CHALLENGE_WINDOW
        print(
            f"{fault}: proven {proof_time - cp.committed_at} s (L1 time) after the commit, "
            f"{cp.challenge_ends - proof_time} s before the window closed"
        )
        # The checkpoint and every later one are reverted.
        assert cp.status == CheckpointStatus.REVERTED
        for later in range(index, contract.functions.checkpointCount().call()):
            assert read_checkpoint(contract, later).status == CheckpointStatus.REVERTED
        # Slashed: the bond is gone, half of it paid to the challenger.
        assert contract.functions.bond().call() < bond_before
        assert contract.functions.frozen().call() is True
        reward = args["reward"]
        assert reward > 0
        # Paid (credited, then claimed: contract v2 pulls payments), net of gas: every
        # transaction the validator sent is in its status.
        txs = [p["tx"] for p in status["proofs"]] + [c["tx"] for c in status["claims"]]
        for c in status["daChallenges"]:
            txs += [c["openTx"], c.get("resolveTx")] if c.get("resolveTx") else [c["openTx"]]
        if fault == "withhold-data":
            assert len(status["daChallenges"]) == 1 and status["daChallenges"][0].get("resolveTx")
            assert status["daChallenges"][0]["state"] == "UPHELD"
        else:
            assert len(status["proofs"]) == 1 and status["daChallenges"] == []
        gas = sum(_tx_cost(w3, t) for t in txs)
        balance_after = w3.eth.get_balance(VALIDATOR_ADDRESS)
        assert balance_after - balance_before == reward - gas
        assert balance_after > balance_before


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_proven_on_embedded_l1(fault: str, tmp_path: Path) -> None:
    run_fault(fault, tmp_path)


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_proven_on_anvil(fault: str, tmp_path: Path, anvil_url: str) -> None:
    run_fault(fault, tmp_path, anvil_url)


def test_missed_receipt_deadline_is_proven(tmp_path: Path) -> None:
    """A receipt whose checkpoint lands only after its deadline: L1 (anvil) stops mining just
    after the receipt is given, then its next block is stamped past the deadline (the commit
    lands in it, too late). The validator holding the receipt proves it missed.

    (A sequencer configured never to commit can no longer be used for this: it refuses to
    give a receipt whose deadline it cannot keep, -32011.)"""
    with l1_node("anvil") as anvil, DevnetProcess(l1_rpc=anvil, extra_args=devnet_args()) as devnet:
        w3, contract = rollup(devnet)
        w3.provider.make_request("evm_setIntervalMining", [0])  # type: ignore[arg-type]
        bond_before = contract.functions.bond().call()
        with (
            validator_for(devnet, tmp_path / "v") as val,
            RpcClient(devnet.url, token="dev") as rpc,
            RpcClient(val.url) as vrpc,
        ):
            balance_before = w3.eth.get_balance(VALIDATOR_ADDRESS)
            out = rpc.call("attest_submitBatch", [unsigned(i) for i in range(4)])
            watched = vrpc.call("validator_watchReceipt", out["receipt"], out["events"][2])
            assert watched["status"] == "watching"
            # Three whole watcher rounds with the receipt before its deadline: nothing to prove.
            wait_for_rounds(
                lambda: vrpc.call("validator_status")["l1"]["rounds"], 3, what="watcher rounds"
            )
            assert events(contract, "FraudProven") == []
            w3.provider.make_request("evm_setNextBlockTimestamp", [out["receipt"]["deadline"] + 1])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
            (event,) = wait_for(lambda: events(contract, "FraudProven"), what="the deadline proof")
            status = wait_for(
                lambda: (
                    (st := vrpc.call("validator_status"))["receipts"][0]["tx"]
                    and st["claims"]
                    and st
                ),
                what="the validator to prove and claim",
            )
        assert event["args"]["rule"] == FraudRule.RECEIPT_DEADLINE
        assert event["args"]["challenger"] == VALIDATOR_ADDRESS
        assert contract.functions.bond().call() < bond_before and contract.functions.frozen().call()
        # The commit landed, if at all, in a block stamped past the deadline: too late for the
        # receipt, and pending when the proof froze the contract, which reverts it. (When the
        # proof is mined first, the freeze refuses the commit: no checkpoint at all.)
        late = read_checkpoint(contract, 0)
        if late.status != CheckpointStatus.NONE:
            assert late.committed_at > out["receipt"]["deadline"]
            assert late.status == CheckpointStatus.REVERTED
        (receipt,) = status["receipts"]
        assert receipt["status"] == "proven-deadline"
        gas = _tx_cost(w3, receipt["tx"]) + sum(_tx_cost(w3, c["tx"]) for c in status["claims"])
        assert (
            w3.eth.get_balance(VALIDATOR_ADDRESS) - balance_before == event["args"]["reward"] - gas
        )
