"""Throughput of the HTTP + JSON-RPC layer alone (no storage, no crypto), per HTTP parser.

`python -m bench.bench_http` starts the real server (`sequencer.rpc.http_server` +
`sequencer.rpc.jsonrpc`) with trivial methods in a subprocess, then drives it with
`bench.loadgen` in another process over 1, 4 and 16 keep-alive connections. Prints one JSON
object per run, then a summary table.

`--parsers ours,httptools` runs the same load, side by side in one run, against a second
server that frames requests with httptools (llhttp, Node's parser) on the same raw-socket
loop, with the same dispatcher and the same response bytes (issue 12: adopt it only if it costs
at most 5% of ingest throughput and of batched proof reads). `--shapes` picks the requests:

* ``tiny``: one small call (about 60 bytes);
* ``ingest``: a 1,000-event `attest_submitBatch`-sized body (~170 kB) answered briefly
  (`count`), the shape of an ingest request;
* ``proofs``: a small batch answered with 64 x 2 kB strings (`blob`), the shape of a batched
  proof read.

The server's CPU time per request is the figure to compare (requests/s depends on what else
the shared machine runs).

`python -m bench.bench_http serve [--parser httptools]` runs only a server and prints
``{"port": N}`` once listening (what the driver uses).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import trio

from bench.loadgen import run_load_subprocess
from sequencer.rpc.http_server import (
    _STATUS_LINES,
    Handler,
    HttpLimits,
    Request,
    Response,
    _date,
    serve_http,
)
from sequencer.rpc.jsonrpc import Dispatcher, Param, RpcContext, make_http_handler


async def echo(ctx: RpcContext, value: Any) -> Any:
    """Return the parameter unchanged."""
    return value


async def count(ctx: RpcContext, values: list[Any]) -> int:
    """How many values were sent (a big request, a small answer)."""
    return len(values)


_BLOB = "ab" * 1000


async def blob(ctx: RpcContext, n: int) -> list[str]:
    """`n` strings of 2,000 characters (a small request, a big answer)."""
    return [_BLOB] * n


def tiny_bodies(n: int = 64) -> list[bytes]:
    """Distinct small calls (about 60 bytes each), pre-built."""
    return [
        orjson.dumps({"jsonrpc": "2.0", "method": "echo", "params": [i], "id": i}) for i in range(n)
    ]


def ingest_bodies(n: int = 8, events: int = 1000) -> list[bytes]:
    """Bodies the size and shape of a 1,000-event unsigned `attest_submitBatch` (~170 kB)."""
    out = []
    for b in range(n):
        evs = [{"kind": "sensor_hash", "subject": "0x" + (b % 97).to_bytes(32, "big").hex(),
                "digest": "0x" + (b * events + k).to_bytes(32, "big").hex()}
               for k in range(events)]  # fmt: skip
        out.append(orjson.dumps({"jsonrpc": "2.0", "method": "count", "params": [evs], "id": b}))
    return out


def proof_bodies(n: int = 8) -> list[bytes]:
    """Small calls answered with ~130 kB, like a batch of 64 inclusion proofs."""
    return [orjson.dumps({"jsonrpc": "2.0", "method": "blob", "params": [64], "id": i})
            for i in range(n)]  # fmt: skip


SHAPES: dict[str, Callable[[], list[bytes]]] = {
    "tiny": tiny_bodies, "ingest": ingest_bodies, "proofs": proof_bodies,
}  # fmt: skip


def _dispatcher() -> Handler:
    dispatcher = Dispatcher()
    dispatcher.register("echo", echo, params=(Param("value", (int, str, dict, list)),))
    dispatcher.register("count", count, params=(Param("values", (list,)),))
    dispatcher.register("blob", blob, params=(Param("n", (int,)),))
    return make_http_handler(dispatcher)


async def _serve(host: str, port: int, parser: str) -> None:
    handler = _dispatcher()
    serve = serve_http if parser == "ours" else _serve_httptools
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: serve(
                handler, host, port, limits=HttpLimits(), task_status=task_status
            )
        )
        sys.stdout.write(json.dumps({"port": bound}) + "\n")
        sys.stdout.flush()


# --- the same server framed by httptools (measurement only) -----------------------------------


async def _serve_httptools(
    handler: Handler,
    host: str,
    port: int,
    *,
    limits: HttpLimits,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep-alive HTTP/1.1 framed by httptools on raw non-blocking sockets, like ours: no
    limits, no deadlines (which favours it slightly); enough to compare parsing costs."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])

    async def connection(stream: trio.SocketStream) -> None:
        await _httptools_connection(stream, handler)

    await trio.serve_listeners(connection, listeners)


class _Collect:
    """httptools callbacks: gather one request at a time."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.done: list[tuple[bytes, dict[str, str], bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self.headers.get(key)
        self.headers[key] = text if previous is None else f"{previous}, {text}"

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done.append((self.url, self.headers, b"".join(self.body)))
        self.url, self.headers, self.body = b"", {}, []


async def _httptools_connection(stream: trio.SocketStream, handler: Handler) -> None:
    import httptools  # measurement only: not a dependency of the server

    tsock = stream.socket
    sock = socket.socket(tsock.family, tsock.type, tsock.proto, fileno=tsock.detach())
    sock.setblocking(False)
    collect = _Collect()
    parser = httptools.HttpRequestParser(collect)
    try:
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(sock)
                continue
            if not data:
                return
            try:
                parser.feed_data(data)
            except httptools.HttpParserError:
                return
            for url, headers, body in collect.done:
                method = parser.get_method().decode("ascii")
                response = await handler(Request(method, url.decode("ascii"), headers, body, None))
                await _send_all(sock, _render(response, parser.should_keep_alive()))
            collect.done.clear()
            await trio.lowlevel.checkpoint()
    finally:
        trio.lowlevel.notify_closing(sock)
        sock.close()


def _render(response: Response, keep_alive: bool) -> bytes:
    """The bytes `sequencer.rpc.http_server` sends for `response` (same header set)."""
    parts = [_STATUS_LINES[response.status],
             b"Content-Type: %s\r\nContent-Length: %d\r\n"
             % (response.content_type.encode("latin-1"), len(response.body)),
             b"Date: %s\r\n" % _date.get()]  # fmt: skip
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    parts.append(response.body)
    return b"".join(parts)


async def _send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        view = view[sent:]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; proc(5) fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run(
    connections: Sequence[int],
    duration_s: float,
    rate: float | None,
    *,
    parsers: Sequence[str] = ("ours",),
    shapes: Sequence[str] = ("tiny",),
) -> list[dict[str, Any]]:
    """For each shape, each connection count and each parser in turn (interleaved, so that
    a change in the machine's load hits both alike), one load run; one result per run."""
    servers = {p: _start_server(p) for p in parsers}
    try:
        results = []
        for shape in shapes:
            bodies = SHAPES[shape]()
            for n in connections:
                for parser, (server, port) in servers.items():
                    result = _measure(server, port, bodies, n, duration_s, rate)
                    result.update(parser=parser, shape=shape)
                    results.append(result)
                    sys.stdout.write(json.dumps(result) + "\n")
                    sys.stdout.flush()
        return results
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)


def _start_server(parser: str) -> tuple[subprocess.Popen[bytes], int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_http", "serve", "--parser", parser],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if server.stdout is None:
        raise RuntimeError("server stdout is not a pipe")
    line = server.stdout.readline()
    if not line:
        raise RuntimeError(f"server exited with {server.wait()} before listening")
    port = int(json.loads(line)["port"])
    # Warm-up: first connections, first calls, imports on the server side.
    run_load_subprocess("127.0.0.1", port, tiny_bodies(), connections=1, count=200)
    return server, port


def _measure(
    server: subprocess.Popen[bytes],
    port: int,
    bodies: list[bytes],
    connections: int,
    duration_s: float,
    rate: float | None,
) -> dict[str, Any]:
    cpu_before = _cpu_seconds(server.pid)
    result = run_load_subprocess(
        "127.0.0.1", port, bodies, connections=connections, duration_s=duration_s, rate=rate
    )
    # The machine is shared: requests/s depends on what else runs, while the server's
    # CPU time per request does not, so report both.
    cpu = _cpu_seconds(server.pid) - cpu_before
    result["server_cpu_s"] = round(cpu, 3)
    result["server_cpu_us_per_request"] = round(cpu / max(result["requests"], 1) * 1e6, 1)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_http", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["bench", "serve"], default="bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parser", choices=["ours", "httptools"], default="ours",
                        help="serve: the framing to serve with")  # fmt: skip
    parser.add_argument("--parsers", default="ours", help="bench: comma-separated, side by side")
    parser.add_argument("--shapes", default="tiny", help=f"comma-separated of {sorted(SHAPES)}")
    parser.add_argument("--connections", default="1,4,16", help="comma-separated counts")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--rate", type=float, help="open-loop target requests/s")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        trio.run(_serve, args.host, args.port, args.parser)
        return 0
    counts = [int(c) for c in args.connections.split(",") if c]
    results = run(counts, args.duration, args.rate, parsers=args.parsers.split(","),
                  shapes=args.shapes.split(","))  # fmt: skip
    sys.stdout.write(
        "shape    parser     connections  requests/s  errors  p50 ms  p99 ms  server CPU µs/req"
        "  loadgen CPU µs/req\n"
    )
    for r in results:
        lat = r["latency_ms"]
        client_us = r["client_cpu_s"] / max(r["requests"], 1) * 1e6
        sys.stdout.write(
            f"{r['shape']:8} {r['parser']:10} {r['connections']:>11}  {r['rps']:>10.0f}"
            f"  {r['errors']:>6}  {lat['p50']:>6.2f}  {lat['p99']:>6.2f}"
            f"  {r['server_cpu_us_per_request']:>17.1f}  {client_us:>18.1f}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
