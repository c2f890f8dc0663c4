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


def _time_store(
    path: Path, groups: list[list[Entry]], bits: int, proofs: int, rng: random.Random
) -> tuple[float, float]:
    """(records/s through commit, inclusion proofs/s at the final size)."""
    n = sum(len(g) for g in groups)
    with Store.open(path, node_chunk_bits=bits) as store:
        started = time.perf_counter()
        for group in groups:
            end = store.head.tree_size + len(group)
            store.commit(group, [(end, end)])
        commit_s = time.perf_counter() - started
        indices = [rng.randrange(n) for _ in range(proofs)]
        started = time.perf_counter()
        for i in indices:
            store.inclusion_proof(i, n)
        proof_s = time.perf_counter() - started
    return n / commit_s, proofs / proof_s


def _time_bare(path: Path, groups: list[list[Entry]]) -> float:
    n = sum(len(g) for g in groups)
    db = plyvel.DB(str(path), create_if_missing=True)
    try:
        seq = 0
        started = time.perf_counter()
        for group in groups:
            batch = db.write_batch(sync=True)
            for entry in group:
                batch.put(b"r" + seq.to_bytes(8, "big"), entry.record)
                seq += 1
            batch.write()
        elapsed = time.perf_counter() - started
    finally:
        db.close()
    return n / elapsed


def run(records: int = 100_000, group_size: int = 1000, proofs: int = 2000) -> dict[str, Any]:
    """Time the three layouts on `records` records in groups of `group_size`."""
    entries = synthetic_entries(0, records)
    groups = [entries[i : i + group_size] for i in range(0, records, group_size)]
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        chunked, chunked_proofs = _time_store(Path(tmp, "chunked"), groups, 8, proofs, rng)
        per_node, per_node_proofs = _time_store(Path(tmp, "per_node"), groups, 0, proofs, rng)
        bare = _time_bare(Path(tmp, "bare"), groups)
    return {
        "records": records,
        "group_size": group_size,
        "store_chunked_records_per_s": chunked,
        "store_per_node_records_per_s": per_node,
        "bare_plyvel_records_per_s": bare,
        "store_chunked_over_bare": chunked / bare,
        "chunked_over_per_node": chunked / per_node,
        "proofs_per_s_chunked": chunked_proofs,
        "proofs_per_s_per_node": per_node_proofs,
    }


def main(argv: list[str]) -> None:
    records = int(argv[1]) if len(argv) > 1 else 100_000
    result = run(records)
    for key, value in result.items():
        print(f"{key:32} {value:,.2f}" if isinstance(value, float) else f"{key:32} {value:,}")


if __name__ == "__main__":
    main(sys.argv)
