"""The group-commit writer in-process, over a real LevelDB: backpressure, neighbours, sealing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from prover.eip712 import Domain, address_of_private_key
from prover.errors import OverloadedError, ReplayError, StorageError
from prover.hashing import leaf_hash
from prover.receipt_tree import verify_receipt_path
from prover.record import EventInput, parse_event
from sequencer.config import DEV_ADDRESS, DEV_SEQUENCER_KEY
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer, make_templates
from state_db.store import Store
from tests.sequencer.events import ALICE_KEY, h32, signed, unsigned

DOMAIN = Domain(31337, bytes(20))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "db")
    yield s
    s.close()


def make_writer(store: Store, **overrides: int) -> Writer:
    params: dict[str, int] = dict(
        block_max_records=256,
        block_interval_ms=50,
        receipt_deadline_s=600,
        max_queue_events=1000,
        max_group_events=10_000,
    )
    params.update(overrides)
    return Writer(
        store,
        sequencer_key=DEV_SEQUENCER_KEY,
        domain_separator=DOMAIN.separator,
        metrics=Metrics(),
        **params,
    )


def events(n: int, start: int = 0) -> list[EventInput]:
    return [parse_event(unsigned(start + i)) for i in range(n)]


async def test_full_queue_refuses_at_once_and_loses_nothing(store: Store) -> None:
    writer = make_writer(store, max_queue_events=10)
    results: list[int] = []

    async def submit(n: int, start: int) -> None:
        placed = await writer.submit(*make_templates(events(n, start), [DEV_ADDRESS] * n))
        results.extend(p.seq for p in placed)

    async with trio.open_nursery() as service:
        with trio.fail_after(10):
            async with trio.open_nursery() as clients:
                clients.start_soon(submit, 8, 0)  # queued; the writer is not running yet
                await trio.testing.wait_all_tasks_blocked()
                with trio.fail_after(1), pytest.raises(OverloadedError) as err:  # not a hang
                    await writer.submit(*make_templates(events(5, 100), [DEV_ADDRESS] * 5))
                assert err.value.retry_after_ms >= 10
                await service.start(writer.run)
        service.cancel_scope.cancel()
    assert sorted(results) == list(range(8))
    assert store.head.tree_size == 8  # the refused 5 left no trace


async def test_one_group_one_receipt_and_a_bad_neighbour_is_refused_alone(store: Store) -> None:
    writer = make_writer(store)
    first = parse_event(signed(ALICE_KEY, nonce=1))
    clash = parse_event(signed(ALICE_KEY, nonce=1, digest=h32("other")))
    alice = address_of_private_key(bytes.fromhex(ALICE_KEY[2:]))
    outcomes: dict[str, object] = {}

    async def submit(name: str, evs: list[EventInput], who: list[bytes]) -> None:
        try:
            outcomes[name] = await writer.submit(*make_templates(evs, who))
        except ReplayError as exc:
            outcomes[name] = exc

    async with trio.open_nursery() as service:
        with trio.fail_after(10):
            async with trio.open_nursery() as clients:
                # Queue in this order (trio starts tasks in no fixed order, so wait after each).
                for name, evs, who in [
                    ("a", events(3), [DEV_ADDRESS] * 3),
                    ("b", [first], [alice]),
                    ("c", [*events(2, 10), clash], [DEV_ADDRESS, DEV_ADDRESS, alice]),
                    ("d", events(4, 20), [DEV_ADDRESS] * 4),
                ]:
                    clients.start_soon(submit, name, evs, who)
                    await trio.testing.wait_all_tasks_blocked()
                await service.start(writer.run)  # all four are queued: they form one group
        service.cancel_scope.cancel()

    assert isinstance(outcomes["c"], ReplayError)  # same nonce, other content: refused whole
    placed = [p for name in "abd" for p in outcomes[name]]  # type: ignore[attr-defined]
    assert [p.seq for p in placed] == list(range(8))
    receipts = {p.receipt for p in placed}
    assert len(receipts) == 1  # one signature for the whole group commit
    (receipt,) = receipts
    assert (receipt.first_seq, receipt.count) == (0, 8)
    for p in placed:
        assert leaf_hash(store.get_record(p.seq)) == p.leaf_hash
        verify_receipt_path(p.leaf_hash, p.group_index, receipt.count, p.path, receipt.leaves_root)
    assert store.head.tree_size == 8


async def test_open_block_is_sealed_after_the_interval(store: Store) -> None:
    # A real clock: the seal is written by a worker thread, which a virtual clock would race.
    writer = make_writer(store, block_max_records=256, block_interval_ms=50)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await writer.submit(*make_templates(events(300), [DEV_ADDRESS] * 300))
        assert store.head.block_count == 1 and store.head.last_block_end == 256
        with trio.fail_after(5):  # the timer seals the remaining 44 records after 50 ms
            # Polled: the seal is written by the store in a worker thread, which sets no event.
            while store.head.block_count < 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert store.head.last_block_end == 300
        block = store.get_block(1)
        assert (block.start, block.end) == (256, 300)
        assert block.log_root == store.root_at(300)
        assert block.parent_hash == store.get_block(0).block_hash
        nursery.cancel_scope.cancel()


async def test_resent_signed_event_is_answered_with_its_original_placement(store: Store) -> None:
    writer = make_writer(store)
    alice = address_of_private_key(bytes.fromhex(ALICE_KEY[2:]))
    ev = parse_event(signed(ALICE_KEY, nonce=42))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        (original,) = await writer.submit(*make_templates([ev], [alice]))
        await writer.submit(*make_templates(events(5), [DEV_ADDRESS] * 5))
        (again,) = await writer.submit(*make_templates([ev], [alice]))
        nursery.cancel_scope.cancel()
    assert again.duplicate and (again.seq, again.leaf_hash, again.receipt) == (
        original.seq,
        original.leaf_hash,
        original.receipt,
    )
    assert again.path == original.path
    assert store.head.tree_size == 6


@pytest.mark.parametrize("failure", [OSError("No space left on device"), StorageError("corrupt")])
async def test_a_failed_write_acknowledges_nothing_and_releases_every_waiter(
    store: Store, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    writer = make_writer(store)

    def broken_commit(self: Store, *args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(Store, "commit", broken_commit)
    refused: list[StorageError] = []

    async def submit(start: int) -> None:
        try:
            await writer.submit(*make_templates(events(3, start), [DEV_ADDRESS] * 3))
        except StorageError as exc:
            refused.append(exc)

    with trio.fail_after(5), pytest.raises(BaseExceptionGroup) as raised:
        async with trio.open_nursery() as nursery:
            for start in (0, 10, 20):
                nursery.start_soon(submit, start)
                await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(writer.run)  # fails on its first group: fatal, and it says so
    assert raised.group_contains(type(failure))
    assert len(refused) == 3 and all("not written" in str(e) for e in refused)
    assert store.head.tree_size == 0
