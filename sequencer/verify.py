"""`attest verify` and `attest proof export`: the I/O side of the light client.

`prover.light_client` decides; this module fetches what it needs — the record and proofs from
any sequencer or follower over JSON-RPC (`sequencer.client.RpcClient`), the checkpoint row from
L1 itself over web3 — keeps the trusted state file, and turns each verdict into an exit code.
Everything here blocks (one CLI process, one request at a time); nothing is async.

Exit codes (also in ``attest verify --help`` and docs/light-client.md):

    0  verified: included under a checkpoint L1 holds, final (or pending with --allow-pending)
    2  usage: bad arguments, unreadable bundle or state file, no L1 known
    3  not included: no such seq or digest, or the record there is not the one expected
    4  not final yet: in the log, but no final checkpoint covers it (pending, or not committed)
    5  proof invalid: record, leaf hash, signature, meta or inclusion proof do not check out
    6  L1 disagrees: L1's checkpoint has another size or root, is reverted or missing, or does
       not extend the checkpoint verified before (trusted state)
    7  unreachable: the sequencer or L1 could not be reached or refused to answer
    8  bundle only: the bundle verified against its own root; L1 was not checked
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import orjson

from prover.errors import (
    AttestError,
    ExpectationMismatchError,
    InvalidFieldError,
    InvalidInputError,
    L1Error,
    L1MismatchError,
    NotFinalError,
    NotIncludedError,
    ProofError,
    ProofInvalidError,
)
from prover.light_client import (
    STATUS_FINAL,
    STATUS_NAMES,
    STATUS_PENDING,
    STATUS_REVERTED,
    CheckpointRef,
    Expectations,
    L1Checkpoint,
    ProofBundle,
    TrustedCheckpoint,
    Verdict,
    bundle_from_proof_json,
    decode_bundle,
    decode_trusted_state,
    encode_bundle,
    encode_trusted_state,
    find_trusted,
    needs_consistency_proof,
    replace_trusted,
    verdict_to_json,
    verify_anchor,
    verify_bundle_inclusion,
    verify_event,
)
from prover.record import encode_kind
from prover.types import Hash32
from sequencer.client import RpcClient, RpcError, TransportError
from sequencer.wire import parse_hash32

EXIT_OK: Final[int] = 0
EXIT_USAGE: Final[int] = 2
EXIT_NOT_INCLUDED: Final[int] = 3
EXIT_NOT_FINAL: Final[int] = 4
EXIT_PROOF_INVALID: Final[int] = 5
EXIT_L1_DISAGREES: Final[int] = 6
EXIT_UNREACHABLE: Final[int] = 7
EXIT_BUNDLE_ONLY: Final[int] = 8

NOT_FOUND_CODE: Final[int] = -32004
"""The sequencer's JSON-RPC code for `NotFoundError` (sequencer/rpc_errors.py)."""

EXIT_CODES_HELP: Final[str] = """exit codes:
  0  verified: included under a checkpoint L1 holds, final (pending only with --allow-pending)
  2  usage: bad arguments, unreadable bundle or state file, no L1 known
  3  not included: no such seq or digest, or the record there is not the one expected
  4  not final yet: in the log, but no final checkpoint covers it yet
  5  proof invalid: record, leaf hash, signature, meta or inclusion proof do not check out
  6  L1 disagrees: L1 holds another size/root for the checkpoint, reverted or lacks it, or it
     does not extend the checkpoint verified before (trusted state file)
  7  unreachable: the sequencer or L1 could not be reached or refused to answer
  8  bundle only: the bundle verified against its own root; L1 was not checked
"""

DEFAULT_STATE: Final[str] = "~/.attest/light-client.json"


class UnreachableError(AttestError):
    """The sequencer or L1 did not give what was needed (down, or refused to answer)."""


def exit_code_of(exc: BaseException) -> int:
    """The one mapping from verdict errors to exit codes (module docstring)."""
    # Order matters: the most specific classes first.
    table: tuple[tuple[type[BaseException], int], ...] = (
        (NotIncludedError, EXIT_NOT_INCLUDED),
        (NotFinalError, EXIT_NOT_FINAL),
        (ProofError, EXIT_PROOF_INVALID),  # ProofInvalidError, and any raw proof failure
        (L1MismatchError, EXIT_L1_DISAGREES),
        (UnreachableError, EXIT_UNREACHABLE),
        (L1Error, EXIT_UNREACHABLE),
        (TransportError, EXIT_UNREACHABLE),
        (RpcError, EXIT_UNREACHABLE),
        (InvalidInputError, EXIT_USAGE),
    )
    for cls, code in table:
        if isinstance(exc, cls):
            return code
    raise AssertionError(f"no exit code for {type(exc).__name__}") from exc


# --- L1 ------------------------------------------------------------------------------------


class L1Reader:
    """The DESIGN §4 read interface of one rollup contract, over web3 (blocking)."""

    def __init__(self, url: str, contract: bytes, *, timeout: float = 10.0) -> None:
        # web3 is imported here, not at module level: `attest verify --bundle` without L1 and
        # `--help` then start without it (about 0.5 s of imports).
        from web3 import Web3

        from l1_contracts.contract import rollup_at

        self.url = url
        self.contract = contract
        try:
            self._w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
            self.chain_id: int = int(self._w3.eth.chain_id)
            self._rollup = rollup_at(self._w3, "0x" + contract.hex())
        except Exception as exc:  # requests/web3 raise many unrelated types; all mean "down"
            raise L1Error(f"L1 at {url} is unreachable: {exc}") from None

    def _call(self, name: str, *args: int) -> Any:
        try:
            return self._rollup.functions[name](*args).call()
        except Exception as exc:  # a node that is down, or no contract at the address
            raise L1Error(
                f"L1 call {name}{args} on 0x{self.contract.hex()} at {self.url} failed: {exc}"
            ) from None

    def checkpoint(self, index: int) -> L1Checkpoint:
        """`checkpoints(index)` as L1 itself answers it."""
        size, root, committed_at, challenge_ends, status = self._call("checkpoints", index)
        return L1Checkpoint(
            self.chain_id, self.contract, index, int(size), Hash32(bytes(root)),
            int(committed_at), int(challenge_ends), int(status),
        )

    def count(self) -> int:
        return int(self._call("checkpointCount"))

    def latest_finalized(self) -> int | None:
        index = int(self._call("latestFinalized"))
        return None if index == 2**256 - 1 else index

    def choose(self, seq: int, *, allow_pending: bool) -> L1Checkpoint:
        """The checkpoint to verify `seq` against, chosen from L1, not from the server.

        The latest final checkpoint when it covers `seq`; else, with `allow_pending`, the
        latest checkpoint when it is pending and covers `seq`. Raises `NotFinalError` when no
        such checkpoint exists yet.
        """
        final = self.latest_finalized()
        final_cp = self.checkpoint(final) if final is not None else None
        if final_cp is not None and final_cp.size > seq:
            return final_cp
        covered = final_cp.size if final_cp is not None else 0
        count = self.count()
        if allow_pending and count:
            latest = self.checkpoint(count - 1)
            if latest.status == STATUS_PENDING and latest.size > seq:
                return latest
        if count:
            latest = self.checkpoint(count - 1)
            if latest.status == STATUS_REVERTED and latest.size > seq:
                # Reverts cascade to every later checkpoint, so no live one covers seq: a fraud
                # was proven against the checkpoints that did.
                raise L1MismatchError(
                    f"the checkpoint(s) covering seq {seq} were reverted on L1 (checkpoint "
                    f"{latest.index} has status reverted); live checkpoints cover {covered} records"
                )
        pending = ""
        if not allow_pending and count:
            latest = self.checkpoint(count - 1)
            if latest.status == STATUS_PENDING and latest.size > seq:
                pending = (
                    f"; pending checkpoint {latest.index} covers it until its challenge window "
                    f"ends at {latest.challenge_ends} (--allow-pending accepts it)"
                )
        raise NotFinalError(
            f"no final checkpoint covers seq {seq} yet (final checkpoints cover {covered} "
            f"records){pending}"
        )


# --- the sequencer -------------------------------------------------------------------------


def _rpc(client: RpcClient, method: str, *params: Any) -> Any:
    try:
        return client.call(method, *params)
    except (TransportError, OSError) as exc:  # OSError: RpcClient's connect() is unwrapped
        raise UnreachableError(f"sequencer at {client.url} is unreachable: {exc}") from None


def fetch_event(client: RpcClient, seq: int) -> dict[str, Any]:
    """`attest_getEvent(seq)`; raises `NotIncludedError` when the server has no such seq."""
    try:
        event = _rpc(client, "attest_getEvent", seq)
    except RpcError as exc:
        if exc.code == NOT_FOUND_CODE:
            raise NotIncludedError(f"seq {seq} is not in the log: {exc.message}") from None
        raise
    if not isinstance(event, dict):
        raise UnreachableError(f"attest_getEvent answered {event!r:.200}")
    return event


def fetch_bundle(
    client: RpcClient, seq: int, checkpoint: CheckpointRef | None, l1: L1Reader | None
) -> ProofBundle:
    """The record and proofs of `seq` anchored to `checkpoint` (its index as L1 names it).

    Asks ``attest_getProof(seq, {"checkpoint": index})`` first. A server without a record of
    its L1 checkpoints (-32004) is asked for the proof at its current tree size and a
    consistency proof from the checkpoint's size to it instead: the same evidence in two
    pieces. With `checkpoint` None, the proof is against the server's current tree only.

    Nothing the server says about the checkpoint is kept but the size and root its proof is
    against: the bundle names L1's index with the *served* size and root, which step 4 of
    `prover.light_client` then compares with L1's row. Raises `NotIncludedError` for a seq
    the server does not have, `ProofInvalidError` for a malformed answer.
    """
    meta = fetch_event(client, seq).get("meta")
    chain_id = l1.chain_id if l1 is not None else None
    contract = l1.contract if l1 is not None else None
    try:
        if checkpoint is not None:
            try:
                answer = _rpc(client, "attest_getProof", seq, {"checkpoint": checkpoint.index})
            except RpcError as exc:
                if exc.code != NOT_FOUND_CODE:
                    raise
            else:
                served = bundle_from_proof_json(
                    {**answer, "checkpoint": None}, meta=meta, chain_id=chain_id, contract=contract
                )
                anchor = CheckpointRef(checkpoint.index, served.tree_size, served.root)
                return replace(served, checkpoint=anchor)
        answer = _rpc(client, "attest_getProof", seq)
        served = bundle_from_proof_json(
            {**answer, "checkpoint": None}, meta=meta, chain_id=chain_id, contract=contract
        )
        if checkpoint is None:
            return served
        if served.tree_size < checkpoint.size:
            raise UnreachableError(
                f"the server's tree (size {served.tree_size}) is behind checkpoint "
                f"{checkpoint.index} (size {checkpoint.size}): ask another sequencer or follower"
            )
        anchor_json = _rpc(client, "attest_getConsistencyProof", checkpoint.size, served.tree_size)
        if not isinstance(anchor_json, dict):
            raise InvalidFieldError("attest_getConsistencyProof", "answer is not an object")
        first_root = Hash32(parse_hash32(anchor_json.get("firstRoot"), "firstRoot"))
        return replace(
            served,
            checkpoint=CheckpointRef(checkpoint.index, checkpoint.size, first_root),
            anchor_proof=tuple(_parse_proof(anchor_json.get("proof"), "attest_getConsistencyProof")),
        )
    except InvalidFieldError as exc:
        raise ProofInvalidError(f"the server answered a malformed proof: {exc}") from None


def _parse_proof(value: Any, what: str) -> list[Hash32]:
    if not isinstance(value, list):
        raise InvalidFieldError(what, f"answered without a proof list: {value!r:.200}")
    return [Hash32(parse_hash32(p, f"proof[{i}]")) for i, p in enumerate(value)]


def fetch_consistency(client: RpcClient, first: int, second: int) -> list[Hash32]:
    """The server's RFC 9162 consistency proof between two tree sizes."""
    answer = _rpc(client, "attest_getConsistencyProof", first, second)
    try:
        return _parse_proof(
            answer.get("proof") if isinstance(answer, dict) else None, "attest_getConsistencyProof"
        )
    except InvalidFieldError as exc:
        raise ProofInvalidError(f"the server answered a malformed proof: {exc}") from None


# --- the trusted state file ----------------------------------------------------------------


def load_state(path: Path) -> list[TrustedCheckpoint]:
    """The trusted checkpoints in `path`; none when the file does not exist yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        return decode_trusted_state(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"state file {path} is not JSON: {exc}") from None
    except InvalidInputError as exc:
        raise InvalidInputError(f"state file {path}: {exc}") from None


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
    # After this fsync the rename itself survives a crash.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_state(path: Path, checkpoints: Sequence[TrustedCheckpoint]) -> None:
    data = orjson.dumps(encode_trusted_state(checkpoints), option=orjson.OPT_INDENT_2)
    write_atomically(path, data + b"\n")


# --- argument parsing ----------------------------------------------------------------------


def _hex_arg(value: str, size: int, name: str) -> bytes:
    if not value.startswith("0x"):
        raise InvalidInputError(f"{name}: must start with 0x, got {value!r}")
    try:
        b = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInputError(f"{name}: not hex: {value!r}") from None
    if len(b) != size:
        raise InvalidInputError(f"{name}: must be {size} bytes, got {len(b)}")
    return b


def expectations_from_args(args: argparse.Namespace) -> Expectations:
    kind: bytes | None = None
    if args.kind is not None:
        try:
            kind = encode_kind(args.kind)
        except InvalidInputError as exc:
            raise InvalidInputError(f"--kind: {exc}") from None
    return Expectations(
        kind=kind,
        subject=None if args.subject is None else _hex_arg(args.subject, 32, "--subject"),
        digest=None if args.digest is None else _hex_arg(args.digest, 32, "--digest"),
        submitter=None if args.submitter is None else _hex_arg(args.submitter, 20, "--submitter"),
        meta_hash=None if args.meta_hash is None else _hex_arg(args.meta_hash, 32, "--meta-hash"),
        nonce=args.nonce,
    )


@dataclass(frozen=True, slots=True)
class L1Target:
    url: str
    contract: bytes
    from_server: bool
    """True when the L1 URL or contract was taken from the sequencer's attest_status."""


def _l1_target(args: argparse.Namespace, client: RpcClient | None) -> L1Target | None:
    url: str | None = args.l1_rpc
    contract = None if args.contract is None else _hex_arg(args.contract, 20, "--contract")
    from_server = False
    if (url is None or contract is None) and client is not None:
        status = _rpc(client, "attest_status")
        l1 = status.get("l1") if isinstance(status, dict) else None
        if isinstance(l1, dict):
            if url is None and isinstance(l1.get("rpc"), str):
                url, from_server = l1["rpc"], True
            if contract is None and isinstance(l1.get("contract"), str):
                contract, from_server = _hex_arg(l1["contract"], 20, "l1.contract"), True
    if url is None or contract is None:
        return None
    return L1Target(url, contract, from_server)


# --- output --------------------------------------------------------------------------------


def _say(args: argparse.Namespace, verdict_json: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        sys.stdout.write(orjson.dumps(verdict_json).decode() + "\n")
    else:
        for line in lines:
            sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _fail(args: argparse.Namespace, exc: BaseException, seq: int | None) -> int:
    code = exit_code_of(exc)
    body: dict[str, Any] = {
        "ok": False,
        "seq": seq,
        "exitCode": code,
        "error": type(exc).__name__,
        "message": str(exc),
    }
    if isinstance(exc, ExpectationMismatchError):
        body["field"] = exc.field
    _say(args, body, [f"FAILED ({code}, {type(exc).__name__})" + (f" seq {seq}" if seq is not None else "")
                      + f": {exc}"])
    return code


def _ok_lines(verdict: Verdict, notes: Sequence[str]) -> list[str]:
    cp = verdict.checkpoint
    if cp is None:
        head = f"seq {verdict.seq}: verified against the bundle only, L1 not checked"
    else:
        head = (
            f"OK seq {verdict.seq}: included under checkpoint {cp.index} (tree size {cp.size}, "
            f"root 0x{cp.root.hex()}), {STATUS_NAMES.get(cp.status, cp.status)} on L1 chain "
            f"{cp.chain_id} contract 0x{cp.contract.hex()}"
        )
    return [head, f"  leaf hash 0x{verdict.leaf_hash.hex()}", *(f"  note: {n}" for n in notes)]


# --- attest verify -------------------------------------------------------------------------


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
    states = load_state(state_path)
    trusted = find_trusted(states, l1.chain_id, l1.contract)
    need = needs_consistency_proof(trusted, chosen)
    proof = fetch_consistency(client, *need) if need is not None else None
    verdict = verify_event(
        bundle, expectations, chosen, allow_pending=args.allow_pending, trusted=trusted,
        consistency_proof=proof,
    )
    if verdict.trusted is not None and verdict.trusted != trusted:
        # After this rename the new trusted checkpoint survives a crash; before it, the old one.
        save_state(state_path, replace_trusted(states, verdict.trusted))
    if trusted is not None:
        notes.append(
            f"consistent with the checkpoint verified before ({trusted.index}, size {trusted.size})"
        )
    if chosen.status != STATUS_FINAL:
        notes.append("the checkpoint is PENDING: a fraud proof may still revert it")
    return verdict


def _seqs_for(args: argparse.Namespace, client: RpcClient) -> list[int]:
    if args.seq is not None:
        return [args.seq]
    digest = _hex_arg(args.digest, 32, "--digest")
    seqs: list[int] = []
    after: int | None = None
    while True:
        page = _rpc(client, "attest_findByDigest", "0x" + digest.hex(), {"after": after, "limit": 1000})
        found = page.get("seqs") if isinstance(page, dict) else None
        if not isinstance(found, list) or not all(isinstance(s, int) for s in found):
            raise UnreachableError(f"attest_findByDigest answered {page!r:.200}")
        seqs.extend(found)
        after = page.get("next")
        if not args.all or after is None:
            break
    if not seqs:
        raise NotIncludedError(f"no event with digest 0x{digest.hex()} in the log")
    return seqs if args.all else seqs[:1]


def cmd_verify(args: argparse.Namespace) -> int:
    if args.bundle is not None:
        return _verify_bundle(args)
    if args.rpc is None:
        return _usage(args, "give --rpc URL (with --seq or --digest), or --bundle FILE")
    if args.seq is None and args.digest is None:
        return _usage(args, "give --seq N or --digest HEX")
    if args.seq is not None and args.seq < 0:
        return _usage(args, f"--seq must be >= 0, got {args.seq}")
    state_path = Path(os.path.expanduser(args.state))
    seq: int | None = args.seq
    try:
        expectations = expectations_from_args(args)
        with RpcClient(args.rpc, timeout=args.timeout) as client:
            target = _l1_target(args, client)
            if target is None:
                return _usage(
                    args, "no L1 known: pass --l1-rpc URL and --contract ADDR (the sequencer "
                    "reports none)"
                )
            l1 = L1Reader(target.url, target.contract, timeout=args.timeout)
            seqs = _seqs_for(args, client)
            worst = EXIT_OK
            for seq in seqs:
                notes: list[str] = []
                if target.from_server:
                    notes.append(
                        "L1 URL/contract taken from the sequencer's attest_status; pass --l1-rpc "
                        "and --contract to pin them"
                    )
                if args.digest is not None and args.seq is None:
                    notes.append(f"found by digest: seqs {seqs} ({'all' if args.all else 'first'} verified)")
                try:
                    verdict = _verify_one(args, client, l1, seq, expectations, state_path, notes)
                except AttestError as exc:
                    code = _fail(args, exc, seq)
                    if worst == EXIT_OK:
                        worst = code
                    continue
                _say(args, {**verdict_to_json(verdict), "notes": notes}, _ok_lines(verdict, notes))
            return worst
    except AttestError as exc:
        return _fail(args, exc, seq)


def _usage(args: argparse.Namespace, message: str) -> int:
    return _fail(args, InvalidInputError(message), None)


def _verify_bundle(args: argparse.Namespace) -> int:
    try:
        raw = Path(args.bundle).read_bytes()
    except OSError as exc:
        return _usage(args, f"cannot read bundle {args.bundle}: {exc}")
    seq: int | None = None
    try:
        try:
            bundle = decode_bundle(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"bundle {args.bundle} is not JSON: {exc}") from None
        seq = bundle.seq
        expectations = expectations_from_args(args)
        if args.seq is not None and args.seq != bundle.seq:
            raise NotIncludedError(f"the bundle is for seq {bundle.seq}, not {args.seq}")
        notes: list[str] = []
        contract = (
            _hex_arg(args.contract, 20, "--contract") if args.contract is not None else bundle.contract
        )
        l1_cp: L1Checkpoint | None = None
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
                reader = L1Reader(args.l1_rpc, contract, timeout=args.timeout)
                l1_cp = reader.checkpoint(bundle.checkpoint.index)
            except L1Error as exc:
                notes.append(f"L1 unreachable: {exc}")
        if l1_cp is not None:
            states = load_state(state_path)
            trusted = find_trusted(states, l1_cp.chain_id, l1_cp.contract)
            need = needs_consistency_proof(trusted, l1_cp)
            if need is not None and args.rpc is not None:
                with RpcClient(args.rpc, timeout=args.timeout) as client:
                    proof = fetch_consistency(client, *need)
            elif need is not None:
                notes.append(
                    f"consistency with the trusted checkpoint {trusted.index if trusted else '?'} "
                    "not checked (give --rpc to fetch the proof)"
                )
                trusted = None
        verdict = verify_event(
            bundle, expectations, l1_cp, allow_pending=args.allow_pending, trusted=trusted,
            consistency_proof=proof,
        )
        if l1_cp is not None and verdict.trusted is not None and verdict.trusted != trusted:
            save_state(state_path, replace_trusted(states, verdict.trusted))
        if l1_cp is not None and l1_cp.status != STATUS_FINAL:
            notes.append("the checkpoint is PENDING: a fraud proof may still revert it")
    except AttestError as exc:
        return _fail(args, exc, seq)
    _say(args, {**verdict_to_json(verdict), "notes": notes}, _ok_lines(verdict, notes))
    return EXIT_OK if verdict.checkpoint is not None else EXIT_BUNDLE_ONLY


# --- attest proof export -------------------------------------------------------------------


def _parse_which(value: str) -> str | int:
    if value in ("latest", "finalized", "none"):
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be latest, finalized, none or a checkpoint index, got {value!r}"
        ) from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"checkpoint index must be >= 0, got {n}")
    return n


def cmd_export(args: argparse.Namespace) -> int:
    try:
        with RpcClient(args.rpc, timeout=args.timeout) as client:
            target = _l1_target(args, client)
            l1 = (
                L1Reader(target.url, target.contract, timeout=args.timeout)
                if target is not None else None
            )
            which: str | int = args.checkpoint
            anchor: CheckpointRef | None = None
            if which != "none":
                if l1 is None:
                    return _usage(
                        args, "no L1 known to anchor the bundle: pass --l1-rpc and --contract, "
                        "or --checkpoint none for a bundle of the current tree only"
                    )
                if which == "finalized":
                    cp = l1.choose(args.seq, allow_pending=False)
                elif which == "latest":
                    cp = l1.choose(args.seq, allow_pending=True)
                else:
                    assert isinstance(which, int)
                    cp = l1.checkpoint(which)
                    if cp.size <= args.seq:
                        raise NotFinalError(
                            f"checkpoint {which} (size {cp.size}) does not cover seq {args.seq}"
                        )
                anchor = CheckpointRef(cp.index, cp.size, cp.root)
            bundle = fetch_bundle(client, args.seq, anchor, l1)
        # Do not save what would not verify.
        verify_bundle_inclusion(bundle)
        if bundle.checkpoint is not None:
            verify_anchor(bundle)
    except AttestError as exc:
        return _fail(args, exc, args.seq)
    data = orjson.dumps(encode_bundle(bundle), option=orjson.OPT_INDENT_2) + b"\n"
    if args.output == "-":
        sys.stdout.write(data.decode())
    else:
        write_atomically(Path(args.output), data)
        cp_text = (
            "no checkpoint" if bundle.checkpoint is None
            else f"checkpoint {bundle.checkpoint.index} (tree size {bundle.checkpoint.size})"
        )
        sys.stderr.write(f"wrote {args.output}: seq {bundle.seq} under {cp_text}\n")
    return EXIT_OK


# --- registration --------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--l1-rpc", default=None, metavar="URL",
                   help="L1 JSON-RPC endpoint (default: the one the sequencer's attest_status names)")
    p.add_argument("--contract", default=None, metavar="ADDR",
                   help="rollup contract address (default: from attest_status, or the bundle)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per network call (default 10)")
    p.add_argument("--json", action="store_true", help="print a machine-readable verdict")


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
    p.add_argument("--rpc", default=None, metavar="URL", help="any sequencer or follower")
    p.add_argument("--bundle", default=None, metavar="FILE",
                   help="verify a saved proof bundle (attest proof export) instead of fetching")
    p.add_argument("--seq", type=int, default=None, help="position of the event")
    p.add_argument("--digest", default=None, metavar="HEX",
                   help="expected digest; alone, finds the event by digest (first match)")
    p.add_argument("--all", action="store_true", help="with --digest alone: verify every match")
    p.add_argument("--subject", default=None, metavar="HEX", help="expected subject")
    p.add_argument("--kind", default=None, help="expected kind name")
    p.add_argument("--submitter", default=None, metavar="ADDR", help="expected submitter")
    p.add_argument("--meta-hash", default=None, metavar="HEX", help="expected metaHash")
    p.add_argument("--nonce", type=int, default=None, help="expected nonce")
    p.add_argument("--allow-pending", action="store_true",
                   help="accept a pending checkpoint (default: final only)")
    p.add_argument("--state", default=DEFAULT_STATE, metavar="FILE",
                   help=f"trusted state file (default {DEFAULT_STATE})")
    _common(p)
    p.set_defaults(handler=cmd_verify)

    proof = sub.add_parser("proof", help="proof bundles for offline verification")
    proof_sub = proof.add_subparsers(dest="proof_command", metavar="COMMAND", required=True)
    e = proof_sub.add_parser(
        "export",
        help="save an event's record and proofs as a JSON bundle",
        description="Save everything `attest verify --bundle` needs to verify one event offline.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--rpc", required=True, metavar="URL", help="any sequencer or follower")
    e.add_argument("--seq", type=int, required=True, help="position of the event")
    e.add_argument("--checkpoint", type=_parse_which, default="finalized",
                   help="finalized (default), latest, an index, or none (current tree only)")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="bundle file, or - for stdout")
    _common(e)
    e.set_defaults(handler=cmd_export)
