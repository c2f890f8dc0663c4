"""Light-client verification through the client (docs/spec.md §11), revocations (§13) and the
CI gate's decision over every matching record.

The checks are `prover.light_client`'s; this module fetches the evidence with a `Client`
(any sequencer or follower) and the checkpoint rows from L1 itself (`sequencer.client.l1`),
never trusting the server's word for a checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

import orjson

from prover.checkpoint import CheckpointStatus
from prover.errors import (
    ExpectationMismatchError,
    InvalidFieldError,
    InvalidInputError,
    L1MismatchError,
    NotFinalError,
    NotIncludedError,
    ProofError,
    ProofInvalidError,
    TrustedStateMismatchError,
)
from prover.jsonrpc import NOT_FOUND, JsonRpcError
from prover.light_client import (
    CheckpointRef,
    Expectations,
    L1Checkpoint,
    ProofBundle,
    TrustedCheckpoint,
    bundle_from_proof_json,
    decode_trusted_state,
    encode_trusted_state,
    find_trusted,
    needs_consistency_proof,
    other_logs,
    replace_trusted,
    verify_event,
)
from prover.record import encode_kind
from prover.types import Hash32
from prover.wire import hex0x, parse_hash32, parse_hashes
from sequencer.client.errors import RejectedError, UnreachableError
from sequencer.client.results import (
    KIND_REVOCATION,
    SUPERSEDES_KEY,
    CandidateVerdict,
    CheckResult,
    EventInfo,
    Outcome,
    Verification,
    parse_event_info,
)

if TYPE_CHECKING:
    from sequencer.client.sync import Client

MAX_SUPERSESSION_SCAN = 10_000
"""`verify` reads at most this many later records of a subject to look for supersessions."""


def fetch_event(client: Client, seq: int) -> EventInfo:
    """`attest_getEvent(seq)` read from its record; `NotIncludedError` if there is none."""
    try:
        answer = client.rpc.call("attest_getEvent", seq)
    except RejectedError as exc:
        if exc.code == NOT_FOUND:
            raise NotIncludedError(f"seq {seq} is not in the log: {exc.message}") from None
        raise
    try:
        return parse_event_info(answer, seq)
    except InvalidFieldError as exc:
        raise ProofInvalidError(
            f"the server served a malformed record for seq {seq}: {exc}"
        ) from None


def fetch_bundle(client: Client, event: EventInfo, cp: L1Checkpoint) -> ProofBundle:
    """The proof of `event` against L1 checkpoint `cp` (§11 step 2): the proof at the
    checkpoint, or at the server's tree plus a consistency proof down to the checkpoint."""
    meta = event.meta
    try:
        try:
            answer = client.rpc.call("attest_getProof", event.seq, {"checkpoint": cp.index})
        except RejectedError as exc:
            if exc.code != NOT_FOUND:
                raise
        else:
            served = bundle_from_proof_json(
                {**answer, "checkpoint": None},
                meta=meta,
                chain_id=cp.chain_id,
                contract=cp.contract,
            )
            return replace(
                served, checkpoint=CheckpointRef(cp.index, served.tree_size, served.root)
            )
        answer = client.rpc.call("attest_getProof", event.seq)
        served = bundle_from_proof_json(
            {**answer, "checkpoint": None}, meta=meta, chain_id=cp.chain_id, contract=cp.contract
        )
        if served.tree_size < cp.size:
            raise UnreachableError(
                f"the server's tree (size {served.tree_size}) is behind checkpoint {cp.index} "
                f"(size {cp.size}): ask another sequencer or follower"
            )
        cons = client.rpc.call("attest_getConsistencyProof", cp.size, served.tree_size)
        if not isinstance(cons, dict):
            raise InvalidFieldError("attest_getConsistencyProof", "answer is not an object")
        return replace(
            served,
            checkpoint=CheckpointRef(
                cp.index, cp.size, parse_hash32(cons.get("firstRoot"), "firstRoot")
            ),
            anchor_proof=parse_hashes(cons.get("proof"), "proof"),
        )
    except InvalidFieldError as exc:
        raise ProofInvalidError(f"the server answered a malformed proof: {exc}") from None


# --- the trusted state file (same format as `attest verify --state`) -------------------------


def load_trusted(path: Path | None) -> list[TrustedCheckpoint]:
    if path is None:
        return []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InvalidInputError(f"state file {path}: {exc}") from None
    try:
        return decode_trusted_state(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"state file {path} is not JSON: {exc}") from None
    except InvalidInputError as exc:
        raise InvalidInputError(f"state file {path}: {exc}") from None


DEFAULT_STATE: Final[str] = "~/.attest/light-client.json"
"""Where `attest verify`, `attest check` and the client keep trusted checkpoints by default:
one per log (chainId, contract, genesis checkpoint), docs/light-client.md "Trusted state"."""


def read_genesis(checkpoint: Callable[[int], L1Checkpoint], chosen: L1Checkpoint) -> CheckpointRef:
    """L1's checkpoint 0 of the log `chosen` belongs to: with the chain and contract, what
    names the log in the trusted state (its row never changes once committed)."""
    g = chosen if chosen.index == 0 else checkpoint(0)
    return CheckpointRef(0, g.size, g.root)


def trusted_of(
    path: Path | None, chosen: L1Checkpoint, genesis: CheckpointRef
) -> tuple[list[TrustedCheckpoint], TrustedCheckpoint | None, list[str]]:
    """(every entry of the state file, this log's trusted checkpoint, notes). A log the file
    does not know yet (a restarted devnet at the same chain and address) is a new log: it is
    verified from scratch, and a note says so, naming the file."""
    states = load_trusted(path)
    trusted = find_trusted(states, chosen.chain_id, chosen.contract, genesis)
    notes: list[str] = []
    others = other_logs(states, chosen.chain_id, chosen.contract, genesis)
    if trusted is None and others:
        notes.append(
            f"a new log at chain {chosen.chain_id} contract {hex0x(chosen.contract)}: its "
            f"genesis checkpoint (size {genesis.size}, root {hex0x(genesis.root)}) differs from "
            f"the {len(others)} other log(s) at that address kept in the state file {path}; "
            "verified with no earlier trusted checkpoint"
        )
    return states, trusted, notes


def fetch_trusted_consistency(
    call: Callable[[int, int], object],
    path: Path | None,
    trusted: TrustedCheckpoint,
    chosen: L1Checkpoint,
    sizes: tuple[int, int],
) -> Sequence[Hash32]:
    """The consistency proof between the trusted checkpoint and `chosen` (step 5). A server
    that refuses it (a JSON-RPC error: it does not hold that history) or answers a malformed
    one is a trusted-state mismatch, named with its file, not an unreachable server."""
    try:
        answer = call(*sizes)
    except JsonRpcError as exc:
        raise TrustedStateMismatchError(
            f"the server cannot prove that checkpoint {chosen.index} (size {chosen.size}) and "
            f"the checkpoint verified before ({trusted.index}, size {trusted.size}, kept in the "
            f"state file {path}) are one history: it answered {exc}; if this is another log on "
            "purpose, pass another --state FILE"
        ) from None
    try:
        return parse_hashes(answer.get("proof") if isinstance(answer, dict) else None, "proof")
    except InvalidFieldError as exc:
        raise ProofInvalidError(f"the server answered a malformed proof: {exc}") from None


def with_state_file(exc: TrustedStateMismatchError, path: Path | None) -> TrustedStateMismatchError:
    """`exc` with the state file named (the pure check does not know it)."""
    return TrustedStateMismatchError(
        f"{exc} (trusted state file {path}; if this is another log on purpose, pass another "
        "--state FILE)"
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Write `path` so that a crash leaves either the old file or the new one, never half.

    tmp file in the same directory, fsync, rename over the old one, fsync the directory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # After this fsync the rename itself survives a crash: the new state, not the old one.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_trusted(path: Path, checkpoints: Sequence[TrustedCheckpoint]) -> None:
    """Write the state so that a crash leaves the old file or the new one, never half."""
    data = orjson.dumps(encode_trusted_state(checkpoints), option=orjson.OPT_INDENT_2) + b"\n"
    write_atomically(path, data)


# --- one event ------------------------------------------------------------------------------


def verify_event_info(
    client: Client, event: EventInfo, expectations: Expectations, *, allow_pending: bool
) -> tuple[L1Checkpoint, bool, list[str]]:
    """§11 steps 1-7 for an event already fetched; (checkpoint, final, notes)."""
    l1 = client.l1()
    assert l1 is not None
    notes: list[str] = []
    if client.l1_from_server():
        notes.append(
            "L1 endpoint/contract taken from the server's attest_status; pin them to be sure"
        )
    chosen = l1.choose(event.seq, allow_pending=allow_pending)
    bundle = fetch_bundle(client, event, chosen)
    genesis = read_genesis(l1.checkpoint, chosen)
    states, trusted, state_notes = trusted_of(client.state_path, chosen, genesis)
    notes.extend(state_notes)
    need = needs_consistency_proof(trusted, chosen)
    proof = None
    if need is not None and trusted is not None:
        proof = fetch_trusted_consistency(
            lambda a, b: client.rpc.call("attest_getConsistencyProof", a, b),
            client.state_path,
            trusted,
            chosen,
            need,
        )
    try:
        verdict = verify_event(
            bundle,
            expectations,
            chosen,
            allow_pending=allow_pending,
            trusted=trusted,
            consistency_proof=proof,
            genesis=genesis,
        )
    except TrustedStateMismatchError as exc:
        raise with_state_file(exc, client.state_path) from None
    if client.state_path is not None and verdict.trusted is not None and verdict.trusted != trusted:
        save_trusted(client.state_path, replace_trusted(states, verdict.trusted))
    if chosen.status != CheckpointStatus.FINAL:
        notes.append("the checkpoint is PENDING: a fraud proof may still revert it")
    return chosen, verdict.final, notes


def verify_seq(
    client: Client, seq: int, expectations: Expectations, *, allow_pending: bool, revocations: bool
) -> Verification:
    event = fetch_event(client, seq)
    cp, final, notes = verify_event_info(client, event, expectations, allow_pending=allow_pending)
    v = Verification(event, cp, final, notes=tuple(notes))
    return revocation_status(client, v) if revocations else v


def revocation_status(client: Client, v: Verification) -> Verification:
    """`v` with its revocations (found by digest = its leaf hash) and supersessions (found among
    the later records of its subject, whose meta names the leaf hash; a subject with more than
    `MAX_SUPERSESSION_SCAN` later records — a busy sensor — is not read whole for that)."""
    later = [s for s in client.find(subject=v.event.subject) if s > v.event.seq]
    if len(later) > MAX_SUPERSESSION_SCAN:
        later = []
        v = replace(
            v,
            notes=(
                *v.notes,
                f"more than {MAX_SUPERSESSION_SCAN} later records with this "
                "subject: supersession not checked (revocations were)",
            ),
        )
    return with_revocations(client, v, client.get_events(later))


# --- revocation and supersession (docs/spec.md §13) -----------------------------------------


def is_revocation_of(r: EventInfo, target: EventInfo) -> bool:
    """`r` revokes `target`: kind revocation, digest = target's leaf hash, same submitter,
    later in the log."""
    return (
        r.kind == KIND_REVOCATION
        and r.digest == target.leaf_hash
        and r.submitter == target.submitter
        and r.seq > target.seq
    )


def is_supersession_of(r: EventInfo, target: EventInfo) -> bool:
    """`r` supersedes `target`: same submitter and subject, later, and its (verified) meta
    names target's leaf hash under `supersedes`."""
    if r.meta is None or r.seq <= target.seq or r.submitter != target.submitter:
        return False
    if r.subject != target.subject or r.kind == KIND_REVOCATION:
        return False
    named = r.meta.get(SUPERSEDES_KEY)
    return isinstance(named, str) and named.lower() == hex0x(target.leaf_hash)


def with_revocations(client: Client, v: Verification, history: Sequence[EventInfo]) -> Verification:
    """`v` with the revocations and supersessions found in `history` (the subject's records),
    each counted only once it verifies against L1 itself (pending allowed: a revocation
    counts from the moment it is in the log)."""
    revoked: list[EventInfo] = []
    superseded: list[EventInfo] = []
    notes = list(v.notes)
    # Revocations are also found by digest (= the leaf hash), in case one names another subject.
    by_digest = [s for s in client.find(digest=v.event.leaf_hash) if s > v.event.seq]
    extra = client.get_events([s for s in by_digest if s not in {h.seq for h in history}])
    for r in [*history, *extra]:
        rev = is_revocation_of(r, v.event)
        sup = is_supersession_of(r, v.event)
        if not (rev or sup):
            continue
        try:
            verify_event_info(client, r, Expectations(), allow_pending=True)
        except NotFinalError:
            notes.append(
                f"seq {r.seq} {'revokes' if rev else 'supersedes'} it but is not yet "
                "covered by any L1 checkpoint; counted anyway"
            )
        except (ProofError, L1MismatchError, NotIncludedError) as exc:
            notes.append(
                f"seq {r.seq} claims to {'revoke' if rev else 'supersede'} it but does "
                f"not verify ({exc}); ignored"
            )
            continue
        (revoked if rev else superseded).append(r)
    return replace(
        v, revoked_by=tuple(revoked), superseded_by=tuple(superseded), notes=tuple(notes)
    )


# --- the CI gate ----------------------------------------------------------------------------

_RANK = {  # lower is closer to "attested": the outcome reported when none is attested
    Outcome.NOT_FINAL: 0,
    Outcome.SUPERSEDED: 1,
    Outcome.REVOKED: 2,
    Outcome.PROOF_INVALID: 3,
    Outcome.L1_DISAGREES: 4,
    Outcome.STATE_MISMATCH: 5,
}


def check_attestation(
    client: Client,
    subject: Hash32,
    digest: Hash32,
    *,
    kind: str | None,
    signers: Sequence[bytes],
    allow_pending: bool,
) -> CheckResult:
    """Every record with `subject` (paging through all of them), of `kind` when given, with
    `digest`: each is verified against L1, then checked for revocation and supersession.

    ATTESTED when at least one verifies (final, or pending with `allow_pending`), by an
    accepted signer, and is neither revoked nor superseded; otherwise the closest failure.
    """
    kind_name = None if kind is None else encode_kind(kind).rstrip(b"\x00").decode()
    history = client.get_events(list(client.find(subject=subject)))
    matches = [
        e
        for e in history
        if e.digest == digest
        and e.kind != KIND_REVOCATION
        and (kind_name is None or e.kind == kind_name)
    ]
    if not matches:
        what = f"subject {hex0x(subject)} digest {hex0x(digest)}" + (
            f" kind {kind_name}" if kind_name else ""
        )
        return CheckResult(
            Outcome.ABSENT,
            f"no record with {what} in the log ({len(history)} record(s) with that subject)",
            None,
            (),
        )
    if signers:
        allowed = [e for e in matches if e.submitter in set(signers)]
        if not allowed:
            by = sorted({hex0x(e.submitter) for e in matches})
            return CheckResult(
                Outcome.WRONG_SIGNER,
                f"{len(matches)} matching record(s), submitted by {', '.join(by)}; none by "
                f"{', '.join(hex0x(s) for s in signers)}",
                None,
                tuple(
                    CandidateVerdict(e, Outcome.WRONG_SIGNER, "submitter not accepted")
                    for e in matches
                ),
            )
        matches = allowed
    verdicts: list[CandidateVerdict] = []
    for e in reversed(matches):  # latest first: the newest attestation is the one that counts
        verdicts.append(_judge(client, e, history, allow_pending))
        if verdicts[-1].outcome is Outcome.ATTESTED:
            break
    ok = [c for c in verdicts if c.outcome is Outcome.ATTESTED]
    if ok:
        return CheckResult(Outcome.ATTESTED, ok[0].message, ok[0].verification, tuple(verdicts))
    best = min(verdicts, key=lambda c: _RANK[c.outcome])
    return CheckResult(best.outcome, best.message, None, tuple(verdicts))


def _judge(
    client: Client, e: EventInfo, history: Sequence[EventInfo], allow_pending: bool
) -> CandidateVerdict:
    try:
        cp, final, notes = verify_event_info(
            client, e, Expectations(subject=e.subject, digest=e.digest), allow_pending=allow_pending
        )
    except NotFinalError as exc:
        return CandidateVerdict(e, Outcome.NOT_FINAL, f"seq {e.seq}: {exc}")
    except ExpectationMismatchError as exc:
        return CandidateVerdict(e, Outcome.PROOF_INVALID, f"seq {e.seq}: {exc}")
    except (ProofError, NotIncludedError) as exc:
        return CandidateVerdict(e, Outcome.PROOF_INVALID, f"seq {e.seq}: {exc}")
    except TrustedStateMismatchError as exc:
        return CandidateVerdict(e, Outcome.STATE_MISMATCH, f"seq {e.seq}: {exc}")
    except L1MismatchError as exc:
        return CandidateVerdict(e, Outcome.L1_DISAGREES, f"seq {e.seq}: {exc}")
    v = with_revocations(client, Verification(e, cp, final, notes=tuple(notes)), history)
    if v.revoked:
        r = v.revoked_by[0]
        reason = (r.meta or {}).get("reason")
        return CandidateVerdict(
            e,
            Outcome.REVOKED,
            f"seq {e.seq} was revoked by seq {r.seq}" + (f": {reason}" if reason else ""),
            v,
        )
    if v.superseded:
        return CandidateVerdict(
            e, Outcome.SUPERSEDED, f"seq {e.seq} was superseded by seq {v.superseded_by[0].seq}", v
        )
    state = "final" if final else "PENDING"
    return CandidateVerdict(
        e,
        Outcome.ATTESTED,
        f"seq {e.seq} attested under {state} checkpoint "
        f"{cp.index} (tree size {cp.size}) by {hex0x(e.submitter)}",
        v,
    )
