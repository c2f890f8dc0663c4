"""CORS (Fetch standard §3.2) for the JSON-RPC endpoint: which browser origins may call it.

Off by default, except for the node's own origin (the explorer it serves at ``GET /``, whose
calls are same-origin anyway: a browser may still send ``Origin`` on them). `allowed` names
further origins exactly (``http://localhost:3000``; the `cors_origins` setting of `attest serve`
and `attest validate`, checked in `sequencer.config`); ``*`` allows every origin. Bearer tokens
are never exposed to other origins by this: no ``Access-Control-Allow-Credentials`` is sent,
and a page must hold a token to send one.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin is
answered 204 with the allowed methods and headers; from any other origin, 403 without CORS
headers, so the browser refuses the call before it is made.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sequencer.rpc.http_server import Handler, Request, Response

_ALLOW_METHODS: Final = "POST, GET, OPTIONS"
_ALLOW_HEADERS: Final = "content-type, authorization"
_MAX_AGE_S: Final = "600"


def is_allowed_origin(origin: str, host: str | None, allowed: frozenset[str]) -> bool:
    """Whether `origin` may call this node: its own origin, a listed one, or any with ``*``."""
    if "*" in allowed or origin in allowed:
        return True
    # The node's own origin: the explorer page it served (same host and port as this request).
    return host is not None and origin in (f"http://{host}", f"https://{host}")


def with_cors(handler: Handler, allowed: frozenset[str]) -> Handler:
    """`handler` answering CORS preflights and labelling answers for allowed origins."""

    async def handle(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is None:
            return await handler(request)  # not a cross-origin browser call
        ok = is_allowed_origin(origin, request.headers.get("host"), allowed)
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            if not ok:
                return Response(403, b"", content_type="text/plain")
            return Response(
                204,
                b"",
                headers=(
                    ("Access-Control-Allow-Origin", origin),
                    ("Access-Control-Allow-Methods", _ALLOW_METHODS),
                    ("Access-Control-Allow-Headers", _ALLOW_HEADERS),
                    ("Access-Control-Max-Age", _MAX_AGE_S),
                    ("Vary", "Origin"),
                ),
            )
        response = await handler(request)
        if not ok:
            return response
        return replace(
            response,
            headers=(
                *response.headers,
                ("Access-Control-Allow-Origin", origin),
                ("Vary", "Origin"),
            ),
        )

    return handle
