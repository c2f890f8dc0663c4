"""`attest serve`: one trio process, one root nursery, every service started with `nursery.start`.

Shutdown (SIGTERM/SIGINT) cancels the root nursery. The writer's commit in flight runs in a
worker thread that is not abandoned on cancel, so it either completes (and the store closes after
it) or never started; the requests still waiting are simply not answered. Nothing is acknowledged
that was not written.
"""

from __future__ import annotations

import argparse
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import orjson
import trio

from prover.eip712 import Domain, address_of_private_key
from prover.errors import InvalidFieldError
from prover.wire import parse_address
from sequencer.config import (
    DEV_ADDRESS,
    DEV_TOKEN,
    Config,
    add_settings_arguments,
    serve_config,
)
from sequencer.explorer.api import install as install_explorer
from sequencer.l1.rounds import wait_for_l1
from sequencer.node.api import RpcApi
from sequencer.node.faults import Fault, FaultInjector
from sequencer.node.ingest_pool import IngestPool, pooled_handler
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer
from sequencer.rpc.cors import with_cors
from sequencer.rpc.http_server import HttpLimits, Request, Response, serve_http
from sequencer.rpc.jsonrpc import Dispatcher, make_http_handler
from sequencer.rpc.methods import register_api
from sequencer.runtime import serve_until_signalled
from state_db.store import Store

if TYPE_CHECKING:
    from sequencer.l1.account import L1Client

log = logging.getLogger(__name__)


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
        register_api(dispatcher, api)
        explorer = None if config.no_explorer else install_explorer(dispatcher, api, "sequencer")

        async def health(request: Request) -> Response:
            body = {"status": "ok", "treeSize": store.head.tree_size}
            l1 = api.checkpoints.l1_status() if api.checkpoints is not None else None
            if l1 is not None:
                body["l1"] = l1
            return Response(200, orjson.dumps(body))

        async def metrics_page(request: Request) -> Response:
            if api.checkpoints is not None:  # the lag moves with every group commit, not per round
                latest = api.checkpoints.checkpoint("latest")
                anchored = latest["treeSize"] if latest is not None else 0
                metrics.checkpoint_size.set(anchored)
                metrics.checkpoint_lag.set(store.head.tree_size - anchored)
            return Response(200, metrics.render(), content_type="text/plain; version=0.0.4")

        handler = make_http_handler(
            dispatcher,
            extra_routes={
                ("GET", "/health"): health,
                ("GET", "/metrics"): metrics_page,
                **(explorer.routes if explorer is not None else {}),
            },
        )
        limits = HttpLimits(max_body_bytes=config.max_body_bytes)
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
                committer = Committer(
                    store,
                    l1,
                    metrics,
                    interval_s=config.checkpoint_interval_s,
                    clock_lag_s=config.l1_clock_lag_s,
                    faults=faults,
                )
                api.checkpoints = committer
                await nursery.start(committer.run)
            port = await nursery.start(
                partial(serve_http, handler, config.host, config.port, limits=limits)
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
        print(
            f"attest-rollup sequencer listening on http://{config.host}:{running.port}", flush=True
        )
        if config.dev:
            print(f"dev token: {DEV_TOKEN} (vouches as 0x{DEV_ADDRESS.hex()})", flush=True)

    return announce


def config_from_args(args: argparse.Namespace) -> Config:
    """Flags over the ``[serve]`` table of ``--config`` over `Config`'s defaults."""
    config = serve_config(args)
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
    trio.run(serve_until_signalled, partial(run_sequencer, config), _announce(config))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the sequencer (JSON-RPC over HTTP)")
    add_settings_arguments(p, "serve")
    p.set_defaults(handler=_cmd_serve)
