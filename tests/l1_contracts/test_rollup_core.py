"""Bond, commit (with the on-chain consistency proof), the read interface, finality, exit,
revert/slash/freeze and recover (docs/spec.md §7, docs/contract.md)."""

from __future__ import annotations

import pytest

from l1_contracts.contract import NO_INDEX, deploy_rollup, read_checkpoint
from prover.checkpoint import CheckpointStatus
from prover.hashing import EMPTY_ROOT, leaf_hash
from prover.tree import MemoryTree
from tests.l1_contracts.helpers import (
    DA_WINDOW,
    MIN_BOND,
    WINDOW,
    Chain,
    events,
    fee,
    make_record,
    reverts,
)

# --- constructor ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("0x" + "00" * 20, 10, 5, 1, 256, 0), "rollup: sequencer is the zero address"),
        ((None, 0, 5, 1, 256, 0), "rollup: challenge window must be positive"),
        ((None, 10, 0, 1, 256, 0), "rollup: DA response window must be positive"),
        ((None, 10, 5, 0, 256, 0), "rollup: minimum bond must be positive"),
        ((None, 10, 5, 1, 257, 0), "rollup: max DA range must be in [1, 256]"),
        ((None, 10, 5, 1, 0, 0), "rollup: max DA range must be in [1, 256]"),
        ((None, 2**32, 5, 1, 256, 0), "rollup: window too long"),
    ],
)
def test_constructor_rejects(chain: Chain, args: tuple[object, ...], message: str) -> None:
    seq, window, da, bond, rng, cbond = args
    with reverts(message):
        deploy_rollup(
            chain.w3,
            seq or chain.sequencer,
            chain.owner,
            window,
            da,
            bond,  # type: ignore[arg-type]
            max_da_range=rng,
            challenger_bond=cbond,  # type: ignore[arg-type]
        )


def test_constructor_sets_parameters(chain: Chain) -> None:
    f = chain.rollup.functions
    assert f.owner().call() == chain.owner
    assert f.sequencer().call() == chain.sequencer
    assert f.challengeWindow().call() == WINDOW
    assert f.daResponseWindow().call() == DA_WINDOW
    assert f.minBond().call() == MIN_BOND
    assert f.maxDARange().call() == 256
    assert f.exitDelay().call() == WINDOW + DA_WINDOW
    assert f.checkpointCount().call() == 0
    assert f.latestFinalized().call() == NO_INDEX
    assert f.lastIndex().call() == NO_INDEX
    assert f.lastSize().call() == 0
    assert f.lastRoot().call() == EMPTY_ROOT
    assert f.checkpoints(0).call() == [0, b"\x00" * 32, 0, 0, 0]


# --- bond ------------------------------------------------------------------------------------


def test_deposit(chain: Chain) -> None:
    f = chain.rollup.functions
    with reverts("rollup: caller is not the sequencer"):
        f.deposit().transact({"from": chain.challenger, "value": 1})
    with reverts("rollup: deposit must be positive"):
        f.deposit().transact({"from": chain.sequencer, "value": 0})
    tx = f.deposit().transact({"from": chain.sequencer, "value": 5})
    tx2 = f.deposit().transact({"from": chain.sequencer, "value": 7})
    assert f.bond().call() == 12
    (ev,) = events(chain, "BondDeposited", tx2)
    assert (ev.args.amount, ev.args.total) == (7, 12)
    assert len(events(chain, "BondDeposited", tx)) == 1


def test_exit_and_withdraw(bonded: Chain) -> None:
    c, f = bonded, bonded.rollup.functions
    c.append(c.valid_records(3))
    c.commit()
    with reverts("rollup: caller is not the sequencer"):
        f.requestExit().transact({"from": c.challenger})
    with reverts("rollup: no exit requested"):
        f.withdraw().transact({"from": c.sequencer})
    f.requestExit().transact({"from": c.sequencer})
    with reverts("rollup: exit already requested"):
        f.requestExit().transact({"from": c.sequencer})
    c.append(c.valid_records(1))
    with reverts("rollup: sequencer is exiting"):
        c.commit()
    with reverts("rollup: exit delay not over"):
        f.withdraw().transact({"from": c.sequencer})
    c.advance(WINDOW + DA_WINDOW)
    with reverts("rollup: caller is not the sequencer"):
        f.withdraw().transact({"from": c.owner})
    before = c.balance(c.sequencer)
    tx = f.withdraw().transact({"from": c.sequencer})
    assert c.balance(c.sequencer) == before + MIN_BOND - fee(c, tx)
    assert f.bond().call() == 0 and f.exitRequestedAt().call() == 0
    assert events(c, "BondWithdrawn", tx)[0].args.amount == MIN_BOND


def test_withdraw_without_checkpoints(bonded: Chain) -> None:
    c, f = bonded, bonded.rollup.functions
    f.requestExit().transact({"from": c.sequencer})
    c.advance(WINDOW + DA_WINDOW)
    f.withdraw().transact({"from": c.sequencer})
    assert f.bond().call() == 0


def test_withdraw_refused_while_pending_da(bonded: Chain) -> None:
    c, f = bonded, bonded.rollup.functions
    c.append(c.valid_records(4))
    i = c.commit()
    f.openDAChallenge(i, 0, 2).transact({"from": c.challenger, "value": f.challengerBond().call()})
    f.requestExit().transact({"from": c.sequencer})
    c.advance(WINDOW + DA_WINDOW + 1)
    with reverts("rollup: a checkpoint is still pending"):
        f.withdraw().transact({"from": c.sequencer})


# --- commit ----------------------------------------------------------------------------------


def test_commit_checks(chain: Chain) -> None:
    c, f = chain, chain.rollup.functions
    c.append(c.valid_records(6))
    with reverts("rollup: bond below minimum"):
        c.commit(3)
    c.bond(MIN_BOND - 1)
    with reverts("rollup: bond below minimum"):
        c.commit(3)
    c.bond(1)
    with reverts("rollup: caller is not the sequencer"):
        f.commit(3, c.tree.root(3), []).transact({"from": c.owner})
    with reverts("rollup: size must grow"):
        f.commit(0, EMPTY_ROOT, []).transact({"from": c.sequencer})
    with reverts("rollup: proof from the empty tree must be empty"):
        f.commit(3, c.tree.root(3), [b"\x01" * 32]).transact({"from": c.sequencer})
    with reverts("rollup: size above 2**40"):
        f.commit(2**40 + 1, c.tree.root(3), []).transact({"from": c.sequencer})
    assert c.commit(3) == 0
    with reverts("rollup: size must grow"):
        f.commit(3, c.tree.root(3), []).transact({"from": c.sequencer})
    good = c.tree.consistency_proof(3, 6)
    with reverts("rollup: consistency proof is empty"):
        f.commit(6, c.tree.root(6), []).transact({"from": c.sequencer})
    with reverts("rollup: proof does not reproduce the new root"):
        f.commit(6, b"\x05" * 32, good).transact({"from": c.sequencer})
    bad = [good[0], b"\x07" * 32, *good[2:]]
    with reverts("rollup: proof does not reproduce"):
        f.commit(6, c.tree.root(6), bad).transact({"from": c.sequencer})
    with reverts("rollup: consistency proof too long"):
        f.commit(6, c.tree.root(6), [*good, b"\x00" * 32]).transact({"from": c.sequencer})
    with reverts("rollup: consistency proof too short"):
        f.commit(6, c.tree.root(6), good[:-1]).transact({"from": c.sequencer})
    # A root that rewrites history cannot be committed even with its own tree's proof.
    other = MemoryTree([leaf_hash(make_record(i, 1)) for i in range(6)])
    with reverts("rollup: proof does not reproduce the previous root"):
        f.commit(6, other.root(6), other.consistency_proof(3, 6)).transact({"from": c.sequencer})
    assert c.commit(6) == 1


def test_commit_many_sizes_and_read_interface(bonded: Chain) -> None:
    c, f = bonded, bonded.rollup.functions
    sizes = [1, 2, 3, 4, 7, 8, 9, 16, 17, 31, 64]
    c.append(c.valid_records(64))
    for n, size in enumerate(sizes):
        tx_index = c.commit(size)
        assert tx_index == n
    assert f.checkpointCount().call() == len(sizes)
    for n, size in enumerate(sizes):
        cp = read_checkpoint(c.rollup, n)
        assert (cp.size, cp.root, cp.status) == (size, c.tree.root(size), CheckpointStatus.PENDING)
        assert cp.challenge_ends == cp.committed_at + WINDOW
    assert f.lastSize().call() == 64 and f.lastIndex().call() == len(sizes) - 1
    assert f.lastRoot().call() == c.tree.root(64)
    assert f.prevSize(4).call() == 4
    with reverts("rollup: no such checkpoint"):
        f.prevSize(len(sizes)).call()


def test_commit_event(bonded: Chain) -> None:
    c = bonded
    c.append(c.valid_records(2))
    tx = c.rollup.functions.commit(2, c.tree.root(2), []).transact({"from": c.sequencer})
    (ev,) = events(c, "CheckpointCommitted", tx)
    assert ev.args.index == 0 and ev.args.size == 2 and ev.args.root == c.tree.root(2)
    assert ev.args.challengeEnds == ev.args.committedAt + WINDOW
    assert ev.args.committedAt == c.w3.eth.get_block(ev.blockNumber)["timestamp"]


def test_finality_is_computed_without_transactions(bonded: Chain) -> None:
    c, f = bonded, bonded.rollup.functions
    c.append(c.valid_records(4))
    c.commit(2)
    c.advance(WINDOW // 2)
    c.commit(4)
    assert f.latestFinalized().call() == NO_INDEX
    ends0 = f.checkpoints(0).call()[3]
    c.set_time(ends0 - 1)
    assert c.status(0) == CheckpointStatus.PENDING
    c.set_time(ends0)
    assert c.status(0) == CheckpointStatus.FINAL
    assert c.status(1) == CheckpointStatus.PENDING
    assert f.latestFinalized().call() == 0
    c.advance(WINDOW)
    assert c.status(1) == CheckpointStatus.FINAL
    assert f.latestFinalized().call() == 1


# --- revert, slash, freeze, recover ------------------------------------------------------------


def _bad_seq_commit(c: Chain) -> int:
    """Commit a checkpoint whose only new record has a wrong seq; return its index."""
    c.append([make_record(len(c.records) + 5, c.ts())])
    return c.commit()


def _prove_bad_seq(c: Chain, index: int, seq: int) -> bytes:
    proof = c.tree.inclusion_proof(seq, c.rollup.functions.checkpoints(index).call()[0])
    return bytes(
        c.rollup.functions.proveWrongSeq(index, seq, c.records[seq], proof).transact(
            {"from": c.challenger}
        )
    )


def test_revert_slash_freeze_recover(bonded: Chain) -> None:
    c, f = bonded, bonded.rollup.functions
    c.append(c.valid_records(4))
    c.commit()  # 0: good, size 4
    c.advance(WINDOW + 1)  # 0 is final
    bad = _bad_seq_commit(c)  # 1: record 4 has seq 9
    c.append(c.valid_records(3))
    c.commit()  # 2: built on top of 1
    before = c.balance(c.challenger)
    tx = f.proveWrongSeq(1, 4, c.records[4], c.tree.inclusion_proof(4, 5)).transact(
        {"from": c.challenger}
    )
    assert c.balance(c.challenger) == before + MIN_BOND // 2 - fee(c, tx)
    assert f.bond().call() == 0 and f.burned().call() == MIN_BOND - MIN_BOND // 2
    assert f.frozen().call()
    assert [c.status(i) for i in range(3)] == [2, 3, 3]
    assert f.latestFinalized().call() == 0
    assert f.lastSize().call() == 4 and f.lastIndex().call() == 0
    assert f.lastRoot().call() == c.tree.root(4)
    (rev,) = events(c, "CheckpointsReverted", tx)
    assert (rev.args.fromIndex, rev.args.toIndex, rev.args.lastSize) == (bad, 3, 4)
    (fp,) = events(c, "FraudProven", tx)
    assert (fp.args.checkpointIndex, fp.args.rule, fp.args.challenger) == (1, 1, c.challenger)
    # Frozen: no commits; the owner cannot recover before the sequencer re-bonds.
    with reverts("rollup: frozen"):
        f.commit(5, b"\x01" * 32, []).transact({"from": c.sequencer})
    with reverts("rollup: caller is not the owner"):
        f.recover().transact({"from": c.sequencer})
    with reverts("rollup: sequencer has not re-bonded"):
        f.recover().transact({"from": c.owner})
    c.bond()
    tx = f.recover().transact({"from": c.owner})
    assert events(c, "Recovered", tx)[0].args.bond == MIN_BOND
    assert not f.frozen().call()
    with reverts("rollup: not frozen"):
        f.recover().transact({"from": c.owner})
    # The next commit extends checkpoint 0 again (size 4), with honest records.
    fixed = MemoryTree([leaf_hash(r) for r in c.records[:4]])
    good = [make_record(4 + i, c.ts()) for i in range(3)]
    fixed.extend([leaf_hash(r) for r in good])
    # The base is checkpoint 0 again (size 4), so a proof from the reverted size 5 fails.
    with reverts("rollup: consistency proof too long"):
        f.commit(7, c.tree.root(7), c.tree.consistency_proof(5, 7)).transact({"from": c.sequencer})
    f.commit(7, fixed.root(7), fixed.consistency_proof(4, 7)).transact({"from": c.sequencer})
    assert f.checkpointCount().call() == 4
    assert c.status(3) == CheckpointStatus.PENDING and f.prevSize(3).call() == 4
    c.advance(WINDOW + 1)
    assert f.latestFinalized().call() == 3
    assert [c.status(i) for i in range(4)] == [2, 3, 3, 2]


def test_nested_reverts_keep_intervals_consistent(bonded: Chain) -> None:
    """Revert late, recover, commit, then revert an earlier still-pending checkpoint."""
    c, f = bonded, bonded.rollup.functions
    c.append(c.valid_records(2))
    c.commit()  # 0 good
    bad1 = _bad_seq_commit(c)  # 1: record 2 bad
    c.append(c.valid_records(2))
    c.commit()  # 2 good records but on top of 1
    bad3 = _bad_seq_commit(c)  # 3: record 5 bad
    c.append(c.valid_records(1))
    c.commit()  # 4
    _prove_bad_seq(c, bad3, 5)
    assert [c.status(i) for i in range(5)] == [1, 1, 1, 3, 3]
    assert f.lastSize().call() == 5 and f.lastIndex().call() == 2
    c.bond()
    f.recover().transact({"from": c.owner})
    # Re-commit on top of checkpoint 2 (size 5): the harness tree is rebuilt from record 5 on.
    c.records = c.records[:5]
    c.tree = MemoryTree([leaf_hash(r) for r in c.records])
    c.committed = 5
    c.append(c.valid_records(2))
    c.commit()  # 5
    assert [c.status(i) for i in range(6)] == [1, 1, 1, 3, 3, 1]
    _prove_bad_seq(c, bad1, 2)
    assert [c.status(i) for i in range(6)] == [1, 3, 3, 3, 3, 3]
    assert f.lastSize().call() == 2 and f.lastIndex().call() == 0
    c.advance(WINDOW + 1)
    assert f.latestFinalized().call() == 0
    assert [c.status(i) for i in range(6)] == [2, 3, 3, 3, 3, 3]


def test_revert_of_first_checkpoint(bonded: Chain) -> None:
    c, f = bonded, bonded.rollup.functions
    c.append([make_record(3, c.ts())])
    c.commit()
    _prove_bad_seq(c, 0, 0)
    assert c.status(0) == CheckpointStatus.REVERTED
    assert f.lastIndex().call() == NO_INDEX and f.lastSize().call() == 0
    assert f.lastRoot().call() == EMPTY_ROOT
    c.advance(WINDOW + 1)
    assert f.latestFinalized().call() == NO_INDEX
    c.bond()
    f.recover().transact({"from": c.owner})
    t = MemoryTree([leaf_hash(make_record(0, c.ts()))])
    f.commit(1, t.root(1), []).transact({"from": c.sequencer})
    assert f.prevSize(1).call() == 0
