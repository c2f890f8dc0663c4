"""Fault injection: each fault fires when the README and the docstring say it does."""

from __future__ import annotations

from prover.record import parse_event, stamp_record
from prover.validity import FraudRule, check_record
from sequencer.config import DEV_ADDRESS
from sequencer.node.faults import Fault, FaultInjector
from sequencer.node.writer import make_templates
from tests.sequencer.events import unsigned

DOMAIN_SEPARATOR = b"\x01" * 32


def _group(n: int, first_seq: int = 0) -> tuple[list[bytes], list[bytes | None]]:
    events = [parse_event(unsigned(i)) for i in range(n)]
    templates, metas = make_templates(events, [DEV_ADDRESS] * n)
    return [
        stamp_record(t, first_seq + i, 1_800_000_000_000) for i, t in enumerate(templates)
    ], metas


def test_bad_signature_fires_on_a_single_event() -> None:
    # The README's example submits one event at a time: the fault must not wait for a group
    # of two.
    records, metas = _group(1, first_seq=7)
    faults = FaultInjector(Fault.BAD_SIGNATURE)
    assert check_record(records[0], 7, DOMAIN_SEPARATOR) == []
    assert faults.tamper(records, metas, 7) is True
    assert [v.rule for v in check_record(records[0], 7, DOMAIN_SEPARATOR)] == [
        FraudRule.BAD_SIGNATURE
    ]
    # Once only.
    again, again_metas = _group(1, first_seq=8)
    assert faults.tamper(again, again_metas, 8) is False


def test_faults_that_break_a_neighbour_wait_for_two_records() -> None:
    for fault in (Fault.WRONG_SEQ, Fault.TIME_TRAVEL, Fault.WITHHOLD_DATA):
        faults = FaultInjector(fault)
        assert faults.tamper(*_group(1), 0) is False, fault
        assert faults.tamper(*_group(2), 0) is True, fault


def test_the_banner_line_names_the_fault_and_the_rule() -> None:
    line = FaultInjector(Fault.BAD_SIGNATURE).describe()
    assert line.startswith("bad-signature armed: breaks rule 2")
    assert all(FaultInjector(f).describe().startswith(f"{f} armed") for f in Fault)
