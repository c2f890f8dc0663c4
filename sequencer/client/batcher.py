"""`Batcher`: collect events from any number of threads and submit them in batches.

A batch leaves when it holds `max_events` events or its oldest event has waited `max_delay`
seconds, whichever comes first; `in_flight` sender threads keep that many batches on the
wire at once (one is verifying its answer while the next is in the sequencer's group
commit). Memory is bounded: at most `max_pending` events are buffered or in flight, and
`add` blocks (backpressure) until the sequencer's answers make room — an overloaded
sequencer (-32005) is waited out by the transport for as long as it asks (`retryAfterMs`),
so producers slow to what the sequencer can take instead of piling events up.

Every answer is verified (`sequencer.client.receipts`) before its events count as accepted.
Results go to callbacks, on a sender thread: ``on_accepted(accepted)`` with the verified
placements of one batch, ``on_error(events, exc)`` with the events of a batch that failed
(refused, unreachable after retries, or a receipt that does not verify). `submit` returns a
`concurrent.futures.Future` per event for callers that want one (it costs ~2 µs an event).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prover.errors import AttestError
from sequencer.client.receipts import Accepted
from sequencer.client.signing import Event

if TYPE_CHECKING:
    from sequencer.client.sync import Client


def check_batcher_limits(
    max_events: int, max_pending: int, in_flight: int, max_delay: float
) -> None:
    """The limits every batcher (`Batcher`, `AsyncBatcher`) needs to make progress."""
    if max_events < 1 or max_pending < max_events or in_flight < 1 or max_delay <= 0:
        raise ValueError(
            "need max_events >= 1, max_pending >= max_events, in_flight >= 1, max_delay > 0"
        )


@dataclass(slots=True)
class BatcherStats:
    """Counters since the batcher started."""

    accepted: int = 0
    failed: int = 0
    batches: int = 0


class BatcherClosedError(AttestError):
    """`add` after `close`."""


class Batcher:
    """See the module docstring. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        client: Client,
        *,
        max_events: int = 2000,
        max_delay: float = 0.05,
        max_pending: int = 20_000,
        in_flight: int = 2,
        on_accepted: Callable[[list[Accepted]], None] | None = None,
        on_error: Callable[[Sequence[Event | dict[str, Any]], BaseException], None] | None = None,
    ) -> None:
        check_batcher_limits(max_events, max_pending, in_flight, max_delay)
        self.client = client
        self.max_events = max_events
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.on_accepted = on_accepted
        self.on_error = on_error
        self.stats = BatcherStats()
        self._cv = threading.Condition()
        self._buf: list[Event | dict[str, Any]] = []
        self._futures: list[Future[Accepted] | None] = []
        self._has_futures = False
        self._first_at = 0.0
        self._pending = 0
        self._closed = False
        self._flushing = 0
        self._threads = [
            threading.Thread(target=self._run, name=f"attest-batcher-{i}", daemon=True)
            for i in range(in_flight)
        ]
        for t in self._threads:
            t.start()

    def __enter__(self) -> Batcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pending(self) -> int:
        """Events buffered or in flight."""
        return self._pending

    def add(self, event: Event | dict[str, Any]) -> None:
        """Queue one event (blocks while `max_pending` events are buffered or in flight)."""
        self._add(event, None)

    def submit(self, event: Event | dict[str, Any]) -> Future[Accepted]:
        """Queue one event; a future of its verified placement."""
        fut: Future[Accepted] = Future()
        self._add(event, fut)
        return fut

    def _add(self, event: Event | dict[str, Any], fut: Future[Accepted] | None) -> None:
        with self._cv:
            while self._pending >= self.max_pending and not self._closed:
                self._cv.wait()
            if self._closed:
                raise BatcherClosedError("the batcher is closed")
            if not self._buf:
                self._first_at = time.monotonic()
                self._cv.notify()  # a sender may be waiting with no deadline
            self._buf.append(event)
            self._futures.append(fut)
            if fut is not None:
                self._has_futures = True
            self._pending += 1
            if len(self._buf) >= self.max_events:
                self._cv.notify()

    def flush(self) -> None:
        """Send everything buffered now and wait until every event has been answered."""
        with self._cv:
            self._flushing += 1
            self._cv.notify_all()
            try:
                while self._pending:
                    self._cv.wait()
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Flush, then stop the sender threads."""
        self.flush()
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for t in self._threads:
            t.join()

    def _take(self) -> tuple[list[Event | dict[str, Any]], list[Future[Accepted] | None]] | None:
        with self._cv:
            while True:
                n = len(self._buf)
                if n:
                    waited = time.monotonic() - self._first_at
                    if (
                        n >= self.max_events
                        or waited >= self.max_delay
                        or self._flushing
                        or self._closed
                    ):
                        k = min(n, self.max_events)
                        batch, self._buf = self._buf[:k], self._buf[k:]
                        futs, self._futures = self._futures[:k], self._futures[k:]
                        if self._buf:
                            self._first_at = time.monotonic()
                            self._cv.notify()
                        return batch, futs
                    self._cv.wait(self.max_delay - waited)
                elif self._closed:
                    return None
                else:
                    self._cv.wait()

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            batch, futs = taken
            try:
                accepted = self.client.submit_batch(batch)
            except BaseException as exc:  # reported, never lost: the caller decides
                self.stats.failed += len(batch)
                for f in futs:
                    if f is not None:
                        f.set_exception(exc)
                if self.on_error is not None:
                    self.on_error(batch, exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                self.stats.accepted += len(accepted)
                for f, a in zip(futs, accepted, strict=True):
                    if f is not None:
                        f.set_result(a)
                if self.on_accepted is not None:
                    self.on_accepted(accepted)
            finally:
                with self._cv:
                    self.stats.batches += 1
                    self._pending -= len(batch)
                    self._cv.notify_all()
