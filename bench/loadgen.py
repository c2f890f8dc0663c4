"""HTTP/1.1 JSON-RPC load generator, meant to run in its own process (`python -m bench.loadgen`).

One thread, non-blocking sockets and a `selectors` loop: N keep-alive connections, each with one
request in flight. Request bytes are built before the clock starts, so the generator spends its
time on the wire and not on JSON.

Two schedules:

* **max rate** (no `rate`): each connection sends its next request as soon as the answer to the
  previous one is in; latency is measured from the send.
* **open loop** (`rate` requests/s): request i is due at ``start + i / rate`` whether or not a
  connection is free; its latency is measured from that due time, so time spent queueing behind
  a slow server counts (no coordinated omission).

A response counts as ok when its status is 200 and its body holds ``"result"`` and no
``"error"``; everything else is an error, and the first few error bodies are kept verbatim.

Output (`LoadResult`, JSON on stdout from the command line): requests, ok, errors, elapsed,
rps, latency percentiles in ms, and completions per 100 ms bucket for a throughput chart.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import math
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

#: Width of one time-series bucket.
BUCKET_NS: Final = 100_000_000
#: How many error bodies are kept verbatim.
MAX_ERROR_SAMPLES: Final = 5
_ERROR_CODE: Final = re.compile(rb'"code"\s*:\s*(-?\d+)')
#: How long in-flight requests may take to finish once the run is over.
DRAIN_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one run measured."""

    requests: int
    ok: int
    errors: int
    elapsed: float
    """Seconds from the first send to the last completion."""
    rps: float
    """Completed requests (ok or not) per second of `elapsed`."""
    connections: int
    target_rate: float | None
    latency_ms: dict[str, float]
    """p50, p90, p99, max and mean, in milliseconds."""
    bucket_ms: int
    timeseries: list[int]
    """Completions in each consecutive `bucket_ms` window from the start."""
    error_samples: list[str]
    """Up to five error responses (status line and body) as received."""
    error_kinds: dict[str, int]
    """Error count per kind: ``"HTTP 413"``, ``"HTTP 200 code -32601"``, ``"closed"``..."""
    client_cpu_s: float
    """CPU time this generator used, to show it was not the bottleneck."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_request(
    host: str, port: int, path: str, body: bytes, headers: Sequence[str] = ()
) -> bytes:
    """The full HTTP/1.1 POST bytes for one JSON body."""
    extra = "".join(f"{h}\r\n" for h in headers)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Conn:
    __slots__ = ("buf", "due_ns", "out", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.out = b""
        self.due_ns = -1  # start of the request in flight; -1 when idle


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _parse_response(buf: bytes) -> tuple[int, bytes, int] | None:
    """(status, body, bytes consumed) for the first complete response in `buf`, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end]
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    length = 0
    if at >= 0:
        stop = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17 : stop if stop >= 0 else len(lower)])
    total = end + 4 + length
    if len(buf) < total:
        return None
    return status, buf[end + 4 : total], total


def run_load(
    host: str,
    port: int,
    bodies: Sequence[bytes],
    *,
    connections: int = 1,
    duration_s: float | None = None,
    count: int | None = None,
    rate: float | None = None,
    path: str = "/",
    headers: Sequence[str] = (),
) -> LoadResult:
    """Drive `host:port` with `bodies` (cycled) and measure. Blocks; run it in its own process.

    Stops after `duration_s` seconds of sending or `count` requests, whichever comes first
    (one of them is required); `rate` switches from max rate to an open-loop schedule.
    """
    if not bodies:
        raise ValueError("bodies must not be empty")
    if connections < 1:
        raise ValueError(f"connections must be >= 1, got {connections}")
    if duration_s is None and count is None:
        raise ValueError("give duration_s or count")
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    requests = [build_request(host, port, path, b, headers) for b in bodies]
    conns = [_Conn(_connect(host, port)) for _ in range(connections)]
    sel = selectors.DefaultSelector()
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)

    latencies: list[int] = []
    buckets: list[int] = []
    error_samples: list[str] = []
    error_kinds: dict[str, int] = {}
    ok = errors = issued = 0
    limit = count if count is not None else sys.maxsize
    interval_ns = int(1e9 / rate) if rate is not None else 0
    idle = list(conns)
    perf = time.perf_counter_ns
    cpu_start = time.process_time()
    start = perf()
    stop_issuing_at = start + int(duration_s * 1e9) if duration_s is not None else sys.maxsize
    next_due = start
    last_done = start

    def send(c: _Conn, due: int) -> None:
        nonlocal issued
        data = requests[issued % len(requests)]
        issued += 1
        c.due_ns = due
        try:
            sent = c.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            c.out = data[sent:]
            sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def fail(c: _Conn, sample: str, kind: str) -> None:
        nonlocal errors
        errors += 1
        error_kinds[kind] = error_kinds.get(kind, 0) + 1
        if len(error_samples) < MAX_ERROR_SAMPLES:
            error_samples.append(sample)

    def reconnect(c: _Conn) -> None:
        sel.unregister(c.sock)
        c.sock.close()
        c.sock = _connect(host, port)
        c.buf = c.out = b""
        c.due_ns = -1
        sel.register(c.sock, selectors.EVENT_READ, c)
        idle.append(c)

    in_flight = 0
    drain_deadline: int | None = None
    while True:
        now = perf()
        issuing = now < stop_issuing_at and issued < limit
        if issuing:
            if rate is None:
                while idle and issued < limit:
                    send(idle.pop(), now)
                    in_flight += 1
            else:
                while idle and next_due <= now and issued < limit:
                    send(idle.pop(), next_due)
                    next_due += interval_ns
                    in_flight += 1
        else:
            if drain_deadline is None:
                drain_deadline = now + int(DRAIN_TIMEOUT_S * 1e9)
            if in_flight == 0:
                break
            if now > drain_deadline:
                for c in conns:
                    if c.due_ns >= 0:
                        fail(c, f"no response within {DRAIN_TIMEOUT_S} s after the run", "timeout")
                break
        if rate is not None and issuing and idle:
            timeout = max(0.0, (next_due - perf()) / 1e9)
        else:
            timeout = 0.05 if issuing or in_flight else 0.0
        for key, events in sel.select(timeout):
            c = key.data
            if events & selectors.EVENT_WRITE and c.out:
                try:
                    sent = c.sock.send(c.out)
                except BlockingIOError:
                    sent = 0
                c.out = c.out[sent:]
                if not c.out:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
            if not events & selectors.EVENT_READ:
                continue
            try:
                chunk = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.ECONNRESET, errno.EPIPE):
                    raise
                chunk = b""
            if not chunk:
                if c.due_ns >= 0:
                    in_flight -= 1
                    fail(c, "connection closed by server with a request in flight", "closed")
                    last_done = perf()
                reconnect(c)
                continue
            c.buf += chunk
            parsed = _parse_response(c.buf)
            if parsed is None:
                continue
            status, body, used = parsed
            done = perf()
            c.buf = c.buf[used:]
            latencies.append(done - c.due_ns)
            bucket = (done - start) // BUCKET_NS
            while len(buckets) <= bucket:
                buckets.append(0)
            buckets[bucket] += 1
            last_done = done
            if status == 200 and b'"result"' in body and b'"error"' not in body:
                ok += 1
            else:
                code = _ERROR_CODE.search(body)
                kind = f"HTTP {status}" + (f" code {code[1].decode()}" if code else "")
                fail(c, f"HTTP {status}: {body[:500].decode('utf-8', 'replace')}", kind)
            c.due_ns = -1
            in_flight -= 1
            idle.append(c)

    for c in conns:
        sel.unregister(c.sock)
        c.sock.close()
    sel.close()
    elapsed = max(last_done - start, 1) / 1e9
    latencies.sort()
    return LoadResult(
        requests=ok + errors,
        ok=ok,
        errors=errors,
        elapsed=round(elapsed, 6),
        rps=round((ok + errors) / elapsed, 1),
        connections=connections,
        target_rate=rate,
        latency_ms=_percentiles(latencies),
        bucket_ms=BUCKET_NS // 1_000_000,
        timeseries=buckets,
        error_samples=error_samples,
        error_kinds=error_kinds,
        client_cpu_s=round(time.process_time() - cpu_start, 3),
    )


def _percentiles(sorted_ns: list[int]) -> dict[str, float]:
    if not sorted_ns:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}

    def at(q: float) -> float:
        # Nearest-rank percentile: the smallest value with at least q of the samples <= it.
        rank = max(1, math.ceil(q * len(sorted_ns)))
        return round(sorted_ns[min(rank, len(sorted_ns)) - 1] / 1e6, 3)

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(sorted_ns[-1] / 1e6, 3),
        "mean": round(sum(sorted_ns) / len(sorted_ns) / 1e6, 3),
    }


# --- bodies ----------------------------------------------------------------------------------


def write_bodies(bodies: Sequence[bytes], path: Path) -> None:
    """Store bodies one per line (JSON bodies never hold a raw newline) for `--bodies-file`."""
    for i, body in enumerate(bodies):
        if b"\n" in body:
            raise ValueError(f"bodies[{i}] contains a newline; bodies-file holds one per line")
    path.write_bytes(b"\n".join(bodies) + b"\n")


def read_bodies(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]


def load_factory(spec: str) -> Callable[[], Sequence[bytes]]:
    """`package.module:function` -> that function, which returns the request bodies."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ValueError(f"bodies factory must be 'module:function', got {spec!r}")
    fn = getattr(importlib.import_module(module_name), func_name)
    if not callable(fn):
        raise ValueError(f"{spec} is not callable")
    return fn  # type: ignore[no-any-return]


def run_load_subprocess(
    host: str,
    port: int,
    bodies: Sequence[bytes],
    *,
    connections: int = 1,
    duration_s: float | None = None,
    count: int | None = None,
    rate: float | None = None,
    path: str = "/",
    headers: Sequence[str] = (),
    python: str = sys.executable,
) -> dict[str, Any]:
    """Run `python -m bench.loadgen` in a separate process and return its result dict."""
    with tempfile.TemporaryDirectory() as tmp:
        bodies_file = Path(tmp) / "bodies.ndjson"
        write_bodies(bodies, bodies_file)
        argv = [
            python, "-m", "bench.loadgen", "--host", host, "--port", str(port),
            "--connections", str(connections), "--bodies-file", str(bodies_file),
            "--path", path,
        ]  # fmt: skip
        if duration_s is not None:
            argv += ["--duration", str(duration_s)]
        if count is not None:
            argv += ["--count", str(count)]
        if rate is not None:
            argv += ["--rate", str(rate)]
        for h in headers:
            argv += ["--header", h]
        proc = subprocess.run(argv, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, help="seconds of sending")
    parser.add_argument("--count", type=int, help="number of requests")
    parser.add_argument("--rate", type=float, help="open-loop target, requests/s")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bodies-file", type=Path, help="one request body per line")
    source.add_argument("--bodies-factory", help="module:function returning a list of bodies")
    args = parser.parse_args(argv)
    if args.duration is None and args.count is None:
        parser.error("give --duration or --count")
    if args.bodies_file is not None:
        bodies = read_bodies(args.bodies_file)
    else:
        bodies = list(load_factory(args.bodies_factory)())
    result = run_load(
        args.host,
        args.port,
        bodies,
        connections=args.connections,
        duration_s=args.duration,
        count=args.count,
        rate=args.rate,
        path=args.path,
        headers=args.header,
    )
    sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
