"""The browser verifier (web/src/verify.js) from pytest: its Node test suite, and the committed
bundle, which must be exactly what the pinned esbuild makes of the source (as the contract
artifacts are rebuilt and compared in tests/l1_contracts/test_build.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "web"
BUNDLE = ROOT / "sequencer" / "explorer" / "static" / "verify.js"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (>= 18) is needed for the explorer's JavaScript: install nodejs")
    if not (WEB / "node_modules" / "@noble" / "hashes").is_dir():
        pytest.fail("web/node_modules is missing: run `make install` (npm ci --prefix web)")
    return node


def test_node_test_suite_passes() -> None:
    """`node --test web/test/`: RFC 9162 vectors, the spec's worked examples, verifyEvent."""
    out = subprocess.run(
        [_node(), "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout


def test_committed_bundle_is_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    rebuilt = tmp_path / "verify.js"
    out = subprocess.run(
        [_node(), "build.mjs", str(rebuilt)], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert rebuilt.read_bytes() == BUNDLE.read_bytes(), (
        "sequencer/explorer/static/verify.js is stale: run `make web` and commit it"
    )
