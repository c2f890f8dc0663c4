"""The explorer's cost to the server (docs/benchmarks.md §Explorer).

Three measurements, each against a real `attest serve` process:

* **pages** — a store of `records` records (default 10M, blocks of 256) is built once with
  `Store.commit` in groups of 50,000 (the bulk path `bench_restart` uses; kept under
  ``bench/out/`` and reused by later runs), then every page's server calls are timed, each
  as the page makes them (one HTTP request per call or batch), at random positions: the
  dashboard's poll, an event page (event, receipt, status, then the verifier's event and
  proof), a digest search and a subject timeline (find + 20 events), a submitter page, a full
  block (256 events), the block and checkpoint lists, and the static files. The figure is the
  time from sending the request to the last byte of the answer on loopback, an upper bound on
  the server's time (it includes the client's send and receive).
* **tabs** — the server process's CPU time (``/proc``) over `tab_seconds` with no tab open,
  then with `tabs` simulated dashboard tabs, each polling `explorer_dashboard` every 2 s with
  ``sinceMs`` as the page does; the difference per tab, as a share of one core.
* **ingest** — `bench_ingest`'s unsigned load at maximum rate against a fresh sequencer,
  alternately with ``--no-explorer`` and with the explorer served and two dashboard tabs
  polling it, `rounds` times each; the medians side by side.

Run: ``python -m bench.bench_explorer [--records N] [--only pages,tabs,ingest]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.bench_ingest import unsigned_bodies
from bench.bench_store import synthetic_entries
from bench.loadgen import run_load_subprocess
from prover.checkpoint import Checkpoint, CheckpointStatus, checkpoint_json
from sequencer.devnet.process import SequencerProcess
from state_db.store import Store

OUT = Path(__file__).resolve().parent / "out"
BLOCK = 256
GROUP = 50_000
PAGE = 20
POLL_S = 2.0


CHECKPOINT_EVERY = 100_000
"""Records between the bench store's checkpoints (as the committer stores them: 100 at 10M)."""


def build_store(data_dir: Path, records: int) -> dict[str, Any]:
    """`records` synthetic records in `data_dir`/log, sealed every `BLOCK`, with a checkpoint
    every `CHECKPOINT_EVERY` records (the last still pending); reused if there."""
    path = data_dir / "log"
    if path.exists():
        with Store.open(path, create=False) as store:
            if store.head.tree_size == records:
                _put_checkpoints(store)
                return {"records": records, "build_s": None, "reused": True}
        raise RuntimeError(f"{path} holds another size: remove it to rebuild")
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with Store.open(path) as store:
        for start in range(0, records, GROUP):
            end = min(start + GROUP, records)
            seals = [(e, 1_700_000_000_000 + e) for e in range(start + BLOCK, end + 1, BLOCK)]
            if not seals or seals[-1][0] != end:
                seals.append((end, 1_700_000_000_000 + end))
            store.commit(synthetic_entries(start, end), seals)
        build_s = time.perf_counter() - started
        _put_checkpoints(store)
    return {"records": records, "build_s": build_s, "reused": False}


def _put_checkpoints(store: Store) -> None:
    """The checkpoint records `sequencer.l1.committer` stores, one per `CHECKPOINT_EVERY`
    records, with the true roots; written once (a store that has them is left alone)."""
    if store.checkpoint_count():
        return
    sizes = list(range(CHECKPOINT_EVERY, store.head.tree_size + 1, CHECKPOINT_EVERY))
    for index, size in enumerate(sizes or [store.head.tree_size]):
        final = index < len(sizes) - 1
        cp = Checkpoint(
            index,
            size,
            store.root_at(size),
            1_700_000_000 + index * 60,
            1_700_000_000 + index * 60 + 3600,
            CheckpointStatus.FINAL if final else CheckpointStatus.PENDING,
        )
        store.put_checkpoint(index, orjson.dumps(checkpoint_json(cp, "0x" + "ab" * 32)))


class _Client:
    """One keep-alive connection; `post` times one request to the last byte of its answer."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.ids = 0

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[float, bytes]:
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - started
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {data[:200]!r}")
        return elapsed, data

    def call(self, method: str, *params: Any) -> tuple[float, Any]:
        self.ids += 1
        body = orjson.dumps(
            {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": list(params)}
        )
        elapsed, data = self.request("POST", "/", body)
        answer = orjson.loads(data)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return elapsed, answer["result"]

    def batch(
        self, calls: Sequence[tuple[str, Sequence[Any]]], *, tolerate: bool = False
    ) -> tuple[float, list[Any]]:
        """One batch; an error answer raises, or with `tolerate` (as the page's `rpcBatch`
        shows an error in place) comes back as None."""
        body = orjson.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
                for i, (m, p) in enumerate(calls)
            ]
        )
        elapsed, data = self.request("POST", "/", body)
        answers = orjson.loads(data)
        for a in answers:
            if "error" in a and not tolerate:
                raise RuntimeError(f"batch: {a['error']}")
        return elapsed, [a.get("result") for a in sorted(answers, key=lambda a: a["id"])]

    def close(self) -> None:
        self.conn.close()


def _summary(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max_ms": ms[-1],
        "n": len(ms),
    }


def time_pages(
    url: str, records: int, *, runs: int = 40, seed: int = 7, pid: int | None = None
) -> dict[str, Any]:
    """Server time of every page's calls, `runs` times each at random positions, each call or
    batch as `sequencer/explorer/static/app.js` makes it (one HTTP request each). With the
    server's `pid`, also the CPU time its event-loop thread (where every method runs) spent
    over the runs of each page, per run: the server's work, which a loaded machine's queueing
    does not inflate as it does the wall-clock times."""
    rnd = random.Random(seed)
    c = _Client(url)
    try:
        _, status = c.call("attest_status")
        blocks = status["latestBlock"]["number"] + 1
        _, cps = c.call("explorer_checkpoints", None, 1)
        checkpoints = cps["checkpoints"][0]["index"] + 1 if cps["checkpoints"] else 0

        def events(seqs: Sequence[int]) -> float:
            """`eventRows`: one batch of attest_getEvent (nothing when the page is empty)."""
            return c.batch([("attest_getEvent", [s]) for s in seqs])[0] if seqs else 0.0

        def paged(method: str, key: str) -> tuple[float, list[int]]:
            """`pagedEvents`' first page: the finder, then its events."""
            t, page = c.call(method, key, {"limit": PAGE})
            return t + events(page["seqs"]), page["seqs"]

        def random_event() -> dict[str, Any]:
            ev: dict[str, Any] = c.call("attest_getEvent", rnd.randrange(records))[1]
            return ev

        def search_number() -> float:
            n = rnd.randrange(records)
            return c.batch(
                [("attest_getEvent", [n]), ("attest_getBlock", [n]), ("attest_getCheckpoint", [n])],
                tolerate=True,
            )[0]

        def search_hash(key: str) -> float:
            """A 32-byte hash: leaf hash, digest and subject, each a paged list."""
            total = 0.0
            for method in ("attest_findByLeafHash", "attest_findByDigest", "attest_findBySubject"):
                total += paged(method, key)[0]
            return total

        def search_leaf_hash() -> float:
            ev = random_event()
            t, seqs = paged("attest_findByLeafHash", ev["leafHash"])
            if seqs != [ev["seq"]]:
                raise AssertionError(f"leaf hash of {ev['seq']} found at {seqs}")
            return t

        def event_page() -> float:
            ev = random_event()
            seq = ev["seq"]
            t1, _ = c.batch(
                [
                    ("attest_getEvent", [seq]),
                    ("explorer_receipt", [seq]),
                    ("attest_status", []),
                    ("explorer_checkpoints", [None, 100]),
                ]
            )
            # renderRevocations: later records by digest (= this leaf hash) and by subject.
            t2, (by_digest, by_subject) = c.batch(
                [
                    ("attest_findByDigest", [ev["leafHash"], {"after": seq, "limit": 100}]),
                    ("attest_findBySubject", [ev["subject"], {"after": seq, "limit": 100}]),
                ]
            )
            t3 = events(sorted(set(by_digest["seqs"] + by_subject["seqs"])))
            # The verifier's fetches (its L1 reads go to L1, not here).
            t4, _ = c.call("attest_getEvent", seq)
            t5, _ = c.call("attest_getProof", seq)
            return t1 + t2 + t3 + t4 + t5

        def subject_page() -> float:
            ev = random_event()
            t1, _ = c.batch([("explorer_checkpoints", [None, 100])])
            t2, _ = paged("attest_findBySubject", ev["subject"])
            return t1 + t2

        def submitter_page(signed: bool) -> Callable[[], float]:
            def page() -> float:
                # Every third synthetic record is signed, the others unsigned, each with a
                # submitter of its own: either list of the other kind is empty, the worst case
                # for the unsigned one (it reads the submitter's key of every window).
                seq = rnd.randrange(records // 3) * 3 + (0 if signed else 1)
                ev: dict[str, Any] = c.call("attest_getEvent", seq)[1]
                t1, _ = paged("explorer_findBySubmitter", ev["submitter"])
                t2, _ = paged("explorer_findUnsignedBySubmitter", ev["submitter"])
                return t1 + t2

            return page

        def checkpoint_page() -> float:
            index = rnd.randrange(max(1, checkpoints))
            t1, cp = c.call("attest_getCheckpoint", index)
            if cp is None or index == 0:
                return t1
            _, prev = c.call("attest_getCheckpoint", index - 1)
            # verifyCheckpointConsistency: the proof between the previous live one and it.
            t2, _ = c.call("attest_getConsistencyProof", prev["treeSize"], cp["treeSize"])
            return t1 + t2

        def static(path: str) -> Callable[[], float]:
            return lambda: c.request("GET", path)[0]

        pages: dict[str, Callable[[], float]] = {
            "dashboard snapshot, full (a new tab)": lambda: c.call("explorer_dashboard", 0)[0],
            "dashboard snapshot, last 2 s (a poll)": lambda: c.call(
                "explorer_dashboard", int(time.time() * 1000) - 2000
            )[0],
            "search by number (event, block, checkpoint)": search_number,
            "search by leaf hash (find + event)": search_leaf_hash,
            "search by 32-byte hash of a record (leaf, digest, subject + events)": lambda: (
                search_hash(random_event()["digest"])
            ),
            "search by 32-byte hash of no record (all three scans)": lambda: search_hash(
                "0x" + rnd.randbytes(32).hex()
            ),
            "event page + revocations + verifier fetches": event_page,
            "subject page (checkpoints, find + 20 events)": subject_page,
            "submitter page, signed submitter (both lists)": submitter_page(True),
            "submitter page, unsigned submitter (both lists)": submitter_page(False),
            "block page (256 events)": lambda: c.call(
                "attest_getBlock", rnd.randrange(blocks), True
            )[0],
            "block list": lambda: c.call(
                "explorer_blocks", rnd.randrange(min(PAGE, blocks), blocks + 1), PAGE
            )[0],
            "checkpoint list": lambda: c.call("explorer_checkpoints", None, PAGE)[0],
            "checkpoint page (checkpoint, consistency proof)": checkpoint_page,
            "GET / (index.html)": static("/"),
            "GET /explorer/app.js": static("/explorer/app.js"),
            "GET /explorer/verify.js": static("/explorer/verify.js"),
        }
        out: dict[str, Any] = {}
        for name, fn in pages.items():
            fn()  # warm: the first read of a chunk comes from disk, later ones from caches
            cpu0 = _cpu_s(pid, main_thread=True) if pid is not None else 0.0
            out[name] = _summary([fn() for _ in range(runs)])
            if pid is not None:
                used = _cpu_s(pid, main_thread=True) - cpu0
                out[name]["server_cpu_ms_mean"] = 1000 * used / runs
        return out
    finally:
        c.close()


def _cpu_s(pid: int, *, main_thread: bool = False) -> float:
    """User + system CPU seconds of a process, all its threads, or of its main thread only
    (where the event loop, and so every JSON-RPC method, runs; LevelDB compacts in threads of
    its own, which after a bulk build keep a core busy for minutes). From /proc, Linux only."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Tabs:
    """`n` dashboard tabs: each polls explorer_dashboard every POLL_S with sinceMs."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.stop = threading.Event()
        self.polls = 0
        self.threads = [
            threading.Thread(target=self._tab, args=(i,), daemon=True) for i in range(n)
        ]

    def _tab(self, i: int) -> None:
        c = _Client(self.url)
        since = 0
        time.sleep(POLL_S * i / max(1, self.n))  # tabs opened at different moments
        try:
            while not self.stop.is_set():
                _, d = c.call("explorer_dashboard", since)
                if d["ingest"]["samples"]:
                    since = d["ingest"]["samples"][-1][0]
                self.polls += 1
                self.stop.wait(POLL_S)
        finally:
            c.close()

    def __enter__(self) -> _Tabs:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


class _Streams:
    """`n` live dashboards: each holds ``GET /explorer/live`` open and reads every message, as
    the page's EventSource does."""

    def __init__(self, url: str, n: int) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port, self.n = host, int(port), n
        self.messages = 0
        self.conns: list[http.client.HTTPConnection] = []
        self.threads = [
            threading.Thread(target=self._tab, args=(i,), daemon=True) for i in range(n)
        ]
        self.stop = threading.Event()

    def _tab(self, i: int) -> None:
        # Each tab from its own loopback address (127.0.1.i): the node takes at most
        # MAX_STREAMS_PER_ADDRESS streams from one address, as from one visitor.
        source = (f"127.0.1.{1 + i % 250}", 0)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60, source_address=source)
        self.conns.append(conn)
        conn.request("GET", "/explorer/live")
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"/explorer/live: HTTP {resp.status}")
        try:
            while not self.stop.is_set():
                line = resp.fp.readline()
                if not line:
                    return
                if line.startswith(b"event: dashboard"):
                    self.messages += 1
        except OSError:
            return  # closed by __exit__

    def __enter__(self) -> _Streams:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for conn in self.conns:
            if conn.sock is not None:
                conn.sock.shutdown(2)
        for t in self.threads:
            t.join(5)


def _loop_cpu(pid: int, seconds: float) -> float:
    before = _cpu_s(pid, main_thread=True)
    time.sleep(seconds)
    return _cpu_s(pid, main_thread=True) - before


def tab_cpu(
    proc: SequencerProcess, *, tabs: int = 10, seconds: float = 30.0, polling: bool = True
) -> dict[str, Any]:
    """CPU of the event-loop thread (where every JSON-RPC method and stream write runs) with no
    tab, then with one live dashboard (server-sent events), with `tabs` of them, and with
    `tabs` polling ones (the page's fallback when the node refuses a stream); per tab."""
    pid = proc.proc.pid
    time.sleep(1.0)
    idle = _loop_cpu(pid, seconds)
    out: dict[str, Any] = {"tabs": tabs, "seconds": seconds, "idle_cpu_s": idle}
    for n in (1, tabs):
        with _Streams(proc.url, n) as streams:
            time.sleep(2.0)
            messages = streams.messages
            busy = _loop_cpu(pid, seconds)
            messages = streams.messages - messages
        out[f"sse_{n}"] = {
            "cpu_s": busy,
            "messages": messages,
            "per_tab_core_share": max(0.0, busy - idle) / seconds / n,
        }
    if polling:
        with _Tabs(proc.url, tabs) as t:
            time.sleep(1.0)
            polls = t.polls
            busy = _loop_cpu(pid, seconds)
            polls = t.polls - polls
        out["polling"] = {
            "cpu_s": busy,
            "polls": polls,
            "cpu_ms_per_poll": 1000 * max(0.0, busy - idle) / max(1, polls),
            "per_tab_core_share": max(0.0, busy - idle) / seconds / tabs,
        }
    return out


MODES: tuple[str, ...] = ("no_explorer", "explorer", "explorer_with_tabs")


def ingest_side_by_side(
    *, seconds: float = 8.0, rounds: int = 4, batch: int = 1000, connections: int = 4, tabs: int = 2
) -> dict[str, Any]:
    """Max-rate unsigned ingest: without the explorer, with it served, and with it served and
    `tabs` live dashboards open (server-sent events). The order rotates every round, so that a slow stretch of a
    shared machine does not always fall on the same mode."""
    bodies = unsigned_bodies(40, batch)
    results: dict[str, list[float]] = {m: [] for m in MODES}
    cpu_us: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-explorer-ingest-") as tmp:
        for r in range(rounds):
            for mode in MODES[r % len(MODES) :] + MODES[: r % len(MODES)]:
                extra = ["--no-explorer"] if mode == "no_explorer" else []
                with SequencerProcess(Path(tmp) / f"{mode}-{r}", extra_args=extra) as proc:
                    host, port = proc.url.removeprefix("http://").rsplit(":", 1)
                    with _Streams(proc.url, tabs if mode == "explorer_with_tabs" else 0):
                        cpu_before = _cpu_s(proc.proc.pid)
                        run = run_load_subprocess(
                            host,
                            int(port),
                            bodies,
                            connections=connections,
                            duration_s=seconds,
                            headers=["Authorization: Bearer dev"],
                        )
                        used = _cpu_s(proc.proc.pid) - cpu_before
                    if run["errors"]:
                        raise RuntimeError(f"load run had errors: {run['error_kinds']}")
                    results[mode].append(run["rps"] * batch)
                    # Server CPU per event (all threads; the load generator's start-up and
                    # the tabs' idle seconds fall in the window too, the same in every mode).
                    cpu_us[mode].append(1e6 * used / max(1, run["ok"] * batch))
    medians = {m: statistics.median(v) for m, v in results.items()}
    cpu = {m: statistics.median(v) for m, v in cpu_us.items()}
    base = medians["no_explorer"]
    return {
        "rounds": rounds,
        "seconds": seconds,
        "tabs": tabs,
        "eps": results,
        "median": medians,
        "change_served": medians["explorer"] / base - 1,
        "change_with_tabs": medians["explorer_with_tabs"] / base - 1,
        "server_cpu_us_per_event": cpu_us,
        "median_cpu_us_per_event": cpu,
        "cpu_change_served": cpu["explorer"] / cpu["no_explorer"] - 1,
        "cpu_change_with_tabs": cpu["explorer_with_tabs"] / cpu["no_explorer"] - 1,
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_explorer")
    p.add_argument("--records", type=int, default=10_000_000)
    p.add_argument("--store", type=Path, default=None, help="data dir to build or reuse")
    p.add_argument("--only", default="pages,tabs,ingest")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--runs", type=int, default=40, help="timed runs of each page")
    p.add_argument("--tab-seconds", type=float, default=30.0, help="per CPU window of tabs")
    p.add_argument("--rounds", type=int, default=4, help="ingest rounds (each mode once)")
    p.add_argument("--seconds", type=float, default=8.0, help="per ingest run")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    out: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out["load_average_start"] = os.getloadavg()
    if only & {"pages", "tabs"}:
        data_dir = args.store or OUT / f"explorer-store-{args.records}"
        out["store"] = build_store(data_dir, args.records)
        print("store", out["store"], flush=True)
        with SequencerProcess(data_dir, dev=False) as proc:
            if "pages" in only:
                out["pages"] = time_pages(proc.url, args.records, runs=args.runs, pid=proc.proc.pid)
                for name, s in out["pages"].items():
                    print(
                        f"{name:70} p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms  "
                        f"max {s['max_ms']:7.2f} ms  "
                        f"server cpu {s.get('server_cpu_ms_mean', 0):6.2f} ms",
                        flush=True,
                    )
            if "tabs" in only:
                out["tabs"] = tab_cpu(proc, seconds=args.tab_seconds)
                print("tabs", out["tabs"], flush=True)
    if "ingest" in only:
        out["ingest"] = ingest_side_by_side(seconds=args.seconds, rounds=args.rounds)
        print("ingest", out["ingest"], flush=True)
    out["load_average_end"] = os.getloadavg()
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
