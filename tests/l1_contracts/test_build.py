"""The committed artifacts are exactly what the installed vyper makes of the sources."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import vyper

from l1_contracts import build


@pytest.mark.slow  # compiles every contract with vyper
def test_committed_artifacts_match_a_fresh_compile() -> None:
    assert build.main(["--check"]) == 0


def test_check_detects_a_stale_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    art = json.loads(build.artifact_path("NaiveRegistry").read_text())
    art["bytecode"] = art["bytecode"][:-2] + "00"
    monkeypatch.setattr(build, "BUILD_DIR", tmp_path)
    assert build.stale(("NaiveRegistry",)) == ["NaiveRegistry"]  # missing
    build.artifact_path("NaiveRegistry").write_text(build.render(art))
    assert build.stale(("NaiveRegistry",)) == ["NaiveRegistry"]  # tampered
    build.build(("NaiveRegistry",))
    assert build.stale(("NaiveRegistry",)) == []


def test_artifact_fields() -> None:
    for name in build.CONTRACT_NAMES:
        art = json.loads(build.artifact_path(name).read_text())
        src = build.source_path(name).read_bytes()
        assert art["sourceSha256"] == hashlib.sha256(src).hexdigest()
        assert art["vyperVersion"] == vyper.__version__
        assert art["bytecode"].startswith("0x") and len(art["bytecode"]) > 100
        # EIP-170: deployed code must stay under 24576 bytes, with 2 KiB to spare (issue 10,
        # finding 13: room for the forced-inclusion inbox).
        assert (len(art["bytecodeRuntime"]) - 2) // 2 <= 24576 - 2048, name
        assert build.load_artifact(name) == art


def test_render_is_deterministic() -> None:
    a = build.compile_artifact("NaiveRegistry")
    b = build.compile_artifact("NaiveRegistry")
    assert build.render(a) == build.render(b)
    assert build.render(a).endswith("\n")


def test_rollup_abi_has_the_fixed_read_interface() -> None:
    abi = {
        e["name"]: e for e in build.load_artifact("Rollup")["abi"] if e.get("type") == "function"
    }
    assert [o["type"] for o in abi["checkpoints"]["outputs"]] == [
        "uint64",
        "bytes32",
        "uint64",
        "uint64",
        "uint8",
    ]
    assert [o["type"] for o in abi["checkpointCount"]["outputs"]] == ["uint256"]
    assert [o["type"] for o in abi["latestFinalized"]["outputs"]] == ["uint256"]
    # v2: the commit declares its records' timestamp bound (issue 10, finding 6).
    assert [i["type"] for i in abi["commit"]["inputs"]] == [
        "uint64",
        "bytes32",
        "bytes32[]",
        "uint64",
    ]
