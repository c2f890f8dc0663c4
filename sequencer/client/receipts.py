"""Checking a submission's answer before anything is reported accepted (docs/spec.md §5).

For every answer of `attest_submit` / `attest_submitBatch` the client verifies, locally:

1. the receipt's EIP-712 signature (low s, v 27/28) recovers to the sequencer's address —
   the one `attest_status` names, or L1's `sequencer()` when the client reads L1;
2. it has one placement per event sent, each with `index < count` and
   `seq == firstSeq + index`, the new events at consecutive seqs in submission order;
3. every placement's audit path puts its `leafHash` at `index` under the signed `leavesRoot`
   (RFC 9162 §2.1.3.2 in the tree of `count` leaves).

Step 3 is the expensive one (an audit path of a 2,000-event group costs ~25 µs to verify in
Python). When an answer's placements are the whole receipt (the usual case: a batch is its
own group commit), the client recomputes the receipt tree from the leaf hashes once
(`compute_receipt_tree_hex`, ~5 µs an event) and compares every served path with the one it
must be: the same check, five times cheaper. Otherwise each path is verified on its own.
Failing any step raises `ReceiptInvalidError`; nothing of that answer is reported accepted.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

from prover.eip712 import compute_receipt_digest, recover_signer
from prover.errors import InclusionProofError, InvalidFieldError
from prover.receipt import Receipt
from prover.receipt_tree import (
    compute_receipt_tree_hex,
    verify_receipt_path,
    verify_receipt_paths,
)
from prover.types import Hash32
from prover.wire import (
    hex0x,
    parse_hash32,
    parse_hashes,
    parse_signature_bytes,
    parse_uint,
)
from sequencer.client.errors import ReceiptInvalidError


class Accepted(NamedTuple):
    """One event the sequencer accepted, with its verified share of the signed receipt.

    A NamedTuple rather than a frozen dataclass: the batcher makes one per event, and a frozen
    dataclass's `__init__` costs several times more (docs/design.md, "CPU and the GIL").
    """

    seq: int
    """Position of the event in the log."""
    leaf_hash: Hash32
    """``H(0x00 || record)``: what the log's tree holds for it."""
    batch_index: int
    """Its index in the receipt's batch (``seq - receipt.first_seq``; `index` on the wire)."""
    path: tuple[str, ...]
    """Audit path (0x-hex, leaf side first) of `leaf_hash` at `index` under `leavesRoot`."""
    receipt: Receipt
    """The sequencer's signed promise covering it (verified)."""
    duplicate: bool = False
    """True when the event was already in the log (a resent signed event)."""

    def to_json(self) -> dict[str, Any]:
        """The placement and receipt as the sequencer answered them (docs/spec.md §10.3)."""
        r = self.receipt
        out: dict[str, Any] = {
            "seq": self.seq,
            "leafHash": hex0x(self.leaf_hash),
            "index": self.batch_index,
            "path": list(self.path),
            "receipt": {
                "firstSeq": r.first_seq,
                "count": r.count,
                "leavesRoot": hex0x(r.leaves_root),
                "deadline": r.deadline,
                "signature": hex0x(r.signature),
            },
            "verified": True,
        }
        if self.duplicate:
            out["duplicate"] = True
        return out


def parse_receipt(obj: Any, field: str = "receipt") -> Receipt:
    """A receipt JSON object (docs/spec.md §5) as a `Receipt`; `InvalidFieldError` if malformed."""
    if not isinstance(obj, dict):
        raise InvalidFieldError(field, "must be an object")
    sig = parse_signature_bytes(obj.get("signature"), field + ".signature")
    count = parse_uint(obj.get("count"), field + ".count")
    if count == 0:
        raise InvalidFieldError(field + ".count", "must be at least 1")
    return Receipt(
        first_seq=parse_uint(obj.get("firstSeq"), field + ".firstSeq"),
        count=count,
        leaves_root=parse_hash32(obj.get("leavesRoot"), field + ".leavesRoot"),
        deadline=parse_uint(obj.get("deadline"), field + ".deadline"),
        v=sig[64],
        r=sig[:32],
        s=sig[32:64],
    )


def verify_receipt_signature(receipt: Receipt, domain_separator: bytes, sequencer: bytes) -> None:
    """Step 1: raise `ReceiptInvalidError` unless the sequencer signed `receipt`."""
    digest = compute_receipt_digest(
        domain_separator, receipt.first_seq, receipt.count, receipt.leaves_root, receipt.deadline
    )
    try:
        signer = recover_signer(digest, receipt.v, receipt.r, receipt.s)
    except InvalidFieldError as exc:
        raise ReceiptInvalidError(f"receipt signature is malformed: {exc}") from None
    if signer != sequencer:
        raise ReceiptInvalidError(
            f"receipt signature recovers to {hex0x(signer)}, not the sequencer {hex0x(sequencer)}"
        )


def verify_answer(
    answer: Any, n_events: int, domain_separator: bytes, sequencer: bytes, *, batch: bool
) -> list[Accepted]:
    """Steps 1-3 of the module docstring for one answer; the accepted events, in order.

    `answer` is the `result` of `attest_submitBatch` (`batch=True`) or `attest_submit`.
    """
    try:
        if not isinstance(answer, dict):
            raise InvalidFieldError("result", "must be an object")
        if batch:
            receipt = parse_receipt(answer.get("receipt"))
            entries = answer.get("events")
            if not isinstance(entries, list):
                raise InvalidFieldError("events", "must be a list")
            fast = _whole_receipt(entries, receipt, n_events)
            if fast is None:
                try:
                    fast = _receipt_slice(entries, receipt, n_events)
                except InclusionProofError as exc:
                    raise ReceiptInvalidError(f"placement does not verify: {exc}", answer) from None
            if fast is not None:
                try:
                    verify_receipt_signature(receipt, domain_separator, sequencer)
                except ReceiptInvalidError as exc:
                    raise ReceiptInvalidError(str(exc), answer) from None
                return fast
            if len(entries) != n_events:
                raise InvalidFieldError(
                    "events", f"{len(entries)} placements for {n_events} events"
                )
            receipts = [receipt] * n_events
            for i, e in enumerate(entries):
                if isinstance(e, dict) and e.get("receipt") is not None:  # a duplicate's own
                    receipts[i] = parse_receipt(e["receipt"], f"events[{i}].receipt")
        else:
            entries = [answer]
            receipts = [parse_receipt(answer.get("receipt"))]
        accepted = _placements(entries, receipts)
    except InvalidFieldError as exc:
        raise ReceiptInvalidError(f"malformed answer: {exc}", answer) from None
    # Step 1, once per distinct receipt (a batch has one, plus one per duplicate).
    seen: set[bytes] = set()
    for r in receipts:
        if r.signature not in seen:
            try:
                verify_receipt_signature(r, domain_separator, sequencer)
            except ReceiptInvalidError as exc:
                raise ReceiptInvalidError(str(exc), answer) from None
            seen.add(r.signature)
    # Step 2: the new events sit at consecutive seqs, in the order they were sent.
    fresh = [a for a in accepted if not a.duplicate]
    for prev, cur in itertools.pairwise(fresh):
        if cur.seq != prev.seq + 1:
            raise ReceiptInvalidError(
                f"new events at seqs {prev.seq} and {cur.seq}: not consecutive", answer
            )
    # Step 3: every leaf under its receipt's leavesRoot.
    try:
        _verify_paths(accepted)
    except InclusionProofError as exc:
        raise ReceiptInvalidError(f"placement does not verify: {exc}", answer) from None
    return accepted


def _whole_receipt(entries: list[Any], receipt: Receipt, n_events: int) -> list[Accepted] | None:
    """Steps 2 and 3 for the usual answer — every placement of the receipt is ours, in order,
    none a duplicate — in one pass: rebuild the receipt tree from the leaf hashes and require
    every served path to be exactly the path it must be. Raises `ReceiptInvalidError` when the
    leaf hashes do not hash to `leavesRoot`; returns None (take the general path, which says
    precisely what is wrong) for any other shape."""
    count, first = receipt.count, receipt.first_seq
    if len(entries) != count or n_events != count:
        return None
    leaves: list[bytes] = []
    for i, e in enumerate(entries):
        if (
            type(e) is not dict
            or e.get("index") != i
            or e.get("seq") != first + i
            or "duplicate" in e
        ):
            return None
        try:
            leaves.append(parse_hash32(e.get("leafHash"), "leafHash"))
        except InvalidFieldError:
            return None
    root, paths = compute_receipt_tree_hex(leaves)
    # Verify the leaves are the ones the sequencer signed for (docs/spec.md §5).
    if root != receipt.leaves_root:
        raise ReceiptInvalidError(
            "the placements' leaf hashes do not hash to the signed leavesRoot"
        )
    out: list[Accepted] = []
    append = out.append
    for i, (e, want) in enumerate(zip(entries, paths, strict=True)):
        p = e.get("path")
        # Verify each served audit path is the leaf's path under leavesRoot.
        if type(p) is not list or tuple(p) != want:
            return None
        append(Accepted(first + i, Hash32(leaves[i]), i, want, receipt, False))
    return out


def _receipt_slice(entries: list[Any], receipt: Receipt, n_events: int) -> list[Accepted] | None:
    """Steps 2 and 3 when the batch is one consecutive slice of a larger receipt, none a
    duplicate (the sequencer's group commit put another batch under the same receipt): the
    placements are checked in one pass and the paths together (`verify_receipt_paths`, each
    node hashed about once). Raises `InclusionProofError` for a path that does not verify;
    returns None (take the general path) for any other shape."""
    if not entries or len(entries) != n_events:
        return None
    e0 = entries[0]
    if type(e0) is not dict or type(e0.get("index")) is not int:
        return None
    start, count, first = e0["index"], receipt.count, receipt.first_seq
    if start < 0 or start + n_events > count:
        return None
    leaves: list[Hash32] = []
    paths: list[tuple[Any, ...]] = []
    for i, e in enumerate(entries, start):
        if (
            type(e) is not dict
            or e.get("index") != i
            or e.get("seq") != first + i
            or "duplicate" in e
            or type(p := e.get("path")) is not list
        ):
            return None
        try:
            leaves.append(parse_hash32(e.get("leafHash"), "leafHash"))
        except InvalidFieldError:
            return None
        paths.append(tuple(p))
    indices = range(start, start + n_events)
    # Verify every leaf sits at its index under the signed leavesRoot (docs/spec.md §5).
    verify_receipt_paths(leaves, indices, count, paths, receipt.leaves_root)
    return [
        Accepted(first + i, leaf, i, path, receipt, False)
        for i, leaf, path in zip(indices, leaves, paths, strict=True)
    ]


def _placements(entries: Sequence[Any], receipts: Sequence[Receipt]) -> list[Accepted]:
    out: list[Accepted] = []
    for i, (e, r) in enumerate(zip(entries, receipts, strict=True)):
        where = f"events[{i}]"
        if not isinstance(e, dict):
            raise InvalidFieldError(where, "must be an object")
        seq = parse_uint(e.get("seq"), where + ".seq")
        index = parse_uint(e.get("index"), where + ".index")
        path = e.get("path")
        if not isinstance(path, list) or not all(type(p) is str for p in path):
            raise InvalidFieldError(where + ".path", "must be a list of 0x-hex hashes")
        # Verify the placement points where the receipt says (docs/spec.md §5).
        if index >= r.count:
            raise InvalidFieldError(where + ".index", f"{index} is not below count {r.count}")
        if seq != r.first_seq + index:
            raise InvalidFieldError(where + ".seq", f"{seq} is not firstSeq + index")
        out.append(
            Accepted(
                seq,
                parse_hash32(e.get("leafHash"), where + ".leafHash"),
                index,
                tuple(path),
                r,
                bool(e.get("duplicate", False)),
            )
        )
    return out


def _verify_paths(accepted: Sequence[Accepted]) -> None:
    by_receipt: dict[bytes, list[Accepted]] = {}
    for a in accepted:
        by_receipt.setdefault(a.receipt.signature, []).append(a)
    for group in by_receipt.values():
        r = group[0].receipt
        if len(group) == r.count and [a.batch_index for a in group] == list(range(r.count)):
            # The whole receipt is ours: rebuild its tree once and compare every path.
            root, paths = compute_receipt_tree_hex([a.leaf_hash for a in group])
            if root != r.leaves_root:
                raise InclusionProofError("the leaf hashes do not hash to the signed leavesRoot")
            for a, want in zip(group, paths, strict=True):
                if a.path != want:  # not the path it must be (or not lower-case hex): check it
                    verify_receipt_path(
                        a.leaf_hash,
                        a.batch_index,
                        r.count,
                        parse_hashes(list(a.path), "path"),
                        r.leaves_root,
                    )
        else:
            # Part of a receipt (another batch shares it): each node hashed once.
            verify_receipt_paths(
                [a.leaf_hash for a in group],
                [a.batch_index for a in group],
                r.count,
                [a.path for a in group],
                r.leaves_root,
            )
