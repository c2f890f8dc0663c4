"""The one place that maps `prover.errors` classes to JSON-RPC 2.0 error objects (docs/spec.md §10).

JSON-RPC 2.0 §5.1 reserves -32768..-32000; -32700 and -32600..-32603 are the standard codes and
-32099..-32000 are for implementation-defined server errors, which is where the project codes
live. Every code below is published in the OpenRPC document (`rpc.discover`) via `ERRORS`.

| code   | constant           | raised for                                   | `data`                             |
|--------|--------------------|----------------------------------------------|------------------------------------|
| -32700 | PARSE_ERROR        | the body is not JSON                         | —                                  |
| -32600 | INVALID_REQUEST    | not a JSON-RPC 2.0 request object / batch    | —                                  |
| -32601 | METHOD_NOT_FOUND   | no method with that name                     | —                                  |
| -32602 | INVALID_PARAMS     | `InvalidInputError`, `InvalidFieldError`     | `{field, index, reason}` for a field |
| -32603 | INTERNAL_ERROR     | any bug, `StorageError`; never a traceback   | —                                  |
| -32001 | UNAUTHORIZED       | `UnauthorizedError`                          | —                                  |
| -32002 | INVALID_SIGNATURE  | `InvalidSignatureError`                      | `{field, index, reason}`           |
| -32003 | REPLAY             | `ReplayError`: nonce used by another event   | `{submitter, nonce}`               |
| -32004 | NOT_FOUND          | `NotFoundError`                              | —                                  |
| -32005 | OVERLOADED         | `OverloadedError`                            | `{retryAfterMs}`                   |
| -32006 | LIMIT_EXCEEDED     | `LimitExceededError`: events / body / meta   | `{what, limit, actual}`            |
| -32007 | PROOF_FAILED       | `ProofError` and its subclasses              | —                                  |
| -32008 | L1_UNAVAILABLE     | `L1Error`                                    | —                                  |
| -32010 | STORAGE_UNAVAILABLE| `StorageUnavailableError`: the writer stopped| —                                  |
| -32011 | DEADLINE_AT_RISK   | `DeadlineAtRiskError`: no receipt promised   | `{retryAfterMs}`                   |

Subclasses are matched before their bases (`InvalidSignatureError` before `InvalidFieldError`,
`LimitExceededError` before `InvalidInputError`), so the most specific code wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from prover.errors import (
    AttestError,
    DeadlineAtRiskError,
    InvalidFieldError,
    InvalidInputError,
    InvalidSignatureError,
    L1Error,
    LimitExceededError,
    NotFoundError,
    OverloadedError,
    ProofError,
    ReplayError,
    StorageUnavailableError,
    UnauthorizedError,
)

# --- every code, standard and project: defined once, in prover.jsonrpc (re-exported here) ----
from prover.jsonrpc import DEADLINE_AT_RISK as DEADLINE_AT_RISK
from prover.jsonrpc import INTERNAL_ERROR as INTERNAL_ERROR
from prover.jsonrpc import INVALID_PARAMS as INVALID_PARAMS
from prover.jsonrpc import INVALID_REQUEST as INVALID_REQUEST
from prover.jsonrpc import INVALID_SIGNATURE as INVALID_SIGNATURE
from prover.jsonrpc import L1_UNAVAILABLE as L1_UNAVAILABLE
from prover.jsonrpc import LIMIT_EXCEEDED as LIMIT_EXCEEDED
from prover.jsonrpc import METHOD_NOT_FOUND as METHOD_NOT_FOUND
from prover.jsonrpc import NOT_FOUND as NOT_FOUND
from prover.jsonrpc import OVERLOADED as OVERLOADED
from prover.jsonrpc import PARSE_ERROR as PARSE_ERROR
from prover.jsonrpc import PROOF_FAILED as PROOF_FAILED
from prover.jsonrpc import REPLAY as REPLAY
from prover.jsonrpc import STORAGE_UNAVAILABLE as STORAGE_UNAVAILABLE
from prover.jsonrpc import UNAUTHORIZED as UNAUTHORIZED

#: The message sent for every internal error: whatever went wrong is in the server log only.
INTERNAL_MESSAGE: Final = "internal error"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One error code as the OpenRPC document lists it."""

    code: int
    """The JSON-RPC error code."""
    name: str
    """The constant's name in this module."""
    message: str
    """A short generic message; actual errors carry a specific one."""
    description: str
    """When the sequencer answers with this code, and what `data` holds."""

    def to_openrpc(self) -> dict[str, Any]:
        """The OpenRPC 1.x Error Object (`code`, `message`, `data`)."""
        return {"code": self.code, "message": self.message, "data": self.description}


ERRORS: Final[tuple[ErrorSpec, ...]] = (
    ErrorSpec(PARSE_ERROR, "PARSE_ERROR", "parse error", "The request body is not valid JSON."),
    ErrorSpec(
        INVALID_REQUEST,
        "INVALID_REQUEST",
        "invalid request",
        "Not a JSON-RPC 2.0 request object or a non-empty batch array of them.",
    ),
    ErrorSpec(METHOD_NOT_FOUND, "METHOD_NOT_FOUND", "method not found", "No such method."),
    ErrorSpec(
        INVALID_PARAMS,
        "INVALID_PARAMS",
        "invalid params",
        "A parameter or event field is missing or malformed; data: {field, index, reason}.",
    ),
    ErrorSpec(
        INTERNAL_ERROR,
        "INTERNAL_ERROR",
        INTERNAL_MESSAGE,
        "A server bug or an unusable store; details are in the server log only.",
    ),
    ErrorSpec(
        UNAUTHORIZED,
        "UNAUTHORIZED",
        "unauthorized",
        "An unsigned event without a valid bearer token, or a signer not allowed.",
    ),
    ErrorSpec(
        INVALID_SIGNATURE,
        "INVALID_SIGNATURE",
        "invalid signature",
        "The EIP-712 signature is malformed or does not recover to the submitter; "
        "data: {field, index, reason}.",
    ),
    ErrorSpec(
        REPLAY,
        "REPLAY",
        "nonce already used",
        "The (submitter, nonce) pair belongs to another event; data: {submitter, nonce}.",
    ),
    ErrorSpec(
        NOT_FOUND,
        "NOT_FOUND",
        "not found",
        "The record, block, checkpoint or tree size does not exist (yet).",
    ),
    ErrorSpec(
        OVERLOADED,
        "OVERLOADED",
        "overloaded",
        "The ingest queue is full; retry after data.retryAfterMs milliseconds.",
    ),
    ErrorSpec(
        LIMIT_EXCEEDED,
        "LIMIT_EXCEEDED",
        "limit exceeded",
        "Too many events, request body or meta too big; data: {what, limit, actual}.",
    ),
    ErrorSpec(
        PROOF_FAILED,
        "PROOF_FAILED",
        "proof failed",
        "A well-formed inclusion or consistency proof does not verify.",
    ),
    ErrorSpec(
        L1_UNAVAILABLE,
        "L1_UNAVAILABLE",
        "L1 unavailable",
        "The L1 node is unreachable or reverted the transaction.",
    ),
    ErrorSpec(
        STORAGE_UNAVAILABLE,
        "STORAGE_UNAVAILABLE",
        "storage unavailable",
        "The store can no longer be written (disk full, I/O error): nothing was stored, the "
        "sequencer is stopping and will be restarted; retry against it or another later.",
    ),
    ErrorSpec(
        DEADLINE_AT_RISK,
        "DEADLINE_AT_RISK",
        "deadline at risk",
        "The sequencer cannot keep a new receipt's deadline now (L1 stalled, slow or priced "
        "out, or an earlier deadline at risk): nothing was stored; retry after "
        "data.retryAfterMs milliseconds.",
    ),
)


_OUTCOMES: Final[dict[int, str]] = {spec.code: spec.name.lower() for spec in ERRORS}


def outcome_name(code: int) -> str:
    """The `outcome` label of a request counter for an error code (``not_found``, ...)."""
    return _OUTCOMES.get(code, "internal_error")


def _field_data(exc: InvalidFieldError) -> dict[str, Any]:
    return {"field": exc.field, "index": exc.index, "reason": exc.reason}


def error_code(exc: BaseException) -> int:
    """The JSON-RPC code for `exc`; `INTERNAL_ERROR` for anything not in the error tree."""
    # Order matters: every subclass is tested before its base class.
    if isinstance(exc, StorageUnavailableError):
        return STORAGE_UNAVAILABLE
    if isinstance(exc, InvalidSignatureError):
        return INVALID_SIGNATURE
    if isinstance(exc, LimitExceededError):
        return LIMIT_EXCEEDED
    if isinstance(exc, InvalidInputError):
        return INVALID_PARAMS
    if isinstance(exc, UnauthorizedError):
        return UNAUTHORIZED
    if isinstance(exc, ReplayError):
        return REPLAY
    if isinstance(exc, NotFoundError):
        return NOT_FOUND
    if isinstance(exc, DeadlineAtRiskError):
        return DEADLINE_AT_RISK
    if isinstance(exc, OverloadedError):
        return OVERLOADED
    if isinstance(exc, ProofError):
        return PROOF_FAILED
    if isinstance(exc, L1Error):
        return L1_UNAVAILABLE
    return INTERNAL_ERROR


def is_internal(exc: BaseException) -> bool:
    """True when `exc` is a bug or a fatal store error: log it with its traceback."""
    return error_code(exc) == INTERNAL_ERROR


def error_object(exc: BaseException) -> dict[str, Any]:
    """The JSON-RPC 2.0 §5.1 error object (`code`, `message`, optional `data`) for `exc`.

    Errors of the project tree keep their message, which says what was wrong; anything else
    (including a `StorageError` other than `StorageUnavailableError`) becomes a generic internal
    error, so no detail or traceback of a bug reaches the client.
    """
    code = error_code(exc)
    if code == INTERNAL_ERROR or not isinstance(exc, AttestError):
        return {"code": INTERNAL_ERROR, "message": INTERNAL_MESSAGE}
    obj: dict[str, Any] = {"code": code, "message": str(exc)}
    if isinstance(exc, InvalidFieldError):
        obj["data"] = _field_data(exc)
    elif isinstance(exc, LimitExceededError):
        obj["data"] = {"what": exc.what, "limit": exc.limit, "actual": exc.actual}
    elif isinstance(exc, ReplayError):
        obj["data"] = {"submitter": exc.submitter, "nonce": exc.nonce}
    elif isinstance(exc, OverloadedError):
        obj["data"] = {"retryAfterMs": exc.retry_after_ms}
    return obj


def protocol_error(code: int, message: str) -> dict[str, Any]:
    """An error object for the JSON-RPC envelope itself (-32700, -32600, -32601)."""
    if code not in (PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND):
        raise ValueError(f"code {code} is not a JSON-RPC envelope error code")
    return {"code": code, "message": message}


def openrpc_errors() -> list[dict[str, Any]]:
    """Every code of `ERRORS` as OpenRPC Error Objects, for `rpc.discover`."""
    return [spec.to_openrpc() for spec in ERRORS]
