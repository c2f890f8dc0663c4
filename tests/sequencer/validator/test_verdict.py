"""The watcher's verdict on one checkpoint, from a real replica (no L1 call is needed)."""

from __future__ import annotations

from pathlib import Path

from l1_contracts.accounts import DEV_KEYS
from prover.checkpoint import Checkpoint, CheckpointStatus
from prover.record import encode_record
from prover.validity import FraudRule
from sequencer.validator.metrics import ValidatorMetrics
from sequencer.validator.prove import ValidatorL1
from sequencer.validator.replicate import Replica
from sequencer.validator.watch import Tracked, Watcher
from state_db.store import Store
from tests.sequencer.validator.test_replicate import SEP, SEQUENCER, T0, Source, unsigned

ADDRESS = "0x" + "5f" * 20


def _watcher(replica: Replica) -> Watcher:
    l1 = ValidatorL1("http://127.0.0.1:9", ADDRESS, DEV_KEYS[1])  # never called here
    return Watcher(
        replica,
        l1,
        ValidatorMetrics(),
        params={"maxDARange": 256, "challengerBond": 1},
        domain_separator=SEP,
        sequencer=bytes(20),
    )


def _cp(index: int, size: int, root: bytes, committed_at: int) -> Checkpoint:
    return Checkpoint(index, size, root, committed_at, committed_at + 40, CheckpointStatus.PENDING)


def test_verdicts(tmp_path: Path) -> None:
    source = Source(tmp_path / "source")
    source.append_block([encode_record(unsigned(i)) for i in range(4)])
    source.append_block([encode_record(unsigned(i)) for i in range(4, 8)])
    replica = Replica(Store.open(tmp_path / "replica"), SEP, SEQUENCER)
    replica.ingest(source.blocks())
    w = _watcher(replica)
    late = (T0 + 7) // 1000 + 1  # committed after every record's timestamp
    root8 = replica.store.root_at(8)

    agrees = Tracked(_cp(0, 8, root8, late), 0, T0 + 7)
    w._verdict(agrees)
    assert agrees.verdict == "agrees"

    mismatch = Tracked(_cp(1, 8, b"\x11" * 32, late), 0, T0 + 7)
    w._verdict(mismatch)
    assert mismatch.verdict == "root-mismatch"

    # Rule 4b: record 4 onwards are new in a checkpoint whose declared bound is before they
    # were received.
    early = Tracked(_cp(2, 8, root8, (T0 + 3) // 1000), 4, T0 + 3)
    w._verdict(early)
    assert early.verdict == "violation" and early.violation is not None
    assert (early.violation.rule, early.violation.seq) == (FraudRule.FUTURE_TIMESTAMP, 4)
    # The same records, old in the checkpoint (prevSize 8 would leave none new): no violation
    # of rule 4b can be charged to a checkpoint that does not newly cover them.
    none_new = Tracked(_cp(3, 8, root8, (T0 + 3) // 1000), 8, T0 + 3)
    w._verdict(none_new)
    assert none_new.verdict == "agrees"
    # Contract v2: the bound the commit declared is what rule 4b judges, not the block time.
    # Committed late, but declaring T0 + 6: record 7 (T0 + 7) breaks the checkpoint's promise.
    bound_short = Tracked(_cp(4, 8, root8, late), 4, T0 + 6)
    w._verdict(bound_short)
    assert bound_short.violation is not None
    assert (bound_short.violation.rule, bound_short.violation.seq) == (
        FraudRule.FUTURE_TIMESTAMP,
        7,
    )
