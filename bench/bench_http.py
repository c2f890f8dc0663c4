"""Small-request throughput of the HTTP + JSON-RPC layer alone (no storage, no crypto).

`python -m bench.bench_http` starts the real server (`sequencer.rpc.http_server` +
`sequencer.rpc.jsonrpc`) with one trivial `echo` method in a subprocess, then drives it with
`bench.loadgen` in another process: one request = one tiny JSON-RPC call, over 1, 4 and 16
keep-alive connections. Prints one JSON object per connection count, then a summary table.

`python -m bench.bench_http serve` runs only the server and prints ``{"port": N}`` once
listening (what the driver uses).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import orjson
import trio

from bench.loadgen import run_load_subprocess
from sequencer.rpc.http_server import HttpLimits, serve_http
from sequencer.rpc.jsonrpc import Dispatcher, Param, RpcContext, make_http_handler


async def echo(ctx: RpcContext, value: Any) -> Any:
    """Return the parameter unchanged."""
    return value


def tiny_bodies(n: int = 64) -> list[bytes]:
    """Distinct small calls (about 60 bytes each), pre-built."""
    return [
        orjson.dumps({"jsonrpc": "2.0", "method": "echo", "params": [i], "id": i}) for i in range(n)
    ]


async def _serve(host: str, port: int) -> None:
    dispatcher = Dispatcher()
    dispatcher.register("echo", echo, params=(Param("value", (int, str, dict, list)),))
    handler = make_http_handler(dispatcher)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: serve_http(
                handler, host, port, limits=HttpLimits(), task_status=task_status
            )
        )
        sys.stdout.write(json.dumps({"port": bound}) + "\n")
        sys.stdout.flush()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; proc(5) fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run(connections: Sequence[int], duration_s: float, rate: float | None) -> list[dict[str, Any]]:
    """Start the server subprocess, run the load generator once per connection count."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_http", "serve"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        if server.stdout is None:
            raise RuntimeError("server stdout is not a pipe")
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited with {server.wait()} before listening")
        port = int(json.loads(line)["port"])
        bodies = tiny_bodies()
        # Warm-up: first connections, first calls, imports on the server side.
        run_load_subprocess("127.0.0.1", port, bodies, connections=1, count=200)
        results = []
        for n in connections:
            cpu_before = _cpu_seconds(server.pid)
            result = run_load_subprocess(
                "127.0.0.1", port, bodies, connections=n, duration_s=duration_s, rate=rate
            )
            # The machine is shared: requests/s depends on what else runs, while the server's
            # CPU time per request does not, so report both.
            cpu = _cpu_seconds(server.pid) - cpu_before
            result["server_cpu_s"] = round(cpu, 3)
            result["server_cpu_us_per_request"] = round(cpu / max(result["requests"], 1) * 1e6, 1)
            results.append(result)
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
        return results
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_http", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["bench", "serve"], default="bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--connections", default="1,4,16", help="comma-separated counts")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--rate", type=float, help="open-loop target requests/s")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        trio.run(_serve, args.host, args.port)
        return 0
    counts = [int(c) for c in args.connections.split(",") if c]
    results = run(counts, args.duration, args.rate)
    sys.stdout.write(
        "connections  requests/s  errors  p50 ms  p99 ms  max ms  server CPU µs/req"
        "  loadgen CPU µs/req\n"
    )
    for r in results:
        lat = r["latency_ms"]
        client_us = r["client_cpu_s"] / max(r["requests"], 1) * 1e6
        sys.stdout.write(
            f"{r['connections']:>11}  {r['rps']:>10.0f}  {r['errors']:>6}  {lat['p50']:>6.2f}"
            f"  {lat['p99']:>6.2f}  {lat['max']:>6.2f}  {r['server_cpu_us_per_request']:>17.1f}"
            f"  {client_us:>18.1f}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
