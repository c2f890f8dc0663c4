"""What the schema 3 indexes (leaf hash; submitter of unsigned records) cost ingest: the same
group commits through `Store.commit` of two source trees, side by side, alternating.

``before`` is a checkout of the code without the indexes (``git archive <commit>`` unpacked
somewhere), ``after`` this tree. Each run is a fresh child process that imports `state_db` from
its tree, builds the records first (untimed), then commits them in groups of `group` into a
fresh LevelDB and reports the process CPU time (every thread: LevelDB's compaction thread
counts) and wall time per record. Runs alternate before/after so that the shared machine's
load falls on both alike; the medians and every run are printed as JSON.

With ``--service``, the same alternation with whole sequencers: a fresh ``attest serve --dev
--no-explorer`` of each tree (started from that tree's directory, so it runs that code) under
`bench.bench_ingest`'s unsigned load at maximum rate (batches of 1,000, 4 connections): events/s
and the server's CPU time per event (all its threads).

Usage::

    git archive 6982aa2 | tar -x -C /tmp/before
    python -m bench.bench_leaf_index --before /tmp/before [--records 200000] [--rounds 5]
    python -m bench.bench_leaf_index --before /tmp/before --service [--seconds 8] [--rounds 4]
    python -m bench.bench_leaf_index --lookup [--records 1000000]

``--lookup`` times the search itself: `find_by_leaf_hash` on a store of ``--records`` built
by this tree (it reads 1/16 of the complete chunks' index entries, so it grows linearly).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench.bench_ingest import unsigned_bodies
from bench.loadgen import run_load_subprocess

HERE = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from prover.hashing import keccak256, leaf_hash
from state_db.store import Entry, Store

records, group, signed_every, path = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
entries = []
for seq in range(records):
    seed = keccak256(seq.to_bytes(8, "big"))
    signed = signed_every > 0 and seq % signed_every == 0
    record = b"".join((
        seq.to_bytes(32, "big"), (1_700_000_000_000 + seq).to_bytes(32, "big"),
        b"attestation".ljust(32, b"\x00"), seed[:4].rjust(32, b"\x00"), seed, bytes(32),
        bytes(12) + keccak256(b"token")[:20] if not signed else bytes(12) + seed[:20],
        seq.to_bytes(32, "big"), (27 if signed else 0).to_bytes(32, "big"),
        seed if signed else bytes(32), seed if signed else bytes(32),
    ))
    entries.append(Entry(record, leaf_hash(record), None))
store = Store.open(path)
import state_db.store as mod
cpu0, wall0 = time.process_time(), time.perf_counter()
for start in range(0, records, group):
    store.commit(entries[start:start + group])
cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
store.close()
print(json.dumps({"cpu_us": cpu / records * 1e6, "wall_us": wall / records * 1e6,
                  "store": os.path.abspath(mod.__file__)}))
"""


def one_run(tree: Path, records: int, group: int, signed_every: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-leaf-") as tmp:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(tree),
                str(records),
                str(group),
                str(signed_every),
                os.path.join(tmp, "db"),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp,
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["store"].startswith(str(tree)):
        raise AssertionError(f"the child imported {result['store']}, not from {tree}")
    return result


def run(
    before: Path, records: int = 200_000, group: int = 1000, rounds: int = 5, signed_every: int = 0
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i in range(rounds):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for name in order:
            tree = before if name == "before" else HERE
            r = one_run(tree, records, group, signed_every)
            runs[name].append(r)
            print(
                f"round {i + 1} {name:6s} cpu {r['cpu_us']:.2f} us/record, "
                f"wall {r['wall_us']:.2f} us/record",
                file=sys.stderr,
            )
    med = {
        name: {
            "cpu_us": statistics.median(r["cpu_us"] for r in rs),
            "wall_us": statistics.median(r["wall_us"] for r in rs),
        }
        for name, rs in runs.items()
    }
    return {
        "records": records,
        "group": group,
        "signed_every": signed_every,
        "rounds": rounds,
        "load_average": os.getloadavg(),
        "median": med,
        "added_cpu_us": med["after"]["cpu_us"] - med["before"]["cpu_us"],
        "runs": runs,
    }


_READY = re.compile(r"listening on (http://\S+)")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all threads (LevelDB's too), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_service_run(
    tree: Path, data_dir: Path, seconds: float, bodies: list[bytes]
) -> dict[str, Any]:
    """`attest serve --dev --no-explorer` of `tree` (its own source, run from that directory)
    under bench_ingest's unsigned load at maximum rate; server CPU and events/s."""
    args = [sys.executable, "-m", "sequencer.cli", "--log-level", "WARNING", "serve"]
    args += ["--data-dir", str(data_dir), "--rpc", "127.0.0.1:0", "--dev", "--no-explorer"]
    proc = subprocess.Popen(args, cwd=tree, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if m := _READY.search(line):
                url = m.group(1)
                break
        if url is None:
            raise RuntimeError(f"attest serve from {tree} did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        cpu0 = _cpu_s(proc.pid)
        run = run_load_subprocess(
            host,
            int(port),
            bodies,
            connections=4,
            duration_s=seconds,
            headers=["Authorization: Bearer dev"],
        )
        used = _cpu_s(proc.pid) - cpu0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    if run["errors"]:
        raise RuntimeError(f"load run had errors: {run['error_kinds']}")
    events = run["ok"] * 1000
    return {"eps": run["rps"] * 1000, "cpu_us": 1e6 * used / max(1, events)}


def run_service(before: Path, seconds: float = 8.0, rounds: int = 4) -> dict[str, Any]:
    """Unsigned ingest at maximum rate into a fresh `attest serve` of each tree, alternating."""
    bodies = unsigned_bodies(40, 1000)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="bench-leaf-service-") as tmp:
        for i in range(rounds):
            for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
                tree = before if name == "before" else HERE
                r = one_service_run(tree, Path(tmp) / f"{name}-{i}", seconds, bodies)
                runs[name].append(r)
                print(
                    f"round {i + 1} {name:6s} {r['eps']:.0f} events/s, "
                    f"server cpu {r['cpu_us']:.2f} us/event",
                    file=sys.stderr,
                )
    med = {
        name: {
            "eps": statistics.median(r["eps"] for r in rs),
            "cpu_us": statistics.median(r["cpu_us"] for r in rs),
        }
        for name, rs in runs.items()
    }
    return {
        "mode": "service",
        "seconds": seconds,
        "rounds": rounds,
        "load_average": os.getloadavg(),
        "median": med,
        "cpu_change": med["after"]["cpu_us"] / med["before"]["cpu_us"] - 1,
        "eps_change": med["after"]["eps"] / med["before"]["eps"] - 1,
        "runs": runs,
    }


def run_lookup(records: int = 1_000_000, lookups: int = 200, seed: int = 7) -> dict[str, Any]:
    """Build a store of `records` with this tree's `Store.commit` (groups of 1,000, every
    third record signed), then time `find_by_leaf_hash` for random records, for a hash of no
    record, and `find_unsigned_by_submitter` pages: the server time of the explorer's search."""
    import random
    import time

    from bench.bench_store import synthetic_entries
    from state_db.store import Store

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-leaf-lookup-") as tmp:
        store = Store.open(Path(tmp) / "db")
        try:
            started = time.perf_counter()
            for start in range(0, records, 50_000):
                entries = synthetic_entries(start, min(records, start + 50_000))
                for i in range(0, len(entries), 1000):
                    store.commit(entries[i : i + 1000])
            build_s = time.perf_counter() - started
            found_ms: list[float] = []
            for _ in range(lookups):
                seq = rng.randrange(records)
                leaf = store.get_leaf_hash(seq)
                t0 = time.perf_counter()
                got = store.find_by_leaf_hash(leaf)
                found_ms.append(1000 * (time.perf_counter() - t0))
                if got != [seq]:
                    raise AssertionError(f"leaf hash of {seq} found at {got}")
            t0 = time.perf_counter()
            if store.find_by_leaf_hash(b"\x5a" * 32) != []:
                raise AssertionError("a hash of no record was found")
            absent_ms = 1000 * (time.perf_counter() - t0)
        finally:
            store.close()
    found_ms.sort()
    return {
        "mode": "lookup",
        "records": records,
        "build_s": build_s,
        "lookups": lookups,
        "found_p50_ms": found_ms[len(found_ms) // 2],
        "found_p99_ms": found_ms[int(len(found_ms) * 0.99)],
        "found_max_ms": found_ms[-1],
        "absent_ms": absent_ms,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, help="source tree without the indexes")
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--group", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--signed-every", type=int, default=0, help="every Nth record signed (0: all unsigned)"
    )
    p.add_argument(
        "--service",
        action="store_true",
        help="whole `attest serve` processes under bench_ingest's load instead of Store.commit",
    )
    p.add_argument("--seconds", type=float, default=8.0, help="per service run")
    p.add_argument(
        "--lookup",
        action="store_true",
        help="time find_by_leaf_hash on a store of --records built by this tree (no --before)",
    )
    a = p.parse_args()
    if a.lookup:
        print(json.dumps(run_lookup(a.records), indent=2))
        return
    if a.before is None:
        p.error("--before is required (a source tree without the indexes)")
    if a.service:
        print(json.dumps(run_service(a.before, a.seconds, a.rounds), indent=2))
    else:
        print(json.dumps(run(a.before, a.records, a.group, a.rounds, a.signed_every), indent=2))


if __name__ == "__main__":
    main()
