"""The JSON-RPC methods of docs/spec.md §10, over the store and the writer.

Reads run directly on the event loop: a LevelDB point read or a short range scan costs a few
microseconds from the block cache, well under the cost of a hop to a worker thread, and the
store's reads never wait on the writer (LevelDB snapshots a consistent view per call). Writes
(fsync) and signature recovery (CPU, releases the GIL in libsecp256k1) run in worker threads.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Final, Protocol

import trio

from prover.eip712 import Domain
from prover.errors import AttestError, NotFoundError
from prover.wire import parse_uint
from sequencer.config import Config
from sequencer.node.faults import FaultInjector
from sequencer.node.ingest import (
    THREAD_RECOVERY_MIN,
    Checked,
    IngestSettings,
    batch_answer,
    check_submission,
    count_events,
    count_signed,
    recover_parallel,
    rejection_reason,
    single_answer,
)
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer
from sequencer.rpc.jsonrpc import RpcContext
from sequencer.rpc.read_api import CheckpointView, ReadApi
from state_db.store import Store

log = logging.getLogger(__name__)


class ForcedView(Protocol):
    """What `attest_getForced` reads (`sequencer.node.forced.ForcedInbox`)."""

    def status(self, index: int, now: float | None = None) -> dict[str, Any] | None: ...

    def proven_on_l1(self, index: int) -> tuple[int, int] | None: ...


THREAD_CHECK_MIN: Final = 256
"""Submissions of at least this many events are checked in a worker thread."""
CHECK_THREADS: Final = 2
"""Worker threads checking submissions at once (one per core of the target machine)."""


class RpcApi(ReadApi):
    """Every method of docs/spec.md §10: the reads of `ReadApi` plus ingest. One per process."""

    def __init__(
        self,
        config: Config,
        store: Store,
        writer: Writer,
        metrics: Metrics,
        domain: Domain,
        sequencer_address: bytes,
        checkpoints: CheckpointView | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        super().__init__(store, domain, sequencer_address, checkpoints)
        self.config = config
        self.writer = writer
        self.metrics = metrics
        self.faults = faults
        self.ingest = IngestSettings(
            dict(config.tokens), config.allowlist, domain.separator, config.max_batch_events
        )
        self._check_threads = trio.CapacityLimiter(CHECK_THREADS)
        self.forced: ForcedView | None = None
        """The L1 inbox follower (`sequencer.node.forced`), when an L1 is attached."""

    async def attest_getForced(self, ctx: RpcContext, index: Any) -> dict[str, Any]:
        """docs/spec.md §7.3: inbox entry `index` as this sequencer sees it (posted, included at
        seq N, or overdue), and where L1 recorded its inclusion proof (`provenAt`)."""
        j = parse_uint(index, "index")
        if self.forced is None:
            raise NotFoundError("no L1 is attached: there is no forced-inclusion inbox")
        found = self.forced.status(j)
        if found is None:
            raise NotFoundError(f"no forced event {j} seen on L1 yet")
        proven = await trio.to_thread.run_sync(self.forced.proven_on_l1, j, abandon_on_cancel=True)
        found["provenAt"] = None if proven is None else {"seq": proven[0], "checkpoint": proven[1]}
        return found

    def _check_served(self, start: int, end: int) -> None:
        if self.faults is not None and self.faults.is_withheld(start, end):
            raise NotFoundError(f"records {start}..{end - 1} are not available")

    # --- ingest: transport -> one check -> writer -> answer ---------------------------------

    async def attest_submit(self, ctx: RpcContext, event: Any) -> dict[str, Any]:
        with self.writer.reserve(1):
            checked = await self._check(event, ctx, batch=False)
        # No checkpoint between giving the reservation back and queueing: the room is there.
        placed = await self.writer.submit(checked.templates, checked.metas)
        return single_answer(placed[0], self.sequencer_address)

    async def attest_submitBatch(self, ctx: RpcContext, events: Any) -> dict[str, Any]:
        with self.writer.reserve(count_events(events, batch=True)):
            checked = await self._check(events, ctx, batch=True)
        placed = await self.writer.submit(checked.templates, checked.metas)
        return batch_answer(placed, self.sequencer_address)

    async def _check(self, raw: Any, ctx: RpcContext, *, batch: bool) -> Checked:
        """`check_submission`, inline or, for many signatures, on worker threads so the event
        loop keeps serving while libsecp256k1 works.

        The callers reserve room in the writer's queue first (`Writer.reserve`), before any
        event is parsed: a refusal (full queue, stopped writer) then costs microseconds.
        """
        authorization = ctx.headers.get("authorization")
        try:
            signed = count_signed(raw, batch=batch)
            if signed < THREAD_RECOVERY_MIN and count_events(raw, batch=batch) < THREAD_CHECK_MIN:
                return check_submission(raw, authorization, self.ingest, batch=batch)
            # A large check runs in a worker thread, at most `CHECK_THREADS` at a time: parsing
            # holds the GIL, but the interpreter hands it back to the event loop every few
            # milliseconds, so reads and refusals are answered meanwhile instead of queueing
            # behind every batch being parsed (issue 12: status p99 1.96 s under 200 writers).
            recover = recover_parallel if signed >= THREAD_RECOVERY_MIN else None
            async with self._check_threads:
                return await trio.to_thread.run_sync(
                    partial(
                        check_submission,
                        raw,
                        authorization,
                        self.ingest,
                        batch=batch,
                        recover=recover,
                    )
                )
        except AttestError as exc:
            self.metrics.rejected.labels(reason=rejection_reason(exc)).inc(
                count_events(raw, batch=batch)
            )
            raise
