"""A minimal HTTP/1.1 server on trio for the JSON-RPC endpoint (DESIGN §7).

It serves small JSON requests over keep-alive connections and nothing else: one request at a
time per connection (pipelined requests are answered in order), `Content-Length` or chunked
bodies, no upgrades. Every connection is its own task in its listener's nursery; cancelling
`serve_http` stops accepting and cancels the connections.

Failure policy, per connection:

* malformed HTTP -> 400 (431 for oversized headers) and close;
* a body over `HttpLimits.max_body_bytes` -> 413 with a JSON-RPC-shaped -32006 body, and close;
* a request not fully read within `read_timeout_s` -> 408 and close;
* no new request within `idle_timeout_s` -> close silently (RFC 9112 §9.8 allows it);
* a handler exception -> logged with its traceback, 500 with a generic JSON body; the server and
  the connection keep serving.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

import h11
import orjson
import trio

from prover.errors import LimitExceededError
from sequencer import rpc_errors

logger = logging.getLogger(__name__)

#: Bytes asked of the kernel per receive; requests are small, bursts of pipelined ones are not.
RECEIVE_SIZE: Final = 65536

#: accept() errors that mean "out of resources, try again shortly" rather than a dead listener.
_ACCEPT_RETRY_ERRNOS: Final = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS, errno.ECONNABORTED}
)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Per-connection limits. Timeouts are applied as trio cancel scopes around the reads."""

    max_body_bytes: int = 8 * 1024 * 1024
    """Largest accepted request body; larger ones get 413 and the connection is closed."""
    max_header_bytes: int = 16 * 1024
    """Largest accepted request line plus headers; larger ones get 431 and close."""
    idle_timeout_s: float = 60.0
    """How long a keep-alive connection may wait for the first byte of its next request."""
    read_timeout_s: float = 30.0
    """How long a request may take to arrive in full once its first byte is in."""
    write_timeout_s: float = 30.0
    """How long sending one response may take (a client that never reads is dropped)."""

    def __post_init__(self) -> None:
        if self.max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be >= 0, got {self.max_body_bytes}")
        if self.max_header_bytes < 256:
            raise ValueError(f"max_header_bytes must be >= 256, got {self.max_header_bytes}")
        for name in ("idle_timeout_s", "read_timeout_s", "write_timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, fully read."""

    method: str
    """Upper-case method, e.g. ``"POST"``."""
    path: str
    """The request target as sent (origin form, e.g. ``"/"`` or ``"/health?x=1"``)."""
    headers: Mapping[str, str]
    """Header names lower-cased; repeated headers joined with ``", "`` (RFC 9110 §5.3)."""
    body: bytes
    """The whole body (de-chunked)."""
    client: tuple[str, int] | None
    """The peer's (host, port), when the socket knows it."""


@dataclass(frozen=True, slots=True)
class Response:
    """What a handler answers. `Content-Length`, `Date` and `Connection` are added by the server."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())
    """Extra headers, e.g. ``(("Retry-After", "1"),)``."""


Handler = Callable[[Request], Awaitable[Response]]


def _json_error_body(error: Mapping[str, object]) -> bytes:
    """A JSON-RPC 2.0 response envelope with id null, for errors found below JSON-RPC."""
    return orjson.dumps({"jsonrpc": "2.0", "error": error, "id": None})


INTERNAL_ERROR_BODY: Final = _json_error_body(
    {"code": rpc_errors.INTERNAL_ERROR, "message": rpc_errors.INTERNAL_MESSAGE}
)


def _bad_request_body(reason: str) -> bytes:
    return _json_error_body(
        {"code": rpc_errors.INVALID_REQUEST, "message": f"malformed HTTP request: {reason}"}
    )


def _too_large_body(limit: int, actual: int | None) -> bytes:
    exc = LimitExceededError("request body bytes", limit, actual)
    return _json_error_body(rpc_errors.error_object(exc))


class _DateCache:
    """RFC 9110 §6.6.1 `Date` value, formatted at most once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode("ascii")
        return self._value


_date = _DateCache()


async def serve_http(
    handler: Handler,
    host: str,
    port: int,
    *,
    limits: HttpLimits,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `handler` on `host:port` until cancelled.

    Start it with ``port = await nursery.start(serve_http, handler, host, 0, limits=...)``: the
    value is the bound port (the first listener's, when `host` resolves to several addresses).
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound: int = listeners[0].socket.getsockname()[1]
    logger.info("http listening host=%s port=%d", host, bound)
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept_loop, listener, handler, limits)
        task_status.started(bound)


async def _accept_loop(listener: trio.SocketListener, handler: Handler, limits: HttpLimits) -> None:
    """Accept connections on one listener; each connection runs in this listener's nursery."""
    async with listener, trio.open_nursery() as connections:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                    raise
                # Out of file descriptors or memory: back off instead of spinning, as
                # trio.serve_listeners does; existing connections keep running.
                logger.error("accept failed, retrying in 100 ms: %s", exc)
                await trio.sleep(0.1)
                continue
            # Small JSON answers must not wait for Nagle's algorithm (trio sets it too; this
            # states the requirement where it matters).
            stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            connections.start_soon(_serve_connection, stream, handler, limits)


def _peer(stream: trio.SocketStream) -> tuple[str, int] | None:
    try:
        name = stream.socket.getpeername()
    except OSError:
        return None
    if isinstance(name, tuple) and len(name) >= 2:
        return (str(name[0]), int(name[1]))
    return None


class _CloseConnection(Exception):
    """Internal: stop serving this connection (after an error response, EOF or a timeout)."""


async def _serve_connection(
    stream: trio.SocketStream, handler: Handler, limits: HttpLimits
) -> None:
    client = _peer(stream)
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
    try:
        async with stream:
            while True:
                request = await _read_request(stream, conn, limits, client)
                if request is None:
                    return
                response = await _call_handler(handler, request)
                await _send_response(stream, conn, limits, response, head=request.method == "HEAD")
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
    except _CloseConnection:
        return
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        # The peer reset the connection; nothing to answer.
        return


async def _receive_into(stream: trio.SocketStream, conn: h11.Connection) -> None:
    try:
        data = await stream.receive_some(RECEIVE_SIZE)
    except trio.BrokenResourceError:
        data = b""
    conn.receive_data(data)


async def _read_request(
    stream: trio.SocketStream,
    conn: h11.Connection,
    limits: HttpLimits,
    client: tuple[str, int] | None,
) -> Request | None:
    """The next complete request, or None when the peer closed or stayed idle too long."""
    # Idle keep-alive: wait for the first byte only, unless it is already buffered.
    if not conn.trailing_data[0]:
        with trio.move_on_after(limits.idle_timeout_s) as idle:
            await _receive_into(stream, conn)
        if idle.cancelled_caught:
            return None
    with trio.move_on_after(limits.read_timeout_s) as scope:
        try:
            return await _read_rest(stream, conn, limits, client)
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
            await _send_error(stream, conn, limits, status, _bad_request_body(str(exc)))
            raise _CloseConnection from exc
    if scope.cancelled_caught:
        await _send_error(
            stream, conn, limits, 408, _bad_request_body("request not received in time")
        )
        raise _CloseConnection
    raise AssertionError("unreachable: the read either returned, raised, or timed out")


async def _read_rest(
    stream: trio.SocketStream,
    conn: h11.Connection,
    limits: HttpLimits,
    client: tuple[str, int] | None,
) -> Request | None:
    head: h11.Request | None = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            await _receive_into(stream, conn)
            continue
        if isinstance(event, h11.ConnectionClosed):
            if head is not None:
                raise h11.RemoteProtocolError("connection closed inside a request", 400)
            return None
        if isinstance(event, h11.Request):
            head = event
            # h11 only bounds a head that arrives in pieces; bound a complete one here too.
            head_bytes = len(event.method) + len(event.target) + 12
            head_bytes += sum(len(k) + len(v) + 4 for k, v in event.headers)
            if head_bytes > limits.max_header_bytes:
                raise h11.RemoteProtocolError("request headers too large", 431)
            length = _declared_length(event)
            if length is not None and length > limits.max_body_bytes:
                await _send_error(
                    stream, conn, limits, 413, _too_large_body(limits.max_body_bytes, length)
                )
                raise _CloseConnection
            if conn.they_are_waiting_for_100_continue:
                # RFC 9110 §10.1.1: the client holds the body back until it sees 100.
                interim = conn.send(h11.InformationalResponse(status_code=100, headers=[]))
                await _send_all(stream, limits, interim or b"")
            continue
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limits.max_body_bytes:
                await _send_error(
                    stream, conn, limits, 413, _too_large_body(limits.max_body_bytes, None)
                )
                raise _CloseConnection
            chunks.append(bytes(event.data))
            continue
        if isinstance(event, h11.EndOfMessage):
            if head is None:
                raise AssertionError("h11 gave EndOfMessage before Request")
            headers: dict[str, str] = {}
            for raw_name, raw_value in head.headers:
                name = raw_name.decode("ascii")
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            return Request(
                method=head.method.decode("ascii"),
                path=head.target.decode("ascii", "replace"),
                headers=headers,
                body=b"".join(chunks),
                client=client,
            )
        # h11.PAUSED cannot happen here: we only read one request per cycle.
        raise AssertionError(f"unexpected h11 event {event!r}")


def _declared_length(head: h11.Request) -> int | None:
    for name, value in head.headers:
        if name == b"content-length":
            return int(value)
    return None


async def _call_handler(handler: Handler, request: Request) -> Response:
    try:
        return await handler(request)
    except Exception:
        # A handler bug must not take the server down; the traceback goes to the log only.
        logger.exception(
            "handler failed method=%s path=%s client=%s",
            request.method,
            request.path,
            request.client,
        )
        return Response(500, INTERNAL_ERROR_BODY)


def _response_headers(response: Response, length: int) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(length).encode("ascii")),
        (b"date", _date.get()),
    ]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers)
    return headers


async def _send_response(
    stream: trio.SocketStream,
    conn: h11.Connection,
    limits: HttpLimits,
    response: Response,
    *,
    head: bool = False,
) -> None:
    reason = _reason(response.status)
    data = conn.send(
        h11.Response(
            status_code=response.status,
            headers=_response_headers(response, len(response.body)),
            reason=reason,
        )
    )
    parts = [data or b""]
    if not head and response.body:
        parts.append(conn.send(h11.Data(data=response.body)) or b"")
    parts.append(conn.send(h11.EndOfMessage()) or b"")
    await _send_all(stream, limits, b"".join(parts))


async def _send_error(
    stream: trio.SocketStream, conn: h11.Connection, limits: HttpLimits, status: int, body: bytes
) -> None:
    """Answer `status` and mark the connection for closing, if a response can still be sent."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    response = Response(status, body, headers=(("Connection", "close"),))
    try:
        await _send_response(stream, conn, limits, response)
    except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        return


async def _send_all(stream: trio.SocketStream, limits: HttpLimits, data: bytes) -> None:
    with trio.move_on_after(limits.write_timeout_s) as scope:
        await stream.send_all(data)
    if scope.cancelled_caught:
        raise _CloseConnection


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""
