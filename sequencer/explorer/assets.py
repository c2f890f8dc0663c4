"""The explorer's static files, shipped inside this package (pyproject package-data) and served
from memory: nothing is fetched from anywhere at run time.

``GET /`` is the single page (its views are URL fragments, ``#/event/5``, so the server needs no
routing of its own); ``GET /explorer/<file>`` the scripts and styles. Each answer carries an
ETag (a hash of the file), and a matching ``If-None-Match`` is answered 304, so an open tab
re-validates for the price of a header.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Final

from sequencer.rpc.http_server import Handler, Request, Response

_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# The page talks to this node (JSON-RPC) and to whichever L1 endpoint the visitor names, so
# connect-src must allow any http(s) URL; everything else comes from this node only.
_CSP: Final = (
    "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

PREFIX: Final = "/explorer/"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of ``sequencer/explorer/static`` by name."""
    out: dict[str, Asset] = {}
    folder = resources.files("sequencer.explorer") / "static"
    for entry in folder.iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if not entry.is_file() or suffix not in _TYPES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        out[name] = Asset(body, _TYPES[suffix], etag)
    if "index.html" not in out:
        raise AssertionError("the explorer's index.html is missing from the package")
    return out


def _serve(asset: Asset) -> Handler:
    headers = (
        ("ETag", asset.etag),
        ("Cache-Control", "no-cache"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", _CSP),
        ("Referrer-Policy", "no-referrer"),
    )
    not_modified = Response(304, b"", asset.content_type, headers)
    ok = Response(200, asset.body, asset.content_type, headers)

    async def serve(request: Request) -> Response:
        if request.headers.get("if-none-match") == asset.etag:
            return not_modified
        return ok

    return serve


def asset_routes(assets: dict[str, Asset] | None = None) -> dict[tuple[str, str], Handler]:
    """Routes for `make_http_handler`'s `extra_routes`: ``/`` and ``/explorer/<file>``."""
    assets = load_assets() if assets is None else assets
    routes: dict[tuple[str, str], Handler] = {("GET", "/"): _serve(assets["index.html"])}
    for name, asset in assets.items():
        routes[("GET", PREFIX + name)] = _serve(asset)
    return routes
