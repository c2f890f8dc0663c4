"""The sequencer side of forced inclusion (docs/spec.md §7.3): follow the L1 inbox, log each
entry as a forced record in inbox order, and tell the committer where they are.

Every `poll_s` it reads the `ForcedPosted` events of blocks confirmed `confirmations` deep
(an entry from a block a reorg removes was never posted: its index is reused by the new
chain, so an unconfirmed one must not be logged), and submits the next entries in inbox order
to the writer as forced records (v = 1). The log itself is the record of what was included:
at start, and before submitting, an entry is looked up by its digest, and a record whose
words 2..10 are the entry's forced record means it is in (a crash between the write and
anything else can neither lose nor duplicate one).

`status(j)` answers `attest_getForced`: posted, included at seq N, or overdue. With the
`ignore-forced` fault the follower still reads the inbox (and answers) but logs nothing: the
censoring sequencer of the README and the end-to-end tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

import trio

from l1_contracts.contract import (
    MAX_FORCED_PER_COMMIT,
    inbox_slot,
    read_forced_entries,
)
from prover.forced import ENTRY_WORDS, ZERO_INBOX_HASH, ForcedEntry, next_inbox_hash
from prover.wire import hex0x
from sequencer.l1.account import L1Client
from sequencer.node.faults import FaultInjector
from sequencer.node.writer import Writer
from state_db.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

FORCED_CONFIRMATIONS: Final[int] = 2
"""Blocks an inbox entry must be buried under before it is logged: at least the chain's reorg
depth. An entry of a block a reorg removes was never posted (its index goes to whatever the new
chain holds), and a logged forced record that L1 no longer has could never be proven at commit.
Reorgs within this depth are invisible here; a deeper one is caught by comparing the running
`inboxHash` and logged as an error (the log is append-only: an operator's call)."""


class ForcedInbox:
    """Follows the rollup's inbox and keeps the log's forced records in step with it."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        l1: L1Client,
        *,
        poll_s: float = 1.0,
        confirmations: int = FORCED_CONFIRMATIONS,
        faults: FaultInjector | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.l1 = l1
        self.poll_s = poll_s
        self.confirmations = confirmations
        self.faults = faults
        self.entries: list[ForcedEntry] = []
        """The inbox as confirmed on L1, in index order."""
        self.seqs: dict[int, int] = {}
        """Inbox index -> seq of its forced record in the log."""
        self._scanned = -1  # last L1 block whose events are in `entries`
        self.window_s: int | None = None
        self._hash = ZERO_INBOX_HASH  # inboxHash over `entries`
        self._deployed = False  # the contract has code at the confirmed block read last
        self.l1_time: float | None = None
        """L1's head timestamp at the last round: the clock the contract judges deadlines by."""

    # --- reading ------------------------------------------------------------------------------

    def find_in_log(self, entry: ForcedEntry) -> int | None:
        """Seq of `entry`'s forced record in the log, or None."""
        words = entry.template()[ENTRY_WORDS]
        after = -1
        while True:
            seqs = self.store.find_by_digest(entry.digest, after=after, limit=100)
            for seq in seqs:
                if self.store.get_record(seq)[ENTRY_WORDS] == words:
                    return seq
            if len(seqs) < 100:
                return None
            after = seqs[-1]

    def running_hash(self) -> bytes:
        """`inboxHash` over `entries` (docs/spec.md §7.3)."""
        return self._hash

    def next_index(self) -> int:
        """The first inbox index not yet in the log (entries are logged as a prefix)."""
        j = 0
        while j in self.seqs:
            j += 1
        return j

    def forced_between(self, low: int, high: int) -> list[tuple[int, int]]:
        """(inbox index, seq) of the forced records at seqs [low, high), in log order."""
        return sorted(((j, s) for j, s in self.seqs.items() if low <= s < high), key=lambda x: x[1])

    def commit_plan(self, low: int, high: int) -> tuple[int, list[int]]:
        """For a commit from size `low` towards `high`: the size to commit (cut before the
        forced record past MAX_FORCED_PER_COMMIT, the most one commit proves) and the seqs of
        the forced records it must prove, in inbox order."""
        found = self.forced_between(low, high)
        if len(found) > MAX_FORCED_PER_COMMIT:
            high = found[MAX_FORCED_PER_COMMIT][1]
            found = found[:MAX_FORCED_PER_COMMIT]
        return high, [s for _, s in found]

    def count(self) -> int:
        """Inbox entries confirmed on L1 so far."""
        return len(self.entries)

    def status(self, index: int, now: float | None = None) -> dict[str, Any] | None:
        """`attest_getForced`'s answer for inbox entry `index`, or None if not (yet) seen."""
        if not 0 <= index < len(self.entries):
            return None
        e = self.entries[index]
        deadline = e.posted_at + (self.window_s or 0)
        seq = self.seqs.get(index)
        if now is None:  # L1's clock decides (the contract's), once the follower has read it
            now = self.l1_time if self.l1_time is not None else time.time()
        state = "included" if seq is not None else ("overdue" if now >= deadline else "posted")
        return {
            "index": index,
            "poster": hex0x(e.poster),
            "kind": hex0x(e.kind),
            "subject": hex0x(e.subject),
            "digest": hex0x(e.digest),
            "metaHash": hex0x(e.meta_hash),
            "postedAt": e.posted_at,
            "deadline": deadline,
            "status": state,
            "seq": seq,
        }

    # --- the service --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the inbox until cancelled; ready at once (L1 may be down)."""
        task_status.started()
        while True:
            try:
                await self.step()
            except trio.Cancelled:
                raise
            except Exception as exc:  # L1 down or slow: ingest goes on, retry next round
                log.warning("reading the forced-inclusion inbox failed: %s", exc)
            await trio.sleep(self.poll_s)

    async def step(self) -> None:
        """One round: read newly confirmed entries, then log every next one in inbox order."""
        if self.window_s is None:
            self.window_s = int(
                await self._l1(self.l1.contract.functions.forceInclusionWindow().call)
            )
        head = await self._l1(lambda: self.l1.w3.eth.get_block("latest"))
        self.l1_time = float(head["timestamp"])
        latest = int(head["number"]) - self.confirmations
        if latest < 0:
            return
        if not self._deployed:
            # Right after a deployment the confirmed block is older than the contract: nothing
            # was posted there, and a call at it answers no data (not an L1 failure to report).
            address = self.l1.contract.address
            code = await self._l1(lambda: self.l1.w3.eth.get_code(address, latest))
            if not code:
                return
            self._deployed = True
        if latest > self._scanned:
            first = self._scanned + 1
            new = await self._l1(lambda: read_forced_entries(self.l1.contract, first, latest))
            for e in new:
                if e.index == len(self.entries):
                    self.entries.append(e)
                    self._hash = next_inbox_hash(self._hash, e.entry_hash())
                    seq = await trio.to_thread.run_sync(self.find_in_log, e)
                    if seq is not None:
                        self.seqs[e.index] = seq
            self._scanned = latest
            # Verify what we read is the inbox L1 holds at that block (a reorg deeper than
            # `confirmations` changes it): else forget it and read it again from the start.
            on_l1 = bytes(
                await self._l1(
                    lambda: self.l1.contract.functions.inboxHash().call(block_identifier=latest)
                )
            )
            if on_l1 != self.running_hash():
                log.error(
                    "the L1 inbox changed under %d confirmations (a deep reorg): reading it again",
                    self.confirmations,
                )
                self.entries, self._scanned, self._hash = [], -1, ZERO_INBOX_HASH
                return
        if self.faults is not None and self.faults.ignores_forced:
            return
        j = self.next_index()
        todo = self.entries[j : j + 64]
        if not todo:
            return
        templates = [e.template() for e in todo]
        # Durable when submit returns: the writer acknowledges only after its synced batch.
        placed = await self.writer.submit(templates, [None] * len(templates))
        for e, p in zip(todo, placed, strict=True):
            self.seqs[e.index] = p.seq
        log.info(
            "forced events logged",
            extra={"first_index": todo[0].index, "count": len(todo), "first_seq": placed[0].seq},
        )

    def proven_on_l1(self, index: int) -> tuple[int, int] | None:
        """(seq, checkpoint) L1 recorded for entry `index`'s inclusion (blocking web3 call)."""
        return inbox_slot(self.l1.contract, index).included_at

    async def _l1(self, fn: Callable[[], T]) -> T:
        # web3 blocks on the socket; abandoned on cancel so a hung node cannot hold shutdown.
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)
