"""A small blocking JSON-RPC client for the sequencer and its followers.

Blocking on purpose: the CLI, the tests, the light client and the load tools call it from plain
threads or processes. One keep-alive HTTP/1.1 connection per client, TCP_NODELAY set so small
calls do not wait on Nagle's algorithm.
"""

from __future__ import annotations

import http.client
import itertools
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from prover.errors import AttestError
from prover.jsonrpc import (
    JsonRpcError,
    MalformedResponseError,
    decode_result,
    index_batch,
    request,
)


class TransportError(AttestError):
    """No usable HTTP answer (connection refused, reset, non-JSON body)."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


class RpcClient:
    """`client.call("attest_status")`; raises `RpcError` for JSON-RPC errors."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        user_agent: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"only http:// URLs are supported, got {url!r}")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._timeout = timeout
        self._token = token
        self._user_agent = user_agent
        self._conn: http.client.HTTPConnection | None = None
        self._ids = itertools.count(1)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpReply:
        """One raw HTTP exchange on the keep-alive connection (reconnects once if it was closed)."""
        hdrs = {"Content-Type": "application/json"}
        if self._token is not None:
            hdrs["Authorization"] = f"Bearer {self._token}"
        if self._user_agent is not None:
            hdrs["User-Agent"] = self._user_agent
        hdrs.update(headers or {})
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self.close()
                if attempt == 1 or isinstance(exc, TimeoutError):
                    raise TransportError(f"{method} {self.url}{path}: {exc}") from exc
                continue
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            return HttpReply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        raise AssertionError("unreachable")

    def post_raw(self, body: bytes, headers: dict[str, str] | None = None) -> HttpReply:
        return self.request("POST", self._path, body, headers)

    def call(self, method: str, *params: Any) -> Any:
        """Call one method with positional params; return its result or raise `RpcError`."""
        message = request(method, list(params), next(self._ids))
        reply = self.post_raw(orjson.dumps(message))
        return _result(_decode(reply))

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One JSON-RPC batch; each entry is its result, or the `RpcError` it failed with."""
        messages = [request(m, list(p), i) for i, (m, p) in enumerate(calls)]
        try:
            by_id = index_batch(_decode(self.post_raw(orjson.dumps(messages))), range(len(calls)))
        except MalformedResponseError as exc:
            raise TransportError(f"{self.url}: {exc}") from None
        out: list[Any] = []
        for i in range(len(calls)):
            try:
                out.append(_result(by_id[i]))
            except JsonRpcError as exc:
                out.append(exc)
        return out


def _decode(reply: HttpReply) -> Any:
    try:
        return orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        raise TransportError(f"HTTP {reply.status}: not JSON: {reply.body[:200]!r}") from None


def _result(answer: Any) -> Any:
    """The result, or the server's `JsonRpcError`; a malformed answer is a `TransportError`
    (the peer is faulty), never a crash of the caller."""
    try:
        return decode_result(answer)
    except MalformedResponseError as exc:
        raise TransportError(str(exc)) from None
