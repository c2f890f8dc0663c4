"""`AsyncClient` and `AsyncBatcher`: the client for async services, under asyncio or trio.

Submissions and reads are native async (httpx.AsyncClient; anyio underneath, so the same
code runs in an asyncio or a trio program). Light-client verification (`verify`,
`wait_final`, `check`) is a handful of blocking reads of the server and of L1 done by the
blocking `Client` in a worker thread (`anyio.to_thread.run_sync`): it is rare, latency-bound
and identical to the blocking path, so it is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from prover.errors import InvalidFieldError, NotFinalError
from prover.light_client import Expectations, L1Checkpoint
from sequencer.client.batcher import check_batcher_limits
from sequencer.client.errors import UnreachableError
from sequencer.client.receipts import Accepted, verify_answer
from sequencer.client.results import CheckResult, EventInfo, Status, Verification, parse_status
from sequencer.client.signing import Event, EventSigner, EventSigning, NonceSource
from sequencer.client.sync import Client
from sequencer.client.transport import DEFAULT_RETRIES, AsyncTransport


class AsyncClient:
    """The async twin of `Client` (same arguments, same results, awaited)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        signer: EventSigner | None = None,
        timeout: float = 30.0,
        retries: int = DEFAULT_RETRIES,
        **light: Any,
    ) -> None:
        self.rpc = AsyncTransport(url, token=token, timeout=timeout, retries=retries)
        self.signer = signer
        self._nonces = NonceSource()
        # The blocking twin does the light-client work in a worker thread.
        self._sync = Client(
            url,
            token=token,
            signer=signer,
            timeout=timeout,
            retries=retries,
            nonces=self._nonces,
            **light,
        )
        self._status: Status | None = None
        self._signing: EventSigning | None = None
        self._receipt_signer: bytes | None = None

    async def aclose(self) -> None:
        await self.rpc.aclose()
        self._sync.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def status(self) -> Status:
        try:
            self._status = parse_status(await self.rpc.call("attest_status"))
        except InvalidFieldError as exc:
            raise UnreachableError(f"{self.rpc.url}: malformed attest_status: {exc}") from None
        return self._status

    async def _known(self) -> Status:
        return self._status if self._status is not None else await self.status()

    async def receipt_signer(self) -> bytes:
        if self._receipt_signer is None:
            self._receipt_signer = await anyio.to_thread.run_sync(self._sync.receipt_signer)
        return self._receipt_signer

    async def prepare(self, events: Sequence[Event | dict[str, Any]]) -> list[dict[str, Any]]:
        if self.signer is not None and self._signing is None:
            self._signing = EventSigning(self.signer, (await self._known()).domain, self._nonces)
        signing = self._signing
        if signing is None:
            return [ev if isinstance(ev, dict) else ev.wire() for ev in events]
        # Signing costs ~0.2 ms an event: a batch is signed in a worker thread, not on the loop.
        return await anyio.to_thread.run_sync(
            lambda: [ev if isinstance(ev, dict) else signing.sign(ev) for ev in events]
        )

    async def submit(self, event: Event | dict[str, Any]) -> Accepted:
        (wire,) = await self.prepare([event])
        answer = await self.rpc.call("attest_submit", wire, idempotent="signature" in wire)
        st = await self._known()
        (accepted,) = verify_answer(
            answer, 1, st.domain.separator, await self.receipt_signer(), batch=False
        )
        return accepted

    async def submit_batch(self, events: Sequence[Event | dict[str, Any]]) -> list[Accepted]:
        if not events:
            return []
        wires = await self.prepare(events)
        answer = await self.rpc.call(
            "attest_submitBatch", wires, idempotent=all("signature" in w for w in wires)
        )
        st = await self._known()
        return verify_answer(
            answer, len(wires), st.domain.separator, await self.receipt_signer(), batch=True
        )

    async def get_event(self, seq: int) -> EventInfo:
        return await anyio.to_thread.run_sync(self._sync.get_event, seq)

    async def verify(
        self, seq: int, expectations: Expectations | None = None, *, allow_pending: bool = False
    ) -> Verification:
        return await anyio.to_thread.run_sync(
            lambda: self._sync.verify(seq, expectations, allow_pending=allow_pending)
        )

    async def wait_anchored(self, seq: int, *, poll: float = 0.5) -> L1Checkpoint:
        """Wait until an L1 checkpoint (pending or final) covers `seq`. Bound the wait with a
        cancel scope (``with anyio.fail_after(120): ...``), as trio and anyio do timeouts."""
        while True:
            try:
                return await anyio.to_thread.run_sync(self._choose_pending, seq)
            except NotFinalError:
                await anyio.sleep(poll)

    def _choose_pending(self, seq: int) -> L1Checkpoint:
        l1 = self._sync.l1()
        assert l1 is not None
        return l1.choose(seq, allow_pending=True)

    async def wait_final(self, seq: int, *, poll: float = 1.0) -> Verification:
        """Wait until `seq` verifies under a final checkpoint (bound it with a cancel scope)."""
        while True:
            try:
                return await self.verify(seq)
            except NotFinalError:
                await anyio.sleep(poll)

    async def check(self, subject: bytes | str, digest: bytes | str, **kw: Any) -> CheckResult:
        return await anyio.to_thread.run_sync(lambda: self._sync.check(subject, digest, **kw))


class AsyncBatcher:
    """The `Batcher` for async code: ``async with AsyncBatcher(client) as b: await b.add(ev)``.

    `add` waits (backpressure) while `max_pending` events are buffered or in flight, and is
    otherwise a list append that never yields: the per-event path has no channel or semaphore
    (anyio's memory streams and semaphores cost a checkpoint each, which made this 4x slower).
    A collector task cuts batches at `max_events` or `max_delay`; up to `in_flight` batches are
    on the wire at once. Results go to `on_accepted(list[Accepted])` / `on_error(events, exc)`;
    on exit every event has been answered.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        max_events: int = 2000,
        max_delay: float = 0.05,
        max_pending: int = 20_000,
        in_flight: int = 2,
        on_accepted: Any = None,
        on_error: Any = None,
    ) -> None:
        check_batcher_limits(max_events, max_pending, in_flight, max_delay)
        self.client = client
        self.max_events = max_events
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.on_accepted = on_accepted
        self.on_error = on_error
        self.accepted = 0
        self.failed = 0
        self._buf: list[Event | dict[str, Any]] = []
        self._pending = 0
        self._closing = False
        self._wake = anyio.Event()
        """Set when the collector should look at the buffer (first event, full batch, close)."""
        self._room = anyio.Event()
        """Set when answers made room below `max_pending`."""
        self._senders = anyio.Semaphore(in_flight)
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> AsyncBatcher:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._collect)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        self._closing = True
        self._wake.set()
        assert self._tg is not None
        return await self._tg.__aexit__(et, e, tb)

    @property
    def pending(self) -> int:
        """Events buffered or in flight."""
        return self._pending

    async def add(self, event: Event | dict[str, Any]) -> None:
        """Queue one event; waits only while `max_pending` events are buffered or in flight."""
        while self._pending >= self.max_pending:
            if self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()
        self._buf.append(event)
        self._pending += 1
        n = len(self._buf)
        if n == 1 or n >= self.max_events:
            self._wake.set()

    async def _collect(self) -> None:
        assert self._tg is not None
        while True:
            if not self._buf:
                if self._closing:
                    return
                self._wake = anyio.Event()
                await self._wake.wait()
                continue
            if len(self._buf) < self.max_events and not self._closing:
                # Wait for a full batch, at most max_delay after this batch's first event.
                self._wake = anyio.Event()
                with anyio.move_on_after(self.max_delay):
                    while len(self._buf) < self.max_events and not self._closing:
                        await self._wake.wait()
                        self._wake = anyio.Event()
            batch, self._buf = self._buf[: self.max_events], self._buf[self.max_events :]
            await self._senders.acquire()
            self._tg.start_soon(self._send_batch, batch)

    async def _send_batch(self, batch: list[Event | dict[str, Any]]) -> None:
        try:
            accepted = await self.client.submit_batch(batch)
        except Exception as exc:  # reported to the caller, never lost
            self.failed += len(batch)
            if self.on_error is not None:
                self.on_error(batch, exc)
        else:
            self.accepted += len(accepted)
            if self.on_accepted is not None:
                self.on_accepted(accepted)
        finally:
            self._senders.release()
            self._pending -= len(batch)
            self._room.set()
