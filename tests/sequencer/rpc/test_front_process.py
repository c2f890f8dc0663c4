"""An attacker's tests of the HTTP front process (`[serve] front_process`, issue 12 item 4).

Each case runs real `attest serve --dev` processes and attacks what the split into two
processes could break: reads that must see acknowledged writes though another process
answers them, either process dying or being signalled, room in the queue the front admits
for bodies that never come, pipelined requests whose connection changes process in the
middle, and clients told to hold off (-32005's ``retryAfterMs``) whose connection travels
back to the front.

| case | attack | what must hold |
|---|---|---|
| `test_reads_through_the_front_see_every_acknowledged_write` | status/health read after each ack | treeSize covers the ack; `/metrics` counts the front's answers |
| `test_front_killed_or_stopped_stops_the_sequencer_and_keeps_every_ack` | SIGKILL or SIGSTOP (a hang) the front under writes | sequencer exits non-zero, naming it; every ack intact |
| `test_sequencer_killed_takes_the_front_with_it` | SIGKILL the sequencer | front exits; the port is free |
| `test_sequencer_stopped_makes_health_say_so` | SIGSTOP the sequencer | `/health` 503 naming it within `SILENT_S`; 200 after SIGCONT |
| `test_signal_to_the_process_group_under_writes` | SIGTERM, SIGINT to the group under writes | exit 0; every ack intact; no front left |
| `test_heads_without_bodies_cannot_hold_the_queue` | large heads, then nothing; heads then close | honest acks; room given back, none leaked |
| `test_pipelined_requests_across_the_move` | status, submit, status, health in one write | four answers, in order, read-your-writes |
| `test_held_off_connection_comes_back_and_is_served` | refused on a moved connection, retries on it | answered on the same connection |
| `test_early_retries_wait_out_the_hold_off` | next request before retryAfterMs, many clients | not answered early; `/health` still answered |
| `test_front_priority_sets_the_front_process_nice_value` | `front_priority = 7` | the front runs at nice 7, the sequencer as before |
| `test_a_batch_the_config_allows_is_acknowledged` | a 16,000-event batch (a bug found on the way) | acknowledged with its receipts |
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.bench_overload import write_config
from prover.jsonrpc import JsonRpcError
from sequencer.devnet.process import SequencerProcess
from sequencer.node.front import MAX_IN_FLIGHT_SHARE, SILENT_S
from sequencer.node.service import MIN_EVENT_WIRE_BYTES, SHED_BODY_BYTES
from sequencer.rpc.client import RpcClient, TransportError
from sequencer.rpc.http_server import ADMISSION_HOLD_S
from tests.sequencer.events import h32, unsigned
from tests.sequencer.rpc.test_hostile_clients import (
    assert_acked_intact,
    host_port,
    serving,
)
from tests.sequencer.rpc.test_http_server import parse_response_head
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

OVERLOADED = -32005

# --- helpers ----------------------------------------------------------------------------------


def front_pid(proc: SequencerProcess) -> int:
    """The pid of `proc`'s HTTP front process (its child running `sequencer.node.front`)."""
    pid = proc.proc.pid
    children: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{task}/children") as f:
            children += [int(c) for c in f.read().split()]
    fronts = [c for c in children if b"sequencer.node.front" in _cmdline(c)]
    assert len(fronts) == 1, f"children of {pid}: {children}"
    return fronts[0]


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def is_gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts: it holds no descriptors)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def serve_config(tmp_path: Path, queue_events: int, **serve: int) -> Path:
    """`bench_overload.write_config`'s queue bound, plus more `[serve]` settings."""
    path = write_config(tmp_path, queue_events)
    with path.open("a") as f:
        for name, value in serve.items():
            f.write(f"{name} = {value}\n")
    return path


def events(tag: str, n: int) -> list[dict[str, Any]]:
    return [unsigned(k) | {"digest": h32(f"{tag}-{k}")} for k in range(n)]


def rpc_body(method: str, params: list[Any], req_id: int = 1) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params})


def batch_body(tag: str, n: int) -> bytes:
    """An `attest_submitBatch` request body of `n` events."""
    return rpc_body("attest_submitBatch", [events(tag, n)])


def post(port: int, body: bytes, *, token: bool = True, length: int | None = None) -> bytes:
    """A ``POST /`` request (`length`: the Content-Length to announce, default the body's)."""
    auth = "Authorization: Bearer dev\r\n" if token else ""
    return (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(body) if length is None else length}\r\n\r\n"
    ).encode() + body


def get_health(port: int) -> bytes:
    return f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


class RawConnection:
    """One keep-alive client socket, read answer by answer (pipelining allowed)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(host_port(url), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unread {self.buf[:200]!r}")
        self.buf += chunk

    def read_response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, headers = parse_response_head(head)
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def rpc(self, port: int, body: bytes) -> dict[str, Any]:
        self.send(post(port, body))
        answer: dict[str, Any] = orjson.loads(self.read_response()[2])
        return answer

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def raw(url: str, timeout: float = 10.0) -> Iterator[RawConnection]:
    conn = RawConnection(url, timeout)
    try:
        yield conn
    finally:
        conn.close()


def retry_after_ms(answer: dict[str, Any]) -> int | None:
    """The retry hint of a -32005 answer, or None for any other answer."""
    error = answer.get("error")
    if error is None or error["code"] != OVERLOADED:
        return None
    hint: int = error["data"]["retryAfterMs"]
    return hint


class Writers:
    """Threads submitting `batch`-event batches back to back, recording every ack, until
    stopped or the server is gone."""

    def __init__(self, url: str, threads: int, batch: int) -> None:
        self.url = url
        self.batch = batch
        self.acked: dict[str, tuple[int, str]] = {}
        self.unexpected: list[JsonRpcError] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _run(self, worker: int) -> None:
        with RpcClient(self.url, token="dev", timeout=10) as rpc:
            n = 0
            while not self.stop.is_set():
                batch = events(f"w{worker}-{n}-{time.time_ns()}", self.batch)
                n += 1
                try:
                    out = rpc.call("attest_submitBatch", batch)
                except JsonRpcError as exc:
                    # Refused (the queue is full), or the writer stopping at shutdown: nothing
                    # was stored, try again. Anything else is a failure of the server.
                    if exc.code not in (-32005, -32010):
                        with self._lock:
                            self.unexpected.append(exc)
                    continue
                except (TransportError, OSError):
                    return  # the server is gone
                with self._lock:
                    for ev, placed in zip(batch, out["events"], strict=True):
                        self.acked[ev["digest"]] = (placed["seq"], placed["leafHash"])

    def finish(self) -> dict[str, tuple[int, str]]:
        self.stop.set()
        for t in self._threads:
            t.join(30)
            assert not t.is_alive(), "a writer thread is stuck"
        with self._lock:
            assert not self.unexpected, self.unexpected[:3]
            return dict(self.acked)


class Flood:
    """Writers that keep the queue full: pre-encoded batches posted back to back, each
    retried at once when refused (never waiting out `retryAfterMs`)."""

    def __init__(self, url: str, threads: int, batch: int) -> None:
        self.url = url
        self.refusals = 0
        self.stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(batch_body(f"flood-{i}", batch),), daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _run(self, body: bytes) -> None:
        with RpcClient(self.url, token="dev", timeout=10) as rpc:
            while not self.stop.is_set():
                try:
                    answer = orjson.loads(rpc.post_raw(body).body)
                except (TransportError, OSError):
                    continue
                if retry_after_ms(answer) is not None:
                    self.refusals += 1

    def finish(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30)
            assert not t.is_alive(), "a flood thread is stuck"


def requests_counted(url: str, method: str, outcome: str) -> float:
    """`attest_rpc_requests_total{method, outcome}` on `/metrics` (0 when not there yet)."""
    with RpcClient(url, timeout=10) as rpc:
        page = rpc.request("GET", "/metrics").body.decode()
    labels = f'method="{method}",outcome="{outcome}"'
    m = re.search(r"^attest_rpc_requests_total\{" + re.escape(labels) + r"\} (\S+)$", page, re.M)
    return float(m.group(1)) if m else 0.0


# --- the cases --------------------------------------------------------------------------------


def test_reads_through_the_front_see_every_acknowledged_write(tmp_path: Path) -> None:
    """The front answers `attest_status` and `/health` from the state the sequencer sends
    after each group commit: a read on another connection, after an ack, covers the ack."""
    calls = 200
    with (
        serving(tmp_path / "d") as proc,
        RpcClient(proc.url, token="dev", timeout=10) as writer,
        RpcClient(proc.url, timeout=10) as reader,
    ):
        for i in range(calls):
            ack = writer.call("attest_submit", unsigned(i) | {"digest": h32(f"ryw-{i}")})
            status = reader.call("attest_status")
            assert status["treeSize"] > ack["seq"], (i, ack, status)
            health = reader.request("GET", "/health")
            assert health.status == 200
            assert orjson.loads(health.body)["treeSize"] > ack["seq"], (i, ack, health.body)
        # The front reports its counts every second; the sequencer's /metrics adds them up.
        wait_for(
            lambda: requests_counted(proc.url, "attest_status", "ok") >= calls,
            3.0,
            f"/metrics to count the {calls} status reads",
        )


@pytest.mark.parametrize(
    ("signum", "says"),
    [
        (signal.SIGKILL, "HTTP front process exited"),
        # Stopped, it holds the listeners and answers nobody, its channel open: a hang.
        (signal.SIGSTOP, "stopped or hung"),
    ],
    ids=["killed", "stopped"],
)
def test_front_killed_or_stopped_stops_the_sequencer_and_keeps_every_ack(
    tmp_path: Path, signum: signal.Signals, says: str
) -> None:
    """SIGKILL or SIGSTOP to the front while writers submit: the sequencer (which, for a
    stopped front, sees its beat stop and kills it) exits non-zero within `SILENT_S` and a few
    seconds, saying why; every event acknowledged before is there after a restart."""
    with serving(tmp_path / "d", capture_log=True) as proc:
        front = front_pid(proc)
        writers = Writers(proc.url, threads=3, batch=50)
        wait_for(lambda: len(writers.acked) >= 500, 10.0, "500 acknowledged events")
        os.kill(front, signum)
        try:
            code = proc.proc.wait(timeout=SILENT_S + 10)
        finally:
            acked = writers.finish()
        log = "".join(proc.log_lines)
        assert code != 0
        assert says in log, log[-2000:]
        wait_for(lambda: is_gone(front), 5.0, "the front process to be gone")
    with serving(tmp_path / "d") as again:
        assert_acked_intact(again.url, acked)


def test_sequencer_killed_takes_the_front_with_it(tmp_path: Path) -> None:
    """SIGKILL to the sequencer: the front sees its channel close and exits, and no orphan
    keeps the listening port."""
    with serving(tmp_path / "d") as proc:
        host, port = host_port(proc.url)
        front = front_pid(proc)
        with RpcClient(proc.url, timeout=10) as rpc:
            assert rpc.request("GET", "/health").status == 200
        proc.kill()
        wait_for(lambda: is_gone(front), 5.0, "the front process to exit")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))  # refused while any process still listens there
        s.listen()


def test_sequencer_stopped_makes_health_say_so(tmp_path: Path) -> None:
    """SIGSTOP to the sequencer (hung): the front, which answers `/health` on its own, stops
    saying "ok" from the last state once the sequencer has not run for `SILENT_S`, and says
    why; after SIGCONT it is healthy again."""
    with serving(tmp_path / "d") as proc, RpcClient(proc.url, timeout=10) as rpc:
        assert rpc.request("GET", "/health").status == 200
        os.kill(proc.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()

            def unhealthy() -> bool:
                return rpc.request("GET", "/health").status == 503

            wait_for(unhealthy, SILENT_S + 5.0, "/health to say the sequencer is not running")
            assert time.monotonic() - started >= SILENT_S - 0.5  # not before it is due
            answer = orjson.loads(rpc.request("GET", "/health").body)
            assert answer["status"] == "unhealthy", answer
            assert "sequencer has not run" in answer["reason"], answer
        finally:
            os.kill(proc.proc.pid, signal.SIGCONT)
        wait_for(lambda: rpc.request("GET", "/health").status == 200, 5.0, "healthy again")


def test_front_priority_sets_the_front_process_nice_value(tmp_path: Path) -> None:
    """`[serve] front_priority` is the front's nice value (a raise, allowed to anyone, checked
    here; a lowering needs CAP_SYS_NICE), and the sequencer's own stays as it was."""
    with serving(tmp_path / "d", config=serve_config(tmp_path, QUEUE, front_priority=7)) as proc:
        front = front_pid(proc)
        assert os.getpriority(os.PRIO_PROCESS, front) == 7
        assert os.getpriority(os.PRIO_PROCESS, proc.proc.pid) == os.getpriority(os.PRIO_PROCESS, 0)
        with RpcClient(proc.url, timeout=10) as rpc:
            assert rpc.request("GET", "/health").status == 200


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_process_group_under_writes(tmp_path: Path, signum: signal.Signals) -> None:
    """SIGTERM or SIGINT to the whole process group (a supervisor, a terminal's Ctrl-C): the
    front ignores it and the sequencer stops both cleanly, exit 0, every ack kept."""
    with serving(tmp_path / "d", new_session=True) as proc:
        front = front_pid(proc)
        writers = Writers(proc.url, threads=3, batch=50)
        wait_for(lambda: len(writers.acked) >= 500, 10.0, "500 acknowledged events")
        os.killpg(proc.proc.pid, signum)
        try:
            code = proc.proc.wait(timeout=10)
        finally:
            acked = writers.finish()
        assert code == 0
        wait_for(lambda: is_gone(front), 5.0, "the front process to exit")
    with serving(tmp_path / "d") as again:
        assert_acked_intact(again.url, acked)


QUEUE = 20_000
"""The queue bound of the admission case."""
HEAD_EVENTS = QUEUE // MAX_IN_FLIGHT_SHARE // 2
"""Events the front admits for one attacker's head: two such heads fill its in-flight share."""
HEAD_LENGTH = HEAD_EVENTS * MIN_EVENT_WIRE_BYTES
"""The attackers' Content-Length: a body the front admits (`sequencer.node.front.admit`)."""
PROBE_EVENTS = QUEUE - HEAD_EVENTS // 2
"""Events a probe's length implies to the front: it fits only if less than half of one
attacker's admission is still held (or leaked)."""
PROBE_BATCH = 5_000
"""Events the probe holds (its receipts stay under the response limit)."""


def big_submission(tag: str, implied_events: int) -> bytes:
    """An `attest_submitBatch` of `PROBE_BATCH` events padded with whitespace to the length
    that implies `implied_events` to the front (`MIN_EVENT_WIRE_BYTES` each)."""
    length = implied_events * MIN_EVENT_WIRE_BYTES
    body = rpc_body("attest_submitBatch", [events(tag, PROBE_BATCH)])
    assert len(body) <= length, len(body)
    return body + b" " * (length - len(body))


_WAITING = re.compile(r"\((-?\d+) events waiting\)")


def room_held(url: str) -> int:
    """Events the queue holds, as the front counts them (its admissions in flight included):
    read from the refusal of a head implying one event more than the queue takes, which the
    front refuses at once, saying how many events are waiting."""
    _, port = host_port(url)
    with raw(url) as conn:
        conn.send(post(port, b"", length=(QUEUE + 1) * MIN_EVENT_WIRE_BYTES))
        status, _, body = conn.read_response()
    answer = orjson.loads(body)
    assert status == 503 and retry_after_ms(answer) is not None, body
    m = _WAITING.search(answer["error"]["message"])
    assert m is not None, answer
    return int(m.group(1))


def wait_room_free(url: str, timeout: float) -> None:
    """Until the front counts no event held (an idle queue): every admission given back."""

    def free() -> bool:
        held = room_held(url)
        assert held >= 0, f"room given back twice: {held} events held"
        return held == 0

    wait_for(free, timeout, "the admitted room to be given back")


def test_heads_without_bodies_cannot_hold_the_queue(tmp_path: Path) -> None:
    """Clients that send a large submission's head and then nothing (or leave at once) hold
    the room the front admitted for at most `ADMISSION_HOLD_S`, never more than its in-flight
    share in all, and never leak it.

    Sizes: each head implies `HEAD_EVENTS` (half the in-flight share) events, so 30 of them
    would hold the whole queue several times over without the share, and a probe implying
    `PROBE_EVENTS` is refused while any one admission (or a leaked one) is held. What is held is read from the front's own
    refusals (`room_held`), which say how many events are waiting.
    """
    assert HEAD_LENGTH >= SHED_BODY_BYTES  # the front admits it from its head
    share = QUEUE // MAX_IN_FLIGHT_SHARE
    config = serve_config(tmp_path, QUEUE)
    with serving(tmp_path / "d", config=config) as proc:
        _, port = host_port(proc.url)
        attackers = [socket.create_connection(host_port(proc.url)) for _ in range(40)]
        try:
            # 30 heads of `HEAD_LENGTH` and 10 of 1 MB (6,250 events): each admitted while
            # the in-flight share has room for it, handed on unadmitted (holding nothing)
            # once it has not.
            for k, s in enumerate(attackers):
                s.sendall(post(port, b"", length=HEAD_LENGTH if k < 30 else 1_000_000))
            # While the heads hang: what they hold stays within the share (sampled in the
            # first second, before the admissions expire), and an honest writer of
            # 100-event batches is acknowledged.
            held = [room_held(proc.url) for _ in range(5)]
            assert max(held) <= share and max(held) >= HEAD_EVENTS, held
            with RpcClient(proc.url, token="dev", timeout=10) as rpc:
                out = rpc.call("attest_submitBatch", events("honest", 100))
            assert len(out["events"]) == 100
            # The admissions expire, the attackers still connected; then the probe fits.
            wait_room_free(proc.url, ADMISSION_HOLD_S + 3.0)
            with RpcClient(proc.url, token="dev", timeout=30) as rpc:
                out = orjson.loads(rpc.post_raw(big_submission("after-expiry", PROBE_EVENTS)).body)
            assert len(out["result"]["events"]) == PROBE_BATCH, out
        finally:
            for s in attackers:
                s.close()

        # Heads from clients that leave at once: the room comes back every time, once.
        for _ in range(200):
            with socket.create_connection(host_port(proc.url)) as s:
                s.sendall(post(port, b"", length=HEAD_LENGTH))
        wait_room_free(proc.url, 3.0)
        with RpcClient(proc.url, token="dev", timeout=30) as rpc:
            out = orjson.loads(rpc.post_raw(big_submission("after-leavers", PROBE_EVENTS)).body)
        assert len(out["result"]["events"]) == PROBE_BATCH, out


def test_pipelined_requests_across_the_move(tmp_path: Path) -> None:
    """Status, a submission, status and `/health` in one write: the front answers the first,
    moves the connection (with the rest unread) to the sequencer for the second, and the
    answers come back whole and in order, the reads covering the ack."""
    with serving(tmp_path / "d") as proc, raw(proc.url) as conn:
        _, port = host_port(proc.url)
        event = unsigned(1) | {"digest": h32("pipelined")}
        conn.send(
            post(port, rpc_body("attest_status", [], 1))
            + post(port, rpc_body("attest_submit", [event], 2))
            + post(port, rpc_body("attest_status", [], 3))
            + get_health(port)
        )
        answers = [conn.read_response() for _ in range(4)]
        assert [status for status, _, _ in answers] == [200, 200, 200, 200]
        before, ack, after = (orjson.loads(body) for _, _, body in answers[:3])
        assert [before["id"], ack["id"], after["id"]] == [1, 2, 3]
        seq = ack["result"]["seq"]
        assert before["result"]["treeSize"] <= seq < after["result"]["treeSize"]
        assert orjson.loads(answers[3][2])["treeSize"] > seq
        assert conn.buf == b""


FLOOD_QUEUE = 4_000
"""The queue bound of the hold-off cases: writers of `FLOOD_BATCH`-event batches, six or more
at once, keep it full."""
FLOOD_BATCH = 1_000


def test_held_off_connection_comes_back_and_is_served(tmp_path: Path) -> None:
    """A connection refused with -32005 while the queue is full is held off (in the front,
    where the sequencer's process sends it back); a retry after `retryAfterMs` on the same
    connection is answered, and once the flood stops it is acknowledged there again."""
    config = serve_config(tmp_path, FLOOD_QUEUE)
    with serving(tmp_path / "d", config=config) as proc, raw(proc.url) as conn:
        _, port = host_port(proc.url)
        # Acknowledged first: the connection is in the sequencer's process now.
        assert "result" in conn.rpc(port, batch_body("c0", FLOOD_BATCH)), (
            "not acknowledged on an idle queue"
        )
        flood = Flood(proc.url, threads=6, batch=FLOOD_BATCH)
        try:
            refusals = acks = 0
            deadline = time.monotonic() + 15.0
            while refusals < 3:
                assert time.monotonic() < deadline, f"{refusals} refusals: the queue never filled"
                answer = conn.rpc(port, batch_body(f"c{time.time_ns()}", FLOOD_BATCH))
                hint = retry_after_ms(answer)
                if hint is None:
                    assert "result" in answer, answer
                    acks += 1
                    continue
                refusals += 1
                time.sleep(hint / 1000)
        finally:
            flood.finish()
        # Same connection, the flood over: acknowledged once the queue has drained.
        deadline = time.monotonic() + 5.0
        while True:
            answer = conn.rpc(port, batch_body(f"c{time.time_ns()}", FLOOD_BATCH))
            hint = retry_after_ms(answer)
            if hint is None:
                assert "result" in answer, answer
                break
            assert time.monotonic() < deadline, answer
            time.sleep(hint / 1000)
    print(f"held-off probe: {refusals} refusals, {acks} acks under the flood")


def test_early_retries_wait_out_the_hold_off(tmp_path: Path) -> None:
    """A client that sends its next request before `retryAfterMs` is not answered before
    that time has passed since its refusal, and is answered after; a flood of such clients
    leaves `/health` on another connection answered (bound generous: two shared cores)."""
    config = serve_config(tmp_path, FLOOD_QUEUE)
    with serving(tmp_path / "d", config=config) as proc:
        _, port = host_port(proc.url)
        flood = Flood(proc.url, threads=4, batch=FLOOD_BATCH)
        # (retryAfterMs, seconds from sending the refused request to the next answer)
        held: list[tuple[int, float]] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def early_client(worker: int) -> None:
            body = batch_body(f"early-{worker}", FLOOD_BATCH // 2)
            try:
                with raw(proc.url) as conn:
                    while not stop.is_set():
                        sent = time.monotonic()
                        hint = retry_after_ms(conn.rpc(port, body))
                        if hint is None:
                            continue
                        # At once, long before the hint: the server reads it only after.
                        conn.rpc(port, body)
                        held.append((hint, time.monotonic() - sent))
            except BaseException as exc:
                errors.append(exc)

        health_s: list[float] = []

        def health_reader() -> None:
            try:
                with RpcClient(proc.url, timeout=10) as rpc:
                    while not stop.is_set():
                        started = time.monotonic()
                        reply = rpc.request("GET", "/health")
                        health_s.append(time.monotonic() - started)
                        assert reply.status == 200, reply
                        time.sleep(0.02)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=early_client, args=(w,), daemon=True) for w in range(16)]
        threads.append(threading.Thread(target=health_reader, daemon=True))
        for t in threads:
            t.start()
        time.sleep(4.0)
        stop.set()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "a client thread is stuck"
        flood.finish()
    hints = sorted(hint for hint, _ in held)
    print(
        f"{len(held)} early retries, hints {hints[:1]}..{hints[-1:]} ms; flood refusals "
        f"{flood.refusals}; /health worst {max(health_s, default=0):.3f} s"
    )
    assert not errors, errors[:3]
    assert held, "no refusal: the queue never filled"
    # From sending the refused request to the answer of the next: at least the hint (the
    # server counts the hold-off from after it sent the refusal, later than `sent`).
    early = [(hint, took) for hint, took in held if took < hint / 1000]
    assert not early, f"answered before retryAfterMs: {early[:5]}"
    assert len(health_s) >= 20 and max(health_s) < 2.0, sorted(health_s)[-5:]


def test_a_batch_the_config_allows_is_acknowledged(tmp_path: Path) -> None:
    """Found while sizing the admission case: with `max_batch_events = 20000`, a batch of
    16,000 events was stored, then answered -32006 (its receipts exceed the response-bytes
    bound): the client could not tell it was stored, and a retry stored it twice. A write's
    answer is never cut now (`MethodSpec.writes`)."""
    n = 16_000
    config = serve_config(tmp_path, QUEUE, max_batch_events=QUEUE)
    with serving(tmp_path / "d", config=config) as proc:
        with RpcClient(proc.url, token="dev", timeout=60) as rpc:
            answer = orjson.loads(rpc.post_raw(batch_body("allowed", n)).body)
            tree_size = rpc.call("attest_status")["treeSize"]
        assert tree_size == n  # stored either way
        assert len(answer.get("result", {}).get("events", [])) == n, str(answer)[:300]
