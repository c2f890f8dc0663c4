"""The RFC 9162 tree (prover/tree.py) against its keccak floor and against pymerkle 7.

``python -m bench.bench_tree [--n N] [--proofs P] [--pymerkle-n M]`` runs, in one process:

* **ours**: hash N distinct 32-byte inputs with `prover.hashing.leaf_hash`, append them to a
  `MemoryTree` (one `CompactTree.append_many` call, nodes kept in a `LevelsNodeReader`), take
  the root; then P inclusion and P consistency proofs for random (index, size) and
  (first, second) pairs at sizes up to N.
* **pymerkle 7**: ``InmemoryTree(algorithm="keccak_256")``, the same N entries appended one
  by one with ``append_entry`` (it hashes them itself), ``get_root()``, then the same proofs
  (its indices count from 1). Its keccak comes from safe-pysha3's ``sha3.keccak_256``, which
  pymerkle's hasher picks up whenever the ``sha3`` module is importable, without the
  ``[keccak]`` extra. With its default security mode it prefixes leaves with 0x00 and nodes
  with 0x01, so its roots equal ours (checked at its size, and 50 of its paths). If
  M < N, pymerkle runs at M entries and its append time is scaled by N/M (linearly, which
  flatters it: its appends cost O(log n) hashes each); its proofs are then timed at size M.
* **floor**: the keccak calls any RFC 9162 tree of N leaves needs and nothing else: N leaf
  hashes and N-1 node hashes in tight loops over ``sha3.keccak_256``, results thrown away.
  The proofs' floor is reading ~log2 N stored hashes per proof (list indexing).

It reports CPU seconds of this process for each (so neighbours on shared cores count less),
and the ratios ours/floor and pymerkle/ours.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from typing import Any

import sha3

from prover.hashing import leaf_hash, leaf_hashes
from prover.receipt_tree import compute_receipt_tree
from prover.tree import MemoryTree

# CPU time of this process, not wall time: the benchmark is single-threaded and CPU-bound,
# and the cores are shared, so wall time would also count other processes' turns.
_clock = time.process_time


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = _clock()
    result = fn()
    return _clock() - start, result


def _inputs(n: int) -> list[bytes]:
    return [i.to_bytes(32, "big") for i in range(n)]


def _pairs(rng: random.Random, n: int, count: int) -> tuple[list[tuple[int, int]], ...]:
    """Random (index, size) pairs for inclusion and (first, second) pairs for consistency."""
    inclusion = []
    consistency = []
    for _ in range(count):
        size = rng.randint(1, n)
        inclusion.append((rng.randrange(size), size))
        second = rng.randint(1, n)
        consistency.append((rng.randint(1, second), second))
    return inclusion, consistency


def _floor(data: list[bytes]) -> tuple[float, float]:
    """Seconds for N leaf hashes and for N-1 node hashes, with no storage or bookkeeping."""
    keccak = sha3.keccak_256
    leaf, node = b"\x00", b"\x01"
    h = keccak(leaf + data[0]).digest()
    start = _clock()
    for d in data:
        keccak(leaf + d).digest()
    middle = _clock()
    for _ in range(len(data) - 1):
        keccak(node + h + h).digest()
    return middle - start, _clock() - middle


def _ours(
    data: list[bytes], inclusion: list[tuple[int, int]], consistency: list[tuple[int, int]]
) -> dict[str, Any]:
    leaves_s, leaves = _timed(lambda: leaf_hashes(data))

    def build() -> MemoryTree:
        tree = MemoryTree()
        tree.extend(leaves)
        tree.root()
        return tree

    tree_s, tree = _timed(build)
    append_s = leaves_s + tree_s
    inclusion_s, inc_proofs = _timed(lambda: [tree.inclusion_proof(i, s) for i, s in inclusion])
    consistency_s, con_proofs = _timed(
        lambda: [tree.consistency_proof(m, s) for m, s in consistency]
    )
    return {
        "tree": tree,
        "append_root_s": append_s,
        "leaf_hash_s": leaves_s,
        "inclusion_s": inclusion_s,
        "consistency_s": consistency_s,
        "inclusion_proofs": inc_proofs,
        "consistency_proofs": con_proofs,
    }


def _pymerkle(
    data: list[bytes], inclusion: list[tuple[int, int]], consistency: list[tuple[int, int]]
) -> dict[str, Any]:
    import pymerkle  # a dev dependency: only the benchmark needs it

    def build() -> tuple[Any, bytes]:
        tree = pymerkle.InmemoryTree(algorithm="keccak_256")
        append = tree.append_entry
        for d in data:
            append(d)
        return tree, tree.get_root()

    append_s, (tree, root) = _timed(build)
    inclusion_s, inc_proofs = _timed(lambda: [tree.prove_inclusion(i + 1, s) for i, s in inclusion])
    consistency_s, _ = _timed(lambda: [tree.prove_consistency(m, s) for m, s in consistency])
    return {
        "root": root,
        "hash_backend": f"{tree.hashfunc.__module__}.{tree.hashfunc.__name__}",
        "append_root_s": append_s,
        "inclusion_s": inclusion_s,
        "consistency_s": consistency_s,
        "inclusion_paths": [p.path for p in inc_proofs],
    }


def _proof_floor(n: int, count: int) -> float:
    """Seconds to read ~log2(n) stored hashes per proof, for 2 * count proofs."""
    stored = [b"\x00" * 32] * 4096
    depth = max(1, n.bit_length())
    start = _clock()
    for _ in range(2 * count):
        [stored[j] for j in range(depth)]
    return _clock() - start


def run(
    n: int = 1_000_000, proofs: int = 1000, pymerkle_n: int | None = None, repeats: int = 3
) -> dict[str, Any]:
    """Measure ours, pymerkle and the keccak floor on the same workload; seconds and ratios.

    Ours and the floor are timed `repeats` times (best kept); pymerkle once.
    """
    if n < 1 or proofs < 0 or repeats < 1:
        raise ValueError(f"need n >= 1, proofs >= 0, repeats >= 1; got {n}, {proofs}, {repeats}")
    pm_n = n if pymerkle_n is None else min(pymerkle_n, n)
    rng = random.Random(9162)
    data = _inputs(n)
    inclusion, consistency = _pairs(rng, n, proofs)
    pm_inclusion, pm_consistency = _pairs(random.Random(9162), pm_n, proofs)

    # Floor and ours alternate `repeats` times and each keeps its best run, so a neighbour's
    # burst of load on the shared cores does not land on one side only. The first build of
    # ours also pays for growing the heap to hold 2n hashes; it is reported separately.
    floor_runs: list[float] = []
    ours_runs: list[float] = []
    leaf_runs: list[float] = []
    floor_leaf_runs: list[float] = []
    inclusion_runs: list[float] = []
    consistency_runs: list[float] = []
    ours: dict[str, Any] = {}
    for _ in range(repeats):
        floor_leaves, floor_nodes = _floor(data)
        floor_runs.append(floor_leaves + floor_nodes)
        floor_leaf_runs.append(floor_leaves)
        ours = {}  # let the previous tree go before building the next
        ours = _ours(data, inclusion, consistency)
        ours_runs.append(ours["append_root_s"])
        leaf_runs.append(ours["leaf_hash_s"])
        inclusion_runs.append(ours["inclusion_s"])
        consistency_runs.append(ours["consistency_s"])
    floor_s = min(floor_runs)
    ours["append_root_s"] = min(ours_runs)
    ours["inclusion_s"] = min(inclusion_runs)
    ours["consistency_s"] = min(consistency_runs)
    proof_floor_s = _proof_floor(n, proofs)
    tree: MemoryTree = ours["tree"]
    gc.collect()
    pm = _pymerkle(data[:pm_n], pm_inclusion, pm_consistency)
    scale = n / pm_n

    # Cross-check: same hashing, so same roots and (after pymerkle's leading leaf hash) the
    # same inclusion paths.
    roots_match = pm["root"] == tree.root(pm_n)
    paths_match = all(
        list(path[1:]) == tree.inclusion_proof(i, s)
        for path, (i, s) in zip(pm["inclusion_paths"][:50], pm_inclusion[:50], strict=True)
    )

    receipt_leaves = [leaf_hash(d) for d in data[:1000]]
    receipt_s = min(_timed(lambda: compute_receipt_tree(receipt_leaves))[0] for _ in range(5))

    ours_total = ours["append_root_s"] + ours["inclusion_s"] + ours["consistency_s"]
    pm_append = pm["append_root_s"] * scale
    # Only the append scales with n; the proofs are a fixed count at either size.
    pm_total = pm_append + pm["inclusion_s"] + pm["consistency_s"]
    return {
        "n": n,
        "proofs": proofs,
        "floor_append_root_s": floor_s,
        "floor_leaf_hashes_s": min(floor_leaf_runs),
        "floor_proofs_s": proof_floor_s,
        "ours_append_root_s": ours["append_root_s"],
        "ours_append_root_first_run_s": ours_runs[0],
        "ours_leaf_hash_s": min(leaf_runs),
        "ours_inclusion_s": ours["inclusion_s"],
        "ours_consistency_s": ours["consistency_s"],
        "ours_append_us_per_leaf": ours["append_root_s"] / n * 1e6,
        "ours_inclusion_us_per_proof": ours["inclusion_s"] / max(1, proofs) * 1e6,
        "ours_consistency_us_per_proof": ours["consistency_s"] / max(1, proofs) * 1e6,
        "pymerkle_n": pm_n,
        "pymerkle_scaled": pm_n != n,
        "pymerkle_hash_backend": pm["hash_backend"],
        "pymerkle_append_root_s": pm_append,
        "pymerkle_inclusion_s": pm["inclusion_s"],
        "pymerkle_consistency_s": pm["consistency_s"],
        "pymerkle_roots_match": roots_match,
        "pymerkle_paths_match": paths_match,
        "ours_over_floor_append_root": ours["append_root_s"] / floor_s,
        "pymerkle_over_ours_append_root": pm_append / ours["append_root_s"],
        "pymerkle_over_ours_total": pm_total / ours_total,
        "receipt_tree_1000_us_per_leaf": receipt_s / 1000 * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    """CLI: print the measurements, one per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="leaves (default 1,000,000)")
    parser.add_argument("--proofs", type=int, default=1000, help="proofs of each kind")
    parser.add_argument(
        "--pymerkle-n",
        type=int,
        default=None,
        help="run pymerkle at this many leaves and scale its times to --n (default: --n)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours and the floor")
    args = parser.parse_args(argv)
    result = run(args.n, args.proofs, args.pymerkle_n, args.repeats)
    for key, value in result.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:34} {text}")
    if result["pymerkle_scaled"]:
        print(
            f"note: pymerkle ran at {result['pymerkle_n']} leaves; its append time is scaled "
            f"linearly to {result['n']} (an underestimate: its appends are O(log n) each), "
            "its proofs are timed at the smaller size"
        )


if __name__ == "__main__":
    main()
