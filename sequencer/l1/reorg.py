"""Seeing L1 reorganise: the hashes of the last blocks seen, compared with the canonical chain.

Each observation of L1's head is checked against the blocks remembered: when the head's
parent is not the block remembered at that height (or the head went back), the chain was
reorganised; the remembered blocks are compared with the canonical ones from the newest down
until one matches, and the depth is how many were replaced. The committer and the validator
re-read what they cached from L1 above the fork point (`Reorg.fork_block`): a commit, a DA
answer or a fraud proof mined in a block that is no longer canonical is re-judged and sent again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

KEEP_BLOCKS: Final = 128
"""Block hashes remembered: deeper reorgs than this are reported with this depth."""


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    hash: bytes
    parent: bytes
    timestamp: int


@dataclass(frozen=True, slots=True)
class Reorg:
    depth: int
    """Blocks of the chain seen before that are no longer canonical."""
    fork_block: int
    """The last block both chains share: everything above it was re-judged."""
    old_head: int
    new_head: int


class ReorgDetector:
    """Feed it every head seen (`observe`); it returns a `Reorg` when the chain changed under it."""

    def __init__(self) -> None:
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.reorgs = 0
        """Reorganisations seen since start."""
        self.deepest = 0

    def observe(self, head: Block, canonical_hash: Callable[[int], bytes | None]) -> Reorg | None:
        """Record `head`; `canonical_hash(n)` reads block n's hash on the chain now (None if
        the chain is shorter). Returns the reorganisation that happened, if any."""
        seen = self._blocks
        reorg: Reorg | None = None
        if seen:
            old_head = next(reversed(seen))
            if head.number <= old_head:
                # The same head again, or a head at or below one seen: the chain went back (an
                # `evm_revert`), or a block we saw was replaced.
                changed = head.number < old_head or seen[old_head] != head.hash
            elif head.number - 1 in seen:
                changed = seen[head.number - 1] != head.parent
            else:
                changed = canonical_hash(old_head) != seen[old_head]
            if changed:
                fork: int | None = None
                for number in sorted(seen, reverse=True):
                    if number > head.number:
                        continue
                    if number == head.number:
                        now: bytes | None = head.hash
                    elif number == head.number - 1:
                        now = head.parent
                    else:
                        now = canonical_hash(number)
                        if now is None:
                            # The node does not have a block below the head it just gave:
                            # it is reorganising right now. Judge at the next observation.
                            return None
                    if now == seen[number]:
                        fork = number
                        break
                if fork is None:
                    fork = min(seen) - 1
                depth = old_head - fork
                if depth > 0:
                    reorg = Reorg(depth, fork, old_head, head.number)
                    self.reorgs += 1
                    self.deepest = max(self.deepest, depth)
                    log.warning(
                        "L1 reorganised: %d block(s) above %d replaced",
                        depth,
                        fork,
                        extra={
                            "depth": depth,
                            "fork_block": fork,
                            "old_head": old_head,
                            "new_head": head.number,
                        },
                    )
                for number in [n for n in seen if n > fork]:
                    del seen[number]
        seen[head.number] = head.hash
        seen.move_to_end(head.number)
        while len(seen) > KEEP_BLOCKS:
            seen.popitem(last=False)
        return reorg
