"""Broken-receipt proofs (docs/spec.md §5): a different record at a promised position, and a
deadline no checkpoint met."""

from __future__ import annotations

from dataclasses import replace

from l1_contracts.contract import (
    SignedReceipt,
    covered_count_at,
    receipt_deadline_fraud,
    receipt_mismatch_fraud,
)
from prover.checkpoint import CheckpointStatus
from prover.hashing import leaf_hash
from prover.record import SECP256K1_N
from prover.tree import MemoryTree
from prover.validity import FraudRule
from tests.l1_contracts.helpers import (
    KEYS,
    MIN_BOND,
    WINDOW,
    Chain,
    events,
    make_record,
    reverts,
    sign_receipt,
)

SEQUENCER_KEY = KEYS[1]


def _receipt(
    c: Chain, records: list[bytes], first: int, deadline: int, key: bytes = SEQUENCER_KEY
) -> tuple[SignedReceipt, MemoryTree]:
    batch = MemoryTree([leaf_hash(r) for r in records])
    return sign_receipt(
        key, c.chain_id, c.address, first, len(records), batch.root(), deadline
    ), batch


def _mismatch_setup(c: Chain) -> tuple[SignedReceipt, MemoryTree, list[bytes], int]:
    """Checkpoint 0: 4 records; the sequencer promised other records at 2..3."""
    c.bond()
    c.append(c.valid_records(4))
    cp = c.commit()
    promised = [make_record(2, 1, digest=b"\x77" * 32), make_record(3, 1, digest=b"\x78" * 32)]
    receipt, batch = _receipt(c, promised, 2, c.now() + 100)
    return receipt, batch, promised, cp


def _mismatch(
    c: Chain, receipt: SignedReceipt, batch: MemoryTree, promised: list[bytes], cp: int, i: int = 1
) -> bytes:
    size = c.rollup.functions.checkpoints(cp).call()[0]
    seq = receipt.first_seq + i
    fn = receipt_mismatch_fraud(
        c.rollup,
        receipt,
        leaf_hash(promised[i]),
        i,
        batch.inclusion_proof(i),
        cp,
        c.records[seq],
        c.tree.inclusion_proof(seq, size),
    )
    return bytes(fn.transact({"from": c.challenger}))


def test_mismatch_against_pending_checkpoint_reverts_it(chain: Chain) -> None:
    c = chain
    receipt, batch, promised, cp = _mismatch_setup(c)
    tx = _mismatch(c, receipt, batch, promised, cp)
    assert c.status(cp) == CheckpointStatus.REVERTED
    f = c.rollup.functions
    assert f.frozen().call() and f.bond().call() == 0
    (ev,) = events(c, "FraudProven", tx)
    assert (ev.args.rule, ev.args.reward) == (FraudRule.RECEIPT_MISMATCH, MIN_BOND // 2)


def test_mismatch_against_final_checkpoint_slashes_without_revert(chain: Chain) -> None:
    c = chain
    receipt, batch, promised, cp = _mismatch_setup(c)
    c.advance(WINDOW)
    assert c.status(cp) == CheckpointStatus.FINAL
    _mismatch(c, receipt, batch, promised, cp, 0)
    assert c.status(cp) == CheckpointStatus.FINAL
    assert c.rollup.functions.frozen().call() and c.rollup.functions.bond().call() == 0
    with reverts("rollup: receipt already proven broken"):
        _mismatch(c, receipt, batch, promised, cp, 1)


def test_mismatch_refusals(chain: Chain) -> None:
    c = chain
    receipt, batch, promised, cp = _mismatch_setup(c)
    f = c.rollup.functions
    # The receipt is honest for the records actually logged at 2..3.
    honest, hbatch = _receipt(c, c.records[2:4], 2, receipt.deadline)
    with reverts("rollup: record matches the receipt"):
        _mismatch(c, honest, hbatch, c.records[2:4], cp)
    forged, fbatch = _receipt(c, promised, 2, receipt.deadline, key=KEYS[2])
    with reverts("rollup: receipt not signed by the sequencer"):
        _mismatch(c, forged, fbatch, promised, cp)
    sig = receipt.signature
    high_s = (
        sig[:32]
        + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
        + bytes([55 - sig[64]])
    )
    with reverts("rollup: receipt signature s is high"):
        _mismatch(c, replace(receipt, signature=high_s), batch, promised, cp)
    with reverts("rollup: receipt signature v must be 27 or 28"):
        _mismatch(c, replace(receipt, signature=sig[:64] + b"\x01"), batch, promised, cp)
    args = [receipt.first_seq, receipt.count, receipt.leaves_root, receipt.deadline]
    leaf = leaf_hash(promised[1])
    proof3 = c.tree.inclusion_proof(3, 4)
    with reverts("rollup: signature must be 65 bytes"):
        f.proveReceiptMismatch(
            *args, sig[:64], leaf, 1, batch.inclusion_proof(1), cp, c.records[3], proof3
        ).transact({"from": c.challenger})
    with reverts("rollup: index outside the batch"):
        f.proveReceiptMismatch(
            *args, sig, leaf, 2, batch.inclusion_proof(1), cp, c.records[3], proof3
        ).transact({"from": c.challenger})
    with reverts("rollup: batch path does not match leavesRoot"):
        f.proveReceiptMismatch(
            *args,
            sig,
            leaf,
            0,
            batch.inclusion_proof(1),
            cp,
            c.records[2],
            c.tree.inclusion_proof(2, 4),
        ).transact({"from": c.challenger})
    with reverts("rollup: no such checkpoint"):
        f.proveReceiptMismatch(
            *args, sig, leaf, 1, batch.inclusion_proof(1), 9, c.records[3], proof3
        ).transact({"from": c.challenger})
    with reverts("rollup: inclusion proof does not match the checkpoint root"):
        f.proveReceiptMismatch(
            *args, sig, leaf, 1, batch.inclusion_proof(1), cp, c.records[2], proof3
        ).transact({"from": c.challenger})
    empty = sign_receipt(
        SEQUENCER_KEY, c.chain_id, c.address, 2, 0, receipt.leaves_root, receipt.deadline
    )
    with reverts("rollup: receipt covers no records"):
        receipt_deadline_fraud(c.rollup, empty, 0).transact({"from": c.challenger})


def test_mismatch_refused_on_reverted_checkpoint(chain: Chain) -> None:
    c = chain
    receipt, batch, promised, cp = _mismatch_setup(c)
    c.append([make_record(77, c.ts())])
    cp1 = c.commit()
    c.rollup.functions.proveWrongSeq(cp1, 4, c.records[4], c.tree.inclusion_proof(4, 5)).transact(
        {"from": c.owner}
    )
    promised5 = [make_record(4, 1, digest=b"\x01" * 32)]
    r5, b5 = _receipt(c, promised5, 4, c.now() + 10)
    with reverts("rollup: checkpoint is reverted"):
        _mismatch(c, r5, b5, promised5, cp1, 0)
    # The earlier checkpoint is live: the first receipt can still be proven.
    _mismatch(c, receipt, batch, promised, cp)


# --- deadlines --------------------------------------------------------------------------------


def test_deadline_missed(chain: Chain) -> None:
    c = chain
    c.bond()
    c.append(c.valid_records(8))
    c.commit(4)  # 0: covers [0, 4) in time
    receipt, _ = _receipt(c, c.records[4:8], 4, c.now() + 50)
    f = c.rollup.functions
    with reverts("rollup: deadline not passed"):
        receipt_deadline_fraud(c.rollup, receipt, 1).transact({"from": c.challenger})
    c.advance(60)
    c.commit(8)  # 1: covers [4, 8), but after the deadline
    assert covered_count_at(c.rollup, receipt.deadline) == 1
    with reverts("rollup: checkpoint coveredCount was committed by the deadline"):
        receipt_deadline_fraud(c.rollup, receipt, 0).transact({"from": c.challenger})
    with reverts("rollup: checkpoint coveredCount-1 was committed after the deadline"):
        receipt_deadline_fraud(c.rollup, receipt, 2).transact({"from": c.challenger})
    with reverts("rollup: coveredCount above checkpointCount"):
        receipt_deadline_fraud(c.rollup, receipt, 3).transact({"from": c.challenger})
    tx = receipt_deadline_fraud(c.rollup, receipt).transact({"from": c.challenger})
    (ev,) = events(c, "FraudProven", tx)
    assert (ev.args.rule, ev.args.reward) == (FraudRule.RECEIPT_DEADLINE, MIN_BOND // 2)
    assert f.frozen().call() and f.bond().call() == 0
    # Deadline proofs revert nothing.
    assert [c.status(0), c.status(1)] == [CheckpointStatus.PENDING] * 2
    with reverts("rollup: receipt already proven broken"):
        receipt_deadline_fraud(c.rollup, receipt).transact({"from": c.challenger})


def test_deadline_met_is_refused(chain: Chain) -> None:
    c = chain
    c.bond()
    c.append(c.valid_records(8))
    c.commit(4)
    receipt, _ = _receipt(c, c.records[4:8], 4, c.now() + 50)
    c.advance(10)
    c.commit(8)  # covers [4, 8) before the deadline
    c.advance(100)
    with reverts("rollup: a checkpoint covered the receipt in time"):
        receipt_deadline_fraud(c.rollup, receipt).transact({"from": c.challenger})
    # Also with no checkpoint at all before a deadline: 0 covered.
    early, _ = _receipt(c, c.records[0:1], 0, 5)
    assert covered_count_at(c.rollup, 5) == 0
    receipt_deadline_fraud(c.rollup, early).transact({"from": c.challenger})


def test_reverted_checkpoint_does_not_cover(chain: Chain) -> None:
    c = chain
    c.bond()
    c.append(c.valid_records(2))
    c.commit()  # 0: [0, 2)
    c.append([make_record(55, c.ts()), *c.valid_records(1)])
    cp1 = c.commit()  # 1: [0, 4), record 2 bad
    receipt, _ = _receipt(c, c.records[3:4], 3, c.now() + 20)
    c.rollup.functions.proveWrongSeq(cp1, 2, c.records[2], c.tree.inclusion_proof(2, 4)).transact(
        {"from": c.owner}
    )
    c.bond()
    c.rollup.functions.recover().transact({"from": c.owner})
    c.advance(30)
    # Checkpoint 1 covered [3, 4) before the deadline but is reverted; checkpoint 0 is too small.
    assert covered_count_at(c.rollup, receipt.deadline) == 2
    receipt_deadline_fraud(c.rollup, receipt).transact({"from": c.challenger})
    assert c.rollup.functions.bond().call() == 0
