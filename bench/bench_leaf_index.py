"""What the schema 3 indexes (leaf hash; submitter of unsigned records) cost ingest: the same
group commits through `Store.commit` of two source trees, side by side, alternating.

``before`` is a checkout of the code without the indexes (``git archive <commit>`` unpacked
somewhere), ``after`` this tree. Each run is a fresh child process that imports `state_db` from
its tree, builds the records first (untimed), then commits them in groups of `group` into a
fresh LevelDB and reports the process CPU time (every thread: LevelDB's compaction thread
counts) and wall time per record. Runs alternate before/after so that the shared machine's
load falls on both alike; the medians and every run are printed as JSON.

Usage::

    git archive 6982aa2 | tar -x -C /tmp/before
    python -m bench.bench_leaf_index --before /tmp/before [--records 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, required=True, help="source tree without the indexes")
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--group", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--signed-every", type=int, default=0, help="every Nth record signed (0: all unsigned)"
    )
    a = p.parse_args()
    print(json.dumps(run(a.before, a.records, a.group, a.rounds, a.signed_every), indent=2))


if __name__ == "__main__":
    main()
