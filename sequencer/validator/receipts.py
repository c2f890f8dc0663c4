"""Receipts handed to the validator (docs/spec.md §5): intake, storage, and what each one needs.

A service that got a receipt from the sequencer hands it over with its placement (the answer of
`attest_submit`: ``{"receipt": {...}, "seq", "leafHash", "index", "path"}``) through
`validator_watchReceipt(receipt, placement)`. The validator checks that the sequencer signed it
(EIP-712 in the rollup's domain) and that the path puts the leaf at `index` under `leavesRoot`,
then keeps it (state key ``validator.receipts``) until a final checkpoint holds the promised
leaf. The watcher proves a *mismatch* when a live checkpoint holds another record at
``firstSeq + index``, and a *missed deadline* when L1 time passed `deadline` and no live
checkpoint committed by then covers ``firstSeq + count``.

The sequencer's block receipts a rollback kept as evidence (`Replica.roll_back`) are watched
the same way, without anyone handing them over: once the replica holds, at a seq a removed
block promised, a record other than the promised one, that leaf's share of the block receipt
becomes a watched receipt (`watched_from_evidence`), and the watcher proves the mismatch
(docs/validator.md, "Rollback").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from l1_contracts.contract import SignedReceipt
from prover.eip712 import compute_receipt_digest, recover_signer
from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.receipt_tree import compute_receipt_tree, verify_receipt_path
from prover.wire import (
    hex0x,
    parse_hash32,
    parse_hashes,
    parse_object,
    parse_signature_bytes,
    parse_uint,
)

RECEIPTS_KEY: Final[str] = "validator.receipts"
"""State key: JSON list of every watched receipt and its status."""

WATCHING: Final[str] = "watching"
KEPT: Final[str] = "kept"
PROVEN_MISMATCH: Final[str] = "proven-mismatch"
PROVEN_DEADLINE: Final[str] = "proven-deadline"
MOOT: Final[str] = "moot"
"""No longer provable by anyone: the contract is frozen or already holds the receipt broken
(another proof was first, docs/spec.md §9.4: the epoch's bond is slashed once)."""
MOOT_REASONS: Final[tuple[str, ...]] = (
    "rollup: frozen",
    "rollup: receipt already proven broken",
    "rollup: receipt deadline in an earlier epoch",
)
"""The contract's refusals (`_checkReceipt`) after which every proof of the receipt fails."""


def is_moot(refusal: Exception) -> bool:
    """Whether the contract's `refusal` of a receipt proof is one no later proof can pass."""
    return any(reason in str(refusal) for reason in MOOT_REASONS)


@dataclass(frozen=True, slots=True)
class WatchedReceipt:
    """One event's share of a signed receipt, as handed to the validator."""

    receipt: SignedReceipt
    seq: int
    """firstSeq + index: where the leaf was promised."""
    leaf_hash: bytes
    index: int
    """Index of the leaf in the receipt's batch."""
    path: tuple[bytes, ...]
    """Audit path of the leaf to leavesRoot."""
    status: str = WATCHING
    tx: str | None = None
    """The proof transaction, once sent."""
    evidence: str | None = None
    """The rollback evidence key it was taken from (None: handed over by a client)."""

    @property
    def key(self) -> tuple[int, int, bytes]:
        return (self.receipt.first_seq, self.index, self.receipt.signature)

    def to_json(self) -> dict[str, Any]:
        r = self.receipt
        return {
            "receipt": {
                "firstSeq": r.first_seq,
                "count": r.count,
                "leavesRoot": hex0x(r.leaves_root),
                "deadline": r.deadline,
                "signature": hex0x(r.signature),
            },
            "placement": {
                "seq": self.seq,
                "leafHash": hex0x(self.leaf_hash),
                "index": self.index,
                "path": [hex0x(p) for p in self.path],
            },
            "status": self.status,
            "tx": self.tx,
            "evidence": self.evidence,
        }

    def with_status(self, status: str, tx: str | None = None) -> WatchedReceipt:
        return replace(self, status=status, tx=tx)


def parse_watch(
    receipt: Any, placement: Any, domain_separator: bytes, sequencer: bytes
) -> WatchedReceipt:
    """Check and parse a `validator_watchReceipt` request.

    Raises `InvalidFieldError` naming a malformed field, `InvalidSignatureError` when the
    sequencer did not sign the receipt, `InclusionProofError` when the path does not put the
    leaf under leavesRoot.
    """
    r = parse_object(
        receipt,
        "receipt",
        ("firstSeq", "count", "leavesRoot", "deadline", "signature", "sequencer"),
    )
    p = parse_object(
        placement, "placement", ("seq", "leafHash", "index", "path", "duplicate", "receipt")
    )
    first_seq = parse_uint(r.get("firstSeq"), "receipt.firstSeq")
    count = parse_uint(r.get("count"), "receipt.count")
    if count == 0:
        raise InvalidFieldError("receipt.count", "must be at least 1")
    leaves_root = parse_hash32(r.get("leavesRoot"), "receipt.leavesRoot")
    deadline = parse_uint(r.get("deadline"), "receipt.deadline")
    signature = parse_signature_bytes(r.get("signature"), "receipt.signature")
    index = parse_uint(p.get("index"), "placement.index")
    seq = parse_uint(p.get("seq"), "placement.seq")
    leaf = parse_hash32(p.get("leafHash"), "placement.leafHash")
    path = parse_hashes(p.get("path"), "placement.path")
    # Verify the placement points where the receipt says.
    if seq != first_seq + index:
        raise InvalidFieldError(
            "placement.seq", f"must be firstSeq + index = {first_seq + index}, got {seq}"
        )
    # Verify the sequencer signed this receipt in this rollup's domain.
    digest = compute_receipt_digest(domain_separator, first_seq, count, leaves_root, deadline)
    signer = recover_signer(digest, signature[64], signature[:32], signature[32:64])
    if signer != sequencer:
        raise InvalidSignatureError(
            "receipt.signature",
            f"recovers to 0x{signer.hex()}, not the sequencer 0x{sequencer.hex()}",
        )
    # Verify the leaf sits at `index` under the signed leavesRoot (docs/spec.md §5).
    verify_receipt_path(leaf, index, count, path, leaves_root)
    return WatchedReceipt(
        SignedReceipt(first_seq, count, leaves_root, deadline, signature), seq, leaf, index, path
    )


def decode_watched(raw: bytes | None) -> list[WatchedReceipt]:
    """The stored list (state key `RECEIPTS_KEY`)."""
    if not raw:
        return []
    out = []
    for obj in orjson.loads(raw):
        r, p = obj["receipt"], obj["placement"]
        receipt = SignedReceipt(
            r["firstSeq"],
            r["count"],
            parse_hash32(r["leavesRoot"], "leavesRoot"),
            r["deadline"],
            parse_signature_bytes(r["signature"]),
        )
        out.append(
            WatchedReceipt(
                receipt,
                p["seq"],
                parse_hash32(p["leafHash"], "leafHash"),
                p["index"],
                parse_hashes(p["path"], "path"),
                obj["status"],
                obj.get("tx"),
                obj.get("evidence"),
            )
        )
    return out


def encode_watched(receipts: list[WatchedReceipt]) -> bytes:
    return orjson.dumps([w.to_json() for w in receipts])


def watched_from_evidence(block: dict[str, Any], seq: int, evidence_key: str) -> WatchedReceipt:
    """The share of `block`'s receipt (one block of a rollback's evidence: its receipt object
    and the ``leafHashes`` it signed) promising the leaf at `seq`, with its audit path to
    ``leavesRoot`` (docs/spec.md §5)."""
    r = block["receipt"]
    leaves = parse_hashes(block["leafHashes"], "leafHashes")
    index = seq - int(block["start"])
    if not 0 <= index < len(leaves):
        raise AssertionError(f"seq {seq} outside block {block['number']} of the evidence")
    tree = compute_receipt_tree(leaves)
    receipt = SignedReceipt(
        parse_uint(r["firstSeq"], "receipt.firstSeq"),
        parse_uint(r["count"], "receipt.count"),
        parse_hash32(r["leavesRoot"], "receipt.leavesRoot"),
        parse_uint(r["deadline"], "receipt.deadline"),
        parse_signature_bytes(r["signature"], "receipt.signature"),
    )
    # Verify the evidence is self-consistent: the leaves are the ones the receipt signed.
    if tree.root != receipt.leaves_root or receipt.first_seq != int(block["start"]):
        raise InvalidFieldError(
            "evidence", f"block {block['number']}: leaves do not match its receipt"
        )
    return WatchedReceipt(
        receipt, seq, leaves[index], index, tree.paths[index], evidence=evidence_key
    )
