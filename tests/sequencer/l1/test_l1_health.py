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

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.devnet_node import start_devnet_subprocess, stop_process
from sequencer.devnet.process import SequencerProcess
from sequencer.l1.deploy import deploy_and_bond
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.waiting import wait_for

BLOCK_TIME_S = 3  # slow blocks: a commit waits long enough to be seen in flight


@pytest.fixture
def slow_l1() -> Iterator[tuple[Any, str]]:
    proc, url = start_devnet_subprocess(port=0, block_time=BLOCK_TIME_S)
    try:
        yield proc, url
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        stop_process(proc)


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


def _seen_in_flight(rpc: RpcClient, tree_size: int) -> bool:
    """Whether `/health` shows the commit of the first `tree_size` events in flight before its
    checkpoint lands; polled every 50 ms. (Its transaction sits unmined in the pool for a moment
    only, the last part of a block interval: `pendingTransactions == 1` is shown where mining
    is paused, tests/sequencer/l1/test_deadlines.py.)"""
    deadline = time.monotonic() + 3 * BLOCK_TIME_S + 10
    while time.monotonic() < deadline:
        h = _health(rpc)
        if h["commitInFlightS"] is not None:
            return True
        latest = rpc.call("attest_getCheckpoint", "latest")  # None before the first
        landed = latest is not None and latest["treeSize"] >= tree_size
        if landed and h["pendingTransactions"] == 0:
            return False
        time.sleep(0.05)
    raise AssertionError(f"the commit of {tree_size} events neither flew nor landed")


def test_health_and_metrics_show_l1_head_commits_pending_and_deadlines(
    slow_l1: tuple[Any, str], tmp_path: Path
) -> None:
    node, l1_url = slow_l1
    d = deploy_and_bond(
        l1_url, owner_key=DEV_KEYS[0], sequencer_key=DEV_KEYS[0], challenge_window=60, da_window=10
    )
    args = [
        "--l1-rpc",
        l1_url,
        "--contract",
        d.contract,
        "--checkpoint-interval",
        "0.3",
        "--l1-timeout",
        "1",
    ]
    with (
        SequencerProcess(tmp_path / "seq", extra_args=args) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        # L1's head, seen at once; nothing promised yet.
        h = wait_for(lambda: (h := _health(rpc))["headBlock"] is not None and h, what="L1's head")
        assert 0 <= h["headAgeS"] < BLOCK_TIME_S + 3, h
        assert h["pendingTransactions"] == 0 and h["nearestReceiptDeadline"] is None
        assert h["commitLatencyS"] is None and h["commitInFlightS"] is None
        assert math.isnan(_metric(rpc, "attest_receipt_deadline_seconds_left"))

        # A receipt promises a checkpoint by its deadline: the clock on it starts at once.
        deadline = rpc.call("attest_submit", unsigned(1))["receipt"]["deadline"]
        h = _health(rpc)
        if h["nearestReceiptDeadline"] is not None:  # not yet covered (the commit takes a block)
            assert h["nearestReceiptDeadline"] == deadline
            assert 0 < h["nearestReceiptDeadlineLeftS"] <= deadline - time.time() + 1

        # The commit waits for the next block: in flight for a part of a block interval, so a
        # poll may miss it; then the next event's commit is watched, until one is seen.
        submitted = 1
        while not _seen_in_flight(rpc, submitted):
            assert submitted < 8, "no commit was ever seen in flight in /health"
            submitted += 1
            rpc.call("attest_submit", unsigned(submitted))
        cp = wait_for(
            lambda: (
                (c := rpc.call("attest_getCheckpoint", "latest"))
                and c["treeSize"] == submitted
                and c
            ),
            what="the checkpoint",
        )
        h = wait_for(lambda: (h := _health(rpc))["pendingTransactions"] == 0 and h, what="mined")
        assert h["nearestReceiptDeadline"] is None
        assert 0 < h["commitLatencyS"] < 3 * BLOCK_TIME_S + 10 and h["commitInFlightS"] is None
        assert _metric(rpc, "attest_l1_commit_latency_seconds_count") == submitted
        assert (
            0
            < _metric(rpc, "attest_l1_commit_latency_seconds_sum")
            <= submitted * (3 * BLOCK_TIME_S + 10)
        )
        assert _metric(rpc, "attest_l1_pending_transactions") == 0
        assert math.isnan(_metric(rpc, "attest_receipt_deadline_seconds_left"))
        assert _metric(rpc, "attest_l1_head_block") >= cp["index"]

        # L1 stalls: no new blocks, no answers. The head ages in the open, the open receipt's
        # deadline counts down, and /health keeps answering.
        os.kill(node.pid, signal.SIGSTOP)
        try:
            out = rpc.call("attest_submit", unsigned(submitted + 1))
            h = wait_for(
                lambda: (h := _health(rpc))["headAgeS"] > BLOCK_TIME_S + 5 and h,
                timeout=30,
                what="the head to age",
            )
            assert h["headError"] and h["nearestReceiptDeadline"] == out["receipt"]["deadline"]
            assert _metric(rpc, "attest_l1_head_age_seconds") > BLOCK_TIME_S + 5
            left = _metric(rpc, "attest_receipt_deadline_seconds_left")
            assert 0 < left <= out["receipt"]["deadline"] - time.time() + 1
        finally:
            os.kill(node.pid, signal.SIGCONT)
        h = wait_for(
            lambda: (
                (h := _health(rpc))["headAgeS"] < BLOCK_TIME_S + 2
                and h["nearestReceiptDeadline"] is None
                and h
            ),
            timeout=60,
            what="recovery: a fresh head, the receipt covered",
        )
        assert h["headError"] is None
