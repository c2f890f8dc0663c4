"""Data-availability challenges (docs/spec.md §9): open, reveal (verified against the root),
resolve when unanswered, and the hold they put on finality."""

from __future__ import annotations

from l1_contracts.contract import (
    NO_INDEX,
    calldata_gas_limit,
    reveal_records,
)
from prover.checkpoint import CheckpointStatus, DAState
from prover.range_proof import prove_range
from tests.l1_contracts.helpers import (
    CHALLENGER_BOND,
    DA_WINDOW,
    MIN_BOND,
    WINDOW,
    Chain,
    events,
    fee,
    make_record,
    reverts,
)


def _setup(c: Chain, n: int = 300) -> int:
    c.bond()
    c.append(c.valid_records(n))
    return c.commit()


def _open(c: Chain, cp: int, start: int, end: int) -> int:
    f = c.rollup.functions
    cid = f.daChallengeCount().call()
    f.openDAChallenge(cp, start, end).transact({"from": c.challenger, "value": CHALLENGER_BOND})
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
    with reverts("rollup: value must equal the challenger bond"):
        f.openDAChallenge(cp, 0, 1).transact({"from": c.challenger, "value": 1})
    with reverts("rollup: no such checkpoint"):
        f.openDAChallenge(5, 0, 1).transact({"from": c.challenger, "value": CHALLENGER_BOND})
    with reverts("rollup: empty range"):
        f.openDAChallenge(cp, 3, 3).transact({"from": c.challenger, "value": CHALLENGER_BOND})
    with reverts("rollup: range beyond the checkpoint size"):
        f.openDAChallenge(cp, 3, 11).transact({"from": c.challenger, "value": CHALLENGER_BOND})
    c.append(c.valid_records(300))
    cp2 = c.commit()
    with reverts("rollup: range above maxDARange"):
        f.openDAChallenge(cp2, 0, 257).transact({"from": c.challenger, "value": CHALLENGER_BOND})
    tx = f.openDAChallenge(cp2, 0, 256).transact({"from": c.challenger, "value": CHALLENGER_BOND})
    (ev,) = events(c, "DAChallengeOpened", tx)
    assert (ev.args.challengeId, ev.args.start, ev.args.end) == (0, 0, 256)
    assert ev.args.deadline == c.now() + DA_WINDOW
    ch = f.daChallenges(0).call()
    assert (
        ch[0] == cp2
        and ch[4] == DAState.OPEN
        and ch[5] == c.challenger
        and ch[6] == CHALLENGER_BOND
    )
    c.advance(WINDOW)
    with reverts("rollup: challenge window is over"):
        f.openDAChallenge(cp2, 0, 1).transact({"from": c.challenger, "value": CHALLENGER_BOND})


def test_reveal_256_records(chain: Chain) -> None:
    c = chain
    cp = _setup(c, 300)
    cid = _open(c, cp, 17, 273)
    tx = _reveal(c, cid, 17, 273, 300)
    (ev,) = events(c, "RecordsRevealed", tx)
    assert [bytes(r) for r in ev.args.records] == c.records[17:273] and ev.args.start == 17
    f = c.rollup.functions
    assert f.daChallenges(cid).call()[4] == DAState.ANSWERED
    assert f.bond().call() == MIN_BOND + CHALLENGER_BOND  # the challenger's bond compensates
    assert f.daOpenCount().call() == 0
    gas = c.w3.eth.get_transaction_receipt(tx)["gasUsed"]
    assert gas < 5_000_000
    with reverts("rollup: challenge is not open"):
        _reveal(c, cid, 17, 273, 300)


def test_reveal_refusals(chain: Chain) -> None:
    c = chain
    cp = _setup(c, 40)
    cid = _open(c, cp, 5, 9)
    f = c.rollup.functions
    proof = prove_range(c.tree.nodes, 5, 9, 40)
    with reverts("rollup: wrong number of records"):
        f.revealRecords(cid, c.records[5:8], proof).transact({"from": c.sequencer})
    bad = [*c.records[5:8], make_record(8, 0)]
    with reverts("rollup: records do not match the checkpoint root"):
        f.revealRecords(cid, bad, proof).transact({"from": c.sequencer})
    with reverts("rollup: records do not match the checkpoint root"):
        f.revealRecords(cid, c.records[5:9], [b"\x01" * 32, *proof[1:]]).transact(
            {"from": c.sequencer}
        )
    with reverts("rollup: range proof too long"):
        f.revealRecords(cid, c.records[5:9], [*proof, proof[0]]).transact({"from": c.sequencer})
    with reverts("rollup: range proof too short"):
        f.revealRecords(cid, c.records[5:9], proof[:-1]).transact({"from": c.sequencer})
    with reverts("rollup: record must be 352 bytes"):
        f.revealRecords(cid, [*c.records[5:8], c.records[8][:-1]], proof).transact(
            {"from": c.sequencer}
        )
    with reverts("rollup: challenge is not open"):
        f.revealRecords(cid + 1, c.records[5:9], proof).transact({"from": c.sequencer})
    c.advance(DA_WINDOW)
    with reverts("rollup: response window is over"):
        f.revealRecords(cid, c.records[5:9], proof).transact({"from": c.sequencer})


def test_unanswered_challenge_reverts_and_slashes(chain: Chain) -> None:
    c = chain
    cp0 = _setup(c, 8)
    c.append(c.valid_records(8))
    cp1 = c.commit()
    cid = _open(c, cp0, 0, 4)
    f = c.rollup.functions
    with reverts("rollup: response window not over"):
        f.resolveDAChallenge(cid).transact({"from": c.owner})
    c.advance(DA_WINDOW)
    before = c.balance(c.challenger)
    tx = f.resolveDAChallenge(cid).transact({"from": c.owner})  # anyone may resolve
    assert c.balance(c.challenger) == before + CHALLENGER_BOND + MIN_BOND // 2
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.REVERTED] * 2
    assert f.frozen().call() and f.bond().call() == 0 and f.lastSize().call() == 0
    assert f.daChallenges(cid).call()[4] == DAState.UPHELD
    (fp,) = events(c, "FraudProven", tx)
    assert (fp.args.rule, fp.args.challenger) == (9, c.challenger)
    with reverts("rollup: challenge is not open"):
        f.resolveDAChallenge(cid).transact({"from": c.owner})


def test_open_challenge_holds_finality(chain: Chain) -> None:
    c = chain
    cp0 = _setup(c, 8)
    c.append(c.valid_records(8))
    cp1 = c.commit()
    f = c.rollup.functions
    cid = _open(c, cp0, 2, 3)
    c.advance(WINDOW + 1)
    # Both windows are over, but checkpoint 0 may still revert, and with it checkpoint 1.
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.PENDING] * 2
    assert f.latestFinalized().call() == NO_INDEX
    # The response window (shorter than W) is over too: an answer now is refused.
    with reverts("rollup: response window is over"):
        _reveal(c, cid, 2, 3, 8)
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
    cid = _open(c, cp1, 9, 12)
    c.advance(20)
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.FINAL, CheckpointStatus.PENDING]
    assert f.latestFinalized().call() == cp0
    _reveal(c, cid, 9, 12, 16)
    assert [c.status(cp0), c.status(cp1)] == [CheckpointStatus.FINAL] * 2
    assert f.latestFinalized().call() == cp1


def test_challenge_on_a_checkpoint_reverted_meanwhile_is_void(chain: Chain) -> None:
    c = chain
    c.bond()
    c.append(c.valid_records(4))
    c.commit()
    c.append([make_record(99, c.ts())])
    cp = c.commit()
    cid = _open(c, cp, 4, 5)
    f = c.rollup.functions
    f.proveWrongSeq(cp, 4, c.records[4], c.tree.inclusion_proof(4, 5)).transact({"from": c.owner})
    with reverts("rollup: checkpoint is reverted"):
        _reveal(c, cid, 4, 5, 5)
    with reverts("rollup: checkpoint is reverted"):
        f.openDAChallenge(cp, 4, 5).transact({"from": c.challenger, "value": CHALLENGER_BOND})
    before = c.balance(c.challenger)
    tx = f.resolveDAChallenge(cid).transact({"from": c.challenger})
    assert c.balance(c.challenger) == before + CHALLENGER_BOND - fee(c, tx)
    assert f.daChallenges(cid).call()[4] == DAState.VOID
    assert f.daOpenCount().call() == 0
