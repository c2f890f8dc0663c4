"""`attest verify` / `attest proof export` end to end, each run in its own process.

A real sequencer process (`attest serve --dev`), the real embedded L1 node in its own process,
and a real deployed rollup contract on which this test commits the sequencer's tree as
checkpoints from the sequencer's account (what the committer will do), then moves L1's clock
past the challenge window to make them final.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, Wei

from l1_contracts.accounts import DEV_ADDRESSES
from l1_contracts.contract import deploy_rollup
from l1_contracts.devnet_node import start_devnet_subprocess, stop_process
from prover.jsonrpc import JsonRpcError
from sequencer.cli import build_parser
from sequencer.devnet.process import SequencerProcess
from sequencer.lightclient.output import (
    EXIT_BUNDLE_ONLY,
    EXIT_L1_DISAGREES,
    EXIT_NOT_FINAL,
    EXIT_NOT_INCLUDED,
    EXIT_OK,
    EXIT_PROOF_INVALID,
    EXIT_STATE_MISMATCH,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import ALICE, ALICE_KEY, h32, signed, unsigned

pytestmark = pytest.mark.slow  # an L1, a sequencer and one `attest verify` process per check


REPO = Path(__file__).resolve().parents[3]
# The challenge window, seconds. L1 mines a block every second, so its clock follows the wall
# clock: the window must outlast this module's run (minutes on a loaded machine) for the
# pending checkpoint to stay pending until a test moves the clock on purpose.
WINDOW = 3600
BOND = 10**18
SEQUENCER = DEV_ADDRESSES[0]  # the sequencer's dev key signs receipts and commits
OWNER = DEV_ADDRESSES[1]


@dataclass
class World:
    w3: Web3
    l1_url: str
    rollup: Contract
    server: SequencerProcess
    rpc: RpcClient
    final_size: int  # checkpoint 0, final
    pending_size: int  # checkpoint 1, pending
    signed_seq: int

    @property
    def contract(self) -> str:
        return str(self.rollup.address)

    def advance(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def deploy_bonded(w3: Web3) -> Contract:
    rollup = deploy_rollup(w3, SEQUENCER, OWNER, WINDOW, 30, BOND)  # v2: D + P < W
    w3.eth.wait_for_transaction_receipt(
        rollup.functions.deposit().transact(TxParams({"from": SEQUENCER, "value": Wei(BOND)}))
    )
    return rollup


def commit(w3: Web3, rollup: Contract, size: int, root: bytes, proof: list[bytes]) -> None:
    tx = rollup.functions.commit(size, root, proof, 0).transact({"from": SEQUENCER})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def commit_head(world_rpc: RpcClient, w3: Web3, rollup: Contract, previous: int) -> int:
    """Commit the sequencer's current tree, proven consistent with checkpoint `previous`."""
    status = world_rpc.call("attest_status")
    size = status["treeSize"]
    proof: list[bytes] = []
    if previous:
        cp = world_rpc.call("attest_getConsistencyProof", previous, size)
        proof = [bytes.fromhex(p[2:]) for p in cp["proof"]]
    commit(w3, rollup, size, bytes.fromhex(status["root"][2:]), proof)
    return int(size)


def submit_and_wait(rpc: RpcClient, events: list[dict[str, Any]]) -> list[int]:
    return [rpc.call("attest_submit", ev)["seq"] for ev in events]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    node, l1_url = start_devnet_subprocess(port=0)
    try:
        w3 = Web3(Web3.HTTPProvider(l1_url))
        rollup = deploy_bonded(w3)
        data = tmp_path_factory.mktemp("verify")
        config = data / "config.toml"
        config.write_text(f'[serve]\nchain_id = 31337\nverifying_contract = "{rollup.address}"\n')
        with (
            SequencerProcess(data / "db", config=config) as server,
            RpcClient(server.url, token="dev") as rpc,
        ):
            submit_and_wait(rpc, [unsigned(i) for i in range(5)])
            (signed_seq,) = submit_and_wait(
                rpc, [signed(ALICE_KEY, 1, contract=rollup.address, meta={"model": "m-7"})]
            )
            submit_and_wait(rpc, [unsigned(i) for i in range(5, 9)])
            final_size = commit_head(rpc, w3, rollup, 0)
            world = World(w3, l1_url, rollup, server, rpc, final_size, 0, signed_seq)
            world.advance(WINDOW + 10)  # checkpoint 0 is final from here on
            submit_and_wait(rpc, [unsigned(i) for i in range(9, 14)])
            world.pending_size = commit_head(rpc, w3, rollup, final_size)
            yield world
    finally:
        stop_process(node)


def attest(*args: str) -> tuple[int, str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "sequencer.cli", "--log-level", "WARNING", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.returncode, out.stdout, out.stderr


def verify(world: World, state: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:
    code, out, err = attest(
        "verify",
        "--rpc",
        world.server.url,
        "--l1-rpc",
        world.l1_url,
        "--contract",
        world.contract,
        "--state",
        str(state),
        "--json",
        *args,
    )
    lines = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    assert lines, f"no verdict printed (exit {code}): {err}"
    return code, lines


# --- success ---------------------------------------------------------------------------------


def test_signed_event_under_a_final_checkpoint_verifies(world: World, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    code, (v,) = verify(
        world,
        state,
        "--seq",
        str(world.signed_seq),
        "--digest",
        h32("output-1"),
        "--subject",
        h32("model-7"),
        "--kind",
        "inference_receipt",
        "--submitter",
        ALICE,
    )
    assert code == EXIT_OK, v
    assert v["ok"] and v["final"] and v["signed"] and v["checkpoint"]["index"] == 0
    assert v["checkpoint"]["treeSize"] == world.final_size
    saved = orjson.loads(state.read_bytes())["checkpoints"]
    assert [(c["index"], c["treeSize"]) for c in saved] == [(0, world.final_size)]


def test_digest_alone_finds_the_event(world: World, tmp_path: Path) -> None:
    code, (v,) = verify(world, tmp_path / "s.json", "--digest", h32("digest-3"))
    assert code == EXIT_OK, v
    assert v["seq"] == 3 and v["digest"] == h32("digest-3")


def test_human_output(world: World, tmp_path: Path) -> None:
    code, out, _ = attest(
        "verify",
        "--rpc",
        world.server.url,
        "--l1-rpc",
        world.l1_url,
        "--contract",
        world.contract,
        "--state",
        str(tmp_path / "s.json"),
        "--seq",
        "2",
    )
    assert code == EXIT_OK and out.startswith("OK seq 2: included under checkpoint 0"), out


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["verify", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "4  not final yet" in out and "6  L1 disagrees" in out
    assert "18  trusted state mismatch" in out and "--state" in out


# --- not included ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--seq", "100000"),
        ("--digest", h32("never-submitted")),
        ("--seq", "2", "--digest", h32("digest-3")),
    ],
)
def test_not_included(world: World, tmp_path: Path, args: tuple[str, ...]) -> None:
    code, (v,) = verify(world, tmp_path / "s.json", *args)
    assert code == EXIT_NOT_INCLUDED, v
    assert not v["ok"] and v["error"] in ("NotIncludedError", "ExpectationMismatchError")


# --- not final -------------------------------------------------------------------------------


def test_event_under_a_pending_checkpoint_is_not_final_unless_allowed(
    world: World, tmp_path: Path
) -> None:
    seq = str(world.final_size + 1)  # in checkpoint 1 only, which is pending
    code, (v,) = verify(world, tmp_path / "s.json", "--seq", seq)
    assert code == EXIT_NOT_FINAL, v
    assert "pending checkpoint 1" in v["message"]
    code, (v,) = verify(world, tmp_path / "s.json", "--seq", seq, "--allow-pending")
    assert code == EXIT_OK, v
    assert (
        v["checkpoint"]["index"] == 1 and v["checkpoint"]["status"] == "pending" and not v["final"]
    )
    # A pending checkpoint is never kept as trusted.
    assert not (tmp_path / "s.json").exists()


def test_event_after_every_checkpoint_is_not_final(world: World, tmp_path: Path) -> None:
    (seq,) = submit_and_wait(world.rpc, [unsigned(1000)])
    code, (v,) = verify(world, tmp_path / "s.json", "--seq", str(seq), "--allow-pending")
    assert code == EXIT_NOT_FINAL, v


# --- bundles: proof invalid, offline -----------------------------------------------------------


def export(world: World, path: Path, seq: int, *extra: str) -> None:
    code, _, err = attest(
        "proof",
        "export",
        "--rpc",
        world.server.url,
        "--l1-rpc",
        world.l1_url,
        "--contract",
        world.contract,
        "--seq",
        str(seq),
        "-o",
        str(path),
        *extra,
    )
    assert code == EXIT_OK, err


def verify_bundle(path: Path, state: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = attest("verify", "--bundle", str(path), "--state", str(state), "--json", *args)
    assert out.strip(), f"no verdict printed (exit {code}): {err}"
    return code, orjson.loads(out)


def test_bundle_verifies_against_l1_offline_and_tampered(world: World, tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    export(world, path, world.signed_seq)
    bundle = orjson.loads(path.read_bytes())
    assert bundle["checkpoint"]["index"] == 0 and bundle["meta"] == {"model": "m-7"}
    state = tmp_path / "s.json"

    code, v = verify_bundle(path, state, "--l1-rpc", world.l1_url, "--contract", world.contract)
    assert code == EXIT_OK and v["l1Checked"] and v["final"], v

    code, v = verify_bundle(path, state)  # no L1 given
    assert code == EXIT_BUNDLE_ONLY and not v["l1Checked"], v
    code, v = verify_bundle(path, state, "--l1-rpc", "http://127.0.0.1:9", "--timeout", "2")
    assert code == EXIT_BUNDLE_ONLY and any("unreachable" in n for n in v["notes"]), v

    # (Every other kind of tampering is in tests/prover/test_light_client.py: one process each
    # costs about a second here.)
    for field, value in (
        ("proof", ["0x" + "11" * 32, *bundle["proof"][1:]]),
        ("meta", {"model": "m-8"}),
    ):
        bad = {**bundle, field: value}
        bad_path = tmp_path / f"bad-{field}.json"
        bad_path.write_bytes(orjson.dumps(bad))
        code, v = verify_bundle(bad_path, state, "--l1-rpc", world.l1_url)
        assert code == EXIT_PROOF_INVALID, (field, v)


# --- L1 disagrees ------------------------------------------------------------------------------


def test_checkpoint_with_a_root_the_sequencer_never_had_is_refused(
    world: World, tmp_path: Path
) -> None:
    # A fresh contract whose first checkpoint (empty proof) holds a bogus root for the
    # sequencer's size: the contract cannot tell, the light client must.
    forged = deploy_bonded(world.w3)
    # (Left pending: L1's clock moves only in the last tests; --allow-pending lets the size and
    # root comparison decide, and a pending status would not excuse a wrong root anyway.)
    commit(world.w3, forged, world.final_size, bytes.fromhex(h32("bogus root")[2:]), [])
    code, out, err = attest(
        "verify",
        "--rpc",
        world.server.url,
        "--l1-rpc",
        world.l1_url,
        "--allow-pending",
        "--contract",
        str(forged.address),
        "--state",
        str(tmp_path / "s.json"),
        "--json",
        "--seq",
        "2",
    )
    v = orjson.loads(out)
    assert code == EXIT_L1_DISAGREES, (v, err)
    assert v["error"] == "L1MismatchError" and "root" in v["message"]


def test_trusted_state_from_a_fork_is_refused(world: World, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    assert verify(world, state, "--seq", "2")[0] == EXIT_OK
    saved = orjson.loads(state.read_bytes())
    saved["checkpoints"][0]["root"] = h32("what we saw on another fork")
    state.write_bytes(orjson.dumps(saved))
    code, (v,) = verify(world, state, "--seq", "2")
    # A trusted-state mismatch has its own exit code, and the message names the file.
    assert code == EXIT_STATE_MISMATCH, v
    assert str(state) in v["message"] and "--state" in v["message"], v


# --- unreachable and usage -----------------------------------------------------------------------


def test_unreachable_sequencer_and_missing_l1(world: World, tmp_path: Path) -> None:
    code, out, _ = attest(
        "verify",
        "--rpc",
        "http://127.0.0.1:9",
        "--seq",
        "1",
        "--l1-rpc",
        world.l1_url,
        "--contract",
        world.contract,
        "--json",
        "--timeout",
        "2",
    )
    assert code == EXIT_UNREACHABLE, out
    # The sequencer runs without L1 attached: nothing says where to check.
    code, out, _ = attest("verify", "--rpc", world.server.url, "--seq", "1", "--json")
    assert code == EXIT_USAGE and "no L1 known" in orjson.loads(out)["message"]


# --- the trusted state moves forward (last: it moves L1's clock) ---------------------------------


def test_newer_final_checkpoint_is_checked_for_consistency_and_trusted(
    world: World, tmp_path: Path
) -> None:
    state = tmp_path / "s.json"
    assert verify(world, state, "--seq", "2")[0] == EXIT_OK
    saved = orjson.loads(state.read_bytes())["checkpoints"]
    assert [(c["index"], c["treeSize"]) for c in saved] == [(0, world.final_size)]
    world.advance(WINDOW + 10)  # checkpoint 1 becomes final
    code, (v,) = verify(world, state, "--seq", str(world.final_size + 1))
    assert code == EXIT_OK, v
    assert v["consistencyChecked"] and v["checkpoint"]["index"] == 1
    saved = orjson.loads(state.read_bytes())["checkpoints"]
    assert [(c["index"], c["treeSize"]) for c in saved] == [(1, world.pending_size)]


def test_sequencer_with_its_own_committer_serves_checkpoint_proofs(
    world: World, tmp_path: Path
) -> None:
    # The sequencer commits on its own here and answers attest_getProof for a checkpoint
    # directly; the light client still reads the checkpoint from L1 itself, and takes L1's
    # URL and contract from attest_status when not given them (and says so).
    rollup = deploy_bonded(world.w3)
    args = [
        "--l1-rpc",
        world.l1_url,
        "--contract",
        str(rollup.address),
        "--checkpoint-interval",
        "0.2",
    ]
    with (
        SequencerProcess(tmp_path / "db", extra_args=args) as server,
        RpcClient(server.url, token="dev") as rpc,
    ):
        submit_and_wait(rpc, [unsigned(i) for i in range(3)])
        (seq,) = submit_and_wait(rpc, [signed(ALICE_KEY, 1, contract=rollup.address)])
        deadline = time.monotonic() + 30
        while True:  # a real process on a real L1: poll its checkpoint record
            try:
                cp = rpc.call("attest_getCheckpoint", "latest")
            except JsonRpcError:
                cp = None
            if cp is not None and cp["treeSize"] > seq:
                break
            assert time.monotonic() < deadline, "the committer did not commit within 30 s"
            time.sleep(0.1)
        served = rpc.call("attest_getProof", seq, {"checkpoint": cp["index"]})
        assert served["treeSize"] == cp["treeSize"]
        state = str(tmp_path / "s.json")
        code, out, _ = attest(
            "verify", "--rpc", server.url, "--state", state, "--json", "--seq", str(seq)
        )
        assert code == EXIT_NOT_FINAL, out
        world.advance(WINDOW + 10)
        code, out, err = attest(
            "verify",
            "--rpc",
            server.url,
            "--state",
            state,
            "--json",
            "--seq",
            str(seq),
            "--submitter",
            ALICE,
        )
        v = orjson.loads(out)
        assert code == EXIT_OK, (v, err)
        assert v["final"] and v["checkpoint"]["contract"] == str(rollup.address).lower()
        assert any("taken from the sequencer" in n for n in v["notes"])
