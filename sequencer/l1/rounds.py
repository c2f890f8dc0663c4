"""Rounds against L1: run a step every interval, back off on failure, keep the health.

The committer and the validator's watcher both talk to an L1 that may be down, slow or
reverting; neither may stop because of it. One round is one `step()` under a deadline; a
failure (`L1Error`, or the deadline) doubles the wait up to a ceiling, a success resets it, and
`up`, `last_error`, `last_success` and `completed` are what `/health` and `attest_status` report.
`completed` counts the rounds that ran to their end: a test that must show "nothing happened"
waits for it to grow instead of sleeping (a stalled loop would otherwise pass).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import trio

from prover.errors import L1Error

log = logging.getLogger(__name__)

T = TypeVar("T")

STEP_TIMEOUT_S: Final = 150.0
"""Deadline of one round: reads, a transaction and its receipt."""
MAX_BACKOFF_S: Final = 60.0


class L1Rounds:
    """Health of the rounds so far; `run` is the loop."""

    def __init__(
        self,
        interval_s: float,
        up_gauge: Any,
        failures: Any | None = None,
        *,
        max_backoff_s: float = MAX_BACKOFF_S,
        completed_counter: Any | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.up = False
        self.last_error: str | None = None
        self.last_success: float | None = None
        self.completed = 0
        """Rounds whose step returned without an L1 error, since start."""
        self._up_gauge = up_gauge
        self._failures = failures
        self._completed_counter = completed_counter

    async def run(
        self,
        step: Callable[[], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Call `step` every interval until cancelled. Ready at once: L1 may well be down."""
        task_status.started()
        delay = self.interval_s
        while True:
            try:
                with trio.fail_after(STEP_TIMEOUT_S):
                    await step()
            except (L1Error, trio.TooSlowError) as exc:
                self.up = False
                self.last_error = str(exc) or "L1 call timed out"
                self._up_gauge.set(0)
                if self._failures is not None:
                    self._failures.inc()
                delay = min(max(delay, self.interval_s) * 2, self.max_backoff_s)
                log.warning("L1 round failed, retrying in %.1f s: %s", delay, self.last_error)
            else:
                self.up = True
                self.last_error = None
                self.last_success = time.time()
                self._up_gauge.set(1)
                self.completed += 1
                if self._completed_counter is not None:
                    self._completed_counter.inc()
                delay = self.interval_s
            await trio.sleep(delay)


async def wait_for_l1(read: Callable[[], T], attempts: int = 30) -> T:
    """`read()` from L1, retrying once a second while the node starts; fails clearly after."""
    for attempt in range(attempts):
        try:
            return await trio.to_thread.run_sync(read, abandon_on_cancel=True)
        except L1Error as exc:
            if attempt == attempts - 1:
                raise
            log.warning("waiting for L1: %s", exc)
            await trio.sleep(1)
    raise AssertionError("unreachable")
