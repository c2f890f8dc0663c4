"""Process lifecycle shared by every service (`attest serve`, `attest validate`)."""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final

import trio

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S: Final = 10.0
"""How long an orderly shutdown may take before the process ends itself anyway."""

EXIT_SHUTDOWN_TIMEOUT: Final = 70
"""Exit status when the orderly shutdown did not finish in time (EX_SOFTWARE)."""


def raise_open_files_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit where allowed; the soft limit now.

    Every connection, LevelDB table file, thread wake-up pipe and worker pipe is a descriptor;
    the soft limit is often far below what the hard limit allows (1,024 of 524,288 on many
    Linux systems).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    target = max(soft, 1 << 20) if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning(
                "could not raise the open files limit", extra={"soft": soft, "error": str(exc)}
            )
    return soft


async def serve_until_signalled(
    start: Callable[..., Awaitable[None]],
    announce: Callable[[Any], None],
    *,
    shutdown_timeout_s: float = SHUTDOWN_TIMEOUT_S,
) -> None:
    """Run the service `start` (started with `nursery.start`) until SIGTERM or SIGINT.

    `announce` gets what the service reported at start and prints the ready line, which
    process runners (tests, `attest devnet`) wait for.

    A signal cancels the service. The shutdown is bounded: if the service has not returned
    `shutdown_timeout_s` later, the process exits at once with
    `EXIT_SHUTDOWN_TIMEOUT`, from a watchdog thread, so that not even a blocked event loop or a
    stuck disk write can keep it alive. That is safe for the log: nothing is acknowledged
    before its write batch is synced (the same guarantee a SIGKILL relies on).
    """
    watchdog: threading.Timer | None = None
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        try:
            async with trio.open_nursery() as nursery:
                announce(await nursery.start(start))
                async for signum in signals:
                    log.info("shutting down on signal %d", signum)
                    watchdog = _start_watchdog(shutdown_timeout_s)
                    nursery.cancel_scope.cancel()
                    break
        finally:
            if watchdog is not None:
                watchdog.cancel()


def _start_watchdog(timeout_s: float) -> threading.Timer:
    timer = threading.Timer(timeout_s, _hard_exit, args=(f"shutdown took over {timeout_s:g} s",))
    timer.daemon = True
    timer.start()
    return timer


def _hard_exit(why: str) -> None:
    log.critical("exiting without an orderly shutdown: %s", why)
    sys.stderr.write(f"exiting without an orderly shutdown: {why}\n")
    sys.stderr.flush()
    os._exit(EXIT_SHUTDOWN_TIMEOUT)
