"""Run `attest serve` as a child process: for tests, benchmarks and `attest devnet`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

_READY = re.compile(r"listening on (http://\S+)")


class SequencerProcess:
    """A sequencer child process; `url` is known once it printed its ready line."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        dev: bool = True,
        config: str | os.PathLike[str] | None = None,
        rpc: str = "127.0.0.1:0",
        extra_args: Sequence[str] = (),
        log_level: str = "WARNING",
        ready_timeout: float = 60.0,
    ) -> None:
        args = [sys.executable, "-m", "sequencer.cli", "--log-level", log_level, "serve",
                "--data-dir", str(data_dir), "--rpc", rpc]
        if dev:
            args.append("--dev")
        if config is not None:
            args += ["--config", str(config)]
        args += list(extra_args)
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=None, text=True, cwd=Path(__file__).parent.parent
        )
        self.url = self._wait_ready(ready_timeout)
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_ready(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                m = _READY.search(line)
                if m:
                    return m.group(1)
        finally:
            timer.cancel()
        code = self.proc.wait()
        raise RuntimeError(f"sequencer exited with {code} before it was ready")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (the crash tests' tool)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> SequencerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
