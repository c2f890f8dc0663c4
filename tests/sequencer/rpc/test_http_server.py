"""The HTTP/1.1 server, driven over real loopback sockets by a raw client."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.rpc.http_server import (
    _YIELD_EVERY,
    Admit,
    HttpLimits,
    Request,
    RequestHead,
    Response,
    _BodyBudget,
    _Connection,
    _ConnectionTable,
    _HttpError,
    _parse_head,
    _Shared,
    serve_http,
)


class RawClient:
    """A deliberately dumb HTTP/1.1 client: bytes out, status/headers/body in."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _fill(self) -> bool:
        chunk = await self.stream.receive_some(65536)
        self.buf += chunk
        return bool(chunk)

    async def read_response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not await self._fill():
                raise EOFError(f"connection closed, partial response {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, headers = parse_response_head(head)
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not await self._fill():
                raise EOFError("connection closed inside a body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    async def is_closed(self) -> bool:
        """True when the server closed the connection (EOF or reset) and sent nothing more."""
        try:
            chunk = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:
            return True
        return chunk == b"" and self.buf == b""

    async def aclose(self) -> None:
        await self.stream.aclose()


def parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers (names lower-cased) of an HTTP/1.1 response head."""
    lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    return int(status), headers


def post(body: bytes, path: str = "/", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def echo(request: Request) -> Response:
    """Echo the request back as JSON, so tests can see what the server parsed."""
    if request.path == "/boom":
        raise RuntimeError("secret internal detail")
    if request.path == "/slow":
        await trio.sleep(5)
    return Response(
        200,
        orjson.dumps(
            {
                "method": request.method,
                "path": request.path,
                "headers": dict(request.headers),
                "body": request.body.decode("latin-1"),
                "client": list(request.client) if request.client else None,
            }
        ),
        headers=(("X-Test", "yes"),),
    )


@asynccontextmanager
async def running(
    limits: HttpLimits | None = None, admit: Admit | None = None
) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                echo,
                "127.0.0.1",
                0,
                limits=limits or HttpLimits(),
                admit=admit,
                task_status=task_status,
            )
        )
        try:
            yield port
        finally:
            nursery.cancel_scope.cancel()


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        for i in range(5):
            await client.send(post(b'{"n": %d}' % i, extra="Authorization: Bearer abc\r\n"))
            status, headers, body = await client.read_response()
            assert status == 200
            assert headers["content-type"] == "application/json"
            assert headers["x-test"] == "yes"
            assert "date" in headers
            seen = orjson.loads(body)
            assert seen["method"] == "POST"
            assert seen["path"] == "/"
            assert seen["body"] == f'{{"n": {i}}}'
            assert seen["headers"]["authorization"] == "Bearer abc"
            assert seen["client"][0] == "127.0.0.1"
        await client.aclose()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(
            post(b"first") + post(b"second") + b"GET /third HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        bodies = [orjson.loads((await client.read_response())[2]) for _ in range(3)]
        assert [b["body"] for b in bodies] == ["first", "second", ""]
        assert bodies[2]["path"] == "/third"
        assert bodies[2]["method"] == "GET"


async def test_request_split_across_many_packets() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        raw = post(b'{"split": true}')
        for i in range(len(raw)):
            await client.send(raw[i : i + 1])
        status, _, body = await client.read_response()
        assert status == 200
        assert orjson.loads(body)["body"] == '{"split": true}'


async def test_chunked_body_is_decoded() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        status, _, body = await client.read_response()
        assert status == 200
        assert orjson.loads(body)["body"] == "hello world"


async def test_repeated_headers_are_joined() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(post(b"", extra="X-A: 1\r\nx-a: 2\r\n"))
        _, _, body = await client.read_response()
        assert orjson.loads(body)["headers"]["x-a"] == "1, 2"


async def test_body_over_limit_gets_413_json_error_and_close() -> None:
    async with running(HttpLimits(max_body_bytes=100)) as port:
        client = await RawClient.connect(port)
        await client.send(post(b"x" * 101))
        status, headers, body = await client.read_response()
        assert status == 413
        assert headers["connection"] == "close"
        error = orjson.loads(body)["error"]
        assert error["code"] == -32006
        assert "request body bytes" in error["message"]
        assert error["data"] == {"what": "request body bytes", "limit": 100, "actual": 101}
        assert await client.is_closed()
        # A body exactly at the limit is fine.
        client = await RawClient.connect(port)
        await client.send(post(b"x" * 100))
        assert (await client.read_response())[0] == 200


async def test_chunked_body_over_limit_gets_413() -> None:
    async with running(HttpLimits(max_body_bytes=10)) as port:
        client = await RawClient.connect(port)
        await client.send(
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"
        )
        status, _, body = await client.read_response()
        assert status == 413
        assert orjson.loads(body)["error"]["code"] == -32006


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        b"POST / HTTP/1.1\r\nHost: t\r\nbad header\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nX : y\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",  # HTTP/1.1 requires Host
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_malformed_http_gets_400_and_close(raw: bytes) -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(raw)
        status, headers, body = await client.read_response()
        assert status == 400
        assert headers["connection"] == "close"
        assert orjson.loads(body)["error"]["code"] == -32600
        assert await client.is_closed()


async def test_oversized_headers_get_431() -> None:
    async with running(HttpLimits(max_header_bytes=1024)) as port:
        client = await RawClient.connect(port)
        await client.send(post(b"", extra=f"X-Big: {'a' * 2000}\r\n"))
        status, _, _ = await client.read_response()
        assert status == 431
        assert await client.is_closed()


async def test_handler_exception_is_500_without_details_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        with caplog.at_level(logging.ERROR, logger="sequencer.rpc.http_server"):
            await client.send(post(b"{}", path="/boom"))
            status, _, body = await client.read_response()
        assert status == 500
        assert orjson.loads(body) == {
            "jsonrpc": "2.0",
            "error": {"code": -32603, "message": "internal error"},
            "id": None,
        }
        assert b"secret" not in body and b"Traceback" not in body
        assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)
        # The same connection and new ones still work.
        await client.send(post(b"again"))
        assert (await client.read_response())[0] == 200
        other = await RawClient.connect(port)
        await other.send(post(b"other"))
        assert (await other.read_response())[0] == 200


async def test_http10_closes_after_response_unless_keep_alive() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(b"GET /x HTTP/1.0\r\n\r\n")
        status, _, _ = await client.read_response()
        assert status == 200
        assert await client.is_closed()


async def test_connection_close_header_is_honoured() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(post(b"", extra="Connection: close\r\n"))
        status, headers, _ = await client.read_response()
        assert status == 200
        assert headers["connection"] == "close"
        assert await client.is_closed()


async def test_expect_100_continue() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(
            b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        while b"\r\n\r\n" not in client.buf:
            await client._fill()
        assert client.buf.startswith(b"HTTP/1.1 100 ")
        client.buf = client.buf.split(b"\r\n\r\n", 1)[1]
        await client.send(b"body")
        status, _, body = await client.read_response()
        assert status == 200
        assert orjson.loads(body)["body"] == "body"


async def test_head_gets_no_body() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n")
        while b"\r\n\r\n" not in client.buf:
            await client._fill()
        head, rest = client.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"content-length: " in head.lower()
        assert rest == b""
        # The connection is still usable, so no body bytes were hiding in the stream.
        client.buf = b""
        await client.send(post(b"next"))
        assert orjson.loads((await client.read_response())[2])["body"] == "next"


async def test_slow_client_times_out_without_blocking_others(
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.autojump_threshold = 0.05
    limits = HttpLimits(read_timeout_s=10.0, idle_timeout_s=100.0)
    async with running(limits) as port:
        slow = await RawClient.connect(port)
        await slow.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        start = trio.current_time()
        fast = await RawClient.connect(port)
        for _ in range(3):
            await fast.send(post(b"quick"))
            assert (await fast.read_response())[0] == 200
        assert trio.current_time() - start < 1.0
        status, headers, _ = await slow.read_response()
        assert status == 408
        assert headers["connection"] == "close"
        assert 10.0 <= trio.current_time() - start < 11.0
        assert await slow.is_closed()


async def test_idle_keep_alive_connection_is_closed(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0.05
    async with running(HttpLimits(idle_timeout_s=30.0)) as port:
        client = await RawClient.connect(port)
        await client.send(post(b"one"))
        assert (await client.read_response())[0] == 200
        start = trio.current_time()
        assert await client.is_closed()
        assert 30.0 <= trio.current_time() - start < 31.0


async def test_cancelling_the_server_stops_accepting_and_cancels_connections() -> None:
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[int]) -> None:
            with scope:
                await serve_http(echo, "127.0.0.1", 0, limits=HttpLimits(), task_status=task_status)

        port = await nursery.start(run)
        client = await RawClient.connect(port)
        await client.send(post(b"", path="/slow"))  # a handler that is still running
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        assert await client.is_closed()
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)


def test_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="read_timeout_s"):
        HttpLimits(read_timeout_s=0)
    with pytest.raises(ValueError, match="max_body_bytes"):
        HttpLimits(max_body_bytes=-1)


# --- framing corner cases of the hand-rolled parser -------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"POST / HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"POST /\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"POST  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"P@ST / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
        # Trailer lines are field lines (RFC 9112 §7.1.2), checked like headers.
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : 1\r\n\r\n",
            400,
        ),
        # An absolute-form target must have an authority.
        (b"GET http:///x HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"GET x HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ],
)
async def test_framing_errors(raw: bytes, status: int) -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        await client.send(raw)
        got, headers, _ = await client.read_response()
        assert got == status
        assert headers["connection"] == "close"
        assert await client.is_closed()


async def test_accepted_framing_variants() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        # Empty lines before a request are ignored (RFC 9112 §2.2); identical repeated
        # Content-Length values are one value (RFC 9112 §6.3); chunk extensions and trailers
        # are read and dropped; OWS around values is trimmed.
        await client.send(b"\r\n" + post(b"ab", extra="Content-Length: 2\r\nX-Pad:   v  \r\n"))
        _, _, body = await client.read_response()
        seen = orjson.loads(body)
        assert seen["body"] == "ab"
        assert seen["headers"]["x-pad"] == "v"
        await client.send(
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"
            b"3;name=value\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n" + post(b"next")
        )
        assert orjson.loads((await client.read_response())[2])["body"] == "abc"
        assert orjson.loads((await client.read_response())[2])["body"] == "next"


async def test_http10_keep_alive_is_honoured() -> None:
    async with running() as port:
        client = await RawClient.connect(port)
        for _ in range(2):
            await client.send(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = await client.read_response()
            assert status == 200
            assert headers["connection"] == "keep-alive"


async def special(request: Request) -> Response:
    if request.path == "/empty":
        return Response(204, b"")
    if request.path == "/inject":
        return Response(200, b"{}", headers=(("X-Evil", "a\r\nSet-Cookie: x=1"),))
    return Response(200, b"{}", headers=(("Connection", "close"),))


async def test_handler_controls_and_response_validation(caplog: pytest.LogCaptureFixture) -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                special, "127.0.0.1", 0, limits=HttpLimits(), task_status=task_status
            )
        )
        client = await RawClient.connect(port)
        await client.send(b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\n")
        while b"\r\n\r\n" not in client.buf:
            await client._fill()
        head = client.buf.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 204 ")
        assert b"content-length" not in head  # RFC 9110 §8.6
        client.buf = client.buf.split(b"\r\n\r\n", 1)[1]
        with caplog.at_level(logging.ERROR, logger="sequencer.rpc.http_server"):
            await client.send(b"GET /inject HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, _ = await client.read_response()
        assert status == 500
        assert "set-cookie" not in headers
        assert any("malformed response" in (r.exc_text or "") for r in caplog.records)
        await client.send(b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (await client.read_response())[0] == 200
        assert await client.is_closed()
        nursery.cancel_scope.cancel()


async def huge(request: Request) -> Response:
    return Response(200, b"x" * (32 << 20))


async def test_client_that_never_reads_is_dropped_after_write_timeout(
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.autojump_threshold = 0.05
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                huge,
                "127.0.0.1",
                0,
                limits=HttpLimits(write_timeout_s=5.0),
                task_status=task_status,
            )
        )
        client = await RawClient.connect(port)
        await client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await trio.sleep(6.0)  # virtual time: the server's send is stuck, then times out
        received = 0
        with trio.fail_after(60):
            while True:
                try:
                    chunk = await client.stream.receive_some(1 << 20)
                except trio.BrokenResourceError:
                    break
                if not chunk:
                    break
                received += len(chunk)
        assert 0 < received < (32 << 20)
        nursery.cancel_scope.cancel()


async def test_413_survives_a_client_still_sending_its_body() -> None:
    async with running(HttpLimits(max_body_bytes=1000)) as port:
        client = await RawClient.connect(port)
        await client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 600000\r\n\r\n")
        await client.send(b"y" * 600000)
        status, _, body = await client.read_response()
        assert status == 413
        assert orjson.loads(body)["error"]["data"]["actual"] == 600000


# --- the head parser as a pure function -------------------------------------------------------

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12)
_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_head_never_fails_otherwise_than_with_an_http_error(raw: bytes) -> None:
    try:
        head = _parse_head(raw)
    except _HttpError as exc:
        assert 400 <= exc.status <= 505
        return
    assert head.method and head.target


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_token, _value), max_size=8), _value)
def test_parse_head_round_trips_generated_requests(
    fields: list[tuple[str, str]], target: str
) -> None:
    fields = [(n, v) for n, v in fields if n not in ("host", "content-length", "transfer-encoding")]
    lines = [f"GET /{target} HTTP/1.1", "Host: example", *(f"{n}: {v}" for n, v in fields)]
    head = _parse_head("\r\n".join(lines).encode())
    assert head.method == "GET"
    assert head.target == f"/{target}"
    expected: dict[str, str] = {"host": "example"}
    for n, v in fields:
        expected[n] = f"{expected[n]}, {v}" if n in expected else v
    assert head.headers == expected


# --- issue 12: bounds against hostile clients ---------------------------------------------


async def test_absolute_form_target_is_served_as_its_path() -> None:
    """RFC 9112 §3.2.2: a server MUST accept the absolute-form."""
    async with running() as port:
        client = await RawClient.connect(port)
        for target, path in [
            ("http://t:8645/health?x=1", "/health?x=1"),
            ("HTTP://t", "/"),
            ("https://t?q", "/?q"),
        ]:
            await client.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            status, _, body = await client.read_response()
            assert status == 200 and orjson.loads(body)["path"] == path


async def test_at_the_connection_cap_the_longest_idle_connection_makes_room() -> None:
    async with running(HttpLimits(max_connections=2)) as port:
        oldest = await RawClient.connect(port)
        other = await RawClient.connect(port)
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(5):
            newcomer = await RawClient.connect(port)
            await newcomer.send(post(b"hi"))
            status, _, _ = await newcomer.read_response()
            assert status == 200
            assert await oldest.is_closed()
        await other.send(post(b"still here"))
        assert (await other.read_response())[0] == 200


async def test_per_address_limit_closes_the_extra_connection() -> None:
    async with running(HttpLimits(max_connections_per_ip=1)) as port:
        first = await RawClient.connect(port)
        second = await RawClient.connect(port)
        with trio.fail_after(5):
            assert await second.is_closed()
        await first.send(post(b"ok"))
        assert (await first.read_response())[0] == 200


async def test_bodies_over_the_global_budget_get_503_before_they_are_read() -> None:
    limits = HttpLimits(max_body_bytes=1000, max_buffered_bytes=1000)
    async with running(limits) as port:
        holder = await RawClient.connect(port)
        # 700 bytes announced, 10 sent: the budget holds 700 for this body.
        await holder.send(post(b"x" * 700)[:-690])
        await trio.testing.wait_all_tasks_blocked()
        late = await RawClient.connect(port)
        await late.send(post(b"y" * 400))
        status, headers, body = await late.read_response()
        error = orjson.loads(body)["error"]
        assert status == 503 and headers["retry-after"] == "1"
        assert error["code"] == -32005 and error["data"]["retryAfterMs"] == 1000
        # Once the first body is in and answered, its bytes are given back.
        await holder.send(b"x" * 690)
        assert (await holder.read_response())[0] == 200
        again = await RawClient.connect(port)
        await again.send(post(b"y" * 400))
        assert (await again.read_response())[0] == 200


async def test_a_chunked_body_of_too_many_chunks_is_refused() -> None:
    async with running(HttpLimits(max_chunks=100)) as port:
        client = await RawClient.connect(port)
        await client.send(
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"1\r\nx\r\n" * 101
            + b"0\r\n\r\n"
        )
        status, _, body = await client.read_response()
        assert status == 413
        assert orjson.loads(body)["error"]["data"] == {
            "what": "chunks per body",
            "limit": 100,
            "actual": None,
        }


async def test_tiny_chunks_already_buffered_do_not_hold_the_event_loop() -> None:
    """`_read_chunked` parsed every buffered chunk without a checkpoint (8M one-byte chunks:
    every other client stalled for 15.7 s). With 60,000 chunks already in the connection's
    buffer (no socket read that could yield), another task must still get turns while they are
    parsed: about once per `_YIELD_EVERY` chunks. Measured in turns, not time, so a busy machine
    cannot make it pass or fail by chance (an end-to-end version raced its two clients)."""
    chunks = 60_000
    near, far = socket.socketpair()
    with near, far:
        limits = HttpLimits(max_chunks=chunks + 1)
        shared = _Shared(echo, limits, None, _ConnectionTable(1, 0), _BodyBudget(1 << 30))
        conn = _Connection(near, None, shared)
        conn._buf += b"1\r\nx\r\n" * chunks + b"0\r\n\r\n"  # all of it already buffered
        turns = 0
        body = b""

        async def other_client() -> None:
            nonlocal turns
            while True:
                await trio.lowlevel.checkpoint()
                turns += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other_client)
            await trio.lowlevel.checkpoint()  # it has started
            turns = 0
            body = await conn._read_chunked()
            nursery.cancel_scope.cancel()
        assert body == b"x" * chunks
        assert turns >= chunks // _YIELD_EVERY // 2, turns  # ~937; 0 without the pauses


async def test_admit_answers_from_the_head_and_skips_the_body() -> None:
    seen: list[RequestHead] = []

    def admit(head: RequestHead) -> Response | None:
        seen.append(head)
        if (head.content_length or 0) > 100:
            return Response(503, b'{"busy": true}', headers=(("Retry-After", "1"),))
        return None

    async with running(admit=admit) as port:
        client = await RawClient.connect(port)
        big = post(b"z" * 5000)
        await client.send(big[:200])  # the head and a little of the body
        status, _, body = await client.read_response()
        assert status == 503 and body == b'{"busy": true}'
        await client.send(big[200:] + post(b"small"))  # the rest is skipped, not parsed
        status, _, body = await client.read_response()
        assert status == 200 and orjson.loads(body)["body"] == "small"
        assert [h.content_length for h in seen] == [5000, 5]


async def test_a_refused_body_larger_than_the_scratch_buffer_is_skipped_to_its_last_byte() -> None:
    # The attack: a refused 3 MiB body with a request pipelined right behind it, all sent at
    # once. The skip receives up to 1 MiB at a time and must stop at the body's last byte:
    # one byte too many eats the next request's head, one too few parses body bytes as a head.
    def admit(head: RequestHead) -> Response | None:
        if (head.content_length or 0) > 100:
            return Response(503, b'{"busy": true}')
        return None

    async with running(admit=admit) as port:
        client = await RawClient.connect(port)
        body = bytes(range(256)) * (3 * 4096 + 1)  # 3 MiB + 256 bytes, no CRLF runs
        await client.send(post(body) + post(b"after") + post(b"x" * 1500) + post(b"last"))
        status, _, answer = await client.read_response()
        assert status == 503 and answer == b'{"busy": true}'
        status, _, answer = await client.read_response()
        assert status == 200 and orjson.loads(answer)["body"] == "after"
        status, _, _ = await client.read_response()
        assert status == 503
        status, _, answer = await client.read_response()
        assert status == 200 and orjson.loads(answer)["body"] == "last"


async def held_off(request: Request) -> Response:
    """Refuses `/refuse` with a 0.3 s hold-off (as a full queue's -32005 does); echoes the rest."""
    if request.path == "/refuse":
        return Response(503, b'{"error":"full"}', hold_off_s=0.3)
    return await echo(request)


async def test_a_client_told_to_hold_off_is_read_again_only_after_the_hold_off() -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                held_off, "127.0.0.1", 0, limits=HttpLimits(), task_status=task_status
            )
        )
        client = await RawClient.connect(port)
        # Sent at once behind the refused one (a client ignoring the retry hint): it waits in
        # the kernel's buffers and is answered once the hold-off, counted from the refusal,
        # has passed.
        await client.send(post(b"{}", "/refuse") + post(b"{}", "/next"))
        assert (await client.read_response())[0] == 503
        refused_at = trio.current_time()
        status, _, body = await client.read_response()
        assert status == 200 and orjson.loads(body)["path"] == "/next"
        assert trio.current_time() - refused_at >= 0.25
        # A client that honours the hint finds its connection open and is answered as usual.
        await client.send(post(b"{}", "/refuse"))
        assert (await client.read_response())[0] == 503
        await trio.sleep(0.35)
        await client.send(post(b"{}", "/after"))
        assert orjson.loads((await client.read_response())[2])["path"] == "/after"
        await client.aclose()
        nursery.cancel_scope.cancel()
