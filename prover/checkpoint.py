"""Checkpoints and DA challenges as the rollup contract reports them (docs/spec.md §7, §9).

The codes are the contract's own (`STATUS_*` and `DA_*` constants of Rollup.vy; a test reads
them from the source and compares). The JSON object of a checkpoint is the one
`attest_getCheckpoint` answers with and the validator's read API serves:

    {"index": 3, "treeSize": 1200, "root": "0x…", "committedAt": 1795000000,
     "challengeEnds": 1795000600, "status": "pending", "l1Tx": "0x…" | null}
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from prover.errors import InvalidFieldError
from prover.types import MAX_TREE_SIZE
from prover.wire import UINT64_MAX, UINT256_MAX, hex0x, parse_hash32, parse_uint


class CheckpointStatus(IntEnum):
    """What `checkpoints(i)` says of checkpoint i, at the node's latest block (docs/spec.md §7)."""

    NONE = 0
    """No such checkpoint (yet)."""
    PENDING = 1
    """Committed; its challenge window is open, or a DA challenge holds it."""
    FINAL = 2
    """Its window closed unchallenged: light clients may trust it."""
    REVERTED = 3
    """A fraud or DA proof reverted it (or an earlier checkpoint): never trusted again."""

    @property
    def label(self) -> str:
        """The lower-case name JSON answers and logs use (``"pending"``)."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: object, field: str = "status") -> CheckpointStatus:
        """Inverse of `label`; `InvalidFieldError` for anything else."""
        for status in cls:
            if label == status.label:
                return status
        raise InvalidFieldError(
            field, f"must be one of {[s.label for s in cls]}, got {label!r:.40}"
        )


def status_label(code: int) -> str:
    """The label of a status code read from a node, or the code itself when it is none of
    `CheckpointStatus` (for messages about a node that answers nonsense)."""
    try:
        return CheckpointStatus(code).label
    except ValueError:
        return str(code)


class DAState(IntEnum):
    """State of a data-availability challenge (docs/spec.md §9, the contract's ``DA_*`` codes)."""

    NONE = 0
    """No such challenge."""
    OPEN = 1
    """Opened; the sequencer must reveal the records before the deadline."""
    ANSWERED = 2
    """The sequencer revealed the records; the challenger's bond went to it."""
    UPHELD = 3
    """The deadline passed unanswered: the checkpoint was reverted and the sequencer slashed."""
    VOID = 4
    """The checkpoint was reverted by another proof first; the challenger's bond is returned."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One row of the contract's `checkpoints(index)` read interface (docs/spec.md §7)."""

    index: int
    """Position in the contract's checkpoint list."""
    size: int
    """Tree size committed."""
    root: bytes
    """RFC 9162 root of the tree of `size` leaves."""
    committed_at: int
    """L1 block timestamp of the commit (Unix seconds)."""
    challenge_ends: int
    """End of the challenge window (Unix seconds)."""
    status: CheckpointStatus
    """At the block it was read at."""


CHECKPOINT_KEYS: Final[frozenset[str]] = frozenset(
    ("index", "treeSize", "root", "committedAt", "challengeEnds", "status", "l1Tx")
)


def checkpoint_json(cp: Checkpoint, l1_tx: str | None = None) -> dict[str, Any]:
    """The JSON object of a checkpoint (module docstring); `l1_tx` is the 0x hash of the
    transaction that committed it, when the server knows it."""
    return {
        "index": cp.index,
        "treeSize": cp.size,
        "root": hex0x(cp.root),
        "committedAt": cp.committed_at,
        "challengeEnds": cp.challenge_ends,
        "status": CheckpointStatus(cp.status).label,
        "l1Tx": l1_tx,
    }


def _get(obj: dict[str, Any], key: str, field: str) -> Any:
    if key not in obj:
        raise InvalidFieldError(f"{field}.{key}", "is missing")
    return obj[key]


def checkpoint_from_json(obj: object, field: str = "checkpoint") -> tuple[Checkpoint, str | None]:
    """Inverse of `checkpoint_json`: the row and the ``l1Tx``; `InvalidFieldError` naming the
    first malformed key (``checkpoint.root``)."""
    if type(obj) is not dict:
        raise InvalidFieldError(field, "must be a JSON object")
    for key in obj:
        if key not in CHECKPOINT_KEYS:
            raise InvalidFieldError(f"{field}.{key}", "is not a key of a checkpoint object")
    l1_tx = obj.get("l1Tx")
    if l1_tx is not None:
        parse_hash32(l1_tx, f"{field}.l1Tx")
    cp = Checkpoint(
        parse_uint(_get(obj, "index", field), f"{field}.index", maximum=UINT256_MAX),
        parse_uint(_get(obj, "treeSize", field), f"{field}.treeSize", maximum=MAX_TREE_SIZE),
        parse_hash32(_get(obj, "root", field), f"{field}.root"),
        parse_uint(_get(obj, "committedAt", field), f"{field}.committedAt", maximum=UINT64_MAX),
        parse_uint(_get(obj, "challengeEnds", field), f"{field}.challengeEnds", maximum=UINT64_MAX),
        CheckpointStatus.from_label(_get(obj, "status", field), f"{field}.status"),
    )
    return cp, l1_tx
