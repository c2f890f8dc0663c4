"""Replicate-and-check: how fast a validator takes a sequencer's blocks, beside the ingest rate.

A validator keeps pace only if it re-checks and stores records at least as fast as the sequencer
acknowledges them (issue 11). Two measurements, unsigned and EIP-712-signed, in one run:

1. **end to end** (`validator.eps`, `validator.signed_eps`): a real sequencer process (`attest
   serve --dev`) is filled with events through `attest_submitBatch`, then a fresh replica pulls
   it from the start over HTTP with the validator's pull (`sequencer.validator.upstream.pull`) (the validator's own loop: `attest_getBlock`
   batches, JSON parsing, the rules of docs/spec.md §8, the tree, one LevelDB write batch per
   pull) until it holds every record. This is a late validator catching up.
   Beside it, alternated on the same sequencer and data, the same pull asking for the event
   objects (`attest_getBlock(n, true)`, what it asked for before the compact form
   `attest_getBlock(n, "records")`): `eps_full_form`; CPU per record of the validator and of
   the upstream process for both (`cpu_us_per_record`, `upstream_cpu_us_per_record`).
2. **where the time goes**: a second replica pulls again with fetch, parse and `Replica.ingest`
   timed apart.
3. **check and append, before and after** (`check_eps` beside `check_reference_eps`): the same
   blocks, already fetched and parsed, given to `Replica.ingest` with `BlockChecker` and with
   the per-record reference check it replaced, alternated on fresh stores, best of `repeats`.
4. **signature workers** (signed only): the same recoveries inline, on threads, on processes.
5. **pipelined and serial** (`eps` beside `eps_serial`, alternated on the same sequencer and
   data): `validator.eps` is the validator's pull as `attest validate` runs it, range k + 1
   fetched and decoded while range k is checked and stored; `eps_serial` is the same pull with
   `prefetch=False`, one range at a time (fetch, then check, then the next fetch: the pull
   before the pipeline).

The sequencer's ingest figures come from the `ingest` stage of the same `attest bench` run;
`bench.suite` divides. Run alone: ``python -m bench.bench_validator [--events 40000]``; the
pipelined pull beside the serial one in N alternated pairs, medians and every pair's ratio:
``python -m bench.bench_validator --pairs 8 [--events 60000 | --signed]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import trio

from bench.bench_ingest import DOMAIN, signed_bodies, unsigned_bodies
from bench.loadgen import run_load_subprocess
from prover.jsonrpc import JsonRpcError
from prover.validity import Violation
from prover.wire import parse_address
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc.client import RpcClient
from sequencer.rpc.methods import MAX_FULL_BLOCKS_PER_BATCH
from sequencer.validator.check import (
    BlockChecker,
    RecordLookup,
    ReplayLookup,
    check_records_reference,
    signers_match,
)
from sequencer.validator.replicate import PulledBlock, Replica, parse_block
from sequencer.validator.upstream import BLOCK_FORM, UpstreamPool, pull
from state_db.store import Store

PULL_BLOCKS = MAX_FULL_BLOCKS_PER_BATCH
"""Blocks per `attest_getBlock` batch: the sequencer's limit of full blocks per body (16), which
is also the validator's pull (`sequencer.validator.upstream.pull`)'s default."""


def fill(url: str, bodies: Sequence[bytes], *, token: bool) -> int:
    """Submit `bodies` (attest_submitBatch) one after the other; events acknowledged."""
    headers = {"Authorization": "Bearer dev"} if token else None
    n = 0
    with RpcClient(url) as rpc:
        for body in bodies:
            reply = rpc.post_raw(body, headers=headers)
            answer = orjson.loads(reply.body)
            if "result" not in answer:
                raise RuntimeError(f"fill refused: {reply.body[:300]!r}")
            n += len(orjson.loads(body)["params"][0])
    return n


class _Source:
    """A sequencer read synchronously (attest_status, attest_getBlock batches), for the bench's
    own fetch loops; the validator itself reads through `sequencer.validator.upstream`."""

    def __init__(self, url: str) -> None:
        self.rpc = RpcClient(url)

    def latest_block(self) -> int | None:
        latest = self.rpc.call("attest_status").get("latestBlock")
        return int(latest["number"]) if isinstance(latest, dict) else None

    def blocks(self, first: int, count: int, form: str | bool = BLOCK_FORM) -> list[Any]:
        """Up to `count` raw blocks from `first`, stopping at the first error (past the end)."""
        answers = self.rpc.batch(
            [("attest_getBlock", [n, form]) for n in range(first, first + count)]
        )
        return list(itertools.takewhile(lambda a: not isinstance(a, JsonRpcError), answers))

    def close(self) -> None:
        self.rpc.close()


def sequencer_of(url: str) -> bytes:
    """The address the sequencer at `url` signs block receipts with."""
    with RpcClient(url) as rpc:
        return parse_address(rpc.call("attest_status")["sequencer"], "sequencer")


def new_replica(store: Store, url: str) -> Replica:
    """A replica of the sequencer at `url`, taking blocks on its block receipts (no L1 here)."""
    return Replica(store, DOMAIN.separator, sequencer_of(url))


async def pull_until(
    replica: Replica,
    url: str,
    done: Any,
    max_blocks: int = PULL_BLOCKS,
    form: str | bool = BLOCK_FORM,
    prefetch: bool = True,
) -> None:
    """The validator's pull (`sequencer.validator.upstream.pull`, one upstream) until `done()`;
    `prefetch=False`: one range at a time, as before the pipeline."""
    pool = UpstreamPool([url])
    try:
        while not done():
            await pull(replica, pool, max_blocks=max_blocks, form=form, prefetch=prefetch)
    finally:
        await pool.aclose()


def wait_sealed(url: str, n: int, timeout_s: float = 60.0) -> None:
    """Until the sequencer has sealed blocks up to `n` records."""
    deadline = time.monotonic() + timeout_s
    with RpcClient(url) as rpc:
        while time.monotonic() < deadline:
            latest = rpc.call("attest_status").get("latestBlock")
            if isinstance(latest, dict) and latest.get("end", 0) >= n:
                return
            time.sleep(0.05)
    raise RuntimeError(f"the sequencer did not seal {n} records in {timeout_s} s")


def follow(
    rate_eps: float, seconds: float, tmp: Path, *, batch: int = 1000, reference: bool = False
) -> dict[str, Any]:
    """A validator following a live stream (issue 11: "a 10k events/s stream left it about 20 s
    behind after a minute"): `bench.loadgen` submits unsigned events at `rate_eps` for
    `seconds` while a replica pulls in a loop (the validator's pull (`sequencer.validator.upstream.pull`), no pause); the lag, in records
    and in seconds of stream, each second and when the stream stops, and how long it then takes
    to catch up. `reference`: with the check the replica had before `BlockChecker`."""
    bodies = unsigned_bodies(max(1, int(rate_eps * seconds / batch) + 1), batch)
    with SequencerProcess(tmp / "sequencer") as proc:
        host, port = proc.url.removeprefix("http://").rsplit(":", 1)
        load: dict[str, Any] = {}

        def stream() -> None:
            load.update(run_load_subprocess(
                host, int(port), bodies, connections=2, duration_s=seconds,
                rate=rate_eps / batch, headers=["Authorization: Bearer dev"],
            ))  # fmt: skip

        store = Store.open(tmp / "replica")
        replica = new_replica(store, proc.url)
        if reference:
            replica.checker.close()
            replica.checker = _ReferenceChecker(DOMAIN.separator, workers=0)
        lags: list[int] = []
        try:
            writer = threading.Thread(target=stream, name="bench-stream", daemon=True)
            started = time.perf_counter()
            writer.start()
            next_sample = started + 1.0
            with RpcClient(proc.url) as rpc:

                def sealed() -> int:
                    latest = rpc.call("attest_status").get("latestBlock")
                    return int(latest["end"]) if isinstance(latest, dict) else 0

                def stream_over() -> bool:
                    nonlocal next_sample
                    if time.perf_counter() >= next_sample:
                        lags.append(sealed() - replica.size)
                        next_sample += 1.0
                    return not writer.is_alive()

                trio.run(pull_until, replica, proc.url, stream_over)
                writer.join()
                stopped = time.perf_counter()
                lag_at_stop = sealed() - replica.size
                wait_sealed(proc.url, int(load.get("ok", 0)) * batch)
                target = sealed()
                trio.run(pull_until, replica, proc.url, lambda: replica.size >= target)
                caught_up_s = time.perf_counter() - stopped
                replicated = replica.size
        finally:
            replica.close()
            store.close()
    acked_eps = load.get("rps", 0.0) * batch
    return {
        "target_eps": rate_eps, "acked_eps": acked_eps, "seconds": seconds,
        "lag_records_each_s": lags, "lag_at_stop": lag_at_stop,
        "lag_at_stop_s": lag_at_stop / acked_eps if acked_eps else None,
        "caught_up_s": caught_up_s, "errors": load.get("errors"),
        "acked_events": int(load.get("ok", 0)) * batch, "sealed": target,
        "replicated": replicated,
    }  # fmt: skip


class _ReferenceChecker(BlockChecker):
    """The replica's check before `BlockChecker` (one record at a time), for "before" figures."""

    def check(
        self,
        first_seq: int,
        records: Sequence[bytes],
        previous: bytes | None,
        get_record: RecordLookup,
        find_by_nonce: ReplayLookup,
        claimed: dict[bytes, int] | None = None,
    ) -> list[Violation]:
        return check_records_reference(
            first_seq, records, previous, get_record, find_by_nonce, claimed or {},
            self.domain_separator,
        )  # fmt: skip


def _process_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) process `pid` used so far (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def replicate(
    url: str,
    n: int,
    data_dir: Path,
    *,
    reference: bool = False,
    form: str | bool = BLOCK_FORM,
    upstream_pid: int | None = None,
    prefetch: bool = True,
) -> dict[str, Any]:
    """A fresh replica pulls `n` records from `url` with the validator's pull (`sequencer.validator.upstream.pull`) (the validator's loop).
    `reference`: with the per-record check the replica had before `BlockChecker`. `form`: the
    `attest_getBlock` form pulled (True: the event objects, as before the compact form).
    `prefetch=False`: one range at a time (before the pipeline).
    With `upstream_pid`, the upstream process's CPU per record too."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    store = Store.open(data_dir)
    replica = new_replica(store, url)
    if reference:
        replica.checker.close()
        replica.checker = _ReferenceChecker(DOMAIN.separator, workers=0)
    try:
        started = time.perf_counter()
        cpu, up_cpu = time.process_time(), _process_cpu_s(upstream_pid)
        trio.run(
            partial(pull_until, form=form, prefetch=prefetch),
            replica,
            url,
            lambda: replica.size >= n,
        )
        elapsed = time.perf_counter() - started
        cpu, up_cpu = time.process_time() - cpu, _process_cpu_s(upstream_pid) - up_cpu
        if replica.violations:
            raise RuntimeError(f"honest log judged broken: {replica.violations[0]}")
        return {"records": replica.size, "elapsed_s": elapsed, "cpu_s": cpu,
                "eps": replica.size / elapsed,
                "cpu_us_per_record": 1e6 * cpu / replica.size,
                "upstream_cpu_us_per_record": 1e6 * up_cpu / replica.size}  # fmt: skip
    finally:
        replica.close()
        store.close()


def breakdown(url: str, n: int, data_dir: Path) -> tuple[dict[str, float], list[PulledBlock]]:
    """the validator's pull (`sequencer.validator.upstream.pull`)'s three steps timed apart (a second replica): where the time goes.

    fetch: `attest_getBlock` batches over HTTP, the upstream's work and orjson included;
    parse: `parse_block` (hex, field checks, meta hashes); ingest: `Replica.ingest` (the
    tree and block hashes, the rules, the LevelDB write batch). Also the CPU per record of
    parse and of ingest (`parse_cpu_us_per_record`, `ingest_cpu_us_per_record`: this thread's,
    so other processes' load does not count). Returns the blocks too.
    """
    store = Store.open(data_dir)
    upstreams = _Source(url)
    replica = new_replica(store, url)
    out = {"fetch_s": 0.0, "parse_s": 0.0, "ingest_s": 0.0}
    cpu = {"parse": 0.0, "ingest": 0.0}  # this thread's CPU: what the load around costs not
    blocks: list[PulledBlock] = []
    try:
        while replica.size < n:
            t0 = time.perf_counter()
            raw = upstreams.blocks(store.head.block_count, PULL_BLOCKS)
            t1, c1 = time.perf_counter(), time.thread_time()
            parsed = [parse_block(b) for b in raw]
            t2, c2 = time.perf_counter(), time.thread_time()
            replica.ingest(parsed)
            t3, c3 = time.perf_counter(), time.thread_time()
            out["fetch_s"] += t1 - t0
            out["parse_s"] += t2 - t1
            out["ingest_s"] += t3 - t2
            cpu["parse"] += c2 - c1
            cpu["ingest"] += c3 - c2
            blocks += parsed
        total = sum(out.values())
        out.update({k.replace("_s", "_share"): v / total for k, v in list(out.items())})
        records = replica.size
        for step, seconds in cpu.items():
            out[f"{step}_cpu_us_per_record"] = seconds / records * 1e6
        return out, blocks
    finally:
        replica.close()
        upstreams.close()
        store.close()


def check_only(
    blocks: Sequence[PulledBlock], data_dir: Path, sequencer: bytes, *, reference: bool
) -> tuple[float, float]:
    """`Replica.ingest` over already-parsed blocks, `PULL_BLOCKS` at a time, on a fresh store;
    records per second of wall time and per CPU-second of this process (all its threads: on a
    shared machine the second says what the code costs, the first what it got).
    `reference`: with the per-record check the replica had before `BlockChecker`."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    store = Store.open(data_dir)
    replica = Replica(store, DOMAIN.separator, sequencer)
    if reference:
        replica.checker.close()
        replica.checker = _ReferenceChecker(DOMAIN.separator, workers=0)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(blocks), PULL_BLOCKS):
            replica.ingest(blocks[i : i + PULL_BLOCKS])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if replica.violations:
            raise RuntimeError(f"honest log judged broken: {replica.violations[0]}")
        return replica.size / elapsed, replica.size / cpu
    finally:
        replica.close()
        store.close()


def signature_workers(blocks: Sequence[PulledBlock], workers: int = 2) -> dict[str, float]:
    """Rule 2's recoveries of every signed record: inline, on `workers` threads, on `workers`
    processes (records pickled to them), alternated, best of 3; and threads' CPU/wall (above
    1: the recoveries overlapped, so coincurve let the GIL go)."""
    records = [r for b in blocks for r in b.records]
    sep = DOMAIN.separator
    step = -(-len(records) // (4 * workers))
    chunks = [records[k : k + step] for k in range(0, len(records), step)]
    best = {"inline_per_s": 0.0, "threads_per_s": 0.0, "processes_per_s": 0.0}
    cpu_over_wall = 0.0
    with ThreadPoolExecutor(workers) as threads, ProcessPoolExecutor(workers) as procs:
        list(procs.map(int, range(workers)))  # the workers are up before any clock starts
        for _ in range(3):
            t = time.perf_counter()
            ok = signers_match(sep, records)
            best["inline_per_s"] = max(
                best["inline_per_s"], len(records) / (time.perf_counter() - t)
            )
            t, c = time.perf_counter(), time.process_time()
            ok_t = [
                x for part in threads.map(lambda ch: signers_match(sep, ch), chunks) for x in part
            ]
            wall = time.perf_counter() - t
            best["threads_per_s"] = max(best["threads_per_s"], len(records) / wall)
            cpu_over_wall = max(cpu_over_wall, (time.process_time() - c) / wall)
            t = time.perf_counter()
            ok_p = [
                x for part in procs.map(signers_match, [sep] * len(chunks), chunks) for x in part
            ]
            best["processes_per_s"] = max(
                best["processes_per_s"], len(records) / (time.perf_counter() - t)
            )
            if not (all(ok) and ok == ok_t == ok_p):
                raise RuntimeError("an honest signature failed to recover")
    return {**best, "threads_cpu_over_wall": cpu_over_wall, "records": len(records),
            "workers": workers}  # fmt: skip


def one(
    bodies: Sequence[bytes], tmp: Path, *, token: bool, repeats: int, signed: bool
) -> dict[str, Any]:
    with SequencerProcess(tmp / "sequencer") as proc:
        n = fill(proc.url, bodies, token=token)
        wait_sealed(proc.url, n)
        pid = proc.proc.pid
        # The pipelined pull (after), the same pull one range at a time (before the
        # pipeline), and the event objects (before the compact form), alternated on the
        # same sequencer and data, best of each.
        out: dict[str, Any] = {"eps": 0.0}
        serial: dict[str, Any] = {"eps": 0.0}
        full: dict[str, Any] = {"eps": 0.0}
        for i in range(repeats):
            # Which of the two goes first alternates: the first pull after the fill meets a
            # sequencer still compacting its store.
            if i % 2:
                serial_run = replicate(
                    proc.url, n, tmp / "serial", upstream_pid=pid, prefetch=False
                )
            compact_run = replicate(proc.url, n, tmp / "replica", upstream_pid=pid)
            if not i % 2:
                serial_run = replicate(
                    proc.url, n, tmp / "serial", upstream_pid=pid, prefetch=False
                )
            full_run = replicate(proc.url, n, tmp / "full", form=True, upstream_pid=pid)
            out = max(out, compact_run, key=lambda r: float(r["eps"]))
            serial = max(serial, serial_run, key=lambda r: float(r["eps"]))
            full = max(full, full_run, key=lambda r: float(r["eps"]))
        out["serial"] = serial
        out["eps_serial"] = serial["eps"]
        out["full_form"] = full
        out["eps_full_form"] = full["eps"]
        # The whole pull again with the check it replaced: before and after, one sequencer.
        out["eps_reference"] = replicate(proc.url, n, tmp / "before", reference=True)["eps"]
        out["breakdown"], blocks = breakdown(proc.url, n, tmp / "breakdown")
        sequencer = sequencer_of(proc.url)
    # Before (the per-record reference) and after, alternated on the same blocks.
    before, after = (0.0, 0.0), (0.0, 0.0)
    for _ in range(repeats):
        b = check_only(blocks, tmp / "check", sequencer, reference=True)
        a = check_only(blocks, tmp / "check", sequencer, reference=False)
        before, after = max(before, b), max(after, a)
    out["check_eps"], out["check_per_cpu_s"] = after
    out["check_reference_eps"], out["check_reference_per_cpu_s"] = before
    out["eps_per_cpu_s"] = out["records"] / out["cpu_s"]
    if signed:
        out["signature_workers"] = signature_workers(blocks)
    return out


def pairs(count: int, events: int, tmp: Path, *, signed: bool = False) -> dict[str, Any]:
    """The pipelined pull beside the serial one (`prefetch=False`) in `count` alternated pairs
    on one sequencer holding `events` events (which goes first alternates; one serial pull
    first warms the sequencer up): each pair's ratio and the medians. On a shared machine a
    single best-of-two swings with the neighbours' load; the median of pair ratios does not."""
    batches = max(1, events // 1000)
    bodies = signed_bodies(batches, 1000) if signed else unsigned_bodies(batches, 1000)
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    ratios: list[float] = []
    with SequencerProcess(tmp / "sequencer") as proc:
        n = fill(proc.url, bodies, token=not signed)
        wait_sealed(proc.url, n)
        pid = proc.proc.pid
        replicate(proc.url, n, tmp / "warm", prefetch=False)
        for i in range(count):
            pair: dict[bool, dict[str, Any]] = {}
            for prefetch in (True, False) if i % 2 == 0 else (False, True):
                pair[prefetch] = replicate(
                    proc.url, n, tmp / f"r{i}-{prefetch}", upstream_pid=pid, prefetch=prefetch
                )
                runs[prefetch].append(pair[prefetch])
            ratios.append(float(pair[True]["eps"]) / float(pair[False]["eps"]))

    def medians(rs: list[dict[str, Any]]) -> dict[str, float]:
        keys = ("eps", "cpu_us_per_record", "upstream_cpu_us_per_record")
        return {k: statistics.median(float(r[k]) for r in rs) for k in keys} | {
            "eps_max": max(float(r["eps"]) for r in rs)
        }

    return {"records": n, "signed": signed, "pipelined": medians(runs[True]),
            "serial": medians(runs[False]), "pair_ratios": ratios,
            "median_ratio": statistics.median(ratios), "load_avg": list(os.getloadavg())}  # fmt: skip


def run(
    events: int = 40_000, signed_events: int = 16_000, batch: int = 1000, repeats: int = 2
) -> dict[str, Any]:
    """Unsigned then signed; `events`/`signed_events` rounded to whole batches."""
    out: dict[str, Any] = {"params": {"events": events, "signed_events": signed_events,
                                      "batch": batch, "pull_blocks": PULL_BLOCKS,
                                      "repeats": repeats}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-validator-") as tmp:
        u = unsigned_bodies(max(1, events // batch), batch)
        out["unsigned"] = one(u, Path(tmp, "u"), token=True, repeats=repeats, signed=False)
        s = signed_bodies(max(1, signed_events // batch), batch)
        out["signed"] = one(s, Path(tmp, "s"), token=False, repeats=repeats, signed=True)
    out["load_avg"] = list(os.getloadavg())
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_validator", description=__doc__)
    p.add_argument("--events", type=int, default=40_000)
    p.add_argument("--signed-events", type=int, default=16_000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--follow",
        type=float,
        default=None,
        metavar="EPS",
        help="instead: follow a live unsigned stream at EPS events/s, before and after",
    )
    p.add_argument("--seconds", type=float, default=30.0, help="length of the --follow stream")
    p.add_argument(
        "--pairs",
        type=int,
        default=None,
        metavar="N",
        help="instead: N alternated pairs of the pipelined and the serial pull (--events "
        "unsigned, or --signed-events signed with --signed)",
    )
    p.add_argument("--signed", action="store_true", help="with --pairs: signed events")
    a = p.parse_args(argv)
    if a.pairs is not None:
        with tempfile.TemporaryDirectory(prefix="bench-pairs-") as tmp:
            events = a.signed_events if a.signed else a.events
            print(json.dumps(pairs(a.pairs, events, Path(tmp), signed=a.signed), indent=1))
        return
    if a.follow is not None:
        with tempfile.TemporaryDirectory(prefix="bench-follow-") as tmp:
            out = {
                "after": follow(a.follow, a.seconds, Path(tmp, "after")),
                "before": follow(a.follow, a.seconds, Path(tmp, "before"), reference=True),
                "load_avg": list(os.getloadavg()),
            }
        print(json.dumps(out, indent=1))
        return
    print(json.dumps(run(a.events, a.signed_events, repeats=a.repeats), indent=1))


if __name__ == "__main__":
    main()
