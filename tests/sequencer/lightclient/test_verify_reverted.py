"""A light client refuses an event whose only checkpoint was reverted by a proven fraud.

Everything real and in its own process: `attest devnet --inject time-travel` with its default
validator, which proves the fault on L1; then `attest verify` as a user would run it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from prover.jsonrpc import JsonRpcError
from sequencer.devnet.process import DevnetProcess
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.waiting import wait_for

pytestmark = pytest.mark.slow  # a devnet with an injected fault and a validator


EXIT_L1_DISAGREES = 6  # docs/light-client.md


def test_verify_refuses_events_under_a_reverted_checkpoint() -> None:
    with (
        DevnetProcess(
            validator=True,
            extra_args=[
                "--inject",
                "time-travel",
                "--checkpoint-interval",
                "0.5",
            ],
        ) as devnet,
        RpcClient(devnet.url, token="dev") as rpc,
    ):
        out = rpc.call("attest_submitBatch", [unsigned(i) for i in range(4)])

        def reverted() -> dict[str, Any] | None:
            try:
                c: dict[str, Any] = rpc.call("attest_getCheckpoint", 0)
            except JsonRpcError:  # -32004 until the committer has recorded checkpoint 0
                return None
            return c if c["status"] == "reverted" else None

        cp = wait_for(
            reverted, timeout=60, what="the validator's fraud proof to revert checkpoint 0"
        )
        # The reverted checkpoint covers a prefix of the batch (how much depends on when the
        # committer ran); its first and last events have no other checkpoint.
        covered = [p["seq"] for p in out["events"] if p["seq"] < cp["treeSize"]]
        assert covered and covered[0] == 0
        for seq in (covered[0], covered[-1]):
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sequencer.cli",
                    "--log-level",
                    "WARNING",
                    "verify",
                    "--rpc",
                    devnet.url,
                    "--seq",
                    str(seq),
                    "--allow-pending",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == EXIT_L1_DISAGREES, run.stdout + run.stderr
            assert "reverted" in run.stdout + run.stderr
