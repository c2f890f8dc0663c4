"""L1 trouble in the open, through HTTP: `/health` and `/metrics` show L1's head and its age,
the sequencer's unmined transactions, how long a commit takes (and the one in flight), and the
time left on the nearest receipt deadline no checkpoint covers yet — also while L1 is stalled.
"""

from __future__ import annotations

import math
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.anvil import AnvilNotFoundError, start_anvil, stop_process
from sequencer.devnet.process import SequencerProcess
from sequencer.l1.deploy import deploy_and_bond
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.waiting import wait_for

BLOCK_TIME_S = 1


@pytest.fixture
def l1() -> Iterator[tuple[Any, str]]:
    """A private anvil with interval mining: its mining can be paused (evm_setIntervalMining)
    and the whole node stopped (SIGSTOP) without disturbing other tests."""
    try:
        proc, url = start_anvil(port=0, block_time=BLOCK_TIME_S)
    except AnvilNotFoundError as exc:
        pytest.skip(f"anvil is not installed ({exc})")
    try:
        yield proc, url
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        stop_process(proc)


def _rpc(l1_url: str, method: str, *params: Any) -> Any:
    answer = Web3(Web3.HTTPProvider(l1_url)).provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def _health(rpc: RpcClient) -> dict[str, Any]:
    answer = rpc.request("GET", "/health")
    assert answer.status == 200
    l1: dict[str, Any] = orjson.loads(answer.body)["l1"]
    return l1


def _metric(rpc: RpcClient, name: str) -> float:
    text = rpc.request("GET", "/metrics").body.decode()
    m = re.search(rf"^{name} (\S+)$", text, flags=re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def test_health_and_metrics_show_l1_head_commits_pending_and_deadlines(
    l1: tuple[Any, str], tmp_path: Path
) -> None:
    node, l1_url = l1
    d = deploy_and_bond(l1_url, owner_key=DEV_KEYS[0], sequencer_key=DEV_KEYS[0],
                        challenge_window=60, da_window=10)
    args = ["--l1-rpc", l1_url, "--contract", d.contract, "--checkpoint-interval", "0.3",
            "--l1-timeout", "1"]
    with SequencerProcess(tmp_path / "seq", extra_args=args) as seq, \
            RpcClient(seq.url, token="dev") as rpc:
        # L1's head, seen at once; nothing promised yet.
        h = wait_for(lambda: (h := _health(rpc))["headBlock"] is not None
                     and 0 <= h["headAgeS"] < BLOCK_TIME_S + 3 and h, what="L1's head, fresh")
        assert h["pendingTransactions"] == 0 and h["nearestReceiptDeadline"] is None
        assert h["commitLatencyS"] is None and h["commitInFlightS"] is None
        assert math.isnan(_metric(rpc, "attest_receipt_deadline_seconds_left"))

        # Mining paused: a receipt promises a checkpoint by its deadline and the clock on it
        # runs; the commit is sent and waits, in flight, one unmined transaction.
        _rpc(l1_url, "evm_setIntervalMining", 0)
        deadline = rpc.call("attest_submit", unsigned(1))["receipt"]["deadline"]
        h = _health(rpc)
        assert h["nearestReceiptDeadline"] == deadline
        assert 0 < h["nearestReceiptDeadlineLeftS"] <= deadline - time.time() + 1
        h = wait_for(lambda: (h := _health(rpc))["commitInFlightS"] is not None
                     and h["pendingTransactions"] == 1 and h, timeout=30,
                     what="the commit in flight, unmined")
        assert h["nearestReceiptDeadline"] == deadline
        assert _metric(rpc, "attest_l1_commit_in_flight_seconds") > 0
        assert _metric(rpc, "attest_l1_pending_transactions") == 1
        _rpc(l1_url, "evm_setIntervalMining", BLOCK_TIME_S)
        cp = wait_for(lambda: rpc.call("attest_getCheckpoint", "latest"), what="the checkpoint")
        h = wait_for(lambda: (h := _health(rpc))["pendingTransactions"] == 0 and h, what="mined")
        assert cp["treeSize"] == 1 and h["nearestReceiptDeadline"] is None
        assert h["commitLatencyS"] > 0 and h["commitInFlightS"] is None
        assert _metric(rpc, "attest_l1_commit_latency_seconds_count") == 1
        assert _metric(rpc, "attest_l1_commit_latency_seconds_sum") == pytest.approx(h["commitLatencyS"])
        assert _metric(rpc, "attest_l1_pending_transactions") == 0
        assert math.isnan(_metric(rpc, "attest_receipt_deadline_seconds_left"))
        assert _metric(rpc, "attest_l1_head_block") >= cp["index"]

        # L1 stalls: no new blocks, no answers. The head ages in the open, the open receipt's
        # deadline counts down, and /health keeps answering.
        os.kill(node.pid, signal.SIGSTOP)
        try:
            out = rpc.call("attest_submit", unsigned(2))
            # Both show, whichever first: the age (from the last head seen) and the failing reads.
            h = wait_for(lambda: (h := _health(rpc))["headAgeS"] > BLOCK_TIME_S + 5
                         and h["headError"] and h, timeout=30, what="the head to age, the reads to fail")
            assert h["nearestReceiptDeadline"] == out["receipt"]["deadline"]
            assert _metric(rpc, "attest_l1_head_age_seconds") > BLOCK_TIME_S + 5
            left = _metric(rpc, "attest_receipt_deadline_seconds_left")
            assert 0 < left <= out["receipt"]["deadline"] - time.time() + 1
        finally:
            os.kill(node.pid, signal.SIGCONT)
        h = wait_for(lambda: (h := _health(rpc))["headAgeS"] < BLOCK_TIME_S + 2
                     and h["nearestReceiptDeadline"] is None and h, timeout=60,
                     what="recovery: a fresh head, the receipt covered")
        assert h["headError"] is None
