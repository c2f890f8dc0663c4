"""`serve_until_signalled`: a SIGTERM ends the process within a bounded time, always."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from sequencer.runtime import EXIT_SHUTDOWN_TIMEOUT

_STUCK_SERVICE = """
import trio
from sequencer.runtime import serve_until_signalled

async def stuck(task_status):
    task_status.started("ready")
    with trio.CancelScope(shield=True):  # a service that ignores its cancellation
        await trio.sleep_forever()

def announce(what):
    print(what, flush=True)

trio.run(lambda: serve_until_signalled(stuck, announce, shutdown_timeout_s=1.0))
"""

_POLITE_SERVICE = _STUCK_SERVICE.replace("with trio.CancelScope(shield=True):", "if True:")


def _run_and_terminate(source: str) -> tuple[int, float, str]:
    proc = subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    finally:
        proc.kill()
    assert proc.stderr is not None
    return proc.returncode, time.monotonic() - started, proc.stderr.read()


def test_a_service_that_will_not_stop_is_ended_by_the_watchdog() -> None:
    code, took, stderr = _run_and_terminate(_STUCK_SERVICE)
    assert code == EXIT_SHUTDOWN_TIMEOUT and took < 5
    assert "exiting without an orderly shutdown: shutdown took over 1 s" in stderr


def test_a_service_that_stops_exits_zero_at_once() -> None:
    code, took, _ = _run_and_terminate(_POLITE_SERVICE)
    assert code == 0 and took < 5
