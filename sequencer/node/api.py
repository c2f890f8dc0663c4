"""The JSON-RPC methods of docs/spec.md §10, over the store and the writer.

Reads run directly on the event loop: a LevelDB point read or a short range scan costs a few
microseconds from the block cache, well under the cost of a hop to a worker thread, and the
store's reads never wait on the writer (LevelDB snapshots a consistent view per call). Writes
(fsync) and signature recovery (CPU, releases the GIL in libsecp256k1) run in worker threads.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import trio

from prover.eip712 import Domain
from prover.errors import AttestError, NotFoundError
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

    def _check_served(self, start: int, end: int) -> None:
        if self.faults is not None and self.faults.is_withheld(start, end):
            raise NotFoundError(f"records {start}..{end - 1} are not available")

    # --- ingest: transport -> one check -> writer -> answer ---------------------------------

    async def attest_submit(self, ctx: RpcContext, event: Any) -> dict[str, Any]:
        checked = await self._check(event, ctx, batch=False)
        placed = await self.writer.submit(checked.templates, checked.metas)
        return single_answer(placed[0], self.sequencer_address)

    async def attest_submitBatch(self, ctx: RpcContext, events: Any) -> dict[str, Any]:
        checked = await self._check(events, ctx, batch=True)
        placed = await self.writer.submit(checked.templates, checked.metas)
        return batch_answer(placed, self.sequencer_address)

    async def _check(self, raw: Any, ctx: RpcContext, *, batch: bool) -> Checked:
        """`check_submission`, inline or, for many signatures, on worker threads so the event
        loop keeps serving while libsecp256k1 works."""
        authorization = ctx.headers.get("authorization")
        try:
            if count_signed(raw, batch=batch) < THREAD_RECOVERY_MIN:
                return check_submission(raw, authorization, self.ingest, batch=batch)
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
