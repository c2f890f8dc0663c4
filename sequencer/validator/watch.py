"""The L1 watcher: compare every pending checkpoint with the replica and act on what differs.

Each round (every `poll_s`, default 1 s):

1. follow L1 by its logs since the last block read (commits, revert cascades, DA challenges
   opened by anyone), re-reading a pending checkpoint's row only once its window may be over;
   roll back what the latest live checkpoint contradicts, then hand it to the replica as its
   anchor (the pull starts only after the first round did that, `anchor_read`);
2. resolve our own DA challenges whose response window passed unanswered, and take the records
   revealed by answered ones (ours or anyone's) into the replica, rolling back held records
   they contradict;
3. turn each rollback's evidence into a watched receipt once the replica holds another record
   where the sequencer's block receipt promised one (`_watch_evidence`), and check the receipts
   (see `receipts`): a broken one is proven on L1;
4. for the pending checkpoints, oldest first, once the replica holds ``size`` records:
   * root differs from the replica's root at that size → the sequencer committed other records
     than it served or vouched for: DA challenges on every chunk new in it;
   * a stored violation (or a rule 4b timestamp) among the records new in it → send the
     matching one-step fraud proof against it (it newly covers the offending record, which is
     what the contract requires);
   * while the replica cannot back ``size``, whatever the upstreams do: once it has not grown
     for `da_grace_s` since the checkpoint was seen, or the window is about to close, a DA
     challenge on the chunk holding the first missing record (docs/validator.md, "Timing").

A successful proof reverts the checkpoint and every later one, so a round acts on at most one
checkpoint. L1 trouble never stops replication: the round fails, is retried with backoff, and
`/health` says so. Reverted checkpoints roll the validator's *view* back: its answers about
checkpoints come from L1 only, and ``anchoredSize`` in `attest_status` is the size of the
latest live one. Provisional records a live checkpoint (or a DA reveal) contradicts are cut
from the replica, their receipts kept as evidence (`Replica.roll_back`); a final checkpoint is
checked for that once too (`_roll_back_contradicted`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final, TypeVar

import orjson
import trio

from l1_contracts.contract import da_chunk
from prover.checkpoint import Checkpoint, CheckpointStatus, DAState, checkpoint_json
from prover.errors import L1Error
from prover.validity import FraudRule, Violation, check_timestamp_bound
from prover.wire import hex0x
from sequencer.l1.account import DAChallenge, Sent, TransactionRefusedError
from sequencer.l1.rounds import L1Rounds
from sequencer.validator.forced import forced_violation
from sequencer.validator.metrics import ValidatorMetrics
from sequencer.validator.prove import ValidatorL1
from sequencer.validator.receipts import (
    KEPT,
    MOOT,
    PROVEN_DEADLINE,
    PROVEN_MISMATCH,
    RECEIPTS_KEY,
    WATCHING,
    WatchedReceipt,
    decode_watched,
    encode_watched,
    is_moot,
    watched_from_evidence,
)
from sequencer.validator.replicate import Replica, RevealedContradictionError

log = logging.getLogger(__name__)

T = TypeVar("T")

CHALLENGES_KEY: Final[str] = "validator.challenges"
"""State key: JSON object of the DA challenges this validator opened, by id."""
_MAX_BACKOFF_S: Final[float] = 30.0
"""Shorter than the committer's: a validator has a challenge window to act within."""
_SCAN_CHUNK: Final[int] = 4096
_OPEN_MARGIN_S: Final[float] = 6.0
"""Seconds an open transaction gets to be mined, beyond four watcher rounds."""
_LOG_RANGE: Final[int] = 2000
"""L1 blocks per `eth_getLogs` call (public nodes refuse ranges much wider than this)."""
_MISMATCH_CHUNKS: Final[int] = 8
"""DA challenges opened in one round on a checkpoint whose root differs from the replica's."""


@dataclass(slots=True)
class Tracked:
    """What the validator knows of one checkpoint."""

    cp: Checkpoint
    prev_size: int
    timestamp_bound: int
    """The bound (ms) its commit declared: rule 4b's limit (contract v2)."""
    verdict: str = "unchecked"
    """"unchecked", "agrees", "violation", "root-mismatch"."""
    violation: Violation | None = None
    acted: bool = False
    """A proof or a DA challenge was sent for it."""
    seen_at: float = field(default_factory=time.monotonic)
    """Monotonic time the validator first saw it (the DA grace period runs from here)."""
    proved: bool = False
    """A fraud proof against it was mined: L1 must read it reverted from then on."""
    rolled_back: bool = False
    """Its root contradicted the replica's provisional records, which were rolled back."""
    root_checked: bool = False
    """Its root was compared with the replica's (`Watcher._roll_back_contradicted`)."""
    root_agrees: bool = False
    """The replica's root at its size was found to be its root (and not rolled back since):
    what it covers is served as anchored (`Replica.verified_size`)."""


def _needs_verdict(t: Tracked) -> bool:
    """Whether `t` must be judged (again) once the replica holds its size: never judged, or
    rolled back since (the range was fetched again; while the replica could not back it, it
    was labelled root-mismatch by `Watcher._judge`, and only its root at its size says whether
    it still differs — the records fetched again may hold a violation to prove instead)."""
    return t.verdict in ("unchecked", "rolled-back") or (
        t.rolled_back and t.verdict == "root-mismatch"
    )


class Watcher:
    """The L1 side of the validator; also its `CheckpointView` for the read API."""

    def __init__(
        self,
        replica: Replica,
        l1: ValidatorL1,
        metrics: ValidatorMetrics,
        *,
        params: dict[str, int],
        domain_separator: bytes,
        sequencer: bytes,
        poll_s: float = 1.0,
        da_grace_s: float = 15.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.replica = replica
        self.store = replica.store
        self.l1 = l1
        self.metrics = metrics
        self.params = params
        self.domain_separator = domain_separator
        self.sequencer = sequencer
        self.poll_s = poll_s
        self.da_grace_s = da_grace_s
        self.wall_clock = wall_clock
        self.tracked: dict[int, Tracked] = {}
        self.receipts: list[WatchedReceipt] = decode_watched(self.store.get_state(RECEIPTS_KEY))
        raw = self.store.get_state(CHALLENGES_KEY)
        self.challenges: dict[int, dict[str, Any]] = (
            {int(k): v for k, v in orjson.loads(raw).items()} if raw else {}
        )
        self.proofs: list[dict[str, Any]] = []
        self.metrics.receipts_watched.set(len(self.receipts))  # those kept across a restart
        self.claims: list[dict[str, Any]] = []
        self.rounds = L1Rounds(
            poll_s,
            self.metrics.l1_up,
            max_backoff_s=_MAX_BACKOFF_S,
            completed_counter=self.metrics.l1_rounds,
        )
        self._now = 0
        self._now_seen_at = 0.0  # wall time when L1's latest block time was first seen
        self.foreign: dict[int, dict[str, Any]] = {}
        """DA challenges other validators opened, by id: their answers feed the replica too."""
        self._next_log_block = 0
        self.upstream_status: Callable[[], list[dict[str, Any]]] = list
        """The upstream pool's view, for `validator_status` (set by the service)."""
        self.anchor_read = trio.Event()
        """Set once a round has read L1 up to its head and handed the latest live checkpoint
        to the replica: the pull takes nothing before (a restarted validator does not know
        which records L1 anchors, or contradicts, until then)."""
        self._evidence: dict[str, list[dict[str, Any]]] = {}
        """Rollback evidence not yet turned into a watched receipt: its blocks with a receipt."""
        self._evidence_scanned: dict[str, int] = {}
        """Seq up to which each evidence was compared with the replica without a difference."""

    # --- CheckpointView ------------------------------------------------------------------------

    def checkpoint(self, which: str | int) -> dict[str, Any] | None:
        """A checkpoint as L1 said it last: "latest" (live), "finalized", or an index."""
        if isinstance(which, int):
            t = self.tracked.get(which)
            return checkpoint_json(t.cp) if t is not None else None
        wanted = {
            "latest": (CheckpointStatus.PENDING, CheckpointStatus.FINAL),
            "finalized": (CheckpointStatus.FINAL,),
        }[which]
        for index in sorted(self.tracked, reverse=True):
            if self.tracked[index].cp.status in wanted:
                return checkpoint_json(self.tracked[index].cp)
        return None

    def l1_status(self) -> dict[str, Any]:
        latest = self.checkpoint("latest")
        agreed = [
            t.cp.size
            for t in self.tracked.values()
            if t.verdict == "agrees" and t.cp.status != CheckpointStatus.REVERTED
        ]
        return {
            "rpc": self.l1.rpc_url,
            "chainId": self.l1._chain_id,
            "contract": self.l1.address,
            "sequencer": hex0x(self.sequencer),
            "validator": self.l1.account.address,
            "up": self.rounds.up,
            "lastError": self.rounds.last_error,
            "lastSuccess": self.rounds.last_success,
            "rounds": self.rounds.completed,
            "anchoredSize": latest["treeSize"] if latest is not None else 0,
            "verifiedSize": max(agreed, default=0),
            "reorgs": 0 if self.l1.reorgs is None else self.l1.reorgs.reorgs,
            "replacements": self.l1.sender.replacements,
            "feesPaidWei": self.l1.sender.fees_paid_wei,
        }

    def status(self) -> dict[str, Any]:
        """`validator_status`: what the validator found and did."""
        return {
            "replicaSize": self.replica.size,
            "blocks": self.store.head.block_count,
            "unavailableFor": (time.monotonic() - self.replica.unavailable_since)
            if self.replica.unavailable_since is not None
            else None,
            "upstreamError": self.replica.last_error,
            "anchoredSize": self.replica.anchored_size,
            "upstreams": self.upstream_status(),
            "violations": [v.to_json() for v in self.replica.violations],
            "contradictions": self.replica.contradictions,
            "rollbacks": self.replica.rollbacks,
            "checkpoints": [
                {**checkpoint_json(t.cp), "prevSize": t.prev_size, "verdict": t.verdict}
                for _, t in sorted(self.tracked.items())
            ],
            "proofs": self.proofs,
            "claims": self.claims,
            "daChallenges": [{"id": k, **v} for k, v in sorted(self.challenges.items())],
            "receipts": [w.to_json() for w in self.receipts],
            "l1": self.l1_status(),
        }

    # --- the service -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch L1 until cancelled. Ready at once: L1 may well be down."""
        await self.rounds.run(self.step, task_status=task_status)

    async def step(self) -> None:
        """One round (see the module docstring)."""
        head, reorg = await self._l1(self.l1.follow_head)
        if reorg is not None:
            await self._follow_reorg(reorg.fork_block)
        await self._refresh(head.number)
        live = [
            t
            for _, t in sorted(self.tracked.items())
            if t.cp.status in (CheckpointStatus.PENDING, CheckpointStatus.FINAL)
        ]
        # Records held that the latest live checkpoint contradicts are rolled back before it
        # becomes the anchor: from then on what it covers is served as anchored.
        if live:
            await self._roll_back_contradicted(live[-1])
        # The replica anchors what it takes without a sequencer receipt to this one.
        self.replica.checkpoint = (live[-1].cp.size, live[-1].cp.root) if live else None
        self._verified()
        self.anchor_read.set()
        latest = await self._l1(self.l1.latest_block_time)
        if latest != self._now:
            self._now, self._now_seen_at = latest, self.wall_clock()
        await self._settle_challenges()
        await self._claim()
        await self._watch_evidence()
        # Receipts first: a holder's promise is as good a proof as any, and once some proof
        # reverts the checkpoint a mismatch against it is no longer accepted.
        if await self._check_receipts():
            return  # a proof may have reverted checkpoints: re-read them first
        for index in sorted(self.tracked):
            t = self.tracked[index]
            if t.cp.status == CheckpointStatus.FINAL and await self._roll_back_contradicted(t):
                return  # rolled back: the pull fetches the anchored range again first
            if t.cp.status != CheckpointStatus.PENDING:
                continue
            if await self._judge(t):
                break  # a proof reverts this one and every later one: re-read first
            if t.cp.size > self.replica.size:
                break  # later checkpoints lie further beyond the replica: one challenge covers them

    async def _follow_reorg(self, fork_block: int) -> None:
        """L1 reorganised above `fork_block`: re-read every checkpoint not final from the
        canonical chain (a commit may be gone, a reverted one live again because the proof's
        block is gone: it is judged afresh, and a proof whose block was replaced is sent
        again), and read the logs again from the fork on (the canonical chain's commits and
        reverts there); and re-read the DA challenges we opened (one whose opening is gone is
        forgotten, so it can be opened again)."""
        dropped: list[int] = []
        for index in sorted(self.tracked):
            t = self.tracked[index]
            if t.cp.status == CheckpointStatus.FINAL:
                continue
            cp = await self._l1(partial(self.l1.checkpoint, index))
            if cp.status == CheckpointStatus.NONE or (cp.size, cp.root) != (t.cp.size, t.cp.root):
                # Its commit is gone (the logs bring it back if mined again), or another commit
                # now holds its index: it is followed from its own log, and judged afresh.
                del self.tracked[index]
                dropped.append(index)
                continue
            if cp.status == CheckpointStatus.PENDING and (
                t.proved or t.cp.status == CheckpointStatus.REVERTED
            ):
                t.acted = t.proved = False  # judged again: a proof whose block is gone is resent
            t.cp = cp
        # Verify from the canonical chain: the log cursor goes back to the block after the fork.
        self._next_log_block = min(self._next_log_block, fork_block + 1)
        me = self.l1.account.address.lower()
        for cid in list(self.challenges):
            row: DAChallenge = await self._l1(partial(self.l1.da_challenge, cid))
            if row.state == DAState.NONE or row.challenger.lower() != me:
                del self.challenges[cid]
            else:
                self.challenges[cid]["state"] = row.state.name
        for cid in list(self.foreign):
            # Another validator's: gone with its opening's block (the logs bring it back if
            # mined again), or answered no longer (followed again until it is).
            row = await self._l1(partial(self.l1.da_challenge, cid))
            if row.state == DAState.NONE:
                del self.foreign[cid]
            else:
                self.foreign[cid]["state"] = row.state.name
        await self._save_challenges()
        log.warning(
            "L1 reorganised above block %d: checkpoints %s are gone, the others re-read",
            fork_block,
            dropped,
            extra={"checkpoints": dropped, "fork_block": fork_block},
        )

    async def _refresh(self, head: int) -> None:
        """Follow L1 by its events since the last round (`eth_getLogs` from the block after the
        last one read up to `head`, the head this round observed: logs of a block the reorg
        detector never saw could be replaced unnoticed), not by re-reading every checkpoint: a
        commit brings its row, a revert cascade marks its range, a DA challenge opened by anyone
        is noted. A pending checkpoint's row is read again only once its window may have ended:
        final is a matter of time and holds, and no event says it."""
        while self._next_log_block <= head:
            last = min(head, self._next_log_block + _LOG_RANGE - 1)
            found = await self._l1(partial(self.l1.events, self._next_log_block, last))
            for index, size, root, committed_at, ends, bound in found.committed:
                if index in self.tracked:
                    continue
                prev = await self._l1(partial(self.l1.prev_size, index))
                cp = Checkpoint(index, size, root, committed_at, ends, CheckpointStatus.PENDING)
                self.tracked[index] = Tracked(cp, prev, bound)
                self.metrics.checkpoints_seen.inc()
                log.info("checkpoint %d seen: size %d, new from %d", index, size, prev)
            for first, end in found.reverted:
                for index in range(first, end):
                    t = self.tracked.get(index)
                    if t is not None and t.cp.status != CheckpointStatus.REVERTED:
                        t.cp = replace(t.cp, status=CheckpointStatus.REVERTED)
                        log.info("checkpoint %d is now reverted", index)
            for cid, index, challenger, start, end, deadline in found.opened:
                if cid in self.challenges:
                    continue  # ours, followed from state (one from our address that our state
                    # lacks, e.g. from a lost data dir, is followed like anyone else's)
                self.foreign.setdefault(
                    cid,
                    {
                        "checkpoint": index,
                        "start": start,
                        "end": end,
                        "deadline": deadline,
                        "state": DAState.OPEN.name,
                        "challenger": challenger,
                    },
                )
            self._next_log_block = last + 1
        now = self._l1_time_estimate()
        for index, t in sorted(self.tracked.items()):
            if t.cp.status == CheckpointStatus.PENDING and now >= t.cp.challenge_ends:
                cp = await self._l1(partial(self.l1.checkpoint, index))
                if cp.status != t.cp.status:
                    log.info("checkpoint %d is now %s", index, CheckpointStatus(cp.status).label)
                if t.proved and cp.status == CheckpointStatus.PENDING:
                    # Our proof was mined, yet the canonical chain holds the checkpoint live:
                    # a reorganisation took the proof's block. Judge it again, prove again.
                    log.warning(
                        "checkpoint %d is pending again: the block of our proof is gone "
                        "(L1 reorganised); judging it again",
                        index,
                        extra={"checkpoint": index},
                    )
                    t.acted = t.proved = False
                t.cp = cp

    # --- checkpoints ---------------------------------------------------------------------------

    async def _judge(self, t: Tracked) -> bool:
        """Check one pending checkpoint; True when a transaction was sent for it."""
        cp = t.cp
        if t.acted:
            return False
        if self.replica.size >= cp.size:
            if _needs_verdict(t):
                await trio.to_thread.run_sync(self._verdict, t)
                if t.verdict == "agrees":
                    log.info("checkpoint %d agrees with the replica (size %d)", cp.index, cp.size)
            if t.verdict == "violation" and t.violation is not None:
                return await self._prove(t, t.violation)
            if t.verdict == "root-mismatch":
                if not t.rolled_back and await self._roll_back(t):
                    return False  # the pull fetches the anchored range again first
                return await self._challenge_mismatch(t)
            return False
        contradicted = self.replica.contradicted
        # An upstream proved against its root that the records held are not its prefix.
        if (
            contradicted is not None
            and contradicted["checkpointSize"] == cp.size
            and await self._roll_back(t)
        ):
            return False
        # The replica cannot back this checkpoint (yet): judged from L1 outward, whatever the
        # upstreams say. Wait while the replica grows, for at most the grace period, and never
        # past the point where a challenge could still be opened in the window.
        stalled = time.monotonic() - max(self.replica.progress_at, t.seen_at)
        left = cp.challenge_ends - self._l1_time_estimate()
        if stalled < self.da_grace_s and left > self._open_margin():
            return False
        if t.rolled_back:
            # Rolled back, and still no upstream serves records hashing to its root: what
            # was served contradicts it, so every chunk new in it is challenged.
            t.verdict = "root-mismatch"
            return await self._challenge_mismatch(t)
        # Contract v2 challenges whole aligned chunks: the one holding the first missing record.
        start, end = da_chunk(self.replica.size, cp.size, self.params["maxDARange"])
        return await self._open_da(
            t,
            start,
            end,
            f"records from {self.replica.size} not backed for {stalled:.0f} s "
            f"({left:.0f} s of the window left)",
        )

    async def _roll_back_contradicted(self, t: Tracked) -> bool:
        """Roll back provisional records the live checkpoint `t` contradicts (its root is not
        the replica's at its size), once; True if it did. Run on the latest live checkpoint
        before it becomes the replica's anchor (so contradicted records are never served as
        anchored, not even for the rest of a round), and on every *final* one, which `_judge`
        never looks at: a validator that held provisional records while their checkpoint was
        committed and went final (stopped for the whole window, e.g.) must not keep them. The
        sequencer's receipts over them stay provable against it (`_watch_evidence`; a final
        checkpoint is live, docs/spec.md §9.2)."""
        if t.root_checked or t.rolled_back or self.replica.size < t.cp.size:
            return False
        t.root_checked = True
        held = await trio.to_thread.run_sync(self.store.root_at, t.cp.size)
        if held == t.cp.root:
            t.root_agrees = True
            return False
        log.error(
            "checkpoint %d (%s): root 0x%s differs from the replica's at size %d",
            t.cp.index,
            CheckpointStatus(t.cp.status).label,
            t.cp.root.hex(),
            t.cp.size,
        )
        return await self._roll_back(t)

    def _verified(self) -> None:
        """Set `Replica.verified_size`: the largest live checkpoint whose root the replica was
        found to hold. Called when a root is compared, after a rollback, and each round once
        L1 was read (a reverted checkpoint anchors nothing)."""
        self.replica.verified_size = max(
            (
                t.cp.size
                for t in self.tracked.values()
                if t.root_agrees
                and t.cp.status in (CheckpointStatus.PENDING, CheckpointStatus.FINAL)
            ),
            default=0,
        )

    def _open_margin(self) -> float:
        """Seconds before `challengeEnds` by which a DA challenge is sent at the latest, grace
        or not: the open transaction must be mined inside the window, which takes a round to
        see the need, a bond quote, the simulation and a few L1 blocks (docs/validator.md,
        "Timing against the challenge window"). The answer and the follow-up proof need no
        room here: a reveal keeps the checkpoint pending for `postRevealWindow` after it."""
        return _OPEN_MARGIN_S + 4 * self.poll_s

    async def _roll_back(self, t: Tracked) -> bool:
        """Roll the replica back to what L1 anchors when `t`'s root contradicts records held
        beyond it (docs/validator.md, "Rollback"); True when records were removed.

        The cut is the largest size of an earlier live checkpoint whose root the replica
        holds (0 if none): everything from there on was taken on the sequencer's receipts
        only, and `t` says the sequencer committed something else: its root differs from the
        replica's at its size, or (short of its size) an upstream proved that another root
        at the replica's size leads to it (`Replica.contradicted`)."""
        cp = t.cp
        anchored = 0
        for other in sorted(self.tracked.values(), key=lambda o: -o.cp.size):
            o = other.cp
            if (
                o.index < cp.index
                and o.status in (CheckpointStatus.PENDING, CheckpointStatus.FINAL)
                and o.size <= min(cp.size, self.replica.size)
                and self.store.root_at(o.size) == o.root
            ):
                anchored = o.size
                break
        self.replica.contradicted = None  # judged now: the pull may look again later
        summary = await trio.to_thread.run_sync(
            self.replica.roll_back, anchored, anchored, (cp.index, cp.size, cp.root)
        )
        if summary is None:
            return False
        t.rolled_back = True
        t.verdict = "rolled-back"
        t.seen_at = time.monotonic()  # the grace period runs again from the cut
        for other in self.tracked.values():
            if other.cp.size > anchored:
                other.root_agrees = False
                if other.verdict == "agrees":
                    other.verdict = "unchecked"
        self._verified()
        self.metrics.rollbacks.inc()
        return True

    async def _challenge_mismatch(self, t: Tracked) -> bool:
        """DA challenges on every chunk of the range new in `t` (its records do not hash to the
        committed root; which of them differ only L1 can say), up to `_MISMATCH_CHUNKS` a round."""
        cp = t.cp
        step = self.params["maxDARange"]
        opened = 0
        first = t.prev_size - t.prev_size % step
        for position in range(first, cp.size, step):
            start, end = da_chunk(max(position, t.prev_size), cp.size, step)
            if self._challenged(cp.index, start):
                continue
            if opened == _MISMATCH_CHUNKS:
                return True  # the rest next round
            if not await self._open_da(
                t, start, end, "the served records do not hash to the committed root"
            ):
                return opened > 0
            opened += 1
        return opened > 0

    def _challenged(self, cp_index: int, start: int) -> bool:
        return any(
            c["checkpoint"] == cp_index and c["start"] <= start < c["end"]
            for c in self.challenges.values()
        )

    def _verdict(self, t: Tracked) -> None:
        """Blocking: compare roots, then look for a violation new in the checkpoint."""
        cp = t.cp
        if self.store.root_at(cp.size) != cp.root:
            t.root_agrees = False
            t.verdict = "root-mismatch"
            log.error(
                "checkpoint %d: root 0x%s differs from the replica's at size %d",
                cp.index,
                cp.root.hex(),
                cp.size,
            )
            return
        t.root_agrees = True  # the records are what L1 committed, violations or not
        self._verified()
        for v in self.replica.violations:
            if t.prev_size <= v.seq < cp.size:
                t.verdict, t.violation = "violation", v
                return
        # Rule 4b: no record new in the checkpoint is stamped after the bound its commit declared.
        for start in range(t.prev_size, cp.size, _SCAN_CHUNK):
            end = min(start + _SCAN_CHUNK, cp.size)
            for seq, record in enumerate(self.store.get_records(start, end), start):
                found = check_timestamp_bound(record, seq, t.timestamp_bound)
                if found is None:
                    # docs/spec.md §7.3: a forced record must be the inclusion L1 checked.
                    found = forced_violation(self.l1.contract, record, seq, cp.index)
                if found is not None:
                    t.verdict, t.violation = "violation", found
                    log.warning(
                        "violation: rule %s at seq %d: %s", found.rule.name, seq, found.reason
                    )
                    return
        t.verdict = "agrees"
        # Counted here, not by the caller: a receipt check may reach the verdict first.
        self.metrics.checkpoints_verified.inc()

    async def _prove(self, t: Tracked, v: Violation) -> bool:
        cp = t.cp
        t.acted = True
        try:
            sent = await self._l1(partial(self._send_proof, cp, v))
        except TransactionRefusedError as exc:
            log.error("fraud proof for checkpoint %d not sent: %s", cp.index, exc)
            return False
        except L1Error:
            t.acted = False  # L1 trouble: try again next round
            raise
        t.proved = True
        self.metrics.proofs_sent.labels(rule=v.rule.name).inc()
        self.proofs.append(
            {
                "checkpoint": cp.index,
                "rule": v.rule.name,
                "seq": v.seq,
                "tx": sent.tx_hash,
                "gasUsed": sent.gas_used,
            }
        )
        log.warning(
            "fraud proven on checkpoint %d: rule %s at seq %d (tx %s)",
            cp.index,
            v.rule.name,
            v.seq,
            sent.tx_hash,
        )
        return True

    def _send_proof(self, cp: Checkpoint, v: Violation) -> Sent:
        """Blocking: build the one-step proof of `v` against `cp` from the replica and send it."""
        store, l1 = self.store, self.l1
        record = store.get_record(v.seq)
        proof = store.inclusion_proof(v.seq, cp.size)
        if v.rule in (FraudRule.TIME_TRAVEL, FraudRule.REPLAY):
            if v.related is None:
                raise AssertionError(f"{v.rule.name} violation without its earlier record")
            earlier = store.get_record(v.related)
            earlier_proof = store.inclusion_proof(v.related, cp.size)
            if v.rule == FraudRule.TIME_TRAVEL:
                return l1.prove_time_travel(
                    cp.index, v.related, earlier, earlier_proof, record, proof
                )
            return l1.prove_replay(
                cp.index, v.related, earlier, earlier_proof, v.seq, record, proof
            )
        return l1.prove_single(v.rule, cp.index, v.seq, record, proof)

    # --- data availability -----------------------------------------------------------------------

    async def _open_da(self, t: Tracked, start: int, end: int, why: str) -> bool:
        cp = t.cp
        for c in (*self.challenges.values(), *self.foreign.values()):
            live = c["state"] in (DAState.OPEN.name, DAState.ANSWERED.name)
            if c["start"] <= start < c["end"] and (live or c["checkpoint"] == cp.index):
                # Already challenged: wait for the answer (its records are then taken from
                # L1, `_take_revealed`) or the deadline.
                return False
        try:
            # The bond is priced by the basefee at inclusion: a quarter more covers a few blocks
            # of basefee rise; whatever answering did not cost is credited back.
            bond = await self._l1(partial(self.l1.da_bond, end - start))
            cid, sent = await self._l1(
                partial(self.l1.open_da_challenge, cp.index, start, end, bond * 5 // 4)
            )
        except TransactionRefusedError as exc:
            log.error("DA challenge on checkpoint %d not opened: %s", cp.index, exc)
            return False
        row = await self._l1(partial(self.l1.da_challenge, cid))
        self.challenges[cid] = {
            "checkpoint": cp.index,
            "start": start,
            "end": end,
            "deadline": row.deadline,
            "state": row.state.name,
            "openTx": sent.tx_hash,
            "reason": why,
        }
        await self._save_challenges()
        self.metrics.da_challenges.inc()
        log.warning(
            "DA challenge %d opened on checkpoint %d [%d, %d): %s (tx %s)",
            cid,
            cp.index,
            start,
            end,
            why,
            sent.tx_hash,
        )
        return True

    def _l1_time_estimate(self) -> int:
        """What L1 time is now, at least: its latest block's time plus the wall time since we
        first saw that block (on an idle chain, L1 time moves only when a block is mined, and
        its clock may be ahead of ours), or our own clock when L1's is behind."""
        wall = self.wall_clock()
        return int(max(self._now + (wall - self._now_seen_at), wall))

    async def _settle_challenges(self) -> None:
        """Resolve our open challenges once their response window passed unanswered; take the
        records of answered ones (ours or another validator's) into the replica."""
        for cid, c in sorted(self.foreign.items()):
            if c["state"] == DAState.OPEN.name:
                theirs = await self._l1(partial(self.l1.da_challenge, cid))
                c["state"] = theirs.state.name
            if c["state"] == DAState.ANSWERED.name and not c.get("taken"):
                await self._take_revealed(cid, c, save=False)
        for cid, c in sorted(self.challenges.items()):
            if c["state"] == DAState.ANSWERED.name and not c.get("taken"):
                await self._take_revealed(cid, c)
            if c["state"] != DAState.OPEN.name:
                continue
            row: DAChallenge = await self._l1(partial(self.l1.da_challenge, cid))
            if row.state == DAState.OPEN and self._l1_time_estimate() > row.deadline:
                # The deadline may have passed on the wall clock before any L1 block did: the
                # resolving transaction's own block is the first one late enough.
                simulate = self._now > row.deadline
                try:
                    sent = await self._l1(
                        partial(self.l1.resolve_da_challenge, cid, simulate=simulate)
                    )
                except TransactionRefusedError as exc:
                    log.error("DA challenge %d not resolved: %s", cid, exc)
                    continue
                except L1Error as exc:
                    if simulate:
                        raise
                    log.info("DA challenge %d: resolve too early for L1 (%s); next round", cid, exc)
                    continue
                c["resolveTx"] = sent.tx_hash
                row = await self._l1(partial(self.l1.da_challenge, cid))
                log.warning("DA challenge %d resolved unanswered (tx %s)", cid, sent.tx_hash)
            if row.state.name != c["state"]:
                c["state"] = row.state.name
                if row.state == DAState.ANSWERED:
                    log.info(
                        "DA challenge %d answered: records [%d, %d) revealed on L1",
                        cid,
                        row.start,
                        row.end,
                    )
                    await self._take_revealed(cid, c)
                await self._save_challenges()

    async def _take_revealed(self, cid: int, c: dict[str, Any], *, save: bool = True) -> None:
        """Feed the records an answer revealed on L1 (checked there against the checkpoint's
        root) into the replica: data no upstream would serve is still judged."""
        records = await self._l1(partial(self.l1.revealed_records, cid))
        if records is None:
            return  # the reveal's transaction is not visible yet: next round
        try:
            taken = await trio.to_thread.run_sync(self.replica.take_revealed, c["start"], records)
        except RevealedContradictionError as exc:
            # L1 anchors the revealed records (the contract checked them against the root):
            # the held ones, provisional, are contradicted. Roll back as for a contradicting
            # checkpoint (evidence kept, then proven by `_watch_evidence`), take them next round.
            t = self.tracked.get(c["checkpoint"])
            live = (CheckpointStatus.PENDING, CheckpointStatus.FINAL)
            if t is not None and t.cp.status in live and await self._roll_back(t):
                log.warning("DA challenge %d: %s; rolled back", cid, exc)
                return
            log.error("DA challenge %d: %s; not rolled back", cid, exc)
            taken = 0
        c["taken"] = True
        c["recordsTaken"] = taken
        if save:
            await self._save_challenges()

    async def _claim(self) -> None:
        """Pull what the contract credited us (rewards, DA bond refunds): v2 never pushes."""
        owed = await self._l1(self.l1.credits)
        if owed == 0:
            return
        try:
            sent = await self._l1(self.l1.claim)
        except TransactionRefusedError as exc:
            log.error("claim of %d wei refused: %s", owed, exc)
            return
        self.claims.append({"amount": owed, "tx": sent.tx_hash, "gasUsed": sent.gas_used})
        log.info("claimed %d wei (tx %s)", owed, sent.tx_hash)

    async def _save_challenges(self) -> None:
        value = orjson.dumps({str(k): v for k, v in self.challenges.items()})
        # After this synced write, a restart knows which challenges to follow and resolve.
        await trio.to_thread.run_sync(self.store.put_state, {CHALLENGES_KEY: value})

    # --- receipts --------------------------------------------------------------------------------

    async def add_receipt(self, watched: WatchedReceipt) -> dict[str, Any]:
        """Keep `watched` (idempotent); its current JSON."""
        for w in self.receipts:
            if w.key == watched.key:
                return w.to_json()
        self.receipts.append(watched)
        await self._save_receipts()
        self.metrics.receipts_watched.set(len(self.receipts))
        return watched.to_json()

    async def _save_receipts(self) -> None:
        # After this synced write, a restart keeps watching every receipt handed over.
        await trio.to_thread.run_sync(
            self.store.put_state, {RECEIPTS_KEY: encode_watched(self.receipts)}
        )

    async def _check_receipts(self) -> bool:
        """Check every watched receipt; True when a proof was sent."""
        changed = sent = False
        for i, w in enumerate(self.receipts):
            if w.status != WATCHING:
                continue
            updated = await self._check_receipt(w)
            if updated is not w:
                self.receipts[i] = updated
                changed = True
                if updated.tx is not None:
                    sent = True
                    break  # checkpoints may have been reverted: re-read them first
        if changed:
            await self._save_receipts()
        return sent

    async def _check_receipt(self, w: WatchedReceipt) -> WatchedReceipt:
        live = [
            t
            for _, t in sorted(self.tracked.items())
            if t.cp.status in (CheckpointStatus.PENDING, CheckpointStatus.FINAL)
        ]
        # Pending ones first: a mismatch proven against a pending checkpoint also reverts it.
        covering = sorted(
            (t for t in live if w.seq < t.cp.size <= self.replica.size),
            key=lambda t: (t.cp.status != CheckpointStatus.PENDING, t.cp.index),
        )
        for t in covering:
            if _needs_verdict(t):
                await trio.to_thread.run_sync(self._verdict, t)
            if t.verdict == "root-mismatch":
                continue  # the replica cannot speak for this checkpoint
            leaf = self.store.get_leaf_hash(w.seq)
            if leaf == w.leaf_hash:
                if t.cp.status == CheckpointStatus.FINAL:
                    log.info(
                        "receipt for seq %d kept: final checkpoint %d holds the leaf",
                        w.seq,
                        t.cp.index,
                    )
                    return w.with_status(KEPT)
                continue
            try:
                sent = await self._l1(partial(self._send_mismatch, w, t.cp))
            except TransactionRefusedError as exc:
                log.error(
                    "receipt mismatch at seq %d not proven on checkpoint %d: %s",
                    w.seq,
                    t.cp.index,
                    exc,
                )
                if is_moot(exc):
                    return w.with_status(MOOT)  # no proof of it can pass any more
                continue
            self._proven("RECEIPT_MISMATCH", t.cp.index, w.seq, sent)
            return w.with_status(PROVEN_MISMATCH, sent.tx_hash)
        # Deadline: L1 time passed it and no live checkpoint committed by then covers the range.
        r = w.receipt
        if self._now > r.deadline:
            covered = max((t.cp.size for t in live if t.cp.committed_at <= r.deadline), default=0)
            if covered < r.first_seq + r.count:
                try:
                    sent = await self._l1(partial(self.l1.prove_receipt_deadline, r))
                except TransactionRefusedError as exc:
                    log.error(
                        "missed deadline of the receipt for seq %d not proven: %s", w.seq, exc
                    )
                    if is_moot(exc):
                        return w.with_status(MOOT)
                    return w
                self._proven("RECEIPT_DEADLINE", None, w.seq, sent)
                return w.with_status(PROVEN_DEADLINE, sent.tx_hash)
        return w

    async def _watch_evidence(self) -> None:
        """Cash the sequencer's promises a rollback kept: for each rollback whose evidence has
        no watched receipt yet, once the replica holds, at a seq a removed block's receipt
        promised, another leaf than the promised one, watch that leaf's share of the receipt
        (`watched_from_evidence`). `_check_receipts` then proves the mismatch against the live
        checkpoint holding that record (docs/spec.md §9.2): one proof per offence, the first
        slashes and freezes (§9.4). The watched receipt is saved, so a restart keeps it; the
        rollbacks and their evidence are saved by the cut itself, so a restart before this
        finds them again."""
        watched = {w.evidence for w in self.receipts if w.evidence is not None}
        for summary in self.replica.rollbacks:
            key = summary["evidenceKey"]
            if key in watched or summary.get("receiptsKept", 0) == 0:
                continue
            found = await trio.to_thread.run_sync(self._find_broken_promise, summary)
            if found is None:
                continue
            log.warning(
                "rollback %s: the sequencer's receipt promised leaf 0x%s at seq %d, the replica "
                "now holds another record there: proving the receipt broken",
                key,
                found.leaf_hash.hex(),
                found.seq,
            )
            await self.add_receipt(found)
            self._evidence.pop(key, None)
            self._evidence_scanned.pop(key, None)
            watched.add(key)

    def _find_broken_promise(self, summary: dict[str, Any]) -> WatchedReceipt | None:
        """Blocking: the first seq of `summary`'s evidence, among those the replica holds,
        where the held leaf differs from the one the sequencer's receipt promised, as a watched
        receipt; None while there is none (the replica has not fetched the range again yet)."""
        key = summary["evidenceKey"]
        blocks = self._evidence.get(key)
        if blocks is None:
            raw = self.replica.evidence(key)
            if raw is None:
                log.error("rollback %s: its evidence is missing from the store", key)
                blocks = []
            else:
                blocks = [b for b in orjson.loads(raw)["blocks"] if b["receipt"] is not None]
            self._evidence[key] = blocks
        held = self.replica.size
        start = min(self._evidence_scanned.get(key, summary["from"]), held)
        end = min(int(summary["to"]), held)
        for b in blocks:
            lo, hi = max(int(b["start"]), start), min(int(b["end"]), end)
            if lo >= hi:
                continue
            leaves = self.store.read_nodes([(0, seq) for seq in range(lo, hi)])
            for seq, leaf in zip(range(lo, hi), leaves, strict=True):
                if hex0x(leaf) != b["leafHashes"][seq - int(b["start"])]:
                    return watched_from_evidence(b, seq, key)
        self._evidence_scanned[key] = max(start, end)
        return None

    def _send_mismatch(self, w: WatchedReceipt, cp: Checkpoint) -> Sent:
        record = self.store.get_record(w.seq)
        proof = self.store.inclusion_proof(w.seq, cp.size)
        return self.l1.prove_receipt_mismatch(
            w.receipt, w.leaf_hash, w.index, w.path, cp.index, record, proof
        )

    def _proven(self, rule: str, cp: int | None, seq: int, sent: Sent) -> None:
        self.metrics.proofs_sent.labels(rule=rule).inc()
        self.proofs.append(
            {
                "checkpoint": cp,
                "rule": rule,
                "seq": seq,
                "tx": sent.tx_hash,
                "gasUsed": sent.gas_used,
            }
        )
        log.warning("broken receipt proven: %s at seq %d (tx %s)", rule, seq, sent.tx_hash)

    async def _l1(self, fn: Callable[[], T]) -> T:
        # web3 blocks on the socket; abandoned on cancel so a hung node cannot hold shutdown.
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)
