"""What every toolkit command shares: the exit codes, one mapping from errors to them, the
connection flags, and printing.

Exit codes of `attest submit`, `revoke`, `model`, `dataset` and `check` (0-8 are also
`attest verify`'s, with the same meaning):

     0  ok (attested, submitted and verified, written)
     2  usage: a wrong flag or flag value
     3  absent: no matching record, or no such seq in the log
     4  not final: in the log, but no final L1 checkpoint covers it (see --allow-pending)
     5  proof invalid: a record, signature, meta or log inclusion proof does not check out
     6  L1 disagrees: L1 holds another size or root than served, or reverted it
     7  unreachable: the sequencer or L1 could not be reached
     9  dataset proof invalid: the bundle's sample -> dataset-root level does not check out
    10  revoked: the attestation was revoked by its submitter
    11  superseded: a newer attestation of the same submitter replaces it
    12  wrong signer: matching attestations exist, none by an accepted --signer
    13  malformed input: a manifest, JSONL line, meta or bundle that is not what it must be
    14  not in dataset: the sample is not one of the dataset's samples
    15  unreadable: a file or directory that cannot be read
    16  refused: the sequencer refused the submission (its JSON-RPC error is printed)
    17  receipt invalid: the sequencer's receipt does not verify; NOT accepted
    18  trusted state mismatch: L1 does not extend this log's checkpoint in the --state file
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Final

import orjson

from prover.dataset_proof import DatasetProofError
from prover.errors import (
    AttestError,
    InvalidInputError,
    L1Error,
    L1MismatchError,
    NotFinalError,
    NotIncludedError,
    ProofError,
    TrustedStateMismatchError,
)
from sequencer.client import Client
from sequencer.client.errors import (
    ReceiptInvalidError,
    RejectedError,
    RevokedError,
    SupersededError,
    UnreachableError,
    WrongSignerError,
)
from sequencer.client.light import DEFAULT_STATE
from sequencer.client.results import Outcome
from sequencer.client.signing import EventSigner, key_file_signer, keystore_signer
from sequencer.toolkit.datatree import SampleNotFoundError
from sequencer.toolkit.fingerprint import MalformedManifestError, UnreadableError

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_ABSENT: Final = 3
EXIT_NOT_FINAL: Final = 4
EXIT_PROOF_INVALID: Final = 5
EXIT_L1_DISAGREES: Final = 6
EXIT_UNREACHABLE: Final = 7
EXIT_DATASET_PROOF_INVALID: Final = 9
EXIT_REVOKED: Final = 10
EXIT_SUPERSEDED: Final = 11
EXIT_WRONG_SIGNER: Final = 12
EXIT_MALFORMED: Final = 13
EXIT_NOT_IN_DATASET: Final = 14
EXIT_UNREADABLE: Final = 15
EXIT_REFUSED: Final = 16
EXIT_RECEIPT_INVALID: Final = 17
EXIT_STATE_MISMATCH: Final = 18

EXIT_CODES_HELP: Final[str] = (
    "exit codes:\n"
    + "\n".join(
        line[2:] for line in (__doc__ or "").split("\n") if line.strip()[:2].strip().isdigit()
    )
    + "\n"
)
"""The table of the module docstring, as `--help` prints it (one source for both)."""

OUTCOME_CODES: Final[dict[Outcome, int]] = {
    Outcome.ATTESTED: EXIT_OK,
    Outcome.ABSENT: EXIT_ABSENT,
    Outcome.NOT_FINAL: EXIT_NOT_FINAL,
    Outcome.REVOKED: EXIT_REVOKED,
    Outcome.SUPERSEDED: EXIT_SUPERSEDED,
    Outcome.WRONG_SIGNER: EXIT_WRONG_SIGNER,
    Outcome.PROOF_INVALID: EXIT_PROOF_INVALID,
    Outcome.L1_DISAGREES: EXIT_L1_DISAGREES,
    Outcome.STATE_MISMATCH: EXIT_STATE_MISMATCH,
}


class MalformedInputError(InvalidInputError):
    """An input file's content is not what it must be (exit 13)."""


class UsageProblem(InvalidInputError):
    """A flag combination that cannot work (exit 2)."""


def exit_code_of(exc: BaseException) -> int:
    """The one mapping from errors to exit codes (most specific first)."""
    table: tuple[tuple[type[BaseException], int], ...] = (
        (WrongSignerError, EXIT_WRONG_SIGNER),
        (NotIncludedError, EXIT_ABSENT),
        (NotFinalError, EXIT_NOT_FINAL),
        (DatasetProofError, EXIT_DATASET_PROOF_INVALID),
        (ReceiptInvalidError, EXIT_RECEIPT_INVALID),
        (ProofError, EXIT_PROOF_INVALID),
        (TrustedStateMismatchError, EXIT_STATE_MISMATCH),
        (L1MismatchError, EXIT_L1_DISAGREES),
        (RevokedError, EXIT_REVOKED),
        (SupersededError, EXIT_SUPERSEDED),
        (UnreachableError, EXIT_UNREACHABLE),
        (L1Error, EXIT_UNREACHABLE),
        (RejectedError, EXIT_REFUSED),
        (SampleNotFoundError, EXIT_NOT_IN_DATASET),
        (UnreadableError, EXIT_UNREADABLE),
        (MalformedManifestError, EXIT_MALFORMED),
        (MalformedInputError, EXIT_MALFORMED),
        (InvalidInputError, EXIT_USAGE),
    )
    for cls, code in table:
        if isinstance(exc, cls):
            return code
    raise AssertionError(f"no exit code for {type(exc).__name__}") from exc


def fail(args: argparse.Namespace, exc: BaseException) -> int:
    """One line on stderr (and a JSON object on stdout with --json); the exit code."""
    code = exit_code_of(exc)
    message = " ".join(str(exc).split())
    if getattr(args, "json", False):
        out({"ok": False, "exitCode": code, "error": type(exc).__name__, "message": message})
    sys.stderr.write(f"attest {args.command}: error ({code}): {message}\n")
    return code


def run(handler: Any) -> Any:
    """Wrap a command: every `AttestError` becomes one line and its exit code."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except AttestError as exc:
            return fail(args, exc)

    return wrapped


def out(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- connection and signing flags ------------------------------------------------------------


def add_connection(
    p: argparse.ArgumentParser, *, l1: bool = True, l1_from_server: bool = True
) -> None:
    """--rpc, --timeout and --json; with `l1`, --l1-rpc and --contract, and when they may fall
    back to the server's `attest_status` (`l1_from_server`: the light client's trusted L1,
    then checked), --state as well."""
    p.add_argument(
        "--rpc",
        default=os.environ.get("ATTEST_RPC"),
        metavar="URL",
        help="sequencer or follower JSON-RPC URL (default: $ATTEST_RPC)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.add_argument(
        "--json", action="store_true", help="machine-readable output, one JSON object a line"
    )
    if l1:
        p.add_argument(
            "--l1-rpc",
            default=os.environ.get("ATTEST_L1_RPC"),
            metavar="URL",
            help="L1 JSON-RPC URL to trust (default: $ATTEST_L1_RPC"
            + (", else the server's attest_status)" if l1_from_server else ")"),
        )
        p.add_argument(
            "--contract",
            default=os.environ.get("ATTEST_CONTRACT"),
            metavar="ADDR",
            help="rollup contract (default: $ATTEST_CONTRACT"
            + (", else the server's attest_status)" if l1_from_server else ")"),
        )
    if l1 and l1_from_server:
        p.add_argument(
            "--state",
            default=DEFAULT_STATE,
            metavar="FILE",
            help=f"trusted light-client state (default {DEFAULT_STATE}, shared with attest "
            "verify): the last final checkpoint of each log (chainId, contract, genesis "
            "checkpoint); a fork of a known log is exit 18; 'none' keeps none",
        )


def add_signing(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--keystore",
        metavar="FILE",
        help="sign with an Ethereum keystore file (password: $ATTEST_KEYSTORE_PASSWORD or --password-file)",
    )
    g.add_argument("--key-file", metavar="FILE", help="sign with the 0x-hex private key in FILE")
    g.add_argument(
        "--token",
        default=None,
        help="send unsigned events with this bearer token (default: $ATTEST_TOKEN)",
    )
    p.add_argument("--password-file", metavar="FILE", help="keystore password file")


def signer_from_args(args: argparse.Namespace) -> EventSigner | None:
    if getattr(args, "key_file", None):
        return key_file_signer(args.key_file)
    if getattr(args, "keystore", None):
        if args.password_file:
            try:
                password = Path(args.password_file).read_text().rstrip("\n")
            except OSError as exc:
                raise UnreadableError(f"cannot read {args.password_file}: {exc.strerror}") from None
        else:
            password = os.environ.get("ATTEST_KEYSTORE_PASSWORD", "")
        return keystore_signer(args.keystore, password)
    return None


def client_from_args(args: argparse.Namespace, *, submit: bool = False) -> Client:
    if not args.rpc:
        raise UsageProblem("give --rpc URL (or set ATTEST_RPC)")
    signer = signer_from_args(args) if submit else None
    token = getattr(args, "token", None) or (
        os.environ.get("ATTEST_TOKEN") if signer is None else None
    )
    if submit and signer is None and token is None:
        raise UsageProblem("give --keystore FILE or --key-file FILE to sign, or --token TOKEN")
    state = getattr(args, "state", "none")
    try:
        return Client(
            args.rpc,
            token=token,
            signer=signer,
            timeout=args.timeout,
            l1_rpc=getattr(args, "l1_rpc", None),
            contract=getattr(args, "contract", None),
            state_path=None if state in (None, "none") else Path(os.path.expanduser(state)),
        )
    except ValueError as exc:
        raise UsageProblem(f"--rpc: {exc}") from None
