"""JSON-RPC 2.0 dispatch and the error mapping, directly and over the real HTTP server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import trio

from prover import errors
from sequencer.rpc import errors as rpc_errors
from sequencer.rpc.http_server import HttpLimits, Request, Response, serve_http
from sequencer.rpc.jsonrpc import (
    BatchCap,
    Dispatcher,
    Param,
    RpcContext,
    bind_params,
    make_http_handler,
)
from tests.sequencer.rpc.test_http_server import RawClient, post

CTX = RpcContext(headers={"authorization": "Bearer t"}, client=("127.0.0.1", 1))


async def m_echo(ctx: RpcContext, value: Any, opt: Any) -> Any:
    """Return the params."""
    return {"value": value, "opt": opt}


async def m_auth(ctx: RpcContext) -> Any:
    return {"authorization": ctx.headers.get("authorization"), "client": ctx.client}


async def m_sleep(ctx: RpcContext, seconds: float) -> float:
    await trio.sleep(seconds)
    return seconds


async def m_bug(ctx: RpcContext) -> None:
    raise KeyError("secret internal detail")


async def m_raise(ctx: RpcContext, which: str) -> None:
    raise RAISERS[which]


async def m_unserialisable(ctx: RpcContext) -> object:
    return object()


RAISERS: dict[str, Exception] = {
    "field": errors.InvalidFieldError("digest", "must be 32 bytes of 0x-hex", 3),
    "signature": errors.InvalidSignatureError("signature", "does not recover to submitter"),
    "limit": errors.LimitExceededError("events", 1000, 1001),
    "input": errors.InvalidInputError("params must not be empty"),
    "unauthorized": errors.UnauthorizedError("missing bearer token"),
    "replay": errors.ReplayError("0xabc", 7),
    "notfound": errors.NotFoundError("no event 99"),
    "overloaded": errors.OverloadedError("ingest queue full", 250),
    "inclusion": errors.InclusionProofError("root mismatch"),
    "consistency": errors.ConsistencyProofError("root mismatch"),
    "l1": errors.L1Error("connection refused"),
    "storage": errors.StorageError("schema version 9 is newer than this build"),
    "unavailable": errors.StorageUnavailableError("storage unavailable: OSError: disk full"),
    "bug": ValueError("oops"),
}


def make_dispatcher(**kwargs: Any) -> Dispatcher:
    d = Dispatcher(**kwargs)
    d.register(
        "echo",
        m_echo,
        params=(
            Param("value", (int, str)),
            Param("opt", (dict, type(None)), required=False, default={"dflt": True}),
        ),
    )
    d.register("auth", m_auth, params=())
    d.register("sleep", m_sleep, params=(Param("seconds", (float,)),))
    d.register("bug", m_bug, params=())
    d.register("raise", m_raise, params=(Param("which", (str,)),))
    d.register("unserialisable", m_unserialisable, params=())
    return d


async def call(d: Dispatcher, message: object) -> Any:
    out = await d.handle_body(orjson.dumps(message), CTX)
    return None if out is None else orjson.loads(out)


def req(method: str, params: object = None, id: object = 1) -> dict[str, Any]:
    m: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        m["params"] = params
    return m


async def test_positional_and_by_name_params() -> None:
    d = make_dispatcher()
    assert await call(d, req("echo", [5])) == {
        "jsonrpc": "2.0",
        "result": {"value": 5, "opt": {"dflt": True}},
        "id": 1,
    }
    assert (await call(d, req("echo", ["x", {"a": 1}], id="abc")))["result"] == {
        "value": "x",
        "opt": {"a": 1},
    }
    assert (await call(d, req("echo", {"opt": None, "value": 2})))["result"] == {
        "value": 2,
        "opt": None,
    }
    assert (await call(d, req("auth")))["result"] == {
        "authorization": "Bearer t",
        "client": ["127.0.0.1", 1],
    }


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ([], "params[0] (value)", "required parameter is missing"),
        ({}, "params[0] (value)", "required parameter is missing"),
        ([1, None, 3], "params", "expected at most 2 parameters, got 3"),
        ([True], "params[0] (value)", "must be integer or string, got boolean"),
        ([1.5], "params[0] (value)", "must be integer or string, got number"),
        ([1, []], "params[1] (opt)", "must be object or null, got array"),
        ({"value": 1, "nope": 2}, "params.nope", "unknown parameter"),
    ],
)
async def test_wrong_params_are_32602_naming_the_parameter(
    params: object, field: str, reason: str
) -> None:
    d = make_dispatcher()
    error = (await call(d, req("echo", params)))["error"]
    assert error == {
        "code": -32602,
        "message": f"{field}: {reason}",
        "data": {"field": field, "index": None, "reason": reason},
    }


async def test_int_is_accepted_where_a_number_is_expected() -> None:
    d = make_dispatcher()
    assert (await call(d, req("sleep", [0])))["result"] == 0


async def test_parse_error() -> None:
    d = make_dispatcher()
    out = orjson.loads(await d.handle_body(b'{"jsonrpc": "2.0", "method"', CTX) or b"")
    assert out["id"] is None
    assert out["error"]["code"] == -32700
    assert out["error"]["message"].startswith("parse error")


@pytest.mark.parametrize(
    ("message", "reply_id", "reason"),
    [
        (1, None, "a request must be a JSON object"),
        ({"jsonrpc": "1.0", "method": "echo", "id": 4}, 4, 'jsonrpc must be exactly "2.0"'),
        ({"method": "echo", "id": 4}, 4, 'jsonrpc must be exactly "2.0"'),
        ({"jsonrpc": "2.0", "method": 1, "id": 4}, 4, "method must be a string"),
        ({"jsonrpc": "2.0", "method": "echo", "params": 3, "id": 4}, 4, "params must be"),
        ({"jsonrpc": "2.0", "method": "echo", "id": [1]}, None, "id must be"),
        ({"jsonrpc": "2.0", "method": "echo", "id": True}, None, "id must be"),
        ({"foo": "boo"}, None, 'jsonrpc must be exactly "2.0"'),
    ],
)
async def test_invalid_request(message: object, reply_id: object, reason: str) -> None:
    d = make_dispatcher()
    out = await call(d, message)
    assert out["id"] == reply_id
    assert out["error"]["code"] == -32600
    assert reason in out["error"]["message"]


async def test_empty_batch_is_a_single_invalid_request() -> None:
    out = await call(make_dispatcher(), [])
    assert isinstance(out, dict)
    assert out["error"]["code"] == -32600
    assert out["id"] is None


async def test_unknown_method() -> None:
    out = await call(make_dispatcher(), req("nope", []))
    assert out["error"] == {"code": -32601, "message": "method not found: nope"}


async def test_notifications_get_no_response() -> None:
    d = make_dispatcher()
    note = {"jsonrpc": "2.0", "method": "echo", "params": [1]}
    assert await d.handle_body(orjson.dumps(note), CTX) is None
    # Errors of notifications are not reported either (JSON-RPC 2.0 §4.1).
    bad = {"jsonrpc": "2.0", "method": "echo", "params": []}
    unknown = {"jsonrpc": "2.0", "method": "nope"}
    assert await d.handle_body(orjson.dumps([note, bad, unknown]), CTX) is None
    # In a mixed batch only the calls with an id are answered.
    out = await call(d, [note, req("echo", [2], id=7), bad, req("echo", [3], id=8)])
    assert [(r["id"], r["result"]["value"]) for r in out] == [(7, 2), (8, 3)]


async def test_batch_mixes_results_and_errors_in_request_order() -> None:
    d = make_dispatcher()
    out = await call(
        d,
        [req("echo", [1], id=1), 5, req("nope", id=2), req("echo", [], id=3), req("auth", id=4)],
    )
    assert [r["id"] for r in out] == [1, None, 2, 3, 4]
    assert [r.get("error", {}).get("code") for r in out] == [None, -32600, -32601, -32602, None]


async def test_batch_entries_run_one_after_another_by_default(
    autojump_clock: trio.abc.Clock,
) -> None:
    d = make_dispatcher()
    start = trio.current_time()
    out = await call(d, [req("sleep", [3.0], id=1), req("sleep", [1.0], id=2)])
    assert [r["id"] for r in out] == [1, 2]
    assert trio.current_time() - start == pytest.approx(4.0)


async def test_concurrent_batch_keeps_response_order(autojump_clock: trio.abc.Clock) -> None:
    d = make_dispatcher(batch_concurrency=8)
    start = trio.current_time()
    delays = [5.0, 1.0, 3.0, 2.0, 4.0]
    out = await call(d, [req("sleep", [s], id=i) for i, s in enumerate(delays)])
    assert [r["id"] for r in out] == list(range(5))
    assert [r["result"] for r in out] == delays
    assert trio.current_time() - start == pytest.approx(5.0)


async def test_batch_size_limit() -> None:
    d = make_dispatcher(max_batch=2)
    out = await call(d, [req("auth", id=i) for i in range(3)])
    assert out["error"]["code"] == -32006
    assert out["error"]["data"] == {"what": "batch entries", "limit": 2, "actual": 3}


async def test_method_bug_is_32603_without_details(caplog: pytest.LogCaptureFixture) -> None:
    d = make_dispatcher()
    with caplog.at_level(logging.ERROR, logger="sequencer.rpc.jsonrpc"):
        out = await call(d, req("bug"))
    assert out == {
        "jsonrpc": "2.0",
        "error": {"code": -32603, "message": "internal error"},
        "id": 1,
    }
    assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)
    out = await call(d, req("unserialisable"))
    assert out["error"] == {"code": -32603, "message": "internal error"}


EXPECTED_ERRORS: list[tuple[str, int, str, object]] = [
    (
        "field",
        -32602,
        "events[3].digest: must be 32 bytes of 0x-hex",
        {"field": "digest", "index": 3, "reason": "must be 32 bytes of 0x-hex"},
    ),
    (
        "signature",
        -32002,
        "signature: does not recover to submitter",
        {"field": "signature", "index": None, "reason": "does not recover to submitter"},
    ),
    (
        "limit",
        -32006,
        "events: 1001 exceeds the limit of 1000",
        {"what": "events", "limit": 1000, "actual": 1001},
    ),
    ("input", -32602, "params must not be empty", None),
    ("unauthorized", -32001, "missing bearer token", None),
    (
        "replay",
        -32003,
        "nonce 7 of 0xabc is already used by another event",
        {"submitter": "0xabc", "nonce": 7},
    ),
    ("notfound", -32004, "no event 99", None),
    ("overloaded", -32005, "ingest queue full", {"retryAfterMs": 250}),
    ("inclusion", -32007, "root mismatch", None),
    ("consistency", -32007, "root mismatch", None),
    ("l1", -32008, "connection refused", None),
    ("storage", -32603, "internal error", None),
    ("unavailable", -32010, "storage unavailable: OSError: disk full", None),
    ("bug", -32603, "internal error", None),
]


@pytest.mark.parametrize(("which", "code", "message", "data"), EXPECTED_ERRORS)
async def test_project_errors_map_to_their_codes(
    which: str, code: int, message: str, data: object
) -> None:
    error = (await call(make_dispatcher(), req("raise", [which])))["error"]
    expected: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        expected["data"] = data
    assert error == expected


def test_error_table_is_consistent() -> None:
    codes = [spec.code for spec in rpc_errors.ERRORS]
    assert len(set(codes)) == len(codes)
    for spec in rpc_errors.ERRORS:
        assert getattr(rpc_errors, spec.name) == spec.code
        assert (
            spec.code in (-32700,) or -32603 <= spec.code <= -32600 or -32099 <= spec.code <= -32000
        )
    # Every code the mapping can produce is documented.
    assert {rpc_errors.error_code(e) for e in RAISERS.values()} <= set(codes)
    assert all("code" in e and "message" in e for e in rpc_errors.openrpc_errors())


def test_registry_is_introspectable_and_rejects_duplicates() -> None:
    d = make_dispatcher()
    names = [m.name for m in d.methods()]
    assert names[:2] == ["echo", "auth"]
    echo = d.get("echo")
    assert echo is not None
    assert echo.doc == "Return the params."
    assert [p.name for p in echo.params] == ["value", "opt"]
    assert echo.params[0].schema() == {"type": ["integer", "string"]}
    with pytest.raises(ValueError, match="already registered"):
        d.register("echo", m_echo, params=())
    with pytest.raises(ValueError, match="follows an optional"):
        d.register("x", m_echo, params=(Param("a", (int,), required=False), Param("b", (int,))))


def test_bind_params_directly() -> None:
    spec = (Param("a", (int,)), Param("b", (str,), required=False, default="z"))
    assert bind_params(spec, [1]) == [1, "z"]
    assert bind_params(spec, {"b": "y", "a": 2}) == [2, "y"]
    with pytest.raises(errors.InvalidFieldError, match=r"params\[1\] \(b\): must be string"):
        bind_params(spec, [1, 2])


# --- over HTTP -------------------------------------------------------------------------------


async def health(request: Request) -> Response:
    return Response(200, b"ok", content_type="text/plain")


@asynccontextmanager
async def rpc_server(limits: HttpLimits | None = None) -> AsyncIterator[int]:
    handler = make_http_handler(make_dispatcher(), extra_routes={("GET", "/health"): health})
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                handler, "127.0.0.1", 0, limits=limits or HttpLimits(), task_status=task_status
            )
        )
        try:
            yield port
        finally:
            nursery.cancel_scope.cancel()


async def test_over_http_keep_alive_errors_and_notifications(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with rpc_server() as port:
        client = await RawClient.connect(port)

        async def rpc(body: bytes) -> tuple[int, bytes]:
            await client.send(post(body, extra="Authorization: Bearer xyz\r\n"))
            status, _, out = await client.read_response()
            return status, out

        status, out = await rpc(orjson.dumps(req("auth")))
        assert status == 200
        assert orjson.loads(out)["result"]["authorization"] == "Bearer xyz"
        status, out = await rpc(b"{not json")
        assert status == 200
        assert orjson.loads(out)["error"]["code"] == -32700
        with caplog.at_level(logging.ERROR):
            status, out = await rpc(orjson.dumps(req("bug")))
        assert status == 200
        assert orjson.loads(out)["error"] == {"code": -32603, "message": "internal error"}
        status, out = await rpc(orjson.dumps([{"jsonrpc": "2.0", "method": "auth"}]))
        assert (status, out) == (204, b"")
        status, out = await rpc(orjson.dumps([req("echo", [1], id=1), req("echo", [2], id=2)]))
        assert [r["result"]["value"] for r in orjson.loads(out)] == [1, 2]


async def test_over_http_routes() -> None:
    async with rpc_server() as port:
        client = await RawClient.connect(port)
        await client.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body = await client.read_response()
        assert (status, headers["content-type"], body) == (200, "text/plain", b"ok")
        # HEAD is GET without the content (RFC 9110 §9.3.2): the same status and length.
        await client.send(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n")
        client.buf += await client.stream.receive_some(65536)
        head, client.buf = client.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 2" in head
        assert client.buf == b""
        await client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, _ = await client.read_response()
        assert (status, headers["allow"]) == (405, "POST")
        await client.send(post(b"{}", path="/nope"))
        assert (await client.read_response())[0] == 404


async def test_over_http_body_limit() -> None:
    async with rpc_server(HttpLimits(max_body_bytes=64)) as port:
        client = await RawClient.connect(port)
        await client.send(post(orjson.dumps(req("echo", ["x" * 100]))))
        status, _, body = await client.read_response()
        assert status == 413
        assert orjson.loads(body)["error"]["code"] == -32006


# --- issue 12: what one body may cost, and answer ------------------------------------------


async def m_big(ctx: RpcContext, size: int) -> str:
    return "x" * size


def capped_dispatcher() -> Dispatcher:
    d = Dispatcher(max_response_bytes=10_000)
    cap = BatchCap("big calls per batch", 3, lambda raw: 1)
    d.register("big", m_big, params=(Param("size", (int,)),), caps=(cap,))
    d.register("also_big", m_big, params=(Param("size", (int,)),), caps=(cap,))
    return d


async def test_batch_cap_refuses_the_whole_batch_before_anything_runs() -> None:
    d = capped_dispatcher()
    batch = [
        req("big", [1], id=1),
        req("also_big", [1], id=2),
        req("big", [1], id=3),
        req("also_big", [1], id=4),
    ]
    out = await call(d, batch)
    assert out == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32006,
            "message": "big calls per batch: 4 exceeds the limit of 3",
            "data": {"what": "big calls per batch", "limit": 3, "actual": 4},
        },
    }
    assert len(await call(d, batch[:3])) == 3


async def test_response_bytes_cap_names_itself_and_stops_building_the_answer() -> None:
    d = capped_dispatcher()
    out = await call(
        d, [req("big", [4000], id=1), req("big", [4000], id=2), req("big", [4000], id=3)]
    )
    assert [len(r.get("result", "")) for r in out] == [4000, 4000, 0]
    assert out[2]["error"]["code"] == -32006
    assert out[2]["error"]["data"] == {"what": "response bytes", "limit": 10_000, "actual": 12_006}
    lone = await call(d, req("big", [20_000], id=9))
    assert lone["id"] == 9 and lone["error"]["data"]["what"] == "response bytes"


async def test_a_long_batch_lets_other_tasks_run_between_entries() -> None:
    d = make_dispatcher()
    progress: list[str] = []

    async def batch() -> None:
        await call(d, [req("echo", [i], id=i) for i in range(50)])
        progress.append("batch")

    async def other() -> None:
        progress.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(batch)
        nursery.start_soon(other)
    assert progress == ["other", "batch"]


async def test_a_write_is_answered_whole_past_the_response_bytes_cap() -> None:
    """A method that writes has done so by the time its answer is encoded: cutting the answer
    then (-32006) would leave the client unable to tell, and a retry would write twice. A read
    after it in the same batch still counts the write's bytes against the cap."""
    written: list[int] = []

    async def m_write(ctx: RpcContext, size: int) -> str:
        written.append(size)
        return "w" * size

    d = Dispatcher(max_response_bytes=10_000)
    d.register("write", m_write, params=(Param("size", (int,)),), writes=True)
    d.register("big", m_big, params=(Param("size", (int,)),))
    lone = await call(d, req("write", [20_000], id=1))
    assert lone["result"] == "w" * 20_000
    out = await call(d, [req("write", [12_000], id=2), req("big", [10], id=3)])
    assert out[0]["result"] == "w" * 12_000
    assert out[1]["error"]["data"]["what"] == "response bytes"
    assert written == [20_000, 12_000]


async def test_a_refusal_with_a_retry_hint_holds_the_connection_off() -> None:
    """-32005's `retryAfterMs` becomes the HTTP answer's hold-off (the server reads that
    connection's next request no sooner); the longest hint of a batch wins."""
    handler = make_http_handler(make_dispatcher())

    async def answer(message: object) -> Response:
        body = orjson.dumps(message)
        return await handler(Request("POST", "/", {}, body, ("127.0.0.1", 1)))

    assert (await answer(req("raise", ["overloaded"]))).hold_off_s == 0.25
    assert (await answer(req("echo", [1]))).hold_off_s == 0
    assert (await answer([req("echo", [1]), req("raise", ["overloaded"], id=2)])).hold_off_s == 0.25
    notified = await answer({"jsonrpc": "2.0", "method": "raise", "params": ["overloaded"]})
    assert notified.status == 204 and notified.hold_off_s == 0.25
