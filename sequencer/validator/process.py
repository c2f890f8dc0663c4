"""Run `attest validate` as a child process: for tests and for `attest devnet`."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sequencer.process import _READY, _Child
from sequencer.validator.service import validator_args


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
        key_file: str,
        data_dir: str | os.PathLike[str],
        extra_args: Sequence[str] = (),
        log_level: str = "WARNING",
        ready_timeout: float = 60.0,
    ) -> None:
        upstreams = [sequencer] if isinstance(sequencer, str) else list(sequencer)
        args = [sys.executable, "-m", "sequencer.cli", "--log-level", log_level, *validator_args(
            sequencer=upstreams[0], l1_rpc=l1_rpc, contract=contract, key_file=key_file,
            data_dir=str(Path(data_dir)), extra=tuple(extra_args))]
        for more in upstreams[1:]:
            args += ["--sequencer", more]
        self.url = self._start(args, _READY, ready_timeout).group(1)

    def __enter__(self) -> ValidatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
