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
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import trio

from prover.eip712 import Domain, address_of_private_key
from prover.errors import InvalidFieldError
from sequencer.config import DEV_ADDRESS, DEV_TOKEN, Config, load_config
from sequencer.l1.keys import LoadedKey, add_key_arguments, key_from_args, warn_if_unsafe
from sequencer.l1.rounds import wait_for_l1
from sequencer.node.api import RpcApi
from sequencer.node.faults import Fault, FaultInjector
from sequencer.node.ingest_pool import IngestPool, pooled_handler
from sequencer.node.metrics import Metrics
from sequencer.node.writer import Writer
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
        warn_if_unsafe(
            LoadedKey(config.sequencer_key, config.sequencer_key_source, config.sequencer_key_encrypted),
            chain_id, "sequencer",
        )
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
        register_api(dispatcher, api)

        async def health(request: Request) -> Response:
            body = {"status": "ok", "treeSize": store.head.tree_size}
            l1 = api.checkpoints.l1_status() if api.checkpoints is not None else None
            if l1 is not None:
                body["l1"] = l1
            return Response(200, orjson.dumps(body))

        async def metrics_page(request: Request) -> Response:
            if api.checkpoints is not None:
                api.checkpoints.l1_status()  # brings the L1 gauges (head age, deadlines) to now
            return Response(200, metrics.render(), content_type="text/plain; version=0.0.4")

        handler = make_http_handler(
            dispatcher,
            extra_routes={("GET", "/health"): health, ("GET", "/metrics"): metrics_page},
        )
        limits = HttpLimits(max_body_bytes=config.max_body_bytes)
        if config.ingest_workers:
            pool = IngestPool(api.ingest, config.ingest_workers)
            await trio.to_thread.run_sync(pool.start)
            handler = pooled_handler(handler, pool, writer, metrics, api.sequencer_address)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            if l1 is not None:
                committer = Committer(
                    store, l1, metrics, interval_s=config.checkpoint_interval_s,
                    clock_lag_s=config.l1_clock_lag_s, faults=faults, l1_timeout_s=config.l1_timeout_s,
                )
                api.checkpoints = committer
                await nursery.start(committer.run)
            port = await nursery.start(partial(serve_http, handler, config.host, config.port, limits=limits))
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
    loaded = key_from_args(args, plain_flag="--sequencer-key-file")
    if loaded is not None:
        config = replace(config, sequencer_key=loaded.key, sequencer_key_source=loaded.source,
                         sequencer_key_encrypted=loaded.encrypted)
    return replace(
        config, host=base.host, port=base.port, l1_rpc=args.l1_rpc, l1_contract=args.contract,
        checkpoint_interval_s=args.checkpoint_interval, l1_timeout_s=args.l1_timeout,
        inject=args.inject, ingest_workers=args.ingest_workers,
        l1_clock_lag_s=args.l1_clock_lag, l1_max_fee_gwei=args.l1_max_fee_gwei,
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    trio.run(serve_until_signalled, partial(run_sequencer, config), _announce(config))
    return 0


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
    p.add_argument("--l1-max-fee-gwei", type=float, default=500.0,
                   help="ceiling of the max fee per gas of every L1 transaction (default 500)")
    add_inject_argument(p)
    add_ingest_workers_argument(p)
    add_key_arguments(p, role="sequencer (receipts, commits; default: the public dev key)",
                      plain_flag="--sequencer-key-file")
    p.set_defaults(handler=_cmd_serve)
