"""What the sequencer sees of L1, kept by a loop of its own: L1's head (block and time) and the
sequencer account's transactions still waiting to be mined.

The committer's round blocks while a commit waits for its receipt — exactly when an operator
needs to see that L1 has stalled or that a transaction is stuck — so these observations come
from a separate task that never waits on a commit. `/health` and `/metrics` report them
(through `Committer.l1_status`), with the age of the head computed at the moment of the
request: a node that stops answering shows a head that keeps getting older.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Final

import trio

from prover.errors import L1Error
from sequencer.l1.reader import RollupReader
from sequencer.l1.reorg import Reorg, ReorgDetector

log = logging.getLogger(__name__)

WATCH_INTERVAL_S: Final = 1.0
"""How often L1's head and the account's pending transactions are read: a block time or so."""


@dataclass(frozen=True, slots=True)
class L1Head:
    number: int
    timestamp: int
    """L1 time (Unix seconds) of the block: the clock the contract judges windows by."""


class L1Watch:
    """The latest observations; `run` keeps them fresh until cancelled."""

    def __init__(self, reader: RollupReader, account: str, *, timeout_s: float) -> None:
        self.reader = reader
        self.account = account
        self.timeout_s = timeout_s
        self.head: L1Head | None = None
        self.pending_transactions: int | None = None
        """Transactions from the account sent but not mined (pending nonce - latest nonce)."""
        self.last_error: str | None = None
        self.reorgs = ReorgDetector()
        """Reorganisations of L1 seen (`reorgs.reorgs`, `reorgs.deepest`)."""
        self.last_reorg: Reorg | None = None

    def head_age_s(self, now: float | None = None) -> float | None:
        """Seconds between L1's latest block time and now; None before the first read."""
        if self.head is None:
            return None
        return (time.time() if now is None else now) - self.head.timestamp

    def observe(self) -> tuple[L1Head, int]:
        """One blocking read of the head and the account's unmined transactions (`L1Error`);
        a reorganisation under the blocks seen is recorded in `reorgs` and `last_reorg`."""
        block = self.reader.head_block()
        reorg = self.reorgs.observe(block, self.reader.block_hash)
        if reorg is not None:
            self.last_reorg = reorg
        head = L1Head(block.number, block.timestamp)
        return head, self.reader.unmined_transactions(self.account)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read L1 every `WATCH_INTERVAL_S` until cancelled; failures are kept, not raised."""
        task_status.started()
        while True:
            try:
                with trio.fail_after(self.timeout_s + 1):
                    # web3 blocks on the socket: a worker thread, abandoned on cancel so a hung
                    # node cannot hold shutdown.
                    self.head, self.pending_transactions = await trio.to_thread.run_sync(
                        self.observe, abandon_on_cancel=True
                    )
                self.last_error = None
            except (L1Error, trio.TooSlowError) as exc:
                if self.last_error is None:
                    log.warning("cannot read L1's head: %s", exc or "timed out")
                self.last_error = str(exc) or "L1 call timed out"
            await trio.sleep(WATCH_INTERVAL_S)
