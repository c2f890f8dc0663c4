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
from sequencer.devnet.process import SequencerProcess
from state_db.store import Store

OUT = Path(__file__).resolve().parent / "out"
BLOCK = 256
GROUP = 50_000
PAGE = 20
POLL_S = 2.0


def build_store(data_dir: Path, records: int) -> dict[str, Any]:
    """`records` synthetic records in `data_dir`/log, sealed every `BLOCK`; reused if there."""
    path = data_dir / "log"
    if path.exists():
        with Store.open(path, create=False) as store:
            if store.head.tree_size == records:
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
    return {"records": records, "build_s": time.perf_counter() - started, "reused": False}


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

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> tuple[float, list[Any]]:
        body = orjson.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
                for i, (m, p) in enumerate(calls)
            ]
        )
        elapsed, data = self.request("POST", "/", body)
        answers = orjson.loads(data)
        for a in answers:
            if "error" in a:
                raise RuntimeError(f"batch: {a['error']}")
        return elapsed, [a["result"] for a in sorted(answers, key=lambda a: a["id"])]

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


def time_pages(url: str, records: int, *, runs: int = 40, seed: int = 7) -> dict[str, Any]:
    """Server time of every page's calls, `runs` times each at random positions."""
    rnd = random.Random(seed)
    c = _Client(url)
    try:
        _, status = c.call("attest_status")
        blocks = status["latestBlock"]["number"] + 1

        def event_page() -> float:
            seq = rnd.randrange(records)
            t1, _ = c.batch(
                [("attest_getEvent", [seq]), ("explorer_receipt", [seq]), ("attest_status", [])]
            )
            # The verifier's fetches (its L1 reads go to L1, not here).
            t2, _ = c.call("attest_getEvent", seq)
            t3, _ = c.call("attest_getProof", seq)
            return t1 + t2 + t3

        def digest_search() -> float:
            seq = rnd.randrange(records)
            _, ev = c.call("attest_getEvent", seq)
            t1, (by_digest, by_subject) = c.batch(
                [
                    ("attest_findByDigest", [ev["digest"], {"limit": PAGE}]),
                    ("attest_findBySubject", [ev["digest"], {"limit": PAGE}]),
                ]
            )
            t2, _ = c.batch(
                [
                    ("attest_getEvent", [s])
                    for s in (by_digest["seqs"] + by_subject["seqs"]) or [seq]
                ]
            )
            return t1 + t2

        def subject_timeline() -> float:
            seq = rnd.randrange(records)
            _, ev = c.call("attest_getEvent", seq)
            t1, _ = c.call("explorer_checkpoints", None, 100)
            t2, found = c.call("attest_findBySubject", ev["subject"], {"limit": PAGE})
            t3, _ = c.batch([("attest_getEvent", [s]) for s in found["seqs"]])
            return t1 + t2 + t3

        def submitter_page() -> float:
            seq = rnd.randrange(records // 3) * 3  # every third synthetic record is signed
            _, ev = c.call("attest_getEvent", seq)
            t1, found = c.call("explorer_findBySubmitter", ev["submitter"], {"limit": PAGE})
            t2, _ = c.batch([("attest_getEvent", [s]) for s in found["seqs"]])
            return t1 + t2

        def static(path: str) -> Callable[[], float]:
            return lambda: c.request("GET", path)[0]

        pages: dict[str, Callable[[], float]] = {
            "dashboard (first poll, all samples)": lambda: c.call("explorer_dashboard", 0)[0],
            "dashboard (later poll)": lambda: c.call(
                "explorer_dashboard", int(time.time() * 1000) - 2000
            )[0],
            "event page + in-browser verification fetches": event_page,
            "search by digest (find + events)": digest_search,
            "subject timeline (find + 20 events)": subject_timeline,
            "submitter page (find + events)": submitter_page,
            "block page (256 events)": lambda: c.call(
                "attest_getBlock", rnd.randrange(blocks), True
            )[0],
            "block list": lambda: c.call(
                "explorer_blocks", rnd.randrange(min(PAGE, blocks), blocks + 1), PAGE
            )[0],
            "checkpoint list": lambda: c.call("explorer_checkpoints", None, PAGE)[0],
            "consistency proof (checkpoint page)": lambda: c.call(
                "attest_getConsistencyProof", rnd.randrange(records // 2), records
            )[0],
            "GET / (index.html)": static("/"),
            "GET /explorer/app.js": static("/explorer/app.js"),
            "GET /explorer/verify.js": static("/explorer/verify.js"),
        }
        out: dict[str, Any] = {}
        for name, fn in pages.items():
            fn()  # warm: the first read of a chunk comes from disk, later ones from caches
            out[name] = _summary([fn() for _ in range(runs)])
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


def tab_cpu(proc: SequencerProcess, *, tabs: int = 10, seconds: float = 30.0) -> dict[str, Any]:
    """CPU of the event-loop thread with no tab, then with `tabs` polling tabs; per tab."""
    pid = proc.proc.pid
    time.sleep(1.0)
    before = _cpu_s(pid, main_thread=True)
    time.sleep(seconds)
    idle = _cpu_s(pid, main_thread=True) - before
    with _Tabs(proc.url, tabs) as t:
        time.sleep(1.0)
        polls_before = t.polls
        before = _cpu_s(pid, main_thread=True)
        time.sleep(seconds)
        busy = _cpu_s(pid, main_thread=True) - before
        polls = t.polls - polls_before
    per_tab = max(0.0, busy - idle) / seconds / tabs
    return {
        "tabs": tabs,
        "seconds": seconds,
        "idle_cpu_s": idle,
        "with_tabs_cpu_s": busy,
        "polls": polls,
        "cpu_ms_per_poll": 1000 * max(0.0, busy - idle) / max(1, polls),
        "per_tab_core_share": per_tab,
    }


MODES: tuple[str, ...] = ("no_explorer", "explorer", "explorer_with_tabs")


def ingest_side_by_side(
    *, seconds: float = 8.0, rounds: int = 4, batch: int = 1000, connections: int = 4, tabs: int = 2
) -> dict[str, Any]:
    """Max-rate unsigned ingest: without the explorer, with it served, and with it served and
    `tabs` dashboards polling. The order rotates every round, so that a slow stretch of a
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
                    with _Tabs(proc.url, tabs if mode == "explorer_with_tabs" else 0):
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
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    out: dict[str, Any] = {}
    if only & {"pages", "tabs"}:
        data_dir = args.store or OUT / f"explorer-store-{args.records}"
        out["store"] = build_store(data_dir, args.records)
        print("store", out["store"], flush=True)
        with SequencerProcess(data_dir, dev=False) as proc:
            if "pages" in only:
                out["pages"] = time_pages(proc.url, args.records)
                for name, s in out["pages"].items():
                    print(
                        f"{name:48} p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms  max {s['max_ms']:7.2f} ms",
                        flush=True,
                    )
            if "tabs" in only:
                out["tabs"] = tab_cpu(proc)
                print("tabs", out["tabs"], flush=True)
    if "ingest" in only:
        out["ingest"] = ingest_side_by_side()
        print("ingest", out["ingest"], flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
