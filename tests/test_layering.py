"""Dependencies point one way (docs/design.md, "Rooms"): prover is pure, state_db is
synchronous, and inside sequencer/ each actor's room imports only the rooms below it.

A rule names a package (every module below it) and the modules it must never import, as
prefixes: "sequencer.node" forbids `sequencer.node` and everything under it. Imports inside
functions count too (ast.walk sees them), so a lazy import cannot hide an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_SERVICES = ("sequencer.node", "sequencer.validator", "sequencer.lightclient", "sequencer.devnet")

_HEAVY = (
    "web3",
    "eth",
    "eth_account",
    "eth_tester",
    "eth_abi",
    "vyper",
    "plyvel",
    "trio",
    "state_db",
    "l1_contracts",
    "sequencer.l1",
    "sequencer.node",
    "sequencer.validator",
    "sequencer.devnet",
    "sequencer.rpc",
)
"""What the client install (`pip install attest-rollup`) does not have, or must not need."""

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The protocol: no I/O, no concurrency, nothing above it.
    "prover": (
        "trio",
        "plyvel",
        "state_db",
        "sequencer",
        "l1_contracts",
        "socket",
        "http",
        "urllib",
        "subprocess",
        "web3",
        "requests",
        "threading",
        "asyncio",
    ),
    # Storage: synchronous, knows the protocol only.
    "state_db": ("trio", "sequencer", "l1_contracts", "web3", "asyncio"),
    # The transport every service shares: no service, no L1.
    "sequencer.rpc": (*_SERVICES, "sequencer.l1", "l1_contracts", "web3"),
    # L1 access is shared by the sequencer's committer and the validator: no service above it
    # (the committer's metrics and fault hooks are the sequencer's own, hence node is allowed).
    "sequencer.l1": ("sequencer.validator", "sequencer.lightclient", "sequencer.devnet"),
    # The sequencer process never reaches into a follower or a client.
    "sequencer.node": ("sequencer.validator", "sequencer.lightclient", "sequencer.devnet"),
    # A validator shares the transport and L1 access, never the sequencer's write path.
    "sequencer.validator": (
        "sequencer.node",
        "sequencer.l1.committer",
        "sequencer.lightclient",
        "sequencer.devnet",
    ),
    # The explorer is served by the sequencer and by every follower: it reads through the
    # shared transport and a store, and knows no service, no L1 access (the pages read L1
    # themselves, in the browser).
    "sequencer.explorer": (*_SERVICES, "sequencer.l1", "l1_contracts", "web3"),
    # The light client is a blocking CLI: no service, no storage, no event loop; of L1 access
    # only the read-only reader (it never signs).
    "sequencer.lightclient": (
        *_SERVICES[:2],
        "sequencer.devnet",
        "sequencer.l1.account",
        "sequencer.l1.rounds",
        "sequencer.l1.committer",
        "sequencer.l1.deploy",
        "state_db",
        "plyvel",
        "trio",
    ),
    # The client library runs on the core install: protocol code plus httpx/anyio, nothing of
    # the server (docs/design.md, "The client").
    "sequencer.client": (*_HEAVY, "sequencer.lightclient", "sequencer.toolkit"),
    # The client commands: the client library and the protocol only.
    "sequencer.toolkit": (*_HEAVY, "sequencer.lightclient"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every absolute module name `path` imports, with `from a import b` also as `a.b`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; use absolute imports")
    return found


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package: str) -> None:
    folder = ROOT.joinpath(*package.split("."))
    files = sorted(folder.rglob("*.py"))
    assert files, f"no modules found in {folder}"
    bad = {}
    for f in files:
        edges = sorted(
            m for m in _imports(f) for prefix in FORBIDDEN[package] if _matches(m, prefix)
        )
        if edges:
            bad[_module_name(f)] = edges
    assert not bad, f"{package} must stay below its layer: {bad}"


def test_client_imports_no_server_package_at_run_time() -> None:
    """The layering rules read the source; this runs it: importing the client and every
    client command loads none of the server's packages (what a client install lacks)."""
    import subprocess
    import sys

    code = (
        "import sys, sequencer.client, sequencer.toolkit.submit, sequencer.toolkit.model, "
        "sequencer.toolkit.dataset, sequencer.toolkit.check, sequencer.lightclient.cli\n"
        "heavy = ('web3', 'eth', 'eth_account', 'eth_tester', 'vyper', 'plyvel', 'trio', 'eth_abi')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_rules_name_real_rooms() -> None:
    """A rule about a room that was renamed away would pass forever."""
    for package, forbidden in FORBIDDEN.items():
        assert ROOT.joinpath(*package.split(".")).is_dir(), package
        for prefix in forbidden:
            if prefix.startswith(("sequencer.", "state_db", "prover", "l1_contracts")):
                path = ROOT.joinpath(*prefix.split("."))
                assert path.is_dir() or path.with_suffix(".py").is_file(), prefix


def test_every_sequencer_module_lives_in_a_room() -> None:
    """sequencer/ holds only the entry point and shared plumbing at its top; the rest is in
    the room of the actor it serves (a newcomer finds the place for a change by name)."""
    top = sorted(p.name for p in (ROOT / "sequencer").glob("*.py"))
    assert top == ["__init__.py", "cli.py", "config.py", "db.py", "logs.py", "runtime.py"], top
