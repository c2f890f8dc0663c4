"""Deliberate misbehaviour, for demonstrations and the validator's end-to-end tests.

`attest devnet --inject FAULT` (or `attest serve --inject FAULT`) makes the sequencer break one
protocol rule once, in the first group commit it can: `bad-signature` in the very first one
(a single `attest_submit` is enough), `replay` in the first group holding a signed event, the
others in the first group of at least two records (they break a record relative to its
neighbour, or a receipt over several leaves). Each fault is one a validator must catch and
prove on L1 (docs/spec.md §8-§9):

| FAULT           | what the sequencer does                                            | rule        |
|-----------------|--------------------------------------------------------------------|-------------|
| `bad-signature` | gives an unsigned record a signature that recovers to no submitter | 2           |
| `wrong-seq`     | writes a record whose seq field is not its position                | 1           |
| `time-travel`   | writes a record timestamped before its predecessor                 | 4           |
| `replay`        | writes a signed record a second time (same submitter and nonce)    | 5           |
| `withhold-data` | refuses to serve one group's records and to reveal them on L1      | DA          |
| `break-receipt` | signs a receipt over leaves, then writes a different record        | receipt     |
| `ignore-forced` | never logs the L1 inbox's forced events (censors them)             | §7.3 deadline |

`ignore-forced` breaks no validity rule: it is censorship, which the contract answers by
refusing every commit once a forced event is overdue; the receipts the sequencer signed since
then break at their deadlines and slash it (docs/spec.md §7.3).

Never enable this outside a devnet: it is a way to lose the bond.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from prover.record import (
    DIGEST_BYTES,
    R_BYTES,
    RECORD_SIZE,
    S_BYTES,
    SEQ_BYTES,
    TIMESTAMP_BYTES,
    V_OFFSET,
    record_timestamp,
    record_v,
)

log = logging.getLogger(__name__)


class Fault(enum.StrEnum):
    BAD_SIGNATURE = "bad-signature"
    WRONG_SEQ = "wrong-seq"
    TIME_TRAVEL = "time-travel"
    REPLAY = "replay"
    WITHHOLD_DATA = "withhold-data"
    BREAK_RECEIPT = "break-receipt"
    IGNORE_FORCED = "ignore-forced"


FAULT_RULES: dict[Fault, str] = {
    Fault.BAD_SIGNATURE: "rule 2 (signature)",
    Fault.WRONG_SEQ: "rule 1 (seq)",
    Fault.TIME_TRAVEL: "rule 4 (time)",
    Fault.REPLAY: "rule 5 (replay)",
    Fault.WITHHOLD_DATA: "data availability",
    Fault.BREAK_RECEIPT: "a receipt",
    Fault.IGNORE_FORCED: "the forced-inclusion deadline",
}
"""What each fault breaks, as the table above says."""


@dataclass(slots=True)
class FaultInjector:
    """Breaks one rule once. The writer calls it around building a group; reads ask it what to
    withhold."""

    fault: Fault
    fired: bool = False
    withheld: tuple[int, int] | None = None
    """[start, end) of the records the sequencer refuses to serve or reveal."""

    def tamper(self, records: list[bytes], metas: list[bytes | None], first_seq: int) -> bool:
        """Break a rule in the group about to be hashed (in place). True when it fired."""
        if self.fired or self.fault in (Fault.BREAK_RECEIPT, Fault.IGNORE_FORCED):
            return False
        if self.fault is Fault.REPLAY:
            signed = [i for i, r in enumerate(records) if record_v(r) != 0]
            if not signed:
                return False
            original = records[signed[0]]
            copy = _with(original, SEQ_BYTES, (first_seq + len(records)).to_bytes(8, "big"))
            records.append(copy)
            metas.append(metas[signed[0]])
            return self._fire(
                f"replayed seq {first_seq + signed[0]} as {first_seq + len(records) - 1}"
            )
        if self.fault is Fault.BAD_SIGNATURE and records:
            # One record is enough: the README's example submits single events.
            i = next((k for k, r in enumerate(records) if record_v(r) == 0), 0)
            forged = _with(records[i], slice(V_OFFSET, V_OFFSET + 1), b"\x1b")
            forged = _with(forged, R_BYTES, b"\x01" * 32)
            records[i] = _with(forged, S_BYTES, b"\x01" * 32)
            return self._fire(f"forged the signature of seq {first_seq + i}")
        if len(records) < 2:
            return False
        if self.fault is Fault.WRONG_SEQ:
            records[1] = _with(records[1], SEQ_BYTES, (first_seq + 1 + 1000).to_bytes(8, "big"))
            return self._fire(f"wrote seq {first_seq + 1 + 1000} at position {first_seq + 1}")
        if self.fault is Fault.TIME_TRAVEL:
            earlier = record_timestamp(records[0]) - 60_000
            records[1] = _with(records[1], TIMESTAMP_BYTES, earlier.to_bytes(8, "big"))
            return self._fire(f"back-dated seq {first_seq + 1} by 60 s")
        if self.fault is Fault.WITHHOLD_DATA:
            self.withheld = (first_seq, first_seq + len(records))
            return self._fire(f"withholding records {first_seq}..{first_seq + len(records) - 1}")
        raise AssertionError(f"unhandled fault {self.fault}")

    def describe(self) -> str:
        """One line for the devnet banner: what is armed and when it fires."""
        when = {
            Fault.BAD_SIGNATURE: "in the first group commit (one event is enough)",
            Fault.REPLAY: "in the first group with a signed event",
        }.get(self.fault, "in the first group commit of two or more events")
        rule = FAULT_RULES[self.fault]
        if self.fault is Fault.IGNORE_FORCED:
            return (
                f"{self.fault} armed: never logs a forced event; once one is overdue L1 refuses "
                "every commit, and the receipts signed since then break and slash the bond"
            )
        return f"{self.fault} armed: breaks {rule} once, {when}; a validator proves it and the bond is slashed"

    def break_receipt(self, records: list[bytes], first_seq: int) -> list[bytes] | None:
        """After the receipt is signed: the records actually written, when they differ."""
        if self.fired or self.fault is not Fault.BREAK_RECEIPT or len(records) < 2:
            return None
        written = list(records)
        # Another digest in an unsigned record: the receipt's promise is broken and nothing
        # else is (a changed timestamp would also be time travel; a signed record's signature).
        i = next((k for k, r in enumerate(records) if record_v(r) == 0), 0)
        other = bytes(b ^ 0xFF for b in written[i][DIGEST_BYTES])
        written[i] = _with(written[i], DIGEST_BYTES, other)
        self._fire(f"wrote a different record at seq {first_seq + i} than its receipt promises")
        return written

    def is_withheld(self, start: int, end: int) -> bool:
        """True when [start, end) overlaps the withheld records."""
        w = self.withheld
        return w is not None and start < w[1] and w[0] < end

    @property
    def ignores_forced(self) -> bool:
        """True when the sequencer censors the L1 inbox (`sequencer.node.forced` asks)."""
        return self.fault is Fault.IGNORE_FORCED

    @property
    def breaks_seq(self) -> bool:
        return self.fault is Fault.WRONG_SEQ

    def _fire(self, what: str) -> bool:
        self.fired = True
        log.warning("FAULT INJECTED (%s): %s", self.fault, what)
        return True


def _with(record: bytes, where: slice, value: bytes) -> bytes:
    assert len(record) == RECORD_SIZE
    return record[: where.start] + value + record[where.stop :]
