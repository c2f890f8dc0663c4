"""l1_contracts.contract: typed reads, call builders and their input checks."""

from __future__ import annotations

import pytest

from l1_contracts.contract import (
    SignedReceipt,
    latest_finalized,
    read_checkpoint,
    receipt_deadline_fraud,
    reveal_records,
    rollup_at,
    single_record_fraud,
)
from prover.checkpoint import CheckpointStatus
from prover.errors import InclusionProofError, InvalidFieldError
from prover.hashing import keccak256
from prover.range_proof import is_valid_range, prove_range, verify_range
from prover.tree import MemoryTree
from prover.validity import FraudRule
from tests.l1_contracts.helpers import WINDOW, Chain, make_record


def test_reads(bonded: Chain) -> None:
    c = bonded
    assert latest_finalized(c.rollup) is None
    c.append(c.valid_records(3))
    c.commit()
    again = rollup_at(c.w3, c.address.lower())
    cp = read_checkpoint(again, 0)
    assert (cp.index, cp.size, cp.root, cp.status) == (
        0,
        3,
        c.tree.root(),
        CheckpointStatus.PENDING,
    )
    assert read_checkpoint(again, 1).status == CheckpointStatus.NONE
    c.advance(WINDOW)
    assert latest_finalized(again) == 0


def test_builders_check_their_inputs(chain: Chain) -> None:
    rec = make_record(0, 0)
    with pytest.raises(InvalidFieldError, match="record"):
        single_record_fraud(chain.rollup, FraudRule.WRONG_SEQ, 0, 0, rec[:-1], [])
    with pytest.raises(InvalidFieldError, match="rule"):
        single_record_fraud(chain.rollup, FraudRule.REPLAY, 0, 0, rec, [])
    with pytest.raises(InvalidFieldError, match="signature"):
        receipt_deadline_fraud(chain.rollup, SignedReceipt(0, 1, b"\x00" * 32, 0, b"\x00" * 64), 0)
    with pytest.raises(InvalidFieldError, match="record"):
        reveal_records(chain.rollup, 0, [rec, rec + b"\x00"], [])


def test_verify_range() -> None:
    leaves = [keccak256(bytes([i])) for i in range(20)]
    tree = MemoryTree(leaves)
    proof = prove_range(tree.nodes, 5, 13, 20)
    verify_range(leaves[5:13], 5, 20, proof, tree.root())
    assert is_valid_range(leaves[5:13], 5, 20, proof, tree.root())
    with pytest.raises(InclusionProofError, match=r"\[5, 13\)"):
        verify_range(leaves[5:13], 5, 20, proof, keccak256(b"other"))
    assert not is_valid_range(leaves[6:14], 5, 20, proof, tree.root())
    assert not is_valid_range(leaves[5:13], 5, 20, proof[:-1], tree.root())


def test_deploy_with_a_local_key(chain: Chain) -> None:
    from eth_account import Account

    from l1_contracts.contract import deploy_rollup
    from tests.l1_contracts.helpers import KEYS

    owner = Account.from_key(KEYS[3]).address
    r = deploy_rollup(chain.w3, chain.sequencer, owner, 10, 5, 1, owner_key=KEYS[3])
    assert r.functions.owner().call() == owner
    with pytest.raises(InvalidFieldError, match="owner_key"):
        deploy_rollup(chain.w3, chain.sequencer, owner, 10, 5, 1, owner_key=KEYS[4])
