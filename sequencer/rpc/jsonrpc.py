"""JSON-RPC 2.0 over `POST /` (docs/spec.md §10): envelope validation, the method registry, dispatch.

* A body is one request object or a non-empty batch array (JSON-RPC 2.0 §6); batch entries are
  run in order (or up to `batch_concurrency` at a time) and answered in request order.
* A request without `id` is a notification (§4.1): it runs, and gets no response entry; a body
  that yields no entries at all is answered with HTTP 204 and an empty body.
* Parameters are checked against the method's `ParamsSpec` before the method runs, by position
  or by name (§4.2); a mismatch is -32602 naming the parameter.
* Methods raise `prover.errors` exceptions; `rpc_errors.error_object` maps them. Anything else
  is a bug: logged with its traceback, answered -32603 with a generic message.

What one body may cost is bounded before anything runs, and what it may answer while it runs
(issue 12: a 82 kB batch of `getBlock(n, true)` used to build a 311 MB answer):

* at most `max_batch` entries;
* per `BatchCap` (e.g. "full blocks per batch", "proofs per batch", "events per batch"), the
  summed cost of the entries, from their raw params, before any of them runs;
* at most `max_response_bytes` of results: an entry whose result would cross it, and every
  entry after it, is answered -32006 naming "response bytes" instead (never built whole);
* a batch yields to the scheduler between entries, so other connections are served meanwhile.

Any of these is a -32006 error with `data: {what, limit, actual}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import trio

from prover.errors import InvalidFieldError, LimitExceededError
from prover.jsonrpc import VERSION, error_response, result_response
from sequencer.rpc import errors as rpc_errors
from sequencer.rpc.http_server import Handler, Request, Response

logger = logging.getLogger(__name__)

#: JSON types a parameter may be declared with, and their JSON Schema names (for OpenRPC).
_SCHEMA_TYPES: Final[dict[type, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}

_NO_CONTENT: Final = Response(204, b"")

#: Most bytes of results one body is answered with (JSON-RPC envelopes around them aside).
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter of a method."""

    name: str
    """Name used for by-name params and in error messages."""
    types: tuple[type, ...]
    """Accepted JSON types among str, int, float, bool, list, dict, NoneType (bool is not int)."""
    required: bool = True
    """Whether the caller must pass it; a missing optional one is passed as `default`."""
    default: Any = None
    """The value passed for a missing optional parameter."""
    description: str = ""
    """One line for the OpenRPC document."""

    def __post_init__(self) -> None:
        if not self.types:
            raise ValueError(f"param {self.name!r}: at least one type is required")
        for t in self.types:
            if t not in _SCHEMA_TYPES:
                raise ValueError(f"param {self.name!r}: {t!r} is not a JSON type")

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the accepted types (OpenRPC Content Descriptor `schema`)."""
        names = [_SCHEMA_TYPES[t] for t in self.types]
        return {"type": names[0] if len(names) == 1 else names}

    def accepts(self, value: object) -> bool:
        """Whether `value`, as decoded by orjson, has one of the declared types."""
        if isinstance(value, bool):
            return bool in self.types
        if isinstance(value, int) and float in self.types and int not in self.types:
            return True  # a JSON number written without a fraction is still a number
        return type(value) in self.types


ParamsSpec = tuple[Param, ...]


@dataclass(slots=True)
class RpcContext:
    """What a method may know about the HTTP request that carried its call."""

    headers: Mapping[str, str]
    """Request headers, names lower-cased (e.g. ``ctx.headers.get("authorization")``)."""
    client: tuple[str, int] | None
    """The peer's (host, port)."""
    retry_after_ms: int = 0
    """The longest retry hint (`retryAfterMs`) of the calls refused so far in this body, set
    by the dispatcher: the HTTP server holds the connection's next request off that long
    (`Response.hold_off_s`)."""


Method = Callable[..., Awaitable[Any]]
"""`async def fn(ctx: RpcContext, *params) -> result`, result being JSON-serialisable by orjson."""


@dataclass(frozen=True, slots=True)
class BatchCap:
    """A bound on what one body (a lone call, or a whole batch) may ask for, summed over the
    entries of every method registered with it under the same `what`."""

    what: str
    """The bounded quantity as errors name it, e.g. ``"full blocks per batch"``."""
    limit: int
    """The largest accepted sum."""
    cost: Callable[[list[Any] | dict[str, Any]], int]
    """Units one call costs, from its raw (unchecked) params; must be cheap and never raise."""


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A registered method: what `rpc.discover` needs to describe it."""

    name: str
    fn: Method
    params: ParamsSpec
    doc: str
    """Summary for the OpenRPC document (defaults to the first line of fn's docstring)."""
    caps: tuple[BatchCap, ...] = ()
    """The bounds this method's calls count against."""
    writes: bool = False
    """Its answer is never cut by the response-bytes bound: by the time it is encoded the write
    is done, and answering -32006 then would leave the client unable to tell (a retry would
    store it twice). Its size is bounded by the method's own caps instead."""


class Dispatcher:
    """The method registry and the JSON-RPC 2.0 request processor."""

    def __init__(
        self,
        *,
        batch_concurrency: int = 1,
        max_batch: int = 1000,
        observe: Callable[[str, str], None] | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        """`batch_concurrency` batch entries run at once (1 = strictly one after another).

        `observe(method, outcome)` is called once per request object answered or run (each
        batch entry, each notification): `method` is the registered name, ``"unknown"`` for a
        name not registered, ``"invalid"`` for a body or envelope that names no method (and for
        a batch refused whole); the outcome is ``"ok"`` or the error's name in lower case
        (`rpc_errors.outcome_name`).
        """
        if batch_concurrency < 1:
            raise ValueError(f"batch_concurrency must be >= 1, got {batch_concurrency}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_response_bytes < 1024:
            raise ValueError(f"max_response_bytes must be >= 1024, got {max_response_bytes}")
        self._methods: dict[str, MethodSpec] = {}
        self._batch_concurrency = batch_concurrency
        self._max_batch = max_batch
        self._observe = observe or _ignore
        self._max_response_bytes = max_response_bytes

    # --- registry ------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        fn: Method,
        *,
        params: ParamsSpec,
        doc: str | None = None,
        caps: tuple[BatchCap, ...] = (),
        writes: bool = False,
    ) -> None:
        """Register `fn` as method `name`; registering a name twice is a bug and raises."""
        if name in self._methods:
            raise ValueError(f"method {name!r} is already registered")
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"method {name!r}: duplicate parameter names {names}")
        seen_optional = False
        for p in params:
            if p.required and seen_optional:
                raise ValueError(f"method {name!r}: required {p.name!r} follows an optional param")
            seen_optional = seen_optional or not p.required
        if doc is None:
            doc = (fn.__doc__ or "").strip().split("\n", 1)[0]
        self._methods[name] = MethodSpec(name, fn, tuple(params), doc, tuple(caps), writes)

    def methods(self) -> list[MethodSpec]:
        """Every registered method, in registration order."""
        return list(self._methods.values())

    def get(self, name: str) -> MethodSpec | None:
        return self._methods.get(name)

    # --- processing ----------------------------------------------------------------------------

    async def handle_body(self, body: bytes, ctx: RpcContext) -> bytes | None:
        """The response body for a JSON-RPC request body, or None when nothing is to be sent."""
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self._observe("invalid", "parse_error")
            return _dump(
                _error(
                    None, rpc_errors.protocol_error(rpc_errors.PARSE_ERROR, f"parse error: {exc}")
                )
            )
        if isinstance(message, list):
            if not message:
                self._observe("invalid", "invalid_request")
                return _dump(
                    _error(
                        None,
                        rpc_errors.protocol_error(
                            rpc_errors.INVALID_REQUEST, "invalid request: empty batch"
                        ),
                    )
                )
            # Verify the batch's size, then its cost, before any entry runs.
            if len(message) > self._max_batch:
                self._observe("invalid", "limit_exceeded")
                return _dump(
                    _error(None, _limit_error("batch entries", self._max_batch, len(message)))
                )
            over = self._over_cap(message)
            if over is not None:
                self._observe("invalid", "limit_exceeded")
                return _dump(_error(None, over))
            replies = await self._run_batch(message, ctx)
            entries = [r for r in replies if r is not None]
            return _dump(entries) if entries else None
        if isinstance(message, dict) and self._has_caps(message.get("method")):
            over = self._over_cap([message])
            if over is not None:
                # Only a registered method has caps, so the lone call names one.
                self._observe(message["method"], "limit_exceeded")
                req_id = message.get("id")
                return _dump(_error(req_id if valid_id(req_id) else None, over))
        reply = await self._handle_one(message, ctx, None)
        return None if reply is None else _dump(reply)

    def _has_caps(self, name: object) -> bool:
        spec = self._methods.get(name) if isinstance(name, str) else None
        return spec is not None and bool(spec.caps)

    def _over_cap(self, messages: list[Any]) -> dict[str, Any] | None:
        """The -32006 error object for the first `BatchCap` the entries exceed, or None."""
        totals: dict[str, int] = {}
        caps: dict[str, BatchCap] = {}
        for message in messages:
            if not isinstance(message, dict):
                continue
            name = message.get("method")
            spec = self._methods.get(name) if isinstance(name, str) else None
            if spec is None or not spec.caps:
                continue
            raw = message.get("params", [])
            if not isinstance(raw, list | dict):
                continue
            for cap in spec.caps:
                totals[cap.what] = totals.get(cap.what, 0) + cap.cost(raw)
                caps[cap.what] = cap
        for what, total in totals.items():
            if total > caps[what].limit:
                return _limit_error(what, caps[what].limit, total)
        return None

    async def _run_batch(self, messages: list[Any], ctx: RpcContext) -> list[dict[str, Any] | None]:
        replies: list[dict[str, Any] | None] = [None] * len(messages)
        budget = _ResponseBudget(self._max_response_bytes)
        if self._batch_concurrency == 1:
            for i, message in enumerate(messages):
                replies[i] = await self._handle_one(message, ctx, budget)
                # Let other connections in between entries (a method that never awaits would
                # otherwise hold the event loop for the whole batch).
                await trio.lowlevel.checkpoint()
            return replies
        limiter = trio.CapacityLimiter(self._batch_concurrency)

        async def run(i: int, message: Any) -> None:
            async with limiter:
                replies[i] = await self._handle_one(message, ctx, budget)

        async with trio.open_nursery() as nursery:
            for i, message in enumerate(messages):
                nursery.start_soon(run, i, message)
        return replies

    async def handle_one(self, message: Any, ctx: RpcContext) -> dict[str, Any] | None:
        """The response object for one decoded request, or None for a notification."""
        return await self._handle_one(message, ctx, None)

    async def _handle_one(
        self, message: Any, ctx: RpcContext, budget: _ResponseBudget | None
    ) -> dict[str, Any] | None:
        """`budget` is the batch's; None for a lone request (then only its own size counts)."""
        # Verify the envelope (JSON-RPC 2.0 §4); an invalid one is answered with id null
        # unless its id itself is usable (§5: "If there was an error in detecting the id").
        if not isinstance(message, dict):
            return self._refuse(None, "a request must be a JSON object")
        has_id = "id" in message
        req_id = message.get("id")
        if has_id and not valid_id(req_id):
            return self._refuse(None, "id must be a string, a number or null")
        if message.get("jsonrpc") != VERSION:
            return self._refuse(req_id, 'jsonrpc must be exactly "2.0"')
        name = message.get("method")
        if not isinstance(name, str):
            return self._refuse(req_id, "method must be a string")
        raw_params = message.get("params", [])
        if not isinstance(raw_params, list | dict):
            return self._refuse(req_id, "params must be an array or an object")
        spec = self._methods.get(name)
        if spec is None:
            self._observe("unknown", "method_not_found")
            if not has_id:
                return None
            return _error(
                req_id,
                rpc_errors.protocol_error(rpc_errors.METHOD_NOT_FOUND, f"method not found: {name}"),
            )
        if budget is not None and budget.spent():
            # An earlier entry already filled the answer: this one does not run at all.
            self._observe(name, "limit_exceeded")
            return _error(req_id, budget.error()) if has_id else None
        try:
            args = bind_params(spec.params, raw_params)
            result = await spec.fn(ctx, *args)
            encoded = orjson.dumps(result) if has_id else b""
        except Exception as exc:
            code = rpc_errors.error_code(exc)
            self._observe(name, rpc_errors.outcome_name(code))
            retry_ms = getattr(exc, "retry_after_ms", 0)
            if retry_ms > ctx.retry_after_ms:
                ctx.retry_after_ms = retry_ms
            if code == rpc_errors.INTERNAL_ERROR:
                logger.exception("method failed method=%s client=%s", name, ctx.client)
            return _error(req_id, rpc_errors.error_object(exc)) if has_id else None
        if not has_id:
            self._observe(name, "ok")
            return None
        if spec.writes:
            if budget is not None:
                budget.take(len(encoded))  # later entries of the batch may not run
        elif budget is None:
            if len(encoded) > self._max_response_bytes:
                self._observe(name, "limit_exceeded")
                return _error(
                    req_id, _limit_error("response bytes", self._max_response_bytes, len(encoded))
                )
        elif not budget.take(len(encoded)):
            self._observe(name, "limit_exceeded")
            return _error(req_id, budget.error())
        self._observe(name, "ok")
        return result_response(req_id, orjson.Fragment(encoded))

    def _refuse(self, req_id: object, reason: str) -> dict[str, Any]:
        self._observe("invalid", "invalid_request")
        return _invalid(req_id, reason)

    def http_handler(
        self,
        *,
        extra_routes: Mapping[tuple[str, str], Handler] | None = None,
    ) -> Handler:
        """Same as `make_http_handler(self, extra_routes=...)`."""
        return make_http_handler(self, extra_routes=extra_routes)


def bind_params(spec: ParamsSpec, raw: list[Any] | dict[str, Any]) -> list[Any]:
    """Positional arguments for a method, from by-position or by-name params (§4.2).

    Raises `InvalidFieldError` naming the parameter (``params[1] (checkpoint)``) when one is
    missing, extra, unknown, or of the wrong type.
    """
    values: list[Any] = []
    if isinstance(raw, list):
        if len(raw) > len(spec):
            raise InvalidFieldError(
                "params", f"expected at most {len(spec)} parameters, got {len(raw)}"
            )
        given: dict[int, Any] = dict(enumerate(raw))
    else:
        by_name = {p.name: i for i, p in enumerate(spec)}
        for key in raw:
            if key not in by_name:
                raise InvalidFieldError(f"params.{key}", "unknown parameter")
        given = {by_name[k]: v for k, v in raw.items()}
    for i, p in enumerate(spec):
        label = f"params[{i}] ({p.name})"
        if i not in given:
            if p.required:
                raise InvalidFieldError(label, "required parameter is missing")
            values.append(p.default)
            continue
        value = given[i]
        if not p.accepts(value):
            expected = " or ".join(_SCHEMA_TYPES[t] for t in p.types)
            raise InvalidFieldError(label, f"must be {expected}, got {_json_type(value)}")
        values.append(value)
    return values


def make_http_handler(
    dispatcher: Dispatcher,
    *,
    extra_routes: Mapping[tuple[str, str], Handler] | None = None,
) -> Handler:
    """An HTTP handler serving JSON-RPC on `POST /` and `extra_routes[(method, path)]`.

    The route key matches the request path without its query string, e.g.
    ``{("GET", "/health"): health, ("GET", "/metrics"): metrics}``.
    """
    routes = dict(extra_routes or {})
    if ("POST", "/") in routes:
        raise ValueError("POST / is the JSON-RPC endpoint and cannot be overridden")
    # RFC 9110 §9.3.2: HEAD is GET without the content (the server drops the body).
    for method, path in list(routes):
        if method == "GET":
            routes.setdefault(("HEAD", path), routes[(method, path)])
    allowed_on: dict[str, list[str]] = {"/": ["POST"]}
    for method, path in routes:
        allowed_on.setdefault(path, []).append(method)

    async def handle(request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and path == "/":
            ctx = RpcContext(headers=request.headers, client=request.client)
            body = await dispatcher.handle_body(request.body, ctx)
            hold_off_s = ctx.retry_after_ms / 1000
            if body is None:
                return Response(204, hold_off_s=hold_off_s) if hold_off_s else _NO_CONTENT
            return Response(200, body, hold_off_s=hold_off_s)
        route = routes.get((request.method, path))
        if route is not None:
            return await route(request)
        if path in allowed_on:
            allow = ", ".join(sorted(allowed_on[path]))
            return Response(
                405,
                _http_error_body(f"method {request.method} not allowed on {path}"),
                headers=(("Allow", allow),),
            )
        return Response(404, _http_error_body(f"no such path: {path}"))

    return handle


def _http_error_body(message: str) -> bytes:
    return orjson.dumps(
        error_response(None, {"code": rpc_errors.INVALID_REQUEST, "message": message})
    )


def valid_id(value: object) -> bool:
    # JSON-RPC 2.0 §4: String, Number, or Null (fractional numbers are discouraged, not banned).
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    return _SCHEMA_TYPES.get(type(value), type(value).__name__)


def _ignore(method: str, outcome: str) -> None:
    pass


class _ResponseBudget:
    """Bytes of results one body may still be answered with."""

    __slots__ = ("actual", "limit", "over")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.actual = 0
        self.over = False

    def take(self, n: int) -> bool:
        self.actual += n
        if self.actual > self.limit:
            self.over = True
        return not self.over

    def spent(self) -> bool:
        return self.over

    def error(self) -> dict[str, Any]:
        return _limit_error("response bytes", self.limit, self.actual)


def _limit_error(what: str, limit: int, actual: int) -> dict[str, Any]:
    """The -32006 error object, as `rpc_errors.error_object(LimitExceededError(...))` makes it."""
    return rpc_errors.error_object(LimitExceededError(what, limit, actual))


def _error(req_id: object, error: dict[str, Any]) -> dict[str, Any]:
    return error_response(req_id, error)


def _invalid(req_id: object, reason: str) -> dict[str, Any]:
    return _error(
        req_id, rpc_errors.protocol_error(rpc_errors.INVALID_REQUEST, f"invalid request: {reason}")
    )


def _dump(message: dict[str, Any] | Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps(message)
