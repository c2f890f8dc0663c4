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

`pull` is one round of replication over the pool (docs/validator.md, "Replication"): ranges of
blocks from the best upstream, each fetched while the one before it is checked and stored
(docs/validator.md, "The pipeline").
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import httpx
import orjson
import trio

from prover.errors import AttestError, ConsistencyProofError, InvalidFieldError
from prover.jsonrpc import JsonRpcError, MalformedResponseError, decode_result, index_batch, request
from prover.tree import verify_consistency
from prover.wire import hex0x, parse_hash32, parse_hashes, parse_uint
from sequencer.rpc.methods import MAX_FULL_BLOCKS_PER_BATCH
from sequencer.validator.replicate import (
    Anchor,
    PulledBlock,
    Replica,
    ReplicaMovedError,
    UpstreamError,
    parse_block,
)

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
PULL_RANGES: Final[int] = 16
"""Ranges (batches of up to `MAX_BLOCKS` blocks) one `pull` takes from one upstream, each
fetched while the one before it is checked and stored, before the round ends (and asks every
upstream's `attest_status` again): 16 x 16 blocks, about 65,000 records or 1 s of catching up."""
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
    faults: int = 0
    """Faults and lies counted since start (never decreases): a range fetched before it grew
    is not used."""
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
        # Upstreams are http:// only: a bare TLS context (no CA loaded, so any TLS would be
        # refused) instead of the default one, whose CA bundle takes ~100 ms to load.
        self._client = httpx.AsyncClient(
            headers=headers, timeout=None, verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        )
        self._ids = 0

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.aclose()

    def ranked(self) -> list[Upstream]:
        """Best first: fewest strikes, then fastest, then as configured."""
        return sorted(self.upstreams, key=Upstream.rank)

    def fault(self, up: Upstream, why: str, *, lie: bool = False) -> None:
        up.strikes = min(_MAX_STRIKES, up.strikes + (_LIE_STRIKES if lie else 1))
        up.faults += 1
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
        return _loads(*await self._post_raw(up, message))

    async def _post_raw(
        self, up: Upstream, message: Any, *, hold: trio.Event | None = None
    ) -> tuple[int, bytes]:
        """One HTTP exchange under the deadline and the size cap; the HTTP status and the
        body, not decoded (`_loads` decodes it). With `hold`, the body is read only once it
        is set (it waits in the socket buffers meanwhile, and the deadline with it)."""
        body = orjson.dumps(message)
        chunks: list[bytes] = []
        try:
            with trio.fail_after(self.deadline_s) as deadline:
                async with self._client.stream("POST", up.url, content=body) as resp:
                    encoding = resp.headers.get("content-encoding", "identity").lower()
                    if encoding != "identity":
                        raise UpstreamFault(f"answered with Content-Encoding {encoding!r}")
                    if hold is not None:
                        # The upstream is not waited for here, the caller is: its deadline
                        # stops while the body is held, and counts again once it is read.
                        held = trio.current_time()
                        await hold.wait()
                        deadline.deadline += trio.current_time() - held
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
        return resp.status_code, b"".join(chunks)

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _next_ids(self, count: int) -> range:
        first = self._ids + 1
        self._ids += count
        return range(first, first + count)

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
        ids = self._next_ids(len(calls))
        messages = [request(m, list(p), i) for i, (m, p) in zip(ids, calls, strict=True)]
        return _batch_results(await self._post(up, messages), ids)

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


# --- answers decoded off the event loop ---------------------------------------------------------


def _loads(status: int, body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamFault(f"HTTP {status}: not JSON: {body[:80]!r}") from None


def _batch_results(answers: Any, ids: range) -> list[Any]:
    """Each result of a batch answer to `ids`, or the `JsonRpcError` answered for it."""
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


def _decode_blocks(status: int, body: bytes, ids: range, first: int) -> list[PulledBlock]:
    """The blocks of an `attest_getBlock` batch answer, up to the first error (the upstream's
    end): `UpstreamFault` for a malformed envelope, `InvalidFieldError` for a malformed block.
    Pure CPU: run in a worker thread, so the event loop (the HTTP server, the watcher, the
    next range's fetch) is not held while a 3 MB answer is decoded."""
    blocks: list[PulledBlock] = []
    for answer in _batch_results(_loads(status, body), ids):
        if isinstance(answer, JsonRpcError):
            break
        blocks.append(parse_block(answer))
    if not blocks:
        raise UpstreamFault(f"block {first} not served")
    return blocks


# --- one round of replication ------------------------------------------------------------------


async def pull(
    replica: Replica,
    pool: UpstreamPool,
    *,
    max_blocks: int = MAX_BLOCKS,
    form: str | bool = BLOCK_FORM,
    max_ranges: int = PULL_RANGES,
    prefetch: bool = True,
) -> int:
    """Pull, check and store the next blocks from the best upstream that serves them; the number
    of blocks taken (0: no upstream offers more).

    Every upstream's latest block is asked for at once (each under its deadline); then those
    ahead of the replica are tried best-ranked first, each with its own claim, until one serves
    blocks that pass `Replica.ingest`. From that upstream up to `max_ranges` ranges of up to
    `max_blocks` blocks are taken, pipelined (`_take_ranges`: with `prefetch`, range k + 1 is
    fetched and decoded while range k is checked and stored). Raises `UpstreamError` when some
    upstream claims blocks beyond the replica but none served them correctly, or when none
    answered at all. `form` is the `attest_getBlock` form asked for (`BLOCK_FORM`; True, the
    event objects, for the benchmark's before-and-after).
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
    taken = 0
    for up in ahead:
        claimed = latest[up.order]
        if claimed is None:
            raise AssertionError("an upstream without blocks is not ahead")
        if claimed < replica.store.head.block_count:
            continue  # another upstream has served what this one offers
        got, faulted = await _take_ranges(
            replica, pool, up, claimed, errors, max_blocks, form, max_ranges if prefetch else 1,
            prefetch,
        )  # fmt: skip
        taken += got
        if not faulted:
            break  # served what it offered (or `max_ranges`), or the replica moved under it
    if taken:
        replica.unavailable_since = None
        replica.last_error = None
        return taken
    if not errors or replica.store.head.block_count != nxt:
        return 0  # the replica moved under the pull (a rollback): the next round starts anew
    await _find_contradiction(pool, replica, ahead)
    replica.last_error = "; ".join(errors)
    raise UpstreamError(f"block {nxt} (from seq {replica.size}) unavailable: {replica.last_error}")


class _Prefetch:
    """One range in flight from one upstream, in the pull's nursery: its `attest_getBlock`
    batch asked for at once (on the event loop, under the deadline and the size cap), the body
    read once `hold` is set (it waits in the socket buffers meanwhile), then decoded in a
    worker thread (abandoned on cancellation: it touches nothing but the answer). Its failure
    (a fault or a lie of the upstream) is kept, not raised into the nursery, until `result` is
    awaited; cancellation and bugs propagate as anywhere else."""

    def __init__(
        self,
        nursery: trio.Nursery,
        pool: UpstreamPool,
        up: Upstream,
        first: int,
        count: int,
        form: str | bool,
        hold: trio.Event | None = None,
    ) -> None:
        self.first = first
        self.count = count
        self.faults = up.faults
        """The upstream's fault count when the fetch began: a range fetched from an upstream
        since judged faulty is not used."""
        self.started = trio.current_time()
        self._done = trio.Event()
        self._blocks: list[PulledBlock] = []
        self._error: AttestError | None = None
        ids = pool._next_ids(count)
        messages = [
            request("attest_getBlock", [n, form], i)
            for n, i in zip(range(first, first + count), ids, strict=True)
        ]

        async def fetch() -> None:
            try:
                status, body = await pool._post_raw(up, messages, hold=hold)
                self._blocks = await trio.to_thread.run_sync(
                    _decode_blocks, status, body, ids, first, abandon_on_cancel=True
                )
            except (UpstreamFault, JsonRpcError, InvalidFieldError) as exc:
                self._error = exc
            self._done.set()

        nursery.start_soon(fetch)

    async def result(self) -> list[PulledBlock]:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._blocks


async def _take_ranges(
    replica: Replica,
    pool: UpstreamPool,
    up: Upstream,
    claimed: int,
    errors: list[str],
    max_blocks: int,
    form: str | bool,
    max_ranges: int,
    prefetch: bool,
) -> tuple[int, bool]:
    """Take up to `max_ranges` consecutive ranges from `up` (up to its claimed latest block
    `claimed`): the blocks taken, and whether `up` was found faulty (then the next upstream
    is tried from where the replica is now).

    The pipeline, at most one range ahead (docs/validator.md, "The pipeline"): as soon as range
    k has arrived, range k + 1 is asked for; the upstream serves it while range k is checked
    (`Replica.ingest`, in a worker thread), and its answer is read and decoded while range k's
    write batch goes to disk (`before_write`: the fsync lets the GIL go). Nothing fetched
    outlives this call (the nursery), so a range in flight is never used after the pull ends;
    and a fetched range is used only if

    * its upstream has not been judged faulty since the fetch began (`Upstream.faults`):
      range k failing its checks cancels range k + 1 before it is read;
    * range k was taken whole (range k + 1 was asked for from where range k should end);
    * it still continues the replica (`Replica.ingest`'s `expect`: a rollback by the watcher
      while it was in flight makes it stale, discarded without blaming the upstream).

    Every check of `Replica.ingest` applies to every range exactly as to a single one: the
    anchor is computed for each range from the checkpoint as it is when that range is
    ingested. A fault or lie is recorded against `up` here (and in `errors`) and ends the
    pipeline; the blocks already taken stay.
    """
    taken = 0
    head = replica.store.head
    expect = (head.block_count, head.last_block_hash)
    token = trio.lowlevel.current_trio_token()

    def range_at(nursery: trio.Nursery, start: int, hold: trio.Event | None = None) -> _Prefetch:
        count = min(max_blocks, claimed + 1 - start)
        return _Prefetch(nursery, pool, up, start, count, form, hold)

    async with trio.open_nursery() as nursery:
        pending: _Prefetch | None = range_at(nursery, expect[0])
        ranges = 0
        while pending is not None:
            current, pending = pending, None
            ranges += 1
            try:
                blocks = await current.result()
                if up.faults != current.faults:
                    # Judged faulty while this range was in flight (not by this pull, which
                    # stops at a fault): its answer is not used.
                    nursery.cancel_scope.cancel()
                    return taken, True
                after = current.first + current.count
                hold = trio.Event()
                if prefetch and ranges < max_ranges and after <= claimed:
                    # The next range is asked for now; it is checked only at its own ingest,
                    # exactly as this one. Its body is read once this one's checks are done
                    # (`hold`): read during them, every chunk would take the GIL from them.
                    pending = range_at(nursery, after, hold)
                anchor = await _anchor_for(pool, up, replica, blocks)
                # The one check step: headers, hashes, receipts or anchor, validity rules.
                got = await trio.to_thread.run_sync(
                    replica.ingest, blocks, anchor, expect, partial(token.run_sync_soon, hold.set)
                )
                hold.set()
            except ReplicaMovedError as exc:
                log.info("pull from %s: %s; the range fetched is dropped", up.url, exc)
                nursery.cancel_scope.cancel()
                return taken, False
            except (UpstreamFault, JsonRpcError, InvalidFieldError, UpstreamError) as exc:
                # Malformed or unserved: a fault; served but failing the checks: a lie.
                pool.fault(up, str(exc), lie=isinstance(exc, InvalidFieldError | UpstreamError))
                errors.append(f"{up.url}: {exc}")
                nursery.cancel_scope.cancel()
                return taken, True
            taken += got
            pool.good(up, trio.current_time() - current.started)
            if got < current.count:
                break  # served fewer than asked, or the rest failed: the next round asks again
            expect = (after, blocks[-1].block_hash)
        nursery.cancel_scope.cancel()
    return taken, False


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
