"""Ingest: durable-acknowledged events/s and ack latency, beside the in-process floor.

One run, side by side:

* **service** — `attest serve` in its own process, driven by `bench.loadgen` in another, with
  pre-built `attest_submitBatch` bodies of `batch` events over several keep-alive connections:
  first at maximum rate (events/s, latency), then open-loop at half that rate (latency).
  Unsigned events use the dev bearer token; signed ones carry EIP-712 signatures made before
  the clock starts (unique nonces, so none is a duplicate).
* **floor** — the same bodies in this process without HTTP: orjson decode, `parse_event`,
  signature recovery (signed), `build_record`, leaf hashes, receipt tree and signature, and
  `Store.commit` in groups of `batch` with `sync=True`: everything the service must do,
  minus the network and the event loop.

Run: ``python -m bench.bench_ingest [--seconds 10] [--batch 1000] [--connections 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.bench_http import _cpu_seconds
from bench.loadgen import run_load_subprocess
from prover.eip712 import (
    Domain,
    Signer,
    compute_event_digest,
    compute_receipt_digest,
    recover_signer,
)
from prover.hashing import leaf_hashes
from prover.receipt_tree import compute_receipt_tree
from prover.record import ZERO32, build_record, encode_kind, parse_event
from sequencer.config import DEV_ADDRESS, DEV_SEQUENCER_KEY
from sequencer.devnet.process import SequencerProcess
from state_db.store import Entry, Store

DOMAIN = Domain(31337, bytes(20))
SIGNER_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
KIND = encode_kind("inference_receipt")


def _digest(i: int) -> bytes:
    return i.to_bytes(32, "big")


def unsigned_bodies(count: int, batch: int) -> list[bytes]:
    """`count` attest_submitBatch bodies of `batch` unsigned events each."""
    bodies = []
    for b in range(count):
        events = [
            {
                "kind": "sensor_hash",
                "subject": "0x" + (b % 97).to_bytes(32, "big").hex(),
                "digest": "0x" + _digest(b * batch + k).hex(),
            }
            for k in range(batch)
        ]
        bodies.append(
            orjson.dumps(
                {"jsonrpc": "2.0", "id": b, "method": "attest_submitBatch", "params": [events]}
            )
        )
    return bodies


def signed_bodies(
    count: int, batch: int, nonce_base: int = 0, domain: Domain = DOMAIN
) -> list[bytes]:
    """`count` bodies of `batch` EIP-712-signed events (unique nonces) in `domain`."""
    signer = Signer(SIGNER_KEY)
    who = "0x" + signer.address.hex()
    subject = b"\x07" * 32
    bodies = []
    for b in range(count):
        events = []
        for k in range(batch):
            nonce = nonce_base + b * batch + k
            digest = _digest(nonce)
            v, r, s = signer.sign(
                compute_event_digest(domain.separator, KIND, subject, digest, ZERO32, nonce)
            )
            events.append({
                "kind": "inference_receipt", "subject": "0x" + subject.hex(),
                "digest": "0x" + digest.hex(), "nonce": nonce, "submitter": who,
                "signature": "0x" + (r + s + bytes([v])).hex(),
            })  # fmt: skip
        bodies.append(
            orjson.dumps(
                {"jsonrpc": "2.0", "id": b, "method": "attest_submitBatch", "params": [events]}
            )
        )
    return bodies


def floor(bodies: Sequence[bytes], data_dir: Path) -> dict[str, float]:
    """Everything but HTTP and the event loop, in this process: events/s."""
    store = Store.open(data_dir)
    signer = Signer(DEV_SEQUENCER_KEY)
    try:
        n = 0
        started = time.perf_counter()
        for body in bodies:
            events = orjson.loads(body)["params"][0]
            parsed = [parse_event(e) for e in events]
            submitters = []
            for ev in parsed:
                if ev.signature is None:
                    submitters.append(DEV_ADDRESS)
                else:
                    assert ev.nonce is not None
                    v, r, s = ev.signature
                    d = compute_event_digest(
                        DOMAIN.separator, ev.kind, ev.subject, ev.digest, ev.meta_hash, ev.nonce
                    )
                    submitters.append(recover_signer(d, v, r, s))
            first = store.head.tree_size
            ts = time.time_ns() // 1_000_000
            records = [
                build_record(ev, first + i, ts, who)
                for i, (ev, who) in enumerate(zip(parsed, submitters, strict=True))
            ]
            hashes = leaf_hashes(records)
            tree = compute_receipt_tree(hashes)
            signer.sign(
                compute_receipt_digest(DOMAIN.separator, first, len(records), tree.root, ts // 1000)
            )
            store.commit(
                [
                    Entry(r, h, ev.meta_bytes)
                    for r, h, ev in zip(records, hashes, parsed, strict=True)
                ]
            )
            n += len(records)
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    return {"events": n, "elapsed_s": elapsed, "eps": n / elapsed}


def service(
    bodies: Sequence[bytes],
    batch: int,
    data_dir: Path,
    *,
    seconds: float,
    connections: int,
    token: bool,
    half_bodies: Sequence[bytes] | None = None,
    ingest_workers: int = 0,
) -> dict[str, Any]:
    """Max rate, then open loop at half of it, against a fresh sequencer process.

    `half_bodies` (default: `bodies`) feed the half-rate run; signed runs pass fresh ones so
    no event is a resend of one already in the log.
    """
    headers = ["Authorization: Bearer dev"] if token else []
    with SequencerProcess(data_dir, extra_args=["--ingest-workers", str(ingest_workers)]) as proc:
        host, port = proc.url.removeprefix("http://").rsplit(":", 1)
        cpu_before = _cpu_seconds(proc.proc.pid)
        peak = run_load_subprocess(
            host, int(port), bodies, connections=connections, duration_s=seconds, headers=headers
        )
        # The server's CPU time per event does not depend on what else the shared machine runs
        # (events/s does): the figure to compare two builds by.
        peak_cpu = _cpu_seconds(proc.proc.pid) - cpu_before
        half_rate = peak["rps"] / 2
        half = run_load_subprocess(
            host,
            int(port),
            half_bodies or bodies,
            connections=connections,
            duration_s=seconds,
            rate=half_rate,
            headers=headers,
        )
    for run in (peak, half):
        if run["errors"]:
            raise RuntimeError(
                f"load run had errors: {run['error_kinds']} {run['error_samples'][:1]}"
            )
    return {
        "eps": peak["rps"] * batch,
        "server_cpu_us_per_event": round(peak_cpu / max(peak["requests"] * batch, 1) * 1e6, 2),
        "ack_p50_ms": peak["latency_ms"]["p50"],
        "ack_p99_ms": peak["latency_ms"]["p99"],
        "half_rate_eps": half["rps"] * batch,
        "half_ack_p50_ms": half["latency_ms"]["p50"],
        "half_ack_p99_ms": half["latency_ms"]["p99"],
        "timeseries": peak["timeseries"],
        "bucket_ms": peak["bucket_ms"],
        "client_cpu_s": peak["client_cpu_s"],
        "elapsed_s": peak["elapsed"],
    }


def run(
    seconds: float = 10.0,
    batch: int = 1000,
    connections: int = 4,
    signed_seconds: float | None = None,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="attest-bench-"))
    try:
        u_bodies = unsigned_bodies(40, batch)
        out: dict[str, Any] = {
            "params": {"seconds": seconds, "batch": batch, "connections": connections}
        }
        out["floor_unsigned"] = floor(u_bodies[:20], tmp / "floor-u")
        out["unsigned"] = service(
            u_bodies, batch, tmp / "svc-u", seconds=seconds, connections=connections, token=True
        )
        # Signed: enough unique nonces for the whole run at up to ~40k events/s.
        s_seconds = signed_seconds or seconds
        count = max(8, int(s_seconds * 40_000 / batch))
        s_bodies = signed_bodies(count, batch)
        s_half = signed_bodies(count, batch, nonce_base=count * batch)
        out["floor_signed"] = floor(s_bodies[:8], tmp / "floor-s")
        out["signed"] = service(
            s_bodies,
            batch,
            tmp / "svc-s",
            seconds=s_seconds,
            connections=connections,
            token=False,
            half_bodies=s_half,
        )
        out["service_vs_floor_unsigned"] = out["unsigned"]["eps"] / out["floor_unsigned"]["eps"]
        out["service_vs_floor_signed"] = out["signed"]["eps"] / out["floor_signed"]["eps"]
        out["machine"] = {
            "cores": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
        }
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_ingest", description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--connections", type=int, default=4)
    args = p.parse_args(argv)
    result = run(args.seconds, args.batch, args.connections)
    for key in ("timeseries",):
        result["unsigned"].pop(key, None)
        result["signed"].pop(key, None)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
