"""A minimal HTTP/1.1 server on trio for the JSON-RPC endpoint (docs/spec.md §10).

It serves small JSON requests over keep-alive connections and nothing else: one request at a
time per connection (pipelined requests are answered in order), `Content-Length` or chunked
bodies, no upgrades. Accepting is `trio.serve_listeners`' (which also backs off on EMFILE);
every connection is its own task; cancelling `serve_http` stops accepting and cancels them.

Resource bounds, so that no client can take what the others need (issue 12):

* at most `HttpLimits.max_connections` connections (the service sets it below RLIMIT_NOFILE,
  leaving LevelDB its descriptors), optionally `max_connections_per_ip` per peer address; at
  the cap the connection that has been waiting longest for its client's bytes is closed to make
  room, so idle sockets cannot lock anyone out;
* request bodies draw on one global budget of `max_buffered_bytes` (a body is accounted from
  its head until its handler returns); a body that does not fit gets 503 and -32005 before a
  byte of it is read; bodies over `SMALL_BODY_BYTES` may not take the last
  `max_buffered_bytes // 4`, which stay for small requests (reads, single submissions);
* an `admit` hook sees each request head before its body is read and may answer at once (the
  sequencer refuses a large submission while its queue is full, in milliseconds);
* every loop over client input yields to the scheduler at least every `_YIELD_EVERY` steps,
  and a chunked body may have at most `max_chunks` chunks.

With `io_thread` (`serve_http`; `attest serve`'s default) the connections are accepted and
served by a second trio loop in a thread of its own, which answers `admit`'s refusals and the
`fast` requests (`/health`, `attest_status`) itself; a connection moves to the main loop, for
good, with its first request that needs the handler (`_serve_threaded`,
`sequencer/rpc/io_thread.py`), so reads by a client that only reads never wait for the main
loop's round.

Failure policy, per connection:

* malformed HTTP -> 400 (431 for oversized headers) and close;
* a body over `HttpLimits.max_body_bytes` -> 413 with a JSON-RPC-shaped -32006 body, and close;
* a body over the global budget -> 503 with a -32005 body and `Retry-After`, and close;
* a chunked body of more than `HttpLimits.max_chunks` chunks -> 413 with -32006, and close;
* a request not fully read within `read_timeout_s` -> 408 and close;
* no new request within `idle_timeout_s` -> close silently (RFC 9112 §9.8 allows it);
* a handler exception -> logged with its traceback, 500 with a generic JSON body; the server and
  the connection keep serving;
* a response the client does not read within `write_timeout_s` -> close;
* a streamed answer (`Response.stream`, server-sent events): no Content-Length, the connection
  closes when the stream ends; its socket's send buffer is cut to `STREAM_SEND_BUFFER` and a
  write blocked for `STREAM_WRITE_TIMEOUT_S` closes it, so a client that stops reading holds a
  bounded amount of memory for a bounded time.

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
import itertools
import logging
import math
import re
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import partial
from http import HTTPStatus
from typing import Any, Final, Protocol

import orjson
import trio

from prover.errors import LimitExceededError, UsageError
from prover.jsonrpc import error_response
from sequencer.rpc import errors as rpc_errors
from sequencer.rpc import handoff
from sequencer.rpc.io_thread import STOP_TIMEOUT_S, Loops, start_thread

logger = logging.getLogger(__name__)

#: Bytes asked of the kernel per receive; requests are small, bursts of pipelined ones are not.
RECEIVE_SIZE: Final = 65536

#: Bodies up to this size may use the whole buffer budget; larger ones leave a quarter of it.
SMALL_BODY_BYTES: Final = 64 * 1024

#: Loops over client input yield to the scheduler at least every this many steps.
_YIELD_EVERY: Final = 64

#: Where skipped bodies are received (and dropped): one buffer for every connection, since
#: nothing is ever read back from it.
_SCRATCH: Final = memoryview(bytearray(1 << 20))


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
    max_connections: int = 10_000
    """Open connections at most; at the cap the longest-waiting idle or reading one is closed."""
    max_connections_per_ip: int = 0
    """Open connections per peer address at most (0: no per-address limit)."""
    max_buffered_bytes: int = 128 * 1024 * 1024
    """Request body bytes held at once over all connections (from head until handler returns)."""
    max_chunks: int = 65_536
    """Chunks in one chunked body at most (1-byte chunks cost a parse step each)."""

    def __post_init__(self) -> None:
        if self.max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be >= 0, got {self.max_body_bytes}")
        if self.max_header_bytes < 256:
            raise ValueError(f"max_header_bytes must be >= 256, got {self.max_header_bytes}")
        for name in ("max_connections", "max_chunks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_connections_per_ip < 0:
            raise ValueError(
                f"max_connections_per_ip must be >= 0, got {self.max_connections_per_ip}"
            )
        if self.max_buffered_bytes < self.max_body_bytes:
            raise ValueError("max_buffered_bytes must be at least max_body_bytes")
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
    """The request target in origin form (e.g. ``"/"`` or ``"/health?x=1"``); an absolute-form
    target (``http://host/health``, RFC 9112 §3.2.2) arrives here as its path and query."""
    headers: Mapping[str, str]
    """Header names lower-cased; repeated headers joined with ``", "`` (RFC 9110 §5.3)."""
    body: bytes
    """The whole body (de-chunked)."""
    client: tuple[str, int] | None
    """The peer's (host, port), when the socket knows it."""


Write = Callable[[bytes], Awaitable[None]]
"""Sends bytes to the client of a streamed answer (see `Response.stream`)."""


@dataclass(frozen=True, slots=True)
class Response:
    """What a handler answers. `Content-Length`, `Date` and `Connection` are added by the server."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())
    """Extra headers, e.g. ``(("Retry-After", "1"),)``."""
    stream: Callable[[Write], Awaitable[None]] | None = None
    """A streamed answer (server-sent events): instead of `body`, the server calls
    ``await stream(write)`` at once and sends whatever it writes, then closes the connection
    (no Content-Length: the body ends with the connection). The head goes out with the first
    write. Each write must be sent within `STREAM_WRITE_TIMEOUT_S` once it blocks, or the
    connection is closed; the socket's send buffer is cut to `STREAM_SEND_BUFFER` bytes, so a
    client that does not read holds at most that much of the server's memory and then is
    dropped. Between writes no deadline runs: the stream decides how long to wait."""
    hold_off_s: float = 0.0
    """After this answer, read the connection's next request no sooner than this (at most
    half the idle timeout): the client was told to retry so much later (-32005's
    `retryAfterMs`). A client that honours the hint never waits for it; one that sends again
    at once waits in the kernel's buffers, costing the event loop nothing meanwhile."""


Handler = Callable[[Request], Awaitable[Response]]

#: Send buffer of a streamed answer's socket: what a client that stops reading can hold.
STREAM_SEND_BUFFER: Final = 64 * 1024
#: How long one write of a streamed answer may stay blocked before the client is dropped.
STREAM_WRITE_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class RequestHead:
    """What is known of a request before its body is read: what an `Admit` hook decides on."""

    method: str
    path: str
    """Origin form, as in `Request.path`."""
    headers: Mapping[str, str]
    content_length: int | None
    """None for a chunked body."""
    client: tuple[str, int] | None


Admit = Callable[[RequestHead], Response | None]
"""Called with each request head before the body is read: None reads the body and calls the
handler as usual; a `Response` is sent at once instead (and the body is skipped unread).
With the I/O thread it runs there: it may only read what is safe to read from another thread."""

Fast = Callable[[Request], Awaitable[Response | None]]
"""With the I/O thread: called on the I/O loop with each request before it is handed to the
main loop; a `Response` is the answer, None hands the request on. It must be safe to run beside
the main loop (point reads of the store, counters): `/health` and `attest_status`."""


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


def _too_large_body(limit: int, actual: int | None, what: str = "request body bytes") -> bytes:
    exc = LimitExceededError(what, limit, actual)
    return _json_error_body(rpc_errors.error_object(exc))


#: Retry hint of a body refused because the buffer budget is spent: bodies are held for the
#: time of one request, so about a second frees plenty.
BUDGET_RETRY_MS: Final = 1000
#: How long a connection moved here with room the front admitted may take to send its request
#: before the room is given back (`_Connection._wait_admitted`).
ADMISSION_HOLD_S: Final = 1.0
#: How long after a client was last told to hold off the main loop sends connections back to
#: the I/O loop after each answer (see `_Pressure`).
PRESSURE_S: Final = 1.0


def _budget_spent_body(limit: int) -> bytes:
    return _json_error_body(
        {
            "code": rpc_errors.OVERLOADED,
            "message": f"the server holds {limit} bytes of request bodies already; retry later",
            "data": {"retryAfterMs": BUDGET_RETRY_MS},
        }
    )


class _BodyBudget:
    """The global budget of buffered request body bytes (see the module docstring)."""

    __slots__ = ("_large_limit", "_lock", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._large_limit = limit - limit // 4
        # With the I/O thread both loops' connections draw on it.
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        """Reserve `n` bytes; False (nothing reserved) if they do not fit."""
        ceiling = self.limit if n <= SMALL_BODY_BYTES else self._large_limit
        with self._lock:
            if self.used + n > ceiling:
                return False
            self.used += n
        return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.used -= n
            assert self.used >= 0, "bad math: body budget below zero"


class _Pressure:
    """When a client was last told to hold off (`Response.hold_off_s`), on either loop.

    With the I/O thread, while that was less than `PRESSURE_S` ago, a connection on the main
    loop goes back to the I/O loop after every answer, so that its next request's head is
    read, and refused if need be, there (a refusal from the main loop waits for that loop's
    round). Without refusals nothing moves back: the hop costs what a connection that stays
    put does not. (With the front process, `FrontLauncher.goes_home` sends more back.)
    """

    __slots__ = ("_every_s", "_last_told", "_tell", "until")

    def __init__(self, tell: Callable[[], object] | None = None, every_s: float = 0.0) -> None:
        self.until = 0.0  # time.monotonic(): one clock for both loops (trio's clocks differ)
        self._tell = tell
        self._every_s = every_s
        self._last_told = -math.inf

    def note(self) -> None:
        now = time.monotonic()
        self.until = now + PRESSURE_S
        if self._tell is not None and now - self._last_told >= self._every_s:
            # In the front process: the sequencer's process keeps its own (`handoff.PRESSURE`).
            self._last_told = now
            self._tell()

    def on(self) -> bool:
        return time.monotonic() < self.until


class _ConnectionTable:
    """Open connections: the cap, the per-address counts, and who is waiting on its client.

    A slot is taken before `accept` (so the descriptor never exists past the cap) and given
    back when the connection's task ends; at the cap, a pending connection makes room. `waiting` holds the connections blocked on their
    client's bytes (idle keep-alive, or a request trickling in), oldest wait first: the victims
    when the cap is reached.
    """

    def __init__(self, cap: int, per_ip: int) -> None:
        self.cap = cap
        self.per_ip = per_ip
        self.open = 0
        self.by_ip: dict[str, int] = {}
        self.waiting: dict[_Connection, None] = {}
        self._room = trio.Event()
        self.evicted = 0
        self.evict_elsewhere: Callable[[], object] | None = None
        """With the I/O thread: asks the main loop to close one of its waiting connections,
        when this loop has none (their slots are counted here)."""

    def full(self) -> bool:
        return self.open >= self.cap

    def evict_longest_waiting(self) -> bool:
        """Close the connection waiting longest on its client; False if none is waiting."""
        if not self.waiting:
            return False
        victim = next(iter(self.waiting))
        del self.waiting[victim]
        victim.evict()
        self.evicted += 1
        return True

    async def make_room(self) -> None:
        """Close the connection waiting longest on its client, if any; wait for a free slot."""
        if not self.evict_longest_waiting() and self.evict_elsewhere is not None:
            self.evict_elsewhere()
        self._room = trio.Event()
        await self._room.wait()

    def give_back_slot(self) -> None:
        self.open -= 1
        self._room.set()

    def admit_ip(self, host: str) -> bool:
        if not self.per_ip:
            return True
        n = self.by_ip.get(host, 0)
        if n >= self.per_ip:
            return False
        self.by_ip[host] = n + 1
        return True

    def release_ip(self, host: str) -> None:
        if not self.per_ip:
            return
        n = self.by_ip[host] - 1
        if n:
            self.by_ip[host] = n
        else:
            del self.by_ip[host]


class _CappedListener(trio.abc.Listener[trio.SocketStream]):
    """A listener that accepts only while the connection table has a free slot."""

    def __init__(self, inner: trio.SocketListener, table: _ConnectionTable) -> None:
        self._inner = inner
        self._table = table

    async def accept(self) -> trio.SocketStream:
        table = self._table
        while table.full():
            # Make room only for somebody: wait until a connection is pending (meanwhile
            # connections may have closed by themselves: check again).
            await trio.lowlevel.wait_readable(self._inner.socket)
            if table.full():
                await table.make_room()
        table.open += 1
        try:
            return await self._inner.accept()
        except BaseException:
            table.give_back_slot()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


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


@dataclass(slots=True)
class _Shared:
    """What every connection of one server shares."""

    handler: Handler
    limits: HttpLimits
    admit: Admit | None
    table: _ConnectionTable
    budget: _BodyBudget
    pressure: _Pressure = field(default_factory=_Pressure)
    fast: Fast | None = None
    """The I/O loop's own answers (see `Fast`); None without the I/O thread."""
    move: Callable[[_Moving], None] | None = None
    """On the I/O loop: hands a connection to the main loop (see `_serve_threaded`)."""
    home: Callable[[_Moving], None] | None = None
    """On the main loop: hands a connection told to hold off back to the I/O loop."""
    release_admitted: Callable[[int], None] | None = None
    """In the sequencer's process: gives back room the front admitted that the request did not
    use (`handoff.ADMITTED`)."""
    admitted_body_in: Callable[[], None] | None = None
    """In the sequencer's process: told when the body of a request the front admitted from its
    head is in (`FrontLauncher.admitted_body_in`)."""
    forwarded: Callable[[int], None] | None = None
    """In the front process: told the events admitted with each request moved on."""
    goes_home: Callable[[int], bool] | None = None
    """In the sequencer's process: whether a connection goes back to the front after the
    answer to a request with a body of that many bytes, whatever the pressure
    (`FrontLauncher.goes_home`)."""
    fast_body_bytes: int | None = None
    """In the front process: a request whose body may be longer than this is moved to the
    sequencer's process right after its head (and `admit`), before a byte of the body is read:
    bodies cross between processes inside the connection's socket, not through the channel."""


async def serve_http(
    handler: Handler,
    host: str,
    port: int,
    *,
    limits: HttpLimits,
    admit: Admit | None = None,
    fast: Fast | None = None,
    io_thread: bool = False,
    front: FrontLauncher | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `handler` on `host:port` until cancelled.

    Start it with ``port = await nursery.start(serve_http, handler, host, 0, limits=...)``: the
    value is the bound port (the first listener's, when `host` resolves to several addresses).
    `admit` sees each request head before its body is read (see `Admit`).

    With `io_thread`, the connections are served by a trio loop in a thread of its own
    (`sequencer.rpc.io_thread`): `admit` and `fast` run there, and the first request that
    needs `handler` moves its connection to this loop (see `_serve_threaded`).
    Without it, `fast` is not used (the handler answers everything). With `front`, a process
    of its own accepts and answers in place of the I/O thread (`_serve_with_front`; `admit`
    and `fast` are then the front's, given to `serve_front` there).
    """
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        # In use, not an address of this machine, a privileged port, an unknown host name:
        # all fixed by the operator, so one line, not a traceback (`sequencer/cli.py`).
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None
    if front is not None:
        await _serve_with_front(handler, listeners, limits, admit, front, task_status)
        return
    if io_thread:
        await _serve_threaded(handler, host, listeners, limits, admit, fast, task_status)
        return
    await _serve_listeners(listeners, host, _shared(handler, limits, admit), task_status.started)


def _shared(
    handler: Handler,
    limits: HttpLimits,
    admit: Admit | None,
    fast: Fast | None = None,
) -> _Shared:
    table = _ConnectionTable(limits.max_connections, limits.max_connections_per_ip)
    budget = _BodyBudget(limits.max_buffered_bytes)
    return _Shared(handler, limits, admit, table, budget, fast=fast)


async def _serve_listeners(
    listeners: list[trio.SocketListener],
    host: str,
    shared: _Shared,
    on_listening: Callable[[int], None],
    handler_nursery: trio.Nursery | None = None,
) -> None:
    """Accept on `listeners` until cancelled (then they are closed); each connection's task
    in `handler_nursery` (default: one of this call's, cancelled with it)."""
    bound: int = listeners[0].socket.getsockname()[1]
    logger.info(
        "http listening host=%s port=%d max_connections=%d front=%s",
        host,
        bound,
        shared.limits.max_connections,
        "process"
        if shared.fast_body_bytes is not None
        else "thread"
        if shared.move is not None
        else "none",
    )
    capped = [_CappedListener(listener, shared.table) for listener in listeners]
    async with trio.open_nursery() as nursery:
        await nursery.start(
            partial(
                trio.serve_listeners,
                partial(_serve_connection, shared=shared),
                capped,
                handler_nursery=handler_nursery,
            )
        )
        on_listening(bound)


async def _serve_threaded(
    handler: Handler,
    host: str,
    listeners: list[trio.SocketListener],
    limits: HttpLimits,
    admit: Admit | None,
    fast: Fast | None,
    task_status: trio.TaskStatus[int],
) -> None:
    """`serve_http` with an I/O loop (see `sequencer.rpc.io_thread`).

    The I/O loop accepts every connection and serves it while its requests are answered there
    (`admit`'s refusals, `fast`); the first request that needs `handler` moves the connection
    to this loop, with the request and the bytes already received, where it stays until it
    closes, or is sent back between requests while clients are being told to hold off
    (`_Pressure`). Both loops' connections share one connection table and one body budget: the
    table lives on the I/O loop (a moved connection's slot is given back there when it
    closes, and at the cap the I/O loop asks this loop to evict one of its idle connections
    when it has none of its own); the budget takes a lock.

    This task owns the moved connections' nursery, starts the I/O thread, and on cancellation
    stops it and waits (bounded) for its connections to close.
    """
    loops = Loops(trio.lowlevel.current_trio_token())
    changed = trio.Event()  # this loop's: the I/O loop listens, or has ended
    ended = trio.Event()
    box: dict[str, Any] = {}

    def tell(key: str, value: object) -> None:  # on this loop
        box[key] = value
        changed.set()
        if key == "ended":
            ended.set()

    io_shared = _shared(handler, limits, admit, fast)
    # This loop's connections: the same budget; a table of their own for the idle ones (the
    # eviction candidates), whose slots are counted in the I/O loop's table.
    main_shared = _Shared(
        handler,
        limits,
        admit,
        _ConnectionTable(limits.max_connections, 0),
        io_shared.budget,
        io_shared.pressure,
    )

    async with trio.open_nursery() as moved:

        def give_back(host: str) -> None:  # on the I/O loop
            io_shared.table.release_ip(host)
            io_shared.table.give_back_slot()

        moves = _ShieldedMoves()

        async def serve_moved(moving: _Moving) -> None:  # on this loop
            home = False
            try:
                home = await moves.serve(moving, main_shared)
            finally:
                if not home:
                    # Unless the I/O loop has ended (its table is gone with it).
                    loops.run_on_io(give_back, moving.host)

        io_connections: list[trio.Nursery] = []  # the I/O loop's, once it runs

        async def serve_home(moving: _Moving) -> None:  # on the I/O loop
            moved = False
            try:
                moved = await _serve_socket(moving.sock, moving.client, io_shared, moving)
            finally:
                if not moved:
                    give_back(moving.host)

        def arrive_home(moving: _Moving) -> None:  # on the I/O loop (a callback)
            try:
                io_connections[0].start_soon(serve_home, moving)
            except RuntimeError:  # the nursery is closing: shutdown; close it
                moving.sock.close()
                give_back(moving.host)

        def home(moving: _Moving) -> None:  # on this loop
            loops.returned += 1
            if not loops.run_on_io(arrive_home, moving):
                moving.sock.close()  # the I/O loop has ended, and its table with it

        def arrive(moving: _Moving) -> None:  # on this loop (a callback)
            try:
                moved.start_soon(serve_moved, moving)
            except RuntimeError:  # the nursery is closing: shutdown; close it unanswered
                moving.sock.close()
                loops.run_on_io(give_back, moving.host)

        def move(moving: _Moving) -> None:  # on the I/O loop
            loops.moved += 1
            if not loops.run_on_main(arrive, moving):
                moving.sock.close()
                moving.give_back_body(io_shared.budget)
                give_back(moving.host)

        io_shared.move = move
        main_shared.home = home
        io_shared.table.evict_elsewhere = lambda: loops.run_on_main(
            main_shared.table.evict_longest_waiting
        )

        def listening(port: int) -> None:  # on the I/O loop
            loops.run_on_main(tell, "port", port)

        async def io_main() -> None:
            async with trio.open_nursery() as connections:
                io_connections.append(connections)
                # `stop` cancels the accepting first: the listeners are closed before any
                # connection is, so a client that sees its connection closed cannot connect.
                with trio.CancelScope() as accepting:
                    loops.enter_io(accepting)
                    await _serve_listeners(listeners, host, io_shared, listening, connections)
                connections.cancel_scope.cancel()

        def run_io() -> None:
            error: BaseException | None = None
            try:
                trio.run(io_main)
            except BaseException as exc:  # handed to the main loop, which raises it
                error = exc
            loops.run_on_main(tell, "ended", error)

        thread = start_thread("attest-http-io", run_io)
        try:
            await changed.wait()
            if "port" in box:
                task_status.started(box["port"])
                await ended.wait()
            error = box.get("ended")
            raise error if error is not None else RuntimeError("the HTTP I/O loop ended")
        finally:
            loops.stop()
            # Its connections see the cancellation at their next checkpoint and close; bounded,
            # so that a wedged I/O loop cannot hold the shutdown (the thread is a daemon).
            with trio.CancelScope(shield=True) as wait:
                wait.deadline = trio.current_time() + STOP_TIMEOUT_S
                await ended.wait()
            if wait.cancelled_caught:
                logger.warning("the HTTP I/O loop did not stop in %.0f s", STOP_TIMEOUT_S)
            else:
                thread.join()  # its last act was to tell us it ended: this returns at once
            moves.stop()
            moved.cancel_scope.cancel()


class _ShieldedMoves:
    """The connections moved to this loop, each shielded from the server task's cancellation
    until `stop`: on shutdown the other side closes its listeners first, so a client that
    sees its connection closed cannot connect any more."""

    def __init__(self) -> None:
        self._shields: set[trio.CancelScope] = set()
        self._stopping = False

    async def serve(self, moving: _Moving, shared: _Shared) -> bool:
        """`_serve_socket` for a moved connection: True if it was sent back."""
        with trio.CancelScope(shield=True) as shield:
            self._shields.add(shield)
            if self._stopping:
                shield.cancel()
            try:
                return await _serve_socket(moving.sock, moving.client, shared, moving)
            finally:
                self._shields.discard(shield)
        return False  # cancelled by `stop` before it began: closed unserved

    def stop(self) -> None:
        self._stopping = True
        for shield in self._shields:
            shield.cancel()


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

    def __init__(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        super().__init__(status)


class FrontLauncher(Protocol):
    """Starts and feeds the HTTP front process (`serve_http(front=...)`;
    `sequencer.node.front` is the sequencer's)."""

    def start(self, listener_fds: list[int], channel_fd: int) -> subprocess.Popen[bytes]:
        """Start the front process, handing it these descriptors (it accepts on the listeners
        and talks over the channel, `sequencer.rpc.handoff`)."""
        ...

    def attach(self, channel: handoff.Channel) -> None:
        """This process's end of the channel, once the front runs (for `STATE` messages)."""
        ...

    def counts(self, header: dict[str, Any]) -> None:
        """A `COUNTS` message: requests the front answered itself."""
        ...

    def release(self, events: int) -> None:
        """Room the front admitted for a request that did not take it (`handoff.ADMITTED`)."""
        ...

    def goes_home(self, body_bytes: int) -> bool:
        """Whether a connection goes back to the front after answering a request with a body
        of `body_bytes`, even with no client refused lately (`_Pressure`): the front reads its
        next head and refuses it at once if need be, or admits it with room it counts exactly
        (`handoff.ADMITTED`), where this process could only refuse it after its body."""
        ...

    def admitted_body_in(self) -> None:
        """The body of a request the front admitted from its head has been read here: the
        admissions it holds are bodies on their way, not heads alone."""
        ...


class FrontExitedError(RuntimeError):
    """The HTTP front process ended while the server ran (the sequencer stops too: a
    supervisor restarts both)."""


async def _serve_with_front(
    handler: Handler,
    listeners: list[trio.SocketListener],
    limits: HttpLimits,
    admit: Admit | None,
    front: FrontLauncher,
    task_status: trio.TaskStatus[int],
) -> None:
    """`serve_http` through a front process: this process serves the connections the front
    moves here (`handoff.MOVE`, with the bytes of the request so far) and sends them back
    between requests while clients are being told to hold off (`handoff.HOME`, see
    `_Pressure`), or tells the front it closed them (`handoff.GONE`).

    The front owns the listeners, the connection table and the cap (it asks this process to
    evict, `handoff.EVICT`). On cancellation this process closes its end of the channel: the
    front then closes its listeners and connections and exits (waited for, bounded), and the
    connections served here are closed after that, as with the I/O thread. If the front
    process ends first, `FrontExitedError`.
    """
    core_end, front_end = handoff.pair()
    bound: int = listeners[0].socket.getsockname()[1]
    try:
        proc = front.start([lst.socket.fileno() for lst in listeners], front_end.fileno())
    finally:
        front_end.close()
        for listener in listeners:  # the front accepts; this process keeps no copy
            await listener.aclose()
    channel = handoff.Channel(core_end)
    front.attach(channel)
    shared = _Shared(
        handler,
        limits,
        admit,
        _ConnectionTable(limits.max_connections, 0),
        _BodyBudget(limits.max_buffered_bytes),
    )
    shared.release_admitted = front.release
    shared.admitted_body_in = front.admitted_body_in
    shared.goes_home = front.goes_home
    moves = _ShieldedMoves()

    async with trio.open_nursery() as moved:

        async def send_home(header: dict[str, Any], data: bytes, sock: socket.socket) -> None:
            try:
                await channel.send(handoff.HOME, header, data, sock)
            except OSError:  # the front is gone: this process is stopping too
                sock.close()

        def home(moving: _Moving) -> None:
            # At once if the channel has room: the client may send its next request as soon
            # as it has read this answer, and the front is where it is read.
            header = {"id": moving.ident, "client": moving.client, "holdOffS": moving.hold_off_s}
            data = bytes(moving.buf)
            if not channel.send_nowait(handoff.HOME, header, data, moving.sock):
                moved.start_soon(send_home, header, data, moving.sock)

        shared.home = home

        async def serve_moved(moving: _Moving) -> None:
            home = False
            try:
                home = await moves.serve(moving, shared)
            finally:
                if not home and not channel.send_nowait(handoff.GONE, {"id": moving.ident}):
                    logger.warning("could not tell the HTTP front that connection %d closed",
                                   moving.ident)  # fmt: skip

        async def next_message() -> handoff.Message:
            message = await channel.receive()
            if message is None:
                code = await trio.to_thread.run_sync(proc.wait)
                raise FrontExitedError(f"the HTTP front process exited (status {code})")
            return message

        try:
            # Ready when the front accepts (it imports and starts in a few hundred ms; a
            # client told "listening" before then would wait that long for its answer).
            first = await next_message()
            if first.kind != handoff.READY:
                raise RuntimeError(f"the HTTP front process spoke first with kind {first.kind}")
            task_status.started(bound)
            while True:
                message = await next_message()
                if message.kind == handoff.MOVE and message.sock is not None:
                    moved.start_soon(serve_moved, _Moving.arrived(message, message.sock))
                elif message.kind == handoff.EVICT:
                    shared.table.evict_longest_waiting()
                elif message.kind == handoff.COUNTS:
                    front.counts(message.header)
                elif message.kind == handoff.PRESSURE:
                    shared.pressure.note()
                elif message.sock is not None:
                    message.sock.close()
        finally:
            channel.close()  # the front's cue: stop accepting, close its connections, exit
            with trio.CancelScope(shield=True):
                try:
                    await trio.to_thread.run_sync(partial(proc.wait, STOP_TIMEOUT_S))
                except subprocess.TimeoutExpired:
                    logger.warning("the HTTP front process did not stop in %.0f s", STOP_TIMEOUT_S)
                    proc.kill()
                    await trio.to_thread.run_sync(proc.wait)
            moves.stop()
            moved.cancel_scope.cancel()


async def serve_front(
    channel: handoff.Channel,
    listeners: list[trio.SocketListener],
    limits: HttpLimits,
    *,
    admit: Admit | None,
    fast: Fast,
    fast_body_bytes: int,
    on_state: Callable[[dict[str, Any]], None],
    forwarded: Callable[[int], None] | None = None,
) -> None:
    """The front process's server (`sequencer.node.front`): accept on `listeners`, answer
    `admit`'s refusals and `fast`'s answers here, and move every other request's connection to
    the sequencer's process (`_serve_with_front`) — right after its head when its body may be
    longer than `fast_body_bytes`. Returns once the sequencer's process has closed the channel
    (or died): the listeners are closed first, then the connections.

    Before `admit` and `fast` run, the messages already waiting on the channel are handled,
    so an answer reflects every `STATE` the sequencer sent before it answered this client's
    earlier requests (a status read after an acknowledgement sees the acknowledged events).
    """
    away: dict[int, str] = {}  # connections in the sequencer's process: number -> address
    numbers = itertools.count(1)
    shared = _shared(_never_called, limits, admit, fast)
    shared.fast_body_bytes = fast_body_bytes
    shared.pressure = _Pressure(
        lambda: channel.send_nowait(handoff.PRESSURE, {}), handoff.PRESSURE_EVERY_S
    )
    table = shared.table

    def give_back(ident: int) -> None:
        host = away.pop(ident, None)
        if host is not None:
            table.release_ip(host)
            table.give_back_slot()

    async with trio.open_nursery() as connections:

        async def send_move(moving: _Moving, header: dict[str, Any], data: bytes) -> None:
            try:
                await channel.send(handoff.MOVE, header, data, moving.sock)
            except OSError:
                moving.sock.close()
                give_back(moving.ident)
                if moving.admitted and forwarded is not None:
                    forwarded(-moving.admitted)

        def move(moving: _Moving) -> None:
            if not moving.ident:
                moving.ident = next(numbers)
            away[moving.ident] = moving.host
            if moving.admitted and forwarded is not None:
                forwarded(moving.admitted)
            moving.give_back_body(shared.budget)  # the sequencer's process reads it again
            header = {"id": moving.ident, "client": moving.client, "admitted": moving.admitted,
                      "bodyFollows": bool(moving.admitted) and not moving.body}  # fmt: skip
            data = moving.raw + bytes(moving.buf)
            if not channel.send_nowait(handoff.MOVE, header, data, moving.sock):
                connections.start_soon(send_move, moving, header, data)

        async def serve_home(moving: _Moving) -> None:
            moved = False
            try:
                moved = await _serve_socket(moving.sock, moving.client, shared, moving)
            finally:
                if not moved:
                    table.release_ip(moving.host)
                    table.give_back_slot()

        def handle(message: handoff.Message) -> None:
            if message.kind == handoff.HOME and message.sock is not None:
                moving = _Moving.arrived(message, message.sock)
                moving.host = away.pop(moving.ident, moving.host)
                connections.start_soon(serve_home, moving)
            elif message.kind == handoff.GONE:
                give_back(message.header["id"])
            elif message.kind == handoff.STATE:
                on_state(message.header)
            elif message.sock is not None:
                message.sock.close()

        def catch_up() -> None:
            while (message := channel.receive_nowait()) not in (None, False):
                assert isinstance(message, handoff.Message)
                handle(message)

        async def fresh_fast(request: Request) -> Response | None:
            catch_up()
            return await fast(request)

        def fresh_admit(head: RequestHead) -> Response | None:
            catch_up()
            return admit(head) if admit is not None else None

        shared.move = move
        shared.fast = fresh_fast
        shared.admit = fresh_admit
        table.evict_elsewhere = lambda: channel.send_nowait(handoff.EVICT, {})

        async def accept(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as accepting:
                task_status.started(accepting)
                host = str(listeners[0].socket.getsockname()[0])
                await _serve_listeners(listeners, host, shared, lambda _: None, connections)

        accepting = await connections.start(accept)
        await channel.send(handoff.READY, {})
        while (message := await channel.receive()) is not None:
            handle(message)
        accepting.cancel()  # the listeners close before any connection does
        connections.cancel_scope.cancel()


async def _never_called(request: Request) -> Response:
    raise AssertionError("the front process moves every request it does not answer")


class _Closed(Exception):
    """Internal: stop serving this connection without answering (EOF, idle, write timeout)."""


class _Move(Exception):
    """Internal, on the I/O loop: this request needs the main loop; move the connection."""

    def __init__(self, head: _Head, body: bytes, admitted: int = 0) -> None:
        self.head = head
        self.body = body
        self.admitted = admitted
        super().__init__("move")


class _Home(Exception):
    """Internal, on the main loop: the client was told to hold off; move the connection back
    to the I/O loop, which waits out `hold_off_s` and reads the next request."""

    def __init__(self, hold_off_s: float) -> None:
        self.hold_off_s = hold_off_s
        super().__init__("home")


@dataclass(slots=True)
class _Moving:
    """A connection on its way from one loop to the other: to the main loop with a request
    (`head`, `body`), or back to the I/O loop with none, to hold off for `hold_off_s`."""

    sock: socket.socket
    client: tuple[str, int] | None
    host: str
    """Its key in the connection table's per-address counts."""
    buf: bytearray
    """Bytes received after the request (pipelined)."""
    held: int
    """Body bytes it holds in the shared budget (the request's)."""
    head: _Head | None
    body: bytes
    hold_off_s: float = 0.0
    raw: bytes = b""
    """Across processes (the front): the request's bytes as received so far (its head, and
    its body if read); the other side parses them again, then `buf`."""
    ident: int = 0
    """Across processes: the connection's number in the front's table (0: not yet given)."""
    admitted: int = 0
    """Across processes: events the front admitted for the request (`handoff.ADMITTED`)."""
    body_follows: bool = False
    """Across processes: `admitted` from the head alone; the body is read on arrival."""

    @classmethod
    def arrived(cls, message: handoff.Message, sock: socket.socket) -> _Moving:
        """A connection that came over the channel (`handoff.MOVE`, `handoff.HOME`) with
        `message`: the bytes to parse next, its number, and what the sender says of it."""
        client = message.header["client"]
        peer = (client[0], client[1]) if client else None
        return cls(
            sock,
            peer,
            peer[0] if peer else "",
            bytearray(message.data),
            0,
            None,
            b"",
            float(message.header.get("holdOffS", 0.0)),
            ident=message.header["id"],
            admitted=message.header.get("admitted", 0),
            body_follows=message.header.get("bodyFollows", False),
        )

    def give_back_body(self, budget: _BodyBudget) -> None:
        if self.held:
            budget.give_back(self.held)
            self.held = 0


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
#: RFC 9112 §3.2.2 absolute-form: scheme "://" authority, then the path and query, if any.
_ABSOLUTE_FORM: Final = re.compile(rb"(?i:https?)://[^/?#]+([/?][\x21-\x7e]*)?")
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
    if not target.startswith(b"/"):
        # RFC 9112 §3.2.2: a server MUST accept the absolute-form; what it names on this
        # server is its path and query (origin form).
        absolute = _ABSOLUTE_FORM.fullmatch(target)
        if absolute is None:
            raise _bad("request target must be a path or an absolute http(s) URL")
        rest = absolute[1] or b"/"
        target = rest if rest.startswith(b"/") else b"/" + rest
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
        "_admitted",
        "_admitted_body_follows",
        "_admitted_until",
        "_armed",
        "_buf",
        "_client",
        "_evicted",
        "_handler",
        "_held",
        "_ident",
        "_limits",
        "_phase",
        "_raw_head",
        "_receives",
        "_scope",
        "_shared",
        "_sock",
        "_timeouts",
        "_waited",
    )

    def __init__(
        self,
        sock: socket.socket,
        client: tuple[str, int] | None,
        shared: _Shared,
    ) -> None:
        self._sock = sock
        self._client = client
        self._shared = shared
        self._handler = shared.handler
        self._limits = limits = shared.limits
        self._held = 0  # body bytes reserved in the shared budget
        self._ident = 0  # its number in the front process's table (see `_Moving.ident`)
        self._admitted = 0  # events the front admitted for the next request (`handoff`)
        self._admitted_until = 0.0
        self._admitted_body_follows = False  # ... from its head (`_Moving.body_follows`)
        self._raw_head: bytes | None = None  # in the front process: the request's head bytes
        self._evicted = False
        self._receives = 0
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

    def adopt(self, moving: _Moving) -> None:
        """Take over what a connection moved from the other loop holds."""
        self._buf = moving.buf
        self._held, moving.held = moving.held, 0
        self._ident = moving.ident
        self._admitted = moving.admitted
        self._admitted_body_follows = moving.body_follows
        if moving.admitted:
            self._admitted_until = trio.current_time() + ADMISSION_HOLD_S

    def evict(self) -> None:
        """Close this connection to make room for another (it is waiting on its client)."""
        self._evicted = True
        self._scope.cancel()

    async def serve(self, first: tuple[_Head, bytes] | None = None, hold_off_s: float = 0) -> bool:
        """Serve requests until the connection is to close: False. With the I/O thread, True
        when the connection was handed to the other loop instead (the socket is not ours then).
        `first`: a request already read (by the I/O loop), handled before any other;
        `hold_off_s`: how long to wait before reading the first request (`_hold_off`)."""
        moved = False
        try:
            await self._serve(first, hold_off_s)
        except _Move as move:
            self.move(move)
            moved = True
        except _Home as home:
            self.go_home(home.hold_off_s)
            moved = True
        finally:
            if not moved:
                self._give_back_body()
            if self._armed:
                self._shared.table.waiting.pop(self, None)
            # The client left before its request was read again here.
            self._release_admitted(self._admitted)
            self._admitted = 0
        return moved

    def move(self, move: _Move) -> None:
        """Hand this connection, with the request just read, to the main loop."""
        assert self._shared.move is not None, "only the I/O loop moves connections"
        # This loop forgets the descriptor before the other one may use it.
        trio.lowlevel.notify_closing(self._sock)
        host = self._client[0] if self._client is not None else ""
        held, self._held = self._held, 0
        moving = _Moving(self._sock, self._client, host, self._buf, held, move.head, move.body)
        moving.ident = self._ident
        moving.admitted = move.admitted
        if self._raw_head is not None:
            moving.raw = self._raw_head + move.body
        self._shared.move(moving)

    def go_home(self, hold_off_s: float) -> None:
        """Hand this connection back to the I/O loop, between requests, to hold off there."""
        assert self._shared.home is not None, "only the main loop sends connections home"
        trio.lowlevel.notify_closing(self._sock)
        host = self._client[0] if self._client is not None else ""
        self._give_back_body()
        moving = _Moving(self._sock, self._client, host, self._buf, 0, None, b"", hold_off_s)
        moving.ident = self._ident
        self._shared.home(moving)

    async def _serve(self, first: tuple[_Head, bytes] | None, hold_off_s: float) -> None:
        scope = self._scope
        with scope:
            try:
                if hold_off_s > 0:
                    await self._hold_off(hold_off_s)
                await self._loop(first)
            except _HttpError as exc:
                self._enter(_WRITE)
                with contextlib.suppress(_Closed, OSError):
                    await self._send(
                        exc.status, exc.body, "application/json", exc.headers, False, False
                    )
                    await self._linger()
            except (_Closed, OSError):
                # EOF, a reset from the peer.
                return
        if self._evicted:
            return  # closed to make room: the client was sending nothing
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
            self._shared.table.waiting.pop(self, None)

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
            if self._phase <= _READ:
                # Waiting on the client: a candidate for eviction at the connection cap.
                self._shared.table.waiting[self] = None

    async def _loop(self, first: tuple[_Head, bytes] | None) -> None:
        fast = self._shared.fast
        front = self._shared.fast_body_bytes is not None
        while True:
            self._waited = False
            if front:
                handoff.take_admitted()  # a refused request's admission is not the next one's
            response: Response | None
            body: bytes | None
            body_bytes = 0
            if first is not None:
                (head, body), response, first = first, None, None
            else:
                if not self._buf:
                    # Idle keep-alive: wait for the first byte of the next request, unless a
                    # pipelined one is already buffered.
                    self._enter(_IDLE)
                    await self._receive()
                self._enter(_READ)
                head, body, response = await self._read_request()
            keep_alive = head.keep_alive
            if response is None:
                assert body is not None
                # The handler keeps its own deadlines (STYLE rule 7: at the RPC and L1 edges).
                self._enter(_HANDLER)
                request = Request(head.method, head.target, head.headers, body, self._client)
                if self._admitted:
                    # Moved here by the front with the room for its events taken (`handoff`).
                    response = await self._handle_admitted(request)
                elif self._shared.move is None:
                    response = await _call_handler(self._handler, request)
                else:
                    # The I/O loop: answer it here, or move the connection to the main loop.
                    early = None if fast is None else await _call_fast(fast, request)
                    if early is None:
                        raise _Move(head, body, handoff.take_admitted())
                    response = early
                del request
                body_bytes = len(body)
                body = b""  # the bytes are no longer held: give them back to the budget
                self._give_back_body()
            elif head.chunked or head.expect_continue:
                # Answered from its head; the client holds its body back (100-continue), or
                # sends one we would have to parse to skip: close after the answer instead.
                keep_alive = False
            if response.stream is not None:
                await self._stream(response, head.method == "HEAD")
                return
            keep_alive = keep_alive and not _asks_to_close(response)
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
            # The hold-off runs from the answer (the client's retry hint counts from when it
            # reads it), not from the end of the body skipped below.
            hold_until = time.monotonic() + response.hold_off_s if response.hold_off_s else 0.0
            if body is None:
                # Answered from its head (see `Admit`): drop its body to reach the next request.
                self._enter(_READ)
                await self._skip_body(head)
            hold_off_s = 0.0
            if hold_until:
                self._shared.pressure.note()
                hold_off_s = max(1e-6, hold_until - time.monotonic())
            if self._shared.home is not None and (
                hold_off_s > 0
                or self._shared.pressure.on()
                or (self._shared.goes_home is not None and self._shared.goes_home(body_bytes))
            ):
                # On the main loop, while clients are being refused (or the front says so):
                # the I/O loop (waits out the hold-off and) reads the next request, so that a
                # refusal from its head is answered there, not after this loop's round
                # (docs/design.md, "Backpressure in milliseconds").
                raise _Home(hold_off_s)
            if hold_off_s > 0:
                await self._hold_off(hold_off_s)
            if not self._waited:
                # Nothing in this cycle blocked (a pipelining client, a handler that never
                # awaits): yield so other connections run and cancellation is seen.
                await trio.lowlevel.checkpoint()

    async def _handle_admitted(self, request: Request) -> Response:
        admitted, self._admitted = self._admitted, 0
        if self._admitted_body_follows and self._shared.admitted_body_in is not None:
            self._shared.admitted_body_in()
        token = handoff.ADMITTED.set(admitted)
        try:
            return await _call_handler(self._handler, request)
        finally:
            unused = handoff.ADMITTED.get()
            handoff.ADMITTED.reset(token)
            self._release_admitted(unused)  # refused before reserving, or malformed

    def _release_admitted(self, events: int) -> None:
        """Give back room the front admitted that no `reserve` took over."""
        if events and self._shared.release_admitted is not None:
            self._shared.release_admitted(events)

    async def _hold_off(self, seconds: float) -> None:
        """Read nothing from the client for `seconds` (see `Response.hold_off_s`).

        Under overload most of the event loop's work is refusing writers that retry at once:
        each cycle reads a head, answers and drops a body, ~100 µs, for every such writer in
        every scheduler round, which is what a refusal or a status read waits behind. Held
        off, such a writer costs a timer (docs/design.md, "Backpressure in milliseconds").
        """
        self._enter(_IDLE)
        self._arm()  # waiting on its client as far as the connection cap is concerned
        self._waited = True
        await trio.sleep(min(seconds, self._limits.idle_timeout_s / 2))

    async def _stream(self, response: Response, head_only: bool) -> None:
        """Send a streamed answer (`Response.stream`), then let the connection close."""
        assert response.stream is not None
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
        idle, read, handler, write_s = self._timeouts
        self._timeouts = (idle, read, handler, min(write_s, STREAM_WRITE_TIMEOUT_S))
        extra = (*response.headers, ("Cache-Control", "no-store"))
        head = self._head_bytes(response.status, response.content_type, extra, False, None)
        pending = [head]
        if head_only:
            self._enter(_WRITE)
            await self._send_all(head)
            return

        async def write(data: bytes) -> None:
            self._enter(_WRITE)
            if pending:
                data = pending.pop() + data
            await self._send_all(data)
            self._enter(_HANDLER)

        self._enter(_HANDLER)
        await response.stream(write)
        if pending:
            await write(b"")

    async def _receive(self) -> None:
        """Append what the socket has, waiting if it has nothing; `_Closed` on EOF.

        Yields to the scheduler every `_YIELD_EVERY` receives that did not wait, so that a
        client whose bytes are always there cannot keep the event loop to itself.
        """
        sock = self._sock
        while True:
            try:
                data = sock.recv(RECEIVE_SIZE)
            except BlockingIOError:
                self._waited = True
                self._receives = 0
                self._arm()
                if self._admitted:
                    await self._wait_admitted()
                else:
                    await trio.lowlevel.wait_readable(sock)
                continue
            if not data:
                raise _Closed
            self._buf += data
            self._receives += 1
            if self._receives >= _YIELD_EVERY:
                self._receives = 0
                await trio.lowlevel.checkpoint()
            return

    async def _wait_admitted(self) -> None:
        """Wait for the client's bytes while holding room the front admitted: at most until
        `ADMISSION_HOLD_S` after the move, then give the room back (the request, once in, is
        checked like any other). A client that sends a large head and then nothing holds
        queue room for that long, not for the read timeout."""
        with trio.move_on_at(self._admitted_until):
            await trio.lowlevel.wait_readable(self._sock)
            return
        admitted, self._admitted = self._admitted, 0
        self._release_admitted(admitted)

    def _take_body(self, n: int) -> None:
        """Reserve `n` body bytes in the shared budget, or refuse the request (503)."""
        budget = self._shared.budget
        if not budget.take(n):
            raise _HttpError(
                503,
                _budget_spent_body(budget.limit),
                (("Retry-After", str(BUDGET_RETRY_MS // 1000)),),
            )
        self._held += n

    def _give_back_body(self) -> None:
        if self._held:
            self._shared.budget.give_back(self._held)
            self._held = 0

    async def _skip_body(self, head: _Head) -> None:
        """Read and drop a Content-Length body answered without being read (see `Admit`).

        Straight into a scratch buffer, up to a megabyte a receive and never past the body:
        a refused submission costs a syscall or two, not its bytes copied through `_buf`.
        """
        buf = self._buf
        left = head.content_length or 0
        n = min(left, len(buf))
        del buf[:n]
        left -= n
        sock = self._sock
        while left:
            try:
                got = sock.recv_into(_SCRATCH, min(left, len(_SCRATCH)))
            except BlockingIOError:
                self._waited = True
                self._receives = 0
                self._arm()
                await trio.lowlevel.wait_readable(sock)
                continue
            if not got:
                raise _Closed
            left -= got
            self._receives += 1
            if self._receives >= _YIELD_EVERY:
                self._receives = 0
                await trio.lowlevel.checkpoint()

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

    async def _read_request(self) -> tuple[_Head, bytes | None, Response | None]:
        """The next request's head, and its body or (when `Admit` answered from the head,
        body None) that answer."""
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
        fast_body_bytes = self._shared.fast_body_bytes
        if fast_body_bytes is not None:
            self._raw_head = bytes(buf[: end + 4])
        del buf[: end + 4]
        # Cheap checks first, before a byte of the body is read: its size, the admission hook
        # (queue room), then the buffer budget.
        max_body = self._limits.max_body_bytes
        if head.content_length is not None and head.content_length > max_body:
            raise _HttpError(413, _too_large_body(max_body, head.content_length))
        admit = self._shared.admit
        if admit is not None and not self._admitted:  # the front's admission stands
            early = admit(
                RequestHead(
                    head.method, head.target, head.headers, head.content_length, self._client
                )
            )
            if early is not None:
                # Answered now; `_loop` skips the body after the answer is sent.
                return head, None, early
        if fast_body_bytes is not None and (
            head.chunked
            or (head.content_length or 0) > fast_body_bytes
            or head.method not in ("GET", "HEAD", "POST")
        ):
            # The sequencer's: it reads the body from the socket (with the room `admit` took).
            raise _Move(head, b"", handoff.take_admitted())
        length = head.content_length or 0
        if length:
            self._take_body(length)
        # RFC 9110 §10.1.1: a client that sent Expect: 100-continue holds the body back until
        # it sees 100 (or a final status, e.g. the 413 above).
        needs_body = head.chunked or length > len(buf)
        if head.expect_continue and needs_body:
            await self._send_all(_CONTINUE)
        if head.chunked:
            return head, await self._read_chunked(), None
        while len(buf) < length:
            await self._receive()
        body = bytes(buf[:length])
        del buf[:length]
        return head, body, None

    async def _read_chunked(self) -> bytes:
        """The de-chunked body (RFC 9112 §7.1); trailer fields are checked and dropped."""
        buf = self._buf
        max_body = self._limits.max_body_bytes
        max_chunks = self._limits.max_chunks
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
            if len(chunks) >= max_chunks:
                raise _HttpError(413, _too_large_body(max_chunks, None, "chunks per body"))
            self._take_body(size)
            while len(buf) < size + 2:
                await self._receive()
            if buf[size : size + 2] != b"\r\n":
                raise _bad("chunk data not followed by CRLF")
            chunks.append(bytes(buf[:size]))
            del buf[: size + 2]
            if len(chunks) % _YIELD_EVERY == 0:
                # Tiny chunks already buffered would otherwise be parsed without a pause.
                await trio.lowlevel.checkpoint()
        # Trailer section (RFC 9112 §7.1.2): field lines up to an empty line, each checked like
        # a header field line, bounded like the header section.
        budget = self._limits.max_header_bytes
        while line := await self._read_line(budget, "trailer section"):
            if _FIELD_LINE.fullmatch(line) is None:
                raise _bad(f"malformed trailer line {line[:40]!r}")
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
        parts = [
            self._head_bytes(status, content_type, extra, keep_alive, len(body), http10_keep_alive)
        ]
        if not head_only and status not in _NO_BODY_STATUSES:
            parts.append(body)
        await self._send_all(b"".join(parts))

    @staticmethod
    def _head_bytes(
        status: int,
        content_type: str,
        extra: tuple[tuple[str, str], ...],
        keep_alive: bool,
        length: int | None,
        http10_keep_alive: bool = False,
    ) -> bytes:
        """Status line and header section; `length` None: a body that ends with the connection."""
        parts = [_STATUS_LINES.get(status) or _status_line(status)]
        if status not in _NO_BODY_STATUSES:
            parts.append(b"Content-Type: %s\r\n" % content_type.encode("latin-1"))
            if length is not None:
                parts.append(b"Content-Length: %d\r\n" % length)
        parts.append(b"Date: %s\r\n" % _date.get())
        for name, value in extra:
            parts.append(f"{name}: {value}\r\n".encode("latin-1"))
        if not keep_alive:
            parts.append(b"Connection: close\r\n")
        elif http10_keep_alive:
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)


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


async def _serve_connection(stream: trio.SocketStream, *, shared: _Shared) -> None:
    """One accepted connection, from its slot in the table (taken by `_CappedListener`) to
    the close of its descriptor, or to its move to the main loop (which then gives the slot
    back when it closes it)."""
    table = shared.table
    moved = False
    try:
        client = _peer(stream)
        host = client[0] if client is not None else ""
        if not table.admit_ip(host):
            return  # over the per-address limit: closed unanswered (trio closes the stream)
        try:
            # Small JSON answers must not wait for Nagle's algorithm (trio sets it too; this
            # states the requirement where it matters).
            stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            # Take the descriptor out of trio's socket wrapper: `_Connection` does its own
            # waiting.
            tsock = stream.socket
            sock = socket.socket(tsock.family, tsock.type, tsock.proto, fileno=tsock.detach())
            sock.setblocking(False)
            moved = await _serve_socket(sock, client, shared)
        finally:
            if not moved:
                table.release_ip(host)
    finally:
        if not moved:
            table.give_back_slot()


async def _serve_socket(
    sock: socket.socket,
    client: tuple[str, int] | None,
    shared: _Shared,
    moving: _Moving | None = None,
) -> bool:
    """Serve `sock` and close it; True if it was moved to the other loop instead. `moving`: a
    connection moved here, with its buffered bytes, budget and first request or hold-off."""
    connection = _Connection(sock, client, shared)
    first = None
    hold_off_s = 0.0
    if moving is not None:
        connection.adopt(moving)
        if moving.head is not None:
            first = (moving.head, moving.body)
        hold_off_s = moving.hold_off_s
    moved = False
    try:
        moved = await connection.serve(first, hold_off_s)
    except Exception:
        # A bug in this module, triggered by one client's bytes, must cost that client
        # its connection and not every other client the server: log it and carry on.
        logger.exception("http connection failed client=%s", client)
    finally:
        if not moved:
            trio.lowlevel.notify_closing(sock)
            sock.close()
    return moved


async def _call_fast(fast: Fast, request: Request) -> Response | None:
    """`fast(request)`, with `_call_handler`'s policy for bugs (logged, answered 500)."""
    return await _guarded(fast, request, "fast handler", may_decline=True)


async def _call_handler(handler: Handler, request: Request) -> Response:
    response = await _guarded(handler, request, "handler", may_decline=False)
    assert response is not None  # only a `fast` handler may decline
    return response


async def _guarded(
    call: Callable[[Request], Awaitable[Response | None]],
    request: Request,
    what: str,
    *,
    may_decline: bool,
) -> Response | None:
    """`call(request)`; a bug in it (an exception, a malformed response, or None where it
    may not decline) is logged and answered 500."""
    try:
        response = await call(request)
        if response is None and may_decline:
            return None
        if response is None or not _valid_response(response):
            raise ValueError(f"{what} returned a malformed response: {response!r}")
        return response
    except Exception:
        # A handler bug must not take the server down; the traceback goes to the log only.
        logger.exception(
            "%s failed method=%s path=%s client=%s",
            what,
            request.method,
            request.path,
            request.client,
        )
        return Response(500, INTERNAL_ERROR_BODY)
