"""The HTTP front's admission of a large submission from its head (`FrontState.admit`), against
a real board (the memory page the two processes share) written as the sequencer writes it.

The attacks these pin down: heads without bodies holding the in-flight share must not shut out
honest submissions while the sequencer is idle (handed on, the sequencer decides at once); and
at the share, while admitted bodies are arriving or the sequencer's loop is behind, a
submission is refused from its head, in the front's milliseconds, rather than handed on to be
refused after the others' bodies, tens of milliseconds later (issue 12 item 4).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from sequencer.node.front import (
    BODIES_FLOWING_S,
    CROWDED_SHARE,
    MAX_IN_FLIGHT_SHARE,
    Board,
    FrontState,
)
from sequencer.node.service import MIN_EVENT_WIRE_BYTES, SHED_BODY_BYTES
from sequencer.rpc import handoff
from sequencer.rpc.http_server import RequestHead

QUEUE = 100_000
SHARE = QUEUE // MAX_IN_FLIGHT_SHARE
BATCH_EVENTS = 1_000
"""The events a head of `BATCH_LENGTH` bytes implies to the front."""
BATCH_LENGTH = BATCH_EVENTS * MIN_EVENT_WIRE_BYTES


def head(length: int = BATCH_LENGTH) -> RequestHead:
    return RequestHead("POST", "/", {"content-type": "application/json"}, length, None)


@pytest.fixture
def front() -> Iterator[FrontState]:
    board = Board.create()
    board.write_room(0, 50_000.0)
    board.write_taken(0)
    board.write_forwarded(0)
    state = FrontState(
        board,
        {
            "maxQueue": QUEUE,
            "shedBodyBytes": SHED_BODY_BYTES,
            "minEventBytes": MIN_EVENT_WIRE_BYTES,
        },
    )
    state.update({"failure": None, "gate": None, "health": [200, "{}"], "status": {}})
    yield state
    handoff.ADMITTED.set(0)


def admit(front: FrontState) -> tuple[int | None, dict[str, object] | None, int]:
    """(status of the refusal or None, its JSON-RPC error, the events admitted)."""
    handoff.ADMITTED.set(0)
    response = front.admit(head())
    admitted = handoff.take_admitted()
    if response is None:
        return None, None, admitted
    return response.status, orjson.loads(response.body)["error"], admitted


def fill_share(front: FrontState) -> None:
    """Admit heads until the in-flight share is full; the front counts them as it moves them."""
    while True:
        status, _, admitted = admit(front)
        assert status is None
        if not admitted:
            break
        front.forward(admitted)
    assert front.board.in_flight() > SHARE - BATCH_EVENTS


def test_below_the_share_a_head_is_admitted_for_the_events_its_length_holds(
    front: FrontState,
) -> None:
    assert admit(front) == (None, None, BATCH_EVENTS)


def test_heads_alone_at_the_share_with_the_sequencer_idle_are_handed_on_unadmitted(
    front: FrontState,
) -> None:
    """No admitted body read for a while and nothing waiting for the sequencer: what holds the
    share may be heads without bodies, so the next submission goes to the sequencer, which
    reads it at once and decides on the room there is (the queue is half empty)."""
    fill_share(front)
    front.board.write_body_in(time.monotonic() - 10 * BODIES_FLOWING_S)
    assert admit(front) == (None, None, 0)


def test_at_the_share_while_bodies_arrive_a_head_is_refused_from_the_head(
    front: FrontState,
) -> None:
    fill_share(front)
    front.board.write_body_in(time.monotonic())
    status, error, admitted = admit(front)
    assert (status, admitted) == (503, 0)
    assert error is not None and error["code"] == -32005
    assert "still being read" in str(error["message"]), error
    data = error["data"]
    assert isinstance(data, dict) and data["retryAfterMs"] >= 10


def test_at_the_share_while_the_sequencer_is_behind_a_head_is_refused(
    front: FrontState,
) -> None:
    """Moved connections wait on the channel for the sequencer (a stall, or work queued
    ahead): the bodies admitted wait to be read, and so would this one."""
    fill_share(front)
    front.board.write_body_in(0.0)
    front.unread = lambda: 4096
    status, error, _ = admit(front)
    assert status == 503 and error is not None and error["code"] == -32005


def test_a_full_queue_refuses_whatever_the_share(front: FrontState) -> None:
    front.board.write_room(QUEUE - BATCH_EVENTS + 1, 50_000.0)
    status, error, admitted = admit(front)
    assert (status, admitted) == (503, 0)
    assert error is not None and "ingest queue is full" in str(error["message"])


def test_small_bodies_are_not_judged_from_the_head(front: FrontState) -> None:
    front.board.write_room(QUEUE, 50_000.0)
    handoff.ADMITTED.set(0)
    assert front.admit(head(SHED_BODY_BYTES - 1)) is None  # read whole, counted exactly
    assert handoff.take_admitted() == 0


def test_the_queue_is_crowded_past_a_quarter_admissions_in_flight_included() -> None:
    """`Board.crowded`, from the board as the writer writes it: while it says so, the
    sequencer sends each connection back to the front after its answer
    (`FrontProcess.goes_home`), so the next head is read, and refused if need be, there."""
    board = Board.create()
    board.write_taken(0)
    board.write_forwarded(0)
    board.write_room(QUEUE // CROWDED_SHARE, 1.0)
    assert not board.crowded(QUEUE)
    board.write_forwarded(1)  # one admitted event in flight tips it over
    assert board.crowded(QUEUE)
