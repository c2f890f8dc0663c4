"""Forced inclusion through the L1 inbox (issue 16; docs/spec.md §7.3, rule 2 for v = 1).

Every revert of postForced and of the forced part of commit, the full-batch escape, what a
revert of a checkpoint that included forced events does, what a freeze does, and rule 2 for
forced records (a forged, duplicated or unproven forced record is fraud; an honest one is not).
The attacker here is the sequencer: it censors, forges, duplicates, reorders, or hides.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed
from web3.exceptions import ContractLogicError

from l1_contracts.contract import (
    MAX_FORCED_PER_COMMIT,
    commit_call,
    forced_commit_args,
    inbox_slot,
    read_forced_entries,
    receipt_deadline_fraud,
    replay_fraud,
    single_record_fraud,
)
from prover.checkpoint import CheckpointStatus
from prover.forced import ZERO_INBOX_HASH, ForcedEntry, next_inbox_hash
from prover.hashing import leaf_hash
from prover.tree import MemoryTree
from prover.validity import FraudRule, check_forced, check_record
from tests.l1_contracts.helpers import (
    KEYS,
    MIN_BOND,
    Chain,
    events,
    kind32,
    make_record,
    new_chain,
    reverts,
    sign_receipt,
    signed_record,
)

WINDOW_F = 30  # the devnet default forceInclusionWindow (l1_contracts.contract)


def post(
    c: Chain, n: int = 0, *, value: int | None = None, kind: bytes | None = None
) -> ForcedEntry:
    """Post one forced event from the challenger (a censored service); return its entry."""
    f = c.rollup.functions
    fee = f.forcedFee().call() * 2 if value is None else value
    tx = f.postForced(
        kind32("regulator_report") if kind is None else kind,
        (0x5000 + n).to_bytes(32, "big"),
        (0x6000 + n).to_bytes(32, "big"),
        b"\x00" * 32,
    ).transact({"from": c.challenger, "value": fee})
    (entry,) = read_forced_entries(
        c.rollup, int(c.w3.eth.get_transaction_receipt(tx)["blockNumber"])
    )
    return entry


def include(c: Chain, entries: list[ForcedEntry]) -> None:
    """Append the entries' forced records to the harness log (in this order)."""
    t = c.now() * 1000
    c.append([e.record(len(c.records) + i, t) for i, e in enumerate(entries)])


def proofs(c: Chain, seqs: list[int], size: int | None = None) -> list[tuple[bytes, list[bytes]]]:
    size = len(c.records) if size is None else size
    return [(c.records[s], list(c.tree.inclusion_proof(s, size))) for s in seqs]


def commit_forced(
    c: Chain, forced: list[tuple[bytes, list[bytes]]], size: int | None = None
) -> Any:
    size = len(c.records) if size is None else size
    proof = c.tree.consistency_proof(c.committed, size) if c.committed else []
    return commit_call(c.rollup, size, c.tree.root(size), proof, c.bound_for(size), forced)


# --- posting ----------------------------------------------------------------------------------


def test_post_records_entry_time_running_hash_and_pays_the_bond(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    bond = f.bond().call()
    e0 = post(c, 0)
    e1 = post(c, 1)
    assert (e0.index, e1.index) == (0, 1)
    assert e0.poster == bytes.fromhex(c.challenger[2:])
    assert f.inboxCount().call() == 2 and f.forcedIncluded().call() == 0
    running = next_inbox_hash(next_inbox_hash(ZERO_INBOX_HASH, e0.entry_hash()), e1.entry_hash())
    assert bytes(f.inboxHash().call()) == running
    slot = inbox_slot(c.rollup, 1)
    assert slot.entry_hash == e1.entry_hash()
    assert slot.deadline == e1.posted_at + WINDOW_F and slot.included_at is None
    assert f.forceInclusionWindow().call() == WINDOW_F
    # The poster paid twice the fee each time, all of it into the sequencer's bond.
    assert f.bond().call() > bond + 2 * 60_000


def test_post_reverts(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    args = (kind32("x"), b"\x01" * 32, b"\x02" * 32, b"\x00" * 32)
    fee = f.forcedFee().call()
    with reverts("rollup: value below the fee"):
        f.postForced(*args).transact({"from": c.challenger, "value": 0})
    with reverts("rollup: forced event is not well formed"):
        f.postForced(kind32("Bad Kind"), *args[1:]).transact(
            {"from": c.challenger, "value": fee * 2}
        )
    with reverts("rollup: forced event is not well formed"):
        f.postForced(b"\x00" * 32, *args[1:]).transact({"from": c.challenger, "value": fee * 2})
    f.requestExit().transact({"from": c.sequencer})
    with reverts("rollup: sequencer is exiting"):
        f.postForced(*args).transact({"from": c.challenger, "value": fee * 2})


def test_post_refused_while_frozen(bonded: Chain) -> None:
    c = bonded
    bad = make_record(5, c.now() * 1000)  # seq word 5 at position 0: rule 1
    c.append([bad])
    c.commit()
    single_record_fraud(
        c.rollup, FraudRule.WRONG_SEQ, 0, 0, bad, c.tree.inclusion_proof(0, 1)
    ).transact({"from": c.challenger})
    f = c.rollup.functions
    with reverts("rollup: frozen"):
        f.postForced(kind32("x"), b"\x01" * 32, b"\x02" * 32, b"\x00" * 32).transact(
            {"from": c.challenger, "value": f.forcedFee().call() * 2}
        )
    # A forced commit is refused as frozen before its records are looked at (the state
    # machine's model refuses in this order: caller, state, bond, bound, size, then records).
    h = _fork(c)
    h.committed = 0
    h.append([make_record(1, c.now() * 1000)])
    with reverts("rollup: frozen"):
        commit_forced(h, [(h.records[1], list(h.tree.inclusion_proof(1, 2)))]).transact(
            {"from": c.sequencer}
        )


# --- the deadline at commit -------------------------------------------------------------------


def test_censoring_commit_refused_after_the_deadline_until_it_includes(bonded: Chain) -> None:
    c = bonded
    c.append(c.valid_records(2))
    c.commit()
    e = post(c)
    c.append(c.valid_records(1))
    c.commit()  # before the deadline: ignoring the entry is still allowed
    c.advance(WINDOW_F)
    c.append(c.valid_records(1))
    with reverts("rollup: forced event overdue"):
        c.commit()
    include(c, [e])
    seq = len(c.records) - 1
    tx = commit_forced(c, proofs(c, [seq])).transact({"from": c.sequencer})
    c.committed = len(c.records)
    (ev,) = events(c, "CheckpointCommitted", tx)
    f = c.rollup.functions
    assert f.forcedIncluded().call() == 1
    assert inbox_slot(c.rollup, 0).included_at == (seq, ev.args.index)
    c.append(c.valid_records(1))
    c.commit()  # nothing overdue any more


def _fork(c: Chain) -> Chain:
    """A harness on the same chain with a copy of `c`'s log: records appended to it stay off
    `c` (an attempt that L1 must refuse)."""
    h = Chain(c.tester, c.w3, c.rollup, c.owner, c.sequencer, c.challenger)
    h.records, h.tree, h.committed = (
        list(c.records),
        MemoryTree([leaf_hash(r) for r in c.records]),
        c.committed,
    )
    return h


def test_forced_commit_reverts(bonded: Chain) -> None:
    c = bonded
    c.append(c.valid_records(2))
    c.commit()
    e0, e1 = post(c, 0), post(c, 1)
    good0 = e0.record(2, c.now() * 1000)
    forged = ForcedEntry(
        0, e0.poster, e0.kind, e0.subject, b"\x99" * 32, e0.meta_hash, e0.posted_at
    )
    never = ForcedEntry(7, e0.poster, e0.kind, e0.subject, e0.digest, e0.meta_hash, e0.posted_at)

    def attempt(records: list[bytes], forced_seqs: list[int], *, size: int | None = None) -> Any:
        h = _fork(c)
        h.append(records)
        return commit_forced(h, proofs(h, forced_seqs, size), size).transact({"from": c.sequencer})

    t = c.now() * 1000
    with reverts("rollup: forced record does not match the inbox"):
        attempt([forged.record(2, t)], [2])
    with reverts("rollup: forced record does not match the inbox"):
        attempt([e1.record(2, t)], [2])  # skips entry 0: out of inbox order
    with reverts("rollup: forced record does not match the inbox"):
        attempt([good0, e1.record(3, t), never.record(4, t)], [2, 3, 4])  # a third never posted
    with reverts("rollup: forced record out of order"):
        attempt([e1.record(2, t), e0.record(3, t)], [3, 2])
    with reverts("rollup: forced record out of order"):
        attempt([good0, e1.record(2, t)], [2, 3])  # entry 1 claims seq 2 again
    with reverts("rollup: forced record out of order"):
        # An old position (not new in this checkpoint): seq 1 < lastSize 2.
        attempt([e0.record(1, t)], [2])
    with reverts("rollup: forced inclusion proof refused"):
        h = _fork(c)
        h.append([good0, make_record(3, t)])
        bad_proof = [(good0, list(h.tree.inclusion_proof(3, 4)))]
        commit_forced(h, bad_proof).transact({"from": c.sequencer})
    # The encoding (record, length word L, L hashes per record) is hostile input too.
    h = _fork(c)
    h.append([good0, make_record(3, t)])
    blob = forced_commit_args(proofs(h, [2]))  # L = 2: 352 + 32 + 64 bytes

    def raw(forced: bytes) -> Any:
        proof = h.tree.consistency_proof(h.committed, 4)
        fn = c.rollup.functions.commitForced(4, h.tree.root(4), proof, h.bound_for(4), forced)
        return fn.transact({"from": c.sequencer})

    with reverts("rollup: forced inclusion proof too long"):
        raw(blob[:352] + (65).to_bytes(32, "big") + blob[384:])
    with reverts("rollup: inclusion proof too short"):
        raw(blob[:352] + (1).to_bytes(32, "big") + blob[384:416])  # a path cut short
    for bad in (
        blob[:-1],  # the last hash cut
        blob[:352] + (3).to_bytes(32, "big") + blob[384:],  # L beyond the bytes sent
        blob + b"\x00" * 5,  # trailing bytes
        blob[:100],  # a record cut
    ):
        with pytest.raises((TransactionFailed, ContractLogicError)):
            raw(bad)
    assert c.rollup.functions.forcedIncluded().call() == 0
    raw(blob)  # the same commit, well encoded, is accepted
    assert c.rollup.functions.forcedIncluded().call() == 1


def test_full_batch_drains_a_backlog(bonded: Chain) -> None:
    c = bonded
    m = MAX_FORCED_PER_COMMIT
    c.append(c.valid_records(1))
    c.commit()
    entries = [post(c, i) for i in range(m + 2)]
    c.advance(WINDOW_F + 1)
    c.append(c.valid_records(1))
    with reverts("rollup: forced event overdue"):
        c.commit()
    include(c, entries[: m + 1])
    seqs = list(range(2, 2 + m + 1))
    with reverts("rollup: forced records malformed or more than MAX_FORCED_PER_COMMIT"):
        commit_forced(c, proofs(c, seqs)).transact({"from": c.sequencer})  # one too many
    with reverts("rollup: forced event overdue"):  # m - 1: not a full batch, the next overdue
        commit_forced(c, proofs(c, seqs[: m - 1], seqs[m - 1]), seqs[m - 1]).transact(
            {"from": c.sequencer}
        )
    # A full batch: accepted although entry m is overdue, so a backlog drains m per commit.
    commit_forced(c, proofs(c, seqs[:m], seqs[m]), seqs[m]).transact({"from": c.sequencer})
    c.committed = seqs[m]
    with reverts("rollup: forced event overdue"):
        c.commit()  # entry m is still overdue (the batch escape held only for that commit)
    assert c.rollup.functions.forcedIncluded().call() == m
    include(c, entries[m + 1 :])
    commit_forced(c, proofs(c, [seqs[m], len(c.records) - 1])).transact({"from": c.sequencer})
    assert c.rollup.functions.forcedIncluded().call() == m + 2


# --- revert of a checkpoint that included forced events ----------------------------------------


def test_revert_uncounts_forced_events_and_they_must_be_included_again(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(1))
    c.commit()
    c.advance(1001)  # checkpoint 0 final
    e = post(c)
    include(c, [e])
    bad = make_record(99, c.now() * 1000)
    c.append([bad])  # rule 1 broken at seq 2
    commit_forced(c, proofs(c, [1])).transact({"from": c.sequencer})
    c.committed = len(c.records)
    assert f.forcedIncluded().call() == 1
    single_record_fraud(
        c.rollup, FraudRule.WRONG_SEQ, 1, 2, bad, c.tree.inclusion_proof(2, 3)
    ).transact({"from": c.challenger})
    assert c.status(1) == CheckpointStatus.REVERTED
    assert f.forcedIncluded().call() == 0 and f.inboxCount().call() == 1
    c.recover()
    # Rebuild from the last live checkpoint (size 1); the entry is overdue by now.
    c.records, c.tree, c.committed = (
        c.records[:1],
        MemoryTree([leaf_hash(r) for r in c.records[:1]]),
        1,
    )
    c.append(c.valid_records(1))
    with reverts("rollup: forced event overdue"):
        c.commit()
    include(c, [e])
    tx = commit_forced(c, proofs(c, [2])).transact({"from": c.sequencer})
    (ev,) = events(c, "CheckpointCommitted", tx)
    assert f.forcedIncluded().call() == 1
    assert inbox_slot(c.rollup, 0).included_at == (2, ev.args.index)


# --- rule 2 for forced records ------------------------------------------------------------------


def _bad_sig(c: Chain, cp: int, seq: int) -> Any:
    return single_record_fraud(
        c.rollup,
        FraudRule.BAD_SIGNATURE,
        cp,
        seq,
        c.records[seq],
        c.tree.inclusion_proof(seq, len(c.records)),
    )


def test_honest_forced_record_is_not_fraud(bonded: Chain) -> None:
    c = bonded
    e = post(c)
    include(c, [e])
    commit_forced(c, proofs(c, [0])).transact({"from": c.sequencer})
    c.committed = 1
    with reverts("rollup: signature is valid"):
        _bad_sig(c, 0, 0).transact({"from": c.challenger})
    slot = inbox_slot(c.rollup, 0)
    assert check_forced(c.records[0], 0, 0, slot.entry_hash, slot.included_at) is None
    sep = bytes(c.rollup.functions.domainSeparator().call())
    assert check_record(c.records[0], 0, sep) == []


@pytest.mark.parametrize("lie", ["forged", "never_posted", "unproven", "duplicate"])
def test_lying_forced_record_is_rule_2_fraud(bonded: Chain, lie: str) -> None:
    c = bonded
    e = post(c)
    t = c.now() * 1000
    if lie == "duplicate":
        include(c, [e])
        commit_forced(c, proofs(c, [0])).transact({"from": c.sequencer})
        c.committed = 1
        c.append([e.record(1, t)])  # the same entry again, later, not proven
        c.commit()
        cp, seq = 1, 1
    else:
        rec = {
            "forged": ForcedEntry(
                0, e.poster, e.kind, e.subject, b"\x42" * 32, e.meta_hash, e.posted_at
            ),
            "never_posted": ForcedEntry(
                3, e.poster, e.kind, e.subject, e.digest, e.meta_hash, e.posted_at
            ),
            "unproven": e,  # the right record, but the commit did not prove it
        }[lie].record(0, t)
        c.append([rec])
        c.commit()  # a plain commit: before the deadline it is accepted
        cp, seq = 0, 0
    slot = inbox_slot(c.rollup, int.from_bytes(c.records[seq][224:256], "big"))
    found = check_forced(
        c.records[seq], seq, cp, slot.entry_hash if slot.deadline else None, slot.included_at
    )
    assert found is not None and found.rule == FraudRule.BAD_SIGNATURE
    tx = _bad_sig(c, cp, seq).transact({"from": c.challenger})
    (ev,) = events(c, "FraudProven", tx)
    assert ev.args.rule == FraudRule.BAD_SIGNATURE
    assert c.rollup.functions.frozen().call()


def test_forced_record_takes_no_part_in_replay(bonded: Chain) -> None:
    """Rule 5 ignores v = 1: a poster's own signed event with nonce j is not a replay."""
    c = bonded
    key = KEYS[2]  # the challenger posts, and signs an event with nonce 0
    e = post(c)
    t = c.now() * 1000
    signed = signed_record(key, 1, t, 0, c.chain_id, c.address)
    assert signed[192:256] == e.record(0, t)[192:256]  # same submitter and nonce words
    include(c, [e])
    c.append([signed])
    commit_forced(c, proofs(c, [0])).transact({"from": c.sequencer})
    with reverts("rollup: both records must be signed"):
        replay_fraud(
            c.rollup,
            0,
            0,
            c.records[0],
            c.tree.inclusion_proof(0, 2),
            1,
            signed,
            c.tree.inclusion_proof(1, 2),
        ).transact({"from": c.challenger})


# --- the whole story: a censoring sequencer is slashed ------------------------------------------


def test_censoring_sequencer_breaks_its_receipts_and_is_slashed() -> None:
    """It keeps accepting events and signing receipts, but ignores the inbox: after the
    deadline it cannot commit, so the receipts it signed break and slash it."""
    c = new_chain(receipt_horizon=600)
    c.bond()
    c.append(c.valid_records(2))
    c.commit()
    post(c)
    c.append(c.valid_records(2))  # accepted and receipted, never committable
    batch = MemoryTree([leaf_hash(r) for r in c.records[2:4]])
    receipt = sign_receipt(KEYS[1], c.chain_id, c.address, 2, 2, batch.root(), c.now() + 60)
    c.advance(WINDOW_F + 1)
    with reverts("rollup: forced event overdue"):
        c.commit()
    c.advance(60)
    tx = receipt_deadline_fraud(c.rollup, receipt).transact({"from": c.challenger})
    (ev,) = events(c, "FraudProven", tx)
    assert ev.args.rule == FraudRule.RECEIPT_DEADLINE and ev.args.reward > MIN_BOND // 2 - 1
    assert c.rollup.functions.frozen().call()
