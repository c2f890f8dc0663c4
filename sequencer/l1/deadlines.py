"""Receipt deadlines against the time a commit is taking (pure: no I/O).

A receipt promises a covering checkpoint on L1 by its deadline (docs/spec.md §5); missing it
is slashable. The committer judges, every second, how long getting a commit mined would take
now — the longest of the last commit's latency, the age of the commit in flight and the age of
L1's head (a chain that stopped producing blocks mines nothing), plus one checkpoint interval —
and compares it with what is left:

* the nearest open deadline is *at risk* when less than that estimate plus the operator's
  margin is left: the committer raises the fee of the commit in flight towards the ceiling
  (`urgent_fees`), and `/health`, `/metrics` and the log say so;
* while a deadline is at risk, or while a new receipt's whole deadline would not cover the
  estimate plus the margin, the sequencer stops promising: submissions are refused with
  `DEADLINE_AT_RISK` (-32011, `data.retryAfterMs`) rather than answered with a receipt it could
  not keep (docs/spec.md §10.5). Events already acknowledged keep their receipts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.l1.fees import FeePolicy, Fees, bump_fees


@dataclass(frozen=True, slots=True)
class DeadlineView:
    """The judgement of one moment, for `/health` and the gate in front of the writer."""

    estimate_s: float
    """How long a commit sent now is expected to take to be mined."""
    nearest_left_s: float | None
    """Seconds left on the nearest open receipt deadline; None when none is open."""
    at_risk: bool
    """The nearest open deadline may be missed (less than estimate + margin left)."""
    refuse: str | None
    """Why new receipts are refused now; None while the sequencer can keep its promises."""


def judge(
    *,
    now: float,
    nearest_deadline: int | None,
    receipt_deadline_s: float,
    margin_s: float,
    interval_s: float,
    last_latency_s: float | None,
    in_flight_s: float | None,
    head_age_s: float | None,
) -> DeadlineView:
    """Compare the nearest open deadline and a new receipt's deadline with the commit time."""
    estimate = interval_s + max(last_latency_s or 0.0, in_flight_s or 0.0, head_age_s or 0.0)
    left = None if nearest_deadline is None else nearest_deadline - now
    at_risk = left is not None and left < estimate + margin_s
    refuse: str | None = None
    if at_risk:
        assert left is not None
        refuse = (
            f"a receipt deadline is at risk ({left:.0f} s left, a commit takes ~{estimate:.0f} s "
            f"now): no new receipt is promised until L1 catches up"
        )
    elif receipt_deadline_s < estimate + margin_s:
        refuse = (
            f"a commit takes ~{estimate:.0f} s now (L1's head is {head_age_s or 0:.0f} s old): "
            f"a receipt's {receipt_deadline_s:g} s deadline could not be kept"
        )
    return DeadlineView(
        round(estimate, 3), None if left is None else round(left, 3), at_risk, refuse
    )


def urgent_fees(
    last: Fees, fresh: Fees, policy: FeePolicy, *, left_s: float, window_s: float
) -> Fees | None:
    """Fees for replacing a transaction that must be mined within `left_s` seconds.

    Beyond the normal schedule (`bump_fees`): within `window_s` of the deadline the max fee
    climbs linearly from the fresh bid to the operator's ceiling, reached when no time is left,
    and the tip doubles with it (capped by the max fee). None when no valid replacement fits
    under the ceiling.
    """
    urgency = min(1.0, max(0.0, 1.0 - left_s / window_s)) if window_s > 0 else 1.0
    ceiling = policy.max_fee_per_gas
    target = fresh.max_fee_per_gas + int((ceiling - fresh.max_fee_per_gas) * urgency)
    tip = int(fresh.max_priority_fee_per_gas * (1 + urgency))
    pushed = Fees(max(target, fresh.max_fee_per_gas), min(max(tip, 1), max(target, 1)))
    return bump_fees(last, pushed, policy)
