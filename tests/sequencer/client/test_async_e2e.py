"""The async client under both event loops it promises (asyncio and trio), and the blocking
batcher's backpressure, against a real `attest serve --dev`."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sequencer.client import AsyncBatcher, AsyncClient, Client, Event, KeySigner, subject_of
from sequencer.devnet.process import SequencerProcess

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with SequencerProcess(tmp_path_factory.mktemp("seq")) as proc:
        yield proc.url


async def _exercise(url: str) -> tuple[int, list[int]]:
    got: list[Any] = []
    async with AsyncClient(url, signer=KeySigner(KEY)) as client:
        one = await client.submit(Event("attestation", subject_of("x"), os.urandom(32), {"n": 1}))
        async with AsyncBatcher(
            client, max_events=50, max_delay=0.01, max_pending=120, on_accepted=got.extend
        ) as b:
            for i in range(400):
                await b.add(Event("sensor_hash", subject_of(f"s{i % 3}"), os.urandom(32)))
        ev = await client.get_event(one.seq)
        assert ev.signed and ev.meta == {"n": 1}
    return one.seq, sorted(a.seq for a in got)


def test_async_client_under_asyncio(url: str) -> None:
    seq, seqs = asyncio.run(_exercise(url))
    assert len(seqs) == 400 and len(set(seqs)) == 400 and seq not in seqs


async def test_async_client_under_trio(url: str) -> None:
    seq, seqs = await _exercise(url)
    assert len(seqs) == 400 and len(set(seqs)) == 400 and seq not in seqs


def test_batcher_blocks_producers_at_max_pending(url: str) -> None:
    """With the sender stalled, `add` returns for max_pending events and then blocks."""
    gate = threading.Event()
    with Client(url, token="dev") as client:
        real = client.submit_batch

        def slow(events: Any) -> Any:
            gate.wait(10)
            return real(events)

        client.submit_batch = slow  # type: ignore[method-assign]
        added = 0
        b = client.batcher(max_events=10, max_delay=0.01, max_pending=30, in_flight=1)

        def produce() -> None:
            nonlocal added
            for _ in range(100):
                b.add(Event("sensor_hash", subject_of("p"), os.urandom(32)))
                added += 1

        t = threading.Thread(target=produce)
        t.start()
        for _ in range(100):  # until the producer is held (it never gets past 30)
            if added == 30:
                break
            t.join(0.05)
        t.join(0.3)
        assert added == 30 and b.pending == 30  # bounded: the producer waits
        gate.set()
        t.join(10)
        b.close()
        assert added == 100 and b.stats.accepted == 100


async def test_async_batcher_holds_producers_at_max_pending(url: str) -> None:
    import anyio

    gate = anyio.Event()
    async with AsyncClient(url, token="dev") as client:
        real = client.submit_batch

        async def slow(events: Any) -> Any:
            await gate.wait()
            return await real(events)

        client.submit_batch = slow  # type: ignore[method-assign]
        added = 0
        async with AsyncBatcher(
            client, max_events=10, max_delay=0.01, max_pending=30, in_flight=1
        ) as b:
            thirty = anyio.Event()

            async def produce() -> None:
                nonlocal added
                for _ in range(100):
                    await b.add(Event("sensor_hash", subject_of("p"), os.urandom(32)))
                    added += 1
                    if added == 30:
                        thirty.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                with anyio.fail_after(5):
                    await thirty.wait()
                await anyio.sleep(0.2)  # it stays held
                assert added == 30 and b.pending == 30  # bounded: the producer waits
                gate.set()
        assert added == 100 and b.accepted == 100
