"""Group-commit throughput of `Store.commit` against a bare synced plyvel batch.

Three runs over the same synthetic records, each in its own fresh LevelDB:

* ``store_chunked``: `Store.commit` in groups (records, leaf hashes as 256-node chunks,
  digest/subject/nonce indexes, head; one ``sync=True`` batch per group);
* ``store_per_node``: the same with one key per tree node (``node_chunk_bits=0``), the layout
  the chunks replaced;
* ``bare``: ``write_batch(sync=True)`` of the record bytes only, one batch per group: the floor
  that shows what the store's bookkeeping costs.

Then random inclusion proofs at the full size against both stores (reads/s), since chunking
also changes how many keys a proof reads. Usage: ``python -m bench.bench_store [records]``.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import plyvel

from prover.hashing import keccak256, leaf_hash
from state_db.store import Entry, Store


def synthetic_entries(start: int, end: int) -> list[Entry]:
    """Records of seqs [start, end): varied subject/digest, every third one signed."""
    out = []
    for seq in range(start, end):
        seed = keccak256(seq.to_bytes(8, "big"))
        signed = seq % 3 == 0
        record = b"".join(
            (
                seq.to_bytes(32, "big"),  # 0 seq
                (1_700_000_000_000 + seq).to_bytes(32, "big"),  # 1 timestamp
                b"attestation".ljust(32, b"\x00"),  # 2 kind
                seed[:4].rjust(32, b"\x00"),  # 3 subject (many distinct)
                seed,  # 4 digest
                bytes(32),  # 5 metaHash
                bytes(12) + seed[:20],  # 6 submitter
                seq.to_bytes(32, "big"),  # 7 nonce
                (27 if signed else 0).to_bytes(32, "big"),  # 8 v
                seed if signed else bytes(32),  # 9 r
                seed if signed else bytes(32),  # 10 s
            )
        )
        out.append(Entry(record, leaf_hash(record), None))
    return out


class _Clock:
    """Wall and process CPU time (all threads, so LevelDB's compaction thread counts too)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def elapsed(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _time_store(
    path: Path, groups: list[list[Entry]], bits: int, proofs: int, rng: random.Random
) -> tuple[float, float, float]:
    """(commit wall s, commit CPU s, inclusion proofs wall s at the final size)."""
    n = sum(len(g) for g in groups)
    with Store.open(path, node_chunk_bits=bits) as store:
        clock = _Clock()
        for group in groups:
            end = store.head.tree_size + len(group)
            store.commit(group, [(end, end)])
        wall, cpu = clock.elapsed()
        indices = [rng.randrange(n) for _ in range(proofs)]
        clock = _Clock()
        for i in indices:
            store.inclusion_proof(i, n)
        proof_wall, _ = clock.elapsed()
    return wall, cpu, proof_wall


def _time_bare(path: Path, groups: list[list[Entry]]) -> tuple[float, float, float]:
    db = plyvel.DB(str(path), create_if_missing=True)
    try:
        seq = 0
        clock = _Clock()
        for group in groups:
            batch = db.write_batch(sync=True)
            for entry in group:
                batch.put(b"r" + seq.to_bytes(8, "big"), entry.record)
                seq += 1
            batch.write()
        wall, cpu = clock.elapsed()
    finally:
        db.close()
    return wall, cpu, 0.0


def run(
    records: int = 100_000, group_size: int = 1000, proofs: int = 2000, repeats: int = 3
) -> dict[str, Any]:
    """Time the three layouts on `records` records in groups of `group_size`.

    The machine is shared and fsync times vary a lot, so each layout runs `repeats` times,
    interleaved (rotating the order), and the median is reported; CPU time per record is
    the steadier number for comparing layouts, wall-clock records/s the one that matters.
    """
    entries = synthetic_entries(0, records)
    groups = [entries[i : i + group_size] for i in range(0, records, group_size)]
    rng = random.Random(1)
    layouts = ["chunked", "per_node", "bare"]
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in layouts}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        for r in range(repeats):
            for name in layouts[r % 3 :] + layouts[: r % 3]:
                path = Path(tmp, f"{name}-{r}")
                if name == "bare":
                    samples[name].append(_time_bare(path, groups))
                else:
                    bits = 8 if name == "chunked" else 0
                    samples[name].append(_time_store(path, groups, bits, proofs, rng))
    out: dict[str, Any] = {"records": records, "group_size": group_size, "repeats": repeats}
    for name in layouts:
        wall = statistics.median(s[0] for s in samples[name])
        cpu = statistics.median(s[1] for s in samples[name])
        out[f"{name}_records_per_s"] = records / wall
        out[f"{name}_cpu_us_per_record"] = cpu / records * 1e6
        if name != "bare":
            out[f"{name}_proofs_per_s"] = proofs / statistics.median(s[2] for s in samples[name])
    out["chunked_over_bare"] = out["chunked_records_per_s"] / out["bare_records_per_s"]
    out["chunked_over_per_node"] = out["chunked_records_per_s"] / out["per_node_records_per_s"]
    return out


def main(argv: list[str]) -> None:
    records = int(argv[1]) if len(argv) > 1 else 100_000
    result = run(records)
    for key, value in result.items():
        print(f"{key:32} {value:,.2f}" if isinstance(value, float) else f"{key:32} {value:,}")


if __name__ == "__main__":
    main(sys.argv)
