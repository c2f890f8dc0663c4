"""`attest serve`: one trio process, one root nursery, every service started with `nursery.start`.

Shutdown (SIGTERM/SIGINT) cancels the root nursery. The writer's commit in flight runs in a
worker thread that is not abandoned on cancel, so it either completes (and the store closes after
it) or never started; the requests still waiting are simply not answered. Nothing is acknowledged
that was not written.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import orjson
import trio

from prover.eip712 import Domain, address_of_private_key
from sequencer.api import CheckpointView, RpcApi
from sequencer.config import DEV_ADDRESS, DEV_TOKEN, Config, load_config
from sequencer.http_server import HttpLimits, Request, Response, serve_http
from sequencer.jsonrpc import Dispatcher, make_http_handler
from sequencer.metrics import Metrics
from sequencer.rpc_methods import register_api
from sequencer.writer import Writer
from state_db.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Running:
    """What `run_sequencer` reports once it listens."""

    port: int
    api: RpcApi


async def run_sequencer(
    config: Config,
    *,
    checkpoints: Callable[[RpcApi], Awaitable[CheckpointView]] | None = None,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the store, start the writer and the HTTP server; run until cancelled."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(config.data_dir / "log")
    try:
        metrics = Metrics()
        metrics.tree_size.set(store.head.tree_size)
        metrics.blocks.set(store.head.block_count)
        domain = Domain(config.chain_id, config.verifying_contract)
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
        )
        api = RpcApi(config, store, writer, metrics, domain, address_of_private_key(config.sequencer_key))
        dispatcher = Dispatcher(max_batch=1000)
        register_api(dispatcher, api)

        async def health(request: Request) -> Response:
            body = {"status": "ok", "treeSize": store.head.tree_size}
            l1 = api.checkpoints.l1_status() if api.checkpoints is not None else None
            if l1 is not None:
                body["l1"] = l1
            return Response(200, orjson.dumps(body))

        async def metrics_page(request: Request) -> Response:
            return Response(200, metrics.render(), content_type="text/plain; version=0.0.4")

        handler = make_http_handler(
            dispatcher,
            extra_routes={("GET", "/health"): health, ("GET", "/metrics"): metrics_page},
        )
        limits = HttpLimits(max_body_bytes=config.max_body_bytes)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            if checkpoints is not None:
                api.checkpoints = await checkpoints(api)
            port = await nursery.start(partial(serve_http, handler, config.host, config.port, limits=limits))
            log.info("sequencer ready", extra={"port": port, "tree_size": store.head.tree_size})
            task_status.started(Running(port, api))
    finally:
        store.close()


async def _serve_until_signalled(config: Config) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            running: Running = await nursery.start(run_sequencer, config)
            print(f"attest-rollup sequencer listening on http://{config.host}:{running.port}", flush=True)
            if config.dev:
                print(f"dev token: {DEV_TOKEN} (vouches as 0x{DEV_ADDRESS.hex()})", flush=True)
            async for signum in signals:
                log.info("shutting down on signal %d", signum)
                nursery.cancel_scope.cancel()
                break


def config_from_args(args: argparse.Namespace) -> Config:
    host, _, port = args.rpc.rpartition(":")
    base = Config(data_dir=Path(args.data_dir), host=host or "127.0.0.1", port=int(port))
    config = load_config(base, args.config)
    if args.dev:
        config = config.with_dev()
    return replace(config, host=base.host, port=base.port)


def _cmd_serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    trio.run(_serve_until_signalled, config)
    return 0


def _cmd_openrpc(args: argparse.Namespace) -> int:
    from sequencer.rpc_methods import build_openrpc

    sys.stdout.buffer.write(orjson.dumps(build_openrpc(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    sys.stdout.buffer.write(b"\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the sequencer (JSON-RPC over HTTP)")
    p.add_argument("--data-dir", required=True, help="directory of the LevelDB store")
    p.add_argument("--rpc", default="127.0.0.1:8645", help="HOST:PORT to listen on")
    p.add_argument("--config", default=None, help="TOML configuration file")
    p.add_argument("--dev", action="store_true", help="add the bearer token 'dev' and print it")
    p.set_defaults(handler=_cmd_serve)
    p = sub.add_parser("openrpc", help="print the OpenRPC document (docs/openrpc.json)")
    p.set_defaults(handler=_cmd_openrpc)
