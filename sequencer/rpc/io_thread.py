"""Two trio loops in one process: the main loop and the HTTP I/O loop (issue 12 item 4).

Under 200 writers the main loop's scheduler round (every ready connection gets a step, the
submissions' checks run 2 ms at a time) is 12-20 ms of CPU at p99, and a read that becomes
ready waits for the rest of it. `serve_http(io_thread=True)` accepts connections on a second
loop in a thread of its own, which answers `/health`, `attest_status` and refusals from the
head itself; a connection moves to the main loop with its first request that needs the main
loop, and comes back between requests while clients are being refused (docs/design.md,
"Backpressure in milliseconds"). So a monitoring client's connection, which only ever asks for
`/health`, never waits for a round of the writers'. `attest serve` runs this only with
`[serve] front_process = false`: by default a process of its own does this job
(`sequencer.node.front`).

This module holds what the two loops share: each one's `TrioToken`, the way to call into the
other (`run_on_main`, `run_on_io`: a callback, never a blocking wait, that is silently dropped
once that loop has ended), and how the main loop stops the I/O loop (`stop`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

import trio

#: How long the main loop waits, on shutdown, for the I/O loop to close its connections.
STOP_TIMEOUT_S: Final = 5.0


class Loops:
    """The main loop's and the I/O loop's tokens; `stop` cancels the I/O loop."""

    def __init__(self, main_token: trio.lowlevel.TrioToken) -> None:
        self.main_token = main_token
        self.io_token: trio.lowlevel.TrioToken | None = None
        self._io_scope: trio.CancelScope | None = None
        self._stop_asked = False
        self.moved = 0
        """Connections moved to the main loop so far (the I/O loop's count)."""
        self.returned = 0
        """Connections sent back to the I/O loop to hold off so far (the main loop's count)."""

    def enter_io(self, scope: trio.CancelScope) -> None:
        """Runs on the I/O loop as it starts: `scope` is what `stop` cancels."""
        self.io_token = trio.lowlevel.current_trio_token()
        self._io_scope = scope
        # `stop` sets the flag, then reads the token: one of the two sees the other.
        if self._stop_asked:
            scope.cancel()

    def run_on_main(self, fn: Callable[..., object], *args: Any) -> bool:
        """Call `fn(*args)` soon on the main loop; False if that loop has ended."""
        try:
            self.main_token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            return False
        return True

    def run_on_io(self, fn: Callable[..., object], *args: Any) -> bool:
        """Call `fn(*args)` soon on the I/O loop; False if it has ended (or not started)."""
        token = self.io_token
        if token is None:
            return False
        try:
            token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            return False
        return True

    def stop(self) -> None:
        """Cancel the I/O loop (called on the main loop); it closes its connections and ends."""
        self._stop_asked = True
        self.run_on_io(self._stop_io)

    def _stop_io(self) -> None:
        if self._io_scope is not None:
            self._io_scope.cancel()


def start_thread(name: str, run: Callable[[], None]) -> threading.Thread:
    """A daemon thread running `run`: daemon so that a wedged I/O loop cannot keep the
    process alive past the shutdown watchdog (`sequencer.runtime`)."""
    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
