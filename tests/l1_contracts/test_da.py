"""Data-availability challenges (docs/spec.md §9): open, reveal (verified against the root),
resolve when unanswered, and the hold they put on finality."""

from __future__ import annotations

from l1_contracts.contract import (
    NO_INDEX,
    calldata_gas_limit,
    reveal_records,
    revealed_records,
)
from l1_contracts.model import reveal_gas
from prover.checkpoint import CheckpointStatus, DAState
from prover.range_proof import prove_range
from tests.l1_contracts.helpers import (
    CHALLENGER_BOND,
    DA_WINDOW,
    MIN_BOND,
    POST_REVEAL,
    WINDOW,
    Chain,
    events,
    make_record,
    new_chain,
    reverts,
)


def _setup(c: Chain, n: int = 300) -> int:
    c.bond()
    c.append(c.valid_records(n))
    return c.commit()


def _open(c: Chain, cp: int, start: int, end: int, value: int | None = None) -> int:
    f = c.rollup.functions
    cid = f.daChallengeCount().call()
    if value is None:
        value = f.daBond(end - start).call(block_identifier="pending")
    f.openDAChallenge(cp, start, end).transact({"from": c.challenger, "value": value})
    return int(cid)


def _reveal(c: Chain, cid: int, start: int, end: int, size: int) -> bytes:
    fn = reveal_records(
        c.rollup, cid, c.records[start:end], prove_range(c.tree.nodes, start, end, size)
    )
    fn.call({"from": c.sequencer})  # surfaces the revert reason, if any
    gas = calldata_gas_limit(len(fn._encode_transaction_data()) // 2, 3_000_000)
    tx = fn.transact({"from": c.sequencer, "gas": gas})
    assert c.w3.eth.get_transaction_receipt(tx)["status"] == 1
    return bytes(tx)


def test_open_checks(chain: Chain) -> None:
    c = chain
    cp = _setup(c, 10)
    f = c.rollup.functions
    bond = f.daBond(10).call(block_identifier="pending")
    assert bond >= CHALLENGER_BOND
    with reverts("rollup: value below the DA bond"):
        f.openDAChallenge(cp, 0, 10).transact({"from": c.challenger, "value": bond - 1})
    with reverts("rollup: no such checkpoint"):
        f.openDAChallenge(5, 0, 1).transact({"from": c.challenger, "value": bond})
    with reverts("rollup: range must be one whole chunk"):
        f.openDAChallenge(cp, 0, 3).transact({"from": c.challenger, "value": bond})
    with reverts("rollup: range must be one whole chunk"):
        f.openDAChallenge(cp, 0, 11).transact({"from": c.challenger, "value": bond})
    with reverts("rollup: range beyond the checkpoint size"):
        f.openDAChallenge(cp, 10, 11).transact({"from": c.challenger, "value": bond})
    c.append(c.valid_records(300))
    cp2 = c.commit()
    with reverts("rollup: range must start at a chunk boundary"):
        f.openDAChallenge(cp2, 1, 257).transact({"from": c.challenger, "value": bond})
    with reverts("rollup: range must be one whole chunk"):
        f.openDAChallenge(cp2, 0, 257).transact({"from": c.challenger, "value": bond})
    bond = f.daBond(256).call(block_identifier="pending")
    tx = f.openDAChallenge(cp2, 0, 256).transact({"from": c.challenger, "value": bond})
    (ev,) = events(c, "DAChallengeOpened", tx)
    assert (ev.args.challengeId, ev.args.start, ev.args.end, ev.args.bond) == (0, 0, 256, bond)
    assert ev.args.deadline == c.now() + DA_WINDOW
    ch = f.daChallenges(0).call()
    assert ch[0] == cp2 and ch[4] == DAState.OPEN and ch[5] == c.challenger and ch[6] == bond
    # The last chunk is clipped to the size.
    f.openDAChallenge(cp2, 256, 310).transact({"from": c.challenger, "value": bond})
    c.advance(WINDOW)
    with reverts("rollup: challenge window is over"):
        f.openDAChallenge(cp, 0, 10).transact({"from": c.challenger, "value": bond})


def test_reveal_256_records(chain: Chain) -> None:
    c = chain
    cp = _setup(c, 300)
    bond = c.rollup.functions.daBond(256).call(block_identifier="pending")
    cid = _open(c, cp, 0, 256, bond)
    tx = _reveal(c, cid, 0, 256, 300)
    (ev,) = events(c, "RecordsRevealed", tx)
    assert (ev.args.start, ev.args.end) == (0, 256)
    assert revealed_records(c.w3, c.rollup, cid) == c.records[0:256]
    f = c.rollup.functions
    assert f.daChallenges(cid).call()[4] == DAState.ANSWERED
    # The sequencer's bond gets what answering cost at this basefee, the challenger the rest.
    basefee = c.w3.eth.get_block(c.w3.eth.get_transaction_receipt(tx)["blockNumber"])[
        "baseFeePerGas"
    ]
    paid = min(bond, basefee * reveal_gas(256))
    assert ev.args.compensation == paid
    assert f.bond().call() == MIN_BOND + paid
    assert f.credits(c.challenger).call() == bond - paid
    assert f.daOpenCount().call() == 0
    gas = c.w3.eth.get_transaction_receipt(tx)["gasUsed"]
    assert gas < 5_000_000
    with reverts("rollup: challenge is not open"):
        _reveal(c, cid, 17, 273, 300)


def test_reveal_refusals(chain: Chain) -> None:
    c = chain
    c.bond()
    c.append(c.valid_records(40))
    cp = c.commit()
    # A tree of 40 with maxDARange 256 has one chunk [0, 40): deploy-time chunks are fixed,
    # so exercise an odd-start range on a chain whose maxDARange is 4.
    del cp
    d = new_chain(max_da_range=4)
    d.bond()
    d.append(d.valid_records(40))
    cp = d.commit()
    cid = _open(d, cp, 4, 8)
    f = d.rollup.functions
    proof = prove_range(d.tree.nodes, 4, 8, 40)
    with reverts("rollup: wrong number of records"):
        f.revealRecords(cid, d.records[4:7], proof).transact({"from": d.sequencer})
    bad = [*d.records[4:7], make_record(7, 0)]
    with reverts("rollup: records do not match the checkpoint root"):
        f.revealRecords(cid, bad, proof).transact({"from": d.sequencer})
    with reverts("rollup: records do not match the checkpoint root"):
        f.revealRecords(cid, d.records[4:8], [b"\x01" * 32, *proof[1:]]).transact(
            {"from": d.sequencer}
        )
    with reverts("rollup: range proof too long"):
        f.revealRecords(cid, d.records[4:8], [*proof, proof[0]]).transact({"from": d.sequencer})
    with reverts("rollup: range proof too short"):
        f.revealRecords(cid, d.records[4:8], proof[:-1]).transact({"from": d.sequencer})
    with reverts("rollup: record must be 352 bytes"):
        f.revealRecords(cid, [*d.records[4:7], d.records[7][:-1]], proof).transact(
            {"from": d.sequencer}
        )
    with reverts("rollup: challenge is not open"):
        f.revealRecords(cid + 1, d.records[4:8], proof).transact({"from": d.sequencer})
    d.advance(DA_WINDOW)
    with reverts("rollup: response window is over"):
        f.revealRecords(cid, d.records[4:8], proof).transact({"from": d.sequencer})


def test_unanswered_challenge_reverts_and_slashes(chain: Chain) -> None:
    c = chain
    cp0 = _setup(c, 8)
    c.append(c.valid_records(8))
    cp1 = c.commit()
    bond = c.rollup.functions.daBond(8).call(block_identifier="pending")
    cid = _open(c, cp0, 0, 8, bond)
    f = c.rollup.functions
    with reverts("rollup: response window not over"):
        f.resolveDAChallenge(cid).transact({"from": c.owner})
    c.advance(DA_WINDOW)
    tx = f.resolveDAChallenge(cid).transact({"from": c.owner})  # anyone may resolve
    assert f.credits(c.challenger).call() == bond + MIN_BOND // 2
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.REVERTED] * 2
    assert f.frozen().call() and f.bond().call() == 0 and f.lastSize().call() == 0
    assert f.daChallenges(cid).call()[4] == DAState.UPHELD
    (fp,) = events(c, "FraudProven", tx)
    assert (fp.args.rule, fp.args.challenger, fp.args.reward, fp.args.refund) == (
        9,
        c.challenger,
        MIN_BOND // 2,
        bond,
    )
    with reverts("rollup: challenge is not open"):
        f.resolveDAChallenge(cid).transact({"from": c.owner})


def test_open_challenge_holds_finality(chain: Chain) -> None:
    c = chain
    cp0 = _setup(c, 8)
    c.append(c.valid_records(8))
    cp1 = c.commit()
    f = c.rollup.functions
    cid = _open(c, cp0, 0, 8)
    c.advance(WINDOW + 1)
    # Both windows are over, but checkpoint 0 may still revert, and with it checkpoint 1.
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.PENDING] * 2
    assert f.latestFinalized().call() == NO_INDEX
    # The response window (shorter than W) is over too: an answer now is refused.
    with reverts("rollup: response window is over"):
        _reveal(c, cid, 0, 8, 8)
    # Out of time: resolution reverts both.
    f.resolveDAChallenge(cid).transact({"from": c.challenger})
    assert f.latestFinalized().call() == NO_INDEX


def test_answered_challenge_releases_the_hold(chain: Chain) -> None:
    c = chain
    cp0 = _setup(c, 8)
    c.append(c.valid_records(8))
    cp1 = c.commit()
    f = c.rollup.functions
    c.advance(WINDOW - 10)
    cid = _open(c, cp1, 0, 16)
    c.advance(20)
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.FINAL, CheckpointStatus.PENDING]
    assert f.latestFinalized().call() == cp0
    _reveal(c, cid, 0, 16, 16)
    # v2 (finding 4): the reveal keeps cp1 pending for the post-reveal window, then it is final.
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.FINAL, CheckpointStatus.PENDING]
    c.advance(POST_REVEAL)
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.FINAL] * 2
    assert f.latestFinalized().call() == cp1


def test_challenge_on_a_checkpoint_reverted_meanwhile_is_void(chain: Chain) -> None:
    c = chain
    c.bond()
    c.append(c.valid_records(4))
    c.commit()
    c.append([make_record(99, c.ts())])
    cp = c.commit()
    bond = c.rollup.functions.daBond(5).call(block_identifier="pending")
    cid = _open(c, cp, 0, 5, bond)
    f = c.rollup.functions
    f.proveWrongSeq(cp, 4, c.records[4], c.tree.inclusion_proof(4, 5)).transact({"from": c.owner})
    with reverts("rollup: checkpoint is reverted"):
        _reveal(c, cid, 0, 5, 5)
    with reverts("rollup: checkpoint is reverted"):
        f.openDAChallenge(cp, 0, 5).transact({"from": c.challenger, "value": bond})
    f.resolveDAChallenge(cid).transact({"from": c.challenger})
    assert f.credits(c.challenger).call() == bond
    assert f.daChallenges(cid).call()[4] == DAState.VOID
    assert f.daOpenCount().call() == 0
