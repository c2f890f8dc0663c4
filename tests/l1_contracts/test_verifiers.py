"""The contract's RFC 9162 verifiers against prover.tree, exhaustively for small trees:
every consistency proof m -> n is accepted by commit and every tampered one refused; every
inclusion proof (i, n) is accepted and every tampered one refused."""

from __future__ import annotations

import pytest

from tests.l1_contracts.helpers import Chain, reverts


def _call_commit(c: Chain, n: int, root: bytes, proof: list[bytes]) -> None:
    c.rollup.functions.commit(n, root, proof).call({"from": c.sequencer})


@pytest.mark.slow  # every (m, n) pair up to the bound: hundreds of contract calls
def test_every_consistency_proof_of_small_trees(bonded: Chain) -> None:
    c = bonded
    c.append(c.valid_records(40))
    for m in range(1, 18):
        snapshot = c.tester.take_snapshot()
        c.committed = 0
        c.commit(m)
        for n in [*range(m + 1, 34), 40]:
            proof = c.tree.consistency_proof(m, n)
            _call_commit(c, n, c.tree.root(n), proof)
            if n % 3 == 0:
                bad = list(proof)
                k = n % len(bad)
                bad[k] = bytes(x ^ 1 for x in bad[k])
                with reverts("rollup: proof does not reproduce"):
                    _call_commit(c, n, c.tree.root(n), bad)
        c.tester.revert_to_snapshot(snapshot)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 16, 31, 33])
def test_every_inclusion_proof_of_small_trees(bonded: Chain, n: int) -> None:
    c = bonded
    c.append(c.valid_records(n))
    c.commit()
    f = c.rollup.functions
    for i in range(n):
        proof = c.tree.inclusion_proof(i, n)
        # Reaching the seq comparison means the inclusion proof verified.
        with reverts("rollup: seq matches the index"):
            f.proveWrongSeq(0, i, c.records[i], proof).call({"from": c.challenger})
        if proof:
            bad = list(proof)
            bad[i % len(bad)] = bytes(32)
            with reverts("rollup: inclusion proof does not match the checkpoint root"):
                f.proveWrongSeq(0, i, c.records[i], bad).call({"from": c.challenger})
