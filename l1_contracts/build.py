"""Compile the Vyper contracts into deterministic JSON artifacts in l1_contracts/build/.

``python -m l1_contracts.build`` writes ``build/<Name>.json`` (abi, bytecode, vyper version,
source sha256) for every ``*.vy`` here; ``--check`` writes nothing and exits 1 when an
artifact does not match a fresh compile of its source (CI runs it so the committed bytecode
is always the one the source produces).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import vyper

CONTRACTS_DIR = Path(__file__).resolve().parent
BUILD_DIR = CONTRACTS_DIR / "build"
CONTRACT_NAMES: tuple[str, ...] = ("Rollup", "RollupVerifier", "NaiveRegistry")


def source_path(name: str) -> Path:
    """Path of the Vyper source of contract `name`."""
    return CONTRACTS_DIR / f"{name}.vy"


def artifact_path(name: str) -> Path:
    """Path of the JSON artifact of contract `name`."""
    return BUILD_DIR / f"{name}.json"


def compile_artifact(name: str) -> dict[str, Any]:
    """Compile contract `name` with the installed vyper; the result is a deterministic dict."""
    source = source_path(name).read_text(encoding="utf-8")
    out = vyper.compile_code(source, output_formats=["abi", "bytecode", "bytecode_runtime"])
    return {
        "contractName": name,
        "vyperVersion": vyper.__version__,
        "sourceSha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "bytecodeRuntime": out["bytecode_runtime"],
    }


def render(artifact: dict[str, Any]) -> str:
    """The artifact's canonical file text (sorted keys, fixed indent, trailing newline)."""
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def load_artifact(name: str) -> dict[str, Any]:
    """The committed artifact of `name`, or a fresh compile when it is missing."""
    path = artifact_path(name)
    if path.exists():
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    return compile_artifact(name)


def build(names: tuple[str, ...] = CONTRACT_NAMES) -> list[Path]:
    """Compile and write every artifact; return the paths written."""
    BUILD_DIR.mkdir(exist_ok=True)
    written = []
    for name in names:
        path = artifact_path(name)
        path.write_text(render(compile_artifact(name)), encoding="utf-8")
        written.append(path)
    return written


def stale(names: tuple[str, ...] = CONTRACT_NAMES) -> list[str]:
    """Names whose committed artifact is missing or differs from a fresh compile."""
    out = []
    for name in names:
        path = artifact_path(name)
        if not path.exists() or path.read_text(encoding="utf-8") != render(compile_artifact(name)):
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l1_contracts.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if an artifact is stale")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"{artifact_path(name)} does not match {source_path(name).name}", file=sys.stderr)
        return 1 if bad else 0
    for path in build():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
