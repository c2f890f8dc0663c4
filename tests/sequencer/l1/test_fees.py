"""The EIP-1559 fee policy, replacement and the nonce journal: pure rules first, then on anvil
with interval mining, a base fee spiked 100x (`anvil_setNextBlockBaseFeePerGas`) while a commit
is in flight, a fee ceiling that holds it back, and a restart mid-replacement."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_ADDRESSES, DEV_KEYS, SEQUENCER_ADDRESS
from prover.checkpoint import CheckpointStatus
from prover.errors import L1Error
from sequencer.devnet.process import SequencerProcess
from sequencer.l1.account import L1Client
from sequencer.l1.fees import GWEI, FeePolicy, Fees, bump_fees, compute_fees
from sequencer.l1.sender import InFlight, NonceJournal
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.sequencer.l1.anvil_kit import anvil_rpc, bonded, commit_in_background
from tests.waiting import recorded_checkpoint, wait_for

# --- the rules ---------------------------------------------------------------------------------


def _history(base_fees: list[int], tips: list[int]) -> dict[str, Any]:
    return {
        "oldestBlock": "0x1",
        "baseFeePerGas": [hex(b) for b in base_fees],
        "gasUsedRatio": [0.5] * len(tips),
        "reward": [[hex(t)] for t in tips],
    }


def test_fees_follow_the_history_within_the_ceiling() -> None:
    policy = FeePolicy(max_fee_per_gas=100 * GWEI)
    # Median of the tips paid (empty blocks' zero tips carry no information); twice the next
    # block's base fee plus the tip.
    fees = compute_fees(_history([10 * GWEI, 11 * GWEI, 12 * GWEI], [GWEI, 0, 3 * GWEI]), policy)
    assert fees == Fees(24 * GWEI + 2 * GWEI, 2 * GWEI)
    # An idle chain: the minimum tip.
    assert compute_fees(_history([7, 7], [0]), policy) == Fees(14 + GWEI // 10, GWEI // 10)
    # A spike beyond the ceiling: the ceiling.
    assert compute_fees(_history([0, 90 * GWEI], [GWEI]), policy).max_fee_per_gas == 100 * GWEI


def test_replacement_bumps_both_fees_and_stops_at_the_ceiling() -> None:
    policy = FeePolicy(max_fee_per_gas=100 * GWEI)
    last = Fees(16 * GWEI, 2 * GWEI)
    # Nothing changed on chain: +12.5% on both (a pool refuses less than +10%).
    assert bump_fees(last, last, policy) == Fees(18 * GWEI, 2 * GWEI + GWEI // 4)
    # The chain asks for more: the fresh fees.
    assert bump_fees(last, Fees(60 * GWEI, 5 * GWEI), policy) == Fees(60 * GWEI, 5 * GWEI)
    # Capped at the ceiling, and no replacement once the ceiling leaves no room for +12.5%.
    assert bump_fees(last, Fees(500 * GWEI, 5 * GWEI), policy) == Fees(100 * GWEI, 5 * GWEI)
    assert bump_fees(Fees(95 * GWEI, 2 * GWEI), Fees(500 * GWEI, 2 * GWEI), policy) is None


def test_journal_survives_a_restart(tmp_path: Path) -> None:
    journal = NonceJournal(tmp_path / "sender.json")
    assert journal.load() is None
    entry = InFlight(
        7, "commit(3)", {"to": "0x" + "11" * 20, "data": "0x01", "gas": 1}, (5, 1), ["0xab"]
    )
    journal.save(entry)
    assert NonceJournal(tmp_path / "sender.json").load() == entry
    journal.save(None)
    assert journal.load() is None


# --- on anvil --------------------------------------------------------------------------------


def _spike_under_a_commit(
    w3: Web3, l1: L1Client, factor: int
) -> tuple[threading.Thread, dict[str, Any], Fees]:
    """Send a commit with today's fees and spike the next block's base fee `factor`x above
    them before any block can include it (mining paused around the send)."""
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    initial = l1.sender.fees_now()
    thread, out = commit_in_background(l1, 1)
    wait_for(
        lambda: l1.sender.in_flight is not None and l1.sender.in_flight.hashes,
        timeout=20,
        what="the commit sent",
    )
    anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(factor * initial.max_fee_per_gas))
    anvil_rpc(w3, "evm_setIntervalMining", 1)
    return thread, out, initial


def test_a_fee_spike_is_met_by_replacement_and_nothing_is_double_committed(
    anvil: str, tmp_path: Path
) -> None:
    d = bonded(anvil, challenge_window=60, da_window=10)
    w3 = d.w3
    l1 = L1Client(anvil, d.contract, DEV_KEYS[0])
    l1.sender.policy = FeePolicy(replace_after_blocks=2)
    l1.sender.attach_journal(NonceJournal(tmp_path / "sender.json"))
    nonce = w3.eth.get_transaction_count(SEQUENCER_ADDRESS)
    thread, out, initial = _spike_under_a_commit(w3, l1, 100)
    thread.join(timeout=90)
    assert "sent" in out, out
    # Landed by a replacement at the spiked price: the same nonce, one checkpoint.
    assert l1.sender.replacements >= 1
    tx = w3.eth.get_transaction(out["sent"].tx_hash)
    assert tx["nonce"] == nonce and tx["maxFeePerGas"] > 100 * initial.max_fee_per_gas // 2
    assert l1.checkpoint_count() == 1
    assert w3.eth.get_transaction_count(SEQUENCER_ADDRESS) == nonce + 1
    assert NonceJournal(tmp_path / "sender.json").load() is None  # nothing left in flight


def test_the_ceiling_holds_and_a_restart_finishes_the_same_nonce(
    anvil: str, tmp_path: Path
) -> None:
    d = bonded(anvil, challenge_window=60, da_window=10)
    w3 = d.w3
    journal_path = tmp_path / "sender.json"
    nonce = w3.eth.get_transaction_count(SEQUENCER_ADDRESS)
    first = L1Client(anvil, d.contract, DEV_KEYS[0])
    fees = first.sender.fees_now()
    # A ceiling of 10x today's fee against a 100x spike: the commit cannot land, and the
    # sender gives up waiting with the transaction still journaled (as a crash would leave it).
    first.sender.policy = FeePolicy(
        replace_after_blocks=2, max_fee_per_gas=10 * fees.max_fee_per_gas
    )
    first.sender.timeout_s = 10
    first.sender.attach_journal(NonceJournal(journal_path))
    thread, out, initial = _spike_under_a_commit(w3, first, 100)
    thread.join(timeout=60)
    assert isinstance(out.get("error"), L1Error) and "not mined" in str(out["error"]), out
    left = NonceJournal(journal_path).load()
    assert left is not None and left.nonce == nonce and left.fees[0] <= 10 * fees.max_fee_per_gas
    assert l1_checkpoints(first) == 0

    # A restarted sender with a higher ceiling finishes the same nonce; the next commit goes
    # after it, so the first is never sent twice.
    second = L1Client(anvil, d.contract, DEV_KEYS[0])
    second.sender.policy = FeePolicy(replace_after_blocks=2)
    second.sender.attach_journal(NonceJournal(journal_path))
    assert second.sender.in_flight is not None and second.sender.in_flight.nonce == nonce
    receipt = second.sender.resume()
    assert receipt["status"] == 1
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == nonce
    assert l1_checkpoints(second) == 1
    after = second.sender.send(
        {
            "to": w3.eth.accounts[1],
            "value": 1,
            "gas": 21_000,
            "chainId": w3.eth.chain_id,
            "data": "0x",
        },
        "a transfer",
    )
    assert w3.eth.get_transaction(after["transactionHash"])["nonce"] == nonce + 1
    assert l1_checkpoints(second) == 1 and initial.max_fee_per_gas > 0


def l1_checkpoints(l1: L1Client) -> int:
    return l1.checkpoint_count()


def test_sequencer_killed_mid_replacement_commits_once_after_restart(
    anvil: str, tmp_path: Path
) -> None:
    """The committer's commit is stuck under a spike its fee ceiling cannot meet; the sequencer
    is SIGKILLed; restarted with a higher ceiling it finishes the journaled nonce and never
    commits the same size again."""
    d = bonded(anvil, challenge_window=60, da_window=10)
    w3 = d.w3
    rollup = d.rollup
    today = rollup.sender.fees_now().max_fee_per_gas
    ceiling_gwei = 10 * today / GWEI
    args = d.serve_args(0.3)
    nonce = w3.eth.get_transaction_count(SEQUENCER_ADDRESS)
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    seq = SequencerProcess(
        tmp_path / "seq", extra_args=[*args, "--l1-max-fee-gwei", f"{ceiling_gwei:.9f}"]
    )
    try:
        with RpcClient(seq.url, token="dev") as rpc:
            rpc.call("attest_submit", unsigned(1))
            wait_for(
                lambda: (
                    rpc.request("GET", "/health")
                    and orjson.loads(rpc.request("GET", "/health").body)["l1"][
                        "pendingTransactions"
                    ]
                    == 1
                ),
                timeout=30,
                what="the commit sent and unmined",
            )
        # 1000x: decaying 12.5% a block, the base fee stays above the old ceiling for ~35
        # blocks, so only a replacement can land the commit in the time allowed below.
        anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(1000 * today))
        anvil_rpc(w3, "evm_setIntervalMining", 1)
        # Several blocks: the committer tries to replace up to its ceiling, in vain.
        start = w3.eth.block_number
        wait_for(lambda: w3.eth.block_number >= start + 4, what="four blocks under the spike")
        assert rollup.checkpoint_count() == 0
        seq.kill()  # SIGKILL, mid-replacement
    finally:
        seq.stop()
    restarted = [*args, "--l1-max-fee-gwei", f"{10_000 * today / GWEI:.9f}"]
    with (
        SequencerProcess(tmp_path / "seq", extra_args=restarted) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        wait_for(
            lambda: rollup.checkpoint_count() == 1, timeout=20, what="the journaled commit to land"
        )
        assert rollup.checkpoint(0).size == 1
        cp = wait_for(lambda: recorded_checkpoint(rpc, 0), what="the sequencer's record")
        landed = w3.eth.get_transaction(cp["l1Tx"])
        # A replacement (above the first run's ceiling), at the journaled nonce, in the open.
        assert landed["nonce"] == nonce and landed["maxFeePerGas"] > 10 * today
        health = orjson.loads(rpc.request("GET", "/health").body)["l1"]
        assert health["replacements"] >= 1
        metrics = rpc.request("GET", "/metrics").body.decode()
        assert re.search(r"^attest_l1_replacements [1-9]", metrics, flags=re.M), metrics
        rpc.call("attest_submit", unsigned(2))
        wait_for(lambda: rollup.checkpoint_count() == 2, timeout=60, what="the next commit")
        assert rollup.checkpoint(1).size == 2  # size 1 was never committed twice
        assert w3.eth.get_transaction_count(SEQUENCER_ADDRESS) == nonce + 2


@pytest.mark.slow  # a spike that decays for a dozen blocks
def test_a_running_sequencer_keeps_every_receipt_deadline_through_a_100x_spike(
    anvil: str, tmp_path: Path
) -> None:
    """`attest serve` on anvil mining every second: a commit is in the pool at today's fees when
    the base fee jumps 100x, and clients keep submitting through the spike. Every commit lands
    — the stuck one by a replacement at the spiked price — before the deadline of every receipt
    it covers; one transaction per checkpoint, sizes strictly growing (nothing committed
    twice)."""
    d = bonded(anvil, challenge_window=60, da_window=10)
    w3 = d.w3
    rollup = d.rollup
    today = rollup.sender.fees_now().max_fee_per_gas
    nonce = w3.eth.get_transaction_count(SEQUENCER_ADDRESS)
    first_block = w3.eth.block_number + 1  # the deployment's transactions are not the service's
    with (
        d.serve(tmp_path, checkpoint_interval=0.5, receipt_deadline_s=60, margin=10) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        receipts = [rpc.call("attest_submit", unsigned(0))["receipt"]]
        wait_for(lambda: rollup.checkpoint_count() == 1, timeout=30, what="a first commit")
        # A commit sent at today's fees, held in the pool while the next block's base fee is
        # set 100x above them.
        anvil_rpc(w3, "evm_setIntervalMining", 0)
        receipts.append(rpc.call("attest_submit", unsigned(1))["receipt"])
        # (The pool itself is asked: /health's count is a second old, and may still be the
        # first commit's.)
        wait_for(
            lambda: (
                str(nonce + 1)
                in {
                    str(int(n, 0)) if n.startswith("0x") else n
                    for a, txs in anvil_rpc(w3, "txpool_content")["pending"].items()
                    if a.lower() == SEQUENCER_ADDRESS.lower()
                    for n in txs
                }
            ),
            timeout=30,
            what="the second commit in the pool",
        )
        anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(100 * today))
        anvil_rpc(w3, "evm_setIntervalMining", 1)
        for i in range(2, 6):  # submissions go on through the spike
            receipts.append(rpc.call("attest_submit", unsigned(i))["receipt"])
        wait_for(
            lambda: rollup.last()[0] == 6, timeout=90, what="every event committed after the spike"
        )
        # What L1 cost, in the open: exactly gas x effective price of every commit it mined
        # (once the committer has read the last receipt).
        paid = sum(
            int(r["gasUsed"]) * int(r["effectiveGasPrice"])
            for r in _receipts_from(w3, SEQUENCER_ADDRESS, first_block)
        )
        health = wait_for(
            lambda: (
                (h := orjson.loads(rpc.request("GET", "/health").body)["l1"])["feesPaidWei"] == paid
                and h
            ),
            timeout=10,
            what=f"/health's feesPaidWei to reach {paid}",
        )
        assert paid > 0 and health["replacements"] >= 1, health
        metrics = rpc.request("GET", "/metrics").body.decode()
        fees_metric = re.search(r"^attest_l1_fees_paid_wei (\S+)$", metrics, flags=re.M)
        assert fees_metric is not None and float(fees_metric.group(1)) == pytest.approx(paid)
        # ... and in the structured log: each replacement a JSON line with its fields.
        logged = [orjson.loads(line) for line in seq.log_lines if line.startswith("{")]
        replaced = [e for e in logged if e["message"].startswith("replaced commit(")]
        assert replaced, [e["message"] for e in logged]
        assert {"nonce", "max_fee", "tip", "urgent"} <= replaced[0].keys()
        assert replaced[0]["nonce"] == nonce + 1 and replaced[0]["max_fee"] > today
    checkpoints = [rollup.checkpoint(i) for i in range(rollup.checkpoint_count())]
    sizes = [cp.size for cp in checkpoints]
    assert sizes == sorted(set(sizes)) and sizes[-1] == 6, sizes
    for r in receipts:
        # The first checkpoint covering the receipt's records landed by its deadline.
        covering = next(cp for cp in checkpoints if cp.size >= r["firstSeq"] + r["count"])
        assert covering.committed_at <= r["deadline"], (covering, r)
    # One transaction per checkpoint, each mined successfully; the stuck one replaced at the
    # spiked price, at its own nonce.
    assert w3.eth.get_transaction_count(SEQUENCER_ADDRESS) == nonce + len(checkpoints)
    mine = [
        w3.eth.get_transaction(r["transactionHash"])
        for r in _receipts_from(w3, SEQUENCER_ADDRESS, first_block)
    ]
    assert [r["status"] for r in _receipts_from(w3, SEQUENCER_ADDRESS, first_block)] == [1] * len(
        checkpoints
    )
    spiked = [tx for tx in mine if tx["nonce"] == nonce + 1]
    assert len(spiked) == 1 and spiked[0]["maxFeePerGas"] > 100 * today // 2


def _receipts_from(w3: Web3, address: str, first_block: int) -> list[Any]:
    """Receipts of every canonical transaction `address` sent from `first_block` on."""
    out: list[Any] = []
    for n in range(first_block, w3.eth.block_number + 1):
        block: Any = w3.eth.get_block(n, full_transactions=True)
        out += [
            w3.eth.get_transaction_receipt(tx["hash"])
            for tx in block["transactions"]
            if tx["from"] == address
        ]
    return out


@pytest.mark.slow
def test_a_validator_proof_lands_through_a_100x_spike_by_replacement(
    anvil: str, tmp_path: Path
) -> None:
    """The validator's transactions follow the same fee policy: its fraud proof is in the pool
    at today's fees when the base fee jumps 100x; it lands by a replacement at the same nonce,
    the checkpoint is reverted once, and the validator's `/health` shows the replacement and
    exactly the fees it paid."""
    d = bonded(anvil, challenge_window=600, da_window=60)
    w3 = d.w3
    rollup = d.rollup
    today = rollup.sender.fees_now().max_fee_per_gas
    validator = DEV_ADDRESSES[1]
    nonce = w3.eth.get_transaction_count(validator)
    first_block = w3.eth.block_number + 1
    args = d.serve_args(0.3)
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    with (
        SequencerProcess(tmp_path / "seq", extra_args=[*args, "--inject", "bad-signature"]) as seq,
        d.validate(seq.url, tmp_path) as val,
        RpcClient(seq.url, token="dev") as rpc,
        RpcClient(val.url) as vrpc,
    ):
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(4)])
        wait_for(lambda: _in_pool(w3, SEQUENCER_ADDRESS), timeout=30, what="the faulty commit")
        anvil_rpc(w3, "evm_mine")
        assert rollup.checkpoint_count() == 1
        wait_for(lambda: _in_pool(w3, validator), timeout=30, what="the validator's proof")
        anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(100 * today))
        anvil_rpc(w3, "evm_setIntervalMining", 1)
        wait_for(
            lambda: rollup.checkpoint(0).status == CheckpointStatus.REVERTED,
            timeout=90,
            what="the proof to land",
        )
        paid = wait_for(
            lambda: (
                (p := _fees_of(w3, validator, first_block))
                and vrpc.call("attest_status")["l1"]["feesPaidWei"] == p
                and p
            ),
            timeout=30,
            what="the validator's feesPaidWei to match its mined transactions",
        )
        l1 = vrpc.call("attest_status")["l1"]
        assert l1["replacements"] >= 1 and paid > 0, l1
    proven = rollup.contract.events.FraudProven().get_logs(from_block=first_block)
    assert len(proven) == 1 and proven[0]["args"]["challenger"] == validator
    proof = w3.eth.get_transaction(proven[0]["transactionHash"])
    assert proof["nonce"] == nonce and proof["maxFeePerGas"] > 100 * today // 2


def _in_pool(w3: Web3, address: str) -> bool:
    pending = anvil_rpc(w3, "txpool_content")["pending"]
    return address.lower() in {a.lower() for a in pending}


def _fees_of(w3: Web3, address: str, first_block: int) -> int:
    return sum(
        int(r["gasUsed"]) * int(r["effectiveGasPrice"])
        for r in _receipts_from(w3, address, first_block)
    )
