"""Process lifecycle shared by every service (`attest serve`, `attest validate`)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import trio

log = logging.getLogger(__name__)


async def serve_until_signalled(
    start: Callable[..., Awaitable[None]], announce: Callable[[Any], None]
) -> None:
    """Run the service `start` (started with `nursery.start`) until SIGTERM or SIGINT.

    `announce` gets what the service reported at start and prints the ready line, which
    process runners (tests, `attest devnet`) wait for.
    """
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            announce(await nursery.start(start))
            async for signum in signals:
                log.info("shutting down on signal %d", signum)
                nursery.cancel_scope.cancel()
                break
