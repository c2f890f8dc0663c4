"""The sequencer's signed receipt (docs/spec.md §5): wire type, storage encoding and checks.

A receipt is EIP-712 `Receipt(uint64 firstSeq,uint64 count,bytes32 leavesRoot,uint64 deadline)`
signed by the sequencer key in the rollup's domain. One signature covers a whole group commit;
each event's share of it is its index in the group and its audit path to `leavesRoot`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from prover.block import BlockHeader
from prover.eip712 import Signer, compute_receipt_digest, recover_signer
from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.tree import CompactTree, fold_subtrees
from prover.wire import hex0x

_LAYOUT: Final = struct.Struct(">QQ32sQ32s32sB")
ENCODED_SIZE: Final[int] = _LAYOUT.size


@dataclass(frozen=True, slots=True)
class Receipt:
    """One signed promise covering the records [first_seq, first_seq + count)."""

    first_seq: int
    """Seq of the first record the receipt covers."""
    count: int
    """How many consecutive records it covers."""
    leaves_root: bytes
    """RFC 9162 root over the leaf hashes of the covered records, in order."""
    deadline: int
    """L1 time (Unix seconds) by which a checkpoint must cover first_seq + count records."""
    v: int
    """Signature recovery byte (27/28)."""
    r: bytes
    s: bytes

    @property
    def signature(self) -> bytes:
        """The 65-byte r || s || v signature, as eth-account and ethers print it."""
        return self.r + self.s + bytes([self.v])


def encode_receipt(receipt: Receipt) -> bytes:
    """Fixed-width storage encoding (ENCODED_SIZE bytes)."""
    return _LAYOUT.pack(
        receipt.first_seq,
        receipt.count,
        receipt.leaves_root,
        receipt.deadline,
        receipt.r,
        receipt.s,
        receipt.v,
    )


def decode_receipt(data: bytes) -> Receipt:
    """Inverse of `encode_receipt`."""
    if len(data) != ENCODED_SIZE:
        raise InvalidFieldError("receipt", f"must be {ENCODED_SIZE} bytes, got {len(data)}")
    first_seq, count, leaves_root, deadline, r, s, v = _LAYOUT.unpack(data)
    return Receipt(first_seq, count, leaves_root, deadline, v, r, s)


def receipt_to_json(receipt: Receipt, sequencer: bytes) -> dict[str, object]:
    """The receipt object of the JSON-RPC answers (docs/spec.md §10)."""
    return {
        "firstSeq": receipt.first_seq,
        "count": receipt.count,
        "leavesRoot": hex0x(receipt.leaves_root),
        "deadline": receipt.deadline,
        "signature": hex0x(receipt.signature),
        "sequencer": hex0x(sequencer),
    }


# --- block receipts (docs/spec.md §6, "Block receipts") ----------------------------------------


def compute_leaves_root(
    leaves: Sequence[bytes], start: int = 0, levels: Sequence[Sequence[bytes]] = ()
) -> bytes:
    """A receipt's `leavesRoot`: the RFC 9162 root over `leaves` used as leaf hashes (§5).

    `levels`, if given, is what `CompactTree.append_many(leaves)` returned on the log's tree
    at size `start` (a validator hashed it to check the block's logRoot): the perfect
    subtrees aligned both in the log and in the receipt's tree (those of 2**t leaves, for
    2**t dividing `start`) are taken from it instead of hashed a second time.
    """
    count = len(leaves)
    if not count:
        raise InvalidFieldError("leaves", "a receipt covers at least one record")
    aligned = (start & -start).bit_length() - 1 if start else count.bit_length()
    level = min(aligned, count.bit_length() - 1, len(levels) - 1)
    lower = CompactTree()
    if level <= 0:
        lower.append_many(leaves)
        return lower.root()
    # The receipt's tree is the log's level-`level` nodes over the block's first
    # whole 2**level leaves, then the rest of the leaves: one decomposition, largest first.
    whole = count >> level
    nodes = levels[level]
    if len(nodes) != whole or len(levels[0]) != count:
        raise AssertionError(f"levels of another range: {len(nodes)} nodes at level {level}")
    upper = CompactTree()
    upper.append_many(nodes)
    lower.append_many(leaves[whole << level :])
    return fold_subtrees([*upper.frontier, *lower.frontier])


def sign_block_receipt(
    signer: Signer,
    domain_separator: bytes,
    header: BlockHeader,
    leaves: Sequence[bytes],
    deadline: int,
) -> Receipt:
    """The sequencer's receipt over exactly the records of one sealed block."""
    count = header.end - header.start
    if len(leaves) != count:
        raise AssertionError(f"block {header.number}: {len(leaves)} leaves for {count} records")
    root = compute_leaves_root(leaves)
    digest = compute_receipt_digest(domain_separator, header.start, count, root, deadline)
    v, r, s = signer.sign(digest)
    return Receipt(header.start, count, root, deadline, v, r, s)


def verify_block_receipt(
    receipt: Receipt,
    header: BlockHeader,
    leaves: Sequence[bytes],
    domain_separator: bytes,
    sequencer: bytes,
    levels: Sequence[Sequence[bytes]] = (),
) -> None:
    """Raise unless `receipt` is the sequencer's promise for exactly `leaves` at the block's
    seqs: `InvalidFieldError` when it covers another range or other leaves,
    `InvalidSignatureError` when the sequencer did not sign it. `levels`: the log tree's
    nodes over `leaves` the caller already hashed (`compute_leaves_root`)."""
    # Verify it covers the block's range and no other.
    if (receipt.first_seq, receipt.count) != (header.start, header.end - header.start):
        raise InvalidFieldError(
            "receipt",
            f"covers [{receipt.first_seq}, {receipt.first_seq + receipt.count}), "
            f"not block {header.number}'s [{header.start}, {header.end})",
        )
    # Verify it promises these very records.
    if compute_leaves_root(leaves, header.start, levels) != receipt.leaves_root:
        raise InvalidFieldError("receipt.leavesRoot", "is not the root of the block's leaf hashes")
    # Verify the sequencer signed it.
    digest = compute_receipt_digest(
        domain_separator, receipt.first_seq, receipt.count, receipt.leaves_root, receipt.deadline
    )
    signer = recover_signer(digest, receipt.v, receipt.r, receipt.s)
    if signer != sequencer:
        raise InvalidSignatureError(
            "receipt.signature",
            f"block {header.number}: signed by {hex0x(signer)}, not the sequencer "
            f"{hex0x(sequencer)}",
        )
