"""The live dashboard stream (``GET /explorer/live``, server-sent events) against a real
`attest serve`: it pushes the dashboard as events arrive, and it cannot be turned against
ingest: a thousand clients that open streams and never read get at most the caps, cost the
server neither its throughput nor its memory, and the node keeps answering everyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import trio

from prover.eip712 import Domain
from sequencer.devnet.process import SequencerProcess
from sequencer.explorer.api import install
from sequencer.explorer.live import MAX_STREAMS_PER_ADDRESS
from sequencer.rpc import http_server
from sequencer.rpc.client import RpcClient
from sequencer.rpc.http_server import HttpLimits, serve_http
from sequencer.rpc.jsonrpc import Dispatcher, make_http_handler
from sequencer.rpc.read_api import ReadApi
from state_db.store import Store
from tests.sequencer.events import unsigned

REQUEST = b"GET /explorer/live HTTP/1.1\r\nHost: node\r\n\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SequencerProcess]:
    with SequencerProcess(tmp_path / "seq") as proc:
        yield proc


def _open_stream(url: str, source: str = "127.0.0.1") -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection(
        (parts.hostname or "", parts.port or 80), timeout=10, source_address=(source, 0)
    )


def _events(sock: socket.socket, until: float) -> Iterator[tuple[str, bytes]]:
    """(event name or "comment", data) of each server-sent event read until `until`."""
    buf = b""
    while time.monotonic() < until:
        sock.settimeout(max(0.05, until - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return
        if not chunk:
            return
        buf += chunk
        while b"\n\n" in buf:
            block, buf = buf.split(b"\n\n", 1)
            if block.startswith(b"HTTP/1.1"):
                block = block.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in block else b""
            if block.startswith(b":"):
                yield "comment", block
            elif block.startswith(b"event: "):
                name, data = block.split(b"\n", 1)
                yield name[7:].decode(), data.removeprefix(b"data: ")


def test_the_stream_pushes_the_dashboard_as_events_arrive(server: SequencerProcess) -> None:
    sock = _open_stream(server.url)
    sock.sendall(REQUEST)
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Type: text/event-stream" in head
    assert b"Content-Length" not in head
    with RpcClient(server.url, token="dev") as rpc:
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(30)])
    sizes = []
    for name, data in _events(sock, time.monotonic() + 10):
        assert name == "dashboard"
        sizes.append(orjson.loads(data)["status"]["treeSize"])
        if sizes[-1] == 30:
            break
    sock.close()
    assert sizes and sizes[-1] == 30, sizes
    assert sizes == sorted(sizes)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _ingest_rate(url: str, seconds: float, base: int) -> float:
    """Unsigned events/s acknowledged over `seconds`, batches of 200 from one client."""
    sent = 0
    with RpcClient(url, token="dev") as rpc:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            rpc.call("attest_submitBatch", [unsigned(base + sent + k) for k in range(200)])
            sent += 200
        return sent / (time.monotonic() - started)


def test_a_thousand_streams_that_never_read_do_not_hurt_ingest(server: SequencerProcess) -> None:
    """The attacker opens 1000 live streams from 125 loopback addresses (8 each, the
    per-address cap) and never reads a byte. The node holds at most MAX_STREAMS of them,
    refuses the rest at once (`sequencer.explorer.live.MAX_STREAMS`), keeps its memory, and ingests as fast as before, side by side."""
    assert server.proc is not None
    pid = server.proc.pid
    before_rate = _ingest_rate(server.url, 3.0, 0)
    rss_before = _rss_kib(pid)
    attackers = []
    try:
        for i in range(1000):
            source = f"127.0.1.{1 + i // MAX_STREAMS_PER_ADDRESS}"
            sock = _open_stream(server.url, source)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read it
            sock.sendall(REQUEST)
            attackers.append(sock)
        time.sleep(2.0)  # a couple of snapshots pushed into the held streams
        during_rate = _ingest_rate(server.url, 3.0, 10**6)
        rss_during = _rss_kib(pid)
        # Everybody else is still served: the dashboard by JSON-RPC, and a new live stream is
        # refused at once with 503 (every slot is held), not left hanging.
        with RpcClient(server.url) as rpc:
            started = time.monotonic()
            assert rpc.call("explorer_dashboard")["status"]["treeSize"] > 0
            assert time.monotonic() - started < 2.0
        probe = _open_stream(server.url, "127.0.2.1")
        probe.sendall(REQUEST)
        assert probe.recv(64).startswith(b"HTTP/1.1 503")
        probe.close()
    finally:
        for sock in attackers:
            sock.close()
    after_rate = _ingest_rate(server.url, 3.0, 2 * 10**6)
    print(
        f"ingest {before_rate:.0f} events/s before, {during_rate:.0f} with 1000 hostile "
        f"streams, {after_rate:.0f} after; RSS {rss_before} -> {rss_during} KiB"
    )
    # Side by side (before, during, after): the shared 2-core machine moves single runs by
    # +-30% (docs/benchmarks.md), so the bound is loose on purpose; what it catches is a
    # server that stalls, or works or buffers per stream.
    baseline = (before_rate + after_rate) / 2
    assert during_rate >= 0.6 * baseline, (before_rate, during_rate, after_rate)
    assert rss_during - rss_before < 64 * 1024, (rss_before, rss_during)
    # Once the attackers are gone, their slots come back (each held stream notices at its
    # next write) and a stream is granted again.
    deadline = time.monotonic() + 15
    while True:
        probe = _open_stream(server.url, "127.0.3.1")
        probe.sendall(REQUEST)
        granted = probe.recv(64).startswith(b"HTTP/1.1 200")
        probe.close()
        if granted or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert granted, "the attackers' stream slots were never given back"


async def test_a_quiet_stream_gets_heartbeats_and_the_caps_hold(tmp_path: Path) -> None:
    """In process, with no sampler running (so no snapshot is published): the stream sends its
    first snapshot, then a heartbeat comment every `heartbeat_s`; the per-address and global
    caps refuse with 503 and Retry-After; a closed stream gives its slot back."""
    with Store.open(tmp_path / "db") as store:
        dispatcher = Dispatcher()
        reads = ReadApi(store, Domain(31337, bytes(20)), bytes(20))
        explorer = install(dispatcher, reads, "sequencer")
        feed = explorer.live
        feed.heartbeat_s = 0.2
        feed.max_per_address = 2
        feed.max_streams = 3
        handler = make_http_handler(dispatcher, extra_routes=explorer.routes)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                lambda task_status: serve_http(
                    handler, "127.0.0.1", 0, limits=HttpLimits(), task_status=task_status
                )
            )

            async def open_stream(source: str) -> trio.SocketStream:
                sock = trio.socket.socket()
                await sock.bind((source, 0))
                await sock.connect(("127.0.0.1", port))
                stream = trio.SocketStream(sock)
                await stream.send_all(REQUEST)
                return stream

            async def read_until(stream: trio.SocketStream, marker: bytes) -> bytes:
                data = b""
                with trio.fail_after(5):
                    while marker not in data:
                        chunk = await stream.receive_some(65536)
                        assert chunk, data
                        data += chunk
                return data

            first = await open_stream("127.0.0.1")
            data = await read_until(first, b": heartbeat\n\n")
            assert b"retry: 2000\n\nevent: dashboard\ndata: {" in data
            data = await read_until(first, b": heartbeat\n\n" * 2)  # and again, 0.2 s later
            second = await open_stream("127.0.0.1")
            await read_until(second, b"event: dashboard")
            refused = await open_stream("127.0.0.1")  # a third from one address
            data = await read_until(refused, b"\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 503") and b"Retry-After: 10" in data
            third = await open_stream("127.0.0.5")
            await read_until(third, b"event: dashboard")
            over = await open_stream("127.0.0.6")  # a fourth stream in all
            assert (await read_until(over, b"\r\n\r\n")).startswith(b"HTTP/1.1 503")
            assert feed.streams == 3 and feed.refused == 2
            await first.aclose()  # noticed at the next heartbeat
            with trio.fail_after(5):
                while feed.streams != 2:  # noqa: ASYNC110 (the feed has no event for this)
                    await trio.sleep(0.05)
            again = await open_stream("127.0.0.1")
            await read_until(again, b"event: dashboard")
            for s in (second, refused, third, over, again):
                await s.aclose()
            nursery.cancel_scope.cancel()


async def test_a_client_that_stops_reading_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream whose client never reads fills its (cut) send buffer; once a write has been
    blocked for the stream write timeout the server drops it and gives its slot back, while
    a reading stream next to it keeps receiving every snapshot."""
    monkeypatch.setattr(http_server, "STREAM_WRITE_TIMEOUT_S", 1.0)
    with Store.open(tmp_path / "db") as store:
        dispatcher = Dispatcher()
        explorer = install(dispatcher, ReadApi(store, Domain(31337, bytes(20)), bytes(20)), "x")
        feed = explorer.live
        handler = make_http_handler(dispatcher, extra_routes=explorer.routes)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                lambda task_status: serve_http(
                    handler, "127.0.0.1", 0, limits=HttpLimits(), task_status=task_status
                )
            )
            stuck = trio.socket.socket()
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await stuck.connect(("127.0.0.1", port))
            await stuck.send(REQUEST)  # and never a recv
            reader = await trio.open_tcp_stream("127.0.0.1", port)
            await reader.send_all(REQUEST)
            received = 0

            async def read_all() -> None:
                nonlocal received
                while chunk := await reader.receive_some(65536):
                    received += chunk.count(b"event: dashboard")

            nursery.start_soon(read_all)
            with trio.fail_after(30):
                while feed.streams < 2:  # noqa: ASYNC110 (the feed has no event for this)
                    await trio.sleep(0.01)
                published = 0
                # Snapshots as fast as the loop allows, until the stuck stream is dropped.
                while feed.streams == 2:
                    await feed.publish()
                    published += 1
                    await trio.sleep(0.002)
            assert feed.streams == 1
            # It had filled its send buffer before it was dropped (more was offered than fits).
            assert published * len(feed.message) > http_server.STREAM_SEND_BUFFER
            await feed.publish()
            with trio.fail_after(5):
                while received < published:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        stuck.close()
        await reader.aclose()
