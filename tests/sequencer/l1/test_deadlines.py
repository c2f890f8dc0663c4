"""Receipt deadlines against a chain that stops: the rules first, then on anvil a mining pause
longer than the deadline margin — the sequencer alerts and stops promising, and once mining
resumes its commits land before every deadline it gave."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from l1_contracts.accounts import DEV_KEYS
from prover.jsonrpc import DEADLINE_AT_RISK, JsonRpcError
from sequencer.l1.account import L1Client
from sequencer.l1.deadlines import judge, urgent_fees
from sequencer.l1.fees import GWEI, FeePolicy, Fees, bump_fees
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.sequencer.l1.anvil_kit import anvil_rpc, bonded, commit_in_background
from tests.waiting import wait_for

# --- the rules ---------------------------------------------------------------------------------


def _judge(**kw: Any) -> Any:
    args: dict[str, Any] = {
        "now": 1000.0,
        "nearest_deadline": None,
        "receipt_deadline_s": 600,
        "margin_s": 60,
        "interval_s": 5,
        "last_latency_s": 12,
        "in_flight_s": None,
        "head_age_s": 3,
    }
    args.update(kw)
    return judge(**args)


def test_a_healthy_chain_promises() -> None:
    view = _judge(nearest_deadline=1500)
    assert view.estimate_s == 17 and view.nearest_left_s == 500
    assert not view.at_risk and view.refuse is None


def test_a_near_deadline_is_at_risk_and_refuses_new_receipts() -> None:
    # 70 s left; a commit takes 5 + 12 s; the margin is 60: at risk, refused.
    view = _judge(nearest_deadline=1070)
    assert view.at_risk and view.refuse is not None and "70 s left" in view.refuse
    # A commit stuck for 100 s is what counts, not the last latency.
    view = _judge(nearest_deadline=1150, in_flight_s=100)
    assert view.estimate_s == 105 and view.at_risk


def test_a_stalled_chain_refuses_even_with_nothing_open() -> None:
    # L1's head 560 s old: a new receipt's 600 s deadline could not be kept.
    view = _judge(head_age_s=560)
    assert not view.at_risk and view.refuse is not None and "could not be kept" in view.refuse
    assert _judge(head_age_s=500).refuse is None


def test_urgent_fees_climb_to_the_ceiling_as_the_deadline_nears() -> None:
    policy = FeePolicy(max_fee_per_gas=100 * GWEI)
    last = Fees(10 * GWEI, GWEI)
    fresh = Fees(10 * GWEI, GWEI)
    far = urgent_fees(last, fresh, policy, left_s=60, window_s=60)
    half = urgent_fees(last, fresh, policy, left_s=30, window_s=60)
    none_left = urgent_fees(last, fresh, policy, left_s=0, window_s=60)
    assert far == bump_fees(last, fresh, policy)  # no urgency: the normal replacement
    assert far is not None and half is not None and none_left is not None
    assert far.max_fee_per_gas < half.max_fee_per_gas < none_left.max_fee_per_gas
    assert half.max_fee_per_gas == 55 * GWEI and half.max_priority_fee_per_gas == GWEI * 3 // 2
    assert none_left.max_fee_per_gas == 100 * GWEI  # the ceiling, never beyond
    # At the ceiling already: no valid replacement left.
    assert urgent_fees(Fees(100 * GWEI, GWEI), fresh, policy, left_s=0, window_s=60) is None


# --- on anvil ------------------------------------------------------------------------------------


def _health(rpc: RpcClient) -> dict[str, Any]:
    l1: dict[str, Any] = orjson.loads(rpc.request("GET", "/health").body)["l1"]
    return l1


@pytest.mark.slow  # a 25 s mining pause
def test_a_mining_pause_stops_promises_and_every_receipt_is_kept(
    anvil: str, tmp_path: Path
) -> None:
    """Receipts promise 40 s, the margin is 10 s, and anvil stops mining for ~25 s with a
    commit in flight: the sequencer alerts and refuses new submissions (-32011) before the
    nearest deadline gets closer than a commit takes, and when mining resumes the commit
    lands before every deadline it gave; then it promises again."""
    d = bonded(anvil, challenge_window=60, da_window=10)
    w3 = d.w3
    rollup = d.rollup
    with (
        d.serve(tmp_path, checkpoint_interval=0.5, receipt_deadline_s=40, margin=10) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        first = rpc.call("attest_submit", unsigned(1))
        wait_for(lambda: rollup.checkpoint_count() == 1, timeout=30, what="a first commit")
        wait_for(lambda: _health(rpc)["refusingReceipts"] is None, what="a healthy judgement")
        # Mining stops; the next submission's commit is sent and stays in the pool.
        anvil_rpc(w3, "evm_setIntervalMining", 0)
        anvil_rpc(w3, "evm_setAutomine", False)
        paused_at = w3.eth.get_block("latest")["timestamp"]
        receipts = [first["receipt"]]
        receipts.append(rpc.call("attest_submit", unsigned(2))["receipt"])
        wait_for(lambda: _health(rpc)["pendingTransactions"] == 1, what="the commit in the pool")
        # The alert: at risk, refusing, in /health and /metrics; submissions refused.
        l1 = wait_for(
            lambda: (h := _health(rpc))["deadlineAtRisk"] and h, timeout=40, what="the alert"
        )
        assert l1["refusingReceipts"] and "at risk" in l1["refusingReceipts"]
        assert l1["nearestReceiptDeadline"] == receipts[1]["deadline"]
        # Refused while still ahead of the deadline by more than the margin's worth of a commit.
        assert l1["nearestReceiptDeadlineLeftS"] > 5, l1
        with pytest.raises(JsonRpcError) as refused:
            rpc.call("attest_submit", unsigned(3))
        assert refused.value.code == DEADLINE_AT_RISK
        assert "retryAfterMs" in refused.value.data
        assert "deadline" in refused.value.message
        metrics = rpc.request("GET", "/metrics").body.decode()
        assert "attest_receipt_deadline_at_risk 1.0" in metrics
        assert "attest_receipts_refused_now 1.0" in metrics
        assert 'attest_events_rejected_total{reason="deadline"} 1.0' in metrics
        assert rollup.checkpoint_count() == 1  # nothing mined during the pause
        # Mining resumes: the commit lands before the deadline; promises resume.
        anvil_rpc(w3, "evm_setIntervalMining", 1)
        wait_for(lambda: rollup.checkpoint_count() == 2, timeout=30, what="the stuck commit")
        cp = rollup.checkpoint(1)
        assert cp.size == 2
        assert cp.committed_at <= receipts[1]["deadline"], (cp, receipts)
        assert cp.committed_at - paused_at >= 15  # the pause was longer than the margin
        wait_for(lambda: _health(rpc)["refusingReceipts"] is None, what="promises again")
        third = rpc.call("attest_submit", unsigned(3))
        assert third["receipt"]["deadline"] >= receipts[1]["deadline"]
        wait_for(lambda: rollup.checkpoint_count() == 3, timeout=30, what="the next commit")
        assert rollup.checkpoint(2).committed_at <= third["receipt"]["deadline"]
        assert _health(rpc)["deadlineAtRisk"] is False
        # The structured log says both turns, each a JSON line with its figures.
        logged = [orjson.loads(line) for line in seq.log_lines if line.startswith("{")]
        risk = [e for e in logged if e["message"].startswith("receipt deadline at risk")]
        safe = [e for e in logged if e["message"].startswith("receipt deadlines safe again")]
        assert len(risk) == 1 and risk[0]["level"] == "WARNING", [e["message"] for e in logged]
        assert {"reason", "nearest_left_s", "commit_estimate_s", "at_risk"} <= risk[0].keys()
        assert len(safe) == 1 and {"nearest_left_s", "commit_estimate_s"} <= safe[0].keys()


def test_a_near_deadline_pushes_fees_beyond_the_schedule(anvil: str) -> None:
    """The base fee jumps 20x under a commit whose normal schedule replaces it only after 10
    blocks; its receipt deadline is 8 s away: it is replaced every block with a max fee above
    the fresh bid, climbing towards the ceiling, and lands in time."""
    d = bonded(anvil, challenge_window=60, da_window=10)
    w3 = d.w3
    l1 = L1Client(anvil, d.contract, DEV_KEYS[0])
    today = l1.sender.fees_now()
    ceiling = 100 * today.max_fee_per_gas
    l1.sender.policy = FeePolicy(replace_after_blocks=10, max_fee_per_gas=ceiling)
    l1.sender.urgent_window_s = 10
    l1.sender.deadline_at = time.time() + 8
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    thread, out = commit_in_background(l1, 1)
    wait_for(
        lambda: l1.sender.in_flight is not None and l1.sender.in_flight.hashes,
        what="the commit sent",
    )
    spiked = 20 * today.max_fee_per_gas
    anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(spiked))
    anvil_rpc(w3, "evm_setIntervalMining", 1)
    start = w3.eth.block_number
    thread.join(timeout=30)
    assert "sent" in out, out
    landed = w3.eth.get_transaction(out["sent"].tx_hash)
    assert l1.sender.urgent_replacements >= 1
    assert out["sent"].block_number - start < 10  # sooner than the normal schedule allows
    # The fresh bid under the spike is twice the base fee plus the tip (~2 x spiked); the
    # urgent one is above it, and never above the ceiling.
    assert 2 * spiked < landed["maxFeePerGas"] <= ceiling, (landed["maxFeePerGas"], spiked)
    assert w3.eth.get_block(out["sent"].block_number)["timestamp"] <= l1.sender.deadline_at
    assert l1.checkpoint_count() == 1
