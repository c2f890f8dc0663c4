"""The upstream pool against hostile upstreams, without L1: a real `attest serve`, each hostile
behaviour a real process (`hostile_upstream`), the pool and `pull` in this test's trio loop.

What must hold for every behaviour, alone or beside the honest sequencer: a call ends within
its deadline (plus scheduling slack), never raises anything but `UpstreamFault`/`JsonRpcError`,
never reads more than the cap; `pull` takes only blocks the sequencer signed, from whichever
upstream serves them; a liar sinks in the ranking; cancelling a pull returns at once.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest
import trio

from prover.eip712 import Domain
from prover.jsonrpc import JsonRpcError
from prover.wire import parse_address
from sequencer.devnet.process import SequencerProcess, _Child
from sequencer.rpc.client import RpcClient
from sequencer.validator.replicate import Replica, UpstreamError
from sequencer.validator.upstream import UpstreamFault, UpstreamPool, pull
from state_db.store import Store
from tests.sequencer.events import unsigned
from tests.sequencer.validator.hostile_upstream import BEHAVIOURS
from tests.sequencer.validator.test_hostile_upstreams import _READY

DEADLINE_S = 1.0
SLACK_S = 1.5
"""Scheduling slack on a loaded 2-core machine."""
CAP = 1 << 20
GARBAGE = frozenset(BEHAVIOURS) - {"forged-ahead", "flapping"}
"""Behaviours whose every block batch is unusable here (without L1 there is no checkpoint, so
the withholder, serving nothing beyond one and no receipts, serves nothing usable)."""


class Hostile(_Child):
    def __init__(self, behaviour: str, honest: str) -> None:
        args = [sys.executable, "-m", "tests.sequencer.validator.hostile_upstream"]
        self.url = self._start([*args, behaviour, honest], _READY, 60).group(1)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    with ExitStack() as stack:
        seq = stack.enter_context(SequencerProcess(tmp_path_factory.mktemp("seq")))
        with RpcClient(seq.url, token="dev") as rpc:
            ids = itertools.count()
            for _ in range(20):  # 20 blocks or so: more than one batch of 16
                rpc.call("attest_submitBatch", [unsigned(next(ids)) for _ in range(3)])
                trio.run(trio.sleep, 0.06)
        hostiles = {b: stack.enter_context(Hostile(b, seq.url)).url for b in BEHAVIOURS}
        yield seq.url, hostiles


def _replica(tmp_path: Path, honest: str) -> Replica:
    with RpcClient(honest) as rpc:
        st = rpc.call("attest_status")
    d = st["eip712Domain"]
    domain = Domain(d["chainId"], parse_address(d["verifyingContract"], "verifyingContract"))
    return Replica(
        Store.open(tmp_path / "replica"),
        domain.separator,
        parse_address(st["sequencer"], "sequencer"),
    )


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_each_call_ends_in_time_and_never_crashes(
    behaviour: str, servers: tuple[str, dict[str, str]]
) -> None:
    _, hostiles = servers

    async def main() -> None:
        pool = UpstreamPool([hostiles[behaviour]], deadline_s=DEADLINE_S, max_bytes=CAP)
        (up,) = pool.upstreams
        try:
            for method, params in (("attest_status", []), ("attest_getBlock", [0, True])):
                started = trio.current_time()
                with suppress(UpstreamFault, JsonRpcError):
                    await pool.call(up, method, *params)
                assert trio.current_time() - started < DEADLINE_S + SLACK_S, method
            started = trio.current_time()
            with suppress(UpstreamFault):
                await pool.batch(up, [("attest_getBlock", [n, True]) for n in range(4)])
            assert trio.current_time() - started < DEADLINE_S + SLACK_S
        finally:
            await pool.aclose()

    trio.run(main)


@pytest.mark.parametrize("position", ["sole", "first", "last"])
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_pull_takes_only_what_the_sequencer_signed(
    behaviour: str, position: str, servers: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    honest, hostiles = servers
    hostile = hostiles[behaviour]
    urls = {"sole": [hostile], "first": [hostile, honest], "last": [honest, hostile]}[position]
    replica = _replica(tmp_path, honest)
    with RpcClient(honest) as rpc:
        latest = rpc.call("attest_status")["latestBlock"]

    async def main() -> None:
        pool = UpstreamPool(urls, deadline_s=DEADLINE_S, max_bytes=CAP)
        try:
            for _ in range(6):
                with trio.move_on_after(3 * (DEADLINE_S + SLACK_S)) as scope:
                    with suppress(UpstreamError):
                        await pull(replica, pool)
                assert not scope.cancelled_caught, "a pull outlived three deadlines"
            # Cancelling a pull (SIGTERM) returns at once, whatever the upstream does.
            started = trio.current_time()
            with trio.move_on_after(0.2), suppress(UpstreamError):
                await pull(replica, pool)
            assert trio.current_time() - started < 0.2 + SLACK_S
            if position != "sole":
                ranked = pool.ranked()
                assert ranked[0].url == honest or ranked[0].strikes == ranked[1].strikes
        finally:
            await pool.aclose()

    trio.run(main)
    # Whatever it holds is the sequencer's: same root at its size, and no more than it sealed.
    size = replica.size
    with RpcClient(honest) as rpc:
        if size:
            assert rpc.call("attest_getConsistencyProof", size, size)["firstRoot"] == (
                "0x" + replica.store.root_at(size).hex()
            )
        if position != "sole" or behaviour not in GARBAGE:
            assert replica.store.head.block_count >= latest["number"] + 1, "did not catch up"
        elif behaviour in GARBAGE:
            assert size == 0
    replica.store.close()
