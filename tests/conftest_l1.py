"""pytest plugin: L1 nodes for tests (register in tests/conftest.py:
``pytest_plugins = ["tests.conftest_l1"]``).

Fixtures, all session-scoped (a node takes about a second to start, and every test can share
one: tests must not assume a fresh chain, only the funded dev accounts):

* `devnet_url` — the embedded py-evm devnet in a subprocess on a free port;
* `anvil_url` — anvil from .tools/anvil (skipped, saying why, only if anvil is not installed);
* `l1_url` — parametrized over ``"embedded"`` and ``"anvil"``: a test using it runs against both.

And one function-scoped fixture, `anvil`: a private anvil for a test that steers the chain
(paused mining, fee spikes, reorganisations must not reach other tests; its cheat codes are in
tests/sequencer/l1/anvil_kit.py).

Both nodes mine a block every `L1_BLOCK_TIME_S` seconds, empty or not, as a real chain does
(anvil with ``--block-time``): a test waits for the receipt or the state it expects, never for
"the next block", and L1 time moves while nobody sends anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from l1_contracts.anvil import AnvilNotFoundError, find_anvil, start_anvil
from l1_contracts.devnet_node import DEFAULT_BLOCK_TIME_S, start_devnet_subprocess, stop_process

L1_KINDS = ("embedded", "anvil")
L1_BLOCK_TIME_S = DEFAULT_BLOCK_TIME_S
"""Seconds between blocks on every test node: the devnet's default, anvil's ``--block-time``."""


@contextmanager
def l1_node(kind: str, *, block_time: float = L1_BLOCK_TIME_S) -> Iterator[str]:
    """A fresh L1 node of `kind` ("embedded" or "anvil") in its own process, stopped after.

    Interval mining (a block every `block_time` s) like a real chain; 0 mines each transaction
    at once. Skips the test, saying why, only when anvil is not installed (the Makefile
    installs it).
    """
    if kind == "embedded":
        proc, url = start_devnet_subprocess(port=0, block_time=block_time)
    else:
        try:
            exe = find_anvil()
        except AnvilNotFoundError as exc:
            pytest.skip(f"anvil is not installed ({exc})")
        proc, url = start_anvil(port=0, anvil=exe, block_time=block_time)
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def devnet_url() -> Iterator[str]:
    """URL of the embedded devnet node, running in its own process for the whole session."""
    with l1_node("embedded") as url:
        yield url


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """URL of an anvil node for the whole session."""
    with l1_node("anvil") as url:
        yield url


@pytest.fixture(scope="session", params=L1_KINDS)
def l1_url(request: pytest.FixtureRequest) -> str:
    """URL of an L1 node; tests using it run once on the embedded devnet and once on anvil."""
    fixture = "devnet_url" if request.param == "embedded" else "anvil_url"
    url = request.getfixturevalue(fixture)
    assert isinstance(url, str)
    return url


@pytest.fixture
def anvil() -> Iterator[str]:
    """A private anvil for one test: what the test does to its chain reaches no other test."""
    with l1_node("anvil") as url:
        yield url
