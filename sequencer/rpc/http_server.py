"""A minimal HTTP/1.1 server on trio for the JSON-RPC endpoint (docs/spec.md §10).

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
  the connection keep serving;
* a response the client does not read within `write_timeout_s` -> close.

Why hand-rolled rather than h11: measured with `python -m bench.bench_http` (tiny JSON-RPC
calls, keep-alive, server CPU time per request, which unlike requests/s does not depend on
what else the shared 2-core machine runs): h11 on trio's SocketStream 150-170 µs; this parser
on SocketStream 70-77 µs; on raw non-blocking syscalls with one cancel scope per connection
55-70 µs; with deadlines armed only when a phase waits 37-60 µs. Best requests/s seen on a
quiet moment: about 16k on 1-4 connections, against about 5.6k for h11.

The parser covers exactly RFC 9112 request framing (request line, field lines, Content-Length,
chunked, Expect: 100-continue, the keep-alive rules of 1.0 and 1.1) and rejects what it does
not support (obs-fold, other transfer codings, Content-Length together with chunked).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

import orjson
import trio

from prover.errors import LimitExceededError, UsageError
from prover.jsonrpc import error_response
from sequencer.rpc import errors as rpc_errors

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
    return orjson.dumps(error_response(None, error))


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
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        # In use, not an address of this machine, a privileged port, an unknown host name:
        # all fixed by the operator, so one line, not a traceback (`sequencer/cli.py`).
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None
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


class _HttpError(Exception):
    """Internal: the request is malformed; answer `status` and close the connection."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        super().__init__(status)


class _Closed(Exception):
    """Internal: stop serving this connection without answering (EOF, idle, write timeout)."""


def _bad(reason: str, status: int = 400) -> _HttpError:
    return _HttpError(status, _bad_request_body(reason))


# RFC 9110 §5.6.2 token, RFC 9110 §5.5 field value (visible characters, inner spaces and tabs,
# obs-text), RFC 9112 §3.2 request target (visible ASCII, no spaces).
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_LINE: Final = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*"
    rb"((?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?)[ \t]*"
)
_TARGET: Final = re.compile(rb"[\x21-\x7e]+")
_CHUNK_SIZE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")
#: Longest chunk-size line (with extensions) accepted.
_MAX_CHUNK_LINE: Final = 1024
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES: Final = frozenset({204, 304})


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


_STATUS_LINES: Final = {s.value: _status_line(s.value) for s in HTTPStatus}


@dataclass(frozen=True, slots=True)
class _Head:
    """A parsed request line and header section (RFC 9112 §2.1)."""

    method: str
    target: str
    http10: bool
    headers: dict[str, str]
    content_length: int | None
    chunked: bool
    keep_alive: bool
    expect_continue: bool


def _parse_head(head: bytes) -> _Head:
    """Parse request line and fields; raises `_HttpError` naming what is malformed."""
    lines = head.split(b"\r\n")
    # Verify the request line: method SP request-target SP HTTP-version (RFC 9112 §3).
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise _bad("request line must be 'METHOD target HTTP/1.1'")
    method, target, version = parts
    if version == b"HTTP/1.1":
        http10 = False
    elif version == b"HTTP/1.0":
        http10 = True
    else:
        raise _bad(f"unsupported HTTP version {version[:20]!r}", 505)
    if not _TOKEN.fullmatch(method):
        raise _bad("request method is not a token")
    if not _TARGET.fullmatch(target):
        raise _bad("request target must be visible ASCII")
    headers: dict[str, str] = {}
    hosts = 0
    for line in lines[1:]:
        # Verify each field line; obs-fold and whitespace before the colon are rejected
        # (RFC 9112 §5.1, §5.2), as is any stray CR or LF.
        match = _FIELD_LINE.fullmatch(line)
        if match is None:
            raise _bad(f"malformed header line {line[:40]!r}")
        name = match[1].decode("ascii").lower()
        value = match[2].decode("latin-1")
        if name == "host":
            hosts += 1
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous}, {value}"
    # Verify Host: exactly one in HTTP/1.1 (RFC 9112 §3.2).
    if hosts > 1 or (hosts == 0 and not http10):
        raise _bad("an HTTP/1.1 request needs exactly one Host header")
    content_length: int | None = None
    raw_length = headers.get("content-length")
    if raw_length is not None:
        # Verify Content-Length: digits only; repeated copies must agree (RFC 9112 §6.3).
        values = {v.strip() for v in raw_length.split(",")}
        if len(values) != 1:
            raise _bad("conflicting Content-Length values")
        (only,) = values
        if not (only.isdigit() and only.isascii() and len(only) <= 18):
            raise _bad("Content-Length must be a decimal number")
        content_length = int(only)
    chunked = False
    raw_te = headers.get("transfer-encoding")
    if raw_te is not None:
        # Both framings at once is how requests get smuggled (RFC 9112 §6.1): refuse it.
        if content_length is not None:
            raise _bad("both Transfer-Encoding and Content-Length")
        if http10:
            raise _bad("Transfer-Encoding is not defined for HTTP/1.0")
        if raw_te.strip().lower() != "chunked":
            raise _bad("only Transfer-Encoding: chunked is supported", 501)
        chunked = True
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in tokens if http10 else "close" not in tokens
    expect = headers.get("expect")
    expect_continue = not http10 and expect is not None and expect.lower() == "100-continue"
    return _Head(
        method=method.decode("ascii"),
        target=target.decode("ascii"),
        http10=http10,
        headers=headers,
        content_length=content_length,
        chunked=chunked,
        keep_alive=keep_alive,
        expect_continue=expect_continue,
    )


# Phases of a connection, which say what a passed deadline means (see `_Connection.serve`).
_IDLE: Final = 0
_READ: Final = 1
_HANDLER: Final = 2
_WRITE: Final = 3

#: After an error answer, how long and how much of the client's unread input is drained before
#: closing, so that the kernel does not reset the connection before the answer is read.
_LINGER_S: Final = 1.0
_LINGER_BYTES: Final = 1 << 20


class _Connection:
    """One client connection: a receive buffer and the request/response loop.

    Hot-path notes (measured, see bench/bench_http.py): the socket is used through plain
    non-blocking syscalls, waiting with `trio.lowlevel.wait_readable`/`wait_writable` only when
    the kernel says it would block, and all four timeouts share one cancel scope whose deadline
    moves with the phase. trio's SocketStream yields to the scheduler on every call and a fresh
    cancel scope per read costs about as much as parsing the request; so instead this loop
    yields once per request (at the latest), which keeps the connections fair and cancellable.
    """

    __slots__ = (
        "_armed",
        "_buf",
        "_client",
        "_handler",
        "_limits",
        "_phase",
        "_scope",
        "_sock",
        "_timeouts",
        "_waited",
    )

    def __init__(
        self,
        sock: socket.socket,
        client: tuple[str, int] | None,
        handler: Handler,
        limits: HttpLimits,
    ) -> None:
        self._sock = sock
        self._client = client
        self._handler = handler
        self._limits = limits
        self._buf = bytearray()
        self._scope = trio.CancelScope()
        self._phase = _IDLE
        self._armed = False
        self._waited = False
        # Indexed by phase; the handler phase has no deadline of ours.
        self._timeouts = (
            limits.idle_timeout_s,
            limits.read_timeout_s,
            math.inf,
            limits.write_timeout_s,
        )

    async def serve(self) -> None:
        scope = self._scope
        with scope:
            try:
                await self._loop()
            except _HttpError as exc:
                self._enter(_WRITE)
                with contextlib.suppress(_Closed, OSError):
                    await self._send(exc.status, exc.body, "application/json", (), False, False)
                    await self._linger()
            except (_Closed, OSError):
                # EOF, a reset from the peer.
                return
        if scope.cancelled_caught and self._phase == _READ:
            # The read deadline passed with a request half in: answer 408 (RFC 9110 §15.5.9)
            # under a fresh write deadline, then close. Past any other deadline (idle, write)
            # the connection is just closed.
            deadline = trio.current_time() + self._limits.write_timeout_s
            self._scope = trio.CancelScope(deadline=deadline)
            self._phase = _WRITE
            self._armed = True  # the fresh scope already carries the write deadline
            with self._scope, contextlib.suppress(_Closed, OSError):
                body = _bad_request_body("request not received in time")
                await self._send(408, body, "application/json", (), False, False)

    def _enter(self, phase: int) -> None:
        """Start `phase`; its deadline is armed only if it has to wait (see `_arm`)."""
        self._phase = phase
        if self._armed:
            self._scope.deadline = math.inf
            self._armed = False

    def _arm(self) -> None:
        """Set the current phase's deadline, the first time the phase has to wait.

        Most requests arrive whole and most answers fit the socket buffer, so most phases never
        wait; moving a deadline costs about as much as parsing a request, so it is done lazily.
        A phase's deadline is fixed from its first wait: a client dripping bytes cannot
        extend it.
        """
        if not self._armed:
            self._scope.deadline = trio.current_time() + self._timeouts[self._phase]
            self._armed = True

    async def _loop(self) -> None:
        while True:
            self._waited = False
            if not self._buf:
                # Idle keep-alive: wait for the first byte of the next request, unless a
                # pipelined one is already buffered.
                self._enter(_IDLE)
                await self._receive()
            self._enter(_READ)
            head, body = await self._read_request()
            # The handler keeps its own deadlines (STYLE rule 7: at the RPC and L1 edges).
            self._enter(_HANDLER)
            request = Request(head.method, head.target, head.headers, body, self._client)
            response = await _call_handler(self._handler, request)
            keep_alive = head.keep_alive and not _asks_to_close(response)
            self._enter(_WRITE)
            await self._send(
                response.status,
                response.body,
                response.content_type,
                response.headers,
                keep_alive,
                head.method == "HEAD",
                http10_keep_alive=head.http10 and keep_alive,
            )
            if not keep_alive:
                return
            if not self._waited:
                # Nothing in this cycle blocked (a pipelining client, a handler that never
                # awaits): yield so other connections run and cancellation is seen.
                await trio.lowlevel.checkpoint()

    async def _receive(self) -> None:
        """Append what the socket has, waiting if it has nothing; `_Closed` on EOF."""
        sock = self._sock
        while True:
            try:
                data = sock.recv(RECEIVE_SIZE)
            except BlockingIOError:
                self._waited = True
                self._arm()
                await trio.lowlevel.wait_readable(sock)
                continue
            if not data:
                raise _Closed
            self._buf += data
            return

    async def _send_all(self, data: bytes) -> None:
        sock = self._sock
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                self._waited = True
                self._arm()
                await trio.lowlevel.wait_writable(sock)
                continue
            view = view[sent:]

    async def _linger(self) -> None:
        """Half-close, then drain the client's unread input for a moment (RFC 9112 §9.6).

        Closing a socket with unread input makes the kernel send RST, which can destroy the
        error answer before the client reads it (e.g. a 413 while the body is still coming).
        """
        self._enter(_HANDLER)  # no deadline of the connection: the linger has its own
        with contextlib.suppress(OSError), trio.move_on_after(_LINGER_S):
            self._sock.shutdown(socket.SHUT_WR)
            drained = 0
            while drained < _LINGER_BYTES:
                try:
                    data = self._sock.recv(RECEIVE_SIZE)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self._sock)
                    continue
                if not data:
                    return
                drained += len(data)

    async def _read_request(self) -> tuple[_Head, bytes]:
        buf = self._buf
        limit = self._limits.max_header_bytes
        # RFC 9112 §2.2: ignore empty lines before the request line.
        while buf.startswith(b"\r\n"):
            del buf[:2]
        scan_from = 0
        while (end := buf.find(b"\r\n\r\n", scan_from)) < 0:
            if len(buf) > limit:
                raise _bad("request headers too large", 431)
            scan_from = max(0, len(buf) - 3)
            await self._receive()
            while buf.startswith(b"\r\n"):
                del buf[:2]
        if end > limit:
            raise _bad("request headers too large", 431)
        head = _parse_head(bytes(buf[:end]))
        del buf[: end + 4]
        max_body = self._limits.max_body_bytes
        if head.content_length is not None and head.content_length > max_body:
            raise _HttpError(413, _too_large_body(max_body, head.content_length))
        # RFC 9110 §10.1.1: a client that sent Expect: 100-continue holds the body back until
        # it sees 100 (or a final status, e.g. the 413 above).
        needs_body = head.chunked or (head.content_length or 0) > len(buf)
        if head.expect_continue and needs_body:
            await self._send_all(_CONTINUE)
        if head.chunked:
            return head, await self._read_chunked()
        length = head.content_length or 0
        while len(buf) < length:
            await self._receive()
        body = bytes(buf[:length])
        del buf[:length]
        return head, body

    async def _read_chunked(self) -> bytes:
        """The de-chunked body (RFC 9112 §7.1); trailer fields are read and dropped."""
        buf = self._buf
        max_body = self._limits.max_body_bytes
        chunks: list[bytes] = []
        total = 0
        while True:
            line = await self._read_line(_MAX_CHUNK_LINE, "chunk size line")
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                raise _bad("malformed chunk size line")
            size = int(match[1], 16)
            if size == 0:
                break
            total += size
            if total > max_body:
                raise _HttpError(413, _too_large_body(max_body, None))
            while len(buf) < size + 2:
                await self._receive()
            if buf[size : size + 2] != b"\r\n":
                raise _bad("chunk data not followed by CRLF")
            chunks.append(bytes(buf[:size]))
            del buf[: size + 2]
        # Trailer section: field lines up to an empty line, bounded like the header section.
        budget = self._limits.max_header_bytes
        while line := await self._read_line(budget, "trailer section"):
            budget -= len(line) + 2
        return b"".join(chunks)

    async def _read_line(self, limit: int, what: str) -> bytes:
        buf = self._buf
        scan_from = 0
        while (end := buf.find(b"\r\n", scan_from)) < 0:
            if len(buf) > limit:
                raise _bad(f"{what} too long")
            scan_from = max(0, len(buf) - 1)
            await self._receive()
        if end > limit:
            raise _bad(f"{what} too long")
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    async def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra: tuple[tuple[str, str], ...],
        keep_alive: bool,
        head_only: bool,
        *,
        http10_keep_alive: bool = False,
    ) -> None:
        parts = [_STATUS_LINES.get(status) or _status_line(status)]
        if status not in _NO_BODY_STATUSES:
            parts.append(
                b"Content-Type: %s\r\nContent-Length: %d\r\n"
                % (content_type.encode("latin-1"), len(body))
            )
        parts.append(b"Date: %s\r\n" % _date.get())
        for name, value in extra:
            parts.append(f"{name}: {value}\r\n".encode("latin-1"))
        if not keep_alive:
            parts.append(b"Connection: close\r\n")
        elif http10_keep_alive:
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if not head_only and status not in _NO_BODY_STATUSES:
            parts.append(body)
        await self._send_all(b"".join(parts))


def _asks_to_close(response: Response) -> bool:
    return any(
        name.lower() == "connection" and "close" in value.lower()
        for name, value in response.headers
    )


def _valid_response(response: Response) -> bool:
    """Handler-supplied header names are tokens and values carry no CR/LF (no injection)."""
    for name, value in response.headers:
        if not _TOKEN.fullmatch(name.encode("latin-1", "replace")):
            return False
        if "\r" in value or "\n" in value:
            return False
    return 100 <= response.status <= 999 and "\r" not in response.content_type


async def _serve_connection(
    stream: trio.SocketStream, handler: Handler, limits: HttpLimits
) -> None:
    client = _peer(stream)
    # Take the descriptor out of trio's socket wrapper: `_Connection` does its own waiting.
    tsock = stream.socket
    sock = socket.socket(tsock.family, tsock.type, tsock.proto, fileno=tsock.detach())
    sock.setblocking(False)
    try:
        await _Connection(sock, client, handler, limits).serve()
    except Exception:
        # A bug in this module, triggered by one client's bytes, must cost that client its
        # connection and not every other client the server: log it loudly and carry on.
        logger.exception("http connection failed client=%s", client)
    finally:
        trio.lowlevel.notify_closing(sock)
        sock.close()


async def _call_handler(handler: Handler, request: Request) -> Response:
    try:
        response = await handler(request)
        if not _valid_response(response):
            raise ValueError(f"handler returned a malformed response: {response!r}")
        return response
    except Exception:
        # A handler bug must not take the server down; the traceback goes to the log only.
        logger.exception(
            "handler failed method=%s path=%s client=%s",
            request.method,
            request.path,
            request.client,
        )
        return Response(500, INTERNAL_ERROR_BODY)
