"""The gas budget of docs/spec.md §7 (commit under 150k at any size up to 2^40) and the sparse
tree the gas bench relies on."""

from __future__ import annotations

from bench.bench_gas import Bench, SparseNodeReader, worst_first_size
from prover.hashing import keccak256
from prover.tree import (
    MemoryTree,
    compute_root,
    consistency_ranges,
    prove_consistency,
    prove_inclusion,
)


def test_sparse_reader_is_a_real_tree() -> None:
    real = {3: keccak256(b"a"), 17: keccak256(b"b"), 18: keccak256(b"c")}
    sparse = SparseNodeReader(real)
    filler = sparse.read_nodes([(0, 0)])[0]
    for n in (1, 5, 19, 32, 37, 64):
        leaves = [real.get(i, filler) for i in range(n)]
        tree = MemoryTree(leaves)
        assert compute_root(sparse, n) == tree.root()
        for m in range(1, n):
            assert prove_consistency(sparse, m, n) == tree.consistency_proof(m, n)
        for i in range(n):
            assert prove_inclusion(sparse, i, n) == tree.inclusion_proof(i, n)


def test_worst_first_size_is_worst() -> None:
    for n in (2, 7, 16, 33, 64, 100):
        best = max(len(consistency_ranges(m, n)) for m in range(1, n))
        assert len(consistency_ranges(worst_first_size(n), n)) == best


def test_commit_gas_under_150k_at_2_40() -> None:
    bench = Bench()
    for n in (2**20, 2**40):
        result = bench.commit_gas(n)
        assert result["proof_len"] >= n.bit_length() - 1
        assert result["gas"] < 150_000, result
