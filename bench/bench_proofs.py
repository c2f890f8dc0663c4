"""Proofs: inclusion proofs served per second over JSON-RPC, and verified per second.

* **served** — a sequencer process (`attest serve --dev`, filled with `records` unsigned events
  through its own RPC, or an already running one given by `url`) is driven by
  `bench.loadgen` in another process over `connections` keep-alive connections with pre-built
  ``attest_getProof(seq)`` calls for random seqs: one proof per HTTP request (the figure that
  counts), then JSON-RPC batches of `batch` calls per request (what a light client syncing
  many proofs would do). Every answer must be a result, not an error.
* **verified** — the light client's work, in this process: for proofs fetched beforehand,
  ``verify_inclusion(leaf_hash(record), seq, treeSize, proof, root)`` per proof (RFC 9162
  §2.1.3.2), looped for `verify_seconds`; the JSON and hex decoding are done before the clock
  starts, since a client decodes once whatever it then checks. Reported for one process
  (wall and CPU time) and for one process per core running at once.

``python -m bench.bench_proofs [--records 200000] [--seconds 3] [--connections 16]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from bench.bench_ingest import unsigned_bodies
from bench.loadgen import run_load_subprocess
from prover.hashing import leaf_hash
from prover.tree import verify_inclusion
from prover.wire import parse_hash32, parse_hashes, parse_hex
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc.client import RpcClient

#: Distinct pre-built request bodies per load run (cycled by the load generator).
BODIES = 4096


@contextmanager
def filled_sequencer(records: int, batch: int = 1000) -> Iterator[str]:
    """A fresh `attest serve --dev` holding at least `records` unsigned events; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="bench-proofs-") as tmp, \
            SequencerProcess(Path(tmp, "data")) as proc:  # fmt: skip
        requests = max(1, -(-records // batch))
        host, port = _host_port(proc.url)
        fill = run_load_subprocess(host, port, unsigned_bodies(min(requests, 64), batch),
                                   connections=4, count=requests,
                                   headers=["Authorization: Bearer dev"])  # fmt: skip
        if fill["errors"]:
            raise RuntimeError(f"filling the store failed: {fill['error_kinds']} "
                               f"{fill['error_samples'][:1]}")  # fmt: skip
        yield proc.url


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)


def _proof_bodies(size: int, count: int, per_request: int, rng: random.Random) -> list[bytes]:
    bodies = []
    for i in range(count):
        calls = [{"jsonrpc": "2.0", "id": k, "method": "attest_getProof",
                  "params": [rng.randrange(size)]} for k in range(per_request)]  # fmt: skip
        bodies.append(orjson.dumps(calls[0] if per_request == 1 else calls))
        del i
    return bodies


def serve_rate(url: str, *, seconds: float, connections: int, per_request: int) -> dict[str, Any]:
    """Proofs/s served by the sequencer at `url` (loadgen in its own process)."""
    with RpcClient(url) as client:
        size = int(client.call("attest_status")["treeSize"])
    if size == 0:
        raise ValueError(f"the log at {url} is empty: nothing to prove")
    rng = random.Random(per_request)
    bodies = _proof_bodies(size, max(64, BODIES // per_request), per_request, rng)
    host, port = _host_port(url)
    load = run_load_subprocess(host, port, bodies, connections=connections, duration_s=seconds)
    if load["errors"]:
        raise RuntimeError(
            f"proof requests failed: {load['error_kinds']} {load['error_samples'][:1]}"
        )
    return {
        "tree_size": size,
        "per_request": per_request,
        "connections": connections,
        "requests_per_s": load["rps"],
        "proofs_per_s": load["rps"] * per_request,
        "latency_ms": load["latency_ms"],
        "client_cpu_s": load["client_cpu_s"],
        "elapsed_s": load["elapsed"],
    }


Proof = tuple[bytes, int, int, list[bytes], bytes]


def fetch_proofs(url: str, count: int, seed: int = 1) -> list[Proof]:
    """(record, seq, treeSize, proof, root) for `count` random seqs, decoded from hex."""
    rng = random.Random(seed)
    out: list[Proof] = []
    with RpcClient(url) as client:
        size = int(client.call("attest_status")["treeSize"])
        while len(out) < count:
            seqs = [rng.randrange(size) for _ in range(min(256, count - len(out)))]
            for answer in client.batch([("attest_getProof", [s]) for s in seqs]):
                if isinstance(answer, Exception):
                    raise answer
                out.append((
                    parse_hex(answer["record"], "record"), int(answer["seq"]),
                    int(answer["treeSize"]), list(parse_hashes(answer["proof"], "proof")),
                    parse_hash32(answer["root"], "root"),
                ))  # fmt: skip
    return out


def verify_rate(proofs: Sequence[Proof], seconds: float) -> dict[str, Any]:
    """Light-client verifications/s: leaf hash + audit path per proof, in this process."""
    if not proofs:
        raise ValueError("no proofs to verify")
    done = 0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for record, seq, size, path, root in proofs:
            verify_inclusion(leaf_hash(record), seq, size, path, root)
        done += len(proofs)
        if time.perf_counter() >= deadline:
            break
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "verified": done,
        "wall_s": wall,
        "per_s": done / wall,
        "per_cpu_s": done / cpu if cpu > 0 else 0.0,
        "us_per_proof_cpu": cpu / done * 1e6,
        "mean_path_len": sum(len(p[3]) for p in proofs) / len(proofs),
        "tree_size": max(p[2] for p in proofs),
    }


def _verify_worker(args: tuple[list[Proof], float]) -> dict[str, Any]:
    return verify_rate(*args)


def verify_rate_parallel(proofs: list[Proof], seconds: float, processes: int) -> dict[str, Any]:
    """`verify_rate` in `processes` processes at once (a light client may use every core)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        parts = pool.map(_verify_worker, [(proofs, seconds)] * processes)
    return {"processes": processes, "per_s": sum(p["per_s"] for p in parts),
            "per_process_per_s": [p["per_s"] for p in parts]}  # fmt: skip


def run(
    records: int = 200_000,
    seconds: float = 3.0,
    connections: int = 16,
    batch: int = 64,
    verify_proofs: int = 2000,
    verify_seconds: float = 2.0,
    url: str | None = None,
) -> dict[str, Any]:
    """Served (single and batched) and verified proofs/s; fills a fresh sequencer unless `url`."""
    if records < 1 or seconds <= 0 or connections < 1 or batch < 1 or verify_proofs < 1:
        raise ValueError("records, seconds, connections, batch and verify_proofs must be positive")

    def measure(target: str) -> dict[str, Any]:
        single = serve_rate(target, seconds=seconds, connections=connections, per_request=1)
        batched = serve_rate(target, seconds=seconds, connections=connections, per_request=batch)
        proofs = fetch_proofs(target, verify_proofs)
        verified = verify_rate(proofs, verify_seconds)
        parallel = verify_rate_parallel(proofs, verify_seconds, os.cpu_count() or 1)
        return {
            "params": {"records": records, "seconds": seconds, "connections": connections,
                       "batch": batch, "verify_proofs": verify_proofs,
                       "verify_seconds": verify_seconds},
            "serve_per_s": single["proofs_per_s"],
            "serve_batched_per_s": batched["proofs_per_s"],
            "verify_per_s": verified["per_s"],
            "verify_per_cpu_s": verified["per_cpu_s"],
            "verify_parallel_per_s": parallel["per_s"],
            "served_single": single,
            "served_batched": batched,
            "verified": verified,
            "verified_parallel": parallel,
        }  # fmt: skip

    if url is not None:
        return measure(url)
    with filled_sequencer(records) as target:
        return measure(target)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_proofs", description=__doc__)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--url", default=None, help="measure a running sequencer instead")
    args = p.parse_args(argv)
    print(json.dumps(run(args.records, args.seconds, args.connections, args.batch, url=args.url),
                     indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
