"""The JSON-RPC methods of DESIGN §7, over the store and the writer.

Reads run directly on the event loop: a LevelDB point read or a short range scan costs a few
microseconds from the block cache, well under the cost of a hop to a worker thread, and the
store's reads never wait on the writer (LevelDB snapshots a consistent view per call). Writes
(fsync) and signature recovery (CPU, releases the GIL in libsecp256k1) run in worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import trio

from prover.eip712 import Domain
from prover.errors import AttestError, InvalidFieldError, NotFoundError
from prover.record import EventInput
from sequencer.config import Config
from sequencer.node.faults import FaultInjector
from sequencer.node.ingest import (
    batch_answer,
    check_batch_shape,
    parse_events,
    recover_chunk,
    rejection_reason,
    signed_submitters,
    single_answer,
    token_address,
    unsigned_submitters,
    without_index,
)
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer, make_templates
from sequencer.rpc.jsonrpc import RpcContext
from sequencer.rpc.read_api import CheckpointView, ReadApi
from state_db.store import Store

log = logging.getLogger(__name__)

# Below this many signed events, recovering on the event loop is cheaper than a thread hop.
_THREAD_RECOVERY_MIN = 32
_RECOVERY_THREADS = 2  # one per core of the target machine; coincurve releases the GIL


class RpcApi(ReadApi):
    """Every method of DESIGN §7: the reads of `ReadApi` plus ingest. One per process."""

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

    def _check_served(self, start: int, end: int) -> None:
        if self.faults is not None and self.faults.is_withheld(start, end):
            raise NotFoundError(f"records {start}..{end - 1} are not available")

    # --- ingest ----------------------------------------------------------------------------

    async def attest_submit(self, ctx: RpcContext, event: Any) -> dict[str, Any]:
        templates, metas = await self._check([event], ctx, batch=False)
        placed = await self.writer.submit(templates, metas)
        return single_answer(placed[0], self.sequencer_address)

    async def attest_submitBatch(self, ctx: RpcContext, events: Any) -> dict[str, Any]:
        check_batch_shape(events, self.config.max_batch_events)
        templates, metas = await self._check(events, ctx, batch=True)
        placed = await self.writer.submit(templates, metas)
        return batch_answer(placed, self.sequencer_address)

    async def _check(
        self, raw: Sequence[Any], ctx: RpcContext, *, batch: bool
    ) -> tuple[list[bytes], list[bytes | None]]:
        """Parse and authorise a submission: its record templates, or the error refusing it."""
        try:
            events = parse_events(raw, batch=batch)
            token = token_address(ctx.headers.get("authorization"), self.config.tokens)
            submitters, signed = unsigned_submitters(events, token, batch=batch)
            recovered = await self._recover(events, signed) if signed else []
            who = signed_submitters(
                submitters, signed, recovered, self.config.allowlist, batch=batch
            )
        except AttestError as exc:
            self.metrics.rejected.labels(reason=rejection_reason(exc)).inc(len(raw))
            raise without_index(exc, batch) from None
        return make_templates(events, who)

    async def _recover(self, events: Sequence[EventInput], indices: list[int]) -> list[bytes]:
        """Recover signers; big batches on worker threads so the event loop keeps serving."""
        sep = self.domain.separator
        if len(indices) < _THREAD_RECOVERY_MIN:
            return recover_chunk(sep, events, indices)
        size = -(-len(indices) // _RECOVERY_THREADS)
        chunks = [indices[k : k + size] for k in range(0, len(indices), size)]
        results: list[list[bytes]] = [[] for _ in chunks]
        errors: list[InvalidFieldError] = []

        async def run(k: int) -> None:
            try:
                results[k] = await trio.to_thread.run_sync(recover_chunk, sep, events, chunks[k])
            except InvalidFieldError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            for k in range(len(chunks)):
                nursery.start_soon(run, k)
        if errors:
            raise min(errors, key=lambda e: e.index if e.index is not None else -1)
        return [who for chunk in results for who in chunk]



