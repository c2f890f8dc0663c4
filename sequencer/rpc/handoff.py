"""The channel between the HTTP front process and the sequencer's process (issue 12 item 4).

One ``AF_UNIX``/``SOCK_SEQPACKET`` socket pair: every message arrives whole and in order, and
a client connection travels with its message as a descriptor (``SCM_RIGHTS``). A message is a
kind byte, a small JSON header and, for a connection, the bytes received from it and not yet
parsed (so the other side reads its next request from them):

* `MOVE` (front → core, with a connection): its request needs the sequencer; header
  ``{"id", "client", "admitted"}`` (`ADMITTED`).
* `HOME` (core → front, with a connection): back to the front between requests; header
  ``{"id", "client", "holdOffS"}`` (how long to wait before reading its next request).
* `GONE` (core → front): connection ``id`` was closed by the core; its slot is free.
* `EVICT` (front → core): at the connection cap with none of its own waiting, close the
  core's connection waiting longest on its client.
* `STATE` (core → front): what the front answers from (``sequencer.node.front``).
* `COUNTS` (front → core): requests the front answered, for the core's ``/metrics``.
* `READY` (front → core): the front accepts; the sequencer says it listens only after this.
* `PRESSURE` (front → core): the front told a client to hold off (at most every
  `PRESSURE_EVERY_S`): the core sends its connections back after each answer for a while.

Sends never block the event loop: a full channel is waited on with trio. Both ends read with
`receive`, which returns None once the other process has closed its end.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
import trio

MOVE: Final = 1
HOME: Final = 2
GONE: Final = 3
EVICT: Final = 4
STATE: Final = 5
COUNTS: Final = 6
PRESSURE: Final = 7
READY: Final = 8

PRESSURE_EVERY_S: Final = 0.2
MAX_MESSAGE: Final = 2 << 20
"""Largest message either side sends or receives (a connection's unparsed bytes are at most a
request head, a receive's worth after it, and a body the front read, which is shorter than
`sequencer.node.service.SHED_BODY_BYTES`; a state message is a few kilobytes)."""

ADMITTED: ContextVar[int] = ContextVar("admitted", default=0)
"""Events the front process admitted for the request being handled (a large submission from
its head, a small one it decoded and counted; `handoff.MOVE`'s ``admitted``). In the front,
`admit` or `fast` sets it for the request it hands on (`take_admitted`); in the sequencer's process it is set around the handler, and the writer's
`reserve` takes the room over from it instead of checking again (the front counted it in
its room check, `sequencer.node.front`), so that a submission the front let through is not
refused later by the slower process."""
_HEADER_LEN: Final = 4
_INT: Final = struct.Struct("@i")


def take_admitted() -> int:
    """`ADMITTED`'s value, which is reset to 0: an admission goes with one request only."""
    admitted = ADMITTED.get()
    if admitted:
        ADMITTED.set(0)
    return admitted


@dataclass(slots=True)
class Message:
    kind: int
    header: dict[str, Any]
    data: bytes = b""
    sock: socket.socket | None = None
    """The connection that came with it (non-blocking), or None."""


def pair() -> tuple[socket.socket, socket.socket]:
    """The two ends (core's, front's), with room for a few large messages each way."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2 * MAX_MESSAGE)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2 * MAX_MESSAGE)
    return a, b


def encode(kind: int, header: dict[str, Any], data: bytes = b"") -> bytes:
    head = orjson.dumps(header)
    return bytes([kind]) + len(head).to_bytes(_HEADER_LEN, "big") + head + data


def decode(raw: bytes, fds: list[int]) -> Message:
    if len(raw) < 1 + _HEADER_LEN:
        raise ValueError(f"handoff message of {len(raw)} bytes is too short")
    n = int.from_bytes(raw[1 : 1 + _HEADER_LEN], "big")
    header = orjson.loads(raw[1 + _HEADER_LEN : 1 + _HEADER_LEN + n])
    sock = None
    if fds:
        sock = socket.socket(fileno=fds[0])
        sock.setblocking(False)
        for extra in fds[1:]:  # never sent; closed rather than leaked
            socket.socket(fileno=extra).close()
    return Message(raw[0], header, raw[1 + _HEADER_LEN + n :], sock)


class Channel:
    """One end of the pair, on one trio loop: `send` (optionally handing a connection over,
    which is closed here once sent) and `receive`."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._send_lock = trio.Lock()

    def unread(self) -> int:
        """Bytes this end sent that the other has not read yet (the kernel's count,
        ``SIOCOUTQ``; 0 where it cannot say)."""
        try:
            out = fcntl.ioctl(self.sock.fileno(), termios.TIOCOUTQ, b"\0" * _INT.size)
        except OSError:
            return 0
        unread: int = _INT.unpack(out)[0]
        return unread

    async def send(
        self,
        kind: int,
        header: dict[str, Any],
        data: bytes = b"",
        conn: socket.socket | None = None,
    ) -> None:
        """Send one message; with `conn`, hand that descriptor over (and close it here)."""
        payload = encode(kind, header, data)
        if len(payload) > MAX_MESSAGE:
            raise ValueError(f"handoff message of {len(payload)} bytes exceeds {MAX_MESSAGE}")
        async with self._send_lock:
            while True:
                try:
                    self._send_once(payload, conn)
                    break
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self.sock)
        if conn is not None:
            conn.close()

    def send_nowait(
        self,
        kind: int,
        header: dict[str, Any],
        data: bytes = b"",
        conn: socket.socket | None = None,
    ) -> bool:
        """Send one message without waiting (from a callback): True once sent (and `conn`
        closed here); False if the channel is full or closed (`conn` is still ours then)."""
        if self._send_lock.locked():
            return False  # a waiting `send` goes first: messages stay in order
        try:
            self._send_once(encode(kind, header, data), conn)
        except OSError:
            return False
        if conn is not None:
            conn.close()
        return True

    def _send_once(self, payload: bytes, conn: socket.socket | None) -> None:
        """One non-blocking send of `payload`, with `conn`'s descriptor if given."""
        if conn is None:
            self.sock.send(payload)
        else:
            socket.send_fds(self.sock, [payload], [conn.fileno()])

    async def receive(self) -> Message | None:
        """The next message; None once the other end is closed."""
        while (message := self.receive_nowait()) is False:
            await trio.lowlevel.wait_readable(self.sock)
        return message

    def receive_nowait(self) -> Message | Literal[False] | None:
        """A message already waiting, False if none is, None once the other end is closed."""
        try:
            raw, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return None
        if not raw and not fds:
            return None
        return decode(raw, fds)

    def close(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
