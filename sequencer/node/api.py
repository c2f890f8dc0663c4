"""The JSON-RPC methods of docs/spec.md §10, over the store and the writer.

Reads run directly on the event loop: a LevelDB point read or a short range scan costs a few
microseconds from the block cache, well under the cost of a hop to a worker thread, and the
store's reads never wait on the writer (LevelDB snapshots a consistent view per call). Writes
(fsync) and signature recovery (CPU, releases the GIL in libsecp256k1) run in worker threads.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Generator, Sequence
from functools import partial
from typing import Any, Final, TypeVar

import trio

from prover.block import BlockHeader
from prover.eip712 import Domain, Signer
from prover.errors import AttestError, NotFoundError
from prover.receipt import receipt_to_json, sign_block_receipt
from prover.wire import parse_uint
from sequencer.config import Config
from sequencer.node.faults import FaultInjector
from sequencer.node.ingest import (
    CHECK_SLICE,
    THREAD_RECOVERY_MIN,
    Checked,
    IngestSettings,
    batch_answer,
    batch_answer_steps,
    check_submission,
    check_submission_steps,
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


T = TypeVar("T")
_BLOCK_RECEIPT_CACHE: Final = 4096
"""Block receipts kept signed (the blocks followers are pulling now)."""


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
        self._bulk = trio.CapacityLimiter(1)
        self._bulk_answers = trio.CapacityLimiter(BULK_ANSWERS)
        self._signer = Signer(config.sequencer_key)
        self._block_receipts: OrderedDict[int, dict[str, Any]] = OrderedDict()

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

    def _block_receipt(self, header: BlockHeader, leaves: Sequence[bytes]) -> dict[str, Any] | None:
        """The sequencer's receipt over exactly the block's records (docs/spec.md §6): the
        slashable promise that lets a follower take the block before a checkpoint covers it.
        Signed once per block (RFC 6979 signatures are deterministic; ~60 µs) and cached."""
        cached = self._block_receipts.get(header.number)
        if cached is None:
            receipt = sign_block_receipt(
                self._signer,
                self.domain.separator,
                header,
                leaves,
                header.timestamp // 1000 + self.config.receipt_deadline_s,
            )
            cached = receipt_to_json(receipt, self.sequencer_address)
            self._block_receipts[header.number] = cached
            if len(self._block_receipts) > _BLOCK_RECEIPT_CACHE:
                self._block_receipts.popitem(last=False)
        return cached

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
        if len(placed) <= CHECK_SLICE:
            return batch_answer(placed, self.sequencer_address)
        # A large answer is built like a large check: in slices, two at a time (apart from the
        # checks, so that answers never queue behind the submissions still to be checked).
        # A group commit releases dozens at once; one at a time lengthened the ack p99 by half
        # under 200 writers, four at a time doubled the loop's rounds (docs/benchmarks.md §10).
        async with self._bulk_answers:
            return await _drive(batch_answer_steps(placed, self.sequencer_address))

    async def _check(self, raw: Any, ctx: RpcContext, *, batch: bool) -> Checked:
        """`check_submission`, inline or, for many signatures, on worker threads so the event
        loop keeps serving while libsecp256k1 works.

        The callers reserve room in the writer's queue first (`Writer.reserve`), before any
        event is parsed: a refusal (full queue, stopped writer) then costs microseconds.
        """
        authorization = ctx.headers.get("authorization")
        try:
            if count_signed(raw, batch=batch) < THREAD_RECOVERY_MIN:
                if count_events(raw, batch=batch) <= CHECK_SLICE:
                    return check_submission(raw, authorization, self.ingest, batch=batch)
                # On the event loop, a slice of events at a time, one bulk step (a large check
                # or a large answer) at a time: reads and refusals are answered between slices
                # instead of queueing behind every batch being parsed (issue 12: status p99
                # 1.96 s under 200 writers). Those waiting here hold their room in the queue,
                # so that later submissions are refused from their head.
                # Not in a worker thread: handing the GIL back and forth cost ~10% CPU an event.
                async with self._bulk:
                    return await _drive(
                        check_submission_steps(raw, authorization, self.ingest, batch=batch)
                    )
            return await trio.to_thread.run_sync(
                partial(
                    check_submission,
                    raw,
                    authorization,
                    self.ingest,
                    batch=batch,
                    recover=recover_parallel,
                )
            )
        except AttestError as exc:
            self.metrics.rejected.labels(reason=rejection_reason(exc)).inc(
                count_events(raw, batch=batch)
            )
            raise


BULK_ANSWERS: Final = 2
"""Large answers built at once (`RpcApi.attest_submitBatch`)."""

BULK_STEP_S: Final = 0.002
"""How long one bulk step (`_drive`) runs slices before it lets the other tasks run: short
enough that a read waits for at most about this long behind it, long enough that the bulk work
is not starved when hundreds of refused writers share the loop with it."""


async def _drive(steps: Generator[None, None, T]) -> T:
    """Run a sliced step generator (`check_submission_steps`, `batch_answer_steps`) to its end,
    letting the other tasks run (a checkpoint) once its slices have taken `BULK_STEP_S`."""
    until = time.perf_counter() + BULK_STEP_S
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result
        if time.perf_counter() >= until:
            await trio.lowlevel.checkpoint()
            until = time.perf_counter() + BULK_STEP_S
