"""The read methods of docs/spec.md §10, over any store: the sequencer's, or a follower's replica.

Reads run directly on the event loop: a LevelDB point read or a short range scan costs a few
microseconds from the block cache, well under the cost of a hop to a worker thread, and the
store's reads never wait on the writer (they see only durable state).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from prover.answers import block_json, block_records_json, event_json
from prover.block import BlockHeader
from prover.eip712 import Domain
from prover.errors import InvalidFieldError, NotFoundError
from prover.wire import hex0x, parse_hash32, parse_object, parse_uint
from sequencer.rpc.jsonrpc import RpcContext
from state_db.store import Store

_MAX_PAGE = 1000


class CheckpointView(Protocol):
    """The sequencer's record of its L1 checkpoints (arrives with the L1 committer)."""

    def checkpoint(self, which: str | int) -> dict[str, Any] | None:
        """`attest_getCheckpoint`'s answer for "latest", "finalized" or an index; None if none."""
        ...

    def l1_status(self) -> dict[str, Any] | None:
        """`attest_status`'s `l1` object."""
        ...


class ForcedView(Protocol):
    """The L1 forced-inclusion inbox as the sequencer follows it (`sequencer.node.forced`):
    what `attest_getForced` and the explorer's inbox read."""

    def count(self) -> int: ...

    def status(self, index: int, now: float | None = None) -> dict[str, Any] | None: ...

    def proven_on_l1(self, index: int) -> tuple[int, int] | None: ...


class ReadApi:
    """`attest_getEvent`, `getProof`, `getConsistencyProof`, `getCheckpoint`, `getBlock`,
    `findByDigest`, `findBySubject`, `findByLeafHash` and `status`: everything a follower can
    serve too."""

    def __init__(
        self,
        store: Store,
        domain: Domain,
        sequencer_address: bytes,
        checkpoints: CheckpointView | None = None,
    ) -> None:
        self.store = store
        self.domain = domain
        self.sequencer_address = sequencer_address
        self.checkpoints = checkpoints
        self.forced: ForcedView | None = None
        """The L1 inbox follower, on a sequencer with an L1 attached (followers have none)."""
        self.block_observer: Callable[[RpcContext, int], None] | None = None
        """Told of every block served with its events (a follower replicating): the explorer
        keeps the followers it saw and how far behind they are."""

    # --- reads -----------------------------------------------------------------------------

    def _check_served(self, start: int, end: int) -> None:
        """Hook for records this node will not serve (the sequencer's withhold-data fault)."""

    def _block_receipt(self, header: BlockHeader, leaves: Sequence[bytes]) -> dict[str, Any] | None:
        """Hook: the sequencer's signed receipt over exactly a block's records (docs/spec.md §6,
        "Block receipts"), or None where the node holds no sequencer key (a follower)."""
        return None

    async def attest_getEvent(self, ctx: RpcContext, seq: Any) -> dict[str, Any]:
        n = self._existing_seq(seq)
        self._check_served(n, n + 1)
        return self._event(n)

    def _event(self, seq: int) -> dict[str, Any]:
        store = self.store
        try:
            block: int | None = store.block_of_seq(seq).number
        except NotFoundError:
            block = None  # still in the open block
        return event_json(
            store.get_record(seq), store.get_leaf_hash(seq), store.get_meta(seq), block
        )

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
        self._check_served(n, n + 1)
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
        if not isinstance(full, bool) and full != "records":
            raise InvalidFieldError("full", 'must be true, false or "records"')
        header = self.store.get_block(n)
        self._check_served(header.start, header.end)
        if full == "records":
            return self._compact_block(ctx, header)
        out = block_json(header)
        if full:
            if self.block_observer is not None:
                self.block_observer(ctx, n)
            store = self.store
            leaves = [store.get_leaf_hash(seq) for seq in range(header.start, header.end)]
            out["events"] = [
                event_json(rec, leaf, store.get_meta(seq), n)
                for (seq, rec), leaf in zip(
                    enumerate(store.get_records(header.start, header.end), header.start),
                    leaves,
                    strict=True,
                )
            ]
            receipt = self._block_receipt(header, leaves)
            if receipt is not None:
                out["receipt"] = receipt
        return out

    def _compact_block(self, ctx: RpcContext, header: BlockHeader) -> dict[str, Any]:
        """`attest_getBlock(n, "records")`: the header, the records' hex, the metas and the
        receipt; what a follower replicates from (docs/spec.md §10.4), without building the
        event objects (a tenth of the upstream's work per record, docs/benchmarks.md §11)."""
        if self.block_observer is not None:
            self.block_observer(ctx, header.number)
        store = self.store
        start, end = header.start, header.end
        records = store.get_records(start, end)
        metas = store.get_metas(start, end)
        out = block_records_json(header, records, metas)
        receipt = self._block_receipt(header, store.read_nodes([(0, s) for s in range(start, end)]))
        if receipt is not None:
            out["receipt"] = receipt
        return out

    async def attest_findByDigest(
        self, ctx: RpcContext, digest: Any, paging: Any = None
    ) -> dict[str, Any]:
        return self._find(self.store.find_by_digest, parse_hash32(digest, "digest"), paging)

    async def attest_findBySubject(
        self, ctx: RpcContext, subject: Any, paging: Any = None
    ) -> dict[str, Any]:
        return self._find(self.store.find_by_subject, parse_hash32(subject, "subject"), paging)

    async def attest_findByLeafHash(
        self, ctx: RpcContext, leaf_hash: Any, paging: Any = None
    ) -> dict[str, Any]:
        return self._find(self.store.find_by_leaf_hash, parse_hash32(leaf_hash, "leafHash"), paging)

    def _find(self, finder: Callable[..., list[int]], key: bytes, paging: Any) -> dict[str, Any]:
        opts = parse_object(paging, "paging", ("after", "limit"))
        after = -1 if opts.get("after") is None else parse_uint(opts["after"], "paging.after")
        limit = parse_uint(opts.get("limit", 100), "paging.limit", maximum=_MAX_PAGE)
        if limit == 0:
            raise InvalidFieldError("paging.limit", "must be at least 1")
        seqs = finder(key, after=after, limit=limit)
        return {"seqs": seqs, "next": seqs[-1] if len(seqs) == limit else None}

    async def attest_status(self, ctx: RpcContext) -> dict[str, Any]:
        return self.status_now()

    def status_now(self) -> dict[str, Any]:
        """`attest_status`'s answer (also what the HTTP front process is sent to answer it)."""
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
