"""SIGKILL under load: acknowledged events survive with their seq and leaf hash, the tree only
grows consistently, and no submission is ever half-written."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from prover.jsonrpc import JsonRpcError
from prover.tree import verify_consistency
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc.client import RpcClient, TransportError
from tests.sequencer.events import ALICE_KEY, h32, signed, unsigned

pytestmark = pytest.mark.slow  # a crash test: six SIGKILLs under load


ROUNDS = 6
BATCH = 40


@dataclass
class Load:
    """What one client saw: acknowledged placements, batches in flight, roots."""

    acked: dict[str, tuple[int, str]] = field(default_factory=dict)  # digest -> (seq, leafHash)
    unacked_batches: list[list[str]] = field(default_factory=list)  # digests of batches in doubt
    roots: list[tuple[int, str]] = field(default_factory=list)  # (treeSize, root) seen
    stop: threading.Event = field(default_factory=threading.Event)


def _submit_until_dead(url: str, load: Load, round_no: int, nonce_base: int) -> None:
    rng = random.Random(round_no)
    with RpcClient(url, token="dev", timeout=10) as rpc:
        i = 0
        while not load.stop.is_set():
            if rng.random() < 0.3:
                events = [signed(ALICE_KEY, nonce_base + i * BATCH + k) for k in range(BATCH)]
            else:
                events = [
                    unsigned(0, meta={"r": round_no}) | {"digest": h32(f"r{round_no}-{i}-{k}")}
                    for k in range(BATCH)
                ]
            digests = [e["digest"] for e in events]
            load.unacked_batches.append(digests)
            try:
                out = rpc.call("attest_submitBatch", events)
                status = rpc.call("attest_status")
            except (TransportError, JsonRpcError, OSError):
                return  # the server died mid-call: this batch stays in doubt
            load.unacked_batches.pop()
            for d, placed in zip(digests, out["events"], strict=True):
                load.acked[d] = (placed["seq"], placed["leafHash"])
            load.roots.append((status["treeSize"], status["root"]))
            i += 1


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "seq"
    load = Load()
    rng = random.Random(7)
    for round_no in range(ROUNDS):
        proc = SequencerProcess(data)
        load.stop.clear()
        worker = threading.Thread(
            target=_submit_until_dead, args=(proc.url, load, round_no, 10_000 * (round_no + 1))
        )
        worker.start()
        time.sleep(rng.uniform(0.3, 1.2))
        proc.kill()
        load.stop.set()
        worker.join(timeout=30)
        assert not worker.is_alive()

    proc = SequencerProcess(data)
    try:
        with RpcClient(proc.url) as rpc:
            status = rpc.call("attest_status")
            size, root = status["treeSize"], bytes.fromhex(status["root"][2:])
            assert len(load.acked) > 0 and load.roots
            print(f"acked={len(load.acked)} in-doubt={len(load.unacked_batches)} size={size}")
            # Every acknowledged event is there, at the promised seq, with the same leaf hash.
            for digest, (seq, leaf) in load.acked.items():
                event = rpc.call("attest_getEvent", seq)
                assert (event["digest"], event["leafHash"]) == (digest, leaf)
            # The tree only grew: it is a consistent extension of every root seen before a kill.
            for old_size, old_root in load.roots:
                proof = rpc.call("attest_getConsistencyProof", old_size, size)
                verify_consistency(
                    old_size,
                    size,
                    bytes.fromhex(old_root[2:]),
                    root,
                    [bytes.fromhex(p[2:]) for p in proof["proof"]],
                )
            # A batch in doubt is either wholly in the log or not at all.
            for digests in load.unacked_batches:
                present = [bool(rpc.call("attest_findByDigest", d)["seqs"]) for d in digests]
                assert all(present) or not any(present), "half-written submission"
            # And the log is dense: every seq below the size holds a decodable record.
            for seq in range(0, size, max(1, size // 200)):
                assert rpc.call("attest_getEvent", seq)["seq"] == seq
    finally:
        proc.stop()
