"""Overload: ack, refusal and status latency while 200 writers offer more than the writer drains.

`overload(url, ...)` drives a running sequencer: a load process (`python -m bench.bench_overload
load`, one thread, non-blocking sockets) keeps `writers` keep-alive connections each with one
`attest_submitBatch` of `batch` unsigned events in flight, at maximum rate, so the ingest queue
fills and stays full; meanwhile this process probes `attest_status` and `GET /health` every
20 ms on their own connections. Reported, in milliseconds from the moment a request was sent:

* `ack_ms` — durable acknowledgements (these wait for the queue ahead of them to drain);
* `overloaded_ms` — -32005 refusals as the load process saw them (its own lag included);
* `probe_refused_ms` — -32005 refusals of one more writer probing every 20 ms on its own
  connection: the server's refusal latency (issue 12 asks for p99 within 10 ms);
* `status_ms`, `health_ms` — the read path (issue 12: p99 under 50 ms while overloaded).

Every acknowledged event's (digest, seq, leafHash) can be written to a file (`acks_out`) so a
test can check afterwards that each one is in the log where its receipt says.

Run: ``python -m bench.bench_overload [--seconds 6] [--writers 200] [--batch 1000]
[--load-nice N] [--trace-loop]`` (starts its
own `attest serve --dev` with `max_queue_events = 50000`, so 200 writers of 1,000 events offer
four times what may wait).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from bench.loop_trace import TracedSequencer
from sequencer.config import DEV_TOKEN
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc.client import RpcClient, TransportError

_CODE: Final = re.compile(rb'"code"\s*:\s*(-?\d+)')
PROBE_INTERVAL_S: Final = 0.02
REFUSAL_PROBES: Final = 8
"""Honest writers probing the refusal latency (each waits out its `retryAfterMs`)."""


def percentiles(values_s: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max in milliseconds (None when nothing was measured)."""
    if not values_s:
        return {"p50": None, "p90": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values_s)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1] * 1000, 3),
            "n": len(ordered)}  # fmt: skip


def _body(serial: int, batch: int) -> tuple[bytes, list[str]]:
    digests = ["0x" + (serial * batch + k).to_bytes(32, "big").hex() for k in range(batch)]
    events = [{"kind": "sensor_hash", "subject": "0x" + (serial % 97).to_bytes(32, "big").hex(),
               "digest": d} for d in digests]  # fmt: skip
    body = orjson.dumps({"jsonrpc": "2.0", "id": serial, "method": "attest_submitBatch",
                         "params": [events]})  # fmt: skip
    return body, digests


class _Conn:
    __slots__ = ("body", "buf", "digests", "out", "sent_at", "serial", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.out = b""
        self.sent_at = -1.0
        self.serial = -1
        self.digests: list[str] = []
        self.body = b""


def _connect(host: str, port: int) -> socket.socket:
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    return s


SO_TIMESTAMPNS: Final = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value
_TIMESPEC: Final = struct.Struct("@qq")


def _receive_stamped(sock: socket.socket) -> tuple[bytes, float]:
    """What `sock` holds, and when the kernel received it (`SO_TIMESTAMPNS`, wall clock), or
    now where the kernel does not say."""
    data, ancillary, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(_TIMESPEC.size))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
            return data, seconds + nanoseconds / 1e9
    return data, time.time()


def _response(buf: bytes) -> tuple[int, bytes, int] | None:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1")
    status = int(head.split(" ", 2)[1])
    m = re.search(r"(?im)^content-length:\s*(\d+)", head)
    length = int(m.group(1)) if m else 0
    if len(buf) < end + 4 + length:
        return None
    return status, buf[end + 4 : end + 4 + length], end + 4 + length


def load(host: str, port: int, seconds: float, writers: int, batch: int) -> dict[str, Any]:
    """The load process's loop; returns latencies (s) by outcome and the acks."""
    prefix = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
              f"Authorization: Bearer {DEV_TOKEN}\r\n").encode()  # fmt: skip
    pool: list[tuple[int, bytes, list[str]]] = []  # refused bodies, sent again (never stored)
    serials = iter(range(1, 1 << 62))
    sel = selectors.DefaultSelector()
    conns = [_Conn(_connect(host, port)) for _ in range(writers)]
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    latencies: dict[str, list[float]] = {"ack": [], "overloaded": [], "other": []}
    kinds: dict[str, int] = {}
    acks: list[tuple[str, int, str]] = []
    acked_batches = 0

    def send(c: _Conn) -> None:
        if pool:
            c.serial, body, c.digests = pool.pop()
        else:
            c.serial = next(serials)
            body, c.digests = _body(c.serial, batch)
        data = prefix + b"Content-Length: %d\r\n\r\n" % len(body) + body
        c.sent_at = time.perf_counter()
        try:
            sent = c.sock.send(data)
        except BlockingIOError:
            sent = 0
        c.out = data[sent:]
        c.body = body
        if c.out:
            sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def reconnect(c: _Conn) -> None:
        sel.unregister(c.sock)
        c.sock.close()
        c.sock = _connect(host, port)
        c.buf = c.out = b""
        sel.register(c.sock, selectors.EVENT_READ, c)

    end = time.perf_counter() + seconds
    for c in conns:
        send(c)
    in_flight = len(conns)
    drain_until = end + 30.0
    while in_flight and time.perf_counter() < drain_until:
        for key, events in sel.select(0.05):
            c = key.data
            if events & selectors.EVENT_WRITE and c.out:
                try:
                    n = c.sock.send(c.out)
                except BlockingIOError:
                    n = 0
                except OSError:
                    n = len(c.out)  # closed under us: the read side sees it
                c.out = c.out[n:]
                if not c.out:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
            if not events & selectors.EVENT_READ:
                continue
            try:
                chunk = c.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.ECONNRESET, errno.EPIPE):
                    raise
                chunk = b""
            if not chunk:
                kinds["closed"] = kinds.get("closed", 0) + 1
                pool.append((c.serial, c.body, c.digests))
                reconnect(c)
                if time.perf_counter() < end:
                    send(c)
                else:
                    in_flight -= 1
                continue
            c.buf += chunk
            parsed = _response(c.buf)
            if parsed is None:
                continue
            status, body, used = parsed
            c.buf = c.buf[used:]
            took = time.perf_counter() - c.sent_at
            code = _CODE.search(body) if b'"error"' in body[:64] else None
            if status == 200 and code is None:
                answer = orjson.loads(body)["result"]
                for digest, placed in zip(c.digests, answer["events"], strict=True):
                    acks.append((digest, placed["seq"], placed["leafHash"]))
                latencies["ack"].append(took)
                acked_batches += 1
            else:
                kind = f"HTTP {status}" + (f" code {code[1].decode()}" if code else "")
                kinds[kind] = kinds.get(kind, 0) + 1
                overloaded = code is not None and code[1] == b"-32005"
                latencies["overloaded" if overloaded else "other"].append(took)
                pool.append((c.serial, c.body, c.digests))
            if time.perf_counter() < end:
                send(c)
            else:
                in_flight -= 1
    for c in conns:
        c.sock.close()
    return {"latencies": latencies, "kinds": kinds, "acks": acks, "acked_batches": acked_batches,
            "unfinished": in_flight}  # fmt: skip


class _Prober:
    """What measures the server alone (the load process's own latencies include its lag in
    reading 200 sockets, and its writers retry at once):

    * `attest_status` and `GET /health` every 20 ms, each on its own connection;
    * `submitters` more writers of `batch`-event submissions (the refusal probes), on
      non-blocking sockets in one thread: each sends 20 ms after its last answer or, after a
      refusal, once its `retryAfterMs` has passed, as an honest client does
      (`sequencer.client`). A refusal's latency runs from the moment the request's first
      bytes are handed to the kernel to the moment the kernel received the answer's last
      (`SO_TIMESTAMPNS`), while the body may still be on its way (a server may answer from the
      head), so this process's own delays (building bodies, the GIL its threads share) are
      not counted; the body is sent in full before the next request.
    """

    def __init__(self, url: str, batch: int, submitters: int = REFUSAL_PROBES) -> None:
        self.url = url
        self.batch = batch
        self.submitters = submitters
        self.status: list[float] = []
        self.health: list[float] = []
        self.refused: list[float] = []
        self.refused_head: list[float] = []
        self.refused_body: list[float] = []
        self.submitted: list[float] = []
        self.acks: list[tuple[str, int, str]] = []
        self.failures = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(which,), daemon=True)
                        for which in ("status", "health")]  # fmt: skip
        self.threads.append(threading.Thread(target=self._submit, daemon=True))

    def _run(self, which: str) -> None:
        out = self.status if which == "status" else self.health
        with RpcClient(self.url, token=DEV_TOKEN, timeout=10) as rpc:
            while not self.stop.wait(PROBE_INTERVAL_S):
                started = time.perf_counter()
                try:
                    if which == "status":
                        rpc.call("attest_status")
                    else:
                        rpc.request("GET", "/health")
                except (TransportError, OSError):
                    self.failures += 1
                    continue
                out.append(time.perf_counter() - started)

    def _submit(self) -> None:
        host, port = self.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        prefix = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json"
                  f"\r\nAuthorization: Bearer {DEV_TOKEN}\r\n").encode()  # fmt: skip
        sel = selectors.DefaultSelector()
        serials = iter(range(1 << 40, 1 << 41))  # digests apart from the load process's
        conns = [_Conn(_connect(host, int(port))) for _ in range(self.submitters)]
        due = {id(c): time.time() + PROBE_INTERVAL_S * k / len(conns)
               for k, c in enumerate(conns)}  # fmt: skip
        answered: set[int] = set()  # connections whose answer is in (the body may still go out)
        for c in conns:
            sel.register(c.sock, selectors.EVENT_READ, c)
            with contextlib.suppress(OSError):  # else the time it is read (Linux has it)
                c.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

        def busy(c: _Conn) -> bool:
            return c.sent_at >= 0

        while not self.stop.is_set():
            now = time.time()
            for c in conns:
                if not busy(c) and now >= due[id(c)]:
                    c.serial = next(serials)
                    c.body, c.digests = _body(c.serial, self.batch)
                    c.out = prefix + b"Content-Length: %d\r\n\r\n" % len(c.body) + c.body
                    c.sent_at = time.time()  # wall clock, as the kernel's timestamps
                    with contextlib.suppress(BlockingIOError):
                        c.out = c.out[c.sock.send(c.out) :]
                    if c.out:
                        sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            idle = [due[id(c)] - now for c in conns if not busy(c)]
            for key, events in sel.select(min([0.01, *idle]) if idle else 0.01):
                c = key.data
                if events & selectors.EVENT_WRITE and c.out:
                    with contextlib.suppress(BlockingIOError):
                        c.out = c.out[c.sock.send(c.out) :]
                    if not c.out:  # sent: wait for the answer only
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if events & selectors.EVENT_READ:
                    chunk, arrived = _receive_stamped(c.sock)
                    if not chunk:
                        self.failures += 1
                        return
                    c.buf += chunk
                    parsed = _response(c.buf)
                    if parsed is not None:
                        took = arrived - c.sent_at
                        c.buf = c.buf[parsed[2] :]
                        answer = orjson.loads(parsed[1])
                        wait_s = PROBE_INTERVAL_S
                        if "result" in answer:
                            self.submitted.append(took)
                            placed = answer["result"]["events"]
                            for digest, p in zip(c.digests, placed, strict=True):
                                self.acks.append((digest, p["seq"], p["leafHash"]))
                        elif answer["error"]["code"] == -32005:
                            self.refused.append(took)
                            # 503: refused from the head; 200: after the body was checked.
                            (self.refused_head if parsed[0] == 503 else self.refused_body).append(
                                took
                            )
                            wait_s = max(wait_s, answer["error"]["data"]["retryAfterMs"] / 1000)
                        else:
                            self.failures += 1
                        answered.add(id(c))
                        due[id(c)] = time.time() + wait_s
                if id(c) in answered and not c.out:
                    # Answered and the whole body sent: ready for the next request.
                    answered.discard(id(c))
                    c.sent_at = -1.0
        for c in conns:
            c.sock.close()

    def __enter__(self) -> _Prober:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


def overload(
    url: str,
    *,
    seconds: float,
    writers: int,
    batch: int,
    acks_out: Path | None = None,
    load_nice: int = 0,
) -> dict[str, Any]:
    """Overload the sequencer at `url` for `seconds`; the report described in the module doc.

    `load_nice` runs the load process at that nice value: attackers have machines of their
    own, and on one shared 2-core machine the load process otherwise takes a core from the
    server it is measuring (docs/benchmarks.md reports both ways)."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with tempfile.TemporaryDirectory(prefix="overload-") as tmp:
        raw_path = Path(tmp) / "load.json"
        argv = [sys.executable, "-m", "bench.bench_overload", "load", "--host", host,
                "--port", port, "--seconds", str(seconds), "--writers", str(writers),
                "--batch", str(batch), "--out", str(raw_path)]  # fmt: skip
        with _Prober(url, batch) as prober:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                check=False,
                preexec_fn=(lambda: os.nice(load_nice)) if load_nice else None,
            )
        # The probes have stopped: decoding the load's few hundred thousand acks holds this
        # process's GIL for a few hundred milliseconds, which they would count as the server's.
        if proc.returncode != 0:
            raise RuntimeError(f"overload load process failed: {proc.stderr[-2000:]}")
        raw = orjson.loads(raw_path.read_bytes())
    acks = raw["acks"] + [list(a) for a in prober.acks]
    if acks_out is not None:
        acks_out.write_bytes(orjson.dumps(acks))
    lat = raw["latencies"]
    kinds: dict[str, int] = raw["kinds"]
    other = sum(n for k, n in kinds.items() if "-32005" not in k and k != "closed")
    return {
        "seconds": seconds, "writers": writers, "batch": batch,
        "acked_batches": raw["acked_batches"], "acked_events": len(acks),
        "acked_eps": round(len(raw["acks"]) / seconds),
        "overloaded": len(lat["overloaded"]), "other_errors": other, "error_kinds": kinds,
        "ack_ms": percentiles(lat["ack"]), "overloaded_ms": percentiles(lat["overloaded"]),
        "probe_refused_ms": percentiles(prober.refused),
        "probe_refused_head_ms": percentiles(prober.refused_head),
        "probe_refused_body_ms": percentiles(prober.refused_body),
        "probe_acked_ms": percentiles(prober.submitted),
        "status_ms": percentiles(prober.status), "health_ms": percentiles(prober.health),
        "probe_failures": prober.failures, "unfinished": raw["unfinished"],
        "load_nice": load_nice,
        # Each refusal's milliseconds, from the head (503) and after the body (200): runs
        # hold a few dozen each, and a p99 worth the name pools several.
        "probe_refused_head_each_ms": [round(t * 1000, 3) for t in prober.refused_head],
        "probe_refused_body_each_ms": [round(t * 1000, 3) for t in prober.refused_body],
    }  # fmt: skip


QUEUE_EVENTS: Final = 50_000
"""The sequencer's `max_queue_events` for this run: 200 writers of 1,000 events offer 4x that."""


FRONTS: Final = ("process", "thread", "none")
"""How `attest serve` takes its HTTP connections: a front process (`[serve] front_process`,
the default), the I/O thread (`front_process = false`, `io_thread = true`), or neither."""


def write_config(
    directory: Path,
    queue_events: int = QUEUE_EVENTS,
    front: str | None = None,
    front_priority: int | None = None,
) -> Path:
    """A TOML config holding the queue bound the overload is measured against (docs/config.md:
    `attest serve` reads its [serve] table), and the `front` (one of `FRONTS`) unless None
    (the default)."""
    path = directory / "overload.toml"
    text = f"[serve]\nmax_queue_events = {queue_events}\n"
    if front is not None:
        text += f"front_process = {'true' if front == 'process' else 'false'}\n"
        text += f"io_thread = {'true' if front == 'thread' else 'false'}\n"
    if front_priority is not None:
        text += f"front_priority = {front_priority}\n"
    path.write_text(text)
    return path


def run(
    seconds: float = 6.0,
    writers: int = 200,
    batch: int = 1000,
    load_nice: int = 0,
    trace_loop: bool = False,
    front: str | None = None,
    front_priority: int | None = None,
) -> dict[str, Any]:
    """Start `attest serve --dev` (queue of `QUEUE_EVENTS`) in a temporary directory and
    overload it. With `trace_loop` the server runs under `bench.loop_trace` and the report
    gains its `loop` figures (the loop's own work per scheduler round). `front`: one of
    `FRONTS` (None: the default)."""
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        trace = Path(tmp, "loop.json")
        config = write_config(Path(tmp), front=front, front_priority=front_priority)
        with (
            TracedSequencer(Path(tmp, "data"), config, trace)
            if trace_loop
            else SequencerProcess(Path(tmp, "data"), config=config)
        ) as proc:
            report = overload(
                proc.url, seconds=seconds, writers=writers, batch=batch, load_nice=load_nice
            )
        if trace_loop:
            report["loop"] = orjson.loads(trace.read_bytes())
    report["max_queue_events"] = QUEUE_EVENTS
    report["front"] = front
    report["front_priority"] = front_priority
    return report


#: The figures `--compare` prints side by side.
COMPARED: Final = (
    "probe_refused_ms",
    "probe_refused_head_ms",
    "probe_refused_body_ms",
    "status_ms",
    "health_ms",
    "ack_ms",
)


def alternating(rounds: int, modes: Sequence[str]) -> list[str]:
    """`modes` in turn, `rounds` times, reversed every other round (a, b, b, a, a, b...), so
    that a machine getting busier or quieter during the run favours none of them."""
    order: list[str] = []
    for round_ in range(rounds):
        order += modes if round_ % 2 == 0 else list(reversed(modes))
    return order


def compare(
    rounds: int, modes: Sequence[str] = ("process", "thread"), **kwargs: Any
) -> dict[str, Any]:
    """`run` with each front of `modes`, `rounds` times (`alternating`); the reports and a
    table of p50/p90/p99 per figure."""
    reports = [run(front=front, **kwargs) for front in alternating(rounds, modes)]
    lines = [f"{'front':>8} {'figure':>21} {'p50':>8} {'p90':>8} {'p99':>8} {'n':>6}"]
    for report in reports:
        for name in COMPARED:
            f = report[name]
            lines.append(
                f"{report['front']!s:>8} {name:>21} {_ms(f['p50'])} {_ms(f['p90'])} "
                f"{_ms(f['p99'])} {f['n']:>6}"
            )
        lines.append(f"{report['front']!s:>8} {'acked_eps':>21} {report['acked_eps']:>8}")
    return {"reports": reports, "table": lines}


def pooled(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The refusal probes' latencies of several runs' reports as one sample (a run holds a few
    dozen refusals: its p99 is its slowest), with each run's own p99 beside."""
    each = [t for r in reports
            for t in r["probe_refused_head_each_ms"] + r["probe_refused_body_each_ms"]]  # fmt: skip
    return {
        "runs": len(reports),
        "probe_refused_ms": percentiles([t / 1000 for t in each]),
        "after_the_body": sum(len(r["probe_refused_body_each_ms"]) for r in reports),
        "runs_p99_ms": sorted(r["probe_refused_ms"]["p99"] for r in reports),
        "status_p99_ms": sorted(r["status_ms"]["p99"] for r in reports),
        "health_p99_ms": sorted(r["health_ms"]["p99"] for r in reports),
    }


def _ms(value: float | None) -> str:
    return f"{'-':>8}" if value is None else f"{value:8.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_overload", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["bench", "load", "pool"], default="bench")
    parser.add_argument(
        "reports", nargs="*", type=Path, help="pool: the JSON reports of runs to pool"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--load-nice",
        type=int,
        default=0,
        help="nice value of the load process (e.g. 19: the attackers' CPU is not the server's)",
    )
    parser.add_argument(
        "--trace-loop",
        action="store_true",
        help="run the server under bench.loop_trace: report its event loop's work per round",
    )
    parser.add_argument(
        "--front",
        choices=FRONTS,
        default=None,
        help="how the server takes connections (default: the server's default, process)",
    )
    parser.add_argument(
        "--front-priority",
        type=int,
        default=None,
        help="[serve] front_priority of the server (a nice value; below 0 needs root)",
    )
    parser.add_argument(
        "--compare",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="run ROUNDS times with each of --modes in turn and print them side by side",
    )
    parser.add_argument(
        "--modes",
        default="process,thread",
        help="the fronts --compare runs, comma-separated (default: process,thread)",
    )
    args = parser.parse_args(argv)
    if args.mode == "load":
        result = load(args.host, args.port, args.seconds, args.writers, args.batch)
        if args.out is None:
            parser.error("load needs --out")
        args.out.write_bytes(orjson.dumps(result))
        return 0
    if args.mode == "pool":
        result = pooled([orjson.loads(path.read_bytes()) for path in args.reports])
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
        return 0
    if args.compare:
        result = compare(
            args.compare,
            seconds=args.seconds,
            writers=args.writers,
            batch=args.batch,
            load_nice=args.load_nice,
            trace_loop=args.trace_loop,
            modes=args.modes.split(","),
            front_priority=args.front_priority,
        )
        sys.stdout.write(json.dumps(result["reports"], indent=1) + "\n")
        sys.stdout.write("\n".join(result["table"]) + "\n")
        return 0
    report = run(
        args.seconds,
        args.writers,
        args.batch,
        args.load_nice,
        args.trace_loop,
        args.front,
        args.front_priority,
    )
    sys.stdout.write(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
