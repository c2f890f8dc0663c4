"""Fixtures: one py-evm chain per test module, rolled back to a snapshot after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.l1_contracts.helpers import Chain, new_chain


@pytest.fixture(scope="module")
def rollup_base() -> Chain:
    return new_chain()


@pytest.fixture
def chain(rollup_base: Chain) -> Iterator[Chain]:
    base = rollup_base
    snapshot = base.tester.take_snapshot()
    yield Chain(base.tester, base.w3, base.rollup, base.owner, base.sequencer, base.challenger)
    base.tester.revert_to_snapshot(snapshot)


@pytest.fixture
def bonded(chain: Chain) -> Chain:
    chain.bond()
    return chain
