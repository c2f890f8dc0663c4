"""`attest verify`: the light client's command line.

`prover.light_client` decides; `fetch` gets the evidence from any upstream and from L1 itself;
`state` keeps the trusted checkpoints; `output` turns each verdict into a line and an exit code
(listed there and in docs/light-client.md). Everything blocks: one CLI process, one request at
a time.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from prover.checkpoint import CheckpointStatus
from prover.dataset_proof import decode_dataset_proof, verify_dataset_proof
from prover.errors import (
    AttestError,
    ExpectationMismatchError,
    InvalidInputError,
    L1Error,
    NotIncludedError,
    TrustedStateMismatchError,
)
from prover.light_client import (
    CheckpointRef,
    Expectations,
    L1Checkpoint,
    TrustedCheckpoint,
    Verdict,
    decode_bundle,
    needs_consistency_proof,
    replace_trusted,
    verdict_to_json,
    verify_event,
    verify_expectations,
)
from prover.record import RECORD_SIZE, encode_kind
from prover.types import Hash32
from prover.wire import hex0x, parse_address, parse_hash32, parse_hex
from sequencer.client import Client, Verification
from sequencer.client.l1 import parse_l1_block
from sequencer.client.light import (
    fetch_trusted_consistency,
    read_genesis,
    revocation_status,
    trusted_of,
    with_state_file,
)
from sequencer.config import sequencer_url_type, url_type
from sequencer.lightclient.export import register_export
from sequencer.lightclient.fetch import (
    L1Reader,
    UnreachableError,
    fetch_bundle,
    fetch_event,
    l1_target,
    rpc_call,
)
from sequencer.lightclient.output import (
    EXIT_BUNDLE_ONLY,
    EXIT_CODES_HELP,
    EXIT_L1_DISAGREES,
    EXIT_NOT_FINAL,
    EXIT_NOT_INCLUDED,
    EXIT_OK,
    EXIT_PROOF_INVALID,
    EXIT_REVOKED,
    EXIT_STATE_MISMATCH,
    EXIT_SUPERSEDED,
    EXIT_UNREACHABLE,
    fail,
    failure,
    ok_lines,
    say,
    usage,
)
from sequencer.lightclient.state import DEFAULT_STATE, save_state
from sequencer.rpc.client import RpcClient, TransportError


def expectations_from_args(args: argparse.Namespace) -> Expectations:
    kind: bytes | None = None
    if args.kind is not None:
        try:
            kind = encode_kind(args.kind)
        except InvalidInputError as exc:
            raise InvalidInputError(f"--kind: {exc}") from None
    return Expectations(
        kind=kind,
        subject=None if args.subject is None else parse_hash32(args.subject, "--subject"),
        digest=None if args.digest is None else parse_hash32(args.digest, "--digest"),
        submitter=None if args.submitter is None else parse_address(args.submitter, "--submitter"),
        meta_hash=None if args.meta_hash is None else parse_hash32(args.meta_hash, "--meta-hash"),
        nonce=args.nonce,
    )


def _verify_one(
    args: argparse.Namespace,
    client: RpcClient,
    l1: L1Reader,
    seq: int,
    expectations: Expectations,
    state_path: Path,
    notes: list[str],
) -> Verdict:
    # Verify the event exists first: a seq the log does not have is "not included", not
    # "not final" (no checkpoint could ever cover it).
    fetch_event(client, seq)
    chosen = l1.choose(seq, allow_pending=args.allow_pending)
    bundle = fetch_bundle(client, seq, CheckpointRef(chosen.index, chosen.size, chosen.root), l1)
    genesis = read_genesis(l1.checkpoint, chosen)
    states, trusted, state_notes = trusted_of(state_path, chosen, genesis)
    notes.extend(state_notes)
    need = needs_consistency_proof(trusted, chosen)
    proof = None
    if need is not None and trusted is not None:
        proof = fetch_trusted_consistency(
            lambda a, b: rpc_call(client, "attest_getConsistencyProof", a, b),
            state_path,
            trusted,
            chosen,
            need,
        )
    try:
        verdict = verify_event(
            bundle,
            expectations,
            chosen,
            allow_pending=args.allow_pending,
            trusted=trusted,
            consistency_proof=proof,
            genesis=genesis,
        )
    except TrustedStateMismatchError as exc:
        raise with_state_file(exc, state_path) from None
    if verdict.trusted is not None and verdict.trusted != trusted:
        # After this rename the new trusted checkpoint survives a crash; before it, the old one.
        save_state(state_path, replace_trusted(states, verdict.trusted))
    if trusted is not None:
        notes.append(
            f"consistent with the checkpoint verified before ({trusted.index}, size {trusted.size})"
        )
    if chosen.status != CheckpointStatus.FINAL:
        notes.append("the checkpoint is PENDING: a fraud proof may still revert it")
    return verdict


_PAGE = 1000  # seqs per attest_findByDigest / attest_findBySubject page
_CHUNK = 100  # attest_getEvent calls per JSON-RPC batch

# With --digest or --subject and no --seq: the verdict reported when no candidate verifies,
# closest to "attested" first (docs/light-client.md, exit codes).
_CLOSEST = (
    EXIT_NOT_FINAL,
    EXIT_SUPERSEDED,
    EXIT_REVOKED,
    EXIT_PROOF_INVALID,
    EXIT_L1_DISAGREES,
    EXIT_STATE_MISMATCH,
    EXIT_UNREACHABLE,
    EXIT_NOT_INCLUDED,
)


def _closeness(outcome: tuple[int, dict[str, Any], list[str]]) -> int:
    code = outcome[0]
    return _CLOSEST.index(code) if code in _CLOSEST else len(_CLOSEST)


def _search_key(args: argparse.Namespace) -> tuple[str, str, Hash32]:
    """(method, what, key): find by --digest when given, else by --subject."""
    if args.digest is not None:
        return "attest_findByDigest", "digest", parse_hash32(args.digest, "--digest")
    return "attest_findBySubject", "subject", parse_hash32(args.subject, "--subject")


def _all_seqs(client: RpcClient, method: str, key: Hash32) -> list[int]:
    """Every seq the server lists for `key`, ascending, paging through all of them."""
    seqs: list[int] = []
    after: int | None = None
    while True:
        paging: dict[str, Any] = {"limit": _PAGE}
        if after is not None:
            paging["after"] = after
        page = rpc_call(client, method, hex0x(key), paging)
        found = page.get("seqs") if isinstance(page, dict) else None
        if not isinstance(found, list) or not all(type(s) is int for s in found):
            raise UnreachableError(f"{method} answered {page!r:.200}")
        seqs.extend(found)
        nxt = page.get("next")
        if nxt is None or not found:
            return seqs
        if type(nxt) is not int or (after is not None and nxt <= after):
            raise UnreachableError(f"{method} answered a bad page cursor {nxt!r:.80}")
        after = nxt


def _candidates(
    client: RpcClient, seqs: list[int], expectations: Expectations, skipped: list[str]
) -> Iterator[int]:
    """The seqs among `seqs` whose served record has every field the flags ask for (kind,
    subject, digest, submitter, metaHash, nonce), newest first, fetched 100 at a time. A
    served record is only a hint here: each candidate is then verified in full."""
    newest_first = sorted(set(seqs), reverse=True)
    for i in range(0, len(newest_first), _CHUNK):
        chunk = newest_first[i : i + _CHUNK]
        try:
            answers = client.batch([("attest_getEvent", [s]) for s in chunk])
        except (TransportError, OSError) as exc:
            raise UnreachableError(f"sequencer at {client.url} is unreachable: {exc}") from None
        for seq, answer in zip(chunk, answers, strict=True):
            record = answer.get("record") if isinstance(answer, dict) else None
            try:
                raw = parse_hex(record, "record", size=RECORD_SIZE)
                verify_expectations(raw, expectations)
            except ExpectationMismatchError:
                continue
            except InvalidInputError as exc:
                skipped.append(f"seq {seq}: the server served no readable record ({exc})")
                continue
            yield seq


def _find(
    args: argparse.Namespace, client: RpcClient, expectations: Expectations
) -> tuple[list[int], Iterator[int], list[str], str]:
    """(every seq with the key, the candidates among them, notes about skipped ones, what)."""
    method, what, key = _search_key(args)
    seqs = _all_seqs(client, method, key)
    if not seqs:
        raise NotIncludedError(f"no event with {what} {hex0x(key)} in the log")
    skipped: list[str] = []
    return seqs, _candidates(client, seqs, expectations, skipped), skipped, f"{what} {hex0x(key)}"


def _filters(args: argparse.Namespace) -> str:
    given = [
        f"{flag} {value}"
        for flag, value in (
            ("--kind", args.kind),
            ("--subject", args.subject),
            ("--digest", args.digest),
            ("--submitter", args.submitter),
            ("--meta-hash", args.meta_hash),
            ("--nonce", args.nonce),
        )
        if value is not None
    ]
    return ", ".join(given)


Outcome = tuple[int, dict[str, Any], list[str]]


def _judge(
    args: argparse.Namespace,
    client: RpcClient,
    l1: L1Reader,
    target_notes: list[str],
    seq: int,
    expectations: Expectations,
    state_path: Path,
) -> Outcome:
    """Verify one seq, its revocations included: (exit code, JSON verdict, text lines)."""
    notes = list(target_notes)
    try:
        verdict = _verify_one(args, client, l1, seq, expectations, state_path, notes)
        extra, code = (
            ({}, EXIT_OK) if args.no_revocations else _revocation_status(args, l1, verdict, notes)
        )
    except AttestError as exc:
        return failure(exc, seq)
    return code, {**verdict_to_json(verdict), **extra, "notes": notes}, ok_lines(verdict, notes)


def cmd_verify(args: argparse.Namespace) -> int:
    if args.bundle is not None:
        return _verify_bundle(args)
    if args.rpc is None:
        return usage(args, "give --rpc URL (with --seq, --digest or --subject), or --bundle FILE")
    if args.seq is None and args.digest is None and args.subject is None:
        return usage(args, "give --seq N, --digest HEX or --subject HEX")
    if args.seq is not None and args.seq < 0:
        return usage(args, f"--seq must be >= 0, got {args.seq}")
    state_path = Path(os.path.expanduser(args.state))
    seq: int | None = args.seq
    try:
        expectations = expectations_from_args(args)
        with RpcClient(args.rpc, timeout=args.timeout) as client:
            target = l1_target(args, client)
            if target is None:
                return usage(
                    args,
                    "no L1 known: pass --l1-rpc URL and --contract ADDR (the sequencer "
                    "reports none)",
                )
            l1 = L1Reader(target.url, target.contract, timeout=args.timeout, block=args.l1_block)
            base: list[str] = []
            if target.from_server:
                base.append(
                    "L1 URL/contract taken from the sequencer's attest_status; pass --l1-rpc "
                    "and --contract to pin them"
                )
            if args.seq is not None:
                code, body, lines = _judge(
                    args, client, l1, base, args.seq, expectations, state_path
                )
                say(args, body, lines)
                return code
            return _search(args, client, l1, base, expectations, state_path)
    except AttestError as exc:
        return fail(args, exc, seq)


def _search(
    args: argparse.Namespace,
    client: RpcClient,
    l1: L1Reader,
    base: list[str],
    expectations: Expectations,
    state_path: Path,
) -> int:
    """--digest / --subject without --seq: every record with that key whose fields match the
    flags is a candidate, newest first. Without --all, the first that verifies (exit 0) is
    reported, else the closest failure; with --all, every candidate is reported."""
    seqs, candidates, skipped, what = _find(args, client, expectations)
    filters = _filters(args)
    tried: list[Outcome] = []
    tried_seqs: list[int] = []
    for seq in candidates:
        notes = [
            *base,
            f"found by {what}: {len(seqs)} record(s) with it; seq {seq} matches {filters}",
        ]
        outcome = _judge(args, client, l1, notes, seq, expectations, state_path)
        tried.append(outcome)
        tried_seqs.append(seq)
        if args.all:
            say(args, outcome[1], outcome[2])
        elif outcome[0] == EXIT_OK:
            break
    if not tried:
        why = f"; {'; '.join(skipped)}" if skipped else ""
        raise NotIncludedError(
            f"no event in the log matches {filters}: the {len(seqs)} record(s) with that "
            f"{what.split()[0]} differ in a field asked for{why}"
        )
    if args.all:
        return next((c for c, _, _ in tried if c != EXIT_OK), EXIT_OK)
    ok = [o for o in tried if o[0] == EXIT_OK]
    code, body, lines = ok[0] if ok else min(tried, key=_closeness)
    if not ok and len(tried) > 1:
        others = ", ".join(f"seq {s}: exit {o[0]}" for s, o in zip(tried_seqs, tried, strict=True))
        lines = [*lines, f"  note: {len(tried)} candidates, none verified ({others})"]
        body = {
            **body,
            "candidates": [
                {"seq": s, "exitCode": o[0]} for s, o in zip(tried_seqs, tried, strict=True)
            ],
        }
    say(args, body, lines)
    return code


def _revocation_status(
    args: argparse.Namespace, l1: L1Reader, verdict: Verdict, notes: list[str]
) -> tuple[dict[str, Any], int]:
    """The event's meta, and whether its submitter revoked or superseded it (docs/spec.md §13),
    each revocation itself checked against L1; exit 10 (revoked) or 11 (superseded), else 0."""
    with Client(args.rpc, l1_rpc=l1.url, contract=l1.contract, timeout=args.timeout) as tc:
        event = tc.get_event(verdict.seq)
        if verdict.checkpoint is None:
            return {"meta": event.meta}, EXIT_OK
        v = revocation_status(tc, Verification(event, verdict.checkpoint, verdict.final))
    notes.extend(v.notes)
    for r in v.revoked_by:
        reason = (r.meta or {}).get("reason")
        notes.append(f"REVOKED by seq {r.seq}" + (f": {reason}" if reason else ""))
    for r in v.superseded_by:
        notes.append(f"SUPERSEDED by seq {r.seq}")
    extra = {
        "meta": event.meta,
        "revoked": v.revoked,
        "revokedBy": [r.seq for r in v.revoked_by],
        "superseded": v.superseded,
        "supersededBy": [r.seq for r in v.superseded_by],
    }
    return extra, EXIT_REVOKED if v.revoked else EXIT_SUPERSEDED if v.superseded else EXIT_OK


def _verify_bundle(args: argparse.Namespace) -> int:
    try:
        raw = Path(args.bundle).read_bytes()
    except OSError as exc:
        return usage(args, f"cannot read bundle {args.bundle}: {exc}")
    seq: int | None = None
    try:
        try:
            bundle = decode_bundle(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"bundle {args.bundle} is not JSON: {exc}") from None
        seq = bundle.seq
        doc = orjson.loads(raw)
        # A two-level bundle (attest dataset prove, docs/spec.md §11.1) also carries the
        # sample's place in the dataset whose root the record attests.
        dataset = (
            decode_dataset_proof(doc["dataset"])
            if isinstance(doc, dict) and "dataset" in doc
            else None
        )
        expectations = expectations_from_args(args)
        if args.seq is not None and args.seq != bundle.seq:
            raise NotIncludedError(f"the bundle is for seq {bundle.seq}, not {args.seq}")
        notes: list[str] = []
        contract = (
            parse_address(args.contract, "--contract")
            if args.contract is not None
            else bundle.contract
        )
        l1_cp: L1Checkpoint | None = None
        reader: L1Reader | None = None
        save = True
        trusted: TrustedCheckpoint | None = None
        proof: Sequence[bytes] | None = None
        states: list[TrustedCheckpoint] = []
        state_path = Path(os.path.expanduser(args.state))
        if bundle.checkpoint is None:
            notes.append("the bundle is not anchored to a checkpoint")
        elif args.l1_rpc is None or contract is None:
            notes.append("no --l1-rpc (and contract) given")
        else:
            if args.contract is None:
                notes.append("contract address taken from the bundle; pass --contract to pin it")
            try:
                reader = L1Reader(args.l1_rpc, contract, timeout=args.timeout, block=args.l1_block)
                l1_cp = reader.checkpoint(bundle.checkpoint.index)
            except L1Error as exc:
                notes.append(f"L1 unreachable: {exc}")
        genesis: CheckpointRef | None = None
        if l1_cp is not None and reader is not None:
            genesis = read_genesis(reader.checkpoint, l1_cp)
            states, trusted, state_notes = trusted_of(state_path, l1_cp, genesis)
            notes.extend(state_notes)
            need = needs_consistency_proof(trusted, l1_cp)
            if need is not None and trusted is not None and args.rpc is not None:
                with RpcClient(args.rpc, timeout=args.timeout) as client:
                    proof = fetch_trusted_consistency(
                        lambda a, b: rpc_call(client, "attest_getConsistencyProof", a, b),
                        state_path,
                        trusted,
                        l1_cp,
                        need,
                    )
            elif need is not None:
                notes.append(
                    f"consistency with the trusted checkpoint {trusted.index if trusted else '?'} "
                    f"not checked (give --rpc to fetch the proof); the state file {state_path} is "
                    "left as it was"
                )
                trusted = None
                save = False
        try:
            verdict = verify_event(
                bundle,
                expectations,
                l1_cp,
                allow_pending=args.allow_pending,
                trusted=trusted,
                consistency_proof=proof,
                genesis=genesis,
            )
        except TrustedStateMismatchError as exc:
            raise with_state_file(exc, state_path) from None
        if dataset is not None:
            verify_dataset_proof(dataset, bundle.record)
            notes.append(
                f"sample {dataset.index} of {dataset.size} in dataset {dataset.name!r} (root "
                f"0x{dataset.root.hex()})"
                + ("" if dataset.sample is not None else "; the sample itself is not in the bundle")
            )
        if save and l1_cp is not None and verdict.trusted not in (None, trusted):
            assert verdict.trusted is not None
            save_state(state_path, replace_trusted(states, verdict.trusted))
        if l1_cp is not None and l1_cp.status != CheckpointStatus.FINAL:
            notes.append("the checkpoint is PENDING: a fraud proof may still revert it")
    except AttestError as exc:
        return fail(args, exc, seq)
    meta = None if bundle.meta is None else orjson.loads(bundle.meta)
    say(args, {**verdict_to_json(verdict), "meta": meta, "notes": notes}, ok_lines(verdict, notes))
    return EXIT_OK if verdict.checkpoint is not None else EXIT_BUNDLE_ONLY


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--l1-rpc",
        default=None,
        metavar="URL",
        type=url_type("--l1-rpc"),
        help="L1 JSON-RPC endpoint (default: the one the sequencer's attest_status names)",
    )
    p.add_argument(
        "--contract",
        default=None,
        metavar="ADDR",
        help="rollup contract address (default: from attest_status, or the bundle)",
    )
    p.add_argument(
        "--l1-block",
        default="auto",
        metavar="TAG|N",
        type=_l1_block_type,
        help="which L1 state to trust: finalized, safe, latest, or N confirmations below the "
        "head (default auto: finalized on a public chain, latest on a development chain, "
        "which has no finalized block)",
    )
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per network call (default 10)"
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable verdict")


def _l1_block_type(value: str) -> str | int:
    try:
        return parse_l1_block(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--l1-block {exc}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `verify` and `proof export` to the `attest` command line."""
    p = sub.add_parser(
        "verify",
        help="light client: verify an event against L1",
        description=(
            "Verify that an event is in the log under a checkpoint read from L1 itself: the "
            "record, its leaf hash, the inclusion proof, the checkpoint's size, root and status "
            "on L1, and consistency with the checkpoint verified last time (--state)."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--rpc",
        default=None,
        metavar="URL",
        type=sequencer_url_type("--rpc"),
        help="any sequencer or follower",
    )
    p.add_argument(
        "--bundle",
        default=None,
        metavar="FILE",
        help="verify a saved proof bundle (attest proof export) instead of fetching",
    )
    p.add_argument("--seq", type=int, default=None, help="position of the event")
    p.add_argument(
        "--digest",
        default=None,
        metavar="HEX",
        help=(
            "expected digest; without --seq, every record with it that matches the other "
            "flags is a candidate (newest first, all pages): exit 0 when one verifies"
        ),
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="without --seq: verify and report every candidate, not only until one verifies",
    )
    p.add_argument(
        "--subject",
        default=None,
        metavar="HEX",
        help="expected subject; without --seq and --digest, finds the candidates by subject",
    )
    p.add_argument("--kind", default=None, help="expected kind name")
    p.add_argument("--submitter", default=None, metavar="ADDR", help="expected submitter")
    p.add_argument("--meta-hash", default=None, metavar="HEX", help="expected metaHash")
    p.add_argument("--nonce", type=int, default=None, help="expected nonce")
    p.add_argument(
        "--allow-pending",
        action="store_true",
        help="accept a pending checkpoint (default: final only)",
    )
    p.add_argument(
        "--no-revocations",
        action="store_true",
        help="do not look for revocations and supersessions (docs/spec.md §13)",
    )
    p.add_argument(
        "--state",
        default=DEFAULT_STATE,
        metavar="FILE",
        help=(
            f"trusted state file (default {DEFAULT_STATE}): the last final checkpoint verified, "
            "one per log (chainId, contract, genesis checkpoint); a new log at the same "
            "address starts afresh, a fork of a known one is exit 18"
        ),
    )
    _common(p)
    p.set_defaults(handler=cmd_verify)
    register_export(sub, _common)
