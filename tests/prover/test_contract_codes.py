"""The codes prover defines once agree with the contract's own constants (Rollup.vy).

The contract cannot import Python, so this test is what keeps the two in step: every
``STATUS_*``, ``RULE_*`` and ``DA_*`` constant of Rollup.vy is a member of the matching prover
enum with the same name and value, and the other way round. It also holds the record size.
"""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path

import pytest

from prover.checkpoint import CheckpointStatus, DAState
from prover.record import RECORD_SIZE
from prover.validity import FraudRule

ROLLUP_VY = Path(__file__).resolve().parents[2] / "l1_contracts" / "Rollup.vy"


def _constants(prefix: str) -> dict[str, int]:
    source = ROLLUP_VY.read_text()
    found = re.findall(rf"^{prefix}([A-Z_]+): constant\(uint8\) = (\d+)$", source, re.MULTILINE)
    return {name: int(value) for name, value in found}


@pytest.mark.parametrize(
    ("prefix", "enum"),
    [("STATUS_", CheckpointStatus), ("RULE_", FraudRule), ("DA_", DAState)],
)
def test_enum_matches_the_contract_constants(prefix: str, enum: type[IntEnum]) -> None:
    constants = _constants(prefix)
    assert constants, f"no {prefix}* constants found in {ROLLUP_VY}"
    assert constants == {member.name: member.value for member in enum}


def test_record_size_matches_the_contract() -> None:
    # The contract refuses any other length with this message (revealRecords, fraud proofs).
    assert f'"rollup: record must be {RECORD_SIZE} bytes"' in ROLLUP_VY.read_text()


def test_status_labels() -> None:
    assert [s.label for s in CheckpointStatus] == ["none", "pending", "final", "reverted"]
    for s in CheckpointStatus:
        assert CheckpointStatus.from_label(s.label) is s
