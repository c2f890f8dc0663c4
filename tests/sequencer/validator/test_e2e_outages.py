"""The validator survives an L1 outage and a sequencer outage, catching up from where it was,
and reads scale out: a follower of a follower agrees too."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.devnet_node import start_devnet_subprocess, stop_process
from sequencer.devnet.process import DevnetProcess, ValidatorProcess, write_key_file
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.sequencer.validator.helpers import (
    devnet_args,
    events,
    pin_l1_ahead,
    rollup,
    validator_for,
    wait_for,
)
from tests.waiting import wait_for_rounds

pytestmark = pytest.mark.slow  # devnet and validator processes, outages waited out


def _verified(val: RpcClient) -> int:
    return int(val.call("validator_status")["l1"]["verifiedSize"])


def test_outages_are_survived_and_followers_chain(tmp_path: Path) -> None:
    node, l1_rpc = start_devnet_subprocess(port=0)
    try:
        with DevnetProcess(
            l1_rpc=l1_rpc, extra_args=[*devnet_args(), "--l1-timeout", "1"]
        ) as devnet:
            w3, contract = rollup(devnet)
            pin_l1_ahead(w3, 3)
            # A long DA grace: an honest sequencer that is briefly down is not challenged.
            with (
                validator_for(
                    devnet, tmp_path / "v", extra=["--l1-timeout", "1", "--da-grace", "60"]
                ) as v,
                RpcClient(devnet.url, token="dev") as rpc,
                RpcClient(v.url) as val,
            ):
                rpc.call("attest_submitBatch", [unsigned(i) for i in range(20)])
                size = rpc.call("attest_status")["treeSize"]
                wait_for(lambda: _verified(val) >= size, what="first agreement")

                # L1 hangs: the watcher says so, the replica keeps pulling.
                os.kill(node.pid, signal.SIGSTOP)
                try:
                    rpc.call("attest_submitBatch", [unsigned(100 + i) for i in range(20)])
                    wait_for(
                        lambda: not orjson.loads(val.request("GET", "/health").body)["l1"]["up"],
                        what="the validator to notice the L1 outage",
                    )
                    size = rpc.call("attest_status")["treeSize"]
                    wait_for(
                        lambda: val.call("validator_status")["replicaSize"] >= size,
                        what="replication during the L1 outage",
                    )
                finally:
                    os.kill(node.pid, signal.SIGCONT)
                wait_for(
                    lambda: _verified(val) >= size, timeout=60, what="agreement after the L1 outage"
                )

                # The sequencer hangs: pulls fail, then resume where they stopped.
                os.kill(devnet.proc.pid, signal.SIGSTOP)
                try:
                    wait_for(
                        lambda: val.call("validator_status")["upstreamError"],
                        timeout=20,
                        what="the validator to notice the sequencer outage",
                    )
                finally:
                    os.kill(devnet.proc.pid, signal.SIGCONT)
                time.sleep(0.5)
                rpc.call("attest_submitBatch", [unsigned(200 + i) for i in range(20)])
                size = rpc.call("attest_status")["treeSize"]
                wait_for(
                    lambda: _verified(val) >= size, timeout=60, what="agreement after the outage"
                )

                # A follower of the follower: pulls from the validator only, and agrees too.
                key = write_key_file(DEV_KEYS[3], tmp_path)
                with (
                    ValidatorProcess(
                        sequencer=v.url,
                        l1_rpc=devnet.l1_rpc,
                        contract=devnet.contract,
                        key_file=key,
                        data_dir=tmp_path / "v2",
                        extra_args=["--poll-interval", "0.5", "--pull-interval", "0.1"],
                    ) as v2,
                    RpcClient(v2.url) as val2,
                ):
                    wait_for(
                        lambda: _verified(val2) >= size, what="the second-hand follower to agree"
                    )
                    assert val2.call("attest_getBlock", "latest", True) == val.call(
                        "attest_getBlock", "latest", True
                    )
                st = val.call("validator_status")
                assert st["violations"] == [] and st["proofs"] == [] and st["daChallenges"] == []
        for name in ("FraudProven", "DAChallengeOpened"):
            assert events(contract, name) == [], name
    finally:
        stop_process(node)


def test_unreachable_data_is_challenged_and_the_honest_sequencer_answers(tmp_path: Path) -> None:
    """A validator that cannot reach any upstream challenges the pending checkpoint's data; the
    honest sequencer reveals it on L1, so nothing is reverted and the challenger's bond pays
    the sequencer for the reveal."""
    with (
        DevnetProcess(extra_args=devnet_args()) as devnet,
        RpcClient(devnet.url, token="dev") as rpc,
    ):
        w3, contract = rollup(devnet)
        pin_l1_ahead(w3, 3)
        bond_before = contract.functions.bond().call()
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(20)])
        wait_for(lambda: rpc.call("attest_getCheckpoint", "latest"), what="a checkpoint")
        dead = "http://127.0.0.1:9"  # discard port: nothing listens
        key = write_key_file(DEV_KEYS[1], tmp_path)
        with (
            ValidatorProcess(
                sequencer=dead,
                l1_rpc=devnet.l1_rpc,
                contract=devnet.contract,
                key_file=key,
                data_dir=tmp_path / "blind",
                extra_args=["--poll-interval", "0.5", "--da-grace", "2"],
            ) as v,
            RpcClient(v.url) as val,
        ):
            opened = wait_for(lambda: events(contract, "DAChallengeOpened"), what="a DA challenge")
            assert opened[0]["args"]["start"] == 0
            wait_for(lambda: events(contract, "RecordsRevealed"), what="the sequencer's reveal")
            wait_for(
                lambda: [
                    c
                    for c in val.call("validator_status")["daChallenges"]
                    if c["state"] == "ANSWERED"
                ],
                what="the validator to see the answer",
            )
            # Three more whole watcher rounds: no second challenge on the same range.
            wait_for_rounds(
                lambda: val.call("validator_status")["l1"]["rounds"], 3, what="watcher rounds"
            )
            assert len(events(contract, "DAChallengeOpened")) == 1
        assert events(contract, "CheckpointsReverted") == []
        assert contract.functions.bond().call() > bond_before  # the challenger's bond went to it
