"""The HTTP front process of `attest serve` (`[serve] front_process`, on by default; issue 12
item 4).

Under 200 writers the sequencer's event loop and its threads hold the GIL nearly all the time,
so a read or a refusal answered in that process waits for the GIL and for a scheduler round,
tens of milliseconds at p99 on two cores whichever thread answers it (docs/design.md,
"Backpressure in milliseconds"). The front is a process of its own with one trio loop that
owns the listeners and answers, from what the sequencer publishes, what needs no store:

* a submission refused from its head (`admit`: the queue has no room for the events its
  length implies), or a small one refused once decoded (`submission_refusal`);
* ``GET``/``HEAD /health`` and `attest_status` (a lone call or a batch of up to `FAST_BATCH`).

Every other request's connection is handed to the sequencer's process over a Unix socket
(`sequencer.rpc.handoff`), with the bytes of the request so far, and stays there while it is
busy; a connection told to hold off (-32005) comes back here between requests
(`sequencer.rpc.http_server._serve_with_front`).

What the front answers from:

* the writer's room, in a shared page (`Board`): events waiting and the drain rate, written
  by the sequencer at every change (two machine words, no lock: each is read whole);
* everything else in a `STATE` message the sequencer sends after every group commit, before
  any of its callers is answered, and every `REFRESH_S` (the L1 part and the promise gate):
  `/health`'s answer, `attest_status`'s result, the writer's failure and the gate's reason.
  The front reads the messages waiting before each answer, so a status read after an
  acknowledgement sees the acknowledged events.

The front ignores SIGINT and SIGTERM (a terminal's Ctrl-C or a supervisor's signal to the
process group): it stops when the sequencer closes the channel, or dies.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Final

import orjson
import trio

from prover.errors import AttestError, OverloadedError
from prover.jsonrpc import error_response
from sequencer import logs
from sequencer.node.writer import Writer, drain_ms, room_error
from sequencer.rpc import errors as rpc_errors
from sequencer.rpc import handoff
from sequencer.rpc.cors import with_cors
from sequencer.rpc.http_server import HttpLimits, Request, RequestHead, Response, serve_front
from sequencer.rpc.jsonrpc import Dispatcher, RpcContext, make_http_handler

log = logging.getLogger(__name__)

MAX_IN_FLIGHT_SHARE: Final = 2
"""Admitted events whose bodies the sequencer has not read yet hold at most half the queue;
beyond, a large submission is refused from its head while those bodies are arriving or the
sequencer is behind (`BODIES_FLOWING_S`, `FrontState.sequencer_behind`), and handed on
unadmitted otherwise (the sequencer decides, at once)."""
BODIES_FLOWING_S: Final = 0.5
"""The admissions in flight are bodies on their way, not heads alone, while the sequencer has
read the body of one admitted from its head this recently (`Board.body_in_at`)."""
CROWDED_SHARE: Final = 4
"""The queue is crowded when more than a quarter of it is taken (`FrontProcess.goes_home`)."""
FRONT_BEAT_S: Final = 1.0
"""How often the front writes the time on the board (`Board.front_beat_at`)."""
SILENT_S: Final = 5.0
"""A front that has not beaten for this long is stopped or hung: the sequencer kills it (and
exits, naming it). A sequencer whose last `STATE` (every `REFRESH_S`) is this old is stopped or
hung: the front answers `/health` with 503 (a supervisor restarts it)."""
START_S: Final = 30.0
"""The longest the front may take to start (import, bind its loop) before its first beat."""
WATCH_S: Final = 0.5
"""How often the sequencer looks at the front's beat."""
REFRESH_S: Final = 0.25
"""How often the sequencer sends a `STATE` without a commit (L1 status, the promise gate)."""
COUNTS_S: Final = 1.0
"""How often the front sends the sequencer its counts of requests it answered."""
_ROOM: Final = struct.Struct("<qd")  # events waiting, drain rate (events a second)
_COUNT: Final = struct.Struct("<q")
_TAKEN_AT: Final = 16  # events of the front's admissions that are over (the sequencer's)
_BODY_IN_AT: Final = 24  # when the sequencer last read an admitted body (the sequencer's)
_FRONT_BEAT_AT: Final = 40  # when the front's event loop last ran its beat (the front's)
_FORWARDED_AT: Final = 64  # events the front admitted, in all (the front's)
_MOMENT: Final = struct.Struct("<d")  # `time.monotonic()`: one clock for every process
_BOARD_BYTES: Final = mmap.PAGESIZE


class Board:
    """The writer's room, shared between the two processes through one memory page.

    Each field has one writer and is written whole (an aligned machine word), so no lock:
    the sequencer writes the events waiting and the drain rate, and the total of the front's
    admissions it has taken over or dropped; the front writes the total it has admitted. The
    admissions in flight are the difference. The sequencer counts a taken-over admission into
    the waiting events before it adds it to the taken total, and the front reads the taken
    total before the waiting events, so a race counts such events twice, never not at all.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, _BOARD_BYTES)

    @classmethod
    def create(cls) -> Board:
        fd = os.memfd_create("attest-front-board", 0)
        os.ftruncate(fd, _BOARD_BYTES)
        return cls(fd)

    def write_room(self, waiting: int, drain_eps: float) -> None:
        _ROOM.pack_into(self._map, 0, waiting, drain_eps)

    def write_taken(self, taken: int) -> None:
        _COUNT.pack_into(self._map, _TAKEN_AT, taken)

    def write_body_in(self, at: float) -> None:
        _MOMENT.pack_into(self._map, _BODY_IN_AT, at)

    def body_in_at(self) -> float:
        """When (`time.monotonic()`) the sequencer last read the body of a request the front
        admitted from its head (0: never)."""
        at: float = _MOMENT.unpack_from(self._map, _BODY_IN_AT)[0]
        return at

    def write_front_beat(self, at: float) -> None:
        _MOMENT.pack_into(self._map, _FRONT_BEAT_AT, at)

    def front_beat_at(self) -> float:
        """When (`time.monotonic()`) the front's event loop last beat (0: not yet)."""
        at: float = _MOMENT.unpack_from(self._map, _FRONT_BEAT_AT)[0]
        return at

    def write_forwarded(self, forwarded: int) -> None:
        _COUNT.pack_into(self._map, _FORWARDED_AT, forwarded)

    def read_forwarded(self) -> int:
        forwarded: int = _COUNT.unpack_from(self._map, _FORWARDED_AT)[0]
        return forwarded

    def in_flight(self) -> int:
        """Events the front admitted that the sequencer has not taken over yet."""
        taken: int = _COUNT.unpack_from(self._map, _TAKEN_AT)[0]
        forwarded: int = _COUNT.unpack_from(self._map, _FORWARDED_AT)[0]
        return forwarded - taken

    def crowded(self, max_queue: int) -> bool:
        """More than a `CROWDED_SHARE` of `max_queue` is taken, admissions in flight included."""
        return self.read()[0] > max_queue // CROWDED_SHARE

    def read(self) -> tuple[int, float]:
        """(events waiting, in flight included; drain rate)."""
        in_flight = self.in_flight()  # the taken total first (see the class docstring)
        waiting, drain_eps = _ROOM.unpack_from(self._map, 0)
        return waiting + in_flight, drain_eps


# --- the sequencer's side -----------------------------------------------------------------


class FrontProcess:
    """`serve_http(front=...)`'s launcher: starts ``python -m sequencer.node.front`` and
    keeps it informed (`publish`, wired to the writer's `on_room`/`on_commit`)."""

    def __init__(
        self,
        *,
        writer: Writer,
        limits: HttpLimits,
        max_queue: int,
        shed_body_bytes: int,
        min_event_bytes: int,
        cors_origins: frozenset[str],
        priority: int,
        state: Callable[[], dict[str, Any]],
        count: Callable[[str, str, int], None],
    ) -> None:
        """`state()` is the `STATE` message's content; `count(method, outcome, n)` adds the
        front's answers to this process's metrics."""
        self._writer = writer
        self._max_queue = max_queue
        self._home_body_bytes = shed_body_bytes  # the front admits these from their head
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._board = Board.create()
        self._channel: handoff.Channel | None = None
        self._state = state
        self._count = count
        self._settings = {
            "limits": asdict(limits),
            "maxQueue": max_queue,
            "shedBodyBytes": shed_body_bytes,
            "minEventBytes": min_event_bytes,
            "cors": sorted(cors_origins),
            "priority": priority,
            "log": logs.current(),
        }
        writer.on_room = self._board.write_room
        writer.on_taken = self._board.write_taken
        writer.front_in_flight = self._board.in_flight
        writer.on_commit = self.publish_commit
        writer.on_stop = self.publish
        self._board.write_room(writer.waiting, writer.drain_eps)
        self._board.write_taken(writer.front_taken)
        self._board.write_forwarded(writer.front_taken)

    def start(self, listener_fds: list[int], channel_fd: int) -> subprocess.Popen[bytes]:
        fds = [*listener_fds, channel_fd, self._board.fd]
        argv = [sys.executable, "-m", "sequencer.node.front",
                "--listeners", ",".join(map(str, listener_fds)), "--channel", str(channel_fd),
                "--board", str(self._board.fd),
                "--settings", orjson.dumps(self._settings).decode()]  # fmt: skip
        self._proc = subprocess.Popen(argv, pass_fds=fds)
        self._started_at = time.monotonic()
        return self._proc

    async def watch(self) -> None:
        """Kill the front if its loop stops beating (`SILENT_S`; `START_S` before its first
        beat): a stopped (SIGSTOP) or hung front would take every connection and answer none,
        and this process would never learn of it. Killed, it ends; `serve_http` then raises
        `FrontExitedError` and the server exits non-zero, for a supervisor to restart."""
        while True:
            await trio.sleep(WATCH_S)
            proc = self._proc
            if proc is None or proc.poll() is not None:
                continue  # not started, or exited: `serve_http` says so
            beat = self._board.front_beat_at()
            silent = time.monotonic() - max(beat, self._started_at)
            if silent > (SILENT_S if beat else START_S):
                log.error(
                    "the HTTP front process (pid %d) has not run for %.1f s (stopped or hung):"
                    " killing it",
                    proc.pid,
                    silent,
                )
                proc.kill()
                return

    def attach(self, channel: handoff.Channel) -> None:
        self._channel = channel
        self.publish()

    def release(self, events: int) -> None:
        self._writer.release_admitted(events)

    def admitted_body_in(self) -> None:
        self._board.write_body_in(time.monotonic())

    def goes_home(self, body_bytes: int) -> bool:
        # A large body: the next such request is best admitted by the front. A crowded
        # queue: the next request of any size may be refused, best there too.
        return body_bytes >= self._home_body_bytes or self._board.crowded(self._max_queue)

    def counts(self, header: dict[str, Any]) -> None:
        for method, outcomes in header.get("requests", {}).items():
            for outcome, n in outcomes.items():
                self._count(method, outcome, n)

    def publish(self) -> None:
        """Send the front what it answers from (never blocks: a full channel drops it)."""
        if self._channel is not None and not self._channel.send_nowait(
            handoff.STATE, self._state()
        ):
            log.debug("the HTTP front's channel is full: a state update was dropped")

    async def publish_commit(self) -> None:
        """`publish`, waiting for room in the channel if need be (after a group commit: the
        front must have it before any of the group's callers is answered)."""
        channel = self._channel
        if channel is not None:
            state = self._state()
            if not channel.send_nowait(handoff.STATE, state):
                with contextlib.suppress(OSError):  # the front is gone: the server stops
                    await channel.send(handoff.STATE, state)

    async def refresh(self) -> None:
        """`publish` every `REFRESH_S` (the L1 status and the promise gate move by themselves)."""
        while True:
            await trio.sleep(REFRESH_S)
            self.publish()


def state_message(
    health: tuple[int, bytes], status: dict[str, Any], failure: str | None, gate: str | None
) -> dict[str, Any]:
    return {
        "health": [health[0], health[1].decode()],
        "status": status,
        "failure": failure,
        "gate": gate,
    }


# --- the front's side ---------------------------------------------------------------------


class FrontState:
    """What the front answers from: the last `STATE` and the board."""

    def __init__(self, board: Board, settings: dict[str, Any]) -> None:
        self.board = board
        self.max_queue: int = settings["maxQueue"]
        self.shed_body_bytes: int = settings["shedBodyBytes"]
        self.min_event_bytes: int = settings["minEventBytes"]
        self.state: dict[str, Any] | None = None
        self.state_at = 0.0  # `time.monotonic()` of the last `STATE`
        self.unread: Callable[[], int] = lambda: 0
        """Bytes sent to the sequencer that it has not read (`handoff.Channel.unread`)."""
        self.requests: dict[str, dict[str, int]] = {}
        self.forwarded = board.read_forwarded()  # the sequencer's start value (none in flight)

    def forward(self, events: int) -> None:
        """`events` admitted with a request moved on (negative: the move failed)."""
        self.forwarded += events
        self.board.write_forwarded(self.forwarded)

    def update(self, header: dict[str, Any]) -> None:
        self.state = header
        self.state_at = time.monotonic()

    def sequencer_behind(self) -> bool:
        """Messages wait for the sequencer on the channel (moved connections, admitted ones
        among them): it is behind, a stall or work ahead. An idle sequencer takes each off
        within a fraction of a millisecond."""
        return self.unread() > 0

    def count(self, method: str, outcome: str) -> None:
        by_outcome = self.requests.setdefault(method, {})
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1

    def room_error(self, n: int) -> AttestError | None:
        state = self.state
        if state is None:
            return None  # nothing heard yet: the sequencer decides
        waiting, drain_eps = self.board.read()
        return room_error(
            n,
            failure=state["failure"],
            gate=state["gate"],
            waiting=waiting,
            max_queue=self.max_queue,
            drain_eps=drain_eps,
        )

    def admit(self, head: RequestHead) -> Response | None:
        """A large submission, judged from its head alone: refused unless the queue has room
        for as many events as its length can hold (`MIN_EVENT_WIRE_BYTES` each); if it has,
        let through with that room taken (`handoff.ADMITTED`), so that the sequencer, which
        reads the body, does not refuse it later (its `reserve` takes the room over).

        Stricter than `attest serve`'s own `admit` (which refuses only when even the fewest
        events the length allows do not fit): near the bound a batch of large events is
        refused while smaller ones fit, and the refusal is never the slow one.

        Admissions whose bodies the sequencer has not read yet hold at most half the queue
        (`MAX_IN_FLIGHT_SHARE`). Beyond, the submission is refused too while those bodies are
        arriving or the sequencer is behind (`BODIES_FLOWING_S`, `sequencer_behind`), and handed
        on unadmitted while they are heads alone.
        """
        length = head.content_length
        if head.method != "POST" or length is None or length < self.shed_body_bytes:
            return None
        most = -(-length // self.min_event_bytes)
        error = self.room_error(most)
        if error is not None:
            return refusal_response(None, error, status=503)
        # Admitted room is held until the sequencer reads the body, at most a second
        # (`ADMISSION_HOLD_S`); bodies still on their way may hold half the queue in
        # all, so that clients sending heads and no bodies cannot shut the others out.
        in_flight = self.board.in_flight()
        if in_flight + most <= self.max_queue // MAX_IN_FLIGHT_SHARE:
            handoff.ADMITTED.set(most)
            return None
        # At the cap. While the bodies admitted before are arriving, or the sequencer's loop
        # is behind, a submission handed on unadmitted would be read after all of them and
        # then race the others for what room is left, refused tens of milliseconds from now
        # if it lost: refuse it now, from its head. Held by heads alone (no body read for a
        # while) with the sequencer idle, the cap says nothing of the queue: hand it on, the
        # sequencer reads it at once and decides.
        now = time.monotonic()
        if now - self.board.body_in_at() <= BODIES_FLOWING_S or self.sequencer_behind():
            waiting, drain_eps = self.board.read()
            error = OverloadedError(
                f"ingest is behind: {in_flight} admitted events' bodies are still being read"
                f" ({waiting} events waiting in all); retry later",
                retry_after_ms=drain_ms(waiting, drain_eps),
            )
            return refusal_response(None, error, status=503)
        return None

    def health(self) -> Response | None:
        if self.state is None:
            return None
        silent = time.monotonic() - self.state_at
        if silent > SILENT_S:
            # Stopped (SIGSTOP) or hung: the front would answer from a state that no longer
            # moves, and every submission it hands on would wait. 503, for a supervisor.
            body = orjson.loads(self.state["health"][1])
            body.update(status="unhealthy", reason=f"the sequencer has not run for {silent:.0f} s")
            return Response(503, orjson.dumps(body))
        status, text = self.state["health"]
        return Response(status, text.encode())

    async def attest_status(self, ctx: RpcContext) -> dict[str, Any]:
        assert self.state is not None
        result: dict[str, Any] = self.state["status"]
        return result


def refusal_response(req_id: Any, error: AttestError, *, status: int = 200) -> Response:
    """A submission's refusal (-32005, -32010, -32011), held off for its retry hint."""
    body = orjson.dumps(error_response(req_id, rpc_errors.error_object(error)))
    retry_ms: int = getattr(error, "retry_after_ms", 0)
    headers: tuple[tuple[str, str], ...] = ()
    if status == 503:
        headers = (("Retry-After", str(max(1, -(-(retry_ms or 1000) // 1000)))),)
    return Response(status, body, headers=headers, hold_off_s=retry_ms / 1000)


async def _front_main(args: argparse.Namespace) -> None:
    # Imported here: the service module imports this one.
    from sequencer.node.service import (
        FAST_BATCH,
        FAST_BODY_BYTES,
        FAST_METHODS,
        decode_post,
        is_fast_request,
        submission_of,
        tune_gc,
    )

    settings = orjson.loads(args.settings)
    front = FrontState(Board(args.board), settings)
    dispatcher = Dispatcher(max_batch=FAST_BATCH, observe=front.count)
    assert frozenset({"attest_status"}) == FAST_METHODS
    dispatcher.register("attest_status", front.attest_status, params=(), doc="")

    async def health(request: Request) -> Response:
        answer = front.health()
        assert answer is not None
        return answer

    fast_handler = with_cors(
        make_http_handler(dispatcher, extra_routes={("GET", "/health"): health}),
        frozenset(settings["cors"]),
    )

    async def fast(request: Request) -> Response | None:
        if front.state is None:
            return None
        if len(request.body) > FAST_BODY_BYTES and b"attest_submit" not in request.body:
            return None  # a large read: the sequencer's, undecoded here
        message = decode_post(request)
        submission = submission_of(message)
        if submission is not None:
            error = front.room_error(submission.events)
            if error is not None:
                front.count(
                    submission.method, rpc_errors.outcome_name(rpc_errors.error_code(error))
                )
                return refusal_response(submission.req_id, error)
            # Let through: its events count against the room until the sequencer's `reserve`
            # takes them over (`handoff.ADMITTED`; `serve_front` adds them up as it moves it).
            handoff.ADMITTED.set(submission.events)
            return None
        if not is_fast_request(request, message):
            return None
        return await fast_handler(request)

    channel = handoff.Channel(socket.socket(fileno=args.channel))
    front.unread = channel.unread
    listeners = [
        trio.SocketListener(trio.socket.from_stdlib_socket(socket.socket(fileno=int(fd))))
        for fd in args.listeners.split(",")
    ]

    async def beat() -> None:
        while True:  # the sequencer watches it (`FrontProcess.watch`)
            front.board.write_front_beat(time.monotonic())
            await trio.sleep(FRONT_BEAT_S)

    async def send_counts() -> None:
        while True:
            await trio.sleep(COUNTS_S)
            if front.requests and channel.send_nowait(handoff.COUNTS, {"requests": front.requests}):
                front.requests = {}  # sent; else they are sent with the next second's

    tune_gc()  # the cyclic collector's passes are pauses in every answer here
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_counts)
        nursery.start_soon(beat)
        await serve_front(
            channel,
            listeners,
            HttpLimits(**settings["limits"]),
            admit=front.admit,
            fast=fast,
            # Bodies below the head's shed size are read here: a submission among them is
            # counted exactly (and refused here); larger ones are admitted from their head.
            fast_body_bytes=front.shed_body_bytes,
            on_state=front.update,
            forwarded=front.forward,
        )
        nursery.cancel_scope.cancel()


def _set_priority(nice: int) -> None:
    """Run at `nice` (`[serve] front_priority`): below the sequencer's, the front is run first
    when the two cores are busy, which is what its answers wait for under overload
    (docs/benchmarks.md §10)."""
    if nice == os.getpriority(os.PRIO_PROCESS, 0):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        log.warning(
            "front_priority %d needs root or CAP_SYS_NICE: the front runs at the sequencer's", nice
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sequencer.node.front")
    parser.add_argument("--listeners", required=True)
    parser.add_argument("--channel", type=int, required=True)
    parser.add_argument("--board", type=int, required=True)
    parser.add_argument("--settings", required=True)
    args = parser.parse_args(argv)
    # The sequencer stops the front by closing the channel; a signal to the process group
    # must not end the front first (the sequencer would take that for a crash).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = orjson.loads(args.settings)
    logs.configure(*settings["log"])
    _set_priority(settings["priority"])
    trio.run(_front_main, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
