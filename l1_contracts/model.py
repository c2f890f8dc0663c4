"""A plain Python model of Rollup.vy's checkpoint life cycle, for the stateful test.

It says what the contract must do in the most obvious way (lists, flags, linear scans) so a
Hypothesis state machine can compare the two after every step: statuses, counts,
latestFinalized, the bond, freezing. Proof *verification* is not modelled (the unit tests cover
it); the model takes a fraud claim as true and decides only whether the contract must accept
it now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prover.checkpoint import CheckpointStatus, DAState
from prover.types import MAX_TREE_SIZE


class ModelRevert(Exception):
    """The contract must revert with this reason (the "rollup: ..." message)."""


@dataclass
class ModelCheckpoint:
    size: int
    committed_at: int
    challenge_ends: int
    prev_size: int
    """Size of the previous live checkpoint when this one was committed."""
    reverted: bool = False


@dataclass
class ModelChallenge:
    checkpoint: int
    start: int
    end: int
    deadline: int
    challenger: str
    bond: int
    state: DAState = DAState.OPEN


@dataclass
class RollupModel:
    challenge_window: int
    da_window: int
    min_bond: int
    challenger_bond: int
    max_da_range: int = 256
    checkpoints: list[ModelCheckpoint] = field(default_factory=list)
    challenges: list[ModelChallenge] = field(default_factory=list)
    bond: int = 0
    burned: int = 0
    frozen: bool = False
    hold_from: int = 0
    """Lowest checkpoint challenged since no DA challenge was open (see docs/contract.md)."""

    # --- derived state -----------------------------------------------------------------------

    def live(self) -> list[int]:
        return [i for i, c in enumerate(self.checkpoints) if not c.reverted]

    def last_index(self) -> int | None:
        live = self.live()
        return live[-1] if live else None

    def last_size(self) -> int:
        last = self.last_index()
        return 0 if last is None else self.checkpoints[last].size

    def open_count(self) -> int:
        return sum(1 for ch in self.challenges if ch.state == DAState.OPEN)

    def held(self, index: int) -> bool:
        return self.open_count() > 0 and self.hold_from <= index

    def status(self, index: int, now: int) -> CheckpointStatus:
        if index >= len(self.checkpoints):
            return CheckpointStatus.NONE
        c = self.checkpoints[index]
        if c.reverted:
            return CheckpointStatus.REVERTED
        if now >= c.challenge_ends and not self.held(index):
            return CheckpointStatus.FINAL
        return CheckpointStatus.PENDING

    def latest_finalized(self, now: int) -> int | None:
        final = [
            i for i in range(len(self.checkpoints)) if self.status(i, now) == CheckpointStatus.FINAL
        ]
        return final[-1] if final else None

    # --- transitions -------------------------------------------------------------------------

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise ModelRevert("rollup: deposit must be positive")
        self.bond += amount

    def commit(self, size: int, now: int) -> int:
        if self.frozen:
            raise ModelRevert("rollup: frozen")
        if self.bond < self.min_bond:
            raise ModelRevert("rollup: bond below minimum")
        if size > MAX_TREE_SIZE:
            raise ModelRevert("rollup: size above 2**40")
        if size <= self.last_size():
            raise ModelRevert("rollup: size must grow")
        self.checkpoints.append(
            ModelCheckpoint(size, now, now + self.challenge_window, self.last_size())
        )
        return len(self.checkpoints) - 1

    def _revert_from(self, index: int) -> None:
        for c in self.checkpoints[index:]:
            c.reverted = True

    def _slash(self) -> int:
        reward = self.bond // 2
        self.burned += self.bond - reward
        self.bond = 0
        self.frozen = True
        return reward

    def prove_fraud(self, index: int, seq: int, now: int) -> int:
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
        self._revert_from(index)
        return self._slash()

    def recover(self) -> None:
        if not self.frozen:
            raise ModelRevert("rollup: not frozen")
        if self.bond < self.min_bond:
            raise ModelRevert("rollup: sequencer has not re-bonded")
        self.frozen = False

    def open_da(self, index: int, start: int, end: int, challenger: str, now: int) -> int:
        if index >= len(self.checkpoints):
            raise ModelRevert("rollup: no such checkpoint")
        c = self.checkpoints[index]
        if c.reverted:
            raise ModelRevert("rollup: checkpoint is reverted")
        if now >= c.challenge_ends:
            raise ModelRevert("rollup: challenge window is over")
        if end <= start:
            raise ModelRevert("rollup: empty range")
        if end - start > self.max_da_range:
            raise ModelRevert("rollup: range above maxDARange")
        if end > c.size:
            raise ModelRevert("rollup: range beyond the checkpoint size")
        if self.open_count() == 0 or index < self.hold_from:
            self.hold_from = index
        self.challenges.append(
            ModelChallenge(
                index, start, end, now + self.da_window, challenger, self.challenger_bond
            )
        )
        return len(self.challenges) - 1

    def reveal(self, cid: int, now: int) -> None:
        ch = self.challenges[cid] if cid < len(self.challenges) else None
        if ch is None or ch.state != DAState.OPEN:
            raise ModelRevert("rollup: challenge is not open")
        if now > ch.deadline:
            raise ModelRevert("rollup: response window is over")
        if self.checkpoints[ch.checkpoint].reverted:
            raise ModelRevert("rollup: checkpoint is reverted")
        ch.state = DAState.ANSWERED
        self.bond += ch.bond

    def resolve(self, cid: int, now: int) -> int:
        """Resolve an unanswered challenge; returns what the challenger is paid."""
        ch = self.challenges[cid] if cid < len(self.challenges) else None
        if ch is None or ch.state != DAState.OPEN:
            raise ModelRevert("rollup: challenge is not open")
        if self.checkpoints[ch.checkpoint].reverted:
            ch.state = DAState.VOID
            return ch.bond
        if now <= ch.deadline:
            raise ModelRevert("rollup: response window not over")
        ch.state = DAState.UPHELD
        self._revert_from(ch.checkpoint)
        return self._slash() + ch.bond
