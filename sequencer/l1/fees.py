"""The EIP-1559 fee policy of every transaction the services send (pure: no I/O).

From `eth_feeHistory` over the last `history_blocks` blocks: the priority fee is the
`priority_percentile` of the tips paid (gas-weighted, per block; the median over blocks), at
least `min_priority_fee`; the max fee is `base_fee_multiplier` times the next block's base fee
plus that tip — room for the base fee to rise 12.5% a block for several full blocks — and never
more than the operator's ceiling `max_fee_per_gas`.

A transaction not mined within `replace_after_blocks` blocks is replaced: same nonce, fees from
a fresh history but at least `REPLACEMENT_BUMP` above the last ones (geth and anvil refuse a
replacement below +10% on both fees), up to the ceiling. At the ceiling it waits, and says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

GWEI: Final = 10**9

REPLACEMENT_BUMP: Final = Fraction(9, 8)
"""+12.5% on both fees: above the +10% geth's and anvil's pools demand of a replacement."""


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """How the services bid for block space. The defaults suit a public chain's quiet hours;
    `max_fee_per_gas` is the operator's ceiling (docs/design.md, fees)."""

    max_fee_per_gas: int = 500 * GWEI
    """Never bid more per gas than this, whatever the chain asks."""
    priority_percentile: float = 50.0
    history_blocks: int = 10
    base_fee_multiplier: int = 2
    min_priority_fee: int = GWEI // 10
    replace_after_blocks: int = 3
    """Replace a transaction still unmined this many blocks after it was sent."""

    def __post_init__(self) -> None:
        if self.max_fee_per_gas <= 0 or self.min_priority_fee < 0 or self.replace_after_blocks < 1:
            raise ValueError("fee policy: ceiling and replacement interval must be positive")
        if not 0 <= self.priority_percentile <= 100 or self.history_blocks < 1:
            raise ValueError("fee policy: percentile in 0..100, at least one block of history")


def compute_fees(history: Mapping[str, Any], policy: FeePolicy) -> Fees:
    """Fees for a transaction sent now, from an `eth_feeHistory` answer (hex or int fields)
    asked with the percentile `[policy.priority_percentile]`."""
    base_fees = [_int(b) for b in history["baseFeePerGas"]]
    if not base_fees:
        raise ValueError("eth_feeHistory answered no base fee")
    next_base = base_fees[-1]  # the spec appends the base fee of the block after the newest
    tips = [_int(r[0]) for r in history.get("reward") or [] if r]
    paid = [t for t in tips if t > 0]  # empty blocks report 0: no information
    tip = max(policy.min_priority_fee, int(statistics.median(paid)) if paid else 0)
    max_fee = min(policy.max_fee_per_gas, next_base * policy.base_fee_multiplier + tip)
    return Fees(max_fee, min(tip, max_fee))


def bump_fees(last: Fees, fresh: Fees, policy: FeePolicy) -> Fees | None:
    """Fees for replacing a transaction sent with `last`: the higher of the fresh fees and
    `last` raised by `REPLACEMENT_BUMP`, within the ceiling. None when the ceiling leaves no
    room for a valid replacement (the caller waits with `last`)."""
    tip = max(fresh.max_priority_fee_per_gas, _bumped(last.max_priority_fee_per_gas))
    max_fee = max(fresh.max_fee_per_gas, _bumped(last.max_fee_per_gas), tip)
    if max_fee > policy.max_fee_per_gas:
        max_fee = policy.max_fee_per_gas
        tip = min(tip, max_fee)
    # Verify the replacement beats the last one by the bump on both fees, or it would be refused.
    if max_fee < _bumped(last.max_fee_per_gas) or tip < _bumped(last.max_priority_fee_per_gas):
        return None
    return Fees(max_fee, tip)


def fee_history_params(policy: FeePolicy) -> Sequence[Any]:
    """The `eth_feeHistory` parameters `compute_fees` expects."""
    return [policy.history_blocks, "latest", [policy.priority_percentile]]


def _bumped(value: int) -> int:
    return -(-value * REPLACEMENT_BUMP.numerator // REPLACEMENT_BUMP.denominator) or 1


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)
