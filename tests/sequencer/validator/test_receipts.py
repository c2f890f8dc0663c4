"""validator_watchReceipt's checks: the sequencer's signature, the audit path, the placement."""

from __future__ import annotations

import pytest

from l1_contracts.accounts import DEV_KEYS
from prover.eip712 import Domain, address_of_private_key, compute_receipt_digest, sign_digest
from prover.errors import InclusionProofError, InvalidFieldError, InvalidSignatureError
from prover.receipt_tree import compute_receipt_tree
from sequencer.validator.receipts import decode_watched, encode_watched, parse_watch

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
