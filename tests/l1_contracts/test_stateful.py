"""Hypothesis state machine: commits, fraud proofs, DA challenges, reveals, resolutions,
claims, exits, time travel and recovery driven against Rollup.vy on py-evm and
l1_contracts.model.RollupModel, comparing every checkpoint's status, the count,
latestFinalized, the bond, the credits and the freeze after every step (STYLE.md: the
contract's flow against a Python model), and holding the v2 invariants of issue 10:

* a final checkpoint never changes (status, size, root);
* ether is conserved: balance = bond + credits + open DA bonds + burned;
* finality is never delayed past its documented bound when every challenge is answered
  (challengeEnds + daResponseWindow + postRevealWindow);
* an honest sequencer that answers every challenge is never slashed;
* (issue 16) the inbox count and the forced events included match the model; a commit is
  refused exactly when an overdue forced event is left out (or proven out of order).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from l1_contracts.contract import (
    DEFAULT_FORCE_INCLUSION_WINDOW,
    NO_INDEX,
    calldata_gas_limit,
    commit_call,
    read_forced_entries,
)
from l1_contracts.model import (
    HOLD_SLOTS,
    MAX_FORCED_PER_COMMIT,
    ModelRevert,
    RollupModel,
    forced_fee,
)
from prover.checkpoint import CheckpointStatus, DAState
from prover.forced import ForcedEntry
from prover.hashing import leaf_hash
from prover.range_proof import prove_range
from prover.tree import MemoryTree
from tests.l1_contracts.helpers import (
    CHALLENGER_BOND,
    DA_WINDOW,
    MIN_BOND,
    POST_REVEAL,
    RECEIPT_HORIZON,
    WINDOW,
    Chain,
    make_record,
    new_chain,
)

pytestmark = pytest.mark.slow  # a Hypothesis state machine over the whole contract: minutes


_BASE: list[Chain] = []
MAX_DA_RANGE = 4  # small chunks, so checkpoints have several


def _base() -> Chain:
    if not _BASE:
        _BASE.append(new_chain(max_da_range=MAX_DA_RANGE))
    return _BASE[0]


class RollupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        base = _base()
        self.snapshot = base.tester.take_snapshot()
        self.c = Chain(
            base.tester, base.w3, base.rollup, base.owner, base.sequencer, base.challenger
        )
        # Run the chain a day ahead of the wall clock: eth-tester stamps a pending block no
        # earlier than the wall clock, so a chain that fell behind it would mine the next
        # transaction later than now + 1, where the model expects it.
        self.c.set_time(max(self.c.now(), int(time.time())) + 86_400)
        self.f = self.c.rollup.functions
        self.model = RollupModel(
            WINDOW,
            DA_WINDOW,
            POST_REVEAL,
            MIN_BOND,
            CHALLENGER_BOND,
            RECEIPT_HORIZON,
            self.c.sequencer,
            max_da_range=MAX_DA_RANGE,
            force_inclusion_window=DEFAULT_FORCE_INCLUSION_WINDOW,
        )
        self.entries: list[ForcedEntry] = []  # the inbox, as its events report it
        self.records: list[bytes] = []  # the live log: exactly model.last_size() records
        self.tree = MemoryTree()
        self.bad: set[int] = set()
        self.final_seen: dict[int, tuple[int, bytes]] = {}
        self.dishonest = False  # a bad record committed, or a challenge left unanswered
        self.accounts = [self.c.owner, self.c.sequencer, self.c.challenger]
        self._deposit()

    def teardown(self) -> None:
        self.c.tester.revert_to_snapshot(self.snapshot)

    # --- plumbing -------------------------------------------------------------------------

    def _send(self, fn: Any, sender: str, value: int = 0) -> str | None:
        """Send `fn`; return None on success or the revert reason (nothing mined then)."""
        params: dict[str, Any] = {"from": sender, "value": value}
        try:
            fn.call(params, block_identifier="pending")  # runs at the next block's time
        except Exception as e:
            return str(e)
        data_len = (len(fn._encode_transaction_data()) - 2) // 2
        tx = fn.transact({**params, "gas": calldata_gas_limit(data_len, 3_000_000)})
        receipt = self.c.w3.eth.get_transaction_receipt(tx)
        assert receipt["status"] == 1
        self.last_receipt = receipt
        return None

    def _expect(self, expected: str | None, got: str | None) -> None:
        if expected is None:
            assert got is None, f"contract reverted: {got}"
        else:
            assert got is not None and expected in got, f"expected {expected!r}, got {got!r}"

    def _next_time(self) -> int:
        return self.c.now() + 1

    def _next_basefee(self) -> int:
        return int(self.c.w3.eth.get_block("pending")["baseFeePerGas"])

    def _rewind(self) -> None:
        """After a revert, the live log is the last live checkpoint's prefix."""
        size = self.model.last_size()
        self.records = self.records[:size]
        self.tree = MemoryTree([leaf_hash(r) for r in self.records])
        self.bad = {s for s in self.bad if s < size}

    def _deposit(self) -> None:
        self.model.deposit(MIN_BOND)
        self._expect(None, self._send(self.f.deposit(), self.c.sequencer, MIN_BOND))

    # --- rules ----------------------------------------------------------------------------

    @rule(n=st.integers(1, 9), bad=st.booleans(), early=st.booleans(), data=st.data())
    def commit(self, n: int, bad: bool, early: bool, data: st.DataObject) -> None:
        base, t = len(self.records), self.c.now() * 1000
        # Forced records first, mostly the next pending entries in inbox order; sometimes one
        # skipped (a censor's trick: the commit must then be refused).
        first, pending = (
            self.model.forced_included(),
            len(self.entries) - self.model.forced_included(),
        )
        k = data.draw(st.integers(0, min(pending, MAX_FORCED_PER_COMMIT)))
        skip = k > 0 and k < pending and data.draw(st.integers(0, 4)) == 0
        picked = [first + i + (1 if skip and i == k - 1 else 0) for i in range(k)]
        forced_new = [self.entries[j].record(base + i, t) for i, j in enumerate(picked)]
        new = forced_new + [make_record(base + k + i, t) for i in range(n)]
        if bad:
            new[-1] = make_record(base + k + n + 100, t)
        records = self.records + new
        tree = MemoryTree([leaf_hash(r) for r in records])
        size, last = len(records), self.model.last_size()
        proof = tree.consistency_proof(last, size) if last else []
        # An honest bound is the latest stamp; `early` declares one the block cannot reach.
        bound = t if not early else (self._next_time() + 1) * 1000
        try:
            self.model.commit(
                size, self._next_time(), bound, [(j, base + i) for i, j in enumerate(picked)]
            )
            expected = None
        except ModelRevert as e:
            expected = str(e)
        forced = [(r, tree.inclusion_proof(base + i, size)) for i, r in enumerate(forced_new)]
        fn = commit_call(self.c.rollup, size, tree.root(), proof, bound, forced)
        self._expect(expected, self._send(fn, self.c.sequencer))
        if expected is None:
            self.records, self.tree = records, tree
            if bad:
                self.bad.add(size - 1)
                self.dishonest = True

    @rule(delta=st.sampled_from([0, 0, 1, -1]))
    def post_forced(self, delta: int) -> None:
        """A censored service posts to the inbox (sometimes a wei short of the fee)."""
        basefee = self._next_basefee()
        value = forced_fee(basefee) + delta
        try:
            self.model.post_forced(self._next_time(), value, basefee)
            expected = None
        except ModelRevert as e:
            expected = str(e)
        fn = self.f.postForced(b"forced" + bytes(26), b"\x01" * 32, b"\x02" * 32, bytes(32))
        self._expect(expected, self._send(fn, self.c.challenger, value))
        if expected is None:
            block = int(self.last_receipt["blockNumber"])
            self.entries.extend(read_forced_entries(self.c.rollup, block, block))
            assert [e.index for e in self.entries] == list(range(len(self.model.inbox)))

    @precondition(lambda self: self.bad and self.model.checkpoints)
    @rule(data=st.data())
    def prove_fraud(self, data: st.DataObject) -> None:
        seq = data.draw(st.sampled_from(sorted(self.bad)))
        # Mostly the first live checkpoint covering seq (the one a validator would pick).
        first = next(
            (
                i
                for i, c in enumerate(self.model.checkpoints)
                if not c.reverted and c.prev_size <= seq < c.size
            ),
            0,
        )
        index = (
            first
            if data.draw(st.integers(0, 2))
            else data.draw(st.integers(0, len(self.model.checkpoints)))
        )
        cp = self.model.checkpoints[index] if index < len(self.model.checkpoints) else None
        usable = cp is not None and not cp.reverted and seq < cp.size
        proof = self.tree.inclusion_proof(seq, cp.size) if usable and cp is not None else []
        try:
            self.model.prove_fraud(index, seq, self._next_time(), self.c.challenger)
            expected = None
        except ModelRevert as e:
            expected = str(e)
        fn = self.f.proveWrongSeq(index, seq, self.records[seq], proof)
        self._expect(expected, self._send(fn, self.c.challenger))
        if expected is None:
            self._rewind()

    @precondition(lambda self: len(self.model.holding(self.c.now() + 1)) < HOLD_SLOTS)
    @rule(data=st.data())
    def open_da(self, data: st.DataObject) -> None:
        n = len(self.model.checkpoints)
        # Mostly a whole chunk of the newest checkpoint, sometimes anything.
        if n and data.draw(st.integers(0, 3)):
            index = n - 1
            size = self.model.checkpoints[index].size
            start = data.draw(st.integers(0, (size - 1) // MAX_DA_RANGE)) * MAX_DA_RANGE
            end = min(start + MAX_DA_RANGE, size)
        else:
            index = data.draw(st.integers(0, n))
            size = self.model.checkpoints[index].size if index < n else 4
            start = data.draw(st.integers(0, size))
            end = data.draw(st.integers(start, size + 1))
        basefee = self._next_basefee()
        value = self.model.da_bond(max(end - start, 0), basefee) + data.draw(
            st.sampled_from([0, 0, 1, -1])
        )
        try:
            self.model.open_da(
                index, start, end, self.c.challenger, self._next_time(), value, basefee
            )
            expected = None
        except ModelRevert as e:
            expected = str(e)
        fn = self.f.openDAChallenge(index, start, end)
        self._expect(expected, self._send(fn, self.c.challenger, max(value, 0)))

    def _reveal(self, cid: int) -> None:
        ch = self.model.challenges[cid]
        cp = self.model.checkpoints[ch.checkpoint]
        if not cp.reverted and ch.end <= len(self.records):
            records = self.records[ch.start : ch.end]
            proof = prove_range(self.tree.nodes, ch.start, ch.end, cp.size)
        else:
            records = [make_record(i, 0) for i in range(ch.start, ch.end)]
            proof = []
        basefee = self._next_basefee()
        try:
            self.model.reveal(cid, self._next_time(), basefee)
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(
            expected, self._send(self.f.revealRecords(cid, records, proof), self.c.sequencer)
        )
        if expected is None:
            assert (
                int(self.c.w3.eth.get_block(self.last_receipt["blockNumber"])["baseFeePerGas"])
                == basefee
            )

    @precondition(lambda self: self.model.challenges)
    @rule(data=st.data())
    def reveal(self, data: st.DataObject) -> None:
        # Mostly the newest challenge (likely still open).
        last = len(self.model.challenges) - 1
        self._reveal(last if data.draw(st.booleans()) else data.draw(st.integers(0, last)))

    @precondition(lambda self: any(ch.state == DAState.OPEN for ch in self.model.challenges))
    @rule()
    def answer_every_open_challenge(self) -> None:
        """What an honest sequencer does each round."""
        for cid, ch in enumerate(self.model.challenges):
            if ch.state == DAState.OPEN:
                self._reveal(cid)

    @precondition(lambda self: self.model.challenges)
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        cid = data.draw(st.integers(0, len(self.model.challenges) - 1))
        ch = self.model.challenges[cid]
        if ch.state == DAState.OPEN:
            # An open challenge holds its checkpoint from before its window ended until it is
            # settled: resolving it never meets a final checkpoint (docs/contract.md).
            assert self.f.checkpoints(ch.checkpoint).call()[4] != CheckpointStatus.FINAL
        try:
            self.model.resolve(cid, self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(expected, self._send(self.f.resolveDAChallenge(cid), self.c.owner))
        if expected is None:
            self._rewind()

    @rule(
        seconds=st.sampled_from(
            [1, 10, DA_WINDOW - 1, DA_WINDOW + 1, POST_REVEAL, WINDOW - 2, WINDOW + 1]
        )
    )
    def advance(self, seconds: int) -> None:
        later = self.c.now() + seconds
        if any(ch.state == DAState.OPEN and ch.deadline < later for ch in self.model.challenges):
            self.dishonest = True  # the sequencer let a challenge's deadline pass
        self.c.advance(seconds)

    @precondition(lambda self: self.model.frozen)
    @rule(wait=st.booleans())
    def rebond_and_recover(self, wait: bool) -> None:
        if self.model.bond < MIN_BOND:
            self._deposit()
        if wait:
            self.c.advance(RECEIPT_HORIZON)
        try:
            self.model.recover(self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(expected, self._send(self.f.recover(), self.c.owner))

    @precondition(lambda self: not self.model.exit_requested_at)
    @rule(data=st.data())
    def request_exit(self, data: st.DataObject) -> None:
        if data.draw(st.integers(0, 3)):
            return  # rarely: an exit stops commits until the bond is withdrawn
        try:
            self.model.request_exit(self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(expected, self._send(self.f.requestExit(), self.c.sequencer))

    @precondition(lambda self: self.model.exit_requested_at)
    @rule(wait=st.booleans())
    def withdraw(self, wait: bool) -> None:
        if wait:
            self.c.advance(self.model.exit_delay())
        try:
            self.model.withdraw(self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(expected, self._send(self.f.withdraw(), self.c.sequencer))

    @precondition(lambda self: self.model.bond < MIN_BOND and not self.model.exit_requested_at)
    @rule()
    def rebond(self) -> None:
        self._deposit()

    @rule(who=st.integers(0, 2))
    def claim(self, who: int) -> None:
        account = self.accounts[who]
        try:
            self.model.claim(account)
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(expected, self._send(self.f.claim(), account))

    # --- the comparison and the invariants ------------------------------------------------

    @invariant()
    def same_state(self) -> None:
        now = self.c.now()
        m, f = self.model, self.f
        assert f.checkpointCount().call() == len(m.checkpoints)
        statuses = [f.checkpoints(i).call()[4] for i in range(len(m.checkpoints))]
        assert statuses == [m.status(i, now) for i in range(len(m.checkpoints))]
        lf = m.latest_finalized(now)
        assert f.latestFinalized().call() == (NO_INDEX if lf is None else lf)
        assert f.frozen().call() == m.frozen
        assert f.bond().call() == m.bond
        assert f.burned().call() == m.burned
        assert f.epoch().call() == m.epoch
        assert f.exitRequestedAt().call() == m.exit_requested_at
        assert f.lastSize().call() == m.last_size() == len(self.records)
        assert f.daOpenCount().call() == m.open_count()
        assert f.inboxCount().call() == len(m.inbox)
        assert f.forcedIncluded().call() == m.forced_included()
        for a in self.accounts:
            assert f.credits(a).call() == m.credits.get(a, 0)

    @invariant()
    def final_never_changes(self) -> None:
        for i in range(self.f.checkpointCount().call()):
            size, root, _, _, status = self.f.checkpoints(i).call()
            if i in self.final_seen:
                assert status == CheckpointStatus.FINAL, f"final checkpoint {i} became {status}"
                assert (size, bytes(root)) == self.final_seen[i]
            elif status == CheckpointStatus.FINAL:
                self.final_seen[i] = (size, bytes(root))

    @invariant()
    def ether_is_conserved(self) -> None:
        f = self.f
        open_bonds = sum(
            ch[6]
            for ch in (f.daChallenges(i).call() for i in range(f.daChallengeCount().call()))
            if ch[4] == DAState.OPEN
        )
        credits = sum(f.credits(a).call() for a in self.accounts)
        balance = self.c.w3.eth.get_balance(self.c.rollup.address)
        assert balance == f.bond().call() + credits + open_bonds + f.burned().call()

    @invariant()
    def finality_within_its_bound(self) -> None:
        now, m = self.c.now(), self.model
        for i, cp in enumerate(m.checkpoints):
            if cp.reverted or now < m.finality_bound(i):
                continue
            if any(ch.state == DAState.OPEN and ch.checkpoint <= i for ch in m.challenges):
                continue  # an unanswered challenge: the sequencer did not answer in time
            assert self.f.checkpoints(i).call()[4] == CheckpointStatus.FINAL

    @invariant()
    def honest_sequencer_never_slashed(self) -> None:
        if not self.dishonest:
            assert not self.f.frozen().call()
            assert self.f.burned().call() == 0


RollupMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRollupAgainstModel = RollupMachine.TestCase
