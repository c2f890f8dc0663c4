"""Issue 10: each attack the v1 audit found, reproduced against the contract. Every test here
failed on v1 (`Rollup.vy` before branch contract-v2) and pins the v2 fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import vyper
from web3.contract import Contract

from l1_contracts.contract import (
    SignedReceipt,
    receipt_deadline_fraud,
    receipt_mismatch_fraud,
    reveal_records,
)
from l1_contracts.model import HOLD_SLOTS, RollupModel, reveal_gas
from prover.checkpoint import CheckpointStatus, DAState
from prover.hashing import leaf_hash
from prover.range_proof import prove_range
from prover.tree import MemoryTree
from tests.l1_contracts.helpers import (
    CHALLENGER_BOND,
    DA_WINDOW,
    KEYS,
    MIN_BOND,
    POST_REVEAL,
    RECEIPT_HORIZON,
    WINDOW,
    Chain,
    events,
    fee,
    make_record,
    new_chain,
    reverts,
    sign_receipt,
)

SEQUENCER_KEY = KEYS[1]
ZERO_ADDRESS = "0x" + "00" * 20

CONTRACTS = Path(__file__).parent / "contracts"


def deploy_test_contract(c: Chain, name: str, value: int = 0) -> Contract:
    """Compile tests/l1_contracts/contracts/<name>.vy and deploy it from the challenger."""
    out = vyper.compile_code(
        (CONTRACTS / f"{name}.vy").read_text(), output_formats=["abi", "bytecode"]
    )
    factory = c.w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
    tx = factory.constructor().transact({"from": c.challenger})
    address = c.w3.eth.get_transaction_receipt(tx)["contractAddress"]
    contract = c.w3.eth.contract(address=address, abi=out["abi"])
    if value:
        contract.functions.fund().transact({"from": c.challenger, "value": value})
    return contract


def da_bond(c: Chain, count: int) -> int:
    """What a DA challenge on `count` records costs to open now (v1: the fixed bond)."""
    f = c.rollup.functions
    if any(e.get("name") == "daBond" for e in c.rollup.abi):
        return int(f.daBond(count).call(block_identifier="pending"))
    return CHALLENGER_BOND


def forward(c: Chain, via: Contract, fn: Any, value: int = 0) -> None:
    data = fn._encode_transaction_data()
    call = via.functions.forward(c.rollup.address, data, value)
    call.call({"from": c.challenger})  # raises with the revert reason, if any
    call.transact({"from": c.challenger, "gas": 3_000_000})


# --- finding 1: push payouts block finality ---------------------------------------------------


def test_f1_ether_refusing_challenger_cannot_block_resolution(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(8))
    cp = c.commit()
    bond = da_bond(c, 8)
    refuser = deploy_test_contract(c, "RefusingChallenger", 10 * bond)
    forward(c, refuser, f.openDAChallenge(cp, 0, 8), bond)
    c.advance(DA_WINDOW + 1)
    # Unanswered: anyone resolves it. v1 pushed the payout to the refusing contract and the
    # resolution reverted forever, holding every later checkpoint and the bond.
    f.resolveDAChallenge(0).transact({"from": c.owner})
    assert c.status(cp) == CheckpointStatus.REVERTED
    assert f.daChallenges(0).call()[4] == DAState.UPHELD
    assert f.daOpenCount().call() == 0
    owed = f.credits(refuser.address).call()
    assert owed == bond + MIN_BOND // 2
    # Its own claim fails (it refuses the ether) and changes nothing.
    with reverts("rollup: transfer failed"):
        forward(c, refuser, f.claim())
    assert f.credits(refuser.address).call() == owed


def test_f1_every_payout_is_a_credit_then_claim(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(8))
    cp = c.commit()
    bond = da_bond(c, 8)
    f.openDAChallenge(cp, 0, 8).transact({"from": c.challenger, "value": bond})
    c.advance(DA_WINDOW + 1)
    before = c.balance(c.challenger)
    f.resolveDAChallenge(0).transact({"from": c.owner})
    assert c.balance(c.challenger) == before  # nothing pushed
    assert f.credits(c.challenger).call() == bond + MIN_BOND // 2
    tx = f.claim().transact({"from": c.challenger})
    assert c.balance(c.challenger) == before + bond + MIN_BOND // 2 - fee(c, tx)
    assert f.credits(c.challenger).call() == 0
    with reverts("rollup: nothing to claim"):
        f.claim().transact({"from": c.challenger})


# --- findings 2 and 3: epochs, reachable receipts, every pending checkpoint reverted -------


def _receipt(c: Chain, records: list[bytes], first: int, deadline: int) -> SignedReceipt:
    batch = MemoryTree([leaf_hash(r) for r in records])
    return sign_receipt(
        SEQUENCER_KEY, c.chain_id, c.address, first, len(records), batch.root(), deadline
    )


def test_f2_one_revert_slashes_one_epoch_bond_only(bonded: Chain) -> None:
    """v1: every receipt broken by one revert slashed each new bond after recover() (4 ETH
    for one fraud in the audit's PoC). v2: the first proof settles the epoch; receipts whose
    deadline fell in it can never be claimed again."""
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(4))
    c.commit()
    # Receipts for records 4..9 the sequencer never commits.
    promised = c.valid_records(6)
    receipts = [_receipt(c, promised[k : k + 2], 4 + k, c.now() + 5) for k in (0, 2, 4)]
    c.advance(10)
    receipt_deadline_fraud(c.rollup, receipts[0]).transact({"from": c.challenger})
    assert f.frozen().call() and f.bond().call() == 0
    with reverts("rollup: frozen"):
        receipt_deadline_fraud(c.rollup, receipts[1]).transact({"from": c.challenger})
    c.recover()
    assert f.bond().call() == MIN_BOND and f.epoch().call() == 1
    for r in receipts[1:]:
        with reverts("rollup: receipt deadline in an earlier epoch"):
            receipt_deadline_fraud(c.rollup, r).transact({"from": c.challenger})
    assert f.bond().call() == MIN_BOND and not f.frozen().call()
    # A receipt of the new epoch is still enforceable against the new bond.
    fresh = _receipt(c, promised[:1], 4, c.now() + 5)
    c.advance(10)
    receipt_deadline_fraud(c.rollup, fresh).transact({"from": c.challenger})
    assert f.frozen().call() and f.bond().call() == 0


def test_f2_recover_waits_out_the_receipt_horizon(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append([make_record(7, c.ts())])
    cp = c.commit()
    f.proveWrongSeq(cp, 0, c.records[0], c.tree.inclusion_proof(0, 1)).transact(
        {"from": c.challenger}
    )
    c.bond()
    with reverts("rollup: receipt horizon not over"):
        f.recover().transact({"from": c.owner})
    c.set_time(
        f.frozenAt().call() + RECEIPT_HORIZON - 1
    )  # the next block is exactly at the horizon
    f.recover().transact({"from": c.owner})
    assert not f.frozen().call()


def test_f3_self_slash_through_an_accomplice_still_reverts_the_bad_checkpoint(
    bonded: Chain,
) -> None:
    """v1: a cheating sequencer front-ran the fraud proof with a junk deadline receipt through
    an accomplice, took back half its bond, and the bad checkpoint finalised unless someone
    proved it for nothing. v2: any broken promise reverts every pending checkpoint."""
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(2))
    c.commit()
    c.advance(WINDOW + 1)  # checkpoint 0 final
    c.append([make_record(99, c.ts())])
    bad = c.commit()  # checkpoint 1: record 2 has seq 99
    junk = _receipt(c, [make_record(0, 0)], 2**52, c.now())
    with reverts("rollup: receipt beyond the log's reachable range"):
        receipt_deadline_fraud(c.rollup, junk, 2).transact({"from": c.challenger})
    reachable = _receipt(c, [make_record(0, 0)], 1000, c.now())
    c.advance(2)
    tx = receipt_deadline_fraud(c.rollup, reachable).transact({"from": c.owner})  # the accomplice
    assert c.status(bad) == CheckpointStatus.REVERTED
    assert c.status(0) == CheckpointStatus.FINAL  # final history is untouched
    (rev,) = events(c, "CheckpointsReverted", tx)
    assert (rev.args.fromIndex, rev.args.toIndex) == (1, 2)
    c.advance(WINDOW + 1)
    assert f.latestFinalized().call() == 0  # the bad checkpoint never finalises


def test_f3_fraud_proof_reverts_every_pending_checkpoint(bonded: Chain) -> None:
    c = bonded
    c.append(c.valid_records(2))
    c.commit()  # 0 pending, honest
    c.append([make_record(42, c.ts())])
    bad = c.commit()  # 1: record 2 wrong
    c.rollup.functions.proveWrongSeq(bad, 2, c.records[2], c.tree.inclusion_proof(2, 3)).transact(
        {"from": c.challenger}
    )
    # Nothing unproven of a proven-dishonest sequencer finalises, its earlier checkpoint included.
    assert [c.status(0), c.status(1)] == [CheckpointStatus.REVERTED] * 2


# --- finding 4: a late reveal leaves a post-reveal fraud window ----------------------------


def test_f4_late_reveal_leaves_a_fraud_window(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append([*c.valid_records(3), make_record(77, c.ts())])
    cp = c.commit()  # record 3 is bad, but its data is withheld from validators
    c.advance(WINDOW - 5)
    bond = da_bond(c, 4)
    f.openDAChallenge(cp, 0, 4).transact({"from": c.challenger, "value": bond})
    c.advance(DA_WINDOW - 5)  # past the challenge window, inside the response window
    proof = prove_range(c.tree.nodes, 0, 4, 4)
    reveal_records(c.rollup, 0, c.records[0:4], proof).transact(
        {"from": c.sequencer, "gas": 3_000_000}
    )
    # v1: the checkpoint was final in the reveal's own block. v2: pending for P more.
    assert c.status(cp) == CheckpointStatus.PENDING
    c.advance(POST_REVEAL - 5)
    assert c.status(cp) == CheckpointStatus.PENDING
    f.proveWrongSeq(cp, 3, c.records[3], c.tree.inclusion_proof(3, 4)).transact(
        {"from": c.challenger}
    )
    assert c.status(cp) == CheckpointStatus.REVERTED


def test_f4_reveal_hold_ends_after_the_post_reveal_window(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(4))
    cp = c.commit()
    c.advance(WINDOW - 5)
    f.openDAChallenge(cp, 0, 4).transact({"from": c.challenger, "value": da_bond(c, 4)})
    c.advance(DA_WINDOW - 5)
    reveal_records(c.rollup, 0, c.records, prove_range(c.tree.nodes, 0, 4, 4)).transact(
        {"from": c.sequencer, "gas": 3_000_000}
    )
    revealed_at = c.now()
    c.set_time(revealed_at + POST_REVEAL - 1)
    assert c.status(cp) == CheckpointStatus.PENDING
    c.set_time(revealed_at + POST_REVEAL)
    assert c.status(cp) == CheckpointStatus.FINAL
    # Within the documented bound: challengeEnds + daResponseWindow + postRevealWindow.
    assert c.now() <= f.checkpoints(cp).call()[3] + DA_WINDOW + POST_REVEAL


# --- finding 5: DA challenge economics -------------------------------------------------------


def test_f5_a_range_cannot_be_challenged_twice(bonded: Chain) -> None:
    """v1: the same range could be challenged 40 times, each answer paid by the sequencer."""
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(8))
    cp = c.commit()
    f.openDAChallenge(cp, 0, 8).transact({"from": c.challenger, "value": da_bond(c, 8)})
    with reverts("rollup: range already challenged"):
        f.openDAChallenge(cp, 0, 8).transact({"from": c.challenger, "value": da_bond(c, 8)})
    reveal_records(c.rollup, 0, c.records, prove_range(c.tree.nodes, 0, 8, 8)).transact(
        {"from": c.sequencer, "gas": 3_000_000}
    )
    with reverts("rollup: range already challenged"):
        f.openDAChallenge(cp, 0, 8).transact({"from": c.challenger, "value": da_bond(c, 8)})
    # Nor a shifted copy of it: challenges name aligned chunks.
    with reverts("rollup: range must be one whole chunk"):
        f.openDAChallenge(cp, 0, 7).transact({"from": c.challenger, "value": da_bond(c, 7)})


def test_f5_bond_is_priced_by_the_basefee(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    basefee = int(c.w3.eth.get_block("pending")["baseFeePerGas"])
    for n in (1, 64, 256):
        assert f.daBond(n).call(block_identifier="pending") == max(
            CHALLENGER_BOND, 2 * basefee * reveal_gas(n)
        )


# --- finding 6: rule 4b cannot slash the honest committer -----------------------------------


def test_f6_early_block_reverts_the_commit_instead_of_slashing(bonded: Chain) -> None:
    """v1 compared ms stamps with the second-resolution time of whichever block included the
    commit: a block stamped at its slot start (before the committer's wall clock) made an
    honest checkpoint provably 'in the future'. v2: the commit declares the bound and L1 checks
    it at inclusion."""
    c = bonded
    f = c.rollup.functions
    nxt = c.now() + 1  # the next block's time
    c.append([make_record(0, nxt * 1000 + 400)])  # stamped 0.4 s into that second
    bound = nxt * 1000 + 400
    with reverts("rollup: timestamp bound is after the block time"):
        f.commit(1, c.tree.root(1), [], bound).transact({"from": c.sequencer})
    assert f.checkpointCount().call() == 0
    # One block later the same commit is accepted and nothing in it is provable.
    c.advance(1)
    cp = c.commit(1, bound)
    assert f.timestampBound(cp).call() == bound
    with reverts("rollup: timestamp is within the bound"):
        f.proveFutureTimestamp(cp, 0, c.records[0], c.tree.inclusion_proof(0, 1)).call(
            {"from": c.challenger}
        )


def test_f6_rule_4b_judges_against_the_declared_bound(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    t = c.ts()
    c.append([make_record(0, t), make_record(1, t + 5)])
    cp = c.commit(2, t)  # declares t, but record 1 is stamped later
    f.proveFutureTimestamp(cp, 1, c.records[1], c.tree.inclusion_proof(1, 2)).transact(
        {"from": c.challenger}
    )
    assert c.status(cp) == CheckpointStatus.REVERTED


# --- finding 7: holds cover only what a challenge covers -------------------------------------


def test_f7_answered_challenges_release_earlier_checkpoints(bonded: Chain) -> None:
    """v1: an answered challenge never lifted the hold while any other was open, so one
    challenge at a time held everything pending (and blocked withdraw)."""
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(4))
    cp0 = c.commit()
    c.advance(WINDOW // 2)
    c.append(c.valid_records(4))
    cp1 = c.commit()
    f.openDAChallenge(cp0, 0, 4).transact({"from": c.challenger, "value": da_bond(c, 4)})
    reveal_records(c.rollup, 0, c.records[:4], prove_range(c.tree.nodes, 0, 4, 4)).transact(
        {"from": c.sequencer, "gas": 3_000_000}
    )
    f.openDAChallenge(cp1, 0, 8).transact({"from": c.challenger, "value": da_bond(c, 8)})
    c.set_time(f.checkpoints(cp0).call()[3] + 1)
    # cp1's challenge is open and holds cp1; cp0 is past its window and its post-reveal hold.
    assert f.daOpenCount().call() == 1
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.FINAL, CheckpointStatus.PENDING]
    assert f.latestFinalized().call() == cp0


def test_f7_holds_beyond_the_slots_merge_without_losing_one(bonded: Chain) -> None:
    """More active challenges than hold slots: they merge (holding longer, never shorter)."""
    c = bonded
    f = c.rollup.functions
    cps = []
    for _ in range(HOLD_SLOTS + 2):
        c.append(c.valid_records(1))
        cps.append(c.commit())
    for cp in cps:
        size = f.checkpoints(cp).call()[0]
        f.openDAChallenge(cp, 0, size).transact({"from": c.challenger, "value": da_bond(c, size)})
    c.advance(WINDOW + 1)
    assert all(c.status(cp) == CheckpointStatus.PENDING for cp in cps)
    # Past every window, each checkpoint is still held by its unanswered challenge, merged
    # slots included; it is too late to answer any of them.
    for cid, cp in enumerate(cps[:-1]):
        size = f.checkpoints(cp).call()[0]
        with reverts("rollup: response window is over"):
            reveal_records(
                c.rollup, cid, c.records[:size], prove_range(c.tree.nodes, 0, size, size)
            ).call({"from": c.sequencer})
    f.resolveDAChallenge(len(cps) - 1).transact({"from": c.challenger})
    assert all(c.status(cp) == CheckpointStatus.REVERTED for cp in cps)


# --- finding 9: size bound to the root through the DA game -----------------------------------


def test_f9_a_size_the_root_does_not_have_cannot_survive_a_da_challenge(bonded: Chain) -> None:
    """commit(3, <root of 4 leaves>) is accepted (a commit cannot see the leaves), but no
    reveal of any 3 records folds to that root at size 3: the challenge is upheld."""
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(4))
    f.commit(3, c.tree.root(4), [], 0).transact({"from": c.sequencer})
    f.openDAChallenge(0, 0, 3).transact({"from": c.challenger, "value": da_bond(c, 3)})
    for proof in ([], prove_range(c.tree.nodes, 0, 3, 4)):
        with reverts("rollup: "):
            reveal_records(c.rollup, 0, c.records[:3], proof).call({"from": c.sequencer})
    c.advance(DA_WINDOW + 1)
    f.resolveDAChallenge(0).transact({"from": c.challenger})
    assert c.status(0) == CheckpointStatus.REVERTED and f.frozen().call()


# --- finding 11: ownership and the way out of a freeze ---------------------------------------


def test_f11_two_step_ownership(chain: Chain) -> None:
    c = chain
    f = c.rollup.functions
    with reverts("rollup: caller is not the owner"):
        f.transferOwnership(c.challenger).transact({"from": c.challenger})
    f.transferOwnership(c.challenger).transact({"from": c.owner})
    assert f.owner().call() == c.owner and f.pendingOwner().call() == c.challenger
    with reverts("rollup: caller is not the pending owner"):
        f.acceptOwnership().transact({"from": c.sequencer})
    tx = f.acceptOwnership().transact({"from": c.challenger})
    assert f.owner().call() == c.challenger and f.pendingOwner().call() == ZERO_ADDRESS
    (ev,) = events(c, "OwnershipTransferred", tx)
    assert (ev.args.previousOwner, ev.args.newOwner) == (c.owner, c.challenger)


def test_f11_sequencer_withdraws_a_post_freeze_rebond_if_never_recovered(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append([make_record(5, c.ts())])
    cp = c.commit()
    f.proveWrongSeq(cp, 0, c.records[0], c.tree.inclusion_proof(0, 1)).transact(
        {"from": c.challenger}
    )
    c.bond()  # re-bonds; the owner never recovers
    f.requestExit().transact({"from": c.sequencer})
    with reverts("rollup: exit delay not over"):
        f.withdraw().transact({"from": c.sequencer})
    c.advance(f.exitDelay().call())
    f.withdraw().transact({"from": c.sequencer})
    assert f.bond().call() == 0 and f.credits(c.sequencer).call() == MIN_BOND


# --- finding 12: a mismatch names the checkpoint where the position is new ----------------


def test_f12_mismatch_must_name_the_checkpoint_where_the_position_is_new(bonded: Chain) -> None:
    c = bonded
    f = c.rollup.functions
    c.append(c.valid_records(4))
    c.commit()  # 0: [0, 4)
    c.append(c.valid_records(2))
    cp1 = c.commit()  # 1: [4, 6), position 2 is not new in it
    promised = [make_record(2, 1, digest=b"\x77" * 32)]
    receipt = _receipt(c, promised, 2, c.now() + 100)
    batch = MemoryTree([leaf_hash(promised[0])])
    with reverts("rollup: record not new in this checkpoint"):
        receipt_mismatch_fraud(
            c.rollup,
            receipt,
            leaf_hash(promised[0]),
            0,
            batch.inclusion_proof(0),
            cp1,
            c.records[2],
            c.tree.inclusion_proof(2, 6),
        ).transact({"from": c.challenger})
    receipt_mismatch_fraud(
        c.rollup,
        receipt,
        leaf_hash(promised[0]),
        0,
        batch.inclusion_proof(0),
        0,
        c.records[2],
        c.tree.inclusion_proof(2, 4),
    ).transact({"from": c.challenger})
    assert f.frozen().call()


# --- finding 14: events -------------------------------------------------------------------


def test_f14_fraud_event_carries_the_refund_and_nothing_is_reemitted_while_frozen(
    bonded: Chain,
) -> None:
    c = bonded
    f = c.rollup.functions
    c.append([*c.valid_records(2), make_record(9, c.ts())])
    cp = c.commit()
    bond = da_bond(c, 3)
    f.openDAChallenge(cp, 0, 3).transact({"from": c.challenger, "value": bond})
    c.advance(DA_WINDOW + 1)
    tx = f.resolveDAChallenge(0).transact({"from": c.owner})
    (ev,) = events(c, "FraudProven", tx)
    assert (ev.args.reward, ev.args.refund) == (MIN_BOND // 2, bond)
    (fr,) = events(c, "Frozen", tx)
    assert fr.args.epoch == 0
    # v1 accepted another proof while frozen and re-emitted Frozen and BondSlashed(0, 0, 0).
    receipt = _receipt(c, [make_record(0, 0)], 3, c.now())
    c.advance(2)
    with reverts("rollup: frozen"):
        receipt_deadline_fraud(c.rollup, receipt).transact({"from": c.challenger})


# --- stateful-test counterexample: resolving an unanswered challenge late ----------------------


def test_resolving_a_late_challenge_never_reverts_a_final_checkpoint() -> None:
    """The Hypothesis run that reported "checkpoint 0: contract 3, model 2" after
    `resolve(0)`: commit 6 records, challenge chunk [0, 4) of checkpoint 0, let the window and
    the response window pass unanswered, resolve. The unanswered challenge holds checkpoint 0
    pending the whole time (the view never says final), so resolving it reverts checkpoint 0;
    the model must agree at every step (it used to drop the hold before punishing and kept
    checkpoint 0 final: nothing unproven of a proven-dishonest sequencer may finalise)."""
    c = new_chain(max_da_range=4)  # as test_stateful.py
    c.bond()
    f = c.rollup.functions
    model = RollupModel(
        WINDOW,
        DA_WINDOW,
        POST_REVEAL,
        MIN_BOND,
        CHALLENGER_BOND,
        RECEIPT_HORIZON,
        c.sequencer,
        max_da_range=4,
    )
    model.deposit(MIN_BOND)

    def statuses() -> tuple[list[int], list[int]]:
        now = c.now()
        n = int(f.checkpointCount().call())
        assert n == len(model.checkpoints)
        return [c.status(i) for i in range(n)], [int(model.status(i, now)) for i in range(n)]

    c.advance(1)
    c.append(c.valid_records(6))
    bound = c.bound_for(6)
    model.commit(6, c.now() + 1, bound)
    cp = c.commit(bound=bound)
    assert cp == 0
    value = da_bond(c, 4) + 1
    model.open_da(
        cp,
        0,
        4,
        c.challenger,
        c.now() + 1,
        value,
        int(c.w3.eth.get_block("pending")["baseFeePerGas"]),
    )
    f.openDAChallenge(cp, 0, 4).transact({"from": c.challenger, "value": value})
    assert statuses() == ([CheckpointStatus.PENDING], [CheckpointStatus.PENDING])

    c.advance(WINDOW + 1)  # past challengeEnds and the response deadline, unanswered
    assert c.now() >= f.checkpoints(cp).call()[3]
    assert f.daOpenCount().call() == 1
    assert statuses() == ([CheckpointStatus.PENDING], [CheckpointStatus.PENDING])
    assert f.latestFinalized().call() == 2**256 - 1

    model.resolve(0, c.now() + 1)
    tx = f.resolveDAChallenge(0).transact({"from": c.owner})
    assert statuses() == ([CheckpointStatus.REVERTED], [CheckpointStatus.REVERTED])
    assert f.daChallenges(0).call()[4] == DAState.UPHELD == model.challenges[0].state
    assert f.frozen().call() and model.frozen
    assert f.credits(c.challenger).call() == model.credits[c.challenger] == MIN_BOND // 2 + value
    assert [e["args"]["fromIndex"] for e in events(c, "CheckpointsReverted", tx)] == [cp]
