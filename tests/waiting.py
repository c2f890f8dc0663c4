"""Polling for end-to-end tests, which watch other processes (no clock of ours to fake)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 40.0, what: str = "condition") -> Any:
    """The first truthy value of `predicate()`, polled every 0.2 s; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
