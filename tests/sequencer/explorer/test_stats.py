"""The dashboard's live figures: the ingest sampler (on trio's fake clock) and the followers."""

from __future__ import annotations

import trio
import trio.testing

from sequencer.explorer.stats import SAMPLES_KEPT, FollowerTracker, IngestSampler
from sequencer.rpc.jsonrpc import RpcContext


async def test_sampler_keeps_one_sample_a_second_for_ten_minutes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    size = [0]
    sampler = IngestSampler(lambda: size[0])
    async with trio.open_nursery() as nursery:
        await nursery.start(sampler.run)
        await trio.sleep(sampler.interval_s / 2)  # grow between samples, never at one
        for _ in range(SAMPLES_KEPT + 50):
            size[0] += 10
            await trio.sleep(sampler.interval_s)
        nursery.cancel_scope.cancel()
    assert len(sampler.samples) == SAMPLES_KEPT
    sizes = [n for _, n in sampler.samples]
    assert sizes == sorted(sizes) and sizes[-1] == size[0]
    last_t = sampler.samples[-1][0]
    assert sampler.since(last_t) == []
    assert sampler.since(0) == [[t, n] for t, n in sampler.samples]


def test_followers_named_by_user_agent_or_address() -> None:
    tracker = FollowerTracker()
    validator = RpcContext(
        {"user-agent": "attest-validator/0xAbC0000000000000000000000000000000000001"},
        ("127.0.0.1", 4000),
    )
    other = RpcContext({}, ("10.0.0.7", 5000))
    tracker.observe(validator, 3)
    tracker.observe(validator, 9)
    tracker.observe(validator, 5)  # a retry of an older block does not lower it
    tracker.observe(other, 1)
    seen = {f["name"]: f for f in tracker.followers(latest_block=10)}
    assert seen["0xAbC0000000000000000000000000000000000001"]["block"] == 9
    assert seen["0xAbC0000000000000000000000000000000000001"]["lagBlocks"] == 1
    assert seen["client 10.0.0.7:5000"]["lagBlocks"] == 9
    assert tracker.followers(latest_block=None)[0]["lagBlocks"] is None
