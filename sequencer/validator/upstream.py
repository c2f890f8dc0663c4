"""The validator's upstreams: every call under a hard deadline and a size cap, every answer
parsed strictly, the upstreams ranked by how they behaved.

An upstream (the sequencer, or another follower) may be slow, down, broken or hostile. The
validator must never wait on one longer than `deadline_s`, never hold more than `max_bytes` of
one answer, never crash on what one answers, and never stop trying the others:

* **Deadline**: each HTTP exchange runs under `trio.fail_after(deadline_s)`, a cancel scope
  covering connect, send and the whole streamed read (a socket timeout restarts with every
  byte: an upstream dripping one byte every few seconds would never trip it). Cancelling the
  service (SIGTERM) cancels a call in flight at once: no thread is left blocked on a socket.
* **Size cap**: the body is read in chunks and the call fails as soon as it passes
  `max_bytes`; a compressed body is refused (its size says nothing of what it inflates to).
* **Strict answers**: the envelope through `prover.jsonrpc` (an error that is not an object, a
  code that is not an integer, a batch of non-objects or with ids missing: `UpstreamFault`),
  every field through `prover.wire` (integers must be JSON integers within range: ``1e30`` is a
  float and is refused).
* **Ranking**: `UpstreamPool.ranked` orders upstreams by strikes (a fault adds one, a lie
  three, a good answer takes one away), then by latency, then as configured: a slow or lying
  upstream is tried last, and one that mends its ways climbs back.

`pull` is one round of replication over the pool (docs/validator.md, "Replication").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
import orjson
import trio

from prover.errors import AttestError, ConsistencyProofError, InvalidFieldError
from prover.jsonrpc import JsonRpcError, MalformedResponseError, decode_result, index_batch, request
from prover.tree import verify_consistency
from prover.wire import hex0x, parse_hash32, parse_hashes, parse_uint
from sequencer.rpc.methods import MAX_FULL_BLOCKS_PER_BATCH
from sequencer.validator.replicate import Anchor, PulledBlock, Replica, UpstreamError, parse_block

log = logging.getLogger(__name__)

MAX_BLOCKS: Final[int] = MAX_FULL_BLOCKS_PER_BATCH
"""Blocks asked for in one batch: as many full blocks as a server answers in one body."""
MAX_ANSWER_BYTES: Final[int] = 32 * 2**20
"""Largest answer read from an upstream: a batch of `MAX_BLOCKS` compact blocks of 256 records
is about 3 MB of JSON (6 MB as event objects)."""
BLOCK_FORM: Final[str] = "records"
"""The `full` argument of the pull's `attest_getBlock` calls: the compact form (the records'
hex and metas, docs/spec.md §10.4), about a tenth of the upstream's work per record of the
event objects (docs/benchmarks.md §11). An upstream without it answers -32602 and is faulted
like one that does not serve the block."""
_STATUS_STRAGGLE_S: Final[float] = 0.3
"""How long the other upstreams' `attest_status` answers are awaited once one is ahead."""
_MAX_STRIKES: Final[int] = 20
_LIE_STRIKES: Final[int] = 3
"""A served block that fails its checks counts as three faults: it was an answer, not an
accident of the network."""


class UpstreamFault(AttestError):
    """One upstream failed one call: down, too slow, too large, malformed, or lying."""


@dataclass(slots=True)
class Upstream:
    """One configured upstream and how it has behaved."""

    url: str
    order: int
    """Its place in the configuration: the tie-breaker."""
    strikes: int = 0
    latency_s: float = 0.0
    """Moving average of the time a good answer took."""
    last_error: str | None = None

    def rank(self) -> tuple[int, float, int]:
        return (self.strikes, round(self.latency_s, 1), self.order)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "strikes": self.strikes,
            "latencyS": round(self.latency_s, 3),
            "lastError": self.last_error,
        }


class UpstreamPool:
    """The configured upstreams and one HTTP client for all of them."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        deadline_s: float = 5.0,
        max_bytes: int = MAX_ANSWER_BYTES,
        user_agent: str | None = None,
    ) -> None:
        if not urls:
            raise InvalidFieldError("sequencer", "give at least one upstream URL")
        for url in urls:
            if not url.startswith("http://"):
                raise InvalidFieldError(
                    "sequencer", f"only http:// URLs are supported, got {url!r}"
                )
        self.upstreams = [Upstream(u, i) for i, u in enumerate(urls)]
        self.deadline_s = deadline_s
        self.max_bytes = max_bytes
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if user_agent is not None:
            headers["User-Agent"] = user_agent
        # No httpx timeout: the deadline is a trio cancel scope around the whole exchange.
        self._client = httpx.AsyncClient(headers=headers, timeout=None)
        self._ids = 0

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.aclose()

    def ranked(self) -> list[Upstream]:
        """Best first: fewest strikes, then fastest, then as configured."""
        return sorted(self.upstreams, key=Upstream.rank)

    def fault(self, up: Upstream, why: str, *, lie: bool = False) -> None:
        up.strikes = min(_MAX_STRIKES, up.strikes + (_LIE_STRIKES if lie else 1))
        if why != up.last_error:
            log.warning("upstream %s: %s", up.url, why)
        up.last_error = why

    def good(self, up: Upstream, elapsed: float) -> None:
        up.strikes = max(0, up.strikes - 1)
        up.latency_s = elapsed if up.latency_s == 0 else 0.8 * up.latency_s + 0.2 * elapsed
        up.last_error = None

    # --- calls ---------------------------------------------------------------------------------

    async def _post(self, up: Upstream, message: Any) -> Any:
        """One HTTP exchange under the deadline and the size cap; the decoded JSON body."""
        body = orjson.dumps(message)
        chunks: list[bytes] = []
        try:
            with trio.fail_after(self.deadline_s):
                async with self._client.stream("POST", up.url, content=body) as resp:
                    encoding = resp.headers.get("content-encoding", "identity").lower()
                    if encoding != "identity":
                        raise UpstreamFault(f"answered with Content-Encoding {encoding!r}")
                    total = 0
                    async for chunk in resp.aiter_raw():
                        total += len(chunk)
                        # Verify the answer stays under the cap before keeping another byte.
                        if total > self.max_bytes:
                            raise UpstreamFault(f"answer larger than {self.max_bytes} bytes")
                        chunks.append(chunk)
        except trio.TooSlowError:
            raise UpstreamFault(f"no complete answer within {self.deadline_s:g} s") from None
        except (httpx.HTTPError, OSError) as exc:
            raise UpstreamFault(f"{type(exc).__name__}: {exc}") from None
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise UpstreamFault(
                f"HTTP {resp.status_code}: not JSON: {b''.join(chunks)[:80]!r}"
            ) from None

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    async def call(self, up: Upstream, method: str, *params: Any) -> Any:
        """One method's result; `JsonRpcError` for an error the upstream answered,
        `UpstreamFault` for anything that is not a JSON-RPC answer."""
        rid = self._next_id()
        answer = await self._post(up, request(method, list(params), rid))
        try:
            if isinstance(answer, dict) and answer.get("id") != rid:
                raise MalformedResponseError(f"answer id {answer.get('id')!r:.30} is not {rid}")
            return decode_result(answer)
        except MalformedResponseError as exc:
            raise UpstreamFault(str(exc)) from None

    async def batch(self, up: Upstream, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One JSON-RPC batch; each entry its result or the `JsonRpcError` answered for it."""
        first = self._ids + 1
        self._ids += len(calls)
        ids = range(first, first + len(calls))
        messages = [request(m, list(p), i) for i, (m, p) in zip(ids, calls, strict=True)]
        answers = await self._post(up, messages)
        try:
            by_id = index_batch(answers, ids)
            out: list[Any] = []
            for i in ids:
                try:
                    out.append(decode_result(by_id[i]))
                except JsonRpcError as exc:
                    out.append(exc)
            return out
        except MalformedResponseError as exc:
            raise UpstreamFault(str(exc)) from None

    async def latest_block(self, up: Upstream) -> int | None:
        """The upstream's latest sealed block number (None: none sealed)."""
        status = await self.call(up, "attest_status")
        if not isinstance(status, dict):
            raise UpstreamFault("attest_status: result is not an object")
        latest = status.get("latestBlock")
        if latest is None:
            return None
        if not isinstance(latest, dict):
            raise UpstreamFault("attest_status: latestBlock is not an object")
        try:
            return parse_uint(latest.get("number"), "latestBlock.number")
        except InvalidFieldError as exc:
            raise UpstreamFault(f"attest_status: {exc}") from None

    def status(self) -> list[dict[str, Any]]:
        return [u.to_json() for u in self.upstreams]


# --- one round of replication ------------------------------------------------------------------


async def pull(
    replica: Replica,
    pool: UpstreamPool,
    *,
    max_blocks: int = MAX_BLOCKS,
    form: str | bool = BLOCK_FORM,
) -> int:
    """Pull, check and store the next blocks from the best upstream that serves them; the number
    of blocks taken (0: no upstream offers more).

    Every upstream's latest block is asked for at once (each under its deadline); then those
    ahead of the replica are tried best-ranked first, each with its own claim, until one serves
    blocks that pass `Replica.ingest`. Raises `UpstreamError` when some upstream claims blocks
    beyond the replica but none served them correctly, or when none answered at all.
    `form` is the `attest_getBlock` form asked for (`BLOCK_FORM`; True, the event objects, for
    the benchmark's before-and-after).
    """
    nxt = replica.store.head.block_count
    latest: dict[int, int | None] = {}
    errors: list[str] = []

    wake = trio.Event()  # one upstream offers the next block, or every one has answered
    waiting = len(pool.upstreams)
    finished: set[int] = set()

    async def ask(up: Upstream) -> None:
        nonlocal waiting
        try:
            n = latest[up.order] = await pool.latest_block(up)
            if n is not None and n >= nxt:
                wake.set()
        except (UpstreamFault, JsonRpcError) as exc:
            pool.fault(up, f"attest_status: {exc}")
            errors.append(f"{up.url}: {exc}")
        finally:
            finished.add(up.order)
            waiting -= 1
            if waiting == 0:
                wake.set()

    async with trio.open_nursery() as nursery:
        for up in pool.upstreams:
            nursery.start_soon(ask, up)
        # Once one upstream offers the next block, the others get a moment more, not their
        # whole deadline: a stalled upstream must not slow every round down.
        await wake.wait()
        if waiting:
            await trio.sleep(_STATUS_STRAGGLE_S)
            nursery.cancel_scope.cancel()
    for up in pool.upstreams:
        if up.order not in finished:
            pool.fault(up, "attest_status: no answer while another upstream had answered")
    ahead = [u for u in pool.ranked() if (n := latest.get(u.order)) is not None and n >= nxt]
    if not ahead:
        if len(errors) == len(pool.upstreams):
            raise UpstreamError("no upstream answers attest_status: " + "; ".join(errors))
        return 0
    for up in ahead:
        claimed = latest[up.order]
        if claimed is None:
            raise AssertionError("an upstream without blocks is not ahead")
        count = min(max_blocks, claimed + 1 - nxt)
        started = trio.current_time()
        try:
            blocks = await _fetch_blocks(pool, up, nxt, count, form)
            anchor = await _anchor_for(pool, up, replica, blocks)
            # The one check step: headers, hashes, receipts or anchor, validity rules.
            taken = await trio.to_thread.run_sync(replica.ingest, blocks, anchor)
        except (UpstreamFault, JsonRpcError) as exc:
            pool.fault(up, str(exc))
            errors.append(f"{up.url}: {exc}")
            continue
        except (InvalidFieldError, UpstreamError) as exc:
            pool.fault(up, str(exc), lie=True)
            errors.append(f"{up.url}: {exc}")
            continue
        pool.good(up, trio.current_time() - started)
        replica.unavailable_since = None
        replica.last_error = None
        return taken
    await _find_contradiction(pool, replica, ahead)
    replica.last_error = "; ".join(errors)
    raise UpstreamError(f"block {nxt} (from seq {replica.size}) unavailable: {replica.last_error}")


async def _find_contradiction(
    pool: UpstreamPool, replica: Replica, upstreams: Sequence[Upstream]
) -> None:
    """When no upstream continues the replica short of the latest live checkpoint, ask them
    for a consistency proof from the replica's size to the checkpoint's: one that verifies
    against the L1 root from *another* root at the replica's size proves the replica's
    records contradict L1 (a tree has one root at each size that leads to a given later
    root, short of a keccak collision), whoever served it. Sets `Replica.contradicted`; the
    watcher then rolls the provisional records back (docs/validator.md, "Rollback"). A proof
    that does not verify proves nothing, and is ignored."""
    checkpoint = replica.checkpoint
    size = replica.size
    if checkpoint is None or not 0 < size < checkpoint[0] or replica.contradicted is not None:
        return
    cp_size, cp_root = checkpoint
    key = (size, cp_size, cp_root)
    if replica.contradiction_checked == key:
        return  # asked already for this replica size and checkpoint
    replica.contradiction_checked = key
    held = replica.store.root_at(size)
    for up in upstreams:
        try:
            answer = await pool.call(up, "attest_getConsistencyProof", size, cp_size)
            if not isinstance(answer, dict):
                raise UpstreamFault("attest_getConsistencyProof: result is not an object")
            theirs = parse_hash32(answer.get("firstRoot"), "firstRoot")
            proof = parse_hashes(answer.get("proof"), "proof")
        except (UpstreamFault, JsonRpcError, InvalidFieldError) as exc:
            log.info("upstream %s: no consistency proof to the checkpoint: %s", up.url, exc)
            continue
        if theirs == held:
            continue  # the same prefix: nothing contradicted (yet)
        try:
            verify_consistency(size, cp_size, theirs, cp_root, proof)
        except ConsistencyProofError:
            continue
        replica.contradicted = {
            "size": size,
            "heldRoot": hex0x(held),
            "committedRoot": hex0x(theirs),
            "checkpointSize": cp_size,
            "checkpointRoot": hex0x(cp_root),
            "upstream": up.url,
        }
        log.error(
            "the replica's %d records contradict the L1 checkpoint at size %d: %s proved "
            "another root at size %d leads to the committed one",
            size,
            cp_size,
            up.url,
            size,
        )
        return


async def _fetch_blocks(
    pool: UpstreamPool, up: Upstream, first: int, count: int, form: str | bool
) -> list[PulledBlock]:
    answers = await pool.batch(
        up, [("attest_getBlock", [n, form]) for n in range(first, first + count)]
    )
    blocks: list[PulledBlock] = []
    for answer in answers:
        if isinstance(answer, JsonRpcError):
            break
        blocks.append(parse_block(answer))
    if not blocks:
        raise UpstreamFault(f"block {first} not served")
    return blocks


async def _anchor_for(
    pool: UpstreamPool, up: Upstream, replica: Replica, blocks: Sequence[PulledBlock]
) -> Anchor | None:
    """The latest live checkpoint, with a consistency proof from the end of the last block of
    `blocks` it covers whole (when that is short of its size) to its size."""
    checkpoint = replica.checkpoint
    if checkpoint is None:
        return None
    size, root = checkpoint
    covered = [b for b in blocks if b.header.end <= size]
    if not covered:
        return Anchor(size, root)
    first = covered[-1].header.end
    if first == size:
        return Anchor(size, root, first, ())
    answer = await pool.call(up, "attest_getConsistencyProof", first, size)
    if not isinstance(answer, dict):
        raise UpstreamFault("attest_getConsistencyProof: result is not an object")
    return Anchor(size, root, first, parse_hashes(answer.get("proof"), "proof"))
