"""The HTTP I/O loop (`serve_http(io_thread=True)`, `[serve] io_thread`): which loop answers
what, connections moved to the main loop and back, the shared connection cap, and shutdown.
The process cases run the front process (`[serve] front_process`, the default) too; its own
attacks are in test_front_process.py.

In-process cases drive `serve_http` over loopback sockets; the process cases run `attest serve`
under 200 writers and under SIGTERM (the latency figures are bench/bench_overload.py's, not a
test's: docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from bench import bench_overload
from prover.jsonrpc import JsonRpcError
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc import http_server
from sequencer.rpc.client import RpcClient, TransportError
from sequencer.rpc.http_server import HttpLimits, Request, RequestHead, Response
from tests.sequencer.events import h32, unsigned
from tests.sequencer.rpc.test_hostile_clients import assert_acked_intact
from tests.sequencer.rpc.test_http_server import RawClient, post

IO_THREAD = "attest-http-io"


class Seen:
    """Which thread answered what, and the main loop's handlers still running."""

    def __init__(self) -> None:
        self.threads: list[tuple[str, str]] = []
        self.running = 0
        self.release = trio.Event()

    async def fast(self, request: Request) -> Response | None:
        if request.path != "/health":
            return None
        self.threads.append(("fast", threading.current_thread().name))
        return Response(200, b'{"status":"ok"}')

    async def handler(self, request: Request) -> Response:
        self.threads.append((request.path, threading.current_thread().name))
        self.running += 1
        try:
            if request.path == "/wait":
                await self.release.wait()
            if request.path == "/stream":

                async def stream(write: http_server.Write) -> None:
                    while True:
                        await write(b"data: tick\n\n")
                        await trio.sleep(0.01)

                return Response(200, content_type="text/event-stream", stream=stream)
            return Response(200, orjson.dumps({"path": request.path}))
        finally:
            self.running -= 1


def refuse_big(head: RequestHead) -> Response | None:
    """An `Admit` refusing every body of 64 KiB or more (like a full queue)."""
    if head.content_length is not None and head.content_length >= 65536:
        body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"full","data":{"retryAfterMs":100}}}'
        return Response(503, body, headers=(("Retry-After", "1"),))
    return None


@contextlib.asynccontextmanager
async def threaded(
    seen: Seen, limits: HttpLimits | None = None
) -> AsyncIterator[tuple[int, trio.CancelScope, trio.Event]]:
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        done = trio.Event()

        async def run(task_status: trio.TaskStatus[int]) -> None:
            with scope:
                await http_server.serve_http(
                    seen.handler,
                    "127.0.0.1",
                    0,
                    limits=limits or HttpLimits(),
                    admit=refuse_big,
                    fast=seen.fast,
                    io_thread=True,
                    task_status=task_status,
                )
            done.set()

        port = await nursery.start(run)
        try:
            yield port, scope, done
        finally:
            nursery.cancel_scope.cancel()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 (task counts have no event to wait on)
            await trio.sleep(0.01)


def count_tasks() -> int:
    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(walk(t) for n in task.child_nurseries for t in n.child_tasks)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return walk(root)


async def test_fast_answers_and_refusals_on_the_io_loop_the_rest_moves_to_the_main_loop() -> None:
    seen = Seen()
    async with threaded(seen) as (port, _, _):
        client = await RawClient.connect(port)
        await client.send(get("/health"))
        assert (await client.read_response())[0] == 200
        # A refusal from the head is the I/O loop's too; the body is skipped, the connection
        # stays open and on the I/O loop.
        await client.send(post(b"x" * 70000))
        status, _, body = await client.read_response()
        assert status == 503 and orjson.loads(body)["error"]["data"]["retryAfterMs"] == 100
        await client.send(get("/health"))
        assert (await client.read_response())[0] == 200
        assert seen.threads == [("fast", IO_THREAD), ("fast", IO_THREAD)]
        # The first request the I/O loop does not answer moves the connection for good:
        # the handler answers it, and every later request, on the main loop.
        await client.send(get("/other") + get("/health"))
        assert orjson.loads((await client.read_response())[2]) == {"path": "/other"}
        assert (await client.read_response())[0] == 200
        main = threading.main_thread().name
        assert seen.threads[2:] == [("/other", main), ("/health", main)]
        # Refused from the head on the main loop as well, the body skipped there.
        await client.send(post(b"y" * 70000) + get("/after"))
        assert (await client.read_response())[0] == 503
        assert orjson.loads((await client.read_response())[2]) == {"path": "/after"}
        await client.aclose()


async def test_a_client_gone_mid_handler_leaves_no_task_behind() -> None:
    seen = Seen()
    async with threaded(seen) as (port, _, _):
        await trio.sleep(0.1)
        baseline = count_tasks()
        client = await RawClient.connect(port)
        await client.send(get("/wait"))
        await until(lambda: seen.running > 0)
        assert count_tasks() > baseline  # the moved connection's task, in the handler
        await client.aclose()
        seen.release.set()
        await until(lambda: count_tasks() == baseline)
        # A streamed answer whose client goes away ends at its next write.
        client = await RawClient.connect(port)
        await client.send(get("/stream"))
        while b"data: tick" not in client.buf:
            await client._fill()
        await client.aclose()
        await until(lambda: count_tasks() == baseline and not seen.running)


async def test_at_the_cap_an_idle_connection_on_the_main_loop_makes_room() -> None:
    seen = Seen()
    async with threaded(seen, HttpLimits(max_connections=3)) as (port, _, _):
        idle = []
        for i in range(3):
            client = await RawClient.connect(port)
            await client.send(get(f"/moved-{i}"))  # moved to the main loop, then idle
            assert (await client.read_response())[0] == 200
            idle.append(client)
        # The I/O loop has no idle connection of its own: it asks the main loop to close one.
        newcomer = await RawClient.connect(port)
        await newcomer.send(get("/health"))
        with trio.fail_after(10):
            assert (await newcomer.read_response())[0] == 200
        with trio.fail_after(10):
            assert await idle[0].is_closed()


async def test_cancelling_with_requests_in_flight_on_both_loops_ends_promptly() -> None:
    seen = Seen()
    async with threaded(seen) as (port, scope, done):
        waiting = await RawClient.connect(port)
        await waiting.send(get("/wait"))  # on the main loop, in its handler
        trickling = await RawClient.connect(port)
        await trickling.send(b"GET /health HTTP/1.1\r\n")  # on the I/O loop, half a head
        await until(lambda: seen.running > 0)
        started = time.monotonic()
        scope.cancel()
        with trio.fail_after(10):
            assert await waiting.is_closed()
            assert await trickling.is_closed()
            await done.wait()
        assert time.monotonic() - started < 6
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)
        assert not any(t.name == IO_THREAD for t in threading.enumerate())


# --- against `attest serve` ---------------------------------------------------------------


@pytest.mark.parametrize("front", ["process", "thread"])
def test_reads_and_refusals_keep_answering_under_200_writers(tmp_path: Path, front: str) -> None:
    """While 200 writers overload the server: `/health`, `HEAD /health`, `attest_status` (alone
    and batched) keep answering correctly, and a refused submission says when to retry; with
    the front process (the default) and with the I/O thread."""
    config = bench_overload.write_config(tmp_path, front=front)
    with SequencerProcess(tmp_path / "d", config=config) as proc:
        outcome: dict[str, Any] = {}

        def load() -> None:
            outcome["report"] = bench_overload.overload(
                proc.url, seconds=6, writers=200, batch=1000
            )

        attack = threading.Thread(target=load, daemon=True)
        attack.start()
        time.sleep(1.0)  # the queue fills
        answered = {"health": 0, "head": 0, "status": 0, "batch": 0}
        retry_hints: list[int] = []
        deadline = time.monotonic() + 4.0

        def submit(n: int) -> None:  # its own connection: an admitted batch waits for its ack
            events = [unsigned(i) | {"digest": h32(f"probe-{n}-{i}")} for i in range(1000)]
            with RpcClient(proc.url, token="dev", timeout=30) as rpc:
                while time.monotonic() < deadline:
                    try:
                        rpc.call("attest_submitBatch", events)
                    except JsonRpcError as exc:
                        assert exc.code == -32005, exc
                        retry_hints.append(exc.data["retryAfterMs"])
                    time.sleep(0.02)

        # Four, each retrying 20 ms after its answer: each is admitted about one time in four
        # (the 200 writers are held off between refusals), so some are refused.
        submitters = [threading.Thread(target=submit, args=(n,), daemon=True) for n in range(4)]
        for submitter in submitters:
            submitter.start()
        with RpcClient(proc.url, timeout=10) as rpc:
            while time.monotonic() < deadline:
                health = rpc.request("GET", "/health")
                assert health.status == 200 and orjson.loads(health.body)["status"] == "ok"
                answered["health"] += 1
                head = rpc.request("HEAD", "/health")
                assert head.status == 200 and head.body == b""
                answered["head"] += 1
                status = rpc.call("attest_status")
                assert status["treeSize"] >= 0 and status["root"].startswith("0x")
                answered["status"] += 1
                both = rpc.batch([("attest_status", []), ("attest_status", [])])
                assert all(isinstance(s, dict) and "treeSize" in s for s in both)
                answered["batch"] += 1
        for submitter in submitters:
            submitter.join(60)
            assert not submitter.is_alive(), "a submitting client is stuck"
        attack.join(60)
        assert not attack.is_alive(), "the load process is stuck"
        report = outcome["report"]
        assert report["overloaded"] > 0, "the queue never filled: not an overload"
        assert report["other_errors"] == 0, report["error_kinds"]
        # Not starved: a read every 200 ms at the very least, though each answer is much faster
        # (the figures are in docs/benchmarks.md).
        assert min(answered.values()) >= 20, answered
        assert retry_hints and all(isinstance(ms, int) and ms > 0 for ms in retry_hints)


@pytest.mark.parametrize("front", ["process", "thread"])
def test_sigterm_under_load_on_both_loops_keeps_every_ack(tmp_path: Path, front: str) -> None:
    """SIGTERM while submissions run on the main loop and reads on the I/O loop (or in the
    front process): the process exits 0 within the bound, and after a restart every
    acknowledged event is where its receipt says."""
    data = tmp_path / "d"
    acked: dict[str, tuple[int, str]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(url: str, n: int) -> None:
        with RpcClient(url, token="dev", timeout=10) as rpc:
            for round_ in range(10_000):
                if stop.is_set():
                    return
                events = [
                    unsigned(k) | {"digest": h32(f"sigterm-{n}-{round_}-{k}")} for k in range(100)
                ]
                try:
                    out = rpc.call("attest_submitBatch", events)
                except JsonRpcError:
                    continue  # refused: nothing acknowledged
                except (TransportError, OSError):
                    return  # the server is stopping
                with lock:
                    for event, placed in zip(events, out["events"], strict=True):
                        acked[event["digest"]] = (placed["seq"], placed["leafHash"])

    def reader(url: str) -> None:
        with RpcClient(url, timeout=10) as rpc:
            while not stop.is_set():
                try:
                    rpc.call("attest_status")
                    rpc.request("GET", "/health")
                except (TransportError, OSError, JsonRpcError):
                    return

    proc = SequencerProcess(data, config=bench_overload.write_config(tmp_path, front=front))
    try:
        workers = [threading.Thread(target=submitter, args=(proc.url, n)) for n in range(16)]
        workers += [threading.Thread(target=reader, args=(proc.url,)) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(2.5)
        started = time.monotonic()
        os.kill(proc.proc.pid, signal.SIGTERM)
        code = proc.proc.wait(timeout=20)
        took = time.monotonic() - started
        stop.set()
        for w in workers:
            w.join(30)
            assert not w.is_alive(), "a client is stuck"
    finally:
        proc.stop(timeout=15)
    assert code == 0, f"exit {code}"
    assert took < 15, f"SIGTERM took {took:.1f} s"
    assert len(acked) > 0, "nothing was acknowledged before SIGTERM"
    with SequencerProcess(data) as again:
        assert_acked_intact(again.url, acked)


async def test_a_refused_connection_comes_back_to_the_io_loop_and_is_refused_there() -> None:
    """A writer's connection lives on the main loop; told to hold off, it is handed back to
    the I/O loop, which waits the hold-off out and reads (and refuses, while the queue is full)
    its next request, without waiting for the main loop's round. While clients are being
    refused, a main-loop connection also goes back after an ordinary answer."""
    seen = Seen()
    admitted: list[str] = []

    def refuse_marked(head: RequestHead) -> Response | None:
        if head.path.startswith("/full"):
            admitted.append(threading.current_thread().name)
            return Response(503, b'{"error":"full"}', hold_off_s=0.05)
        return None

    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: http_server.serve_http(
                seen.handler,
                "127.0.0.1",
                0,
                limits=HttpLimits(),
                admit=refuse_marked,
                fast=seen.fast,
                io_thread=True,
                task_status=task_status,
            )
        )
        client = await RawClient.connect(port)
        await client.send(get("/moved"))  # moves the connection to the main loop
        assert (await client.read_response())[0] == 200
        await client.send(get("/full-1"))  # refused on the main loop, then sent back
        assert (await client.read_response())[0] == 503
        await trio.sleep(0.1)
        await client.send(get("/full-2"))
        assert (await client.read_response())[0] == 503
        main, io = threading.main_thread().name, IO_THREAD
        assert admitted == [main, io]
        # Under pressure an ordinary answer on the main loop sends the connection back too:
        # the request after it is read on the I/O loop (its /health answered there).
        await trio.sleep(0.1)
        await client.send(get("/again"))
        assert orjson.loads((await client.read_response())[2]) == {"path": "/again"}
        await client.send(get("/health"))
        assert (await client.read_response())[0] == 200
        assert seen.threads[-2:] == [("/again", main), ("fast", io)]
        await client.aclose()
        nursery.cancel_scope.cancel()
