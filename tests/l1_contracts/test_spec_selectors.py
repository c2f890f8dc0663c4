"""Every selector docs/spec.md writes beside a contract function is that function's selector in
the built ABI (a renamed or re-typed function, as v2's `commit`, cannot leave the spec stale)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from eth_utils import keccak

from l1_contracts.build import load_artifact

SPEC = Path(__file__).parents[2] / "docs" / "spec.md"
# `name(...)` and then, before the next backtick-quoted name, a backtick-quoted 4-byte selector.
MENTION = re.compile(r"`(\w+)\([^`]*\)[^`]*`[^`]{0,12}`(0x[0-9a-f]{8})`")


def _selectors(abi: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in abi:
        if item.get("type") != "function":
            continue
        types = ",".join(_canonical(i) for i in item["inputs"])
        sig = f"{item['name']}({types})"
        out.setdefault(item["name"], set()).add("0x" + keccak(text=sig)[:4].hex())
    return out


def _canonical(param: dict[str, Any]) -> str:
    t = str(param["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + t[5:]
    return t


def test_every_selector_in_the_spec_is_the_contracts() -> None:
    selectors = _selectors(load_artifact("Rollup")["abi"])
    mentions = MENTION.findall(SPEC.read_text())
    assert len(mentions) >= 40, (
        "the spec lists the contract's selectors"
    )  # the pattern still finds them
    wrong = [
        (name, sel, sorted(selectors.get(name, ())))
        for name, sel in mentions
        if sel not in selectors.get(name, set())
    ]
    assert wrong == [], wrong
