"""The checkpoint JSON object (prover/checkpoint.py): round trip and malformed objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.checkpoint import (
    CHECKPOINT_KEYS,
    Checkpoint,
    CheckpointStatus,
    checkpoint_from_json,
    checkpoint_json,
)
from prover.errors import InvalidFieldError
from prover.types import MAX_TREE_SIZE

checkpoints = st.builds(
    Checkpoint,
    index=st.integers(0, 2**256 - 1),
    size=st.integers(0, MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    committed_at=st.integers(0, 2**64 - 1),
    challenge_ends=st.integers(0, 2**64 - 1),
    status=st.sampled_from(CheckpointStatus),
)
tx_hashes = st.none() | st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())


@given(checkpoints, tx_hashes)
def test_round_trip_through_json_text(cp: Checkpoint, l1_tx: str | None) -> None:
    obj = checkpoint_json(cp, l1_tx)
    assert set(obj) == CHECKPOINT_KEYS
    assert checkpoint_from_json(json.loads(json.dumps(obj))) == (cp, l1_tx)


def test_the_documented_shape() -> None:
    cp = Checkpoint(3, 1200, b"\xab" * 32, 1_795_000_000, 1_795_000_600, CheckpointStatus.PENDING)
    assert checkpoint_json(cp) == {
        "index": 3,
        "treeSize": 1200,
        "root": "0x" + "ab" * 32,
        "committedAt": 1_795_000_000,
        "challengeEnds": 1_795_000_600,
        "status": "pending",
        "l1Tx": None,
    }


GOOD: dict[str, Any] = checkpoint_json(
    Checkpoint(1, 2, bytes(32), 3, 4, CheckpointStatus.FINAL), "0x" + "11" * 32
)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"index": -1}, "checkpoint.index"),
        ({"index": True}, "checkpoint.index"),
        ({"treeSize": MAX_TREE_SIZE + 1}, "checkpoint.treeSize"),
        ({"treeSize": 1.0}, "checkpoint.treeSize"),
        ({"root": "0x" + "00" * 31 + "  "}, "checkpoint.root"),
        ({"root": None}, "checkpoint.root"),
        ({"committedAt": "1 "}, "checkpoint.committedAt"),
        ({"challengeEnds": 2**64}, "checkpoint.challengeEnds"),
        ({"status": "FINAL"}, "checkpoint.status"),
        ({"status": 2}, "checkpoint.status"),
        ({"status": "finalized"}, "checkpoint.status"),
        ({"l1Tx": "0x12"}, "checkpoint.l1Tx"),
        ({"extra": 1}, "checkpoint.extra"),
    ],
)
def test_malformed_objects_name_the_key(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFieldError) as e:
        checkpoint_from_json({**GOOD, **change})
    assert e.value.field == field


@pytest.mark.parametrize("key", sorted(CHECKPOINT_KEYS - {"l1Tx"}))
def test_missing_keys(key: str) -> None:
    obj = dict(GOOD)
    del obj[key]
    with pytest.raises(InvalidFieldError, match="missing") as e:
        checkpoint_from_json(obj)
    assert e.value.field == f"checkpoint.{key}"


def test_not_an_object() -> None:
    for bad in (None, [], "x", 1):
        with pytest.raises(InvalidFieldError) as e:
            checkpoint_from_json(bad, "cp")
        assert e.value.field == "cp"
