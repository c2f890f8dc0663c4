"""Ingest and proof serving through each HTTP front, side by side in one run.

How `attest serve` takes its connections (`[serve] front_process`, `io_thread`;
docs/config.md) must not cost ingest throughput or batched proof reads more than 5% (issue
12's rule). Each round starts a fresh `attest serve --dev` per mode, in turn
(`bench.bench_overload.alternating`), so all see the same machine:

* ingest: `bench.loadgen` at maximum rate, `connections` keep-alive connections of
  `attest_submitBatch` with `batch` unsigned events until the log holds `records`; events/s and the server's CPU time per
  event (which, unlike events/s, does not depend on what else the shared machine runs);
* proofs: over that log, `attest_getProof` batches of `proof_batch` from
  `connections` connections (`bench.bench_proofs.serve_rate`); proofs/s and server CPU per proof.

Run: ``python -m bench.bench_front [--rounds 2] [--modes process,none] [--seconds 8]
[--records 300000]``. The server's CPU is the sequencer's and, with a front process, the
front's too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.bench_http import _cpu_seconds
from bench.bench_ingest import unsigned_bodies
from bench.bench_overload import FRONTS, alternating, write_config
from bench.bench_proofs import serve_rate
from bench.loadgen import run_load_subprocess
from sequencer.devnet.process import SequencerProcess

#: The queue bound of `attest serve` by default (no refusals in these runs).
QUEUE_EVENTS = 200_000


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)


def _server_cpu(pid: int) -> float:
    """CPU seconds of the sequencer process `pid` and of its children (the front process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return _cpu_seconds(pid) + sum(_cpu_seconds(int(child)) for child in children)


def measure(
    front: str, *, seconds: float, batch: int, connections: int, records: int, proof_batch: int
) -> dict[str, Any]:
    """One fresh server with `front`: max-rate ingest, then proof batches over its log."""
    with tempfile.TemporaryDirectory(prefix="bench-front-") as tmp:
        config = write_config(Path(tmp), QUEUE_EVENTS, front=front)
        with SequencerProcess(Path(tmp, "data"), config=config) as proc:
            host, port = _host_port(proc.url)
            pid = proc.proc.pid
            cpu0 = _server_cpu(pid)
            # A fixed count, not a fixed time: both modes then prove over the same tree size.
            ingest = run_load_subprocess(
                host, port, unsigned_bodies(40, batch), connections=connections,
                count=-(-records // batch), headers=["Authorization: Bearer dev"],
            )  # fmt: skip
            ingest_cpu = _server_cpu(pid) - cpu0
            if ingest["errors"]:
                raise RuntimeError(f"ingest had errors: {ingest['error_kinds']}")
            events = ingest["requests"] * batch
            cpu1 = _server_cpu(pid)
            proofs = serve_rate(
                proc.url, seconds=seconds, connections=connections * 4, per_request=proof_batch
            )
            proofs_cpu = _server_cpu(pid) - cpu1
    served = proofs["proofs_per_s"] * proofs["elapsed_s"]
    return {
        "front": front,
        "ingest_eps": round(ingest["rps"] * batch),
        "ingest_cpu_us_per_event": round(ingest_cpu / max(events, 1) * 1e6, 2),
        "ingest_ack_p50_ms": ingest["latency_ms"]["p50"],
        "ingest_ack_p99_ms": ingest["latency_ms"]["p99"],
        "proofs_per_s": round(proofs["proofs_per_s"]),
        "proof_cpu_us": round(proofs_cpu / max(served, 1) * 1e6, 2),
        "proof_batch_p50_ms": proofs["latency_ms"]["p50"],
        "proof_batch_p99_ms": proofs["latency_ms"]["p99"],
        "tree_size": proofs["tree_size"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_front", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--proof-batch", type=int, default=64)
    parser.add_argument(
        "--modes",
        default="process,none",
        help=f"the fronts to compare, comma-separated, of {', '.join(FRONTS)}",
    )
    args = parser.parse_args(argv)
    reports = [
        measure(
            front,
            seconds=args.seconds,
            batch=args.batch,
            connections=args.connections,
            records=args.records,
            proof_batch=args.proof_batch,
        )
        for front in alternating(args.rounds, args.modes.split(","))
    ]
    sys.stdout.write(json.dumps(reports, indent=1) + "\n")
    keys = [k for k in reports[0] if k != "front"]
    sys.stdout.write(" ".join(f"{k:>24}" for k in ["front", *keys]) + "\n")
    for r in reports:
        sys.stdout.write(" ".join(f"{r[k]!s:>24}" for k in ["front", *keys]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
