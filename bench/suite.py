"""`attest bench`: the whole benchmark suite in one run, side by side with floors and goals.

Stages, each calling the benchmark module that owns the measurement:

1. **ingest** (`bench.bench_ingest`) — durable-acknowledged unsigned and EIP-712-signed
   events/s over HTTP, ack latency at max and at half rate, beside the in-process floor.
2. **validator** (`bench.bench_validator`) — replicate-and-check: a fresh replica pulls a
   filled sequencer over HTTP (`validator.eps`, `validator.signed_eps`), divided by this run's
   `ingest.*` (`validator.eps_vs_ingest`, `validator.signed_eps_vs_ingest`); beside it the
   same pull one range at a time, without the pipeline (`validator.eps_serial`,
   `serial_vs_ingest`); where its time goes (fetch, parse, check and append); check and
   append alone, before and after `BlockChecker` (issue 11).
3. **hammer** (`bench.hammer`) — the same ingest while reader processes verify inclusion and
   consistency proofs; any wrong answer fails the run. Its per-request latencies feed the CDF
   chart, its throughput the time-series chart (with L1 checkpoint marks when an L1 is there).
4. **proofs** (`bench.bench_proofs`) — inclusion proofs served per second over RPC, and
   light-client verifications per second.
5. **tree** (`bench.bench_tree`) — ours vs pymerkle (keccak_256) vs the bare keccak floor.
6. **restart** (`bench.bench_restart`) — time to reopen a store of N records.
7. **l1** (`bench.bench_gas`) — gas per checkpoint and per attested event beside a naive
   per-event registry on the same chain.
8. **client** (`bench.bench_client`) — the client's batcher (accepted and verified events/s)
   beside `bench.loadgen` on the same sequencer, client signing beside eth-account's
   `sign_typed_data`, `attest model fingerprint` hashing beside `sha256sum`.
9. **overload** (`bench.bench_overload`) — 200 writers at maximum rate against a queue of
   50,000 events: ack latency, -32005 refusal latency, and `attest_status`//health` latency
   while overloaded (issue 12).

`--quick` keeps the whole run under about 4 minutes on a 2-core machine (shorter phases,
pymerkle at 100k leaves scaled linearly, a 1M-record store for restart instead of 10M); the
parameters are written into the JSON so a figure is never read without them.

The JSON (`--json FILE`) nests sections; a key written ``ingest.unsigned_eps`` below is
``result["ingest"]["unsigned_eps"]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from bench import (
    bench_client,
    bench_gas,
    bench_ingest,
    bench_overload,
    bench_proofs,
    bench_restart,
    bench_tree,
    bench_validator,
    hammer,
)
from sequencer.devnet.process import DevnetProcess, SequencerProcess


@dataclass(frozen=True, slots=True)
class SuiteParams:
    """Everything that sizes a run; written into the JSON beside the figures."""

    mode: str
    ingest_seconds: float
    ingest_signed_seconds: float
    batch: int
    connections: int
    hammer_seconds: float
    hammer_readers: int
    checkpoint_interval_s: float
    hammer_l1: bool
    """Hammer `attest devnet` (with L1 checkpoints) rather than a bare `attest serve`."""
    proofs_records: int
    proofs_seconds: float
    proofs_connections: int
    proofs_batch: int
    verify_seconds: float
    tree_n: int
    tree_proofs: int
    tree_pymerkle_n: int | None
    """None: pymerkle runs at `tree_n` too; else at this size, its append scaled linearly."""
    tree_repeats: int
    restart_records: int
    restart_group: int
    overload_seconds: float = 6.0
    overload_writers: int = 200
    validator_events: int = 40_000
    """Unsigned events the validator stage's sequencer holds before a replica pulls them."""
    validator_signed_events: int = 16_000
    validator_repeats: int = 2
    """Before/after check-and-append runs, alternated (best of each)."""


QUICK: Final = SuiteParams(
    mode="quick", ingest_seconds=3.0, ingest_signed_seconds=2.0, batch=1000, connections=4,
    hammer_seconds=4.0, hammer_readers=1, checkpoint_interval_s=1.0, hammer_l1=True, proofs_records=100_000, proofs_seconds=2.0,
    proofs_connections=16, proofs_batch=64, verify_seconds=1.0, tree_n=1_000_000,
    tree_proofs=1000, tree_pymerkle_n=100_000, tree_repeats=1, restart_records=1_000_000,
    restart_group=50_000,
)  # fmt: skip
FULL: Final = SuiteParams(
    mode="full", ingest_seconds=10.0, ingest_signed_seconds=5.0, batch=1000, connections=4,
    hammer_seconds=10.0, hammer_readers=1, checkpoint_interval_s=2.0, hammer_l1=True, proofs_records=1_000_000, proofs_seconds=5.0,
    proofs_connections=16, proofs_batch=64, verify_seconds=3.0, tree_n=1_000_000,
    tree_proofs=1000, tree_pymerkle_n=None, tree_repeats=3, restart_records=10_000_000,
    restart_group=50_000, validator_events=200_000, validator_signed_events=50_000,
    validator_repeats=3,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Goal:
    """A target from the issue: `key` (dotted path) must be `op` `target`."""

    key: str
    label: str
    op: str  # ">=" or "<="
    target: float
    unit: str

    def met(self, value: float) -> bool:
        return value >= self.target if self.op == ">=" else value <= self.target

    def shortfall(self, value: float) -> str:
        """How far from the goal, in words a reader can act on."""
        if self.met(value):
            return "met"
        if self.op == ">=":
            return f"missed: {value / self.target:.0%} of goal (needs {self.target / value:.1f}x)" \
                if value > 0 else "missed"  # fmt: skip
        return f"missed: {value / self.target:.1f}x the limit"


GOALS: Final[tuple[Goal, ...]] = (
    Goal("ingest.unsigned_eps", "unsigned events/s (durable ack)", ">=", 100_000, "ev/s"),
    Goal("ingest.signed_eps", "EIP-712-signed events/s", ">=", 25_000, "ev/s"),
    Goal("ingest.half_ack_p99_ms", "ack p99 at half rate (unsigned)", "<=", 20, "ms"),
    Goal("ingest.service_vs_floor", "service / in-process floor (unsigned)", ">=", 0.40, "x"),
    Goal(
        "validator.eps_vs_ingest",
        "validator / ingest (unsigned)",
        ">=",
        1.0,
        "x",
    ),
    Goal(
        "validator.signed_eps_vs_ingest",
        "validator / ingest (signed)",
        ">=",
        1.0,
        "x",
    ),
    Goal("tree.pymerkle_over_ours", "pymerkle time / ours (1M leaves)", ">=", 10, "x"),
    Goal("tree.ours_over_floor", "ours / keccak floor (1M leaves)", "<=", 1.5, "x"),
    Goal("proofs.serve_per_s", "inclusion proofs served/s (RPC)", ">=", 20_000, "/s"),
    Goal("proofs.verify_per_s", "light-client verifications/s", ">=", 50_000, "/s"),
    Goal("restart.reopen_s", "reopen a 10M-record store", "<=", 5.0, "s"),
    Goal("l1.commit_gas", "gas per checkpoint (worst, up to 2^52)", "<=", 150_000, "gas"),
    Goal(
        "client.batcher_eps",
        "client batcher: unsigned events/s accepted and verified",
        ">=",
        50_000,
        "ev/s",
    ),
    Goal(
        "client.client_vs_eth_account",
        "client signing / eth-account sign_typed_data speed",
        ">=",
        0.9,
        "x",
    ),
    Goal(
        "client.fingerprint_vs_sha256sum",
        "model fingerprint / sha256sum speed (1 GiB)",
        ">=",
        0.8,
        "x",
    ),
    Goal("overload.refused_p99_ms", "-32005 p99 under 200 writers (issue 12)", "<=", 10, "ms"),
    Goal("overload.status_p99_ms", "attest_status p99 under 200 writers", "<=", 50, "ms"),
    Goal("overload.health_p99_ms", "/health p99 under 200 writers", "<=", 50, "ms"),
)


def lookup(result: dict[str, Any], dotted: str) -> Any:
    """`result["a"]["b"]` for ``"a.b"``; KeyError naming the path if it is missing."""
    node: Any = result
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"{dotted} is missing from the result")
        node = node[part]
    return node


# --- progress -------------------------------------------------------------------------------


class LiveLine:
    """One status line on stderr, rewritten each second (a plain line every 15 s if not a TTY)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.stage = ""
        self.detail = ""
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def update(self, detail: str) -> None:
        self.detail = detail

    @contextmanager
    def stage_running(self, index: int, total: int, name: str, what: str) -> Iterator[None]:
        self.stage, self.detail, self.started = (
            f"[{index}/{total}] {name}",
            what,
            time.perf_counter(),
        )
        self._write_line(f"{self.stage}: {what}", final=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()
            took = time.perf_counter() - self.started
            self._write_line(f"{self.stage}: done in {took:.1f} s", final=True)

    def _tick(self) -> None:
        period = 1.0 if self.tty else 15.0
        while not self._stop.wait(period):
            took = time.perf_counter() - self.started
            self._write_line(f"{self.stage} {took:5.0f} s  {self.detail}", final=not self.tty)

    def _write_line(self, text: str, *, final: bool) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{text[:150]}" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


# --- stages ---------------------------------------------------------------------------------


@contextmanager
def start_sequencer(data_dir: Path, p: SuiteParams) -> Iterator[str]:
    """The system the hammer drives; yields the sequencer's URL.

    With `p.hammer_l1`, `attest devnet` (sequencer, L1 committer, embedded py-evm chain) in a
    child process: the hammer's `CheckpointWatcher` marks each checkpoint on the throughput
    chart, and the chain shares the cores, so these events/s are the whole system's, below
    the ingest stage's. Without, a bare `attest serve --dev` (no marks).
    """
    if p.hammer_l1:
        args = ["--data-dir", str(data_dir), "--checkpoint-interval", str(p.checkpoint_interval_s)]
        with DevnetProcess(extra_args=args) as devnet:
            yield devnet.url
    else:
        with SequencerProcess(data_dir) as proc:
            yield proc.url


def stage_ingest(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update("pre-signing EIP-712 events, then max rate and half rate, unsigned then signed")
    return bench_ingest.run(p.ingest_seconds, p.batch, p.connections, p.ingest_signed_seconds)


def stage_validator(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update(f"filling a sequencer with {p.validator_events:,} then "
                f"{p.validator_signed_events:,} signed events; a replica pulls each")  # fmt: skip
    return bench_validator.run(p.validator_events, p.validator_signed_events, p.batch,
                               p.validator_repeats)  # fmt: skip


def stage_hammer(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-hammer-") as tmp, \
            start_sequencer(Path(tmp, "data"), p) as url:  # fmt: skip
        cfg = hammer.HammerConfig(url, seconds=p.hammer_seconds, connections=p.connections,
                                  readers=p.hammer_readers)  # fmt: skip
        return hammer.run(cfg, bench_ingest.unsigned_bodies(40, p.batch), live.update)


def stage_proofs(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update(f"filling a sequencer with {p.proofs_records:,} events, then serving proofs")
    return bench_proofs.run(p.proofs_records, p.proofs_seconds, p.proofs_connections,
                            p.proofs_batch, verify_seconds=p.verify_seconds)  # fmt: skip


def stage_tree(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update(f"{p.tree_n:,} leaves: floor and ours x{p.tree_repeats}, then pymerkle")
    return bench_tree.run(p.tree_n, p.tree_proofs, p.tree_pymerkle_n, p.tree_repeats)


def stage_restart(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update(f"building a {p.restart_records:,}-record store, then timing reopens")
    return bench_restart.run(p.restart_records, p.restart_group)


def stage_overload(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update(f"{p.overload_writers} writers at max rate, probing refusals and status")
    return bench_overload.run(p.overload_seconds, p.overload_writers, p.batch)


def stage_l1(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update("py-evm: commits at 2^10..2^40, fraud proofs, DA reveal, naive registry")
    return bench_gas.run()


def stage_client(p: SuiteParams, live: LiveLine) -> dict[str, Any]:
    live.update("client batcher vs loadgen, signing vs eth-account, fingerprint vs sha256sum")
    full = p.mode == "full"  # --quick (and the tests' tiny runs): 64 MiB and 500 signatures
    return bench_client.run(
        seconds=p.ingest_seconds,
        batch=max(p.batch, 20),
        sign_n=5000 if full else 500,
        size_mb=1024 if full else 64,
    )


Stage = tuple[str, str, Callable[[SuiteParams, LiveLine], dict[str, Any]]]
STAGES: Final[tuple[Stage, ...]] = (
    ("ingest", "durable-acknowledged events/s and ack latency vs the in-process floor",
     stage_ingest),
    ("validator", "replicate-and-check events/s vs ingest; before/after the fast checker",
     stage_validator),
    ("hammer", "writers at max then half rate while readers verify every proof", stage_hammer),
    ("proofs", "inclusion proofs served/s over RPC and verified/s in-process", stage_proofs),
    ("tree", "ours vs pymerkle (keccak_256) vs the bare keccak floor", stage_tree),
    ("restart", "reopen time of a large store", stage_restart),
    ("l1", "gas per checkpoint and per event vs a naive registry", stage_l1),
    ("client", "batcher vs loadgen, signing vs eth-account, fingerprint vs sha256sum", stage_client),
    ("overload", "ack, refusal and status latency under 200 writers", stage_overload),
)  # fmt: skip


# --- summary --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": bench_ingest._cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_avg": list(os.getloadavg()),
    }


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """The headline keys (see the module docstring) from each stage's own report."""
    out: dict[str, Any] = {}
    if "ingest" in raw:
        r = raw["ingest"]
        u, s = r["unsigned"], r["signed"]
        out["ingest"] = {
            "unsigned_eps": u["eps"], "signed_eps": s["eps"],
            "unsigned_server_cpu_us_per_event": u.get("server_cpu_us_per_event"),
            "signed_server_cpu_us_per_event": s.get("server_cpu_us_per_event"),
            "ack_p50_ms": u["ack_p50_ms"], "ack_p99_ms": u["ack_p99_ms"],
            "half_rate_eps": u["half_rate_eps"],
            "half_ack_p50_ms": u["half_ack_p50_ms"], "half_ack_p99_ms": u["half_ack_p99_ms"],
            "signed_ack_p50_ms": s["ack_p50_ms"], "signed_ack_p99_ms": s["ack_p99_ms"],
            "signed_half_ack_p50_ms": s["half_ack_p50_ms"],
            "signed_half_ack_p99_ms": s["half_ack_p99_ms"],
            "service_vs_floor": r["service_vs_floor_unsigned"],
            "signed_service_vs_floor": r["service_vs_floor_signed"],
        }  # fmt: skip
        out["floor"] = {"unsigned_eps": r["floor_unsigned"]["eps"],
                        "signed_eps": r["floor_signed"]["eps"]}  # fmt: skip
    if "validator" in raw:
        r = raw["validator"]
        u, s = r["unsigned"], r["signed"]
        out["validator"] = {
            "eps": u["eps"], "signed_eps": s["eps"],
            "eps_reference": u["eps_reference"], "signed_eps_reference": s["eps_reference"],
            "eps_full_form": u["eps_full_form"], "signed_eps_full_form": s["eps_full_form"],
            "cpu_us_per_record": u["cpu_us_per_record"],
            "signed_cpu_us_per_record": s["cpu_us_per_record"],
            "upstream_cpu_us_per_record": u["upstream_cpu_us_per_record"],
            "signed_upstream_cpu_us_per_record": s["upstream_cpu_us_per_record"],
            "full_form_cpu_us_per_record": u["full_form"]["cpu_us_per_record"],
            "full_form_upstream_cpu_us_per_record": u["full_form"]["upstream_cpu_us_per_record"],
            "eps_serial": u["eps_serial"], "signed_eps_serial": s["eps_serial"],
            "serial_cpu_us_per_record": u["serial"]["cpu_us_per_record"],
            "signed_serial_cpu_us_per_record": s["serial"]["cpu_us_per_record"],
            "eps_per_cpu_s": u["eps_per_cpu_s"], "signed_eps_per_cpu_s": s["eps_per_cpu_s"],
            "fetch_share": u["breakdown"]["fetch_share"],
            "signed_fetch_share": s["breakdown"]["fetch_share"],
            "check_eps": u["check_eps"], "check_signed_eps": s["check_eps"],
            "check_reference_eps": u["check_reference_eps"],
            "check_reference_signed_eps": s["check_reference_eps"],
            "check_per_cpu_s": u["check_per_cpu_s"],
            "check_signed_per_cpu_s": s["check_per_cpu_s"],
            "sig_inline_per_s": s["signature_workers"]["inline_per_s"],
            "sig_threads_per_s": s["signature_workers"]["threads_per_s"],
            "sig_processes_per_s": s["signature_workers"]["processes_per_s"],
        }  # fmt: skip
        if "ingest" in out:
            ingest = out["ingest"]
            out["validator"].update({
                "eps_vs_ingest": u["eps"] / ingest["unsigned_eps"],
                "signed_eps_vs_ingest": s["eps"] / ingest["signed_eps"],
                "full_form_vs_ingest": u["eps_full_form"] / ingest["unsigned_eps"],
                "signed_full_form_vs_ingest": s["eps_full_form"] / ingest["signed_eps"],
                "serial_vs_ingest": u["eps_serial"] / ingest["unsigned_eps"],
                "signed_serial_vs_ingest": s["eps_serial"] / ingest["signed_eps"],
                "check_vs_ingest": u["check_eps"] / ingest["unsigned_eps"],
                "check_signed_vs_ingest": s["check_eps"] / ingest["signed_eps"],
            })  # fmt: skip
    if "hammer" in raw:
        h = raw["hammer"]
        out["hammer"] = {
            "eps": h["max"]["eps"], "ack_p50_ms": h["max"]["ack_ms"]["p50"],
            "ack_p99_ms": h["max"]["ack_ms"]["p99"],
            "half_ack_p50_ms": h["half"]["ack_ms"]["p50"] if "half" in h else None,
            "half_ack_p99_ms": h["half"]["ack_ms"]["p99"] if "half" in h else None,
            "inclusion_verified": h["inclusion_verified"],
            "consistency_verified": h["consistency_verified"],
            "acks_audited": h["acks_audited"], "log_growth": h["log_growth"],
            "checkpoints": len(h["checkpoint_marks"]),
            "l1_attached": h["l1_attached"],
        }  # fmt: skip
    if "proofs" in raw:
        r = raw["proofs"]
        out["proofs"] = {"serve_per_s": r["serve_per_s"],
                         "serve_batched_per_s": r["serve_batched_per_s"],
                         "verify_per_s": r["verify_per_s"],
                         "verify_per_cpu_s": r["verify_per_cpu_s"],
                         "verify_parallel_per_s": r["verify_parallel_per_s"],
                         "tree_size": r["served_single"]["tree_size"]}  # fmt: skip
    if "tree" in raw:
        r = raw["tree"]
        out["tree"] = {
            "n": r["n"], "ours_s": r["ours_append_root_s"], "pymerkle_s": r["pymerkle_append_root_s"],
            "floor_s": r["floor_append_root_s"], "pymerkle_scaled_from_n": r["pymerkle_n"]
            if r["pymerkle_scaled"] else None,
            "pymerkle_over_ours": r["pymerkle_over_ours_append_root"],
            "ours_over_floor": r["ours_over_floor_append_root"],
            "roots_match": r["pymerkle_roots_match"] and r["pymerkle_paths_match"],
        }  # fmt: skip
    if "restart" in raw:
        r = raw["restart"]
        out["restart"] = {"records": r["records"], "reopen_s": r["reopen_s_first"],
                          "reopen_best_s": r["reopen_s_best"], "build_s": r["build_s"]}  # fmt: skip
    if "l1" in raw:
        r = raw["l1"]
        commit = r["commit_max_gas"]
        out["l1"] = {
            "commit_gas": commit,
            "commit_gas_by_size": {str(c["size"]): c["gas"] for c in r["commit"]},
            "naive_registry_gas_per_event": r["naive_registry"]["gas_per_event"],
            # A checkpoint's cost is shared by every event it covers (docs/spec.md §7).
            "gas_per_event": {str(n): commit / n for n in (1_000, 100_000, 1_000_000)},
        }  # fmt: skip
        marks = raw.get("hammer", {}).get("checkpoint_marks", [])
        if len(marks) >= 2:
            # Events per checkpoint as the hammer's run actually committed them.
            per_cp = (marks[-1]["tree_size"] - marks[0]["tree_size"]) / (len(marks) - 1)
            out["l1"]["hammer_events_per_checkpoint"] = per_cp
            out["l1"]["hammer_gas_per_event"] = commit / per_cp if per_cp > 0 else None
    if "client" in raw:
        r = raw["client"]
        out["client"] = {k: r[k] for k in (
            "batcher_eps", "loadgen_eps", "batcher_vs_loadgen", "client_cpu_us_per_event",
            "client_sign_per_s", "eth_account_sign_per_s", "client_vs_eth_account",
            "fingerprint_mb_s", "sha256sum_mb_s", "fingerprint_vs_sha256sum")}  # fmt: skip
    if "overload" in raw:
        r = raw["overload"]
        out["overload"] = {
            "writers": r["writers"], "acked_eps": r["acked_eps"],
            "ack_p50_ms": r["ack_ms"]["p50"], "ack_p99_ms": r["ack_ms"]["p99"],
            "refused_p50_ms": r["probe_refused_ms"]["p50"],
            "refused_p99_ms": r["probe_refused_ms"]["p99"],
            "loadgen_refused_p99_ms": r["overloaded_ms"]["p99"],
            "status_p50_ms": r["status_ms"]["p50"], "status_p99_ms": r["status_ms"]["p99"],
            "health_p50_ms": r["health_ms"]["p50"], "health_p99_ms": r["health_ms"]["p99"],
            "refusals": r["overloaded"], "other_errors": r["other_errors"],
        }  # fmt: skip
    return out


#: The headline sections of the result, in table order.
SECTIONS: Final = (
    "ingest", "floor", "validator", "hammer", "proofs", "tree", "restart", "l1", "client", "overload",
)  # fmt: skip


def verdicts(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for goal in GOALS:
        try:
            value = float(lookup(summary, goal.key))
        except (KeyError, TypeError):
            rows.append({"key": goal.key, "label": goal.label, "value": None,
                         "goal": f"{goal.op} {goal.target:g}", "verdict": "not measured"})  # fmt: skip
            continue
        label = goal.label
        if goal.key == "restart.reopen_s" and summary["restart"]["records"] != 10_000_000:
            label = f"reopen a {summary['restart']['records']:,}-record store (goal: 10M)"
        rows.append({"key": goal.key, "label": label, "value": value,
                     "goal": f"{goal.op} {goal.target:g} {goal.unit}",
                     "met": goal.met(value), "verdict": goal.shortfall(value)})  # fmt: skip
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The side-by-side table printed at the end of a run."""
    lines = []
    width = 44
    for section in SECTIONS:
        values = summary.get(section)
        if not isinstance(values, dict):
            continue
        lines.append(f"{section}")
        for key, value in values.items():
            if isinstance(value, dict):
                value = "  ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
            lines.append(f"  {key:{width - 2}} {_fmt(value)}")
    lines.append("")
    lines.append(f"{'goal':{width}} {'measured':>12}  {'target':18} verdict")
    for r in rows:
        lines.append(f"{r['label']:{width}} {_fmt(r['value']):>12}  {r['goal']:18} {r['verdict']}")
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------


def run_suite(
    params: SuiteParams, *, only: list[str] | None = None, live: LiveLine | None = None
) -> dict[str, Any]:
    """Run the stages (all, or those named in `only`); returns the result (see module doc)."""
    live = live or LiveLine()
    chosen = [s for s in STAGES if only is None or s[0] in only]
    if only is not None and len(chosen) != len(set(only)):
        known = [s[0] for s in STAGES]
        raise ValueError(f"unknown stage in {only}; stages are {known}")
    raw: dict[str, Any] = {}
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    started_at = time.time()
    for i, (name, what, fn) in enumerate(chosen, 1):
        t0 = time.perf_counter()
        with live.stage_running(i, len(chosen), name, what):
            try:
                raw[name] = fn(params, live)
            except Exception as exc:  # recorded; the run still fails at the end
                errors[name] = "".join(traceback.format_exception_only(exc)).strip()
                if isinstance(exc, hammer.HammerFailedError):
                    errors[name] = f"VERIFICATION FAILED: {exc}"
        timings[name] = time.perf_counter() - t0
    result = summarize(raw)
    result["machine"] = machine()
    result["params"] = asdict(params)
    result["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at))
    result["stage_seconds"] = timings
    result["goals"] = verdicts(result)
    result["errors"] = errors
    result["raw"] = raw
    return result


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `attest bench` to the CLI."""
    p = sub.add_parser("bench", help="run the benchmark suite and print a table")
    _add_arguments(p)
    p.set_defaults(handler=_cmd_bench)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="shorter run (under ~4 min on 2 cores); parameters are in the JSON")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write results here")
    p.add_argument("--plot", type=Path, default=None, metavar="DIR", help="write PNG charts here")
    p.add_argument("--only", default=None,
                   help=f"comma-separated stages ({', '.join(s[0] for s in STAGES)})")  # fmt: skip


def _cmd_bench(args: argparse.Namespace) -> int:
    # The stores the stages open log at INFO; keep the live line readable.
    logging.getLogger("state_db").setLevel(logging.WARNING)
    only = args.only.split(",") if args.only else None
    return run_and_report(QUICK if args.quick else FULL, only, args.json, args.plot)


def run_and_report(
    params: SuiteParams, only: list[str] | None, json_path: Path | None, plot_dir: Path | None
) -> int:
    """Run, print the table, write the JSON and charts; 1 if any stage failed, else 0."""
    result = run_suite(params, only=only)
    print(table(result, result["goals"]))
    print(f"\nmachine: {result['machine']['cores']} cores, {result['machine']['cpu']}, "
          f"Python {result['machine']['python']}; mode {params.mode}; "
          f"load avg at end {result['machine']['load_avg'][0]:.2f}")  # fmt: skip
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"wrote {json_path}")
    if plot_dir is not None:
        from bench import plots  # matplotlib is a dev dependency: import only when asked

        for path in plots.write_plots(result, plot_dir):
            print(f"wrote {path}")
    for name, err in result["errors"].items():
        print(f"ERROR in {name}: {err}", file=sys.stderr)
    return 1 if result["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    _add_arguments(p)
    return _cmd_bench(p.parse_args(argv))
