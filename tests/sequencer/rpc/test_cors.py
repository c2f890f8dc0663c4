"""sequencer/rpc/cors.py against an in-memory handler: who is allowed, what a preflight gets,
and that answers to others are left exactly as the handler made them."""

from __future__ import annotations

import pytest

from sequencer.rpc.cors import is_allowed_origin, with_cors
from sequencer.rpc.http_server import Request, Response


async def _ok(request: Request) -> Response:
    return Response(200, b'{"ok":true}', headers=(("X-Handler", "1"),))


def _req(method: str = "POST", **headers: str) -> Request:
    hdrs = {"host": "127.0.0.1:8645", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return Request(method, "/", hdrs, b"{}", ("127.0.0.1", 5000))


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        ("http://127.0.0.1:8645", frozenset(), True),  # the node's own explorer
        ("https://127.0.0.1:8645", frozenset(), True),
        ("http://127.0.0.1:9999", frozenset(), False),  # same host, another port
        ("http://a.example", frozenset({"http://a.example"}), True),
        ("http://b.example", frozenset({"http://a.example"}), False),
        ("http://b.example", frozenset({"*"}), True),
        ("null", frozenset(), False),  # a sandboxed or file: page
    ],
)
def test_who_is_allowed(origin: str, allowed: frozenset[str], expected: bool) -> None:
    assert is_allowed_origin(origin, "127.0.0.1:8645", allowed) is expected


async def test_preflight_from_an_allowed_origin() -> None:
    handle = with_cors(_ok, frozenset({"http://a.example"}))
    r = await handle(
        _req("OPTIONS", origin="http://a.example", access_control_request_method="POST")
    )
    headers = dict(r.headers)
    assert r.status == 204 and headers["Access-Control-Allow-Origin"] == "http://a.example"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "content-type" in headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in headers  # tokens never cross origins


async def test_preflight_from_another_origin_is_refused() -> None:
    handle = with_cors(_ok, frozenset({"http://a.example"}))
    r = await handle(
        _req("OPTIONS", origin="http://b.example", access_control_request_method="POST")
    )
    assert r.status == 403 and not any(k.startswith("Access-Control") for k, _ in r.headers)


async def test_answers_are_labelled_for_allowed_origins_only() -> None:
    handle = with_cors(_ok, frozenset({"http://a.example"}))
    ok = await handle(_req(origin="http://a.example"))
    assert ("Access-Control-Allow-Origin", "http://a.example") in ok.headers
    assert ("X-Handler", "1") in ok.headers and ok.body == b'{"ok":true}'
    other = await handle(_req(origin="http://b.example"))
    assert other.headers == (("X-Handler", "1"),)
    no_origin = await handle(_req())
    assert no_origin.headers == (("X-Handler", "1"),)
