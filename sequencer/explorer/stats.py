"""What the dashboard shows that no single read of the store can: the ingest rate over the
last minutes (a ring of tree-size samples) and the followers that replicate from this node."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import trio

from sequencer.rpc.jsonrpc import RpcContext

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S: Final = 1.0
"""One tree-size sample a second: reading the in-memory head costs well under a microsecond."""
SAMPLES_KEPT: Final = 600
"""Ten minutes of samples, the window of the dashboard's chart."""
FOLLOWER_FORGET_S: Final = 120.0
"""A follower not seen for this long is dropped from the list."""
_AGENT_PREFIX: Final = "attest-validator/"


class IngestSampler:
    """(unix ms, tree size) every `SAMPLE_INTERVAL_S`, the last `SAMPLES_KEPT` of them."""

    def __init__(
        self, tree_size: Callable[[], int], *, interval_s: float = SAMPLE_INTERVAL_S
    ) -> None:
        self._tree_size = tree_size
        self.interval_s = interval_s
        self.samples: deque[tuple[int, int]] = deque(maxlen=SAMPLES_KEPT)
        self.after_sample: list[Callable[[], Awaitable[None]]] = []
        """Awaited after each sample (the live dashboard's publisher); a failing one is logged
        and does not stop the sampling."""

    def sample(self) -> None:
        self.samples.append((int(time.time() * 1000), self._tree_size()))

    def since(self, after_ms: int) -> list[list[int]]:
        """Samples taken after `after_ms` (all of them for 0), oldest first."""
        return [[t, n] for t, n in self.samples if t > after_ms]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.sample()
        task_status.started()
        while True:
            await trio.sleep(self.interval_s)
            self.sample()
            for hook in self.after_sample:
                try:
                    await hook()
                except Exception:
                    log.exception("explorer: a hook after the ingest sample failed")


@dataclass(slots=True)
class _Seen:
    name: str
    block: int
    last_seen: float


class FollowerTracker:
    """Followers seen replicating (fetching blocks with their events) from this node.

    A validator names itself in its User-Agent (``attest-validator/<L1 address>``); any other
    client is known by its address and port. Only a follower's own claim: this list is for
    the dashboard, never for a decision.
    """

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def observe(self, ctx: RpcContext, block: int) -> None:
        agent = ctx.headers.get("user-agent", "")
        if agent.startswith(_AGENT_PREFIX):
            key = name = agent[len(_AGENT_PREFIX) :].split(" ", 1)[0][:64]
        else:
            host, port = ctx.client or ("?", 0)
            key, name = f"{host}:{port}", f"client {host}:{port}"
        seen = self._seen.get(key)
        now = time.monotonic()
        if seen is None:
            self._seen[key] = _Seen(name, block, now)
        else:
            seen.block = max(seen.block, block)
            seen.last_seen = now

    def followers(self, latest_block: int | None) -> list[dict[str, Any]]:
        now = time.monotonic()
        for key in [k for k, s in self._seen.items() if now - s.last_seen > FOLLOWER_FORGET_S]:
            del self._seen[key]
        return [
            {
                "name": s.name,
                "block": s.block,
                "lagBlocks": None if latest_block is None else max(0, latest_block - s.block),
                "lastSeenS": round(now - s.last_seen, 1),
            }
            for s in sorted(self._seen.values(), key=lambda s: s.name)
        ]
