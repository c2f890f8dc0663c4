"""`--ingest-workers N`: check submissions in N worker processes beside the writer.

One Python process is bound to one core by the GIL, and at full load the sequencer spends as
much CPU decoding and checking requests (orjson, `parse_event`, signer recovery, templates) as
ordering and writing them. With a pool, an HTTP body holding a lone `attest_submit` or
`attest_submitBatch` call goes to a worker process as raw bytes and comes back as record
templates (or as the error refusing it); only then does it enter the writer's queue. Anything
else (reads, batch arrays, notifications) is answered by the dispatcher as before. Nothing is
acknowledged before the writer's synced batch, exactly as without the pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import orjson
import trio

from prover.errors import AttestError
from prover.jsonrpc import error_response, result_response
from sequencer.node.ingest import (
    SUBMIT,
    IngestSettings,
    Prepared,
    Rejected,
    batch_answer,
    init_worker,
    prepare,
    single_answer,
)
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer
from sequencer.rpc import errors as rpc_errors
from sequencer.rpc.http_server import Handler, Request, Response

log = logging.getLogger(__name__)


class IngestPool:
    """N worker processes that check whole submission bodies."""

    def __init__(self, settings: IngestSettings, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        # spawn, not fork: the parent runs trio and threads, which a fork would copy mid-flight.
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(settings,),
        )
        self.workers = workers

    def start(self) -> None:
        """Start every worker now (imports take ~1 s), not on the first request. Blocking."""
        pids = {f.result() for f in [self._pool.submit(os.getpid) for _ in range(4 * self.workers)]}
        log.info("ingest workers ready", extra={"workers": len(pids)})

    async def prepare(self, body: bytes, authorization: str | None) -> Prepared | Rejected | None:
        future = self._pool.submit(prepare, body, authorization)
        # Not abandoned on cancel: the worker finishes in milliseconds, and its answer is dropped.
        return await trio.to_thread.run_sync(future.result)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def pooled_handler(
    inner: Handler, pool: IngestPool, writer: Writer, metrics: Metrics, sequencer: bytes
) -> Handler:
    """`inner`, with lone submit calls checked by `pool` instead of on the event loop."""

    async def handle(request: Request) -> Response:
        if (
            request.method != "POST"
            or request.path.split("?", 1)[0] != "/"
            or b"attest_submit" not in request.body
        ):
            return await inner(request)
        prepared = await pool.prepare(request.body, request.headers.get("authorization"))
        if prepared is None:
            return await inner(request)  # not a lone submit call: the dispatcher's job
        # Counted here as the dispatcher counts the calls it runs (`Dispatcher(observe=...)`).
        if isinstance(prepared, Rejected):
            metrics.rejected.labels(reason=prepared.reason).inc(prepared.events)
            metrics.count_request(prepared.method, rpc_errors.outcome_name(prepared.error["code"]))
            return _answer(prepared.req_id, error=prepared.error)
        try:
            placed = await writer.submit(prepared.templates, prepared.metas)
        except AttestError as exc:  # overloaded, replay: the dispatcher's mapping, one place
            error = rpc_errors.error_object(exc)
            metrics.count_request(prepared.method, rpc_errors.outcome_name(error["code"]))
            return _answer(prepared.req_id, error=error)
        metrics.count_request(prepared.method, "ok")
        if prepared.method == SUBMIT:
            return _answer(prepared.req_id, result=single_answer(placed[0], sequencer))
        return _answer(prepared.req_id, result=batch_answer(placed, sequencer))

    return handle


def _answer(req_id: Any, *, result: Any = None, error: dict[str, Any] | None = None) -> Response:
    if error is None:
        return Response(200, orjson.dumps(result_response(req_id, result)))
    # A refusal with a retry hint holds the connection's next request off as long (the
    # dispatcher's answers do the same: `RpcContext.retry_after_ms`).
    data = error.get("data")
    retry_ms = data.get("retryAfterMs", 0) if isinstance(data, dict) else 0
    return Response(200, orjson.dumps(error_response(req_id, error)), hold_off_s=retry_ms / 1000)
