"""What the event loop itself makes a read wait for, apart from what the machine takes from it.

On the shared 2-core machine the latency of a read under overload is mostly the time the
operating system does not run the server (load averages of 5-12 from other jobs); the part the
server's design decides is how much *work* the loop does between a read becoming ready and its
answer. This runs `attest serve` with a trio `Instrument` that measures, per scheduler round
(the tasks run between two looks at the sockets), its wall time, the CPU time of the loop's
thread and the CPU time of the whole process (the loop's thread plus the writer's and any
checking threads, which take the GIL from it), and per task step the loop thread's CPU time (the
longest the loop is held by one task), and writes their percentiles as JSON when the server
exits:

    python -m bench.loop_trace --out FILE -- [attest arguments: --log-level ... serve ...]

A read that becomes ready waits for the rest of the current round and part of the next, so on
a machine of its own its latency is about 1-2 rounds of process CPU (an upper bound: C code
that releases the GIL, LevelDB's write and fsync, can run beside the loop). `bench.bench_overload
--trace-loop FILE` starts the sequencer this way.
"""

from __future__ import annotations

import atexit
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from sequencer.devnet.process import _READY, _Child


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1] * 1000, 3),
            "n": len(ordered)}  # fmt: skip


class LoopTrace(trio.abc.Instrument):
    """Rounds (wall and loop-thread CPU) and steps (loop-thread CPU) of one trio run."""

    def __init__(self) -> None:
        self.round_wall: list[float] = []
        self.round_cpu: list[float] = []
        self.round_process_cpu: list[float] = []
        self.step_cpu: list[float] = []
        self._round: tuple[float, float, float] | None = None
        self._step_cpu0 = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._step_cpu0 = cpu = time.thread_time()
        if self._round is None:
            self._round = (time.perf_counter(), cpu, time.process_time())

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        self.step_cpu.append(time.thread_time() - self._step_cpu0)

    def before_io_wait(self, timeout: float) -> None:
        if self._round is not None:
            wall0, cpu0, process0 = self._round
            self.round_wall.append(time.perf_counter() - wall0)
            self.round_cpu.append(time.thread_time() - cpu0)
            self.round_process_cpu.append(time.process_time() - process0)
            self._round = None

    def report(self) -> dict[str, Any]:
        return {
            "round_wall_ms": _percentiles(self.round_wall),
            "round_cpu_ms": _percentiles(self.round_cpu),
            "round_process_cpu_ms": _percentiles(self.round_process_cpu),
            "step_cpu_ms": _percentiles(self.step_cpu),
            "loop_cpu_s": round(sum(self.round_cpu), 3),
            "rounds_wall_s": round(sum(self.round_wall), 3),
        }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[0] != "--out" or args[2] != "--":
        sys.stderr.write("usage: python -m bench.loop_trace --out FILE -- ATTEST-ARGS...\n")
        return 2
    out = Path(args[1])
    trace = LoopTrace()
    io_trace = LoopTrace()  # the HTTP I/O loop's, when `[serve] io_thread` runs one
    real_run = trio.run

    def traced_run(*a: Any, **kw: Any) -> Any:
        mine = trace if threading.current_thread() is threading.main_thread() else io_trace
        kw["instruments"] = [*kw.get("instruments", ()), mine]
        return real_run(*a, **kw)

    def report() -> dict[str, Any]:
        result = trace.report()
        if io_trace.round_wall:
            result["io_loop"] = io_trace.report()
        return result

    trio.run = traced_run  # type: ignore[assignment]  # the same call, one more instrument
    atexit.register(lambda: out.write_text(json.dumps(report(), indent=1) + "\n"))
    from sequencer.cli import main as attest_main

    result: int = attest_main(args[3:])
    return result


class TracedSequencer(_Child):
    """`attest serve --dev` under `LoopTrace` as a child process (like `SequencerProcess`); the
    report is in `out` once it has stopped."""

    def __init__(self, data_dir: Path, config: Path, out: Path, ready_timeout: float = 60) -> None:
        args = [sys.executable, "-m", "bench.loop_trace", "--out", str(out), "--",
                "--log-level", "WARNING", "serve", "--data-dir", str(data_dir),
                "--rpc", "127.0.0.1:0", "--dev", "--config", str(config)]  # fmt: skip
        self.url = self._start(args, _READY, ready_timeout).group(1)


if __name__ == "__main__":
    sys.exit(main())
