"""An honest run: the validator agrees with every checkpoint, serves the sequencer's reads, and
sends nothing to L1; a validator started late catches up; a restarted one resumes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sequencer.devnet.process import DevnetProcess
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import ALICE_KEY, signed, unsigned
from tests.sequencer.scrape import scrape
from tests.sequencer.validator.helpers import (
    devnet_args,
    events,
    pin_l1_ahead,
    rollup,
    validator_for,
    wait_for,
)
from tests.waiting import recorded_checkpoint

pytestmark = pytest.mark.slow  # devnet and validator processes on two L1s


def _agreed(val: RpcClient, size: int) -> bool:
    st = val.call("validator_status")
    return bool(st["l1"]["verifiedSize"] >= size)


def _same_reads(seq_rpc: RpcClient, val: RpcClient, size: int) -> None:
    for method, params in (
        ("attest_getEvent", [3]),
        ("attest_getBlock", [1, True]),
        ("attest_getConsistencyProof", [5, size]),
        ("attest_findBySubject", ["0x" + "00" * 32]),
    ):
        mine, theirs = val.call(method, *params), seq_rpc.call(method, *params)
        if method in ("attest_getEvent", "attest_getBlock"):
            # Checkpointed: held on L1's word, not provisional. The block receipt is the
            # sequencer's to sign; a follower serves the block without one.
            assert mine.pop("provisional") is False, method
            theirs.pop("receipt", None)
        assert mine == theirs, method
    cp = val.call("attest_getCheckpoint", "latest")
    assert cp["treeSize"] <= size
    wait_for(lambda: recorded_checkpoint(seq_rpc, cp["index"]), what="the sequencer to know it too")
    mine = val.call("attest_getProof", 2, {"checkpoint": cp["index"]})
    theirs = seq_rpc.call("attest_getProof", 2, {"checkpoint": cp["index"]})
    assert {k: mine[k] for k in ("root", "proof", "leafHash", "treeSize")} == {
        k: theirs[k] for k in ("root", "proof", "leafHash", "treeSize")
    }


def _check_metrics(val: RpcClient) -> None:
    """`GET /metrics` of an honest run agrees with `validator_status`, and counts requests."""
    st = val.call("validator_status")
    before = scrape(val)
    for seq in range(4):
        val.call("attest_getEvent", seq)
    s = scrape(val)
    requests = "validator_rpc_requests_total"
    assert (
        s(requests, method="attest_getEvent", outcome="ok")
        - before(requests, method="attest_getEvent", outcome="ok")
        == 4
    )
    assert s(requests, method="validator_status", outcome="ok") >= 1
    assert (
        s("validator_replica_size") >= st["replicaSize"] and s("validator_blocks") >= st["blocks"]
    )
    assert s("validator_violations") == 0
    assert s("validator_checkpoints_seen_total") >= len(st["checkpoints"]) > 0
    agreed = sum(c["verdict"] == "agrees" for c in st["checkpoints"])
    assert s("validator_checkpoints_verified_total") >= agreed > 0
    assert s("validator_l1_up") == 1 and s("validator_upstream_up") == 1
    assert s("validator_l1_rounds_total") >= st["l1"]["rounds"] > 0
    assert s("validator_da_challenges_total") == 0 and s("validator_receipts_watched") == 0
    assert not [k for k in s.samples if k[0] == "validator_proofs_sent_total"]


def test_honest_run_late_start_and_restart(tmp_path: Path, l1_url: str) -> None:
    with DevnetProcess(l1_rpc=l1_url, extra_args=devnet_args()) as devnet:
        w3, contract = rollup(devnet)
        # The chain's clock runs a little ahead of the sequencer's, as it must for rule 4b
        # (a commit mined in the same second as its last record would break it).
        pin_l1_ahead(w3, 3)
        with RpcClient(devnet.url, token="dev") as rpc:
            chain_id = rpc.call("attest_status")["eip712Domain"]["chainId"]
            rpc.call("attest_submitBatch", [unsigned(i) for i in range(300)])
            rpc.call(
                "attest_submit", signed(ALICE_KEY, 1, chain_id=chain_id, contract=devnet.contract)
            )
            # Started late: everything so far is already sealed and committed.
            with validator_for(devnet, tmp_path / "v1") as v1, RpcClient(v1.url) as val:
                size = rpc.call("attest_status")["treeSize"]
                wait_for(lambda: _agreed(val, size), what="the late validator to agree")
                rpc.call("attest_submitBatch", [unsigned(1000 + i) for i in range(40)])
                size = rpc.call("attest_status")["treeSize"]
                wait_for(lambda: _agreed(val, size), what="agreement on the new checkpoint")
                _same_reads(rpc, val, size)
                status = val.call("attest_status")
                assert status["treeSize"] >= size and status["l1"]["anchoredSize"] >= size
                health = orjson.loads(val.request("GET", "/health").body)
                assert health["status"] == "ok" and health["replicaSize"] >= size
                _check_metrics(val)
            # Restart on the same data dir: resumes from its replica, catches up on the rest.
            rpc.call("attest_submitBatch", [unsigned(2000 + i) for i in range(30)])
            with validator_for(devnet, tmp_path / "v1") as v1, RpcClient(v1.url) as val:
                assert val.call("validator_status")["replicaSize"] >= size  # at once, from disk
                size = rpc.call("attest_status")["treeSize"]
                wait_for(lambda: _agreed(val, size), what="the restarted validator to agree")
                st = val.call("validator_status")
                assert st["violations"] == [] and st["proofs"] == [] and st["daChallenges"] == []
                verdicts = {c["verdict"] for c in st["checkpoints"]}
                assert verdicts <= {"agrees", "unchecked"}, verdicts
        # No challenge of any kind reached L1.
        for name in ("FraudProven", "DAChallengeOpened", "CheckpointsReverted"):
            assert events(contract, name) == [], name
