"""Run `attest serve`, `attest validate` and `attest devnet` as child processes: for tests,
benchmarks and `attest devnet` itself."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Self

_READY = re.compile(r"listening on (http://\S+)")


class _Child:
    """A child process that prints a ready line; stdout is drained so it never blocks."""

    proc: subprocess.Popen[str]

    def _start(
        self,
        args: list[str],
        ready: re.Pattern[str],
        timeout: float,
        *,
        nofile: int | None = None,
        stderr: int | IO[Any] | None = None,
        capture_stderr: bool = False,
        env: dict[str, str] | None = None,
        new_session: bool = False,
    ) -> re.Match[str]:
        """Start `args`, return the match of `ready` on stdout. With `capture_stderr` the
        child's log (stderr) is collected in `log_lines` as it comes; otherwise it goes to
        `stderr` (default: ours). `env` is added to this process's environment (passphrases,
        keys: never argv); `nofile` sets the child's RLIMIT_NOFILE; with `new_session` the
        child leads a process group of its own (a test signals the group, as a supervisor
        or a terminal does)."""

        def limit_files() -> None:  # runs in the child between fork and exec
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if capture_stderr else stderr,
            text=True,
            cwd=Path(__file__).parents[2],
            preexec_fn=limit_files if nofile is not None else None,
            env={**os.environ, **env} if env is not None else None,
            start_new_session=new_session,
        )
        self.lines: list[str] = []
        self.log_lines: list[str] = []
        if capture_stderr:
            threading.Thread(target=self._drain_stderr, daemon=True).start()
        assert self.proc.stdout is not None
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                self.lines.append(line)
                m = ready.search(line)
                if m:
                    threading.Thread(target=self._drain, daemon=True).start()
                    return m
        finally:
            timer.cancel()
        code = self.proc.wait()
        self.lines += self.log_lines
        raise RuntimeError(
            f"{args[3:5]} exited with {code} before it was ready: {''.join(self.lines)[-2000:]}"
        )

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_lines.append(line)

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_DEVNET_READY = re.compile(r"contract\s+(0x[0-9a-fA-F]{40})")
_DEVNET_URL = re.compile(r"sequencer\s+(http://\S+)")
_DEVNET_L1 = re.compile(r"L1\s+(http://\S+)")
_DEVNET_VALIDATOR = re.compile(r"validator\s+(http://\S+)")


class DevnetProcess(_Child):
    """`attest devnet` as a child process: `url` (sequencer), `l1_rpc`, `contract`, and with
    `validator=True` the devnet's own validator (`validator_url`); tests that run their own
    validator leave it out. `lines` collects its stdout (the banner), and with `capture_log`
    `log_lines` its log (stderr, the validator's included)."""

    def __init__(
        self,
        *,
        l1_rpc: str | None = None,
        validator: bool = False,
        extra_args: Sequence[str] = (),
        log_level: str = "WARNING",
        ready_timeout: float = 90.0,
        capture_log: bool = False,
    ) -> None:
        args = [
            sys.executable,
            "-m",
            "sequencer.cli",
            "--log-level",
            log_level,
            "devnet",
            "--rpc",
            "127.0.0.1:0",
            "--l1-port",
            "0",
        ]
        if l1_rpc is not None:
            args += ["--l1-rpc", l1_rpc]
        args += ["--validator-rpc", "127.0.0.1:0"] if validator else ["--no-validator"]
        args += list(extra_args)
        match = self._start(args, _DEVNET_READY, ready_timeout, capture_stderr=capture_log)
        self.contract = match.group(1)
        text = "".join(self.lines)
        url = _DEVNET_URL.search(text)
        l1 = _DEVNET_L1.search(text)
        assert url is not None and l1 is not None, text
        self.url = url.group(1)
        self.l1_rpc = l1.group(1)
        v = _DEVNET_VALIDATOR.search(text)
        self.validator_url = v.group(1) if v else None


class SequencerProcess(_Child):
    """`attest serve` as a child process; `url` is known once it printed its ready line."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        dev: bool = True,
        config: str | os.PathLike[str] | None = None,
        rpc: str = "127.0.0.1:0",
        extra_args: Sequence[str] = (),
        log_level: str = "WARNING",
        log_format: str = "text",
        ready_timeout: float = 60.0,
        nofile: int | None = None,
        stderr: int | IO[Any] | None = None,
        capture_log: bool = False,
        env: dict[str, str] | None = None,
        new_session: bool = False,
    ) -> None:
        """`nofile` sets the child's RLIMIT_NOFILE (soft and hard); `stderr` is passed to Popen
        (e.g. an open file, to read the exit message later; default: inherited); `log_format`
        is `attest --log-format` ("text" or "json"); with `new_session` it leads a process
        group of its own, its HTTP front process included."""
        args = [
            sys.executable,
            "-m",
            "sequencer.cli",
            "--log-level",
            log_level,
            "--log-format",
            log_format,
            "serve",
            "--data-dir",
            str(data_dir),
            "--rpc",
            rpc,
        ]
        if dev:
            args.append("--dev")
        if config is not None:
            args += ["--config", str(config)]
        args += list(extra_args)
        self.url = self._start(
            args,
            _READY,
            ready_timeout,
            nofile=nofile,
            stderr=stderr,
            capture_stderr=capture_log,
            env=env,
            new_session=new_session,
        ).group(1)


def write_key_file(key: bytes, directory: str | os.PathLike[str] | None = None) -> str:
    """A 0600 file holding `key` as 0x-hex (keys go in files, never in argv)."""
    fd, path = tempfile.mkstemp(prefix="validator-key-", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write("0x" + key.hex() + "\n")
    os.chmod(path, 0o600)
    return path


class ValidatorProcess(_Child):
    """`attest validate` as a child process; `url` is known once it printed its ready line."""

    def __init__(
        self,
        *,
        sequencer: str | Sequence[str],
        l1_rpc: str,
        contract: str,
        key_file: str | None,
        data_dir: str | os.PathLike[str],
        extra_args: Sequence[str] = (),
        log_level: str = "WARNING",
        ready_timeout: float = 60.0,
        capture_log: bool = False,
    ) -> None:
        """With `capture_log` its log (stderr) is collected in `log_lines` as it comes."""
        # Imported here: the validator pulls in web3 and the L1 reader, which a test or
        # benchmark that only runs `attest serve` must not need.
        from sequencer.validator.service import validator_args

        upstreams = [sequencer] if isinstance(sequencer, str) else list(sequencer)
        args = [
            sys.executable,
            "-m",
            "sequencer.cli",
            "--log-level",
            log_level,
            *validator_args(
                sequencer=upstreams[0],
                l1_rpc=l1_rpc,
                contract=contract,
                key_file=key_file,
                data_dir=str(Path(data_dir)),
                extra=tuple(extra_args),
            ),
        ]
        for more in upstreams[1:]:
            args += ["--sequencer", more]
        self.url = self._start(args, _READY, ready_timeout, capture_stderr=capture_log).group(1)
