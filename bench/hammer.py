"""The hammer: writers push events while readers verify every proof they are served.

Speed must never be bought with wrong answers, so the load that measures ingest also checks
the log (the tessera "hammer" idea, docs/spec.md (overview) "anyone can check"):

* **writers** — one process with `connections` threads, each a keep-alive `RpcClient`,
  posting pre-built `attest_submitBatch` bodies: first at maximum rate, then open loop at half
  the rate just measured (request i is due at ``start + i / rate`` and its latency counts from
  that due time, so queueing behind a slow server is not hidden). Each answer must be HTTP 200
  with one placement per event; a sample of placements (seq, leafHash, digest) is kept.
* **readers** — `readers` processes, each looping: `attest_status` -> a consistency proof from
  the last size it trusts to the new size, checked against the root it saw before (RFC 9162
  §2.1.4.2) -> a JSON-RPC batch of `attest_getProof` for random seqs below the size, each
  checked with `leaf_hash(record) == leafHash`, the record's own seq word, and
  `verify_inclusion` (RFC 9162 §2.1.3.2); every tree size a proof was served at is tied to the
  trusted chain by its own consistency proof before it is believed.
* **audit** — after the writers stop, the sampled placements are fetched back: the log must
  hold, at each acknowledged seq, the acknowledged leaf hash and the submitted digest (docs/spec.md §5:
  an acknowledgement is a promise about the log).

Any failure — a proof that does not verify, a root that changes history, an RPC error, a
writer error — raises `HammerFailedError` with the details; the run does not report numbers.

Checkpoint marks: `CheckpointWatcher` polls ``attest_getCheckpoint("latest")`` and records
when a new checkpoint covers a new size. Without an L1 (plain ``attest serve``) the method
answers null and there are no marks; against a sequencer with the L1 committer the marks
appear by themselves.

``python -m bench.hammer --url http://127.0.0.1:8645 [--seconds 10] [--readers 1]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing as mp
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, Final

import orjson

from bench.loadgen import read_bodies, write_bodies
from prover.errors import AttestError, ProofError
from prover.hashing import leaf_hash
from prover.record import record_digest, record_seq
from prover.tree import verify_consistency, verify_inclusion
from prover.wire import parse_hex
from sequencer.rpc.client import RpcClient

#: Width of one throughput bucket (the same as `bench.loadgen`).
BUCKET_S: Final = 0.1
#: Latency samples kept per phase for the CDF chart (evenly thinned beyond this).
MAX_LATENCY_SAMPLES: Final = 20_000
#: Placements kept by the writer for the post-run audit.
MAX_AUDIT_SAMPLES: Final = 400
#: Tree sizes a reader remembers having verified (it forgets the oldest beyond this).
MAX_KNOWN_SIZES: Final = 4096

Progress = Callable[[str], None]


class HammerFailedError(AttestError):
    """The service gave a wrong or failed answer during the hammer; `failures` says which."""

    def __init__(self, failures: Sequence[str]) -> None:
        self.failures = list(failures)
        shown = "; ".join(self.failures[:5])
        super().__init__(f"hammer failed ({len(self.failures)} failure(s)): {shown}")


@dataclass(frozen=True, slots=True)
class HammerConfig:
    """What to run; `seconds` is the length of each writer phase."""

    url: str
    token: str | None = "dev"
    """Bearer token for unsigned events (`attest serve --dev` uses "dev"); None for signed."""
    seconds: float = 10.0
    connections: int = 4
    readers: int = 1
    proofs_per_round: int = 32
    half_rate_phase: bool = True
    read_url: str | None = None
    """Where readers read (default `url`): the tests point it at a corrupting proxy."""
    checkpoint_poll_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")
        if self.connections < 1 or self.readers < 0 or self.proofs_per_round < 1:
            raise ValueError(
                "need connections >= 1, readers >= 0, proofs_per_round >= 1; got "
                f"{self.connections}, {self.readers}, {self.proofs_per_round}"
            )


# --- writers -------------------------------------------------------------------------------


@dataclass(slots=True)
class _WriterState:
    """Shared by the writer threads of one phase (appends are atomic under the GIL)."""

    done: list[tuple[float, float, int]] = field(default_factory=list)
    """(completion time from phase start, latency s, events) per acknowledged request."""
    failures: list[str] = field(default_factory=list)
    samples: list[tuple[int, str, str]] = field(default_factory=list)
    """(seq, leafHash, digest) of acknowledged events, for the audit."""


def _body_digests(bodies: Sequence[bytes]) -> list[tuple[int, str, str]]:
    """(event count, first digest, last digest) per body, read before the clock starts."""
    out = []
    for body in bodies:
        events = orjson.loads(body)["params"][0]
        out.append((len(events), str(events[0]["digest"]), str(events[-1]["digest"])))
    return out


def _write_phase(
    url: str,
    token: str | None,
    bodies: Sequence[bytes],
    connections: int,
    seconds: float,
    rate: float | None,
    acked: Synchronized[int] | None,
    first_body: int = 0,
) -> dict[str, Any]:
    """One phase of submissions from `connections` threads; blocks for about `seconds`.

    Request i sends ``bodies[(first_body + i) % len(bodies)]``: a later phase starts where the
    earlier one stopped, so signed events are not resent while fresh ones remain.
    """
    meta = _body_digests(bodies)
    state = _WriterState()
    counter = itertools.count()
    stop = threading.Event()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    clients = [RpcClient(url, timeout=30.0) for _ in range(connections)]
    for c in clients:  # connect before the clock starts
        c.call("attest_status")
    start = time.perf_counter()
    end = start + seconds

    def worker(client: RpcClient) -> None:
        while not stop.is_set():
            i = next(counter)
            if rate is None:
                due = time.perf_counter()
                if due >= end:
                    return
            else:
                due = start + i / rate
                if due >= end:
                    return
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            body = bodies[(first_body + i) % len(bodies)]
            count, first_digest, last_digest = meta[(first_body + i) % len(bodies)]
            try:
                reply = client.post_raw(body, headers)
                done = time.perf_counter()
                answer = orjson.loads(reply.body)
                placements = answer["result"]["events"]
                if reply.status != 200 or len(placements) != count:
                    raise ValueError(f"{count} events sent, {len(placements)} placed")
            except Exception as exc:  # any wrong answer fails the run, with what it was
                state.failures.append(f"writer request {i}: {type(exc).__name__}: {exc}"[:500])
                stop.set()
                return
            state.done.append((done - start, done - due, count))
            if acked is not None:
                with acked.get_lock():
                    acked.value += count
            if len(state.samples) < MAX_AUDIT_SAMPLES:
                first, last = placements[0], placements[-1]
                state.samples.append((int(first["seq"]), str(first["leafHash"]), first_digest))
                state.samples.append((int(last["seq"]), str(last["leafHash"]), last_digest))

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    elapsed = max((d[0] for d in state.done), default=seconds)
    events = sum(d[2] for d in state.done)
    latencies = sorted(d[1] for d in state.done)
    buckets = [0] * (int(elapsed / BUCKET_S) + 1)
    for t_done, _, count in state.done:
        buckets[int(t_done / BUCKET_S)] += count
    return {
        "target_rate_rps": rate,
        "requests": len(state.done),
        "events": events,
        "elapsed_s": elapsed,
        "eps": events / elapsed if elapsed > 0 else 0.0,
        "rps": len(state.done) / elapsed if elapsed > 0 else 0.0,
        "ack_ms": _percentiles_ms(latencies),
        "latencies_ms": [round(x * 1e3, 3) for x in _thin(latencies, MAX_LATENCY_SAMPLES)],
        "timeseries_eps": [round(b / BUCKET_S) for b in buckets],
        "failures": state.failures,
        "samples": state.samples,
    }


def _writer_main(
    url: str,
    token: str | None,
    bodies_file: str,
    connections: int,
    seconds: float,
    half_rate_phase: bool,
    acked: Synchronized[int],
    phase: Synchronized[int],
    out: mp.Queue[dict[str, Any]],
) -> None:
    """Writer process: the max-rate phase, then (optionally) the half-rate phase."""
    bodies = read_bodies(Path(bodies_file))
    result: dict[str, Any] = {"phases": {}}
    try:
        started = time.time()
        peak = _write_phase(url, token, bodies, connections, seconds, None, acked)
        peak["started_at"] = started
        result["phases"]["max"] = peak
        if half_rate_phase and not peak["failures"] and peak["rps"] > 0:
            phase.value = 1
            started = time.time()
            half = _write_phase(
                url,
                token,
                bodies,
                connections,
                seconds,
                peak["rps"] / 2,
                acked,
                first_body=peak["requests"],
            )
            half["started_at"] = started
            result["phases"]["half"] = half
    except Exception as exc:  # reported to the parent, which fails the run
        result["error"] = f"{type(exc).__name__}: {exc}"
    out.put(result)


# --- readers -------------------------------------------------------------------------------


def _hex(value: Any) -> bytes:
    return parse_hex(value, "answer")


class _Verifier:
    """A reader's trusted view: tree sizes whose roots are proven consistent with each other."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.known: dict[int, bytes] = {}
        self.size = 0
        self.root = b""
        self.inclusion = 0
        self.consistency = 0

    def trust_first(self, size: int, root: bytes) -> None:
        self.size, self.root = size, root
        self.known = {size: root}

    def tie(self, size: int, root: bytes) -> None:
        """Believe (size, root) only once a consistency proof ties it to the trusted chain."""
        if size in self.known:
            # Verify the same size always has the same root (a fork would show here).
            if self.known[size] != root:
                raise ProofError(
                    f"tree size {size} served with root {root.hex()}, "
                    f"earlier {self.known[size].hex()}"
                )
            return
        first, second = (self.size, size) if size >= self.size else (size, self.size)
        first_root, second_root = (self.root, root) if size >= self.size else (root, self.root)
        cons = self.client.call("attest_getConsistencyProof", first, second)
        # Verify the server's roots are the ones we hold, then the proof between them.
        if _hex(cons["firstRoot"]) != first_root or _hex(cons["secondRoot"]) != second_root:
            raise ProofError(
                f"consistency {first}->{second}: served roots differ from the roots seen"
            )
        if int(cons["first"]) != first or int(cons["second"]) != second:
            raise ProofError(f"consistency {first}->{second}: answer is for other sizes")
        verify_consistency(first, second, first_root, second_root, [_hex(p) for p in cons["proof"]])
        self.consistency += 1
        if len(self.known) >= MAX_KNOWN_SIZES:
            self.known = {self.size: self.root}
        self.known[size] = root
        if size > self.size:
            self.size, self.root = size, root

    def check_proof(self, seq: int, answer: Any) -> None:
        """One `attest_getProof` answer: record, leaf hash, audit path, then its root."""
        if not isinstance(answer, dict):
            raise ProofError(f"getProof({seq}) failed: {answer}")
        record = _hex(answer["record"])
        claimed = _hex(answer["leafHash"])
        size = int(answer["treeSize"])
        root = _hex(answer["root"])
        # Verify the record is the one at `seq` and hashes to the served leaf hash (docs/spec.md §2).
        if int(answer["seq"]) != seq or record_seq(record) != seq:
            raise ProofError(f"getProof({seq}) served the record of seq {record_seq(record)}")
        if leaf_hash(record) != claimed:
            raise ProofError(f"getProof({seq}): leafHash is not H(0x00 || record)")
        verify_inclusion(claimed, seq, size, [_hex(p) for p in answer["proof"]], root)
        self.inclusion += 1
        self.tie(size, root)


def _reader_main(
    url: str,
    seed: int,
    proofs_per_round: int,
    stop: Any,
    counts: Any,
    slot: int,
    out: mp.Queue[dict[str, Any]],
) -> None:
    """Reader process: verify until `stop` is set or something fails; report on `out`."""
    rng = random.Random(seed)
    failures: list[str] = []
    rounds = 0
    with RpcClient(url, timeout=30.0) as client:
        v = _Verifier(client)
        started = time.perf_counter()
        try:
            status = client.call("attest_status")
            v.trust_first(int(status["treeSize"]), _hex(status["root"]))
            while not stop.is_set():
                status = client.call("attest_status")
                v.tie(int(status["treeSize"]), _hex(status["root"]))
                size = int(status["treeSize"])
                if size == 0:
                    time.sleep(0.01)
                    continue
                seqs = [rng.randrange(size) for _ in range(proofs_per_round)]
                answers = client.batch([("attest_getProof", [s]) for s in seqs])
                for seq, answer in zip(seqs, answers, strict=True):
                    v.check_proof(seq, answer)
                rounds += 1
                counts[2 * slot] = v.inclusion
                counts[2 * slot + 1] = v.consistency
            elapsed = time.perf_counter() - started
        except Exception as exc:  # every failure ends the run, described
            failures.append(f"reader {slot}: {type(exc).__name__}: {exc}"[:800])
            elapsed = time.perf_counter() - started if rounds else 0.0
    out.put(
        {
            "slot": slot,
            "rounds": rounds,
            "inclusion_verified": v.inclusion,
            "consistency_verified": v.consistency,
            "elapsed_s": elapsed,
            "failures": failures,
            "final_size": v.size,
        }
    )


# --- checkpoint marks ----------------------------------------------------------------------


class CheckpointWatcher:
    """Polls the latest L1 checkpoint; `marks` holds (wall time, treeSize, index) per new one.

    The hook for the throughput chart's checkpoint marks. A sequencer without an L1 (plain
    ``attest serve``) says ``"l1": null`` in `attest_status`; the watcher then stops at once
    and there are no marks. Each new checkpoint's root must be the log's root at its size
    (a consistency proof of the size to itself serves that root); a mismatch is a failure.
    """

    def __init__(self, url: str, poll_s: float) -> None:
        self.url = url
        self.poll_s = poll_s
        self.marks: list[tuple[float, int, int]] = []
        self.failures: list[str] = []
        self.l1_attached = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CheckpointWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last: int | None = None
        with RpcClient(self.url, timeout=10.0) as client:
            try:
                self.l1_attached = client.call("attest_status").get("l1") is not None
                while self.l1_attached and not self._stop.wait(self.poll_s):
                    cp = client.call("attest_getCheckpoint", "latest")
                    if cp is None or int(cp["index"]) == last:
                        continue  # none committed yet, or nothing new
                    last = int(cp["index"])
                    size = int(cp["treeSize"])
                    self.marks.append((time.time(), size, last))
                    # Verify the checkpoint's root is the log's root at that size.
                    served = client.call("attest_getConsistencyProof", size, size)
                    if served["firstRoot"] != cp["root"]:
                        raise ProofError(
                            f"checkpoint {last} root {cp['root']} is not the "
                            f"log's root {served['firstRoot']} at size {size}"
                        )
            except Exception as exc:  # reported by `run`, which fails
                self.failures.append(f"checkpoint watcher: {type(exc).__name__}: {exc}"[:500])


# --- the run -------------------------------------------------------------------------------


def run(
    cfg: HammerConfig, bodies: Sequence[bytes], progress: Progress | None = None
) -> dict[str, Any]:
    """Writers and readers against `cfg.url`; raises `HammerFailedError` on any wrong answer."""
    if not bodies:
        raise ValueError("bodies must not be empty")
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    counts = ctx.Array("q", 2 * max(1, cfg.readers), lock=False)
    acked = ctx.Value("q", 0)
    phase = ctx.Value("i", 0, lock=False)
    writer_out: mp.Queue[dict[str, Any]] = ctx.Queue()
    reader_out: mp.Queue[dict[str, Any]] = ctx.Queue()
    read_url = cfg.read_url or cfg.url
    with tempfile.TemporaryDirectory(prefix="hammer-") as tmp:
        bodies_file = Path(tmp, "bodies.ndjson")
        write_bodies(bodies, bodies_file)
        readers = [
            ctx.Process(
                target=_reader_main,
                args=(read_url, 9162 + k, cfg.proofs_per_round, stop, counts, k, reader_out),
                daemon=True,
            )
            for k in range(cfg.readers)
        ]
        writer = ctx.Process(
            target=_writer_main,
            args=(cfg.url, cfg.token, str(bodies_file), cfg.connections, cfg.seconds,
                  cfg.half_rate_phase, acked, phase, writer_out),
            daemon=True,
        )  # fmt: skip
        with RpcClient(cfg.url) as client:
            size_before = int(client.call("attest_status")["treeSize"])
        with CheckpointWatcher(cfg.url, cfg.checkpoint_poll_s) as watcher:
            for p in readers:
                p.start()
            started = time.time()
            writer.start()
            written = _wait_writer(writer, writer_out, started, acked, phase, counts, cfg, progress)
            stop.set()
            read = _collect_readers(readers, reader_out)
    failures = [f for r in read for f in r["failures"]] + watcher.failures
    if "error" in written:
        failures.append(f"writer: {written['error']}")
    for name, ph in written.get("phases", {}).items():
        failures += [f"{name}-rate {f}" for f in ph["failures"]]
    if failures:
        raise HammerFailedError(failures)
    peak = written["phases"]["max"]
    samples = peak.pop("samples") + written["phases"].get("half", {}).pop("samples", [])
    audited = audit_acknowledged(read_url, samples)
    with RpcClient(cfg.url) as client:
        size_after = int(client.call("attest_status")["treeSize"])
    inclusion = sum(r["inclusion_verified"] for r in read)
    consistency = sum(r["consistency_verified"] for r in read)
    reader_s = max((r["elapsed_s"] for r in read), default=0.0)
    out: dict[str, Any] = {
        "params": {"seconds": cfg.seconds, "connections": cfg.connections, "readers": cfg.readers,
                   "proofs_per_round": cfg.proofs_per_round,
                   "batch": len(orjson.loads(bodies[0])["params"][0]),
                   "signed": cfg.token is None},
        "max": peak,
        "inclusion_verified": inclusion,
        "consistency_verified": consistency,
        "reader_rounds": sum(r["rounds"] for r in read),
        "reader_inclusion_per_s": inclusion / reader_s if reader_s > 0 else 0.0,
        "acks_audited": audited,
        # New records in the log: below the events acked when bodies were resent (a signed
        # event sent again is placed where it already is), equal otherwise.
        "log_growth": size_after - size_before,
        "l1_attached": watcher.l1_attached,
        "checkpoint_marks": [
            {"t_s": t - peak["started_at"], "tree_size": size, "index": index}
            for t, size, index in watcher.marks
        ],
    }  # fmt: skip
    if "half" in written["phases"]:
        out["half"] = written["phases"]["half"]
        out["half"]["t_offset_s"] = out["half"]["started_at"] - peak["started_at"]
    return out


def _wait_writer(
    writer: Any,
    writer_out: mp.Queue[dict[str, Any]],
    started: float,
    acked: Any,
    phase: Any,
    counts: Any,
    cfg: HammerConfig,
    progress: Progress | None,
) -> dict[str, Any]:
    """Wait for the writer's result, reporting live progress once a second."""
    import queue

    deadline = started + 2 * cfg.seconds + 120  # generous: start-up and draining
    while True:
        try:
            result: dict[str, Any] = writer_out.get(timeout=1.0)
            writer.join(timeout=10)
            return result
        except queue.Empty:
            pass
        if not writer.is_alive() and writer.exitcode not in (None, 0):
            return {"error": f"writer process exited with {writer.exitcode}", "phases": {}}
        if time.time() > deadline:
            writer.kill()
            return {"error": "writer did not finish in time", "phases": {}}
        if progress is not None:
            inc = sum(counts[0::2])
            con = sum(counts[1::2])
            name = "half-rate" if phase.value else "max-rate"
            progress(f"{name}: {acked.value:,} events acked, {inc:,} inclusion + "
                     f"{con:,} consistency proofs verified")  # fmt: skip


def _collect_readers(readers: Sequence[Any], out: mp.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reader's report; a reader that died without one becomes a failure report."""
    import queue

    got: list[dict[str, Any]] = []
    deadline = time.time() + 60
    while len(got) < len(readers) and time.time() < deadline:
        try:
            got.append(out.get(timeout=0.5))
        except queue.Empty:
            if all(not p.is_alive() for p in readers):
                try:
                    got.append(out.get(timeout=1.0))
                except queue.Empty:
                    break
    for p in readers:
        p.join(timeout=10)
    missing = len(readers) - len(got)
    if missing:
        codes = [p.exitcode for p in readers]
        got.append(
            {
                "failures": [f"{missing} reader(s) died without a report (exit codes {codes})"],
                "rounds": 0,
                "inclusion_verified": 0,
                "consistency_verified": 0,
                "elapsed_s": 0.0,
            }
        )
    return got


def audit_acknowledged(url: str, samples: Sequence[tuple[int, str, str]]) -> int:
    """Check each acknowledged (seq, leafHash, digest) against the log; return how many.

    Raises `HammerFailedError` naming every placement the log does not keep.
    """
    failures = []
    with RpcClient(url, timeout=30.0) as client:
        v = _Verifier(client)
        status = client.call("attest_status")
        v.trust_first(int(status["treeSize"]), _hex(status["root"]))
        for start in range(0, len(samples), 64):
            chunk = samples[start : start + 64]
            answers = client.batch([("attest_getProof", [seq]) for seq, _, _ in chunk])
            for (seq, acked_leaf, digest), answer in zip(chunk, answers, strict=True):
                try:
                    v.check_proof(seq, answer)
                    if answer["leafHash"] != acked_leaf:
                        raise ProofError("leaf hash differs from the acknowledged one")
                    if record_digest(_hex(answer["record"])) != _hex(digest):
                        raise ProofError("record digest differs from the submitted one")
                except Exception as exc:
                    failures.append(f"audit of acknowledged seq {seq}: {exc}"[:500])
    if failures:
        raise HammerFailedError(failures)
    return len(samples)


def _percentiles_ms(sorted_s: Sequence[float]) -> dict[str, float]:
    if not sorted_s:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}

    def at(q: float) -> float:
        # Nearest rank: the smallest sample with at least q of the samples at or below it.
        rank = max(1, math.ceil(q * len(sorted_s)))
        return round(sorted_s[min(rank, len(sorted_s)) - 1] * 1e3, 3)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99),
            "max": round(sorted_s[-1] * 1e3, 3),
            "mean": round(sum(sorted_s) / len(sorted_s) * 1e3, 3)}  # fmt: skip


def _thin(values: Sequence[float], limit: int) -> list[float]:
    if len(values) <= limit:
        return list(values)
    step = len(values) / limit
    return [values[int(k * step)] for k in range(limit)]


def signed_bodies_for(url: str, count: int, batch: int, nonce_base: int) -> list[bytes]:
    """`count` submitBatch bodies of `batch` events signed in the EIP-712 domain `url` serves.

    The domain comes from `attest_status` (docs/spec.md §4), so the same bodies work against
    `attest serve --dev` and against `attest devnet`'s deployed contract.
    """
    from bench.bench_ingest import signed_bodies
    from prover.eip712 import Domain

    with RpcClient(url) as client:
        dom = client.call("attest_status")["eip712Domain"]
    domain = Domain(int(dom["chainId"]), _hex(dom["verifyingContract"]))
    return signed_bodies(count, batch, nonce_base, domain)


def main(argv: Sequence[str] | None = None) -> int:
    from bench.bench_ingest import unsigned_bodies

    p = argparse.ArgumentParser(prog="python -m bench.hammer", description=__doc__)
    p.add_argument("--url", required=True, help="the sequencer's JSON-RPC URL")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each writer phase")
    p.add_argument("--batch", type=int, default=1000, help="events per submitBatch")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--readers", type=int, default=1)
    p.add_argument("--signed", action="store_true", help="EIP-712-signed events, no token")
    args = p.parse_args(argv)
    # Signed bodies are made for up to 20k events/s over both phases: a body sent twice is an
    # idempotent resend (same placement, no new record), which would flatter the rate; the
    # result's `log_growth` shows how many events were new. Nonces start at the clock so
    # that runs against the same sequencer do not collide.
    count = max(40, math.ceil(2 * args.seconds * 20_000 / args.batch))
    bodies = (signed_bodies_for(args.url, count, args.batch, nonce_base=time.time_ns())
              if args.signed else unsigned_bodies(40, args.batch))  # fmt: skip
    cfg = HammerConfig(args.url, None if args.signed else "dev", args.seconds,
                       args.connections, args.readers)  # fmt: skip
    try:
        result = run(
            cfg, bodies, lambda line: print(f"\r{line[:110]:110}", end="", file=sys.stderr)
        )
    except HammerFailedError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    for ph in ("max", "half"):
        if ph in result:
            result[ph].pop("latencies_ms")
            result[ph].pop("timeseries_eps")
    print(file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
