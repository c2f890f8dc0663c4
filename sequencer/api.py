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

from prover.eip712 import Domain, compute_event_digest, recover_signer
from prover.errors import (
    InvalidFieldError,
    InvalidSignatureError,
    LimitExceededError,
    NotFoundError,
    UnauthorizedError,
)
from prover.receipt import Receipt, receipt_to_json
from prover.record import EventInput, parse_event
from sequencer.config import Config, hash_token
from sequencer.faults import FaultInjector
from sequencer.jsonrpc import RpcContext
from sequencer.metrics import Metrics
from sequencer.read_api import CheckpointView, ReadApi
from sequencer.wire import (
    hex0x,
)
from sequencer.writer import Placed, Writer, make_templates
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
        ev = self._parse_events([event], batch=False)[0]
        submitters = await self._authorize(ctx, [ev], batch=False)
        p = (await self.writer.submit(*make_templates([ev], submitters)))[0]
        out: dict[str, Any] = {"receipt": self._receipt_json(p.receipt), **_placed_json(p)}
        if p.duplicate:
            out["duplicate"] = True
        return out

    async def attest_submitBatch(self, ctx: RpcContext, events: Any) -> dict[str, Any]:
        if not isinstance(events, list) or not events:
            raise InvalidFieldError("events", "must be a non-empty list of event objects")
        if len(events) > self.config.max_batch_events:
            raise LimitExceededError("events per batch", self.config.max_batch_events, len(events))
        evs = self._parse_events(events, batch=True)
        submitters = await self._authorize(ctx, evs, batch=True)
        placed = await self.writer.submit(*make_templates(evs, submitters))
        top = next((p.receipt for p in placed if not p.duplicate), placed[0].receipt)
        entries = []
        for p in placed:
            entry = _placed_json(p)
            if p.receipt is not top:
                entry["duplicate"] = True
                entry["receipt"] = self._receipt_json(p.receipt)
            entries.append(entry)
        return {"receipt": self._receipt_json(top), "events": entries}

    def _parse_events(self, raw: Sequence[Any], *, batch: bool) -> list[EventInput]:
        out = []
        for i, obj in enumerate(raw):
            try:
                out.append(parse_event(obj))
            except InvalidFieldError as exc:
                self.metrics.rejected.labels(reason="invalid").inc(len(raw))
                raise exc.at_index(i) if batch else exc from None
        return out

    async def _authorize(
        self, ctx: RpcContext, events: Sequence[EventInput], *, batch: bool
    ) -> list[bytes]:
        """The submitter of each event: the token's address, or the signature's signer."""
        token_address: bytes | None = None
        authorization = ctx.headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise UnauthorizedError("Authorization header must be 'Bearer <token>'")
            token_address = self.config.tokens.get(hash_token(token.strip()))
            if token_address is None:
                raise UnauthorizedError("unknown bearer token")
        submitters: list[bytes | None] = [None] * len(events)
        signed: list[int] = []
        for i, ev in enumerate(events):
            if ev.signature is None:
                if token_address is None:
                    where = f"events[{i}]: " if batch else ""
                    self.metrics.rejected.labels(reason="unauthorized").inc(len(events))
                    raise UnauthorizedError(
                        f"{where}unsigned events need 'Authorization: Bearer <token>'"
                    )
                submitters[i] = token_address
            else:
                signed.append(i)
        if signed:
            try:
                recovered = await self._recover(events, signed)
            except InvalidFieldError as exc:
                self.metrics.rejected.labels(reason="signature").inc(len(events))
                # A lone event is not a batch: its error carries no index.
                raise exc if batch else type(exc)(exc.field, exc.reason) from None
            allow = self.config.allowlist
            for i, who in zip(signed, recovered, strict=True):
                if allow is not None and who not in allow:
                    where = f"events[{i}]: " if batch else ""
                    raise UnauthorizedError(f"{where}signer {hex0x(who)} is not allowed")
                submitters[i] = who
        return [s for s in submitters if s is not None]

    async def _recover(self, events: Sequence[EventInput], indices: list[int]) -> list[bytes]:
        """Recover signers; big batches on worker threads so the event loop keeps serving."""
        sep = self.domain.separator
        if len(indices) < _THREAD_RECOVERY_MIN:
            return _recover_chunk(sep, events, indices)
        size = -(-len(indices) // _RECOVERY_THREADS)
        chunks = [indices[k : k + size] for k in range(0, len(indices), size)]
        results: list[list[bytes]] = [[] for _ in chunks]
        errors: list[InvalidFieldError] = []

        async def run(k: int) -> None:
            try:
                results[k] = await trio.to_thread.run_sync(_recover_chunk, sep, events, chunks[k])
            except InvalidFieldError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            for k in range(len(chunks)):
                nursery.start_soon(run, k)
        if errors:
            raise min(errors, key=lambda e: e.index if e.index is not None else -1)
        return [who for chunk in results for who in chunk]

    def _receipt_json(self, receipt: Receipt) -> dict[str, Any]:
        return receipt_to_json(receipt, self.sequencer_address)


def _recover_chunk(sep: bytes, events: Sequence[EventInput], indices: Sequence[int]) -> list[bytes]:
    """Signer of each signed event; raises naming the first bad one. Pure CPU."""
    out = []
    for i in indices:
        ev = events[i]
        assert ev.signature is not None and ev.nonce is not None
        v, r, s = ev.signature
        digest = compute_event_digest(sep, ev.kind, ev.subject, ev.digest, ev.meta_hash, ev.nonce)
        try:
            who = recover_signer(digest, v, r, s)
        except InvalidFieldError as exc:
            raise exc.at_index(i) from None
        if ev.submitter is not None and who != ev.submitter:
            raise InvalidSignatureError(
                "signature",
                f"recovers to {hex0x(who)}, not the submitter {hex0x(ev.submitter)}",
                i,
            )
        out.append(who)
    return out


def _placed_json(p: Placed) -> dict[str, Any]:
    return {
        "seq": p.seq,
        "leafHash": hex0x(p.leaf_hash),
        "index": p.group_index,
        "path": list(p.path_hex),
    }

