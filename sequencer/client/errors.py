"""The client's errors: the project's one error tree (`prover.errors`) plus what only a
client meets. Callers catch `AttestError` for everything, or one of these for a cause.

* `UnreachableError`: no usable answer from the sequencer or L1 (refused, reset, timeout,
  not JSON, not a JSON-RPC response). Retrying later, or another upstream, may help.
* `RejectedError`: the sequencer answered a JSON-RPC error for the submission (the
  `JsonRpcError` it carries says why; `-32005` overloaded is retried before it gets here).
* `ReceiptInvalidError`: the sequencer answered, but its receipt does not verify (signature
  not by the sequencer, a placement not under the signed `leavesRoot`, seqs that do not add
  up). The submission must be treated as NOT accepted, and the answer kept as evidence.
* `RevokedError`, `SupersededError`, `WrongSignerError`: verdicts of `check`.
"""

from __future__ import annotations

from typing import Any

from prover.errors import AttestError, NotIncludedError, ProofError
from prover.jsonrpc import JsonRpcError


class UnreachableError(AttestError):
    """The sequencer or L1 could not be reached or did not answer a JSON-RPC response."""


class RejectedError(JsonRpcError):
    """The sequencer refused the request; `code`, `message` and `data` are its error object."""

    @classmethod
    def of(cls, exc: JsonRpcError) -> RejectedError:
        return cls(exc.code, exc.message, exc.data)


class ReceiptInvalidError(ProofError):
    """A submission's answer whose receipt or placements do not verify (see module doc)."""

    def __init__(self, message: str, answer: Any = None) -> None:
        self.answer = answer
        """The answer as received, to keep as evidence."""
        super().__init__(message)


class RevokedError(AttestError):
    """The attestation was revoked by its submitter (docs/spec.md, revocation)."""


class SupersededError(AttestError):
    """The attestation was superseded by a newer one of the same submitter and subject."""


class WrongSignerError(NotIncludedError):
    """Matching attestations exist, but none by a submitter the caller accepts."""
