"""The light client's verification: is event E at position `seq` of a log L1 vouches for?

Pure (STYLE.md rule 1): every function takes data already fetched — the record and proofs a
sequencer or follower served, the checkpoint row read from L1 (docs/spec.md §7), the checkpoint
verified last time — and returns a `Verdict` or raises one of the typed verdict errors of
`prover.errors`. Fetching, the state file and exit codes are `sequencer/verify.py`.

What is checked, in order (each step trusts nothing the server says about the others):

1. the record: 352 well-formed bytes (docs/spec.md §3) whose seq is the position asked about, whose
   leaf hash is ``H(0x00 || record)`` (§2), whose metaHash matches the served meta, whose
   signature recovers to its submitter in the L1's EIP-712 domain (§5 rule 2), and whose
   fields equal the caller's `Expectations`;
2. the RFC 9162 §2.1.3.2 inclusion proof of that leaf hash to the proof's tree root;
3. the anchor: the proof's tree extends the checkpoint's tree (§2.1.4 consistency proof; empty
   when the proof was made against the checkpoint itself) and the checkpoint covers `seq`;
4. the checkpoint against L1's own row: same index, size and root; final, or pending with
   `allow_pending`; never reverted (docs/spec.md §9: light clients never treat a reverted checkpoint
   as final);
5. the trusted state: the new checkpoint and the final one verified before are consistent
   (one extends the other), so a fork of L1 or a rewritten history is noticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sha3  # safe-pysha3, as prover/hashing.py

from prover.checkpoint import CheckpointStatus, status_label
from prover.eip712 import compute_domain_separator, verify_record_signature
from prover.errors import (
    ConsistencyProofError,
    ExpectationMismatchError,
    InclusionProofError,
    InvalidFieldError,
    InvalidSignatureError,
    L1MismatchError,
    NotFinalError,
    ProofInvalidError,
    TrustedStateMismatchError,
)
from prover.hashing import leaf_hash as compute_leaf_hash
from prover.record import (
    RECORD_SIZE,
    ZERO32,
    canonical_meta,
    decode_kind,
    decode_record,
    is_valid_kind,
    record_meta_hash,
    record_seq,
)
from prover.tree import root_from_inclusion_proof, verify_consistency
from prover.types import MAX_TREE_SIZE, Hash32
from prover.wire import (
    UINT256_MAX,
    hex0x,
    parse_address,
    parse_hash32,
    parse_hashes,
    parse_hex,
    parse_uint,
)

_keccak = sha3.keccak_256

BUNDLE_FORMAT: Final[str] = "attest-proof-bundle/1"
"""The `format` field of a proof bundle file (docs/light-client.md)."""

STATE_FORMAT: Final[str] = "attest-light-client/2"
"""The `format` field of the trusted state file (docs/light-client.md): one trusted checkpoint
per log, a log being (chainId, contract, genesis checkpoint)."""

STATE_FORMAT_V1: Final[str] = "attest-light-client/1"
"""The earlier format, read (not written): one checkpoint per (chainId, contract), no genesis."""


# --- the data ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointRef:
    """A checkpoint as the *server* names it: trusted for nothing until L1 agrees."""

    index: int
    """Checkpoint index on the rollup contract."""
    size: int
    """Tree size the server says the checkpoint holds."""
    root: Hash32
    """Root the server says the checkpoint holds."""


@dataclass(frozen=True, slots=True)
class ProofBundle:
    """Everything needed to check one event, as served (or saved by `attest proof export`)."""

    seq: int
    """Position of the event in the log."""
    record: bytes
    """The 352-byte record (docs/spec.md §3)."""
    leaf_hash: Hash32
    """The served leaf hash; checked against ``H(0x00 || record)``."""
    tree_size: int
    """Size of the tree the inclusion proof is against."""
    root: Hash32
    """Root of that tree."""
    proof: tuple[Hash32, ...]
    """RFC 9162 §2.1.3 audit path of `seq` in the tree of `tree_size` leaves, leaf side first."""
    checkpoint: CheckpointRef | None = None
    """The checkpoint the proof is anchored to, or None for a bundle of the tree alone."""
    anchor_proof: tuple[Hash32, ...] = ()
    """RFC 9162 §2.1.4 consistency proof from `checkpoint.size` to `tree_size`; empty when
    the inclusion proof was made against the checkpoint's tree itself (the usual case)."""
    chain_id: int | None = None
    """L1 chain id the bundle was made for (EIP-712 domain of signed records)."""
    contract: bytes | None = None
    """20-byte rollup contract address the bundle was made for."""
    meta: bytes | None = None
    """RFC 8785 canonical JSON of the event's meta, when it has one."""


@dataclass(frozen=True, slots=True)
class Expectations:
    """What the caller expects the record to say; None fields are not checked."""

    kind: bytes | None = None
    """bytes32 kind."""
    subject: bytes | None = None
    """bytes32 subject."""
    digest: bytes | None = None
    """bytes32 digest."""
    submitter: bytes | None = None
    """20-byte submitter address."""
    meta_hash: bytes | None = None
    """bytes32 metaHash."""
    nonce: int | None = None
    """The submitter's nonce."""
    signed: bool | None = None
    """True to require a signed record, False an unsigned one."""


@dataclass(frozen=True, slots=True)
class L1Checkpoint:
    """One row of `checkpoints(index)` as read from L1 itself (docs/spec.md §7), and where from."""

    chain_id: int
    """`eth_chainId` of the node it was read from."""
    contract: bytes
    """20-byte address of the rollup contract it was read from."""
    index: int
    size: int
    root: Hash32
    committed_at: int
    challenge_ends: int
    status: int
    """A `CheckpointStatus` code, at the node's latest block (any other value is judged a
    mismatch by `verify_l1_checkpoint`)."""


@dataclass(frozen=True, slots=True)
class TrustedCheckpoint:
    """The last *final* checkpoint this client verified, per log: (chain, contract, genesis).

    `genesis` is L1's checkpoint 0 (its size and root, immutable once committed, reverted or
    not) of the log: a new deployment at the same chain and address (a restarted devnet) has
    another genesis and so is another log. None only for an entry read from a format-1 state
    file whose genesis was never recorded (it then stands for any log of its deployment).
    """

    chain_id: int
    contract: bytes
    index: int
    size: int
    root: Hash32
    genesis: CheckpointRef | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A successful verification: what was shown, and how strongly."""

    seq: int
    leaf_hash: Hash32
    record: bytes
    checkpoint: L1Checkpoint | None
    """The L1 row the event was checked against; None when L1 was not checked."""
    final: bool
    """True when that checkpoint is final on L1 (False: pending, accepted with allow_pending)."""
    trusted: TrustedCheckpoint | None
    """The trusted checkpoint to keep after this verification (None: nothing to keep)."""
    consistency_checked: bool
    """True when consistency with a previously trusted checkpoint was verified."""


# --- step 1: the record --------------------------------------------------------------------


_hx = hex0x


def _check_expected(field: str, expected: bytes | None, actual: bytes) -> None:
    if expected is not None and expected != actual:
        raise ExpectationMismatchError(field, _hx(expected), _hx(actual))


def verify_expectations(record: bytes, expectations: Expectations) -> None:
    """Raise `ExpectationMismatchError` naming the first field that differs from expected."""
    rec = decode_record(record)
    if expectations.kind is not None and expectations.kind != rec.kind:
        shown = decode_kind(rec.kind) if is_valid_kind(rec.kind) else _hx(rec.kind)
        want = (
            decode_kind(expectations.kind)
            if is_valid_kind(expectations.kind)
            else _hx(expectations.kind)
        )
        raise ExpectationMismatchError("kind", want, shown)
    _check_expected("subject", expectations.subject, rec.subject)
    _check_expected("digest", expectations.digest, rec.digest)
    _check_expected("submitter", expectations.submitter, rec.submitter)
    _check_expected("metaHash", expectations.meta_hash, rec.meta_hash)
    if expectations.nonce is not None and expectations.nonce != rec.nonce:
        raise ExpectationMismatchError("nonce", str(expectations.nonce), str(rec.nonce))
    if expectations.signed is not None and expectations.signed != rec.is_signed:
        raise ExpectationMismatchError(
            "signed", str(expectations.signed).lower(), str(rec.is_signed).lower()
        )


def verify_record(
    bundle: ProofBundle, expectations: Expectations, domain_separator: bytes | None
) -> None:
    """Step 1: the served record is well formed, is the leaf, and is the event expected.

    `domain_separator` is the EIP-712 domain of the L1 deployment; a signed record is checked
    against it (docs/spec.md §8 rule 2). None skips the signature check (no domain known).
    Raises `ProofInvalidError` for data that does not check out, `ExpectationMismatchError`
    for a well-formed record that is not the event expected.
    """
    record = bundle.record
    try:
        decode_record(record)
    except InvalidFieldError as exc:
        raise ProofInvalidError(f"served record is malformed: {exc}") from None
    # Verify the record is the one at the position asked about (docs/spec.md §8 rule 1).
    if record_seq(record) != bundle.seq:
        raise ProofInvalidError(
            f"served record has seq {record_seq(record)}, asked for seq {bundle.seq}"
        )
    # Verify the leaf hash is H(0x00 || record) (docs/spec.md §2), not just what the server says.
    if compute_leaf_hash(record) != bundle.leaf_hash:
        raise ProofInvalidError("served leaf hash is not keccak256(0x00 || record)")
    # Verify the served meta is the one the record commits to (docs/spec.md §3 metaHash).
    if bundle.meta is not None and _keccak(bundle.meta).digest() != record_meta_hash(record):
        raise ProofInvalidError("served meta does not hash to the record's metaHash")
    if domain_separator is not None:
        try:
            verify_record_signature(domain_separator, record)
        except InvalidSignatureError as exc:
            raise ProofInvalidError(f"record signature is invalid: {exc}") from None
    verify_expectations(record, expectations)


# --- steps 2 and 3: inclusion and the anchor -----------------------------------------------


def verify_bundle_inclusion(bundle: ProofBundle) -> None:
    """Step 2 alone, the hot path: H(0x00 || record) sits at `seq` under `bundle.root`.

    Raises `ProofInvalidError`. This is what a light client does per event once the root is
    trusted; `bench`/tests measure its rate.
    """
    try:
        got = root_from_inclusion_proof(
            compute_leaf_hash(bundle.record), bundle.seq, bundle.tree_size, bundle.proof
        )
    except InclusionProofError as exc:
        raise ProofInvalidError(str(exc)) from None
    if got != bundle.root:
        raise ProofInvalidError(
            f"inclusion proof of seq {bundle.seq} does not reproduce the root of tree size "
            f"{bundle.tree_size}"
        )


def is_valid_bundle_inclusion(bundle: ProofBundle) -> bool:
    """True when `verify_bundle_inclusion` would pass."""
    try:
        verify_bundle_inclusion(bundle)
    except ProofInvalidError:
        return False
    return True


def verify_anchor(bundle: ProofBundle) -> CheckpointRef:
    """Step 3: the bundle's tree extends its checkpoint's tree, and the checkpoint covers seq.

    Returns the checkpoint. Raises `InvalidFieldError` for a bundle without one,
    `NotFinalError` when the checkpoint does not cover `seq` (the event came later), and
    `ProofInvalidError` when the consistency proof does not verify.
    """
    cp = bundle.checkpoint
    if cp is None:
        raise InvalidFieldError("checkpoint", "the bundle is not anchored to a checkpoint")
    # Verify the checkpoint covers the event: a record past its size is not anchored yet.
    if bundle.seq >= cp.size:
        raise NotFinalError(
            f"seq {bundle.seq} is not covered by checkpoint {cp.index} (tree size {cp.size})"
        )
    try:
        verify_consistency(cp.size, bundle.tree_size, cp.root, bundle.root, bundle.anchor_proof)
    except ConsistencyProofError as exc:
        raise ProofInvalidError(
            f"tree of size {bundle.tree_size} is not shown to extend checkpoint {cp.index}: {exc}"
        ) from None
    return cp


# --- step 4: L1 ----------------------------------------------------------------------------


def verify_l1_checkpoint(claimed: CheckpointRef, l1: L1Checkpoint, *, allow_pending: bool) -> None:
    """Step 4: L1's own row for the checkpoint agrees with what was served.

    Raises `L1MismatchError` when L1 has no such checkpoint, has reverted it, or holds another
    size or root; `NotFinalError` when it is pending and `allow_pending` is false.
    """
    if l1.index != claimed.index:
        raise InvalidFieldError(
            "l1_checkpoint", f"is row {l1.index}, the bundle names checkpoint {claimed.index}"
        )
    # Verify L1 has the checkpoint and did not revert it (docs/spec.md §9: never final once reverted).
    if l1.status == CheckpointStatus.NONE:
        raise L1MismatchError(f"L1 has no checkpoint {l1.index}")
    if l1.status == CheckpointStatus.REVERTED:
        raise L1MismatchError(f"checkpoint {l1.index} is reverted on L1")
    if l1.status not in (CheckpointStatus.PENDING, CheckpointStatus.FINAL):
        raise L1MismatchError(f"checkpoint {l1.index} has unknown status {l1.status} on L1")
    # Verify the size and root L1 holds are the ones the proof was made against.
    if l1.size != claimed.size:
        raise L1MismatchError(
            f"checkpoint {l1.index}: L1 holds tree size {l1.size}, served {claimed.size}"
        )
    if l1.root != claimed.root:
        raise L1MismatchError(
            f"checkpoint {l1.index}: L1 holds root {_hx(l1.root)}, served {_hx(claimed.root)}"
        )
    if l1.status == CheckpointStatus.PENDING and not allow_pending:
        raise NotFinalError(
            f"checkpoint {l1.index} is pending on L1 until {l1.challenge_ends} "
            "(its challenge window is open)"
        )


# --- step 5: the trusted state -------------------------------------------------------------


def needs_consistency_proof(
    trusted: TrustedCheckpoint | None, l1: L1Checkpoint
) -> tuple[int, int] | None:
    """The (first, second) sizes of the consistency proof step 5 needs, or None."""
    if trusted is None or trusted.size == l1.size:
        return None
    return (min(trusted.size, l1.size), max(trusted.size, l1.size))


def verify_trusted_extension(
    trusted: TrustedCheckpoint | None,
    l1: L1Checkpoint,
    consistency_proof: Sequence[bytes] | None,
    genesis: CheckpointRef | None = None,
) -> TrustedCheckpoint | None:
    """Step 5: `l1` and the checkpoint trusted before belong to one history.

    `consistency_proof` is RFC 9162 §2.1.4 between the smaller and the larger of the two sizes
    (`needs_consistency_proof` says which; not needed for equal sizes). Returns the checkpoint
    to trust from now on: `l1` when it is final and larger, else the old one. Only final
    checkpoints are ever trusted: a pending one may still be reverted by a fraud proof.

    `genesis` (L1's checkpoint 0 of this log) is recorded in the checkpoint returned, so the
    state file keeps one entry per log (`find_trusted`).

    Raises `TrustedStateMismatchError` (an `L1MismatchError`) when the two do not belong to
    one history: the same index with another size or root, or a consistency proof that does
    not verify (either L1 now holds a fork of what was verified before, or the server could
    not prove the extension — both mean this checkpoint must not be accepted). Raises
    `InvalidFieldError` when the trusted checkpoint is from another deployment or a needed
    proof is missing.
    """
    if trusted is None:
        return _trust(l1, genesis) if l1.status == CheckpointStatus.FINAL else None
    if (trusted.chain_id, trusted.contract) != (l1.chain_id, l1.contract):
        raise InvalidFieldError("trusted", "is for another chain or contract")
    # Verify an index seen before still holds what it held.
    if trusted.index == l1.index and (trusted.size, trusted.root) != (l1.size, l1.root):
        raise TrustedStateMismatchError(
            f"checkpoint {l1.index} on L1 now holds size {l1.size} root {_hx(l1.root)}, "
            f"verified before as size {trusted.size} root {_hx(trusted.root)}"
        )
    first, second = (trusted, l1) if trusted.size <= l1.size else (l1, trusted)
    if first.size != second.size and consistency_proof is None:
        raise InvalidFieldError(
            "consistency_proof", f"needed from tree size {first.size} to {second.size}"
        )
    # Verify one tree extends the other (RFC 9162 §2.1.4.2): checkpoints never fork.
    try:
        verify_consistency(
            first.size, second.size, first.root, second.root, consistency_proof or ()
        )
    except ConsistencyProofError as exc:
        raise TrustedStateMismatchError(
            f"checkpoint {l1.index} (size {l1.size}) and the trusted checkpoint {trusted.index} "
            f"(size {trusted.size}) are not one history: {exc}"
        ) from None
    keep = genesis if genesis is not None else trusted.genesis
    if l1.status == CheckpointStatus.FINAL and l1.size > trusted.size:
        return _trust(l1, keep)
    if keep != trusted.genesis:  # a format-1 entry learns its log's genesis
        return TrustedCheckpoint(
            trusted.chain_id, trusted.contract, trusted.index, trusted.size, trusted.root, keep
        )
    return trusted


def _trust(l1: L1Checkpoint, genesis: CheckpointRef | None) -> TrustedCheckpoint:
    if genesis is None and l1.index == 0:
        genesis = CheckpointRef(0, l1.size, l1.root)
    return TrustedCheckpoint(l1.chain_id, l1.contract, l1.index, l1.size, l1.root, genesis)


# --- all of it -----------------------------------------------------------------------------


def verify_event(
    bundle: ProofBundle,
    expectations: Expectations,
    l1_checkpoint: L1Checkpoint | None,
    *,
    allow_pending: bool = False,
    trusted: TrustedCheckpoint | None = None,
    consistency_proof: Sequence[bytes] | None = None,
    genesis: CheckpointRef | None = None,
) -> Verdict:
    """Steps 1-5 of the module docstring; returns the `Verdict` or raises the first failure.

    With `l1_checkpoint` None, L1 is not checked (offline): the record and the inclusion proof
    are verified against the bundle's own root only, and the verdict says so (`checkpoint`
    None). Otherwise the signature domain is L1's (chain id, contract), never the bundle's.

    Raises (see `prover.errors`): `ProofInvalidError`, `ExpectationMismatchError`
    (a `NotIncludedError`), `NotFinalError`, `L1MismatchError`, and `InvalidFieldError` for
    arguments that do not fit together.
    """
    if l1_checkpoint is not None:
        separator: bytes | None = compute_domain_separator(
            l1_checkpoint.chain_id, l1_checkpoint.contract
        )
        if bundle.contract is not None and bundle.contract != l1_checkpoint.contract:
            raise InvalidFieldError(
                "contract",
                f"the bundle is for {_hx(bundle.contract)}, L1 was read at "
                f"{_hx(l1_checkpoint.contract)}",
            )
        if bundle.chain_id is not None and bundle.chain_id != l1_checkpoint.chain_id:
            raise InvalidFieldError(
                "chainId",
                f"the bundle is for chain {bundle.chain_id}, L1 is chain {l1_checkpoint.chain_id}",
            )
    elif bundle.chain_id is not None and bundle.contract is not None:
        separator = compute_domain_separator(bundle.chain_id, bundle.contract)
    else:
        separator = None
    verify_record(bundle, expectations, separator)
    verify_bundle_inclusion(bundle)
    if l1_checkpoint is None:
        if bundle.checkpoint is not None:
            verify_anchor(bundle)
        return Verdict(bundle.seq, bundle.leaf_hash, bundle.record, None, False, trusted, False)
    claimed = verify_anchor(bundle)
    verify_l1_checkpoint(claimed, l1_checkpoint, allow_pending=allow_pending)
    new_trusted = verify_trusted_extension(trusted, l1_checkpoint, consistency_proof, genesis)
    return Verdict(
        bundle.seq,
        bundle.leaf_hash,
        bundle.record,
        l1_checkpoint,
        l1_checkpoint.status == CheckpointStatus.FINAL,
        new_trusted,
        trusted is not None,
    )


# --- wire forms ----------------------------------------------------------------------------


def _obj(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidFieldError(field, f"must be a JSON object, got {type(value).__name__}")
    return value


def _req(obj: Mapping[str, Any], key: str, prefix: str = "") -> Any:
    if key not in obj:
        raise InvalidFieldError(prefix + key, "is missing")
    return obj[key]


def checkpoint_ref_from_json(obj: Any, field: str = "checkpoint") -> CheckpointRef:
    """A server's checkpoint object (`{index, treeSize, root, ...}`) as a `CheckpointRef`."""
    o = _obj(obj, field)
    return CheckpointRef(
        parse_uint(_req(o, "index", field + "."), field + ".index", maximum=UINT256_MAX),
        parse_uint(_req(o, "treeSize", field + "."), field + ".treeSize", maximum=MAX_TREE_SIZE),
        parse_hash32(_req(o, "root", field + "."), field + ".root"),
    )


def bundle_from_proof_json(
    proof: Any,
    *,
    meta: Any = None,
    anchor: CheckpointRef | None = None,
    anchor_proof: Sequence[bytes] = (),
    chain_id: int | None = None,
    contract: bytes | None = None,
) -> ProofBundle:
    """A `ProofBundle` from an `attest_getProof` answer (docs/spec.md §10).

    The anchor is `anchor` when given (with `anchor_proof` from its size to the answer's
    `treeSize`), else the answer's own `checkpoint` object, if any. `meta` is the event's meta
    object from `attest_getEvent` (None when it has none).
    """
    o = _obj(proof, "proof")
    record = parse_hex(_req(o, "record"), "record", size=RECORD_SIZE)
    if anchor is None and o.get("checkpoint") is not None:
        anchor = checkpoint_ref_from_json(o["checkpoint"])
    return ProofBundle(
        seq=parse_uint(_req(o, "seq"), "seq"),
        record=record,
        leaf_hash=parse_hash32(_req(o, "leafHash"), "leafHash"),
        tree_size=parse_uint(_req(o, "treeSize"), "treeSize", maximum=MAX_TREE_SIZE),
        root=parse_hash32(_req(o, "root"), "root"),
        proof=parse_hashes(_req(o, "proof"), "proof"),
        checkpoint=anchor,
        anchor_proof=tuple(Hash32(bytes(p)) for p in anchor_proof),
        chain_id=chain_id,
        contract=contract,
        meta=canonical_meta(meta),
    )


def encode_bundle(bundle: ProofBundle) -> dict[str, Any]:
    """The JSON object of a proof bundle file (docs/light-client.md)."""
    cp = bundle.checkpoint
    return {
        "format": BUNDLE_FORMAT,
        "seq": bundle.seq,
        "record": _hx(bundle.record),
        "leafHash": _hx(bundle.leaf_hash),
        "treeSize": bundle.tree_size,
        "root": _hx(bundle.root),
        "proof": [_hx(p) for p in bundle.proof],
        "checkpoint": (
            None if cp is None else {"index": cp.index, "treeSize": cp.size, "root": _hx(cp.root)}
        ),
        "anchorProof": [_hx(p) for p in bundle.anchor_proof],
        "chainId": bundle.chain_id,
        "contract": None if bundle.contract is None else _hx(bundle.contract),
        "meta": None if bundle.meta is None else orjson.loads(bundle.meta),
    }


def decode_bundle(obj: Any) -> ProofBundle:
    """Parse a proof bundle file's JSON; raises `InvalidFieldError` naming what is wrong."""
    o = _obj(obj, "bundle")
    if o.get("format") != BUNDLE_FORMAT:
        raise InvalidFieldError("format", f"must be {BUNDLE_FORMAT!r}, got {o.get('format')!r:.80}")
    chain_id = o.get("chainId")
    contract = o.get("contract")
    return bundle_from_proof_json(
        o,
        meta=o.get("meta"),
        anchor=None if o.get("checkpoint") is None else checkpoint_ref_from_json(o["checkpoint"]),
        anchor_proof=parse_hashes(o.get("anchorProof", []), "anchorProof"),
        chain_id=None if chain_id is None else parse_uint(chain_id, "chainId", maximum=UINT256_MAX),
        contract=None if contract is None else parse_address(contract, "contract"),
    )


def encode_trusted_state(checkpoints: Sequence[TrustedCheckpoint]) -> dict[str, Any]:
    """The JSON object of the trusted state file: one checkpoint per log (chain, contract,
    genesis checkpoint); `genesis` is null only for an entry carried over from format 1."""
    return {
        "format": STATE_FORMAT,
        "checkpoints": [
            {
                "chainId": t.chain_id,
                "contract": _hx(t.contract),
                "genesis": None
                if t.genesis is None
                else {"treeSize": t.genesis.size, "root": _hx(t.genesis.root)},
                "index": t.index,
                "treeSize": t.size,
                "root": _hx(t.root),
            }
            for t in checkpoints
        ],
    }


def decode_trusted_state(obj: Any) -> list[TrustedCheckpoint]:
    """Parse the trusted state file's JSON; raises `InvalidFieldError` naming what is wrong."""
    o = _obj(obj, "state")
    version = o.get("format")
    if version not in (STATE_FORMAT, STATE_FORMAT_V1):
        raise InvalidFieldError(
            "format", f"must be {STATE_FORMAT!r} (or {STATE_FORMAT_V1!r}), got {version!r:.80}"
        )
    items = _req(o, "checkpoints")
    if not isinstance(items, list):
        raise InvalidFieldError("checkpoints", "must be a list")
    out = []
    for i, item in enumerate(items):
        p = f"checkpoints[{i}]."
        t = _obj(item, p[:-1])
        index = parse_uint(_req(t, "index", p), p + "index", maximum=UINT256_MAX)
        size = parse_uint(_req(t, "treeSize", p), p + "treeSize", maximum=MAX_TREE_SIZE)
        root = parse_hash32(_req(t, "root", p), p + "root")
        genesis: CheckpointRef | None = None
        g = _req(t, "genesis", p) if version == STATE_FORMAT else None
        if g is not None:
            go = _obj(g, p + "genesis")
            genesis = CheckpointRef(
                0,
                parse_uint(
                    _req(go, "treeSize", p + "genesis."),
                    p + "genesis.treeSize",
                    maximum=MAX_TREE_SIZE,
                ),
                parse_hash32(_req(go, "root", p + "genesis."), p + "genesis.root"),
            )
        elif index == 0:  # checkpoint 0 is its own log's genesis
            genesis = CheckpointRef(0, size, root)
        out.append(
            TrustedCheckpoint(
                chain_id=parse_uint(_req(t, "chainId", p), p + "chainId", maximum=UINT256_MAX),
                contract=parse_address(_req(t, "contract", p), p + "contract"),
                index=index,
                size=size,
                root=root,
                genesis=genesis,
            )
        )
    return out


def _same_log(t: TrustedCheckpoint, chain_id: int, contract: bytes, genesis: CheckpointRef) -> bool:
    if (t.chain_id, t.contract) != (chain_id, contract):
        return False
    # A format-1 entry (genesis unknown) stands for whichever log its deployment holds now.
    return t.genesis is None or (t.genesis.size, t.genesis.root) == (genesis.size, genesis.root)


def find_trusted(
    checkpoints: Sequence[TrustedCheckpoint],
    chain_id: int,
    contract: bytes,
    genesis: CheckpointRef,
) -> TrustedCheckpoint | None:
    """The trusted checkpoint of one log (deployment and genesis checkpoint), if any."""
    exact = [t for t in checkpoints if t.genesis is not None]
    for t in [*exact, *(t for t in checkpoints if t.genesis is None)]:
        if _same_log(t, chain_id, contract, genesis):
            return t
    return None


def other_logs(
    checkpoints: Sequence[TrustedCheckpoint],
    chain_id: int,
    contract: bytes,
    genesis: CheckpointRef,
) -> list[TrustedCheckpoint]:
    """Trusted checkpoints of other logs at the same deployment (earlier devnets at the same
    chain and address): each has another genesis checkpoint."""
    return [
        t
        for t in checkpoints
        if (t.chain_id, t.contract) == (chain_id, contract)
        and not _same_log(t, chain_id, contract, genesis)
    ]


def replace_trusted(
    checkpoints: Sequence[TrustedCheckpoint], new: TrustedCheckpoint
) -> list[TrustedCheckpoint]:
    """`checkpoints` with the entry of `new`'s log replaced by (or extended with) it; a
    format-1 entry of the same deployment is replaced too (`new` says which log it was)."""
    g = new.genesis

    def same(t: TrustedCheckpoint) -> bool:
        if (t.chain_id, t.contract) != (new.chain_id, new.contract):
            return False
        return g is None or _same_log(t, new.chain_id, new.contract, g)

    return [*(t for t in checkpoints if not same(t)), new]


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    """The machine-readable form of a successful verdict (`attest verify --json`)."""
    rec = decode_record(verdict.record)
    cp = verdict.checkpoint
    return {
        "ok": True,
        "seq": verdict.seq,
        "leafHash": _hx(verdict.leaf_hash),
        "kind": decode_kind(rec.kind) if is_valid_kind(rec.kind) else _hx(rec.kind),
        "subject": _hx(rec.subject),
        "digest": _hx(rec.digest),
        "submitter": _hx(rec.submitter),
        "signed": rec.is_signed,
        "metaHash": None if rec.meta_hash == ZERO32 else _hx(rec.meta_hash),
        "l1Checked": cp is not None,
        "final": verdict.final,
        "checkpoint": None
        if cp is None
        else {
            "chainId": cp.chain_id,
            "contract": _hx(cp.contract),
            "index": cp.index,
            "treeSize": cp.size,
            "root": _hx(cp.root),
            "status": status_label(cp.status),
            "challengeEnds": cp.challenge_ends,
        },
        "consistencyChecked": verdict.consistency_checked,
    }
