"""The JSON-RPC methods of DESIGN §7, over the store and the writer.

Reads run directly on the event loop: a LevelDB point read or a short range scan costs a few
microseconds from the block cache, well under the cost of a hop to a worker thread, and the
store's reads never wait on the writer (LevelDB snapshots a consistent view per call). Writes
(fsync) and signature recovery (CPU, releases the GIL in libsecp256k1) run in worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

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
from sequencer.jsonrpc import RpcContext
from sequencer.metrics import Metrics
from sequencer.wire import (
    block_json,
    event_json,
    hex0x,
    parse_hash32,
    parse_object,
    parse_uint,
)
from sequencer.writer import Placed, Writer
from state_db.store import Store

log = logging.getLogger(__name__)

# Below this many signed events, recovering on the event loop is cheaper than a thread hop.
_THREAD_RECOVERY_MIN = 32
_RECOVERY_THREADS = 2  # one per core of the target machine; coincurve releases the GIL
_MAX_PAGE = 1000


class CheckpointView(Protocol):
    """The sequencer's record of its L1 checkpoints (arrives with the L1 committer)."""

    def checkpoint(self, which: str | int) -> dict[str, Any] | None:
        """`attest_getCheckpoint`'s answer for "latest", "finalized" or an index; None if none."""
        ...

    def l1_status(self) -> dict[str, Any] | None:
        """`attest_status`'s `l1` object."""
        ...


class RpcApi:
    """Every method of DESIGN §7. One instance per process."""

    def __init__(
        self,
        config: Config,
        store: Store,
        writer: Writer,
        metrics: Metrics,
        domain: Domain,
        sequencer_address: bytes,
        checkpoints: CheckpointView | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.writer = writer
        self.metrics = metrics
        self.domain = domain
        self.sequencer_address = sequencer_address
        self.checkpoints = checkpoints

    # --- ingest ----------------------------------------------------------------------------

    async def attest_submit(self, ctx: RpcContext, event: Any) -> dict[str, Any]:
        ev = self._parse_events([event], batch=False)[0]
        submitters = await self._authorize(ctx, [ev], batch=False)
        p = (await self.writer.submit([ev], submitters))[0]
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
        placed = await self.writer.submit(evs, submitters)
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

    # --- reads -----------------------------------------------------------------------------

    async def attest_getEvent(self, ctx: RpcContext, seq: Any) -> dict[str, Any]:
        n = self._existing_seq(seq)
        return self._event(n)

    def _event(self, seq: int) -> dict[str, Any]:
        store = self.store
        try:
            block: int | None = store.block_of_seq(seq).number
        except NotFoundError:
            block = None  # still in the open block
        return event_json(store.get_record(seq), store.get_leaf_hash(seq), store.get_meta(seq), block)

    def _existing_seq(self, value: Any, name: str = "seq") -> int:
        seq = parse_uint(value, name)
        size = self.store.head.tree_size
        if seq >= size:
            raise NotFoundError(f"no event at seq {seq}: tree size is {size}")
        return seq

    async def attest_getProof(
        self, ctx: RpcContext, seq: Any, options: Any = None
    ) -> dict[str, Any]:
        n = parse_uint(seq, "seq")
        opts = parse_object(options, "options", ("checkpoint",))
        checkpoint: dict[str, Any] | None = None
        if "checkpoint" in opts:
            checkpoint = self._checkpoint(opts["checkpoint"])
            tree_size = int(checkpoint["treeSize"])
        else:
            tree_size = self.store.head.tree_size
        if n >= tree_size:
            raise NotFoundError(f"seq {n} is not inside a tree of size {tree_size}")
        store = self.store
        return {
            "seq": n,
            "record": hex0x(store.get_record(n)),
            "leafHash": hex0x(store.get_leaf_hash(n)),
            "treeSize": tree_size,
            "root": hex0x(store.root_at(tree_size)),
            "proof": [hex0x(h) for h in store.inclusion_proof(n, tree_size)],
            "checkpoint": checkpoint,
        }

    async def attest_getConsistencyProof(
        self, ctx: RpcContext, first: Any, second: Any
    ) -> dict[str, Any]:
        m = parse_uint(first, "first")
        n = parse_uint(second, "second")
        size = self.store.head.tree_size
        if m > n:
            raise InvalidFieldError("first", f"must be at most second ({n}), got {m}")
        if n > size:
            raise NotFoundError(f"second size {n} is beyond the tree size {size}")
        store = self.store
        return {
            "first": m,
            "second": n,
            "firstRoot": hex0x(store.root_at(m)),
            "secondRoot": hex0x(store.root_at(n)),
            "proof": [hex0x(h) for h in store.consistency_proof(m, n)],
        }

    async def attest_getCheckpoint(self, ctx: RpcContext, which: Any = "latest") -> Any:
        if self.checkpoints is None:
            return None  # no L1 attached: checkpoint fields answer null
        if which in ("latest", "finalized"):
            return self.checkpoints.checkpoint(which)  # null while there is none yet
        return self._checkpoint(which)

    def _checkpoint(self, which: Any) -> dict[str, Any]:
        if not (which in ("latest", "finalized") or isinstance(which, int)):
            raise InvalidFieldError("checkpoint", 'must be "latest", "finalized" or an index')
        if isinstance(which, int):
            which = parse_uint(which, "checkpoint")
        found = self.checkpoints.checkpoint(which) if self.checkpoints is not None else None
        if found is None:
            raise NotFoundError(f"no {which} checkpoint on L1")
        return found

    async def attest_getBlock(
        self, ctx: RpcContext, number: Any = "latest", full: Any = False
    ) -> dict[str, Any]:
        count = self.store.head.block_count
        if number == "latest":
            if count == 0:
                raise NotFoundError("no block sealed yet")
            n = count - 1
        else:
            n = parse_uint(number, "number")
            if n >= count:
                raise NotFoundError(f"no block {n}: {count} blocks sealed")
        if not isinstance(full, bool):
            raise InvalidFieldError("full", "must be true or false")
        header = self.store.get_block(n)
        out = block_json(header)
        if full:
            store = self.store
            out["events"] = [
                event_json(rec, store.get_leaf_hash(seq), store.get_meta(seq), n)
                for seq, rec in enumerate(store.get_records(header.start, header.end), header.start)
            ]
        return out

    async def attest_findByDigest(
        self, ctx: RpcContext, digest: Any, paging: Any = None
    ) -> dict[str, Any]:
        return self._find(self.store.find_by_digest, parse_hash32(digest, "digest"), paging)

    async def attest_findBySubject(
        self, ctx: RpcContext, subject: Any, paging: Any = None
    ) -> dict[str, Any]:
        return self._find(self.store.find_by_subject, parse_hash32(subject, "subject"), paging)

    def _find(
        self, finder: Callable[..., list[int]], key: bytes, paging: Any
    ) -> dict[str, Any]:
        opts = parse_object(paging, "paging", ("after", "limit"))
        after = -1 if opts.get("after") is None else parse_uint(opts["after"], "paging.after")
        limit = parse_uint(opts.get("limit", 100), "paging.limit", maximum=_MAX_PAGE)
        if limit == 0:
            raise InvalidFieldError("paging.limit", "must be at least 1")
        seqs = finder(key, after=after, limit=limit)
        return {"seqs": seqs, "next": seqs[-1] if len(seqs) == limit else None}

    async def attest_status(self, ctx: RpcContext) -> dict[str, Any]:
        head = self.store.head
        latest = self.store.get_block(head.block_count - 1) if head.block_count else None
        l1 = self.checkpoints.l1_status() if self.checkpoints is not None else None
        lag: int | None = None
        if self.checkpoints is not None:
            cp = self.checkpoints.checkpoint("latest")
            lag = head.tree_size - (int(cp["treeSize"]) if cp is not None else 0)
        return {
            "treeSize": head.tree_size,
            "root": hex0x(head.root),
            "latestBlock": block_json(latest) if latest is not None else None,
            "eip712Domain": self.domain.to_json(),
            "sequencer": hex0x(self.sequencer_address),
            "l1": l1,
            "checkpointLag": lag,
        }


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
        "index": p.index,
        "path": [hex0x(h) for h in p.path],
    }

