"""`attest serve`: one trio process, one root nursery, every service started with `nursery.start`.

Shutdown (SIGTERM/SIGINT) cancels the root nursery. The writer's commit in flight runs in a
worker thread that is not abandoned on cancel, so it either completes (and the store closes after
it) or never started; the requests still waiting are simply not answered. Nothing is acknowledged
that was not written. `serve_until_signalled` bounds the whole shutdown in time.

A store that can no longer be written (disk full, EMFILE, I/O error) stops the writer: for a
moment `/health` answers 503 with the reason and submissions get -32010, then the process exits
with `EXIT_STORAGE_UNAVAILABLE` and a one-line message on stderr, for a supervisor to restart it.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Final, NamedTuple

import orjson
import trio

from prover.eip712 import Domain, address_of_private_key
from prover.errors import AttestError, InvalidFieldError, StorageUnavailableError
from prover.wire import parse_address
from sequencer.config import (
    DEV_ADDRESS,
    DEV_TOKEN,
    Config,
    add_settings_arguments,
    serve_config,
)
from sequencer.explorer.api import install as install_explorer
from sequencer.l1.keys import LoadedKey, key_from_settings, warn_if_unsafe
from sequencer.l1.rounds import wait_for_l1
from sequencer.node.api import RpcApi
from sequencer.node.faults import Fault, FaultInjector
from sequencer.node.front import FrontProcess, refusal_response, state_message
from sequencer.node.ingest import count_events
from sequencer.node.ingest_pool import IngestPool, pooled_handler
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer
from sequencer.rpc import errors as rpc_errors
from sequencer.rpc.cors import with_cors
from sequencer.rpc.http_server import HttpLimits, Request, RequestHead, Response, serve_http
from sequencer.rpc.jsonrpc import Dispatcher, make_http_handler, valid_id
from sequencer.rpc.methods import register_api
from sequencer.runtime import raise_open_files_limit, serve_until_signalled
from state_db.store import Store

if TYPE_CHECKING:
    from sequencer.l1.account import L1Client

log = logging.getLogger(__name__)

EXIT_STORAGE_UNAVAILABLE: Final = 3
"""`attest serve`'s exit status when the store could not be written (restart me)."""

LEVELDB_OPEN_FILES: Final = 1000
"""Table files LevelDB keeps open at most (its default `max_open_files`, which plyvel keeps)."""
OTHER_FILES: Final = 128
"""Descriptors for everything else: the store's log and manifest, listeners, thread and
worker pipes, log files."""

SHED_BODY_BYTES: Final = 64 * 1024
"""A `POST /` body at least this large is, in practice, a submission: while the writer's queue
has no room for it, it is refused from its head alone, before a byte of it is read."""
MAX_EVENT_WIRE_BYTES: Final = 1024
"""Wire bytes per event assumed when estimating a body's events from its length (a generous
upper bound for a compact event, so the estimate errs towards admitting)."""
MIN_EVENT_WIRE_BYTES: Final = 160
"""Fewest wire bytes a valid event can take: its subject and digest are 66-character strings
(``{"kind":"x","subject":"0x…","digest":"0x…"}`` and a comma are 170 bytes), so a body holds at
most its length over this many events. The HTTP front admits a large body for that many
(`sequencer.node.front`)."""

FAST_METHODS: Final = frozenset({"attest_status"})
"""JSON-RPC methods the HTTP I/O loop answers itself (`[serve] io_thread`): safe beside the main
loop because they only read the store's immutable head and one block (the store's reads are
thread-safe, `state_db/store.py`) and the domain, and write nothing but a metrics counter
(prometheus_client locks its own)."""
FAST_BODY_BYTES: Final = 4096
"""A `POST /` body longer than this is never looked into for `FAST_METHODS`: it goes to the
main loop unparsed by the I/O loop."""
FAST_BATCH: Final = 16
"""A batch of at most this many `FAST_METHODS` calls is answered on the I/O loop too."""
IO_THREAD_SWITCH_INTERVAL_S: Final = 0.001
"""`sys.setswitchinterval` with the I/O thread on (CPython's default is 5 ms)."""


SCREEN_BODY_BYTES: Final = 1 << 20
"""A `POST /` body of at most this many bytes is decoded on the I/O loop, to answer it there
(`is_fast_request`) or to refuse a submission there for which the queue has no room
(`submission_refusal`); a larger one goes to the main loop unparsed by the I/O loop."""

_UNDECODED: Final = object()


def decode_post(request: Request) -> object:
    """The decoded body of a ``POST /`` of at most `SCREEN_BODY_BYTES` that no browser sent
    cross-origin (the main loop labels those, `sequencer.rpc.cors`); `_UNDECODED` for
    anything else, including a body that does not parse."""
    if (
        request.method != "POST"
        or request.path.split("?", 1)[0] != "/"
        or len(request.body) > SCREEN_BODY_BYTES
        or "origin" in request.headers
    ):
        return _UNDECODED
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return _UNDECODED


def is_fast_request(request: Request, message: object) -> bool:
    """Whether the I/O loop may answer `request` (its body decoded: `message`) itself:
    ``GET``/``HEAD /health``, or a JSON-RPC call or small batch naming only `FAST_METHODS`.
    Anything else, including a body that does not parse, goes to the main loop (which answers
    it exactly as before)."""
    if request.method in ("GET", "HEAD"):
        return request.path.split("?", 1)[0] == "/health"
    if message is _UNDECODED or len(request.body) > FAST_BODY_BYTES:
        return False
    calls = message if isinstance(message, list) else [message]
    return 0 < len(calls) <= FAST_BATCH and all(
        isinstance(call, dict) and call.get("method") in FAST_METHODS for call in calls
    )


class Submission(NamedTuple):
    """A lone submit call, as `submission_of` reads it from a decoded body."""

    method: str
    req_id: object
    events: int


def submission_of(message: object) -> Submission | None:
    """The lone `attest_submit`/`attest_submitBatch` call `message` (a decoded body) holds,
    with its id and number of events; None for anything else (a batch of calls, a malformed
    envelope: the sequencer's dispatcher answers those)."""
    if (
        not isinstance(message, dict)
        or message.get("jsonrpc") != "2.0"
        or "id" not in message
        or not valid_id(message["id"])
    ):
        return None
    method = message.get("method")
    params = message.get("params", [])
    if method == "attest_submit":
        n = 1
    elif method == "attest_submitBatch" and isinstance(params, list) and len(params) == 1:
        n = count_events(params[0], batch=True)
    elif method == "attest_submitBatch" and isinstance(params, dict) and len(params) == 1:
        n = count_events(params.get("events"), batch=True)
    else:
        return None
    return Submission(method, message["id"], n)


def submission_refusal(
    message: object, room_error: Callable[[int], AttestError | None]
) -> tuple[str, Response, int] | None:
    """The answer to a lone submit call (decoded: `message`) for more events than the writer's
    queue has room for now (`room_error(n)`): its method, the -32005 (or -32010, -32011) answer
    the method would give, with the hold-off (`Response.hold_off_s`), and the code. None for
    anything else, which goes on to the sequencer's loop.

    Runs on the I/O loop, for the requests the head's estimate let through (`admit` counts a
    body's events from its length, erring towards admitting), so that such a refusal does not
    wait for the main loop's round (docs/design.md, "Backpressure in milliseconds").
    """
    submission = submission_of(message)
    if submission is None:
        return None
    error = room_error(submission.events)
    if error is None:
        return None
    return (
        submission.method,
        refusal_response(submission.req_id, error),
        rpc_errors.error_code(error),
    )


def connection_cap(wanted: int, open_files: int) -> int:
    """At most `wanted` connections, and never so many that LevelDB runs out of descriptors.

    Half the descriptors stay reserved when the limit is too low for LevelDB's full share
    (then the log warns), so that the process still serves somebody.
    """
    reserve = min(LEVELDB_OPEN_FILES + OTHER_FILES, open_files // 2)
    if reserve < LEVELDB_OPEN_FILES + OTHER_FILES:
        log.warning(
            "the open files limit leaves LevelDB less than its default share",
            extra={"open_files": open_files, "reserved": reserve},
        )
    return max(1, min(wanted, open_files - reserve))


@dataclass(frozen=True, slots=True)
class Running:
    """What `run_sequencer` reports once it listens."""

    port: int
    api: RpcApi


async def run_sequencer(
    config: Config,
    *,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the store, start the writer, the L1 committer and the HTTP server; run until cancelled.

    With an L1 attached, the EIP-712 domain is the L1's chain id and the rollup contract, read
    from L1 before anything is signed (a receipt in the wrong domain would be worthless).
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    open_files = raise_open_files_limit()
    l1: L1Client | None = None
    if config.l1_rpc is not None:
        # Imported here: web3 costs ~1 s of start-up that a sequencer without L1 (and every
        # test and benchmark that starts one) need not pay.
        from sequencer.l1.account import L1Client
        from sequencer.l1.committer import Committer
        from sequencer.l1.fees import GWEI, FeePolicy
        from sequencer.l1.sender import NonceJournal

        if config.l1_contract is None:
            raise InvalidFieldError("contract", "an L1 endpoint needs the rollup contract address")
        l1 = L1Client(
            config.l1_rpc, config.l1_contract, config.sequencer_key, timeout_s=config.l1_timeout_s
        )
        l1.sender.policy = FeePolicy(max_fee_per_gas=int(config.l1_max_fee_gwei * GWEI))
        # The nonce journal: a transaction in flight at a crash is finished, not sent again.
        config.data_dir.mkdir(parents=True, exist_ok=True)
        l1.sender.attach_journal(NonceJournal(config.data_dir / "l1-sender.json"))
        chain_id = await wait_for_l1(l1.chain_id)
        # Verify no receipt can outlive the contract's receipt horizon: one that did could be
        # claimed against the bond of the epoch after a recovery (docs/spec.md §9.2).
        horizon = await trio.to_thread.run_sync(l1.receipt_horizon)
        if config.receipt_deadline_s > horizon:
            raise InvalidFieldError(
                "receipt_deadline_s",
                f"{config.receipt_deadline_s} s is beyond the contract's receiptHorizon() of "
                f"{horizon} s: receipts must promise a deadline within it",
            )
        warn_if_unsafe(
            LoadedKey(
                config.sequencer_key, config.sequencer_key_source, config.sequencer_key_encrypted
            ),
            chain_id,
            "sequencer",
        )
        config = replace(
            config, chain_id=chain_id, verifying_contract=parse_address(l1.address, "l1.contract")
        )
    store = Store.open(config.data_dir / "log")
    pool: IngestPool | None = None
    try:
        metrics = Metrics()
        metrics.tree_size.set(store.head.tree_size)
        metrics.blocks.set(store.head.block_count)
        domain = Domain(config.chain_id, config.verifying_contract)
        faults = FaultInjector(Fault(config.inject)) if config.inject else None
        writer = Writer(
            store,
            sequencer_key=config.sequencer_key,
            domain_separator=domain.separator,
            block_max_records=config.block_max_records,
            block_interval_ms=config.block_interval_ms,
            receipt_deadline_s=config.receipt_deadline_s,
            max_queue_events=config.max_queue_events,
            max_group_events=config.max_group_events,
            metrics=metrics,
            faults=faults,
        )
        api = RpcApi(
            config,
            store,
            writer,
            metrics,
            domain,
            address_of_private_key(config.sequencer_key),
            faults=faults,
        )
        dispatcher = Dispatcher(max_batch=1000, observe=metrics.count_request)
        register_api(dispatcher, api, max_batch_events=config.max_batch_events)
        explorer = None if config.no_explorer else install_explorer(dispatcher, api, "sequencer")

        def health_now() -> tuple[int, bytes]:
            body: dict[str, object] = {"status": "ok", "treeSize": store.head.tree_size}
            l1 = api.checkpoints.l1_status() if api.checkpoints is not None else None
            if l1 is not None:
                body["l1"] = l1
            if writer.failure is not None:
                # 503 (RFC 9110 §15.6.4): the process is stopping; a load balancer stops
                # sending it submissions, a supervisor restarts it.
                body.update(status="unhealthy", reason=f"writer stopped: {writer.failure}")
                return 503, orjson.dumps(body)
            return 200, orjson.dumps(body)

        async def health(request: Request) -> Response:
            status, body = health_now()
            return Response(status, body)

        async def metrics_page(request: Request) -> Response:
            if api.checkpoints is not None:  # the lag moves with every group commit, not per round
                latest = api.checkpoints.checkpoint("latest")
                anchored = latest["treeSize"] if latest is not None else 0
                metrics.checkpoint_size.set(anchored)
                metrics.checkpoint_lag.set(store.head.tree_size - anchored)
                api.checkpoints.l1_status()  # brings the L1 gauges (head age, deadlines) to now
            return Response(200, metrics.render(), content_type="text/plain; version=0.0.4")

        handler = make_http_handler(
            dispatcher,
            extra_routes={
                ("GET", "/health"): health,
                ("GET", "/metrics"): metrics_page,
                **(explorer.routes if explorer is not None else {}),
            },
        )
        # The I/O loop's own answers: the same `health` and `attest_status`, through a
        # dispatcher of their own (the same envelope checks and error mapping).
        fast_dispatcher = Dispatcher(max_batch=FAST_BATCH, observe=metrics.count_request)
        for name in FAST_METHODS:
            spec = dispatcher.get(name)
            assert spec is not None, f"{name} is not registered"
            fast_dispatcher.register(name, spec.fn, params=spec.params, doc=spec.doc)
        fast_handler = with_cors(
            make_http_handler(fast_dispatcher, extra_routes={("GET", "/health"): health}),
            config.cors_origins,
        )

        async def fast(request: Request) -> Response | None:
            """Runs on the I/O loop: a submission the queue has no room for is refused;
            `/health` and `attest_status` are answered, unless an L1 is attached (the
            committer's state, which both report, is the main loop's alone)."""
            message = decode_post(request)
            refusal = submission_refusal(message, writer_room_error)
            if refusal is not None:
                method, response, code = refusal
                metrics.count_request(method, rpc_errors.outcome_name(code))
                return response
            if api.checkpoints is not None or not is_fast_request(request, message):
                return None
            return await fast_handler(request)

        def admit(head: RequestHead) -> Response | None:
            """A large submission while the queue is full: refused from its head (issue 12)."""
            length = head.content_length
            if head.method != "POST" or length is None or length < SHED_BODY_BYTES:
                return None
            try:
                writer.check_room(length // MAX_EVENT_WIRE_BYTES, count=False)
            except AttestError as exc:
                return refusal_response(None, exc, status=503)
            return None

        def writer_room_error(n: int) -> AttestError | None:
            try:
                writer.check_room(n)
            except AttestError as exc:
                return exc
            return None

        limits = HttpLimits(
            max_body_bytes=config.max_body_bytes,
            max_connections=connection_cap(config.max_connections, open_files),
            max_connections_per_ip=config.max_connections_per_ip,
            max_buffered_bytes=max(config.max_buffered_bytes, config.max_body_bytes),
        )
        if config.ingest_workers:
            pool = IngestPool(api.ingest, config.ingest_workers)
            await trio.to_thread.run_sync(pool.start)
            handler = pooled_handler(handler, pool, writer, metrics, api.sequencer_address)
        handler = with_cors(handler, config.cors_origins)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            if explorer is not None:
                await nursery.start(explorer.sampler.run)
            if l1 is not None:
                from sequencer.node.forced import ForcedInbox

                # docs/spec.md §7.3: log the L1 inbox's forced events, prove them at commit.
                inbox = ForcedInbox(
                    store,
                    writer,
                    l1,
                    poll_s=min(1.0, config.checkpoint_interval_s),
                    faults=faults,
                )
                committer = Committer(
                    store,
                    l1,
                    metrics,
                    interval_s=config.checkpoint_interval_s,
                    clock_lag_s=config.l1_clock_lag_s,
                    faults=faults,
                    l1_timeout_s=config.l1_timeout_s,
                    forced_plan=inbox.commit_plan,
                    receipt_deadline_s=config.receipt_deadline_s,
                    deadline_margin_s=config.deadline_margin_s,
                )
                api.checkpoints = committer
                api.forced = inbox
                await nursery.start(inbox.run)
                writer.promise_gate = committer.refusal
                await nursery.start(committer.run)
            front = None
            if config.front_process and sys.platform != "linux":
                # memfd_create and SOCK_SEQPACKET: the front process is Linux's.
                log.warning("front_process needs Linux: serving with io_thread instead")
            elif config.front_process:

                def state() -> dict[str, object]:
                    gate = writer.promise_gate
                    return state_message(
                        health_now(),
                        api.status_now(),
                        writer.failure,
                        gate() if gate is not None else None,
                    )

                front = FrontProcess(
                    writer=writer,
                    limits=limits,
                    max_queue=config.max_queue_events,
                    shed_body_bytes=SHED_BODY_BYTES,
                    min_event_bytes=MIN_EVENT_WIRE_BYTES,
                    cors_origins=config.cors_origins,
                    priority=config.front_priority,
                    state=state,
                    count=metrics.count_requests,
                )
                nursery.start_soon(front.refresh)
                nursery.start_soon(front.watch)
            port = await nursery.start(
                partial(
                    serve_http,
                    handler,
                    config.host,
                    config.port,
                    limits=limits,
                    admit=admit,
                    fast=fast,
                    io_thread=config.io_thread,
                    front=front,
                )
            )
            tune_gc()
            if config.io_thread and front is None:
                # The I/O loop's thread asks for the GIL after every socket call and gets it
                # within the switch interval while the main loop checks submissions: 1 ms
                # instead of CPython's 5 took the overloaded status p99 from ~80-100 ms to
                # ~20-50 ms (docs/design.md, "Backpressure in milliseconds").
                sys.setswitchinterval(IO_THREAD_SWITCH_INTERVAL_S)
            log.info("sequencer ready", extra={"port": port, "tree_size": store.head.tree_size})
            task_status.started(Running(port, api))
    finally:
        if pool is not None:
            pool.close()
        store.close()


def tune_gc() -> None:
    """Keep the cyclic GC off the ingest path.

    Ingest allocates many short-lived, acyclic objects per event (dicts, tuples, strings) that
    reference counting frees; the default gen-0 threshold of 700 runs the collector constantly
    and every few seconds a full pass over the whole heap, a pause of milliseconds in the ack
    latency. Freezing what start-up built and raising the threshold cut CPU per event by ~6% in
    a side-by-side run (docs/benchmarks.md); cycles are still collected.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _announce(config: Config) -> Callable[[Running], None]:
    def announce(running: Running) -> None:
        print(
            f"attest-rollup sequencer listening on http://{config.host}:{running.port}", flush=True
        )
        if config.dev:
            print(f"dev token: {DEV_TOKEN} (vouches as 0x{DEV_ADDRESS.hex()})", flush=True)

    return announce


def config_from_args(args: argparse.Namespace) -> Config:
    """Flags over the ``[serve]`` table of ``--config`` over `Config`'s defaults; the key from
    a keystore (``keystore`` with ``passphrase_file``/``passphrase_env``) or a plain file."""
    config = serve_config(args, partial(key_from_settings, plain_key="sequencer_key_file"))
    check_fault(config.inject)
    return config


def check_fault(name: str | None) -> None:
    """Refuse an `inject` value that names no `Fault`, before anything starts."""
    if name is not None and name not in {f.value for f in Fault}:
        raise InvalidFieldError(
            "inject", f"must be one of {', '.join(f.value for f in Fault)}, got {name!r}"
        )


def _cmd_serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    failure: StorageUnavailableError | None = None
    try:
        trio.run(serve_until_signalled, partial(run_sequencer, config), _announce(config))
    except* StorageUnavailableError as group:
        failure = _first(group)
    if failure is not None:
        print(
            f"attest serve: stopped, {failure} (exit {EXIT_STORAGE_UNAVAILABLE}; restart to "
            "reopen the store at its last synced write)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_STORAGE_UNAVAILABLE
    return 0


def _first(group: BaseExceptionGroup[StorageUnavailableError]) -> StorageUnavailableError:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    assert isinstance(exc, StorageUnavailableError)
    return exc


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the sequencer (JSON-RPC over HTTP)")
    add_settings_arguments(p, "serve")
    p.set_defaults(handler=_cmd_serve)
