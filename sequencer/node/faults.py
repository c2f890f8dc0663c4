"""Deliberate misbehaviour, for demonstrations and the validator's end-to-end tests.

`attest devnet --inject FAULT` (or `attest serve --inject FAULT`) makes the sequencer break one
protocol rule once, in the first group commit it can (at least two new records; for `replay`,
the first group holding a signed event). Each fault is one a validator must catch and prove on
L1 (docs/spec.md §8):

| FAULT           | what the sequencer does                                            | rule        |
|-----------------|--------------------------------------------------------------------|-------------|
| `bad-signature` | gives an unsigned record a signature that recovers to no submitter | 2           |
| `wrong-seq`     | writes a record whose seq field is not its position                | 1           |
| `time-travel`   | writes a record timestamped before its predecessor                 | 4           |
| `replay`        | writes a signed record a second time (same submitter and nonce)    | 5           |
| `withhold-data` | refuses to serve one group's records and to reveal them on L1      | DA          |
| `break-receipt` | signs a receipt over leaves, then writes a different record        | receipt     |

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
        if self.fired or self.fault is Fault.BREAK_RECEIPT:
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
        if len(records) < 2:
            return False
        if self.fault is Fault.BAD_SIGNATURE:
            i = next((k for k, r in enumerate(records) if record_v(r) == 0), 0)
            forged = _with(records[i], slice(V_OFFSET, V_OFFSET + 1), b"\x1b")
            forged = _with(forged, R_BYTES, b"\x01" * 32)
            records[i] = _with(forged, S_BYTES, b"\x01" * 32)
            return self._fire(f"forged the signature of seq {first_seq + i}")
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
    def breaks_seq(self) -> bool:
        return self.fault is Fault.WRONG_SEQ

    def _fire(self, what: str) -> bool:
        self.fired = True
        log.warning("FAULT INJECTED (%s): %s", self.fault, what)
        return True


def _with(record: bytes, where: slice, value: bytes) -> bytes:
    assert len(record) == RECORD_SIZE
    return record[: where.start] + value + record[where.stop :]
