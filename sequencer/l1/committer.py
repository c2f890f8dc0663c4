"""The L1 committer: anchors the durable tree head on the rollup contract (docs/spec.md §7).

Every `interval` seconds, when the log grew past the latest non-reverted checkpoint on L1, it
sends `commit(size, root, consistencyProof)` for the *durable* head (the store's head only ever
moves after a synced write batch), waits for the receipt and records the checkpoint; it also
follows pending checkpoints to finality or reversion.

L1 is the source of truth: the commit decision is taken from what L1 says now (its last size and
root, and whether a transaction from the sequencer account is still pending), never from the
local cache, so a restart cannot double-commit, and a commit whose answer was lost is simply
found on L1 the next round. When L1 is down, slow or reverting, ingest goes on untouched; the
committer retries with exponential backoff and `/health` and `/metrics` say so.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Final, TypeVar

import orjson
import trio

from prover.checkpoint import Checkpoint, DAState, checkpoint_json
from prover.errors import NotFoundError
from prover.range_proof import prove_range
from prover.receipt import decode_receipt
from prover.record import record_timestamp
from prover.wire import hex0x
from sequencer.l1.account import L1Client
from sequencer.l1.deadlines import DeadlineView, judge
from sequencer.l1.rounds import L1Rounds
from sequencer.l1.watch import L1Watch
from sequencer.node.faults import FaultInjector
from sequencer.node.metrics import Metrics
from state_db.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

DEADLINE_CHECK_S: Final = 1.0
"""How often the receipt deadlines are judged (and the writer's gate refreshed)."""


def _covered_by(store: Store, low: int, high: int, bound_ms: int) -> int:
    """Largest size in [low, high] whose last record is stamped at or before `bound_ms`.

    Timestamps never decrease along the log (rule 4), so this is a binary search.
    """
    while low < high:
        mid = (low + high + 1) // 2
        if record_timestamp(store.get_record(mid - 1)) <= bound_ms:
            low = mid
        else:
            high = mid - 1
    return low


class Committer:
    """Commits checkpoints and answers `attest_getCheckpoint` from what it read on L1."""

    def __init__(
        self,
        store: Store,
        l1: L1Client,
        metrics: Metrics,
        *,
        interval_s: float,
        clock_lag_s: float = 2.0,
        faults: FaultInjector | None = None,
        l1_timeout_s: float = 10.0,
        forced_plan: Callable[[int, int], tuple[int, list[int]]] | None = None,
        receipt_deadline_s: float = 600.0,
        deadline_margin_s: float = 60.0,
    ) -> None:
        self.store = store
        # docs/spec.md §7.3: (low, high) -> (size to commit, seqs of the forced records it must
        # prove); `sequencer.node.forced.ForcedInbox.commit_plan`. None: no inbox followed.
        self.forced_plan = forced_plan
        self.clock_lag_s = clock_lag_s
        self.faults = faults
        self._answered: set[int] = set()  # DA challenges this sequencer has answered or given up
        self.l1 = l1
        self.metrics = metrics
        self.interval_s = interval_s
        self._records: dict[int, dict[str, Any]] = {}
        for index in range(store.checkpoint_count()):
            raw = store.get_checkpoint(index)
            if raw is not None:
                self._records[index] = orjson.loads(raw)
        self.rounds = L1Rounds(
            interval_s, metrics.l1_up, metrics.commit_failures, completed_counter=metrics.l1_rounds
        )
        self._frozen = False
        self._diverged: str | None = None
        self.watch = L1Watch(l1, l1.account.address, timeout_s=l1_timeout_s)
        self.last_commit_latency_s: float | None = None
        self._commit_sent_at: float | None = None  # wall time the commit in flight was sent
        self.receipt_deadline_s = receipt_deadline_s
        self.deadline_margin_s = deadline_margin_s
        self.deadlines: DeadlineView | None = None
        """The last judgement of the receipt deadlines (`judge_deadlines`, every second)."""
        # Within this long of a receipt deadline the commit in flight is replaced every block
        # with fees climbing to the ceiling (sequencer/l1/deadlines.py).
        l1.sender.urgent_window_s = 2 * deadline_margin_s
        self._reorgs_handled = 0

    # --- CheckpointView ----------------------------------------------------------------------

    def checkpoint(self, which: str | int) -> dict[str, Any] | None:
        """The recorded checkpoint: "latest" (non-reverted), "finalized", or an index."""
        if isinstance(which, int):
            return self._records.get(which)
        wanted = {"latest": ("pending", "final"), "finalized": ("final",)}[which]
        for index in sorted(self._records, reverse=True):
            if self._records[index]["status"] in wanted:
                return self._records[index]
        return None

    def l1_status(self) -> dict[str, Any]:
        return {
            "rpc": self.l1.rpc_url,
            "chainId": self.l1._chain_id,
            "contract": self.l1.address,
            "sequencer": self.l1.account.address,
            "up": self.rounds.up,
            "frozen": self._frozen,
            "diverged": self._diverged,
            "lastError": self.rounds.last_error,
            "lastSuccess": self.rounds.last_success,
            "rounds": self.rounds.completed,
            "checkpointIntervalS": self.interval_s,
            **self.l1_trouble(),
        }

    def l1_trouble(self, now: float | None = None) -> dict[str, Any]:
        """What an operator watches on a real chain, as of `now`, and the gauges to match:
        L1's head and its age, the sequencer's unmined transactions, how long commits take,
        and the time left on the nearest receipt deadline no checkpoint covers yet."""
        now = time.time() if now is None else now
        head = self.watch.head
        head_age = self.watch.head_age_s(now)
        in_flight = None if self._commit_sent_at is None else now - self._commit_sent_at
        deadline = self.nearest_receipt_deadline()
        left = None if deadline is None else deadline - now
        m = self.metrics
        if head is not None and head_age is not None:
            m.l1_head_block.set(head.number)
            m.l1_head_age.set(head_age)
        if self.watch.pending_transactions is not None:
            m.l1_pending_transactions.set(self.watch.pending_transactions)
        m.commit_in_flight.set(in_flight or 0)
        m.receipt_deadline_left.set(math.nan if left is None else left)
        m.l1_replacements.set(self.l1.sender.replacements)
        m.l1_urgent_replacements.set(self.l1.sender.urgent_replacements)
        m.l1_fees_paid.set(self.l1.sender.fees_paid_wei)
        m.l1_reorgs.set(self.watch.reorgs.reorgs)
        m.l1_reorg_depth.set(self.watch.reorgs.deepest)
        return {
            "headBlock": None if head is None else head.number,
            "headTime": None if head is None else head.timestamp,
            "headAgeS": None if head_age is None else round(head_age, 3),
            "headError": self.watch.last_error,
            "pendingTransactions": self.watch.pending_transactions,
            "replacements": self.l1.sender.replacements,
            "commitLatencyS": self.last_commit_latency_s,
            "commitInFlightS": None if in_flight is None else round(in_flight, 3),
            "nearestReceiptDeadline": deadline,
            "nearestReceiptDeadlineLeftS": None if left is None else round(left, 3),
            "commitEstimateS": None if self.deadlines is None else self.deadlines.estimate_s,
            "deadlineAtRisk": bool(self.deadlines and self.deadlines.at_risk),
            "refusingReceipts": None if self.deadlines is None else self.deadlines.refuse,
            "urgentReplacements": self.l1.sender.urgent_replacements,
            "feesPaidWei": self.l1.sender.fees_paid_wei,
            "reorgs": self.watch.reorgs.reorgs,
            "deepestReorg": self.watch.reorgs.deepest,
        }

    def nearest_receipt_deadline(self) -> int | None:
        """The deadline (Unix s) of the oldest receipt whose records no live checkpoint covers
        yet; None when every receipt is covered.

        Receipts promise a covering checkpoint by their deadline (docs/spec.md §6); deadlines
        grow along the log, so the receipt of the first uncovered record is the nearest.
        """
        latest = self.checkpoint("latest")
        covered = int(latest["treeSize"]) if latest else 0
        if covered >= self.store.head.tree_size:
            return None
        try:
            return decode_receipt(self.store.receipt_of_seq(covered)).deadline
        except NotFoundError:
            return None  # committed without a receipt: nothing was promised

    def judge_deadlines(self, now: float | None = None) -> DeadlineView:
        """Weigh the nearest open receipt deadline against how long a commit takes now
        (sequencer/l1/deadlines.py); alert on a change, keep the view for the writer's gate."""
        now = time.time() if now is None else now
        view = judge(
            now=now,
            nearest_deadline=self.nearest_receipt_deadline(),
            receipt_deadline_s=self.receipt_deadline_s,
            margin_s=self.deadline_margin_s,
            interval_s=self.interval_s,
            last_latency_s=self.last_commit_latency_s,
            in_flight_s=None if self._commit_sent_at is None else now - self._commit_sent_at,
            head_age_s=self.watch.head_age_s(now),
        )
        before = self.deadlines
        if view.refuse is not None and (before is None or before.refuse is None):
            log.warning(
                "receipt deadline at risk: refusing new receipts",
                extra={
                    "reason": view.refuse,
                    "nearest_left_s": view.nearest_left_s,
                    "commit_estimate_s": view.estimate_s,
                    "at_risk": view.at_risk,
                },
            )
        elif view.refuse is None and before is not None and before.refuse is not None:
            log.info(
                "receipt deadlines safe again: promising receipts",
                extra={"nearest_left_s": view.nearest_left_s, "commit_estimate_s": view.estimate_s},
            )
        self.deadlines = view
        self.metrics.deadline_at_risk.set(int(view.at_risk))
        self.metrics.refusing_receipts.set(int(view.refuse is not None))
        self.metrics.commit_estimate.set(view.estimate_s)
        return view

    def refusal(self) -> str | None:
        """Why no new receipt may be promised now (the writer's `promise_gate`)."""
        return None if self.deadlines is None else self.deadlines.refuse

    # --- the service ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Commit and follow checkpoints until cancelled, and watch L1 beside it (a stuck
        commit must not hide a stalled L1), and the receipt deadlines every second. Ready at
        once: L1 may well be down."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.watch.run)
            nursery.start_soon(self._judge_loop)
            await self.rounds.run(self.step, task_status=task_status)

    async def _judge_loop(self) -> None:
        while True:
            self.judge_deadlines()
            await trio.sleep(DEADLINE_CHECK_S)

    async def _follow_reorgs(self) -> None:
        """After L1 reorganised: forget the checkpoints L1 no longer holds (a commit whose
        block is gone is then re-sent by this round, unless it is back in the pool), re-read
        the pending ones, and look at every DA challenge again (an answer may be gone)."""
        seen = self.watch.reorgs.reorgs
        if seen == self._reorgs_handled:
            return
        count = await self._l1(self.l1.checkpoint_count)
        gone = [index for index in self._records if index >= count]
        for index in gone:
            del self._records[index]
        await trio.to_thread.run_sync(self.store.truncate_checkpoints, count)
        for index, known in list(self._records.items()):
            if known["status"] != "final":
                cp = await self._l1(partial(self.l1.checkpoint, index))
                await self._record(cp, known["l1Tx"])
        self._answered.clear()
        self._diverged = None  # judged again from L1's canonical state below
        self._reorgs_handled = seen
        log.warning(
            "following an L1 reorganisation",
            extra={"checkpoints_dropped": gone, "checkpoint_count": count},
        )

    async def step(self) -> None:
        """One round: refresh what L1 says, then commit the durable head if it grew."""
        if self.l1.sender.in_flight is not None:
            # A transaction an earlier run (or round) left in flight, journaled with its nonce:
            # finish it — replacing it if its fees fell behind — before deciding anything from
            # L1's state, so a restart mid-replacement never commits the same size twice.
            self.l1.sender.deadline_at = self.nearest_receipt_deadline()
            receipt = await self._l1(self.l1.sender.resume)
            if receipt is not None:
                l1_tx = "0x" + bytes(receipt["transactionHash"]).hex()
                for event in self.l1.contract.events.CheckpointCommitted().process_receipt(receipt):
                    cp = await self._l1(partial(self.l1.checkpoint, int(event["args"]["index"])))
                    await self._record(cp, l1_tx)
        await self._follow_reorgs()
        count = await self._l1(self.l1.checkpoint_count)
        # Pending checkpoints may have turned final or been reverted; new ones may exist (a
        # commit whose receipt we never saw, e.g. across a crash).
        for index in range(count):
            known = self._records.get(index)
            if known is None or known["status"] == "pending":
                cp = await self._l1(partial(self.l1.checkpoint, index))
                await self._record(cp, known["l1Tx"] if known else None)
        self._frozen = await self._l1(self.l1.frozen)
        await self._answer_da_challenges()
        latest = self.checkpoint("latest")
        size = self.store.head.tree_size
        self.metrics.checkpoint_size.set(latest["treeSize"] if latest else 0)
        self.metrics.checkpoint_lag.set(size - (latest["treeSize"] if latest else 0))
        if self._frozen or self._diverged:
            return  # commits are frozen on L1, or our log no longer extends L1's: an operator's call
        if await self._l1(self.l1.has_pending_transactions):
            return  # a commit is in flight; sending another would race it
        last_size, last_root = await self._l1(self.l1.last)
        head = self.store.head  # durable: moved only after a synced write batch
        if head.tree_size <= last_size:
            return
        # Verify our log extends L1's latest checkpoint before building on it.
        if last_size and self.store.root_at(last_size) != last_root:
            self._diverged = f"local root at size {last_size} differs from L1's checkpoint root 0x{last_root.hex()}"
            log.error("not committing: %s", self._diverged)
            return
        # docs/spec.md §8 rule 4: no record may be timestamped after the commit time of the first
        # checkpoint covering it. The commit lands in a block no earlier than L1's latest, whose
        # time is in whole seconds and may lag our clock: commit only the records stamped at or
        # before it, and the rest next round (never a slashable checkpoint from an honest node).
        # The commit mines no earlier than L1's latest block (anvil may give it the same
        # second); and, as long as L1's clock lags ours by at most `clock_lag_s`, no earlier
        # than our clock minus that lag. The latter keeps an idle devnet (blocks only on
        # transactions) committing; a chain whose block times lag more needs a larger
        # --l1-clock-lag.
        latest_block = await self._l1(self.l1.latest_block_time)
        bound_s = max(latest_block, int(time.time() - self.clock_lag_s))
        size = _covered_by(self.store, last_size, head.tree_size, bound_s * 1000)
        if size <= last_size:
            return
        forced_seqs: list[int] = []
        if self.forced_plan is not None:
            size, forced_seqs = self.forced_plan(last_size, size)
        root = head.root if size == head.tree_size else self.store.root_at(size)
        proof = self.store.consistency_proof(last_size, size)
        # The commit declares the latest stamp it adds (timestamps never decrease: the last
        # record's), at most bound_s: L1 refuses it in an earlier block rather than let rule
        # 4b slash it (contract v2); the round then simply retries.
        bound_ms = int.from_bytes(self.store.get_record(size - 1)[32:64], "big")
        forced = [
            (self.store.get_record(s), self.store.inclusion_proof(s, size)) for s in forced_seqs
        ]
        self._commit_sent_at = time.time()
        started = time.monotonic()
        # The nearest deadline this commit keeps: near it, the sender bids towards the ceiling.
        self.l1.sender.deadline_at = self.nearest_receipt_deadline()
        try:
            sent = await self._l1(lambda: self.l1.commit(size, root, proof, bound_ms, forced))
        finally:
            self._commit_sent_at = None
            self.l1.sender.deadline_at = None
        self.last_commit_latency_s = round(time.monotonic() - started, 3)
        self.metrics.commit_latency.observe(self.last_commit_latency_s)
        cp = await self._l1(lambda: self.l1.checkpoint(sent.index))
        await self._record(cp, hex0x(sent.tx_hash))
        log.info(
            "checkpoint committed",
            extra={"index": sent.index, "tree_size": size, "l1_block": sent.block_number},
        )

    async def _answer_da_challenges(self) -> None:
        """Reveal the records of every open DA challenge on our checkpoints (docs/spec.md §9).

        An honest sequencer always can: the records are in its store. Unanswered, a challenge
        would revert the checkpoint and slash the bond, so this runs every round.
        """
        count = await self._l1(self.l1.da_challenge_count)
        for cid in range(count):
            if cid in self._answered:
                continue
            c = await self._l1(partial(self.l1.da_challenge, cid))
            if c.state != DAState.OPEN:
                self._answered.add(cid)
                continue
            if self.faults is not None and self.faults.is_withheld(c.start, c.end):
                log.warning("not answering DA challenge %d: fault injection withholds it", cid)
                self._answered.add(cid)
                continue
            cp = await self._l1(partial(self.l1.checkpoint, c.checkpoint_index))
            records = self.store.get_records(c.start, c.end)
            proof = prove_range(self.store, c.start, c.end, cp.size)
            tx = await self._l1(partial(self.l1.reveal, cid, records, proof))
            # Not marked answered here: the next round reads the challenge again and marks it
            # once L1 says so — a reorganisation that drops the answer leaves it open, and it
            # is answered again (even one no watch saw happen).
            log.info(
                "answered DA challenge",
                extra={"challenge": cid, "start": c.start, "end": c.end, "tx": hex0x(tx)},
            )

    async def _record(self, cp: Checkpoint, l1_tx: str | None) -> None:
        record = checkpoint_json(cp, l1_tx)
        if self._records.get(cp.index) == record:
            return
        # After this synced write, a restart answers attest_getCheckpoint from this record at
        # once; losing it would only cost a re-read from L1, the source of truth.
        await trio.to_thread.run_sync(self.store.put_checkpoint, cp.index, orjson.dumps(record))
        self._records[cp.index] = record

    async def _l1(self, fn: Callable[[], T]) -> T:
        # web3 blocks on the socket; abandoned on cancel so a hung node cannot hold shutdown.
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)
