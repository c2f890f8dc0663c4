"""The validator's check of forced records (docs/spec.md §7.3, §8 rule 2 for v = 1).

A record marked forced (v = 1) is judged against L1, not against the record alone: it must
hash to the inbox entry its nonce word names, and L1 must have recorded that entry's inclusion
at exactly its seq in the checkpoint where it is new (the commit proved it there). A forged,
duplicated or unproven forced record is a rule 2 violation, proven with `proveBadSignature`
(one step: the contract reads the inbox back itself). Inbox order and the deadline need no
validator: L1 refuses commits that break them.
"""

from __future__ import annotations

from web3.contract import Contract

from l1_contracts.contract import inbox_slot
from prover.forced import forced_index, is_forced
from prover.validity import Violation, check_forced


def forced_violation(
    rollup: Contract, record: bytes, seq: int, checkpoint_index: int
) -> Violation | None:
    """Rule 2 for `record` at `seq`, new in `checkpoint_index`, if it is forced; blocking
    (reads the inbox slot from L1 for forced records only)."""
    if not is_forced(record):
        return None
    slot = inbox_slot(rollup, forced_index(record))  # any uint256 index reads (zero if unused)
    entry_hash = slot.entry_hash if slot.deadline else None
    return check_forced(record, seq, checkpoint_index, entry_hash, slot.included_at)
