"""The one error tree of the project (STYLE.md rule 6).

Malformed input, a proof that fails, a missing object and an overloaded service are different
errors with typed attributes; `sequencer/rpc_errors.py` maps each class to a JSON-RPC code in
one place. Bugs are `AssertionError` and nothing catches them.
"""

from __future__ import annotations


class AttestError(Exception):
    """Base of every error this project raises on purpose."""


# --- malformed input -------------------------------------------------------------------------


class InvalidInputError(AttestError):
    """Input that does not have the shape the protocol requires."""


class InvalidFieldError(InvalidInputError):
    """One field of an event, record or parameter is wrong.

    `field` names it (``"digest"``, ``"meta"``, ``"params[1]"``); `reason` says what is wrong;
    `index` is the position of the event in a batch, when there is one.
    """

    def __init__(self, field: str, reason: str, index: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.index = index
        where = f"events[{index}].{field}" if index is not None else field
        super().__init__(f"{where}: {reason}")

    def at_index(self, index: int) -> InvalidFieldError:
        """The same error, located at position `index` of a batch."""
        return type(self)(self.field, self.reason, index)


class InvalidSignatureError(InvalidFieldError):
    """A signature is malformed or does not recover to the claimed submitter."""


class UnauthorizedError(AttestError):
    """An unsigned event without a valid bearer token, or a signer not on the allowlist."""


# --- proofs ----------------------------------------------------------------------------------


class ProofError(AttestError):
    """A well-formed proof that does not verify."""


class InclusionProofError(ProofError):
    """An RFC 9162 §2.1.3.2 inclusion proof does not verify."""


class ConsistencyProofError(ProofError):
    """An RFC 9162 §2.1.4.2 consistency proof does not verify."""


# --- state -----------------------------------------------------------------------------------


class NotFoundError(AttestError):
    """The requested record, block, checkpoint or tree size does not exist (yet)."""


class ReplayError(AttestError):
    """A signed event reuses a (submitter, nonce) that belongs to a different event."""

    def __init__(self, submitter: str, nonce: int, index: int | None = None) -> None:
        self.submitter = submitter
        self.nonce = nonce
        self.index = index
        where = f"events[{index}]: " if index is not None else ""
        super().__init__(f"{where}nonce {nonce} of {submitter} is already used by another event")


class OverloadedError(AttestError):
    """The ingest queue is full; the client should retry after `retry_after_ms`."""

    def __init__(self, message: str, retry_after_ms: int) -> None:
        self.retry_after_ms = retry_after_ms
        super().__init__(message)


class DeadlineAtRiskError(OverloadedError):
    """The sequencer will not promise a checkpoint by a new receipt's deadline now: a commit
    takes longer than the deadline leaves (L1 stalled or priced out), or an earlier receipt's
    deadline is already at risk. Nothing was stored; retry after `retry_after_ms`."""


class UsageError(AttestError):
    """A command was run in a way that cannot work: a missing or unreadable key or config file,
    a required setting not given, a port already in use. `sequencer/cli.py` prints the message
    as one line (``attest: error: ...``) and exits 2; messages never hold a secret."""


class StorageError(AttestError):
    """The store is unusable (wrong schema version, corrupt head): fatal for the process."""


class StorageUnavailableError(StorageError):
    """The store can no longer be written (disk full, out of file descriptors, I/O error): the
    writer has stopped, nothing more is accepted, and the process is about to exit so that a
    supervisor restarts it. Unlike other `StorageError`s its message is meant for the client."""


class L1Error(AttestError):
    """The L1 node is unreachable, or reverted a transaction."""


class LimitExceededError(InvalidInputError):
    """Input larger than a configured limit: too many events, a body or a `meta` too big.

    `what` names the limited quantity (``"request body bytes"``, ``"events"``, ``"meta bytes"``),
    `limit` is the largest accepted value and `actual` the value received, when known.
    """

    def __init__(self, what: str, limit: int, actual: int | None = None) -> None:
        self.what = what
        self.limit = limit
        self.actual = actual
        got = f"{actual} " if actual is not None else ""
        super().__init__(f"{what}: {got}exceeds the limit of {limit}")


# --- light client verdicts (prover/light_client.py; exit codes in sequencer/verify.py) ---------


class NotIncludedError(NotFoundError):
    """The event asked about is not in the log: no such seq or digest, or another record sits
    at the position (`ExpectationMismatchError`)."""


class ExpectationMismatchError(NotIncludedError):
    """The record at the position differs from what the caller expected in field `field`."""

    def __init__(self, field: str, expected: str, actual: str) -> None:
        self.field = field
        self.expected = expected
        self.actual = actual
        super().__init__(f"{field}: expected {expected}, the record has {actual}")


class NotFinalError(AttestError):
    """The event is in the log but no final checkpoint covers it yet (pending, or not yet
    committed); verifying again later may succeed."""


class ProofInvalidError(ProofError):
    """Data served for an event does not check out: the record, its leaf hash, its signature,
    its meta, or the inclusion proof to the checkpoint's root."""


class L1MismatchError(AttestError):
    """L1 disagrees with what was served or trusted: the checkpoint's size or root differ, it is
    reverted or missing, or it does not extend the checkpoint verified before (a fork)."""


class TrustedStateMismatchError(L1MismatchError):
    """The light client's trusted state (`--state` FILE) holds, for this log, a final checkpoint
    that what L1 now holds is not shown to extend: L1 forked or rewrote history, or the server
    cannot prove the link. Never a network failure; another `--state` file starts afresh."""
