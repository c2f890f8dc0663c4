"""The read methods the explorer's pages need beyond docs/spec.md §10 (`explorer_*`, like the
followers' `validator_*`: not protocol), and `install`, which gives a service its explorer.

Every method answers from memory or a bounded number of store reads (at most `MAX_LIST`
headers or index entries), so no page costs more at ten million records than at ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from prover.answers import block_json
from prover.errors import InvalidFieldError, NotFoundError
from prover.receipt import decode_receipt, receipt_to_json
from prover.wire import parse_address, parse_object, parse_uint
from sequencer.explorer.assets import asset_routes
from sequencer.explorer.live import PATH as LIVE_PATH
from sequencer.explorer.live import LiveFeed, dashboard_snapshot
from sequencer.explorer.stats import FollowerTracker, IngestSampler
from sequencer.rpc.http_server import Handler
from sequencer.rpc.jsonrpc import Dispatcher, RpcContext
from sequencer.rpc.methods import EXPLORER_METHODS, METHODS
from sequencer.rpc.read_api import ReadApi

MAX_LIST: Final = 100
DASHBOARD_BLOCKS: Final = 8
DASHBOARD_CHECKPOINTS: Final = 8


class ExplorerApi:
    """`explorer_dashboard`, `explorer_blocks`, `explorer_checkpoints`, `explorer_inbox`,
    `explorer_findBySubmitter`, `explorer_findUnsignedBySubmitter`, `explorer_receipt` over a
    `ReadApi` (sequencer or follower)."""

    def __init__(
        self, reads: ReadApi, role: str, sampler: IngestSampler, followers: FollowerTracker
    ) -> None:
        self.reads = reads
        self.store = reads.store
        self.role = role
        self.sampler = sampler
        self.followers = followers

    def _blocks(self, before: int, limit: int) -> list[dict[str, Any]]:
        first = max(0, before - limit)
        return [block_json(self.store.get_block(n)) for n in range(before - 1, first - 1, -1)]

    def _checkpoints(self, before: int | None, limit: int) -> list[dict[str, Any]]:
        """Known checkpoints with index < `before`, newest first."""
        view = self.reads.checkpoints
        if view is None:
            return []
        if before is None:
            # The newest known index: the latest live one, then any reverted ones after it.
            latest = view.checkpoint("latest")
            top = -1 if latest is None else int(latest["index"])
            while view.checkpoint(top + 1) is not None:
                top += 1
            before = top + 1
        out = []
        for index in range(before - 1, max(-1, before - 1 - limit), -1):
            cp = view.checkpoint(index)
            if cp is not None:
                out.append(cp)
        return out

    async def explorer_dashboard(self, ctx: RpcContext, since_ms: Any = 0) -> dict[str, Any]:
        """Everything the dashboard shows from this node, in one poll."""
        after = parse_uint(since_ms, "sinceMs")
        status = await self.reads.attest_status(ctx)
        count = self.store.head.block_count
        return {
            "role": self.role,
            "status": status,
            "blocks": self._blocks(count, DASHBOARD_BLOCKS),
            "checkpoints": self._checkpoints(None, DASHBOARD_CHECKPOINTS),
            "ingest": {"intervalS": self.sampler.interval_s, "samples": self.sampler.since(after)},
            "followers": self.followers.followers(count - 1 if count else None),
        }

    async def explorer_blocks(
        self, ctx: RpcContext, before: Any = None, limit: Any = 20
    ) -> dict[str, Any]:
        """Block headers below `before` (default: all sealed), newest first; `next` pages on."""
        count = self.store.head.block_count
        top = count if before is None else min(count, parse_uint(before, "before"))
        n = parse_uint(limit, "limit", maximum=MAX_LIST)
        if n == 0:
            raise InvalidFieldError("limit", "must be at least 1")
        blocks = self._blocks(top, n)
        return {
            "blocks": blocks,
            "next": blocks[-1]["number"] if blocks and blocks[-1]["number"] > 0 else None,
        }

    async def explorer_checkpoints(
        self, ctx: RpcContext, before: Any = None, limit: Any = 20
    ) -> dict[str, Any]:
        """Checkpoints this node knows below index `before`, newest first, with L1 status."""
        top = None if before is None else parse_uint(before, "before")
        n = parse_uint(limit, "limit", maximum=MAX_LIST)
        if n == 0:
            raise InvalidFieldError("limit", "must be at least 1")
        cps = self._checkpoints(top, n)
        return {
            "checkpoints": cps,
            "next": cps[-1]["index"] if cps and cps[-1]["index"] > 0 else None,
        }

    async def explorer_inbox(
        self, ctx: RpcContext, before: Any = None, limit: Any = 20
    ) -> dict[str, Any]:
        """The L1 forced-inclusion inbox as this sequencer follows it (docs/spec.md §7.3):
        entries below index `before`, newest first, each posted, included at a seq, or
        overdue; `available` is false on a node that follows no inbox (a follower)."""
        n = parse_uint(limit, "limit", maximum=MAX_LIST)
        if n == 0:
            raise InvalidFieldError("limit", "must be at least 1")
        forced = self.reads.forced
        if forced is None:
            return {"available": False, "count": 0, "entries": [], "next": None}
        count = forced.count()
        top = count if before is None else min(count, parse_uint(before, "before"))
        entries = [e for j in range(top - 1, max(-1, top - 1 - n), -1) if (e := forced.status(j))]
        return {
            "available": True,
            "count": count,
            "entries": entries,
            "next": entries[-1]["index"] if entries and entries[-1]["index"] > 0 else None,
        }

    async def explorer_findBySubmitter(
        self, ctx: RpcContext, submitter: Any, paging: Any = None
    ) -> dict[str, Any]:
        """Seqs of a submitter's signed events by ascending nonce; `next` (a nonce) pages on."""
        address = parse_address(submitter, "submitter")
        opts = parse_object(paging, "paging", ("after", "limit"))
        after = -1 if opts.get("after") is None else parse_uint(opts["after"], "paging.after")
        n = parse_uint(opts.get("limit", 100), "paging.limit", maximum=1000)
        if n == 0:
            raise InvalidFieldError("paging.limit", "must be at least 1")
        found = self.store.find_by_submitter(address, after_nonce=after, limit=n)
        return {
            "seqs": [seq for _nonce, seq in found],
            "nonces": [nonce for nonce, _seq in found],
            "next": found[-1][0] if len(found) == n else None,
        }

    async def explorer_findUnsignedBySubmitter(
        self, ctx: RpcContext, submitter: Any, paging: Any = None
    ) -> dict[str, Any]:
        """Seqs of the unsigned events vouched for under this address (docs/spec.md §3: the
        address the sequencer bound to the bearer token), ascending; `next` (a seq) pages on."""
        address = parse_address(submitter, "submitter")
        opts = parse_object(paging, "paging", ("after", "limit"))
        after = -1 if opts.get("after") is None else parse_uint(opts["after"], "paging.after")
        n = parse_uint(opts.get("limit", 100), "paging.limit", maximum=1000)
        if n == 0:
            raise InvalidFieldError("paging.limit", "must be at least 1")
        seqs = self.store.find_unsigned_by_submitter(address, after=after, limit=n)
        return {"seqs": seqs, "next": seqs[-1] if len(seqs) == n else None}

    async def explorer_receipt(self, ctx: RpcContext, seq: Any) -> dict[str, Any] | None:
        """The receipt signed for the group commit that wrote `seq`, or null where this node
        keeps none (a follower replicates blocks, not receipts)."""
        n = parse_uint(seq, "seq")
        if n >= self.store.head.tree_size:
            raise NotFoundError(f"no event at seq {n}: tree size is {self.store.head.tree_size}")
        try:
            raw = self.store.receipt_of_seq(n)
        except NotFoundError:
            return None
        return receipt_to_json(decode_receipt(raw), self.reads.sequencer_address)


@dataclass(frozen=True, slots=True)
class Explorer:
    """What a service needs to serve the explorer: its routes, and the sampler to start."""

    routes: dict[tuple[str, str], Handler]
    sampler: IngestSampler
    api: ExplorerApi
    live: LiveFeed


def install(dispatcher: Dispatcher, reads: ReadApi, role: str) -> Explorer:
    """Register the `explorer_*` methods on `dispatcher` and watch `reads` for followers;
    the caller adds `routes` to its HTTP handler (the pages, and the live dashboard's event
    stream) and starts `sampler.run` in its nursery (which also publishes to the stream)."""
    store = reads.store
    sampler = IngestSampler(lambda: store.head.tree_size)
    followers = FollowerTracker()
    reads.block_observer = followers.observe
    api = ExplorerApi(reads, role, sampler, followers)
    for name in EXPLORER_METHODS:
        params, summary, _result = METHODS[name]
        dispatcher.register(name, getattr(api, name), params=params, doc=summary)
    live = LiveFeed(dashboard_snapshot(api.explorer_dashboard))
    sampler.after_sample.append(live.publish)
    routes = {**asset_routes(), ("GET", LIVE_PATH): live.route}
    return Explorer(routes, sampler, api, live)
