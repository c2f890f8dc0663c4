"""Forced inclusion end to end (issue 16): `attest devnet` in its own process on a real L1 node,
the embedded py-evm devnet and anvil.

* An honest sequencer logs forced events posted under full ingest load, in inbox order, each
  exactly once, and proves them at commit within the inclusion window.
* A censoring one (`--inject ignore-forced`) cannot commit once a forced event is overdue, the
  receipts it signed meanwhile break at their deadline, and that slashes its bond.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.contract import (
    SignedReceipt,
    inbox_slot,
    read_checkpoint,
    receipt_deadline_fraud,
    rollup_at,
)
from prover.jsonrpc import NOT_FOUND, JsonRpcError
from prover.validity import FraudRule
from sequencer.client.forced import post_forced, wait_forced_included
from sequencer.client.sync import Client
from sequencer.devnet.process import DevnetProcess
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import FORCED_POSTER_KEY, forced_event, unsigned
from tests.waiting import wait_for

pytestmark = pytest.mark.slow  # devnet processes on a real L1 node

POSTER_KEY = FORCED_POSTER_KEY
CHALLENGER_KEY = DEV_KEYS[4]


def _devnet(l1_url: str, *extra: str) -> DevnetProcess:
    return DevnetProcess(
        l1_rpc=l1_url,
        extra_args=[
            "--checkpoint-interval",
            "0.5",
            "--challenge-window",
            "60",
            "--da-window",
            "10",
            *extra,
        ],
    )


def _post(devnet: DevnetProcess, n: int) -> object:
    return post_forced(*forced_event(devnet.l1_rpc, devnet.contract, n))


def _forced_status(rpc: RpcClient, j: int) -> str | None:
    try:
        return str(rpc.call("attest_getForced", j)["status"])
    except JsonRpcError as exc:
        if exc.code == NOT_FOUND:
            return None  # not seen on L1 yet
        raise


@pytest.fixture
def load(request: pytest.FixtureRequest) -> Iterator[threading.Event]:
    stop = threading.Event()
    yield stop
    stop.set()


def test_honest_sequencer_includes_forced_events_under_load(
    l1_url: str, load: threading.Event
) -> None:
    with _devnet(l1_url) as devnet:
        w3 = Web3(Web3.HTTPProvider(devnet.l1_rpc))
        rollup = rollup_at(w3, devnet.contract)
        sent = [0]

        def hammer() -> None:
            with RpcClient(devnet.url, token="dev") as rpc:
                while not load.is_set():
                    rpc.call("attest_submitBatch", [unsigned(sent[0] + i) for i in range(200)])
                    sent[0] += 200

        worker = threading.Thread(target=hammer, daemon=True)
        worker.start()
        posts = []
        for n in range(3):
            posts.append(_post(devnet, n))  # type: ignore[arg-type]
        with Client(devnet.url, token="dev") as client:
            done = [wait_forced_included(client, p, timeout=90) for p in posts]  # type: ignore[arg-type]
        load.set()
        worker.join(timeout=30)
        assert sent[0] >= 600, "the load ran alongside"
        seqs = [d.seq for d in done]
        assert seqs == sorted(seqs), "inbox order"
        for d in done:
            e = d.post.entry
            # Proven on L1 at that seq, by a commit made before the deadline.
            slot = inbox_slot(rollup, e.index)
            assert slot.included_at == (d.seq, d.checkpoint)
            cp = read_checkpoint(rollup, d.checkpoint)
            assert cp.committed_at < d.post.deadline
            assert d.proof["root"] == "0x" + cp.root.hex()
            # Exactly once in the log (the digest is unique to this post).
            with RpcClient(devnet.url) as rpc:
                assert rpc.call("attest_findByDigest", "0x" + e.digest.hex())["seqs"] == [d.seq]
                forced = rpc.call("attest_getForced", e.index)
            assert forced["status"] == "included" and forced["seq"] == d.seq
        assert rollup.functions.forcedIncluded().call() >= 3
        assert not rollup.functions.frozen().call()


def test_censoring_sequencer_cannot_commit_and_is_slashed(l1_url: str) -> None:
    with _devnet(l1_url, "--inject", "ignore-forced") as devnet:
        w3 = Web3(Web3.HTTPProvider(devnet.l1_rpc))
        rollup = rollup_at(w3, devnet.contract)
        f = rollup.functions
        with RpcClient(devnet.url, token="dev") as rpc:
            rpc.call("attest_submitBatch", [unsigned(i) for i in range(20)])
            wait_for(
                lambda: (c := rpc.call("attest_getCheckpoint", "latest")) and c["treeSize"] >= 20,
                what="a checkpoint while the inbox is empty",
            )
            post = _post(devnet, 0)
            j = post.entry.index  # type: ignore[attr-defined]
            wait_for(
                lambda: _forced_status(rpc, j) == "posted",
                what="the sequencer to see the forced event",
            )
            # Let the deadline pass on L1 (the chain clock, not ours).
            w3.provider.make_request("evm_increaseTime", [40])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            count = f.checkpointCount().call()
            out = rpc.call("attest_submitBatch", [unsigned(100 + i) for i in range(10)])
            r = out["receipt"]
            wait_for(
                lambda: _forced_status(rpc, j) == "overdue",
                what="the sequencer to report the forced event overdue",
            )
            # The committer keeps trying; L1 refuses every commit that leaves the event out.
            wait_for(lambda: rpc.call("attest_status")["treeSize"] >= 30, what="ingest")
            assert f.checkpointCount().call() == count
            assert f.forcedIncluded().call() == 0
            assert rpc.call("attest_findByDigest", "0x" + post.entry.digest.hex())["seqs"] == []  # type: ignore[attr-defined]
        # Its receipt's deadline passes with no checkpoint covering it: anyone proves it broken.
        w3.provider.make_request(
            "evm_increaseTime", [r["deadline"] - w3.eth.get_block("latest")["timestamp"] + 5]
        )  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        assert f.checkpointCount().call() == count
        sig = bytes.fromhex(r["signature"][2:])
        receipt = SignedReceipt(
            r["firstSeq"], r["count"], bytes.fromhex(r["leavesRoot"][2:]), r["deadline"], sig
        )
        challenger = Account.from_key(CHALLENGER_KEY)
        fn = receipt_deadline_fraud(rollup, receipt)
        tx = fn.build_transaction(
            {
                "from": challenger.address,
                "gas": 1_000_000,
                "nonce": w3.eth.get_transaction_count(challenger.address, "pending"),
            }
        )
        h = w3.eth.send_raw_transaction(challenger.sign_transaction(tx).raw_transaction)
        mined = w3.eth.wait_for_transaction_receipt(h)
        assert mined["status"] == 1
        (ev,) = rollup.events.FraudProven().process_receipt(mined, errors=DISCARD)
        assert ev["args"]["rule"] == FraudRule.RECEIPT_DEADLINE
        assert f.frozen().call() and f.bond().call() == 0


def test_forced_event_posted_across_a_reorg_is_included_exactly_once(anvil_url: str) -> None:
    """The post's block is dropped by a reorg (anvil: back to a snapshot) and the same post
    lands again in the new chain: the sequencer logs it once, as the new chain has it."""
    with _devnet(anvil_url) as devnet:
        w3 = Web3(Web3.HTTPProvider(devnet.l1_rpc))
        rollup = rollup_at(w3, devnet.contract)
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        first = _post(devnet, 0)
        # One more block on top (a follower without confirmations would log the post now), then
        # the reorg: the block holding the post is gone before it had 2 confirmations.
        posted_in = w3.eth.block_number
        wait_for(lambda: w3.eth.block_number >= posted_in + 1, what="one block on top of the post")
        time.sleep(0.6)
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
        assert rollup.functions.inboxCount().call() == 0
        again = _post(devnet, 0)  # the same event, re-included in the new chain
        assert again.entry.index == first.entry.index == 0  # type: ignore[attr-defined]
        with Client(devnet.url, token="dev") as client:
            done = wait_forced_included(client, again, timeout=90)  # type: ignore[arg-type]
        with RpcClient(devnet.url) as rpc:
            seqs = rpc.call("attest_findByDigest", "0x" + again.entry.digest.hex())["seqs"]  # type: ignore[attr-defined]
        assert seqs == [done.seq]
        assert inbox_slot(rollup, 0).included_at == (done.seq, done.checkpoint)
        assert inbox_slot(rollup, 0).entry_hash == again.entry.entry_hash()  # type: ignore[attr-defined]
