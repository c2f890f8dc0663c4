"""The client toolkit's three figures (docs/benchmarks.md, "Client"), each beside its reference:

* **batcher**: unsigned events/s that `sequencer.client.Batcher` gets *accepted and verified*
  (every receipt checked) into a local `attest serve --dev`, from one Python process — beside
  `bench.loadgen` (pre-built bodies, no checking) against the same sequencer: the sequencer's
  own ceiling on this machine; and `AsyncBatcher` under asyncio the same way.
* **signing**: EIP-712 event signatures/s of `sequencer.client.sign_event` with a `KeySigner`
  beside eth-account's `Account.sign_typed_data` on the same events.
* **fingerprint**: MB/s of `attest model fingerprint`'s hashing (`hash_file`) on one large file
  beside `sha256sum` on the same file (page cache warm for both).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from sequencer.client import AsyncBatcher, AsyncClient, Client, Event, KeySigner, sign_event
from sequencer.toolkit.fingerprint import hash_file

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) of process `pid` so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_batcher(seconds: float, batch: int, in_flight: int = 2) -> dict[str, Any]:
    """Batcher, AsyncBatcher and loadgen against one sequencer, one after the other, each with
    the sequencer's own CPU seconds over its phase: `server_cpu_share_*` near 1.0 means the
    sequencer had a whole core and was the limit; its CPU per event shows what each event
    costs it, whoever sends it."""
    from bench import bench_ingest, loadgen
    from sequencer.devnet.process import SequencerProcess

    with (
        tempfile.TemporaryDirectory(prefix="bench-client-") as tmp,
        SequencerProcess(Path(tmp, "d")) as seq,
    ):
        subjects = [os.urandom(32) for _ in range(64)]
        digests = [os.urandom(32) for _ in range(4096)]
        done = 0
        pid = seq.proc.pid
        with Client(seq.url, token="dev") as client:
            client.status()
            b = client.batcher(
                max_events=batch, max_delay=0.02, max_pending=16 * batch, in_flight=in_flight
            )
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            server0 = _cpu_s(pid)
            i = 0
            while time.perf_counter() - t0 < seconds:
                for _ in range(1000):
                    b.add(Event("sensor_hash", subjects[i & 63], digests[i & 4095]))
                    i += 1
            b.close()
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            server_batcher = _cpu_s(pid) - server0
            done = b.stats.accepted
            failed = b.stats.failed
        async_eps = anyio.run(_async_batcher, seq.url, seconds, batch, subjects, digests, in_flight)
        host, port = seq.url.removeprefix("http://").rstrip("/").split(":")
        server0 = _cpu_s(pid)
        children0 = os.times().children_user + os.times().children_system
        load = loadgen.run_load_subprocess(
            host,
            int(port),
            bench_ingest.unsigned_bodies(40, batch),
            connections=4,
            duration_s=seconds,
            headers=["Authorization: Bearer dev"],
        )
        server_loadgen = _cpu_s(pid) - server0
        loadgen_cpu = os.times().children_user + os.times().children_system - children0
        loadgen_events = load["ok"] * batch
        loadgen_eps = loadgen_events / load["elapsed"]
    return {
        "batcher_eps": done / elapsed,
        "batcher_failed": failed,
        "loadgen_eps": loadgen_eps,
        "batcher_vs_loadgen": done / elapsed / loadgen_eps,
        "async_batcher_eps": async_eps,
        "client_cpu_us_per_event": cpu / max(done, 1) * 1e6,
        "loadgen_cpu_us_per_event": loadgen_cpu / max(loadgen_events, 1) * 1e6,
        "server_cpu_us_per_event_batcher": server_batcher / max(done, 1) * 1e6,
        "server_cpu_us_per_event_loadgen": server_loadgen / max(loadgen_events, 1) * 1e6,
        "server_cpu_share_batcher": server_batcher / elapsed,
        "server_cpu_share_loadgen": server_loadgen / load["elapsed"],
        "load_average": os.getloadavg()[0],
        "batch": batch,
        "in_flight": in_flight,
        "seconds": seconds,
    }


async def _async_batcher(
    url: str,
    seconds: float,
    batch: int,
    subjects: list[bytes],
    digests: list[bytes],
    in_flight: int,
) -> float:
    """`AsyncBatcher` under asyncio (anyio's default backend): accepted and verified events/s."""
    async with AsyncClient(url, token="dev") as client:
        await client.status()
        async with AsyncBatcher(
            client,
            max_events=batch,
            max_delay=0.02,
            max_pending=16 * batch,
            in_flight=in_flight,
        ) as b:
            t0 = time.perf_counter()
            i = 0
            while time.perf_counter() - t0 < seconds:
                await b.add(Event("sensor_hash", subjects[i & 63], digests[i & 4095]))
                i += 1
        return b.accepted / (time.perf_counter() - t0)


def bench_signing(n: int) -> dict[str, Any]:
    from eth_account import Account

    from prover.eip712 import Domain, event_typed_data
    from prover.record import compute_meta_hash, encode_kind

    domain = Domain(31337, bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3"))
    raw = [(os.urandom(32), os.urandom(32)) for _ in range(n)]
    events = [
        Event("inference_receipt", subject, digest, {"i": i}, i)
        for i, (subject, digest) in enumerate(raw)
    ]
    signer = KeySigner(KEY)
    t0 = time.perf_counter()
    ours = [sign_event(signer, domain, e) for e in events]
    t_ours = time.perf_counter() - t0
    account = Account.from_key(KEY)
    # The same raw subjects and digests: eth-account gets exactly what ours signed.
    typed = [
        event_typed_data(
            domain,
            encode_kind(e.kind),
            subject,
            digest,
            compute_meta_hash(e.meta),
            e.nonce or 0,
        )
        for e, (subject, digest) in zip(events, raw, strict=True)
    ]
    t0 = time.perf_counter()
    theirs = [account.sign_typed_data(full_message=t).signature for t in typed]
    t_theirs = time.perf_counter() - t0
    assert [o["signature"] for o in ours] == ["0x" + bytes(s).hex() for s in theirs]
    return {
        "client_sign_per_s": n / t_ours,
        "eth_account_sign_per_s": n / t_theirs,
        "client_vs_eth_account": t_theirs / t_ours,
        "n": n,
    }


def bench_fingerprint(size_mb: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fp-", dir=os.environ.get("BENCH_TMP")) as tmp:
        path = Path(tmp, "model.bin")
        block = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for _ in range(size_mb):
                f.write(block)
        hash_file(path)  # warm the page cache
        best_ours = best_ref = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            hash_file(path)
            best_ours = min(best_ours, time.perf_counter() - t0)
            if shutil.which("sha256sum"):
                t0 = time.perf_counter()
                subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
                best_ref = min(best_ref, time.perf_counter() - t0)
    return {
        "fingerprint_mb_s": size_mb / best_ours,
        "sha256sum_mb_s": size_mb / best_ref,
        "fingerprint_vs_sha256sum": best_ref / best_ours,
        "size_mb": size_mb,
    }


def run(
    seconds: float = 5.0, batch: int = 2000, sign_n: int = 2000, size_mb: int = 1024
) -> dict[str, Any]:
    return {**bench_batcher(seconds, batch), **bench_signing(sign_n), **bench_fingerprint(size_mb)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_client", description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument(
        "--in-flight",
        type=int,
        default=2,
        help="batches on the wire at once (default 2; 4 costs more CPU per event, see "
        "docs/benchmarks.md section 8)",
    )
    p.add_argument("--sign-n", type=int, default=2000)
    p.add_argument("--size-mb", type=int, default=1024)
    p.add_argument("--only", choices=("batcher", "signing", "fingerprint"))
    a = p.parse_args(argv)
    if a.only == "batcher":
        r = bench_batcher(a.seconds, a.batch, a.in_flight)
    elif a.only == "signing":
        r = bench_signing(a.sign_n)
    elif a.only == "fingerprint":
        r = bench_fingerprint(a.size_mb)
    else:
        r = run(a.seconds, a.batch, a.sign_n, a.size_mb)
    import json

    json.dump(r, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
