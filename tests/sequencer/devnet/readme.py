"""README.md, read as a script: its fenced blocks, the curl requests in them, the answers and
log lines they document, with ``…`` meaning "anything here".

The walk-through test runs what these return, so the README cannot drift from what the
system does.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[3] / "README.md"
ELLIPSIS = "…"


def fenced_blocks(text: str | None = None) -> list[str]:
    """The bodies of the README's ``` blocks, in order."""
    text = README.read_text() if text is None else text
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


def block_starting(prefix: str) -> str:
    """The one fenced block whose first line starts with `prefix`."""
    found = [b for b in fenced_blocks() if b.startswith(prefix)]
    if len(found) != 1:
        raise AssertionError(f"README: expected one block starting {prefix!r}, found {len(found)}")
    return found[0]


@dataclass(frozen=True, slots=True)
class Curl:
    """One ``curl -s URL [-H 'K: V'] -d 'BODY'`` command, and the answer documented after it
    (``# -> ...``), if any."""

    url: str
    headers: dict[str, str]
    body: bytes
    documented: str | None


def curl_commands(block: str) -> list[Curl]:
    """Every curl command of a ``sh`` block; a ``# -> `` comment after one documents its answer."""
    commands: list[Curl] = []
    chunks = re.split(r"^(?=curl )", block, flags=re.M)
    for chunk in chunks:
        if not chunk.startswith("curl "):
            continue
        command, _, comment = chunk.partition("\n# -> ")
        documented = None
        if comment:
            documented = " ".join(line.removeprefix("#").strip() for line in comment.splitlines())
        words = shlex.split(command, comments=True)
        url, headers, body = "", {}, b""
        i = 1
        while i < len(words):
            word = words[i]
            if word == "-s":
                i += 1
            elif word == "-H":
                key, _, value = words[i + 1].partition(":")
                headers[key.strip()] = value.strip()
                i += 2
            elif word == "-d":
                body = words[i + 1].encode()
                i += 2
            else:
                url = word
                i += 1
        commands.append(Curl(url, headers, body, documented))
    return commands


def shape_of(documented: str) -> Any:
    """A documented answer as a JSON shape: ``"0xab…"`` is a string with that prefix, a bare
    ``…`` any value."""
    text = re.sub(
        r'"([^"]*)' + ELLIPSIS + '"', lambda m: json.dumps({"$prefix": m.group(1)}), documented
    )
    text = text.replace(ELLIPSIS, json.dumps({"$any": True}))
    return json.loads(text)


def check_shape(shape: Any, value: Any, where: str = "answer") -> None:
    """Raise AssertionError naming the first place where `value` does not have `shape`: the
    same keys, the same literal values, strings with the documented prefixes."""
    if isinstance(shape, dict) and set(shape) == {"$any"}:
        return
    if isinstance(shape, dict) and set(shape) == {"$prefix"}:
        if not (isinstance(value, str) and value.lower().startswith(shape["$prefix"].lower())):
            raise AssertionError(f"{where}: {value!r} does not start with {shape['$prefix']!r}")
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict) or set(value) != set(shape):
            raise AssertionError(
                f"{where}: keys {sorted(value) if isinstance(value, dict) else value!r}, "
                f"documented {sorted(shape)}"
            )
        for key in shape:
            check_shape(shape[key], value[key], f"{where}.{key}")
        return
    if isinstance(shape, list):
        if not isinstance(value, list) or len(value) != len(shape):
            raise AssertionError(f"{where}: {value!r}, documented {shape!r}")
        for i, (s, v) in enumerate(zip(shape, value, strict=True)):
            check_shape(s, v, f"{where}[{i}]")
        return
    if shape != value:
        raise AssertionError(f"{where}: {value!r}, documented {shape!r}")


def log_line_pattern(documented: str) -> re.Pattern[str]:
    """A documented log line (``LEVEL logger message``, ``…`` for what varies) as a pattern
    for a line of the text log format (``time LEVEL logger message key=value ...``)."""
    level, logger, message = documented.split(None, 2)
    parts = [re.escape(p) for p in message.split(ELLIPSIS)]
    return re.compile(
        rf"\s{re.escape(level)}\s+{re.escape(logger)}\s+"
        + r"\S*?".join(parts).replace(r"\ ", r"\s+")
    )


def argv_of(line: str) -> list[str]:
    """The words of a shell command line, without its trailing comment."""
    return shlex.split(line, comments=True)
