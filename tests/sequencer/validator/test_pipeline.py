"""The pipelined pull against upstreams that attack the range fetched while the one before it is
checked (`sequencer.validator.upstream._take_ranges`; docs/validator.md, "The pipeline").

A real `attest serve` holding ~20 blocks, each hostile behaviour a real process
(`hostile_upstream.PIPELINE_BEHAVIOURS`), the pool, the replica and `pull` in this test's trio
loop, ranges of 4 blocks so that one pull takes several. What must hold:

* a forged range fetched behind a good one never enters the replica, and the honest upstream
  serves the rest;
* a range in flight from an upstream judged faulty meanwhile is dropped at once: the pull does
  not wait for it;
* a rollback while a range is in flight: that range is dropped (it continues a replica that no
  longer exists), its upstream not blamed, and the next pull fetches again from the cut;
* cancelling the pull (what SIGTERM does) while a range is in flight returns at once; and
  `attest validate` itself stops promptly on SIGTERM with a range in flight.
"""

from __future__ import annotations

import itertools
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import orjson
import pytest
import trio

from l1_contracts.accounts import DEV_KEYS
from prover.eip712 import Domain
from prover.wire import parse_address
from sequencer.devnet.process import (
    DevnetProcess,
    SequencerProcess,
    ValidatorProcess,
    _Child,
    write_key_file,
)
from sequencer.rpc.client import RpcClient
from sequencer.validator.replicate import Replica
from sequencer.validator.upstream import MAX_BLOCKS, UpstreamPool, pull
from state_db.store import Store
from tests.sequencer.events import unsigned
from tests.sequencer.validator.hostile_upstream import PIPELINE_BEHAVIOURS, SLOW_S
from tests.sequencer.validator.test_hostile_upstreams import _READY
from tests.waiting import wait_for

RANGE = 4
"""Blocks per range here: several ranges per pull."""
DEADLINE_S = 5.0


class Hostile(_Child):
    def __init__(self, behaviour: str, honest: str) -> None:
        args = [sys.executable, "-m", "tests.sequencer.validator.hostile_upstream"]
        self.url = self._start([*args, behaviour, honest], _READY, 60).group(1)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A sequencer with ~20 blocks, and one fresh hostile process per behaviour (each counts
    the batches it has answered, so no two tests share one)."""
    with ExitStack() as stack:
        seq = stack.enter_context(SequencerProcess(tmp_path / "seq"))
        with RpcClient(seq.url, token="dev") as rpc:
            ids = itertools.count()
            for _ in range(20):
                rpc.call("attest_submitBatch", [unsigned(next(ids)) for _ in range(3)])
                trio.run(trio.sleep, 0.06)
        hostiles = {b: stack.enter_context(Hostile(b, seq.url)).url for b in PIPELINE_BEHAVIOURS}
        yield seq.url, hostiles


def _replica(tmp_path: Path, honest: str) -> Replica:
    with RpcClient(honest) as rpc:
        st = rpc.call("attest_status")
    d = st["eip712Domain"]
    domain = Domain(d["chainId"], parse_address(d["verifyingContract"], "verifyingContract"))
    return Replica(
        Store.open(tmp_path / "replica"), domain.separator, parse_address(st["sequencer"], "seq")
    )


async def _until_blocks(replica: Replica, blocks: int, timeout_s: float = DEADLINE_S) -> None:
    """Until the replica holds `blocks` blocks (polled: the pull runs in this loop)."""
    for _ in range(int(timeout_s / 0.01)):
        if replica.store.head.block_count >= blocks:
            return
        await trio.sleep(0.01)
    raise AssertionError(f"the replica did not reach {blocks} blocks in {timeout_s} s")


def _latest(honest: str) -> int:
    with RpcClient(honest) as rpc:
        return int(rpc.call("attest_status")["latestBlock"]["number"])


def _assert_holds_only_the_sequencers(replica: Replica, honest: str) -> None:
    """The replica's root at its size is the sequencer's: every record it holds is the
    sequencer's, in the sequencer's order."""
    size = replica.size
    assert size > 0
    with RpcClient(honest) as rpc:
        served = rpc.call("attest_getConsistencyProof", size, size)["firstRoot"]
    assert served == "0x" + replica.store.root_at(size).hex()
    head = replica.store.head
    mine = replica.store.get_block(head.block_count - 1)
    with RpcClient(honest) as rpc:
        theirs = rpc.call("attest_getBlock", head.block_count - 1)
    assert theirs["blockHash"] == "0x" + mine.block_hash.hex()


def test_a_forged_range_fetched_behind_a_good_one_never_enters(
    servers: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    honest, hostiles = servers
    latest = _latest(honest)
    assert latest + 1 > 2 * RANGE, "the log must span several ranges"
    replica = _replica(tmp_path, honest)
    pool = UpstreamPool([hostiles["forged-second-range"], honest], deadline_s=DEADLINE_S)
    hostile, honest_up = pool.upstreams

    async def main() -> int:
        try:
            # The hostile upstream is listed first: range 0 comes from it (honest), range 1
            # (forged, fetched while range 0 is checked) fails its checks.
            return await pull(replica, pool, max_blocks=RANGE)
        finally:
            await pool.aclose()

    try:
        taken = trio.run(main)
        # The forged block was refused, the liar struck, and the honest upstream served the
        # rest in the same round.
        assert hostile.strikes >= 3 and "receipt refused" in (hostile.last_error or "")
        assert honest_up.strikes == 0
        assert taken == latest + 1 == replica.store.head.block_count
        _assert_holds_only_the_sequencers(replica, honest)
    finally:
        replica.close()
        replica.store.close()


def test_a_range_in_flight_from_an_upstream_judged_faulty_is_dropped_at_once(
    servers: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    honest, hostiles = servers
    latest = _latest(honest)
    replica = _replica(tmp_path, honest)
    # Range 0 from the hostile upstream is forged; range 1, fetched while range 0 is checked,
    # never comes back. The pull must not wait for it once range 0 is refused.
    pool = UpstreamPool([hostiles["forged-then-stall"], honest], deadline_s=DEADLINE_S)
    hostile, honest_up = pool.upstreams

    async def main() -> tuple[int, float]:
        try:
            started = trio.current_time()
            taken = await pull(replica, pool, max_blocks=RANGE)
            return taken, trio.current_time() - started
        finally:
            await pool.aclose()

    try:
        taken, elapsed = trio.run(main)
        assert elapsed < DEADLINE_S / 2, f"the pull waited {elapsed:.1f} s for a dropped range"
        assert hostile.strikes >= 3 and honest_up.strikes == 0
        assert taken == latest + 1 == replica.store.head.block_count
        _assert_holds_only_the_sequencers(replica, honest)
    finally:
        replica.close()
        replica.store.close()


def test_a_rollback_while_a_range_is_in_flight_drops_that_range(
    servers: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    honest, hostiles = servers
    latest = _latest(honest)
    replica = _replica(tmp_path, honest)
    # Honest, but every range after the first is answered SLOW_S late: range 1 is in flight
    # while the watcher's rollback (`Replica.roll_back`, the call the watcher makes when a
    # checkpoint contradicts provisional records) cuts the replica back to block 2.
    pool = UpstreamPool([hostiles["slow-after-first"]], deadline_s=DEADLINE_S)
    (up,) = pool.upstreams
    cut: dict[str, int] = {}

    async def roll_back_once_range_0_is_in() -> None:
        await _until_blocks(replica, RANGE)
        head = replica.store.head
        cut["blocks"] = 2
        cut["size"] = replica.store.get_block(1).end
        summary = await trio.to_thread.run_sync(
            replica.roll_back, cut["size"], 0, (0, head.tree_size, bytes(32))
        )
        assert summary is not None and summary["blocksRemoved"] == RANGE - 2

    async def main() -> int:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(roll_back_once_range_0_is_in)
                with trio.fail_after(SLOW_S + DEADLINE_S):
                    taken = await pull(replica, pool, max_blocks=RANGE)
            return taken
        finally:
            await pool.aclose()

    try:
        taken = trio.run(main)
        # Range 0 was taken; range 1 (fetched to continue block 3) arrived after the cut and
        # was dropped, not ingested and not held against the upstream.
        assert taken == RANGE
        assert replica.store.head.block_count == cut["blocks"]
        assert replica.size == cut["size"]
        assert up.strikes == 0 and up.last_error is None
        assert len(replica.rollbacks) == 1

        async def catch_up() -> None:
            again = UpstreamPool([hostiles["slow-after-first"]], deadline_s=DEADLINE_S)
            try:
                while replica.store.head.block_count < latest + 1:
                    await pull(replica, again, max_blocks=RANGE)
            finally:
                await again.aclose()

        trio.run(catch_up)
        _assert_holds_only_the_sequencers(replica, honest)
    finally:
        replica.close()
        replica.store.close()


def test_cancelling_a_pull_with_a_range_in_flight_returns_at_once(
    servers: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    honest, hostiles = servers
    replica = _replica(tmp_path, honest)
    # Range 1 never comes back: the pull is cancelled (what SIGTERM does to the service's
    # root nursery) while it is in flight.
    pool = UpstreamPool([hostiles["stall-after-first"]], deadline_s=DEADLINE_S)

    async def main() -> float:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(pull, replica, pool, max_blocks=RANGE))
                await _until_blocks(replica, RANGE)
                await trio.sleep(0.1)  # range 1 is in flight
                cancelled = trio.current_time()
                nursery.cancel_scope.cancel()
            return trio.current_time() - cancelled
        finally:
            await pool.aclose()

    try:
        assert trio.run(main) < 0.5
        assert replica.store.head.block_count == RANGE
        _assert_holds_only_the_sequencers(replica, honest)
    finally:
        replica.close()
        replica.store.close()


def test_sigterm_with_a_range_in_flight_stops_the_validator_promptly(tmp_path: Path) -> None:
    """`attest validate` itself, its only upstream answering the first range and never the
    second: SIGTERM arrives while range 1 is in flight (its upstream deadline 60 s)."""
    with ExitStack() as stack:
        devnet = stack.enter_context(DevnetProcess())
        with RpcClient(devnet.url, token="dev") as rpc:
            ids = itertools.count()
            for _ in range(24):  # more blocks than one range of 16
                rpc.call("attest_submitBatch", [unsigned(next(ids)) for _ in range(3)])
                time.sleep(0.06)
            latest = int(rpc.call("attest_status")["latestBlock"]["number"])
        assert latest + 1 > MAX_BLOCKS, "the log must span more than one range"
        hostile = stack.enter_context(Hostile("stall-after-first", devnet.url))
        val = stack.enter_context(
            ValidatorProcess(
                sequencer=[hostile.url],
                l1_rpc=devnet.l1_rpc,
                contract=devnet.contract,
                key_file=write_key_file(DEV_KEYS[1], tmp_path),
                data_dir=tmp_path / "validator",
                extra_args=["--upstream-timeout", "60", "--pull-interval", "0.1"],
            )
        )

        def replica_size() -> int:
            with urllib.request.urlopen(val.url + "/health", timeout=5) as resp:
                return int(orjson.loads(resp.read())["replicaSize"])

        wait_for(lambda: replica_size() > 0, timeout=30, what="the first range replicated")
        time.sleep(0.5)  # range 1 is asked for, and never answered
        started = time.monotonic()
        assert val.stop() == 0
        assert time.monotonic() - started < 5, "shutdown waited on the range in flight"
