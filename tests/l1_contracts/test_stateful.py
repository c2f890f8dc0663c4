"""Hypothesis state machine: commits, fraud proofs, DA challenges, reveals, resolutions, time
travel and recovery driven against Rollup.vy on py-evm and l1_contracts.model.RollupModel,
comparing every checkpoint's status, the count, latestFinalized, the bond and the freeze
after every step (STYLE.md: the contract's flow against a Python model)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from l1_contracts.contract import NO_INDEX, calldata_gas_limit
from l1_contracts.model import ModelRevert, RollupModel
from prover.hashing import leaf_hash
from prover.range_proof import prove_range
from prover.tree import MemoryTree
from tests.l1_contracts.helpers import (
    CHALLENGER_BOND,
    DA_WINDOW,
    MIN_BOND,
    WINDOW,
    Chain,
    make_record,
    new_chain,
)

pytestmark = pytest.mark.slow  # a Hypothesis state machine over the whole contract: minutes


_BASE: list[Chain] = []


def _base() -> Chain:
    if not _BASE:
        _BASE.append(new_chain())
    return _BASE[0]


class RollupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        base = _base()
        self.snapshot = base.tester.take_snapshot()
        self.c = Chain(
            base.tester, base.w3, base.rollup, base.owner, base.sequencer, base.challenger
        )
        self.f = self.c.rollup.functions
        self.model = RollupModel(WINDOW, DA_WINDOW, MIN_BOND, CHALLENGER_BOND)
        self.records: list[bytes] = []  # the live log: exactly model.last_size() records
        self.tree = MemoryTree()
        self.bad: set[int] = set()
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
        assert self.c.w3.eth.get_transaction_receipt(tx)["status"] == 1
        return None

    def _expect(self, expected: str | None, got: str | None) -> None:
        if expected is None:
            assert got is None, f"contract reverted: {got}"
        else:
            assert got is not None and expected in got, f"expected {expected!r}, got {got!r}"

    def _next_time(self) -> int:
        return self.c.now() + 1

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

    @rule(n=st.integers(1, 4), bad=st.booleans())
    def commit(self, n: int, bad: bool) -> None:
        base, t = len(self.records), self.c.now() * 1000
        new = [make_record(base + i, t) for i in range(n)]
        if bad:
            new[-1] = make_record(base + n + 100, t)
        records = self.records + new
        tree = MemoryTree([leaf_hash(r) for r in records])
        size, last = len(records), self.model.last_size()
        proof = tree.consistency_proof(last, size) if last else []
        try:
            self.model.commit(size, self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(
            expected, self._send(self.f.commit(size, tree.root(), proof), self.c.sequencer)
        )
        if expected is None:
            self.records, self.tree = records, tree
            if bad:
                self.bad.add(size - 1)

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
            self.model.prove_fraud(index, seq, self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        fn = self.f.proveWrongSeq(index, seq, self.records[seq], proof)
        self._expect(expected, self._send(fn, self.c.challenger))
        if expected is None:
            self._rewind()

    @rule(data=st.data())
    def open_da(self, data: st.DataObject) -> None:
        n = len(self.model.checkpoints)
        # Mostly the newest checkpoint and a small valid range, sometimes anything.
        if n and data.draw(st.integers(0, 3)):
            index = n - 1
            size = self.model.checkpoints[index].size
            start = data.draw(st.integers(0, size - 1))
            end = data.draw(st.integers(start + 1, min(size, start + 4)))
        else:
            index = data.draw(st.integers(0, n))
            size = self.model.checkpoints[index].size if index < n else 4
            start = data.draw(st.integers(0, size))
            end = data.draw(st.integers(start, size + 1))
        try:
            self.model.open_da(index, start, end, self.c.challenger, self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        fn = self.f.openDAChallenge(index, start, end)
        self._expect(expected, self._send(fn, self.c.challenger, CHALLENGER_BOND))

    @precondition(lambda self: self.model.challenges)
    @rule(data=st.data())
    def reveal(self, data: st.DataObject) -> None:
        # Mostly the newest challenge (likely still open).
        last = len(self.model.challenges) - 1
        cid = last if data.draw(st.booleans()) else data.draw(st.integers(0, last))
        ch = self.model.challenges[cid]
        cp = self.model.checkpoints[ch.checkpoint]
        if not cp.reverted:
            records = self.records[ch.start : ch.end]
            proof = prove_range(self.tree.nodes, ch.start, ch.end, cp.size)
        else:
            records = [make_record(i, 0) for i in range(ch.start, ch.end)]
            proof = []
        try:
            self.model.reveal(cid, self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(
            expected, self._send(self.f.revealRecords(cid, records, proof), self.c.sequencer)
        )

    @precondition(lambda self: self.model.challenges)
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        cid = data.draw(st.integers(0, len(self.model.challenges) - 1))
        try:
            self.model.resolve(cid, self._next_time())
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(expected, self._send(self.f.resolveDAChallenge(cid), self.c.owner))
        if expected is None:
            self._rewind()

    @rule(seconds=st.sampled_from([1, 10, DA_WINDOW - 1, DA_WINDOW + 1, WINDOW - 2, WINDOW + 1]))
    def advance(self, seconds: int) -> None:
        self.c.advance(seconds)

    @precondition(lambda self: self.model.frozen)
    @rule()
    def rebond_and_recover(self) -> None:
        if self.model.frozen and self.model.bond < MIN_BOND:
            self._deposit()
        try:
            self.model.recover()
            expected = None
        except ModelRevert as e:
            expected = str(e)
        self._expect(expected, self._send(self.f.recover(), self.c.owner))

    # --- the comparison ---------------------------------------------------------------------

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
        assert f.lastSize().call() == m.last_size() == len(self.records)
        assert f.daOpenCount().call() == m.open_count()


RollupMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRollupAgainstModel = RollupMachine.TestCase
