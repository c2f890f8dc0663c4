"""Typed results of the client's calls, and the pure parsing of the answers they come from.

Nothing a server says is taken on trust where it can be recomputed: an `EventInfo` is read
from the 352-byte `record` (docs/spec.md §10.4: "clients MUST recompute what they rely on"),
its leaf hash is hashed here, and its meta is kept only when it hashes to the record's
metaHash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

import orjson

from prover.eip712 import Domain
from prover.errors import InvalidFieldError
from prover.hashing import keccak256, leaf_hash
from prover.light_client import L1Checkpoint
from prover.record import (
    RECORD_SIZE,
    ZERO32,
    canonical_meta,
    decode_kind,
    decode_record,
    is_valid_kind,
)
from prover.types import Hash32
from prover.wire import hex0x, parse_address, parse_hash32, parse_hex, parse_uint

KIND_REVOCATION: Final[str] = "revocation"
"""A revocation's kind (docs/spec.md §13): its digest is the revoked record's leaf hash."""

SUPERSEDES_KEY: Final[str] = "supersedes"
"""Meta key of a new version naming the leaf hash of the record it supersedes (§13)."""


@dataclass(frozen=True, slots=True)
class Status:
    """What `attest_status` says, parsed: the domain to sign in and whom receipts come from."""

    tree_size: int
    root: Hash32
    domain: Domain
    """EIP-712 domain events are signed in (docs/spec.md §4.1)."""
    sequencer: bytes
    """The sequencer's address as the server names it (a hint until L1's `sequencer()` agrees)."""
    l1_rpc: str | None
    """The L1 endpoint the server names, or None without L1."""
    contract: bytes | None
    """The rollup contract the server names, or None without L1."""


def parse_status(obj: Any) -> Status:
    """An `attest_status` answer as a `Status`; `InvalidFieldError` if malformed."""
    if not isinstance(obj, dict):
        raise InvalidFieldError("status", "must be an object")
    dom = obj.get("eip712Domain")
    if not isinstance(dom, dict):
        raise InvalidFieldError("eip712Domain", "must be an object")
    domain = Domain(
        parse_uint(dom.get("chainId"), "eip712Domain.chainId", maximum=2**256 - 1),
        parse_address(dom.get("verifyingContract"), "eip712Domain.verifyingContract"),
    )
    l1 = obj.get("l1")
    l1_rpc = contract = None
    if isinstance(l1, dict):
        l1_rpc = l1.get("rpc") if isinstance(l1.get("rpc"), str) else None
        if l1.get("contract") is not None:
            contract = parse_address(l1.get("contract"), "l1.contract")
    return Status(
        tree_size=parse_uint(obj.get("treeSize"), "treeSize"),
        root=parse_hash32(obj.get("root"), "root"),
        domain=domain,
        sequencer=parse_address(obj.get("sequencer"), "sequencer"),
        l1_rpc=l1_rpc,
        contract=contract,
    )


@dataclass(frozen=True, slots=True)
class EventInfo:
    """One record of the log, read from its bytes (`attest_getEvent`)."""

    seq: int
    record: bytes
    leaf_hash: Hash32
    kind: str
    """The kind name, or the 0x-hex bytes32 of a malformed kind."""
    subject: Hash32
    digest: Hash32
    meta_hash: Hash32
    submitter: bytes
    nonce: int
    signed: bool
    timestamp: int
    """Sequencer receive time, ms."""
    meta: dict[str, Any] | None
    """The served meta, kept only when it hashes to `meta_hash`; None otherwise."""
    meta_verified: bool
    """True when the record has meta and the served one hashes to it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "subject": hex0x(self.subject),
            "digest": hex0x(self.digest),
            "metaHash": None if self.meta_hash == ZERO32 else hex0x(self.meta_hash),
            "submitter": hex0x(self.submitter),
            "nonce": self.nonce,
            "signed": self.signed,
            "timestamp": self.timestamp,
            "leafHash": hex0x(self.leaf_hash),
            "meta": self.meta,
        }


def parse_event_info(obj: Any, seq: int) -> EventInfo:
    """An `attest_getEvent(seq)` answer; the fields come from `record`, never from the JSON."""
    if not isinstance(obj, dict):
        raise InvalidFieldError("event", "must be an object")
    record = parse_hex(obj.get("record"), "record", size=RECORD_SIZE)
    rec = decode_record(record)
    if rec.seq != seq:
        raise InvalidFieldError("record", f"holds seq {rec.seq}, asked for {seq}")
    meta = obj.get("meta")
    meta_ok = False
    if rec.meta_hash != ZERO32 and isinstance(meta, dict):
        try:
            canonical = canonical_meta(meta)
        except InvalidFieldError:
            canonical = None
        meta_ok = canonical is not None and keccak256(canonical) == rec.meta_hash
    return EventInfo(
        seq=seq,
        record=record,
        leaf_hash=leaf_hash(record),
        kind=decode_kind(rec.kind) if is_valid_kind(rec.kind) else hex0x(rec.kind),
        subject=Hash32(rec.subject),
        digest=Hash32(rec.digest),
        meta_hash=Hash32(rec.meta_hash),
        submitter=rec.submitter,
        nonce=rec.nonce,
        signed=rec.is_signed,
        timestamp=rec.timestamp,
        meta=meta if meta_ok else None,
        meta_verified=meta_ok,
    )


@dataclass(frozen=True, slots=True)
class Verification:
    """A light-client verdict on one event (docs/spec.md §11), with its revocation status."""

    event: EventInfo
    checkpoint: L1Checkpoint
    """The L1 row it was verified against."""
    final: bool
    """True when that checkpoint is final on L1 (False: pending, accepted on request)."""
    revoked_by: tuple[EventInfo, ...] = ()
    """Revocations by the same submitter, each itself verified against L1 (pending allowed)."""
    superseded_by: tuple[EventInfo, ...] = ()
    """Newer records of the same submitter and subject naming this one in `meta.supersedes`."""
    notes: tuple[str, ...] = field(default=())

    @property
    def revoked(self) -> bool:
        return bool(self.revoked_by)

    @property
    def superseded(self) -> bool:
        return bool(self.superseded_by)

    def to_json(self) -> dict[str, Any]:
        cp = self.checkpoint
        return {
            **self.event.to_json(),
            "final": self.final,
            "checkpoint": {
                "index": cp.index,
                "treeSize": cp.size,
                "root": hex0x(cp.root),
                "status": ("final" if self.final else "pending"),
                "chainId": cp.chain_id,
                "contract": hex0x(cp.contract),
            },
            "revoked": self.revoked,
            "revokedBy": [
                {"seq": r.seq, "reason": (r.meta or {}).get("reason")} for r in self.revoked_by
            ],
            "superseded": self.superseded,
            "supersededBy": [r.seq for r in self.superseded_by],
            "notes": list(self.notes),
        }


class Outcome(Enum):
    """What `check` concluded; each has its own exit code (docs/client.md, `attest check`)."""

    ATTESTED = "attested"
    ABSENT = "absent"
    NOT_FINAL = "not-final"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    WRONG_SIGNER = "wrong-signer"
    PROOF_INVALID = "proof-invalid"
    L1_DISAGREES = "l1-disagrees"
    STATE_MISMATCH = "state-mismatch"


@dataclass(frozen=True, slots=True)
class CandidateVerdict:
    """One matching record and what became of it."""

    event: EventInfo
    outcome: Outcome
    message: str
    verification: Verification | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The CI gate's answer: the best outcome over every matching record, and each of them."""

    outcome: Outcome
    message: str
    attested: Verification | None
    """The verification that made it ATTESTED (the latest such record), else None."""
    candidates: tuple[CandidateVerdict, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "ok": self.outcome is Outcome.ATTESTED,
            "message": self.message,
            "attestation": None if self.attested is None else self.attested.to_json(),
            "meta": None if self.attested is None else self.attested.event.meta,
            "candidates": [
                {
                    "seq": c.event.seq,
                    "outcome": c.outcome.value,
                    "message": c.message,
                    "submitter": hex0x(c.event.submitter),
                    "meta": c.event.meta,
                }
                for c in self.candidates
            ],
        }


def meta_json(meta: dict[str, Any] | None) -> str:
    return "null" if meta is None else orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode()
