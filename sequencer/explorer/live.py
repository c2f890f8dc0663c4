"""The live dashboard as server-sent events: ``GET /explorer/live`` (text/event-stream).

One snapshot per sample (a second), computed once for every open stream, never per tab: after
each tree-size sample the feed builds the ``explorer_dashboard`` answer for the samples since
the previous one, encodes it as one ``event: dashboard`` message, and wakes the streams; each
stream sends the latest message (a stream that fell behind skips to it: nothing queues per
client). A new stream first gets the full answer (ten minutes of samples). With no stream open
the feed computes nothing.

Bounds, so that streams cannot take what ingest needs (think 1000 tabs that never read):

* at most `MAX_STREAMS` streams at once, and `MAX_STREAMS_PER_ADDRESS` per client address;
  beyond either, 503 with ``Retry-After`` (the page then falls back to polling
  ``explorer_dashboard``);
* the server sends at most one message per stream per second and holds no per-stream queue: a
  client that does not read fills its socket's send buffer (cut to
  `sequencer.rpc.http_server.STREAM_SEND_BUFFER`) and, once a write has been blocked
  for `STREAM_WRITE_TIMEOUT_S`, is dropped;
* a comment line (``: heartbeat``) goes out after `HEARTBEAT_S` without a message, so that
  proxies keep the stream open and a vanished client is noticed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
import trio

from sequencer.rpc.http_server import Request, Response, Write
from sequencer.rpc.jsonrpc import RpcContext

log = logging.getLogger(__name__)

MAX_STREAMS: Final = 100
MAX_STREAMS_PER_ADDRESS: Final = 8
HEARTBEAT_S: Final = 15.0
RETRY_MS: Final = 2000
"""The ``retry:`` field: how long a browser waits before reconnecting a dropped stream."""
PATH: Final = "/explorer/live"

Snapshot = Callable[[int], Awaitable[dict[str, Any]]]
"""``explorer_dashboard(sinceMs)``: the answer for the samples after `sinceMs`."""


def _message(answer: dict[str, Any]) -> bytes:
    return b"event: dashboard\ndata: " + orjson.dumps(answer) + b"\n\n"


class LiveFeed:
    """The dashboard's event stream: `publish` after each sample, `route` serves the streams."""

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        max_streams: int = MAX_STREAMS,
        max_per_address: int = MAX_STREAMS_PER_ADDRESS,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self._snapshot = snapshot
        self.max_streams = max_streams
        self.max_per_address = max_per_address
        self.heartbeat_s = heartbeat_s
        self.streams = 0
        self._by_address: dict[str, int] = {}
        self.version = 0
        self.message = b""
        self._changed = trio.Event()
        self._last_ms = 0
        self.refused = 0

    async def publish(self) -> None:
        """Build the snapshot since the last one and wake the streams (nothing when none)."""
        if not self.streams:
            self._last_ms = 0
            return
        answer = await self._snapshot(self._last_ms)
        samples = answer["ingest"]["samples"]
        if samples:
            self._last_ms = samples[-1][0]
        self.message = _message(answer)
        self.version += 1
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    def _refuse(self, why: str) -> Response:
        self.refused += 1
        body = orjson.dumps({"error": why, "poll": "explorer_dashboard"})
        return Response(503, body, headers=(("Retry-After", "10"),))

    async def route(self, request: Request) -> Response:
        """``GET /explorer/live``: a stream, or 503 when the caps are reached."""
        address = request.client[0] if request.client else ""
        if self.streams >= self.max_streams:
            return self._refuse(f"{self.max_streams} live streams are open: poll instead")
        if self._by_address.get(address, 0) >= self.max_per_address:
            return self._refuse(f"{self.max_per_address} live streams from {address}: poll instead")
        return Response(
            200,
            content_type="text/event-stream",
            headers=(("X-Accel-Buffering", "no"),),
            stream=lambda write: self._serve(address, write),
        )

    async def _serve(self, address: str, write: Write) -> None:
        # The slot is taken here, where the stream starts, and given back when it ends, however
        # it ends (client gone, write timeout, server stopping).
        if self.streams >= self.max_streams or self._by_address.get(address, 0) >= (
            self.max_per_address
        ):
            return  # lost a race for the last slot: the browser retries after RETRY_MS
        self.streams += 1
        self._by_address[address] = self._by_address.get(address, 0) + 1
        try:
            first = await self._snapshot(0)
            seen = self.version
            await write(b"retry: %d\n\n" % RETRY_MS + _message(first))
            while True:
                if self.version == seen:
                    with trio.move_on_after(self.heartbeat_s):
                        await self._changed.wait()
                if self.version == seen:
                    await write(b": heartbeat\n\n")
                    continue
                seen = self.version
                await write(self.message)
        finally:
            self.streams -= 1
            left = self._by_address[address] - 1
            if left:
                self._by_address[address] = left
            else:
                del self._by_address[address]


def dashboard_snapshot(
    dashboard: Callable[[RpcContext, Any], Awaitable[dict[str, Any]]],
) -> Snapshot:
    """A `Snapshot` from ``ExplorerApi.explorer_dashboard`` (called without an HTTP request)."""
    ctx = RpcContext(headers={}, client=None)

    async def snapshot(since_ms: int) -> dict[str, Any]:
        return await dashboard(ctx, since_ms)

    return snapshot
