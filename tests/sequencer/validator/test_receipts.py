"""validator_watchReceipt's checks: the sequencer's signature, the audit path, the placement."""

from __future__ import annotations

import pytest

from l1_contracts.accounts import DEV_KEYS
from prover.eip712 import Domain, address_of_private_key, compute_receipt_digest, sign_digest
from prover.errors import InclusionProofError, InvalidFieldError, InvalidSignatureError
from prover.receipt_tree import compute_receipt_tree
from sequencer.validator.receipts import (
    decode_watched,
    encode_watched,
    parse_watch,
    watched_from_evidence,
)

DOMAIN = Domain(31337, b"\x5f" * 20)
SEQUENCER = address_of_private_key(DEV_KEYS[0])
LEAVES = [bytes([i]) * 32 for i in range(1, 6)]


def receipt(
    key: bytes = DEV_KEYS[0], first: int = 10, deadline: int = 2_000_000_000
) -> tuple[dict, list]:
    tree = compute_receipt_tree(LEAVES)
    v, r, s = sign_digest(
        key, compute_receipt_digest(DOMAIN.separator, first, len(LEAVES), tree.root, deadline)
    )
    rec = {
        "firstSeq": first,
        "count": len(LEAVES),
        "leavesRoot": "0x" + tree.root.hex(),
        "deadline": deadline,
        "signature": "0x" + (r + s + bytes([v])).hex(),
        "sequencer": "0x" + SEQUENCER.hex(),
    }
    placements = [
        {
            "seq": first + i,
            "leafHash": "0x" + leaf.hex(),
            "index": i,
            "path": ["0x" + h.hex() for h in tree.paths[i]],
        }
        for i, leaf in enumerate(LEAVES)
    ]
    return rec, placements


def test_a_good_receipt_is_kept_and_round_trips() -> None:
    rec, placements = receipt()
    watched = [parse_watch(rec, p, DOMAIN.separator, SEQUENCER) for p in placements]
    assert [w.seq for w in watched] == list(range(10, 15))
    assert decode_watched(encode_watched(watched)) == watched


def test_not_signed_by_the_sequencer() -> None:
    rec, placements = receipt(key=DEV_KEYS[2])
    with pytest.raises(InvalidSignatureError, match="not the sequencer"):
        parse_watch(rec, placements[0], DOMAIN.separator, SEQUENCER)
    rec, placements = receipt()
    with pytest.raises(InvalidSignatureError):
        parse_watch(rec, placements[0], Domain(1, b"\x5f" * 20).separator, SEQUENCER)


def test_path_or_placement_that_does_not_fit() -> None:
    rec, placements = receipt()
    with pytest.raises(InclusionProofError):
        parse_watch(
            rec, dict(placements[1], leafHash="0x" + "77" * 32), DOMAIN.separator, SEQUENCER
        )
    with pytest.raises(InclusionProofError):
        parse_watch(rec, dict(placements[1], index=2, seq=12), DOMAIN.separator, SEQUENCER)
    with pytest.raises(InvalidFieldError, match=r"placement\.seq"):
        parse_watch(rec, dict(placements[1], seq=99), DOMAIN.separator, SEQUENCER)
    with pytest.raises(InvalidFieldError, match=r"receipt\.signature"):
        parse_watch(dict(rec, signature="0x12"), placements[0], DOMAIN.separator, SEQUENCER)
    with pytest.raises(InvalidFieldError, match="unknown keys"):
        parse_watch(dict(rec, extra=1), placements[0], DOMAIN.separator, SEQUENCER)


def _evidence_block(first: int = 10) -> dict:
    rec, _ = receipt(first=first)
    return {
        "number": 3,
        "start": first,
        "end": first + len(LEAVES),
        "receipt": rec,
        "leafHashes": ["0x" + leaf.hex() for leaf in LEAVES],
    }


@pytest.mark.parametrize("seq", range(10, 15))
def test_a_rollbacks_evidence_becomes_the_watched_receipt_a_client_would_hand_over(
    seq: int,
) -> None:
    block = _evidence_block()
    w = watched_from_evidence(block, seq, "validator.rollback.00000001.0000000000000010")
    # The same share of the receipt `validator_watchReceipt` accepts for that leaf.
    rec, placements = receipt()
    handed = parse_watch(rec, placements[seq - 10], DOMAIN.separator, SEQUENCER)
    assert (w.receipt, w.seq, w.leaf_hash, w.index, w.path) == (
        handed.receipt,
        handed.seq,
        handed.leaf_hash,
        handed.index,
        handed.path,
    )
    assert w.evidence == "validator.rollback.00000001.0000000000000010"
    assert decode_watched(encode_watched([w])) == [w]  # kept across a restart


def test_evidence_whose_leaves_are_not_the_receipts_is_refused() -> None:
    block = _evidence_block()
    block["leafHashes"][2] = "0x" + "ee" * 32
    with pytest.raises(InvalidFieldError, match="leaves do not match its receipt"):
        watched_from_evidence(block, 11, "k")
