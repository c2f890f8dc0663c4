"""The light client's trusted state: the checkpoints it verified before, per log, kept in a
file that a crash leaves old or new, never half written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import orjson

from prover.errors import InvalidInputError
from prover.light_client import TrustedCheckpoint, decode_trusted_state, encode_trusted_state

DEFAULT_STATE: Final[str] = "~/.attest/light-client.json"


def load_state(path: Path) -> list[TrustedCheckpoint]:
    """The trusted checkpoints in `path`; none when the file does not exist yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        return decode_trusted_state(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"state file {path} is not JSON: {exc}") from None
    except InvalidInputError as exc:
        raise InvalidInputError(f"state file {path}: {exc}") from None


def write_atomically(path: Path, data: bytes) -> None:
    """Write `path` so that a crash leaves either the old file or the new one, never half.

    tmp file in the same directory, fsync, rename over the old one, fsync the directory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # After this fsync the rename itself survives a crash.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_state(path: Path, checkpoints: Sequence[TrustedCheckpoint]) -> None:
    data = orjson.dumps(encode_trusted_state(checkpoints), option=orjson.OPT_INDENT_2)
    write_atomically(path, data + b"\n")
