"""Signature checks off the event loop: threads or processes, and what other requests see.

1. **Recovery throughput** of the same signed events, in one run: on the calling thread; on two
   worker threads (what the sequencer does: libsecp256k1 via coincurve's cffi releases the GIL);
   on a two-process pool (which must also pickle the events and the answers).
2. **Stall**: against a real sequencer process, one client submits a large signed batch while
   another calls `attest_status` in a loop; the status latency during the batch, beside idle.

Run: ``python -m bench.bench_sigcheck [--events 4000]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from bench.bench_ingest import DOMAIN, signed_bodies
from prover.record import EventInput, parse_event
from sequencer.devnet.process import SequencerProcess
from sequencer.node.ingest import recover_chunk
from sequencer.rpc.client import RpcClient


def _events(n: int) -> tuple[list[EventInput], bytes]:
    body = signed_bodies(1, n)[0]
    return [parse_event(e) for e in orjson.loads(body)["params"][0]], body


def _chunks(n: int, k: int) -> list[list[int]]:
    size = -(-n // k)
    return [list(range(i, min(n, i + size))) for i in range(0, n, size)]


def recovery(n: int) -> dict[str, float]:
    events, _ = _events(n)
    sep = DOMAIN.separator
    out: dict[str, float] = {}
    t = time.perf_counter()
    recover_chunk(sep, events, range(n))
    out["one_thread_per_s"] = n / (time.perf_counter() - t)
    with ThreadPoolExecutor(2) as pool:
        t = time.perf_counter()
        list(pool.map(lambda c: recover_chunk(sep, events, c), _chunks(n, 2)))
        out["two_threads_per_s"] = n / (time.perf_counter() - t)
    with ProcessPoolExecutor(2) as procs:
        procs.submit(int).result()  # start the workers before the clock
        t = time.perf_counter()
        futures = [
            procs.submit(recover_chunk, sep, [events[i] for i in c], range(len(c)))
            for c in _chunks(n, 2)
        ]
        for f in futures:
            f.result()
        out["two_processes_per_s"] = n / (time.perf_counter() - t)
    return out


def stall(n: int) -> dict[str, float]:
    _, body = _events(n)
    with tempfile.TemporaryDirectory() as tmp, SequencerProcess(Path(tmp) / "d") as proc:

        def status_latencies(stop: threading.Event, out: list[float]) -> None:
            with RpcClient(proc.url) as rpc:
                while not stop.is_set():
                    t = time.perf_counter()
                    rpc.call("attest_status")
                    out.append((time.perf_counter() - t) * 1000)

        idle: list[float] = []
        stop = threading.Event()
        th = threading.Thread(target=status_latencies, args=(stop, idle))
        th.start()
        time.sleep(1.0)
        stop.set()
        th.join()

        busy: list[float] = []
        stop = threading.Event()
        th = threading.Thread(target=status_latencies, args=(stop, busy))
        th.start()
        with RpcClient(proc.url) as rpc:
            t = time.perf_counter()
            reply = rpc.post_raw(body)
            batch_ms = (time.perf_counter() - t) * 1000
        stop.set()
        th.join()
        if b'"result"' not in reply.body:
            raise RuntimeError(f"signed batch failed: {reply.body[:300]!r}")
    return {
        "batch_events": n,
        "batch_ms": batch_ms,
        "status_idle_p50_ms": statistics.median(idle),
        "status_during_batch_p50_ms": statistics.median(busy),
        "status_during_batch_max_ms": max(busy),
        "status_calls_during_batch": len(busy),
    }


def run(events: int = 4000) -> dict[str, Any]:
    return {"recovery": recovery(events), "stall": stall(events)}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_sigcheck", description=__doc__)
    p.add_argument("--events", type=int, default=4000)
    print(json.dumps(run(p.parse_args(argv).events), indent=2))


if __name__ == "__main__":
    main()
