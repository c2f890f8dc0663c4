"""`check_submission` and `batch_answer` and their sliced forms: same answers, pauses every
CHECK_SLICE events; driven on the event loop, a large check lets the other tasks run."""

from __future__ import annotations

import pytest
import trio

from prover.eip712 import Domain
from prover.errors import InvalidFieldError, UnauthorizedError
from prover.receipt import Receipt
from sequencer.config import DEV_ADDRESS, hash_token
from sequencer.node.api import _drive
from sequencer.node.ingest import (
    CHECK_SLICE,
    IngestSettings,
    batch_answer,
    batch_answer_steps,
    check_submission,
    check_submission_steps,
)
from sequencer.node.writer import Placed
from tests.sequencer.events import unsigned

SETTINGS = IngestSettings({hash_token("dev"): DEV_ADDRESS}, None, Domain(31337, bytes(20)).separator,
                          10_000)  # fmt: skip


def test_the_sliced_check_pauses_per_slice_and_answers_the_same() -> None:
    events = [unsigned(i) for i in range(2 * CHECK_SLICE + 5)]
    steps = check_submission_steps(events, "Bearer dev", SETTINGS, batch=True)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            sliced = done.value
            break
        pauses += 1
    assert pauses == 2 + 3  # between the 3 parse slices, and before each of the 3 pack slices
    assert sliced == check_submission(events, "Bearer dev", SETTINGS, batch=True)
    assert len(sliced.templates) == len(events)


def test_a_bad_event_in_a_later_slice_is_named_by_its_batch_index() -> None:
    events = [unsigned(i) for i in range(CHECK_SLICE + 10)]
    events[CHECK_SLICE + 3]["digest"] = "0x12"
    with pytest.raises(InvalidFieldError) as err:
        check_submission(events, "Bearer dev", SETTINGS, batch=True)
    assert (err.value.field, err.value.index) == ("digest", CHECK_SLICE + 3)


def test_without_a_token_unsigned_events_are_refused_before_any_field_is_parsed() -> None:
    # A malformed field would be -32602 if it were parsed first; the missing token wins.
    events = [unsigned(0) | {"digest": "nonsense", "meta": {f"k{i}": i for i in range(10_000)}}]
    with pytest.raises(UnauthorizedError, match=r"events\[0\]"):
        check_submission(events, None, SETTINGS, batch=True)


def _placements(n: int) -> list[Placed]:
    """`n` placements under one receipt, every 100th a duplicate under an older one."""
    fresh = Receipt(1000, n, bytes(range(32)), 2_000_000_000, 27, b"\x01" * 32, b"\x02" * 32)
    older = Receipt(0, 10, bytes(32), 1_900_000_000, 28, b"\x03" * 32, b"\x04" * 32)
    return [
        Placed(i, i.to_bytes(32, "big"), i % 10, ("0x" + "ab" * 32,), older, duplicate=True)
        if i % 100 == 0
        else Placed(1000 + i, i.to_bytes(32, "big"), i, ("0x" + "cd" * 32,) * 3, fresh)
        for i in range(n)
    ]


def test_the_sliced_answer_pauses_per_slice_and_answers_the_same() -> None:
    placed = _placements(2 * CHECK_SLICE + 1)
    steps = batch_answer_steps(placed, DEV_ADDRESS)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            sliced = done.value
            break
        pauses += 1
    assert pauses == 2  # between the 3 slices of placements
    assert sliced == batch_answer(placed, DEV_ADDRESS)
    assert [e.get("duplicate", False) for e in sliced["events"]] == [p.duplicate for p in placed]


async def test_a_large_check_lets_other_tasks_run_while_it_is_driven() -> None:
    # The attack: one 10,000-event batch checked on the event loop in one go would hold every
    # other client (reads, refusals) for its whole check, tens of milliseconds. Driven in
    # slices, the loop runs the other tasks after every BULK_STEP_S of checking.
    events = [unsigned(i) for i in range(10_000)]
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await trio.lowlevel.checkpoint()  # the ticker is running
        ticks_before = ticks
        checked = await _drive(check_submission_steps(events, "Bearer dev", SETTINGS, batch=True))
        ticked = ticks - ticks_before
        done = True
    assert len(checked.templates) == len(events)
    # 10,000 events take tens of milliseconds to check, many times BULK_STEP_S: the other
    # tasks ran several times meanwhile (in one go they would have run once at most).
    assert ticked >= 5, ticked
