"""Polling for end-to-end tests, which watch other processes (no clock of ours to fake)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prover.jsonrpc import NOT_FOUND, JsonRpcError


def wait_for(predicate: Callable[[], Any], timeout: float = 40.0, what: str = "condition") -> Any:
    """The first truthy value of `predicate()`, polled every 0.2 s; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_rounds(
    rounds: Callable[[], int], n: int = 3, timeout: float = 40.0, what: str = "rounds"
) -> int:
    """Wait until the counter `rounds()` grew by `n` from now; its value then.

    For "nothing happened" checks: after this, `n` whole rounds of the loop ran and the test may
    assert that none of them acted. A sleep instead would pass as well if the loop had stalled.
    """
    start = rounds()
    value: int = wait_for(lambda: (r := rounds()) >= start + n and r, timeout, f"{n} more {what}")
    return value


def recorded_checkpoint(rpc: Any, index: int) -> Any:
    """A node's `attest_getCheckpoint(index)`, or None while it answers -32004: a sequencer or
    follower learns a checkpoint from L1 in its next round, so it may lag L1 (and another
    node) by one."""
    try:
        return rpc.call("attest_getCheckpoint", index)
    except JsonRpcError as exc:
        if exc.code != NOT_FOUND:
            raise
        return None
