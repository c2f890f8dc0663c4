"""`attest validate`: the validator process — one trio root nursery, three services.

* the pull loop (`Replica.pull` in a worker thread: HTTP to the upstreams and LevelDB writes
  block), continuously, pausing `pull_s` when up to date or when no upstream serves the next
  block;
* the L1 watcher (`Watcher.run`, every `poll_s`);
* the HTTP server: the read methods of DESIGN §7 from the replica (same parameters and answers
  as the sequencer's, via `sequencer.rpc.read_api.ReadApi`), `validator_watchReceipt`,
  `validator_status`, ``GET /health`` and ``GET /metrics``.

Shutdown (SIGTERM/SIGINT) cancels the root nursery; a pull in flight finishes its write batch
first (its thread is not abandoned), so the store closes after it.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import trio

from prover.eip712 import Domain
from prover.errors import InvalidFieldError
from sequencer.l1.fees import GWEI, FeePolicy
from sequencer.l1.keys import LoadedKey, add_key_arguments, key_from_args, warn_if_unsafe
from sequencer.l1.rounds import wait_for_l1
from sequencer.l1.sender import NonceJournal
from sequencer.l1.signer import RemoteSigner
from sequencer.rpc.http_server import HttpLimits, Request, Response, serve_http
from sequencer.rpc.jsonrpc import Dispatcher, Param, RpcContext, make_http_handler
from sequencer.rpc.methods import METHODS
from sequencer.rpc.read_api import ReadApi
from sequencer.runtime import serve_until_signalled
from sequencer.validator.metrics import ValidatorMetrics
from sequencer.validator.prove import ValidatorL1
from sequencer.validator.receipts import parse_watch
from sequencer.validator.replicate import Replica, UpstreamError, Upstreams
from sequencer.validator.watch import Watcher
from state_db.store import Store

log = logging.getLogger(__name__)

READ_METHODS = (
    "attest_getEvent",
    "attest_getProof",
    "attest_getConsistencyProof",
    "attest_getCheckpoint",
    "attest_getBlock",
    "attest_findByDigest",
    "attest_findBySubject",
    "attest_status",
)
"""The DESIGN §7 methods a follower serves from its replica (everything but ingest)."""


@dataclass(frozen=True, slots=True)
class ValidatorConfig:
    data_dir: Path
    upstreams: tuple[str, ...]
    """The sequencer's URL, then any other followers, tried in order."""
    l1_rpc: str
    contract: str
    key: bytes | RemoteSigner = field(repr=False)
    """The validator's L1 key, or the remote signer that holds it: it pays for proofs and
    receives the rewards. Not in `repr`."""
    key_source: str = "a plain key file"
    """Where the key came from, for the warning a plain key earns off the devnet."""
    key_encrypted: bool = False
    host: str = "127.0.0.1"
    port: int = 8646
    poll_s: float = 1.0
    pull_s: float = 0.2
    da_grace_s: float = 15.0
    l1_timeout_s: float = 10.0
    upstream_timeout_s: float = 5.0
    l1_max_fee_gwei: float = 500.0
    """Ceiling of the max fee per gas of the validator's transactions."""


@dataclass(frozen=True, slots=True)
class RunningValidator:
    port: int
    watcher: Watcher


async def run_validator(
    config: ValidatorConfig, *, task_status: trio.TaskStatus[RunningValidator] = trio.TASK_STATUS_IGNORED
) -> None:
    """Open the replica, read the deployment from L1, start the three services; run until cancelled."""
    l1 = ValidatorL1(config.l1_rpc, config.contract, config.key, timeout_s=config.l1_timeout_s)
    l1.sender.policy = FeePolicy(max_fee_per_gas=int(config.l1_max_fee_gwei * GWEI))
    # The nonce journal: a proof in flight at a crash is finished by the next send, never
    # sent again under a new nonce.
    config.data_dir.mkdir(parents=True, exist_ok=True)
    l1.sender.attach_journal(NonceJournal(config.data_dir / "l1-sender.json"))
    chain_id, sequencer, params = await wait_for_l1(
        lambda: (l1.chain_id(), l1.sequencer(), l1.params())
    )
    if isinstance(config.key, RemoteSigner):
        signer = config.key
        await wait_for_l1(signer.check)  # the signer is up and offers the account
        log.info("signing L1 transactions with a remote signer",
                 extra={"signer": signer.url, "address": signer.address})
    else:
        warn_if_unsafe(LoadedKey(config.key, config.key_source, config.key_encrypted), chain_id,
                       "validator")
    domain = Domain(chain_id, bytes.fromhex(l1.address[2:]))
    store = await trio.to_thread.run_sync(Store.open, config.data_dir / "replica")
    upstreams = Upstreams(config.upstreams, timeout_s=config.upstream_timeout_s)
    try:
        metrics = ValidatorMetrics()
        replica = Replica(store, domain.separator)
        watcher = Watcher(replica, l1, metrics, params=params, domain_separator=domain.separator,
                          sequencer=sequencer, poll_s=config.poll_s, da_grace_s=config.da_grace_s)
        api = ReadApi(store, domain, sequencer, checkpoints=watcher)
        dispatcher = Dispatcher(max_batch=1000)
        register_methods(dispatcher, api, watcher)

        async def health(request: Request) -> Response:
            body = {"status": "ok", "replicaSize": replica.size, "upstreamError": replica.last_error,
                    "l1": watcher.l1_status()}
            return Response(200, orjson.dumps(body))

        async def metrics_page(request: Request) -> Response:
            metrics.replica_size.set(replica.size)
            metrics.blocks.set(store.head.block_count)
            metrics.violations.set(len(replica.violations))
            return Response(200, metrics.render(), content_type="text/plain; version=0.0.4")

        handler = make_http_handler(
            dispatcher, extra_routes={("GET", "/health"): health, ("GET", "/metrics"): metrics_page}
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(_pull_loop, replica, upstreams, metrics, config.pull_s))
            await nursery.start(watcher.run)
            port = await nursery.start(partial(serve_http, handler, config.host, config.port, limits=HttpLimits()))
            log.info("validator ready: port %d, replica size %d", port, replica.size)
            task_status.started(RunningValidator(port, watcher))
    finally:
        upstreams.close()
        store.close()


def register_methods(dispatcher: Dispatcher, api: ReadApi, watcher: Watcher) -> None:
    """The read methods (same parameter specs as the sequencer's) and the validator's own."""
    for name in READ_METHODS:
        params, summary, _result = METHODS[name]
        dispatcher.register(name, getattr(api, name), params=params, doc=summary)

    async def watch_receipt(ctx: RpcContext, receipt: Any, placement: Any) -> dict[str, Any]:
        watched = parse_watch(receipt, placement, api.domain.separator, api.sequencer_address)
        return await watcher.add_receipt(watched)

    async def status(ctx: RpcContext) -> dict[str, Any]:
        return watcher.status()

    dispatcher.register(
        "validator_watchReceipt",
        watch_receipt,
        params=(
            Param("receipt", (dict,), description="the receipt object of attest_submit(Batch)"),
            Param("placement", (dict,), description="{seq, leafHash, index, path} of one event"),
        ),
        doc="Keep a receipt; prove it broken on L1 if the sequencer does not keep it (DESIGN §6).",
    )
    dispatcher.register("validator_status", status, params=(),
                        doc="Replica, checkpoints and verdicts, violations, proofs, DA challenges, receipts.")


async def _pull_loop(
    replica: Replica,
    upstreams: Upstreams,
    metrics: ValidatorMetrics,
    pull_s: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    warned: str | None = None
    while True:
        try:
            # Not abandoned on cancel: the thread may be inside the store's write batch.
            taken = await trio.to_thread.run_sync(replica.pull, upstreams)
        except UpstreamError as exc:
            metrics.upstream_up.set(0)
            if replica.unavailable_since is None:
                replica.unavailable_since = time.monotonic()
            replica.last_error = str(exc)
            if str(exc) != warned:
                log.warning("pull: %s", exc)
                warned = str(exc)
            await trio.sleep(pull_s)
            continue
        warned = None
        metrics.upstream_up.set(1)
        metrics.replica_size.set(replica.size)
        if taken == 0:
            await trio.sleep(pull_s)


def _announce(config: ValidatorConfig) -> Callable[[RunningValidator], None]:
    def announce(running: RunningValidator) -> None:
        print(f"attest-rollup validator listening on http://{config.host}:{running.port}", flush=True)

    return announce


def config_from_args(args: argparse.Namespace) -> ValidatorConfig:
    host, _, port = args.rpc.rpartition(":")
    if not args.sequencer:
        raise InvalidFieldError("--sequencer", "give the sequencer's URL (repeat for more upstreams)")
    loaded = key_from_args(args, plain_flag="--key-file")
    key: bytes | RemoteSigner
    if args.signer_url:
        if loaded is not None:
            raise InvalidFieldError("--signer-url", "give a remote signer or a key, not both")
        if not args.signer_address:
            raise InvalidFieldError("--signer-address", "a remote signer needs the account to sign as")
        key, source, encrypted = RemoteSigner(args.signer_url, args.signer_address), \
            f"remote signer {args.signer_url}", True
    elif loaded is None:
        raise InvalidFieldError("--keystore", "give the validator's key: --keystore PATH with "
                                "--passphrase-file/--passphrase-env, --signer-url with "
                                "--signer-address, or --key-file (devnet)")
    else:
        key, source, encrypted = loaded.key, loaded.source, loaded.encrypted
    return ValidatorConfig(
        data_dir=Path(args.data_dir),
        upstreams=tuple(args.sequencer),
        l1_rpc=args.l1_rpc,
        contract=args.contract,
        key=key,
        key_source=source,
        key_encrypted=encrypted,
        host=host or "127.0.0.1",
        port=int(port),
        poll_s=args.poll_interval,
        pull_s=args.pull_interval,
        da_grace_s=args.da_grace,
        l1_timeout_s=args.l1_timeout,
        l1_max_fee_gwei=args.l1_max_fee_gwei,
    )


def validator_args(
    *, sequencer: str, l1_rpc: str, contract: str, key_file: str | None, data_dir: str,
    rpc: str = "127.0.0.1:0", extra: tuple[str, ...] = (),
) -> list[str]:
    """The `attest validate ...` arguments (after ``attest``), e.g. for `attest devnet` to spawn.
    Without `key_file`, `extra` names the key (``--keystore ...``, ``--signer-url ...``)."""
    key = ["--key-file", key_file] if key_file is not None else []
    return ["validate", "--sequencer", sequencer, "--l1-rpc", l1_rpc, "--contract", contract,
            *key, "--data-dir", data_dir, "--rpc", rpc, *extra]


def _cmd_validate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    trio.run(serve_until_signalled, partial(run_validator, config), _announce(config))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="run a validator: replicate, re-check, challenge on L1, serve reads")
    p.add_argument("--sequencer", action="append", default=[],
                   help="upstream URL: the sequencer, or any follower (repeat: tried in order)")
    p.add_argument("--l1-rpc", required=True, help="L1 JSON-RPC URL")
    p.add_argument("--contract", required=True, help="rollup contract address on L1")
    add_key_arguments(p, role="validator's L1", plain_flag="--key-file")
    p.add_argument("--signer-url", default=None, metavar="URL",
                   help="remote signer (JSON-RPC eth_signTransaction: Clef, web3signer) instead of a key")
    p.add_argument("--signer-address", default=None, metavar="ADDR",
                   help="the account the remote signer signs as")
    p.add_argument("--data-dir", required=True, help="directory of the replica (LevelDB)")
    p.add_argument("--rpc", default="127.0.0.1:8646", help="HOST:PORT to serve reads on")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between L1 rounds (default 1)")
    p.add_argument("--pull-interval", type=float, default=0.2,
                   help="seconds between pulls when up to date (default 0.2)")
    p.add_argument("--da-grace", type=float, default=15.0,
                   help="seconds records may stay unavailable before a DA challenge (default 15)")
    p.add_argument("--l1-timeout", type=float, default=10.0, help="seconds per L1 call (default 10)")
    p.add_argument("--l1-max-fee-gwei", type=float, default=500.0,
                   help="ceiling of the max fee per gas of every L1 transaction (default 500)")
    p.set_defaults(handler=_cmd_validate)
