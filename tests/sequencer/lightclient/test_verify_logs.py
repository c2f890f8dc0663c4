"""`attest verify` against real devnets (issue 11, light client): one test per bug.

Every part real and in its own process: `attest devnet` (embedded L1, sequencer, committer,
and where a fraud is proven, its validator), then `attest verify` run as a user runs it.

1. The trusted state is kept per log (chainId, contract, genesis checkpoint): a devnet
   restarted at the same chain and address is a new log, not an error; a fork of a known log
   is exit 18 naming the state file.
2. After a fraud proof reverts checkpoint 1, an event under the live checkpoint 0 still
   verifies; one only under the reverted checkpoint does not (exit 6, "reverted").
3. `--digest` / `--subject` consider every matching record with the filters given, paging:
   a record with the same digest and another kind, submitted first (a thousand of them),
   cannot make a CI gate on the right kind fail.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from prover.jsonrpc import JsonRpcError
from sequencer.devnet.process import DevnetProcess
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import h32, unsigned
from tests.waiting import wait_for

pytestmark = pytest.mark.slow  # devnet processes, one `attest verify` process per check

REPO = Path(__file__).resolve().parents[3]

# Exit codes of `attest verify` (docs/light-client.md, "Exit codes").
EXIT_OK = 0
EXIT_NOT_INCLUDED = 3
EXIT_L1_DISAGREES = 6
EXIT_STATE_MISMATCH = 18

# A short challenge window so checkpoints turn final within the test (v2: D + P < W).
SHORT = ["--checkpoint-interval", "0.5", "--challenge-window", "10", "--da-window", "3"]


@contextmanager
def devnet(*extra: str, validator: bool = False) -> Iterator[tuple[DevnetProcess, RpcClient]]:
    with (
        DevnetProcess(validator=validator, extra_args=list(extra)) as d,
        RpcClient(d.url, token="dev") as rpc,
    ):
        yield d, rpc


def checkpoint(rpc: RpcClient, index: int) -> dict[str, Any] | None:
    try:
        cp: dict[str, Any] | None = rpc.call("attest_getCheckpoint", index)
    except JsonRpcError:  # -32004 until the committer has recorded it
        return None
    return cp


def wait_final(rpc: RpcClient, size: int, timeout: float = 90) -> dict[str, Any]:
    """The latest checkpoint once it is final and covers `size` records."""

    def final() -> dict[str, Any] | None:
        try:
            cp: dict[str, Any] | None = rpc.call("attest_getCheckpoint", "latest")
        except JsonRpcError:
            return None
        return cp if cp and cp["status"] == "final" and cp["treeSize"] >= size else None

    found: dict[str, Any] = wait_for(final, timeout, f"a final checkpoint covering {size}")
    return found


def verify(url: str, state: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "--log-level",
            "WARNING",
            "verify",
            "--rpc",
            url,
            "--state",
            str(state),
            "--json",
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [orjson.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert lines, f"no verdict printed (exit {run.returncode}): {run.stderr[-2000:]}"
    return run.returncode, lines, run.stderr


def check(url: str, state: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`attest check` (the CI gate) with the same state file; (exit code, its JSON verdict)."""
    run = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "--log-level", "WARNING", "check", "--rpc", url,
         "--state", str(state), "--json", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert lines, f"no verdict printed (exit {run.returncode}): {run.stderr[-2000:]}"
    out: dict[str, Any] = orjson.loads(lines[-1])
    return run.returncode, out


def submit(rpc: RpcClient, events: list[dict[str, Any]]) -> list[int]:
    out = rpc.call("attest_submitBatch", events)
    return [p["seq"] for p in out["events"]]


# --- 1. one trusted checkpoint per log -----------------------------------------------------------


def test_a_devnet_restarted_at_the_same_address_is_a_new_log(tmp_path: Path) -> None:
    state = tmp_path / "light-client.json"
    with devnet(*SHORT) as (d1, rpc):
        # Two checkpoints, so the trusted one is checkpoint >= 1 with 12 records.
        submit(rpc, [unsigned(i) for i in range(6)])
        wait_final(rpc, 6)
        submit(rpc, [unsigned(i) for i in range(6, 12)])
        cp = wait_final(rpc, 12)
        assert cp["index"] >= 1
        code, (v,), err = verify(d1.url, state, "--seq", "11")
        assert code == EXIT_OK, (v, err)
        first_contract = d1.contract
    (kept,) = orjson.loads(state.read_bytes())["checkpoints"]
    # The same chain id and deployer nonce: the same contract address, another log.
    with devnet(*SHORT) as (d2, rpc):
        assert d2.contract == first_contract
        submit(rpc, [unsigned(100 + i) for i in range(3)])
        wait_final(rpc, 3)
        code, (v,), err = verify(d2.url, state, "--seq", "0")
        assert code == EXIT_OK, (v, err)
        assert any("new log" in n and str(state) in n for n in v["notes"]), v
        assert kept["treeSize"] == 12 and kept["genesis"]["treeSize"] == 6
        logs = orjson.loads(state.read_bytes())["checkpoints"]
        assert len(logs) == 2 and logs[0] == kept  # the first log's checkpoint is kept
        second = logs[1]
        assert second["genesis"]["root"] != kept["genesis"]["root"]
        assert (second["index"], second["treeSize"]) == (0, 3)
        # Verified again: the log is known now, nothing new to say about it.
        code, (v,), _ = verify(d2.url, state, "--seq", "1")
        assert code == EXIT_OK and not any("new log" in n for n in v["notes"]), v
        # `attest check` keeps the same file the same way (the client library's path).
        gate = ["--subject", h32("subject-2"), "--digest", h32("digest-100")]  # unsigned(100)
        assert check(d2.url, state, *gate)[0] == EXIT_OK
        # A fork of a known log (its trusted checkpoint rewritten) is a trusted-state mismatch,
        # not "unreachable", and the message names the state file.
        logs[1]["root"] = h32("what this log held on another fork")
        state.write_bytes(orjson.dumps({"format": "attest-light-client/2", "checkpoints": logs}))
        code, (v,), _ = verify(d2.url, state, "--seq", "1")
        assert code == EXIT_STATE_MISMATCH, v
        assert v["error"] == "TrustedStateMismatchError" and str(state) in v["message"], v
        code, out = check(d2.url, state, *gate)
        assert code == EXIT_STATE_MISMATCH and out["outcome"] == "state-mismatch", out
        assert str(state) in out["message"], out


# --- 2. a live checkpoint after a later one was reverted -----------------------------------------


def test_event_under_a_live_checkpoint_verifies_after_a_later_one_is_reverted(
    tmp_path: Path,
) -> None:
    state = tmp_path / "light-client.json"
    window = ["--checkpoint-interval", "0.5", "--challenge-window", "30", "--da-window", "5"]
    with devnet("--inject", "time-travel", *window, validator=True) as (d, rpc):
        # One record per group commit cannot carry the fault (it needs two): checkpoint 0
        # holds seq 0 and turns final; the batch after it carries the fault, in checkpoint 1.
        (zero,) = submit(rpc, [unsigned(0)])
        cp0 = wait_final(rpc, 1)
        assert cp0["index"] == 0
        later = submit(rpc, [unsigned(i) for i in range(1, 6)])
        cp1 = wait_for(
            lambda: (c := checkpoint(rpc, 1)) and c["status"] == "reverted" and c,
            timeout=90,
            what="the validator's fraud proof to revert checkpoint 1",
        )
        assert checkpoint(rpc, 0)["status"] == "final"  # type: ignore[index]
        code, (v,), err = verify(d.url, state, "--seq", str(zero), "--allow-pending")
        assert code == EXIT_OK, (v, err)
        assert v["checkpoint"]["index"] == 0 and v["final"], v
        # The same without --allow-pending: checkpoint 0 is final.
        assert verify(d.url, state, "--seq", str(zero))[0] == EXIT_OK
        only_reverted = [s for s in later if s < cp1["treeSize"]][-1]
        code, (v,), _ = verify(d.url, state, "--seq", str(only_reverted), "--allow-pending")
        assert code == EXIT_L1_DISAGREES, v
        assert "reverted" in v["message"] and "cover 1 records" in v["message"], v


# --- 3. every record with the digest, with the filters given -------------------------------------


def test_digest_and_subject_consider_every_matching_record(tmp_path: Path) -> None:
    state = tmp_path / "light-client.json"
    digest, subject = h32("model weights"), h32("model m-7")
    # An attacker submits the digest first, under another kind, more than a page of times.
    decoys = [
        {"kind": "dataset_hash", "subject": subject, "digest": digest, "meta": {"n": i}}
        for i in range(1005)
    ]
    with devnet(*SHORT) as (d, rpc):
        submit(rpc, decoys[:500])
        submit(rpc, decoys[500:])
        (real,) = submit(rpc, [{"kind": "model_fingerprint", "subject": subject, "digest": digest}])
        wait_final(rpc, real + 1)
        for key in (["--digest", digest], ["--subject", subject]):
            code, (v,), err = verify(d.url, state, *key, "--kind", "model_fingerprint")
            assert code == EXIT_OK, (key, v, err)
            assert v["seq"] == real and v["kind"] == "model_fingerprint", v
        code, (v,), _ = verify(
            d.url, state, "--digest", digest, "--subject", subject, "--kind", "model_fingerprint"
        )
        assert code == EXIT_OK and v["seq"] == real, v
        # No record of the kind asked for: not included, saying which filter failed.
        code, (v,), _ = verify(d.url, state, "--digest", digest, "--kind", "inference_receipt")
        assert code == EXIT_NOT_INCLUDED, v
        assert "--kind inference_receipt" in v["message"] and "1006 record(s)" in v["message"], v
        # The decoys themselves verify too, when they are what is asked for.
        code, (v,), _ = verify(d.url, state, "--digest", digest, "--kind", "dataset_hash")
        assert code == EXIT_OK and v["kind"] == "dataset_hash" and v["seq"] < real, v
