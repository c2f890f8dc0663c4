"""A plain Python model of Rollup.vy's (v2) checkpoint life cycle, for the stateful test.

It says what the contract must do in the most obvious way (lists, flags, linear scans) so a
Hypothesis state machine can compare the two after every step: statuses, counts,
latestFinalized, the bond, credits, freezing, epochs and the DA holds. Proof *verification* is
not modelled (the unit tests cover it); the model takes a fraud claim as true and decides only
whether the contract must accept it now, and what it does then.

Holds are modelled one per challenge (an open challenge holds its checkpoint and every later
one; an answered one until its reveal time plus the post-reveal window). The contract tracks
them in HOLD_SLOTS slots and merges beyond that; the state machine keeps fewer active.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from prover.checkpoint import CheckpointStatus, DAState
from prover.types import MAX_TREE_SIZE

HOLD_SLOTS: Final[int] = 16
REVEAL_EXEC_BASE: Final[int] = 225_000
REVEAL_EXEC_PER_RECORD: Final[int] = 4_500
REVEAL_FLOOR_BASE: Final[int] = 80_000
REVEAL_FLOOR_PER_RECORD: Final[int] = 7_500


def reveal_gas(count: int) -> int:
    """The contract's estimate of what answering a DA challenge on `count` records costs."""
    return max(
        REVEAL_EXEC_BASE + REVEAL_EXEC_PER_RECORD * count,
        REVEAL_FLOOR_BASE + REVEAL_FLOOR_PER_RECORD * count,
    )


DA_BOND_BASEFEE_MULTIPLE: Final[int] = 2
FORCED_INCLUSION_GAS: Final[int] = 60_000
MAX_FORCED_PER_COMMIT: Final[int] = 16


def forced_fee(basefee: int) -> int:
    """The contract's forcedFee() at `basefee` (docs/spec.md §7.3)."""
    return max(FORCED_INCLUSION_GAS, DA_BOND_BASEFEE_MULTIPLE * basefee * FORCED_INCLUSION_GAS)


class ModelRevert(Exception):
    """The contract must revert with this reason (the "rollup: ..." message)."""


@dataclass
class ModelCheckpoint:
    size: int
    committed_at: int
    challenge_ends: int
    prev_size: int
    """Size of the previous live checkpoint when this one was committed."""
    bound: int
    """The timestamp bound (ms) the commit declared."""
    forced_included: int = 0
    """Inbox entries included by the live log up to and including this checkpoint."""
    reverted: bool = False


@dataclass
class ModelForced:
    """One inbox entry (docs/spec.md §7.3)."""

    posted_at: int
    deadline: int
    included_at: tuple[int, int] | None = None
    """(seq, checkpoint index) of the latest commit that proved it."""


@dataclass
class ModelChallenge:
    checkpoint: int
    start: int
    end: int
    deadline: int
    challenger: str
    bond: int
    state: DAState = DAState.OPEN
    hold_until: int = 0
    """After a reveal: the end of its post-reveal hold."""


@dataclass
class RollupModel:
    challenge_window: int
    da_window: int
    post_reveal_window: int
    min_bond: int
    challenger_bond: int
    receipt_horizon: int
    sequencer: str
    max_da_range: int = 256
    checkpoints: list[ModelCheckpoint] = field(default_factory=list)
    challenges: list[ModelChallenge] = field(default_factory=list)
    bond: int = 0
    burned: int = 0
    credits: dict[str, int] = field(default_factory=dict)
    frozen: bool = False
    frozen_at: int = 0
    epoch: int = 0
    epoch_start: int = 0
    exit_requested_at: int = 0
    taken: set[tuple[int, int]] = field(default_factory=set)
    """(checkpoint, chunk) pairs already challenged."""
    force_inclusion_window: int = 30
    inbox: list[ModelForced] = field(default_factory=list)

    # --- derived state -----------------------------------------------------------------------

    def live(self) -> list[int]:
        return [i for i, c in enumerate(self.checkpoints) if not c.reverted]

    def last_index(self) -> int | None:
        live = self.live()
        return live[-1] if live else None

    def last_size(self) -> int:
        last = self.last_index()
        return 0 if last is None else self.checkpoints[last].size

    def forced_included(self) -> int:
        """Inbox entries the latest live checkpoint has included (a prefix of the inbox)."""
        last = self.last_index()
        return 0 if last is None else self.checkpoints[last].forced_included

    def overdue(self, now: int) -> list[int]:
        """Inbox entries not included by the live log whose deadline has passed."""
        return [
            j
            for j in range(self.forced_included(), len(self.inbox))
            if self.inbox[j].deadline <= now
        ]

    def open_count(self) -> int:
        return sum(1 for ch in self.challenges if ch.state == DAState.OPEN)

    def open_bonds(self) -> int:
        return sum(ch.bond for ch in self.challenges if ch.state == DAState.OPEN)

    def holding(self, now: int) -> list[ModelChallenge]:
        """Challenges that hold their checkpoint (and every later one) pending now."""
        return [
            ch
            for ch in self.challenges
            if not self.checkpoints[ch.checkpoint].reverted
            and (ch.state == DAState.OPEN or (ch.state == DAState.ANSWERED and ch.hold_until > now))
        ]

    def held(self, index: int, now: int) -> bool:
        return any(ch.checkpoint <= index for ch in self.holding(now))

    def status(self, index: int, now: int) -> CheckpointStatus:
        if index >= len(self.checkpoints):
            return CheckpointStatus.NONE
        c = self.checkpoints[index]
        if c.reverted:
            return CheckpointStatus.REVERTED
        if now >= c.challenge_ends and not self.held(index, now):
            return CheckpointStatus.FINAL
        return CheckpointStatus.PENDING

    def latest_finalized(self, now: int) -> int | None:
        final = [
            i for i in range(len(self.checkpoints)) if self.status(i, now) == CheckpointStatus.FINAL
        ]
        return final[-1] if final else None

    def finality_bound(self, index: int) -> int:
        """When checkpoint `index` is final at the latest if every challenge is answered in
        time (docs/contract.md): challengeEnds + daResponseWindow + postRevealWindow."""
        return self.checkpoints[index].challenge_ends + self.da_window + self.post_reveal_window

    def exit_delay(self) -> int:
        """W + D + P + receiptHorizon (docs/contract.md, exit)."""
        return (
            self.challenge_window + self.da_window + self.post_reveal_window + self.receipt_horizon
        )

    def da_bond(self, count: int, basefee: int) -> int:
        return max(self.challenger_bond, DA_BOND_BASEFEE_MULTIPLE * basefee * reveal_gas(count))

    # --- transitions -------------------------------------------------------------------------

    def _credit(self, who: str, amount: int) -> None:
        if amount:
            self.credits[who] = self.credits.get(who, 0) + amount

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise ModelRevert("rollup: deposit must be positive")
        self.bond += amount

    def post_forced(self, now: int, value: int, basefee: int) -> int:
        """postForced(): returns the entry's index."""
        if self.frozen:
            raise ModelRevert("rollup: frozen")
        if self.exit_requested_at:
            raise ModelRevert("rollup: sequencer is exiting")
        if value < forced_fee(basefee):
            raise ModelRevert("rollup: value below the fee")
        self.inbox.append(ModelForced(now, now + self.force_inclusion_window))
        self.bond += value
        return len(self.inbox) - 1

    def commit(
        self, size: int, now: int, bound: int, forced: Sequence[tuple[int, int]] = ()
    ) -> int:
        """commit() with `forced` = (inbox index the record claims, seq) per forced record it
        proves; a record that names another entry than the next one does not match it."""
        if self.frozen:
            raise ModelRevert("rollup: frozen")
        if self.exit_requested_at:
            raise ModelRevert("rollup: sequencer is exiting")
        if self.bond < self.min_bond:
            raise ModelRevert("rollup: bond below minimum")
        if bound > now * 1000:
            raise ModelRevert("rollup: timestamp bound is after the block time")
        if size > MAX_TREE_SIZE:
            raise ModelRevert("rollup: size above 2**52")
        if size <= self.last_size():
            raise ModelRevert("rollup: size must grow")
        if len(forced) > MAX_FORCED_PER_COMMIT:
            raise ModelRevert("rollup: forced records malformed or more than MAX_FORCED_PER_COMMIT")
        included, next_seq = self.forced_included(), self.last_size()
        for j, seq in forced:
            if j != included or j >= len(self.inbox):
                raise ModelRevert("rollup: forced record does not match the inbox")
            if not next_seq <= seq < size:
                raise ModelRevert("rollup: forced record out of order")
            included, next_seq = included + 1, seq + 1
        if (
            len(forced) < MAX_FORCED_PER_COMMIT
            and included < len(self.inbox)
            and self.inbox[included].deadline <= now
        ):
            raise ModelRevert("rollup: forced event overdue")
        index = len(self.checkpoints)
        for j, seq in forced:
            self.inbox[j].included_at = (seq, index)
        self.checkpoints.append(
            ModelCheckpoint(
                size, now, now + self.challenge_window, self.last_size(), bound, included
            )
        )
        return index

    def _punish(self, to: str, refund: int, now: int) -> int:
        """Revert every pending checkpoint, slash, freeze; returns the reward."""
        if self.frozen:
            raise ModelRevert("rollup: frozen")
        for i in range(len(self.checkpoints)):
            if self.status(i, now) == CheckpointStatus.PENDING:
                for c in self.checkpoints[i:]:
                    c.reverted = True
                break
        reward = self.bond // 2
        self.burned += self.bond - reward
        self.bond = 0
        self.frozen = True
        self.frozen_at = now
        self._credit(to, reward + refund)
        return reward

    def prove_fraud(self, index: int, seq: int, now: int, prover: str) -> int:
        """A valid fraud proof about record `seq` against checkpoint `index`; returns the reward."""
        if index >= len(self.checkpoints):
            raise ModelRevert("rollup: no such checkpoint")
        if self.status(index, now) != CheckpointStatus.PENDING:
            raise ModelRevert("rollup: checkpoint is not pending")
        c = self.checkpoints[index]
        if seq < c.prev_size:
            raise ModelRevert("rollup: record not new in this checkpoint")
        if seq >= c.size:
            raise ModelRevert("rollup: record index outside the checkpoint")
        return self._punish(prover, 0, now)

    def recover(self, now: int) -> None:
        if not self.frozen:
            raise ModelRevert("rollup: not frozen")
        if self.bond < self.min_bond:
            raise ModelRevert("rollup: sequencer has not re-bonded")
        if now < self.frozen_at + self.receipt_horizon:
            raise ModelRevert("rollup: receipt horizon not over")
        self.frozen = False
        self.epoch += 1
        self.epoch_start = now

    def open_da(
        self, index: int, start: int, end: int, challenger: str, now: int, value: int, basefee: int
    ) -> int:
        if index >= len(self.checkpoints):
            raise ModelRevert("rollup: no such checkpoint")
        c = self.checkpoints[index]
        if c.reverted:
            raise ModelRevert("rollup: checkpoint is reverted")
        if now >= c.challenge_ends:
            raise ModelRevert("rollup: challenge window is over")
        if start >= c.size:
            raise ModelRevert("rollup: range beyond the checkpoint size")
        if start % self.max_da_range:
            raise ModelRevert("rollup: range must start at a chunk boundary")
        if end != min(start + self.max_da_range, c.size):
            raise ModelRevert("rollup: range must be one whole chunk")
        if (index, start // self.max_da_range) in self.taken:
            raise ModelRevert("rollup: range already challenged")
        if value < self.da_bond(end - start, basefee):
            raise ModelRevert("rollup: value below the DA bond")
        self.taken.add((index, start // self.max_da_range))
        self.challenges.append(
            ModelChallenge(index, start, end, now + self.da_window, challenger, value)
        )
        return len(self.challenges) - 1

    def reveal(self, cid: int, now: int, basefee: int) -> int:
        """Answer challenge `cid`; returns the compensation added to the bond."""
        ch = self.challenges[cid] if cid < len(self.challenges) else None
        if ch is None or ch.state != DAState.OPEN:
            raise ModelRevert("rollup: challenge is not open")
        if now > ch.deadline:
            raise ModelRevert("rollup: response window is over")
        if self.checkpoints[ch.checkpoint].reverted:
            raise ModelRevert("rollup: checkpoint is reverted")
        comp = min(ch.bond, basefee * reveal_gas(ch.end - ch.start))
        ch.state = DAState.ANSWERED
        ch.hold_until = now + self.post_reveal_window
        self.bond += comp
        self._credit(ch.challenger, ch.bond - comp)
        return comp

    def resolve(self, cid: int, now: int) -> None:
        """Resolve an unanswered challenge (upheld) or one whose checkpoint was reverted (void)."""
        ch = self.challenges[cid] if cid < len(self.challenges) else None
        if ch is None or ch.state != DAState.OPEN:
            raise ModelRevert("rollup: challenge is not open")
        if self.checkpoints[ch.checkpoint].reverted:
            ch.state = DAState.VOID
            self._credit(ch.challenger, ch.bond)
            return
        if now <= ch.deadline:
            raise ModelRevert("rollup: response window not over")
        # Punish while the challenge is still open: its hold keeps its checkpoint (and every
        # later one) pending, so the revert takes them. Marked upheld first, the checkpoint
        # would look final and escape the revert (the contract keeps the hold for the same
        # reason). An open challenge's checkpoint is never final, so this never reverts one.
        self._punish(ch.challenger, ch.bond, now)
        ch.state = DAState.UPHELD

    def request_exit(self, now: int) -> None:
        if self.exit_requested_at:
            raise ModelRevert("rollup: exit already requested")
        self.exit_requested_at = now

    def withdraw(self, now: int) -> int:
        """Credit the whole bond to the sequencer; returns the amount."""
        if not self.exit_requested_at:
            raise ModelRevert("rollup: no exit requested")
        if now < self.exit_requested_at + self.exit_delay():
            raise ModelRevert("rollup: exit delay not over")
        last = self.last_index()
        if (
            not self.frozen
            and last is not None
            and self.status(last, now) != CheckpointStatus.FINAL
        ):
            raise ModelRevert("rollup: a checkpoint is still pending")
        amount, self.bond, self.exit_requested_at = self.bond, 0, 0
        self._credit(self.sequencer, amount)
        return amount

    def claim(self, who: str) -> int:
        amount = self.credits.get(who, 0)
        if amount == 0:
            raise ModelRevert("rollup: nothing to claim")
        self.credits[who] = 0
        return amount
