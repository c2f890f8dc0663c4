"""JSON-RPC 2.0 envelopes (docs/spec.md §10): the one definition of request, result and error
objects, the standard error codes, and a strict decoder of answers.

Every speaker of JSON-RPC in the project builds its envelopes here: the sequencer's dispatcher
and HTTP server, the ingest workers, the blocking client that followers and the light client
use, and the embedded L1 node. Decoding is strict because an answer comes from a peer that may
be hostile: anything that is not exactly a JSON-RPC 2.0 response raises
`MalformedResponseError` (a bad peer this round), never an `AttributeError` or `KeyError` that
would kill the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from prover.errors import AttestError

VERSION: Final = "2.0"

# --- JSON-RPC 2.0 §5.1 standard codes ---------------------------------------------------------
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_ERROR: Final = -32000
"""The first code of the implementation-defined range; Ethereum nodes use it for a refused
transaction (nonce, funds, gas)."""

# --- the project's codes (docs/spec.md §10.5), in JSON-RPC 2.0 §5.1's server-error range ------
UNAUTHORIZED: Final = -32001
INVALID_SIGNATURE: Final = -32002
REPLAY: Final = -32003
NOT_FOUND: Final = -32004
OVERLOADED: Final = -32005
"""The ingest queue is full; `data.retryAfterMs` says when to come back."""
LIMIT_EXCEEDED: Final = -32006
PROOF_FAILED: Final = -32007
L1_UNAVAILABLE: Final = -32008
STORAGE_UNAVAILABLE: Final = -32010
"""The sequencer's writer stopped (a failed LevelDB write: disk full, no descriptors); the
process is shutting down and nothing more is acknowledged."""
DEADLINE_AT_RISK: Final = -32011
"""The sequencer cannot keep a new receipt's deadline now (L1 is slow, stalled or priced out):
nothing was stored; `data.retryAfterMs` says when to come back."""


class JsonRpcError(AttestError):
    """A JSON-RPC error object: raised by a server's method, or answered to a client."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"{code}: {message}")

    def to_json(self) -> dict[str, Any]:
        """The error object of a response (`data` only when there is some)."""
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class MalformedResponseError(AttestError):
    """An answer that is not a JSON-RPC 2.0 response: the peer is faulty, not the request."""


def request(
    method: str, params: Sequence[Any] | Mapping[str, Any], req_id: int | str
) -> dict[str, Any]:
    """A request object (`params` by position or by name)."""
    return {"jsonrpc": VERSION, "id": req_id, "method": method, "params": params}


def result_response(req_id: Any, result: Any) -> dict[str, Any]:
    """A success response (`result` may be an `orjson.Fragment` of pre-encoded JSON)."""
    return {"jsonrpc": VERSION, "result": result, "id": req_id}


def error_response(req_id: Any, error: Mapping[str, Any]) -> dict[str, Any]:
    """An error response; `req_id` is None when the request's id could not be read."""
    return {"jsonrpc": VERSION, "error": error, "id": req_id}


def decode_result(answer: Any) -> Any:
    """The `result` of one response, or raise the `JsonRpcError` it carries.

    Raises `MalformedResponseError` for anything else: not an object, both or neither of
    `result` and `error`, an error that is not an object, a code that is not an integer
    (booleans and floats included), a message that is not a string.
    """
    if not isinstance(answer, dict):
        raise MalformedResponseError(f"not a JSON-RPC response object: {answer!r:.200}")
    has_error, has_result = "error" in answer, "result" in answer
    if has_error == has_result:
        raise MalformedResponseError(
            f"a response needs exactly one of result and error: {answer!r:.200}"
        )
    if has_result:
        return answer["result"]
    err = answer["error"]
    if not isinstance(err, dict):
        raise MalformedResponseError(f"error is not an object: {err!r:.200}")
    code, message = err.get("code"), err.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        raise MalformedResponseError(f"error code is not an integer: {code!r:.50}")
    if not isinstance(message, str):
        raise MalformedResponseError(f"error message is not a string: {message!r:.50}")
    raise JsonRpcError(code, message, err.get("data"))


def index_batch(answers: Any, ids: Sequence[int | str]) -> dict[int | str, Any]:
    """A batch answer by id, checked to hold exactly one response object per request id.

    JSON-RPC 2.0 §6 lets a server answer a batch in any order; a missing or duplicate id, an
    unknown id or a non-object entry is a malformed answer.
    """
    if not isinstance(answers, list):
        raise MalformedResponseError(f"expected a batch answer (a list), got {answers!r:.200}")
    by_id: dict[int | str, Any] = {}
    wanted = set(ids)
    for answer in answers:
        if not isinstance(answer, dict):
            raise MalformedResponseError(f"batch entry is not an object: {answer!r:.200}")
        rid = answer.get("id")
        if (
            not isinstance(rid, int | str)
            or isinstance(rid, bool)
            or rid not in wanted
            or rid in by_id
        ):
            raise MalformedResponseError(f"batch entry with an unknown or repeated id: {rid!r:.50}")
        by_id[rid] = answer
    if len(by_id) != len(wanted):
        missing = sorted(str(i) for i in wanted - set(by_id))
        raise MalformedResponseError(f"batch answer lacks ids {', '.join(missing[:10])}")
    return by_id
