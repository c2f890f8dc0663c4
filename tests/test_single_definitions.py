"""Every protocol fact has one home in prover/ (issue 9): a second definition fails here.

Grep-level on purpose: it reads the source, not the objects, so it catches a copy before
anything imports it. Each rule names the pattern, the one file allowed to hold it, and why.
Strings and comments are blanked before matching, so prose may still say "352 bytes".
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("prover", "sequencer", "state_db", "l1_contracts", "bench")
"""Production code: every rule applies here."""

# (what, regex over code with strings and comments blanked, the files allowed to match)
DEFINITIONS: list[tuple[str, str, frozenset[str]]] = [
    ("RECORD_SIZE defined", r"^\s*RECORD_SIZE\s*(:[^=\n]*)?=", frozenset({"prover/record.py"})),
    (
        "record word layout defined",
        r"^class Word\b|^def word_slice\b",
        frozenset({"prover/record.py"}),
    ),
    ("validity rule enum", r"^class Rule\b", frozenset()),
    (
        "JSON-RPC error code defined",
        r"^\s*[A-Z_]+\s*(:[^=\n]*)?=\s*-32[0-9]{3}\b",
        frozenset({"prover/jsonrpc.py"}),
    ),
    ("fraud rule enum", r"^class FraudRule\b", frozenset({"prover/validity.py"})),
    ("checkpoint status enum", r"^class CheckpointStatus\b", frozenset({"prover/checkpoint.py"})),
    ("DA challenge state enum", r"^class DAState\b", frozenset({"prover/checkpoint.py"})),
    ("checkpoint status names", r"^\s*STATUS_\w+\s*(:[^=\n]*)?=", frozenset()),
    (
        "wire scalar parser",
        r"^\s*def (parse_hash32|parse_hashes|parse_uint|parse_address|parse_hex|parse_object"
        r"|parse_signature_bytes|hex0x|encode_hashes)\b",
        frozenset({"prover/wire.py"}),
    ),
    (
        "checkpoint JSON",
        r"^\s*def _?checkpoint_(json|from_json)\b",
        frozenset({"prover/checkpoint.py"}),
    ),
    (
        "event or block JSON",
        r"^\s*def _?(event_json|block_json|event_from_json|block_from_json)\b",
        frozenset({"prover/answers.py"}),
    ),
    (
        "DA range proof",
        r"^\s*def (prove_range|root_from_range|verify_range|is_valid_range)\b",
        frozenset({"prover/range_proof.py"}),
    ),
    (
        "hex decoding of a value (bytes.fromhex of a literal constant is fine)",
        r"fromhex\((?!\s*[\"'])",
        # accounts.py: the dev keys, a tuple of string literals decoded in a comprehension.
        frozenset({"prover/wire.py", "l1_contracts/accounts.py"}),
    ),
]

RECORD_SLICES = frozenset(
    {
        (24, 32), (56, 64), (204, 224), (248, 256),  # seq, timestamp, submitter, nonce values
        (64, 96), (96, 128), (128, 160), (160, 192),  # kind, subject, digest, metaHash words
        (192, 224), (224, 256), (256, 288), (288, 320), (320, 352),  # words 6-10
        (64, 256), (192, 256), (64, 192),  # content words, replay key, hashStruct words
    }
)  # fmt: skip
"""Byte ranges of record fields (docs/spec.md §3). Words 0 and 1 ((0, 32), (32, 64)) are left
out: those ranges are every other 32-byte layout's too (a signature's s, a block header)."""

_SLICE = re.compile(r"(\w*)(?:\[[^\[\]]*\])?\[\s*(\d*)\s*:\s*(\d*)\s*\]")
_V_INDEX = re.compile(r"\[\s*287\s*\]|(?<![\w.])352(?![\w.])")


def _record_offsets(line: str) -> list[str]:
    """Slices of a record by literal offsets, the v byte's index and the record size in `line`:
    a known field range, or any literal slice of something named like a record."""
    found = []
    for m in _SLICE.finditer(line):
        name, lo, hi = m.group(1), int(m.group(2) or 0), m.group(3)
        bounds = (lo, int(hi) if hi else 352)
        if bounds in RECORD_SLICES or re.search(r"rec|template", name):
            found.append(m.group(0))
    found.extend(m.group(0) for m in _V_INDEX.finditer(line))
    return found


def _files(packages: tuple[str, ...]) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def _code(path: Path) -> str:
    """The source with every string and comment blanked (line numbers kept)."""
    return _code_of(path.read_text())


def _code_of(source: str) -> str:
    lines = source.splitlines(keepends=True)
    out = [list(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT) or tok.type == getattr(
            tokenize, "FSTRING_MIDDLE", -1
        ):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                row = out[r - 1]
                start = c0 if r == r0 else 0
                end = c1 if r == r1 else len(row)
                for c in range(start, end):
                    if row[c] != "\n":
                        row[c] = " "
            # Keep an empty string literal visible as one, for the fromhex rule.
            if tok.type == tokenize.STRING:
                out[r0 - 1][c0] = '"'
    return "".join("".join(row) for row in out)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize(("what", "pattern", "home"), DEFINITIONS, ids=[d[0] for d in DEFINITIONS])
def test_one_definition(what: str, pattern: str, home: frozenset[str]) -> None:
    regex = re.compile(pattern, re.MULTILINE)
    found = []
    for path in _files(PACKAGES):
        if _rel(path) in home:
            continue
        code = _code(path)
        for m in regex.finditer(code):
            line = code.count("\n", 0, m.start()) + 1
            found.append(f"{_rel(path)}:{line}")
    assert not found, f"{what} outside {sorted(home) or 'anywhere'}: {found}"


def test_no_record_offsets_outside_prover_record() -> None:
    found = []
    for path in _files(PACKAGES):
        if _rel(path) == "prover/record.py":
            continue
        for lineno, line in enumerate(_code(path).splitlines(), 1):
            found.extend(f"{_rel(path)}:{lineno}: {hit}" for hit in _record_offsets(line))
    assert not found, f"record offsets re-stated; use prover.record's layout: {found}"


def test_the_guard_sees_what_it_guards() -> None:
    # The rules must match the definitions in their homes, or a renamed home would leave a
    # rule that can never fail.
    for what, pattern, home in DEFINITIONS:
        for rel in home:
            if what.startswith("hex decoding"):
                continue
            assert re.search(pattern, _code(ROOT / rel), re.MULTILINE), f"{what}: not in {rel}"
    assert _record_offsets("x = earlier[24:32]") == ["earlier[24:32]"]
    assert _record_offsets("t = template[:24] + b + template[64:]") == [
        "template[:24]",
        "template[64:]",
    ]
    assert _record_offsets("n = len(b) == 352 or b[287]") == ["352", "[287]"]
    assert _record_offsets("h = head[16:24] + sig[32:64] + x[1:2] + y[3520]") == []
    assert re.search(DEFINITIONS[-1][1], _code_of("bytes.fromhex(value[2:])"))
    assert not re.search(DEFINITIONS[-1][1], _code_of('bytes.fromhex("de7d")'))
