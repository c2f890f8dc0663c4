"""`check_submission` and its sliced form: same answers, pauses every CHECK_SLICE events."""

from __future__ import annotations

import pytest

from prover.eip712 import Domain
from prover.errors import InvalidFieldError, UnauthorizedError
from sequencer.config import DEV_ADDRESS, hash_token
from sequencer.node.ingest import (
    CHECK_SLICE,
    IngestSettings,
    check_submission,
    check_submission_steps,
)
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
