"""JSON-RPC over HTTP for the client, blocking (`SyncTransport`) and async (`AsyncTransport`).

Both run on httpx: the async one on `httpx.AsyncClient`, which runs under asyncio and trio
alike (anyio picks the running loop). One keep-alive connection pool per transport. Retries:

* `-32005` overloaded: wait `data.retryAfterMs` (the sequencer's own estimate; a missing or
  absurd value is clamped to [1 ms, 10 s]), then send again — the submission was refused
  whole, so resending cannot duplicate anything;
* a connection that could not be made: wait with exponential backoff (50 ms doubling, at most
  2 s) and send again. A request that was *sent* and then lost is not resent automatically
  for unsigned events (the sequencer may have stored it); signed events are safe to resend
  (a resent signed event is answered `duplicate`), so callers pass `idempotent=True` for them.

Every other JSON-RPC error is raised as `RejectedError`, every transport failure after the
retries as `UnreachableError`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import anyio
import httpx
import orjson

from prover.jsonrpc import (
    OVERLOADED,
    JsonRpcError,
    MalformedResponseError,
    decode_result,
    index_batch,
    request,
)
from sequencer.client.errors import RejectedError, UnreachableError

DEFAULT_RETRIES: Final[int] = 8
MAX_RETRY_WAIT_S: Final[float] = 10.0


def retry_after_s(exc: JsonRpcError) -> float:
    """The wait an overloaded answer asks for, in seconds, clamped to [0.001, 10]."""
    data = exc.data if isinstance(exc.data, dict) else {}
    ms = data.get("retryAfterMs")
    if not isinstance(ms, int | float) or isinstance(ms, bool):
        ms = 100
    return min(max(float(ms) / 1000.0, 0.001), MAX_RETRY_WAIT_S)


def _headers(token: str | None) -> dict[str, str]:
    h = {"Content-Type": "application/json"}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return h


def _decode(resp: httpx.Response, url: str) -> Any:
    try:
        return orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        raise UnreachableError(
            f"{url}: HTTP {resp.status_code}, not a JSON body: {resp.content[:200]!r}"
        ) from None


def _result(answer: Any, url: str) -> Any:
    try:
        return decode_result(answer)
    except MalformedResponseError as exc:
        raise UnreachableError(f"{url}: {exc}") from None


class _Policy:
    """What the sync and async transports share: ids, retry decisions, counters."""

    def __init__(self, url: str, token: str | None, timeout: float, retries: int) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"only http:// and https:// URLs are supported, got {url!r}")
        self.url = url
        self.headers = _headers(token)
        self.timeout = timeout
        self.retries = retries
        self.ids = itertools.count(1)
        self.overloaded_retries = 0
        """How many times an overloaded answer was waited out (for stats)."""

    def body(self, method: str, params: Sequence[Any]) -> tuple[int, bytes]:
        rid = next(self.ids)
        return rid, orjson.dumps(request(method, list(params), rid))

    def backoff(self, attempt: int) -> float:
        return min(0.05 * 2.0**attempt, 2.0)


class SyncTransport:
    """Blocking JSON-RPC calls with the retries of the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = DEFAULT_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = _Policy(url, token, timeout, retries)
        self._http = httpx.Client(timeout=timeout, headers=self.policy.headers)
        self._sleep = sleep

    @property
    def url(self) -> str:
        return self.policy.url

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, *params: Any, idempotent: bool = True) -> Any:
        """One call; its result, or `RejectedError` / `UnreachableError`."""
        _, body = self.policy.body(method, params)
        return self._send(body, idempotent, lambda answer: _result(answer, self.url))

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One JSON-RPC batch of read calls; each entry its result or its `RejectedError`."""
        ids = list(range(len(calls)))
        body = orjson.dumps([request(m, list(p), i) for i, (m, p) in zip(ids, calls, strict=True)])
        return self._send(body, True, lambda answer: _batch_results(answer, ids, self.url))  # type: ignore[no-any-return]

    def _send(self, body: bytes, idempotent: bool, decode: Callable[[Any], Any]) -> Any:
        p = self.policy
        attempt = 0
        while True:
            try:
                resp = self._http.post(p.url, content=body)
            except httpx.ConnectError as exc:
                if attempt >= p.retries:
                    raise UnreachableError(f"{p.url}: {exc}") from None
                self._sleep(p.backoff(attempt))
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                if not idempotent or attempt >= p.retries:
                    raise UnreachableError(f"{p.url}: {type(exc).__name__}: {exc}") from None
                self._sleep(p.backoff(attempt))
                attempt += 1
                continue
            try:
                return decode(_decode(resp, p.url))
            except JsonRpcError as exc:
                if exc.code == OVERLOADED and attempt < p.retries:
                    p.overloaded_retries += 1
                    self._sleep(retry_after_s(exc))
                    attempt += 1
                    continue
                raise RejectedError.of(exc) from None


class AsyncTransport:
    """`SyncTransport` for async code (asyncio or trio): the same calls, awaited."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self.policy = _Policy(url, token, timeout, retries)
        self._http = httpx.AsyncClient(timeout=timeout, headers=self.policy.headers)

    @property
    def url(self) -> str:
        return self.policy.url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, *params: Any, idempotent: bool = True) -> Any:
        _, body = self.policy.body(method, params)
        return await self._send(body, idempotent, lambda answer: _result(answer, self.url))

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        ids = list(range(len(calls)))
        body = orjson.dumps([request(m, list(p), i) for i, (m, p) in zip(ids, calls, strict=True)])
        return await self._send(body, True, lambda answer: _batch_results(answer, ids, self.url))  # type: ignore[no-any-return]

    async def _send(self, body: bytes, idempotent: bool, decode: Callable[[Any], Any]) -> Any:
        p = self.policy
        attempt = 0
        while True:
            try:
                resp = await self._http.post(p.url, content=body)
            except httpx.ConnectError as exc:
                if attempt >= p.retries:
                    raise UnreachableError(f"{p.url}: {exc}") from None
                await anyio.sleep(p.backoff(attempt))
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                if not idempotent or attempt >= p.retries:
                    raise UnreachableError(f"{p.url}: {type(exc).__name__}: {exc}") from None
                await anyio.sleep(p.backoff(attempt))
                attempt += 1
                continue
            try:
                return decode(_decode(resp, p.url))
            except JsonRpcError as exc:
                if exc.code == OVERLOADED and attempt < p.retries:
                    p.overloaded_retries += 1
                    await anyio.sleep(retry_after_s(exc))
                    attempt += 1
                    continue
                raise RejectedError.of(exc) from None


def _batch_results(answer: Any, ids: list[int], url: str) -> list[Any]:
    try:
        by_id = index_batch(answer, ids)
    except MalformedResponseError as exc:
        raise UnreachableError(f"{url}: {exc}") from None
    out: list[Any] = []
    for i in ids:
        try:
            out.append(_result(by_id[i], url))
        except JsonRpcError as exc:
            out.append(RejectedError.of(exc))
    return out
