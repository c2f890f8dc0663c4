"""The sequencer's broken promise is cashed (issue 11 item 2): after a rollback, the block
receipts it kept are proven broken on L1 (`proveReceiptMismatch`), automatically.

An equivocating sequencer (`equivocating_upstream`, holding the sequencer's key) serves forged
provisional blocks with signed block receipts, then commits the honest records. The validator
rolls back, and once it holds the committed records at a seq a kept receipt promised
otherwise, it proves the receipt broken: L1 shows the bond slashed and the contract frozen
(docs/spec.md §9.4). The contradiction reaches it three ways: a checkpoint's root (with a
restart between the rollback and the proof), records revealed on L1 by a DA answer, and a
checkpoint that went final while the validator was down, read by a validator whose L1 is slow
at its restart (the pull must not take the forged blocks again before the watcher read L1).
Real processes, real HTTP, real LevelDB, the embedded L1 devnet (a real EVM).
"""

from __future__ import annotations

import re
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.contract import read_checkpoint, rollup_at
from prover.checkpoint import CheckpointStatus
from prover.hashing import leaf_hash
from prover.jsonrpc import JsonRpcError
from prover.range_proof import prove_range
from prover.tree import MemoryTree
from prover.validity import FraudRule
from sequencer.devnet.process import ValidatorProcess, _Child, write_key_file
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.sequencer.validator.equivocating_upstream import forge
from tests.sequencer.validator.helpers import VALIDATOR_ADDRESS, events
from tests.sequencer.validator.test_e2e_rollback import ANCHORED, World, _forged_digest, world
from tests.waiting import wait_for

pytestmark = pytest.mark.slow  # devnet, sequencer, validator and upstream processes


class WithholdingEquivocator(_Child):
    """The equivocating sequencer, serving forged blocks from `from_seq` and nothing from
    `withhold` on."""

    def __init__(self, honest: str, from_seq: int, withhold: int) -> None:
        args = [sys.executable, "-m", "tests.sequencer.validator.equivocating_upstream"]
        env = {"EQUIVOCATOR_KEY": DEV_KEYS[0].hex()}  # the sequencer's key, never in argv
        ready = re.compile(r"listening on (http://\S+)")
        argv = [*args, honest, str(from_seq), str(withhold)]
        self.url = self._start(argv, ready, 60, env=env).group(1)


def _validator(
    w: World,
    data_dir: Path,
    upstreams: list[str],
    *,
    l1_rpc: str | None = None,
    grace: int = 60,
    key: bytes = DEV_KEYS[1],
) -> ValidatorProcess:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    key_file = write_key_file(key, data_dir.parent)
    return ValidatorProcess(
        sequencer=upstreams,
        l1_rpc=l1_rpc or w.devnet_url,
        contract=w.contract,
        key_file=key_file,
        data_dir=data_dir,
        extra_args=["--poll-interval", "0.5", "--pull-interval", "0.1", "--da-grace", str(grace)],
    )


def _rollup(w: World) -> tuple[Web3, Contract]:
    w3 = Web3(Web3.HTTPProvider(w.devnet_url))
    return w3, rollup_at(w3, w.contract)


def _submit_sealed(w: World, first: int, end: int) -> None:
    """Submit unsigned events [first, end) and wait until a block ends at `end` (so the next
    submission starts a block of its own)."""
    w.seq.call("attest_submitBatch", [unsigned(i) for i in range(first, end)])
    wait_for(
        lambda: w.seq.call("attest_status")["latestBlock"]["end"] == end,
        what=f"a block sealed at {end}",
    )


def _wait_for_rollback(val: RpcClient) -> dict[str, Any]:
    rollbacks: list[dict[str, Any]] = wait_for(
        lambda: val.call("validator_status")["rollbacks"], what="the rollback"
    )
    (rollback,) = rollbacks
    return rollback


def _assert_slashed_by_the_receipt(
    w: World, val: RpcClient, rollback: dict[str, Any], bond_before: int
) -> dict[str, Any]:
    """L1 holds exactly one receipt-mismatch proof, the validator's, from the rollback's
    evidence: the bond slashed, the contract frozen (docs/spec.md §9.4)."""
    _, contract = _rollup(w)
    (event,) = wait_for(lambda: events(contract, "FraudProven"), what="the receipt-mismatch proof")
    assert event["args"]["rule"] == FraudRule.RECEIPT_MISMATCH
    assert event["args"]["challenger"] == VALIDATOR_ADDRESS
    (slashed,) = events(contract, "BondSlashed")
    # The whole bond (plus what a DA answer added to it), half of it to the prover.
    assert slashed["args"]["amount"] >= bond_before
    assert event["args"]["reward"] == slashed["args"]["reward"] == slashed["args"]["amount"] // 2
    assert contract.functions.bond().call() == 0
    assert contract.functions.frozen().call() is True
    status = wait_for(
        lambda: (
            (s := val.call("validator_status"))["receipts"]
            and s["receipts"][0]["status"] != "watching"
            and s
        ),
        what="the validator to record its proof",
    )
    (receipt,) = status["receipts"]
    assert receipt["status"] == "proven-mismatch" and receipt["tx"]
    assert receipt["evidence"] == rollback["evidenceKey"]
    seq = receipt["placement"]["seq"]
    assert rollback["from"] <= seq < rollback["to"]
    # The promised leaf is the forged record's, and L1 holds the honest one there.
    honest = bytes.fromhex(w.seq.call("attest_getEvent", seq)["record"][2:])
    assert receipt["placement"]["leafHash"] == "0x" + leaf_hash(forge(honest)).hex()
    (proof,) = [p for p in status["proofs"] if p["rule"] == "RECEIPT_MISMATCH"]
    assert proof["tx"] == receipt["tx"]
    # One proof per offence: later rounds send nothing more (the contract is frozen).
    rounds = status["l1"]["rounds"]
    wait_for(lambda: val.call("validator_status")["l1"]["rounds"] >= rounds + 3, what="3 rounds")
    assert len(events(contract, "FraudProven")) == 1
    out: dict[str, Any] = status
    return out


def test_a_rolled_back_receipt_is_proven_broken_across_a_restart(
    tmp_path: Path, devnet_url: str
) -> None:
    with world(tmp_path, devnet_url) as w:
        _, contract = _rollup(w)
        bond_before = contract.functions.bond().call()
        w.seq.call("attest_submitBatch", [unsigned(i) for i in range(ANCHORED, 40)])
        data = tmp_path / "v"
        with _validator(w, data, [w.eq.url]) as v, RpcClient(v.url) as val:
            wait_for(lambda: val.call("attest_status")["treeSize"] == 40, what="provisional take")
            w.commit_honest(40)  # checkpoint 1 contradicts what the sequencer vouched for
            rollback = _wait_for_rollback(val)
            assert rollback["receiptsKept"] >= 1
            # The committed records are nowhere to be had yet: nothing to prove with.
            assert events(contract, "FraudProven") == []
        # Stopped between the rollback and the proof; the sequencer turns honest meanwhile.
        with RpcClient(w.eq.url) as eq:
            eq.call("equivocator_honest")
        with _validator(w, data, [w.eq.url]) as v, RpcClient(v.url) as val:
            status = _assert_slashed_by_the_receipt(w, val, rollback, bond_before)
            assert [r["evidenceKey"] for r in status["rollbacks"]] == [rollback["evidenceKey"]]
        # Every pending checkpoint reverted (§9.4): checkpoint 1 too, checkpoint 0 as well.
        assert read_checkpoint(contract, 1).status == CheckpointStatus.REVERTED


def test_records_revealed_on_l1_roll_back_what_they_contradict(
    tmp_path: Path, devnet_url: str
) -> None:
    with world(tmp_path, devnet_url) as w:
        _, contract = _rollup(w)
        bond_before = contract.functions.bond().call()
        _submit_sealed(w, ANCHORED, 30)
        _submit_sealed(w, 30, 40)
        with ExitStack() as stack:
            # Forged [20, 30) with the sequencer's receipts; [30, 40) withheld, and no
            # consistency proof that could show the forged prefix contradicted.
            eq = stack.enter_context(WithholdingEquivocator(w.seq_url, ANCHORED, 30))
            v = stack.enter_context(_validator(w, tmp_path / "v", [eq.url], grace=2))
            val = stack.enter_context(RpcClient(v.url))
            wait_for(lambda: val.call("attest_status")["treeSize"] == 30, what="provisional take")
            assert val.call("attest_getEvent", 25)["provisional"] is True
            w.commit_honest(40)
            # The validator cannot back checkpoint 1: it challenges the first missing chunk.
            (opened,) = wait_for(
                lambda: events(contract, "DAChallengeOpened"), what="the DA challenge"
            )
            cid, start, end = (int(opened["args"][k]) for k in ("challengeId", "start", "end"))
            assert start <= 30 < end and start <= ANCHORED
            assert val.call("validator_status")["rollbacks"] == []  # nothing contradicted yet
            # The sequencer answers with the committed records: L1 anchors them.
            honest = [
                bytes.fromhex(w.seq.call("attest_getEvent", s)["record"][2:]) for s in range(40)
            ]
            tree = MemoryTree([leaf_hash(r) for r in honest])
            w.l1.reveal(cid, honest[start:end], prove_range(tree.nodes, start, end, 40))
            rollback = _wait_for_rollback(val)
            assert (rollback["from"], rollback["to"], rollback["checkpoint"]) == (ANCHORED, 30, 1)
            st = val.call("validator_status")
            assert st["contradictions"][0]["seq"] == ANCHORED
            _assert_slashed_by_the_receipt(w, val, rollback, bond_before)
            # The replica holds L1's records, never again the forged ones.
            assert val.call("attest_status")["treeSize"] == 40
            for s in (ANCHORED, 25, 35):
                assert val.call("attest_getEvent", s)["record"] == "0x" + honest[s].hex()
            assert val.call("attest_findByDigest", _forged_digest(w, 25))["seqs"] == []


class SlowLogsProxy:
    """An HTTP proxy to an L1 node that holds every `eth_getLogs` for `delay_s` during its
    first `slow_for_s` seconds: an L1 slow to answer the watcher's first round at a restart."""

    def __init__(self, upstream: str, delay_s: float, slow_for_s: float) -> None:
        self.upstream = upstream
        self.until = time.monotonic() + slow_for_s
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if b"eth_getLogs" in body and time.monotonic() < proxy.until:
                    time.sleep(delay_s)
                req = urllib.request.Request(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=60) as resp:
                    raw = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    @contextmanager
    def running(self) -> Iterator[str]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join()


def _watch_restart(
    val: RpcClient,
    forged: str,
    seconds: float,
    *,
    held: bool,
    until: Callable[[], bool] = lambda: True,
    what: str = "",
) -> None:
    """For `seconds` from a restart, and then until `until()` (at most 60 s more, else
    `what` timed out): no forged record is ever served as anchored; with `held` False (rolled
    back before the stop) none is served at all: not taken again."""
    started = time.monotonic()
    while time.monotonic() - started < seconds or not until():
        assert time.monotonic() - started < seconds + 60, f"timed out waiting for {what}"
        try:
            ev = val.call("attest_getEvent", 25)
        except JsonRpcError:
            ev = None  # not held (rolled back, not fetched again: the equivocator forges)
        if ev is not None and ev["digest"] == forged:
            assert held, "a forged block taken again before the watcher read L1"
            assert ev["provisional"] is True, "a forged record served as anchored"
        time.sleep(0.05)


def test_restarts_with_l1_slow_take_no_forged_block_and_roll_back_a_final_contradiction(
    tmp_path: Path, devnet_url: str
) -> None:
    """Two validators take the forged provisional records. B is stopped before the
    checkpoint contradicting them is committed; A rolls back and is stopped. The checkpoint
    goes final while both are down, and L1 is slow to answer their first round at the
    restart (`eth_getLogs` held 4 s). B must roll back what the final checkpoint contradicts
    (never serving it as anchored); A's pull must take nothing before its watcher read L1 (the
    forged blocks, still served with the sequencer's receipts, are not taken again). Then A
    proves the receipt broken against the final checkpoint (a final checkpoint is live,
    docs/spec.md §9.2): slashed and frozen, and final checkpoints never change."""
    with world(tmp_path, devnet_url) as w:
        w3, contract = _rollup(w)
        bond_before = contract.functions.bond().call()
        w.seq.call("attest_submitBatch", [unsigned(i) for i in range(ANCHORED, 40)])
        data_a, data_b = tmp_path / "a" / "v", tmp_path / "b" / "v"
        forged = _forged_digest(w, 25)
        with (
            _validator(w, data_a, [w.eq.url]) as va,
            RpcClient(va.url) as a,
            _validator(w, data_b, [w.eq.url], key=DEV_KEYS[2]) as vb,
            RpcClient(vb.url) as b,
        ):
            wait_for(
                lambda: (
                    a.call("attest_status")["treeSize"] == b.call("attest_status")["treeSize"] == 40
                ),
                what="the provisional take by both",
            )
            vb.stop()
            w.commit_honest(40)
            rollback = _wait_for_rollback(a)
        # The whole challenge window (120 s) passes while both are down.
        latest = int(w3.eth.get_block("latest")["timestamp"])
        w3.provider.make_request("evm_setNextBlockTimestamp", [latest + 200])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        assert read_checkpoint(contract, 1).status == CheckpointStatus.FINAL

        # While the pull waits for a first L1 round that L1 holds up, SIGTERM still stops it
        # at once (the wait is a cancellable event; the held L1 call is abandoned).
        with SlowLogsProxy(w.devnet_url, delay_s=60.0, slow_for_s=60.0).running() as stuck_l1:
            vb = _validator(w, data_b, [w.eq.url], l1_rpc=stuck_l1, key=DEV_KEYS[2])
            time.sleep(1)
            started = time.monotonic()
            assert vb.stop(timeout=10) == 0
            assert time.monotonic() - started < 5
        with (
            SlowLogsProxy(w.devnet_url, delay_s=4.0, slow_for_s=8.0).running() as slow_l1,
            _validator(w, data_b, [w.eq.url], l1_rpc=slow_l1, key=DEV_KEYS[2]) as vb,
            RpcClient(vb.url) as b,
        ):
            # L1 holds the first round up for 8 s; under load the rollback may come later.
            _watch_restart(
                b,
                forged,
                10,
                held=True,
                until=lambda: bool(b.call("validator_status")["rollbacks"]),
                what="B's rollback of what the final checkpoint contradicts",
            )
            (rolled,) = b.call("validator_status")["rollbacks"]
            assert (rolled["from"], rolled["to"], rolled["checkpoint"]) == (ANCHORED, 40, 1)
            assert b.call("attest_status")["treeSize"] == ANCHORED

        with (
            SlowLogsProxy(w.devnet_url, delay_s=4.0, slow_for_s=8.0).running() as slow_l1,
            _validator(w, data_a, [w.eq.url], l1_rpc=slow_l1) as va,
            RpcClient(va.url) as a,
        ):
            _watch_restart(
                a,
                forged,
                10,
                held=False,
                until=lambda: a.call("validator_status")["l1"]["rounds"] > 0,
                what="A's first L1 round",
            )
            status = a.call("validator_status")
            assert status["l1"]["rounds"] > 0
            assert [r["evidenceKey"] for r in status["rollbacks"]] == [rollback["evidenceKey"]]
            assert a.call("attest_status")["treeSize"] == ANCHORED
            assert a.call("attest_findByDigest", forged)["seqs"] == []
            # Once the sequencer serves what it committed, the receipt is proven broken.
            with RpcClient(w.eq.url) as eq:
                eq.call("equivocator_honest")
            _assert_slashed_by_the_receipt(w, a, rollback, bond_before)
            assert a.call("attest_getEvent", 25)["digest"] != forged
        assert read_checkpoint(contract, 1).status == CheckpointStatus.FINAL
        # B holds the same broken promise, too late: its proof would be refused (frozen).
        # It is simulated, never sent, and the receipt is moot: no round tries it again.
        address_b = Web3().eth.account.from_key(DEV_KEYS[2]).address
        nonce_b = w3.eth.get_transaction_count(address_b)
        with _validator(w, data_b, [w.eq.url], key=DEV_KEYS[2]) as vb, RpcClient(vb.url) as b:
            status = wait_for(
                lambda: (
                    (s := b.call("validator_status"))["receipts"]
                    and s["receipts"][0]["status"] != "watching"
                    and s
                ),
                what="B's receipt settled",
            )
            (receipt,) = status["receipts"]
            assert receipt["status"] == "moot" and receipt["tx"] is None
            assert receipt["evidence"] == status["rollbacks"][0]["evidenceKey"]
            rounds = status["l1"]["rounds"]
            wait_for(
                lambda: b.call("validator_status")["l1"]["rounds"] >= rounds + 3, what="rounds"
            )
            assert b.call("validator_status")["proofs"] == []
        assert w3.eth.get_transaction_count(address_b) == nonce_b
        assert len(events(contract, "FraudProven")) == 1


def test_a_forged_prefix_of_a_new_checkpoint_stays_labelled_provisional(
    tmp_path: Path, devnet_url: str
) -> None:
    with world(tmp_path, devnet_url) as w:
        _submit_sealed(w, ANCHORED, 30)
        _submit_sealed(w, 30, 40)
        with (
            WithholdingEquivocator(w.seq_url, ANCHORED, 30) as eq,
            _validator(w, tmp_path / "v", [eq.url]) as v,
            RpcClient(v.url) as val,
        ):
            wait_for(lambda: val.call("attest_status")["treeSize"] == 30, what="provisional take")
            w.commit_honest(40)  # covers [20, 40); the validator holds a forged [20, 30)
            wait_for(
                lambda: val.call("attest_status")["l1"]["anchoredSize"] == 40,
                what="checkpoint 1 read",
            )
            ev = val.call("attest_getEvent", 25)
            assert ev["digest"] == _forged_digest(w, 25)
            assert ev["provisional"] is True, "a forged record served as anchored"
