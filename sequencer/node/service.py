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
from pathlib import Path
from typing import TYPE_CHECKING, Final

import orjson
import trio

from prover.eip712 import Domain, address_of_private_key
from prover.errors import AttestError, InvalidFieldError, StorageUnavailableError
from sequencer.config import DEV_ADDRESS, DEV_TOKEN, Config, load_config, read_key_file
from sequencer.l1.rounds import wait_for_l1
from sequencer.node.api import RpcApi
from sequencer.node.faults import Fault, FaultInjector
from sequencer.node.ingest_pool import IngestPool, pooled_handler
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer
from sequencer.rpc import errors as rpc_errors
from sequencer.rpc.http_server import HttpLimits, Request, RequestHead, Response, serve_http
from sequencer.rpc.jsonrpc import Dispatcher, make_http_handler
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

        if config.l1_contract is None:
            raise InvalidFieldError("contract", "an L1 endpoint needs the rollup contract address")
        l1 = L1Client(
            config.l1_rpc, config.l1_contract, config.sequencer_key, timeout_s=config.l1_timeout_s
        )
        chain_id = await wait_for_l1(l1.chain_id)
        config = replace(
            config, chain_id=chain_id, verifying_contract=bytes.fromhex(l1.address[2:])
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
            config, store, writer, metrics, domain, address_of_private_key(config.sequencer_key),
            faults=faults,
        )
        dispatcher = Dispatcher(max_batch=1000)
        register_api(dispatcher, api, max_batch_events=config.max_batch_events)

        async def health(request: Request) -> Response:
            body: dict[str, object] = {"status": "ok", "treeSize": store.head.tree_size}
            l1 = api.checkpoints.l1_status() if api.checkpoints is not None else None
            if l1 is not None:
                body["l1"] = l1
            if writer.failure is not None:
                # 503 (RFC 9110 §15.6.4): the process is stopping; a load balancer stops
                # sending it submissions, a supervisor restarts it.
                body.update(status="unhealthy", reason=f"writer stopped: {writer.failure}")
                return Response(503, orjson.dumps(body))
            return Response(200, orjson.dumps(body))

        async def metrics_page(request: Request) -> Response:
            return Response(200, metrics.render(), content_type="text/plain; version=0.0.4")

        handler = make_http_handler(
            dispatcher,
            extra_routes={("GET", "/health"): health, ("GET", "/metrics"): metrics_page},
        )
        def admit(head: RequestHead) -> Response | None:
            """A large submission while the queue is full: refused from its head (issue 12)."""
            length = head.content_length
            if head.method != "POST" or length is None or length < SHED_BODY_BYTES:
                return None
            try:
                writer.check_room(length // MAX_EVENT_WIRE_BYTES, count=False)
            except AttestError as exc:
                body = {"jsonrpc": "2.0", "error": rpc_errors.error_object(exc), "id": None}
                retry_s = max(1, -(-getattr(exc, "retry_after_ms", 1000) // 1000))
                return Response(503, orjson.dumps(body), headers=(("Retry-After", str(retry_s)),))
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
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            if l1 is not None:
                committer = Committer(
                    store, l1, metrics, interval_s=config.checkpoint_interval_s,
                    clock_lag_s=config.l1_clock_lag_s, faults=faults,
                )
                api.checkpoints = committer
                await nursery.start(committer.run)
            port = await nursery.start(
                partial(serve_http, handler, config.host, config.port, limits=limits, admit=admit)
            )
            _tune_gc()
            log.info("sequencer ready", extra={"port": port, "tree_size": store.head.tree_size})
            task_status.started(Running(port, api))
    finally:
        if pool is not None:
            pool.close()
        store.close()


def _tune_gc() -> None:
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
        print(f"attest-rollup sequencer listening on http://{config.host}:{running.port}", flush=True)
        if config.dev:
            print(f"dev token: {DEV_TOKEN} (vouches as 0x{DEV_ADDRESS.hex()})", flush=True)

    return announce


def config_from_args(args: argparse.Namespace) -> Config:
    host, _, port = args.rpc.rpartition(":")
    base = Config(data_dir=Path(args.data_dir), host=host or "127.0.0.1", port=int(port))
    config = load_config(base, args.config)
    if args.dev:
        config = config.with_dev()
    if args.sequencer_key_file:
        config = replace(config, sequencer_key=read_key_file(args.sequencer_key_file))
    return replace(
        config, host=base.host, port=base.port, l1_rpc=args.l1_rpc, l1_contract=args.contract,
        checkpoint_interval_s=args.checkpoint_interval, l1_timeout_s=args.l1_timeout,
        inject=args.inject, ingest_workers=args.ingest_workers,
        l1_clock_lag_s=args.l1_clock_lag,
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    failure: StorageUnavailableError | None = None
    try:
        trio.run(serve_until_signalled, partial(run_sequencer, config), _announce(config))
    except* StorageUnavailableError as group:
        failure = _first(group)
    if failure is not None:
        print(f"attest serve: stopped, {failure} (exit {EXIT_STORAGE_UNAVAILABLE}; restart to "
              "reopen the store at its last synced write)", file=sys.stderr, flush=True)
        return EXIT_STORAGE_UNAVAILABLE
    return 0


def _first(group: BaseExceptionGroup[StorageUnavailableError]) -> StorageUnavailableError:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    assert isinstance(exc, StorageUnavailableError)
    return exc


def add_ingest_workers_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ingest-workers", type=int, default=0, metavar="N",
        help="check submissions in N worker processes (default 0: on the event loop)",
    )


def add_inject_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inject", choices=[f.value for f in Fault], default=None,
        help="misbehave once in this way, for demonstrations (never on a real chain)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the sequencer (JSON-RPC over HTTP)")
    p.add_argument("--data-dir", required=True, help="directory of the LevelDB store")
    p.add_argument("--rpc", default="127.0.0.1:8645", help="HOST:PORT to listen on")
    p.add_argument("--config", default=None, help="TOML configuration file")
    p.add_argument("--dev", action="store_true", help="add the bearer token 'dev' and print it")
    p.add_argument("--l1-rpc", default=None, help="L1 JSON-RPC URL (no L1: no checkpoints)")
    p.add_argument("--contract", default=None, help="rollup contract address on L1")
    p.add_argument("--checkpoint-interval", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--l1-timeout", type=float, default=10.0, help="seconds per L1 call (default 10)")
    p.add_argument("--l1-clock-lag", type=float, default=2.0,
                   help="seconds L1 block times may lag this clock (default 2)")
    add_inject_argument(p)
    add_ingest_workers_argument(p)
    p.add_argument("--sequencer-key-file", default=None,
                   help="file holding the sequencer's 0x-hex key (default: the dev key)")
    p.set_defaults(handler=_cmd_serve)
