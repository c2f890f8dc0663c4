"""Verdicts to the terminal: the exit codes of `attest verify` and `attest proof export`, one
mapping from errors to them, and the text or `--json` lines that report each verdict.

Exit codes (also in ``attest verify --help`` and docs/light-client.md):

    0  verified: included under a checkpoint L1 holds, final (or pending with --allow-pending)
    2  usage: bad arguments, unreadable bundle or state file, no L1 known
    3  not included: no such seq or digest, or the record there is not the one expected
    4  not final yet: in the log, but no final checkpoint covers it (pending, or not committed)
    5  proof invalid: record, leaf hash, signature, meta or inclusion proof do not check out
    6  L1 disagrees: L1's checkpoint has another size or root than served, or is reverted or
       missing
    7  unreachable: the sequencer or L1 could not be reached, timed out, or answered garbage or an error
    8  bundle only: the bundle verified against its own root; L1 was not checked
    9  dataset proof invalid: a two-level bundle's sample -> dataset root level does not check out
   10  revoked: verified, but its submitter revoked it (docs/spec.md §13)
   11  superseded: verified, but a newer attestation of its submitter replaces it
   18  trusted state mismatch: this log's checkpoint kept in the --state file is not extended
       by what L1 holds now (a fork or rewritten history), or the server cannot prove it is
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Final

import orjson

from prover.checkpoint import status_label
from prover.dataset_proof import DatasetProofError
from prover.errors import (
    ExpectationMismatchError,
    InvalidInputError,
    L1Error,
    L1MismatchError,
    NotFinalError,
    NotIncludedError,
    ProofError,
    TrustedStateMismatchError,
)
from prover.jsonrpc import JsonRpcError
from prover.light_client import Verdict
from sequencer.client.errors import UnreachableError as ClientUnreachableError
from sequencer.lightclient.fetch import UnreachableError
from sequencer.rpc.client import TransportError

EXIT_OK: Final[int] = 0
EXIT_USAGE: Final[int] = 2
EXIT_NOT_INCLUDED: Final[int] = 3
EXIT_NOT_FINAL: Final[int] = 4
EXIT_PROOF_INVALID: Final[int] = 5
EXIT_L1_DISAGREES: Final[int] = 6
EXIT_UNREACHABLE: Final[int] = 7
EXIT_BUNDLE_ONLY: Final[int] = 8
EXIT_DATASET_PROOF_INVALID: Final[int] = 9
EXIT_REVOKED: Final[int] = 10
EXIT_SUPERSEDED: Final[int] = 11
EXIT_STATE_MISMATCH: Final[int] = 18

EXIT_CODES_HELP: Final[str] = """exit codes:
  0  verified: included under a checkpoint L1 holds, final (pending only with --allow-pending)
  2  usage: bad arguments, unreadable bundle or state file, no L1 known
  3  not included: no such seq or digest, or the record there is not the one expected
  4  not final yet: in the log, but no final checkpoint covers it yet
  5  proof invalid: record, leaf hash, signature, meta or inclusion proof do not check out
  6  L1 disagrees: L1 holds another size/root for the checkpoint than served, reverted it or
     lacks it
  7  unreachable: the sequencer or L1 could not be reached, timed out, or answered garbage or an error
  8  bundle only: the bundle verified against its own root; L1 was not checked
  9  dataset proof invalid: a two-level bundle's sample -> dataset root level does not check out
 10  revoked: verified, but its submitter revoked it (docs/spec.md §13)
 11  superseded: verified, but a newer attestation of its submitter replaces it
 18  trusted state mismatch: this log's checkpoint kept in the --state file (one per chainId,
     contract and genesis checkpoint) is not extended by what L1 holds now, or the server
     cannot prove it is; another --state FILE starts afresh
With --digest or --subject and no --seq, every matching record is considered: 0 when one
verifies, else the closest failure (4, 11, 10, 5, 6, 18, 7, 3 in that order).
(12-17 are attest check's and the toolkit's; 18 means the same everywhere.)
"""


def exit_code_of(exc: BaseException) -> int:
    """The one mapping from verdict errors to exit codes (module docstring)."""
    # Order matters: the most specific classes first.
    table: tuple[tuple[type[BaseException], int], ...] = (
        (NotIncludedError, EXIT_NOT_INCLUDED),
        (NotFinalError, EXIT_NOT_FINAL),
        (DatasetProofError, EXIT_DATASET_PROOF_INVALID),
        (ProofError, EXIT_PROOF_INVALID),  # ProofInvalidError, and any raw proof failure
        (TrustedStateMismatchError, EXIT_STATE_MISMATCH),
        (L1MismatchError, EXIT_L1_DISAGREES),
        (UnreachableError, EXIT_UNREACHABLE),
        (ClientUnreachableError, EXIT_UNREACHABLE),
        (L1Error, EXIT_UNREACHABLE),
        (TransportError, EXIT_UNREACHABLE),
        (JsonRpcError, EXIT_UNREACHABLE),
        (InvalidInputError, EXIT_USAGE),
    )
    for cls, code in table:
        if isinstance(exc, cls):
            return code
    raise AssertionError(f"no exit code for {type(exc).__name__}") from exc


def say(args: argparse.Namespace, verdict_json: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        sys.stdout.write(orjson.dumps(verdict_json).decode() + "\n")
    else:
        for line in lines:
            sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fail(args: argparse.Namespace, exc: BaseException, seq: int | None) -> int:
    code, body, lines = failure(exc, seq)
    say(args, body, lines)
    return code


def failure(exc: BaseException, seq: int | None) -> tuple[int, dict[str, Any], list[str]]:
    """(exit code, JSON verdict, text lines) of a failed verification."""
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
    line = f"FAILED ({code}, {type(exc).__name__})" + (f" seq {seq}" if seq is not None else "")
    return code, body, [f"{line}: {exc}"]


def ok_lines(verdict: Verdict, notes: Sequence[str]) -> list[str]:
    cp = verdict.checkpoint
    if cp is None:
        head = f"seq {verdict.seq}: verified against the bundle only, L1 not checked"
    else:
        head = (
            f"OK seq {verdict.seq}: included under checkpoint {cp.index} (tree size {cp.size}, "
            f"root 0x{cp.root.hex()}), {status_label(cp.status)} on L1 chain "
            f"{cp.chain_id} contract 0x{cp.contract.hex()}"
        )
    return [head, f"  leaf hash 0x{verdict.leaf_hash.hex()}", *(f"  note: {n}" for n in notes)]


def usage(args: argparse.Namespace, message: str) -> int:
    return fail(args, InvalidInputError(message), None)
