"""Locate and start anvil, the real Ethereum dev node, for tests and ``--l1-rpc``.

anvil comes from the npm package ``@foundry-rs/anvil``, installed by the Makefile with
``npm install --prefix .tools/anvil @foundry-rs/anvil@<pinned>``. The package is a small Node
launcher plus an optional dependency per platform (``@foundry-rs/anvil-linux-amd64``, ...)
that carries the native binary, so the install needs no postinstall script and anvil runs
offline. We start the native binary directly when we can find it: one process instead of a
Node wrapper that has to forward signals.

anvil's defaults already match the embedded devnet's accounts: the ``test test ... junk``
mnemonic, ten accounts of 10,000 ETH; we pin ``--chain-id 31337`` anyway, and start it with
the devnet's interval mining (``--block-time 1``: a block every second, empty or not) rather
than anvil's default of a block per transaction, so L1 time moves on an idle chain.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Final

from l1_contracts.devnet_node import (
    DEFAULT_BLOCK_TIME_S,
    DEFAULT_CHAIN_ID,
    stop_process,
    wait_for_output_line,
)

ANVIL_NPM_PACKAGE: Final = "@foundry-rs/anvil"
ANVIL_NPM_VERSION: Final = "1.7.1"
"""The version the Makefile pins; other versions work if their flags match."""

ANVIL_ENV_VAR: Final = "ATTEST_ANVIL"
"""Set to an anvil executable to override the search."""

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_TOOLS_DIR: Final = REPO_ROOT / ".tools" / "anvil"

_LISTENING_RE: Final = re.compile(r"Listening on (\S+):(\d+)")

__all__ = [
    "ANVIL_NPM_PACKAGE",
    "ANVIL_NPM_VERSION",
    "AnvilNotFoundError",
    "find_anvil",
    "start_anvil",
    "stop_process",
]


class AnvilNotFoundError(FileNotFoundError):
    """No anvil executable: run ``make`` (it installs anvil into .tools/anvil)."""


def _npm_platform_dir() -> str | None:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    osname = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform)
    if arch is None or osname is None:
        return None
    return f"anvil-{osname}-{arch}"


def _candidates(tools_dir: Path) -> list[Path]:
    modules = tools_dir / "node_modules"
    found: list[Path] = []
    plat = _npm_platform_dir()
    exe = "anvil.exe" if sys.platform == "win32" else "anvil"
    if plat is not None:
        found.append(modules / "@foundry-rs" / plat / "bin" / exe)
    # The npm launcher: works too, as long as `node` is on PATH.
    found.append(modules / ".bin" / "anvil")
    return found


def find_anvil(tools_dir: Path | None = None) -> Path:
    """The anvil executable: `ANVIL_ENV_VAR`, then .tools/anvil (npm), then PATH.

    Raises `AnvilNotFoundError` saying where it looked.
    """
    override = os.environ.get(ANVIL_ENV_VAR)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise AnvilNotFoundError(f"{ANVIL_ENV_VAR}={override} is not an executable file")
        return path
    looked = []
    for path in _candidates(tools_dir or DEFAULT_TOOLS_DIR):
        looked.append(str(path))
        if path.is_file() and os.access(path, os.X_OK):
            return path
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilNotFoundError(
        "anvil not found; looked in "
        + ", ".join(looked)
        + " and PATH. Install it with `make` or: npm install --prefix .tools/anvil "
        + f"{ANVIL_NPM_PACKAGE}@{ANVIL_NPM_VERSION}"
    )


def start_anvil(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    chain_id: int = DEFAULT_CHAIN_ID,
    block_time: float = DEFAULT_BLOCK_TIME_S,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
    anvil: Path | None = None,
    stderr: int | IO[Any] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Start anvil and wait until it listens; returns the process and its URL.

    ``port=0`` lets the OS pick a free port (anvil prints the real one in its
    ``Listening on HOST:PORT`` line, which we read). The caller owns the process:
    `stop_process` it when done. `block_time` 0 is anvil's auto-mining (a block per
    transaction). Raises `AnvilNotFoundError` or `RuntimeError`.
    """
    exe = anvil or find_anvil()
    cmd = [str(exe), "--host", host, "--port", str(port), "--chain-id", str(chain_id)]
    if block_time > 0:
        cmd += ["--block-time", f"{block_time:g}"]
    cmd += extra_args or []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        match = wait_for_output_line(proc, _LISTENING_RE, timeout, what="anvil")
    except BaseException:
        stop_process(proc)
        raise
    return proc, f"http://{match.group(1)}:{match.group(2)}"
