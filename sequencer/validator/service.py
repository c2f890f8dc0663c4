"""`attest validate`: the validator process — one trio root nursery, three services.

* the pull loop (`upstream.pull`: async HTTP to the upstreams, each call under a deadline and a
  size cap; the checks and LevelDB writes of `Replica.ingest` in a worker thread while the
  next range is fetched and decoded: docs/validator.md, "The pipeline"), continuously,
  pausing `pull_s` when up to date or when no upstream serves the next block;
* the L1 watcher (`Watcher.run`, every `poll_s`);
* the HTTP server: the read methods of docs/spec.md §10 from the replica (same parameters and answers
  as the sequencer's, via `sequencer.rpc.read_api.ReadApi`), `validator_watchReceipt`,
  `validator_status`, ``GET /health`` and ``GET /metrics``.

Shutdown (SIGTERM/SIGINT) cancels the root nursery: an upstream call in flight is cancelled at
once (it is a trio cancel scope, not a blocked thread), and a range being decoded is dropped
(its thread is abandoned: it touches nothing but the answer); an ingest in flight finishes its
write batch first (its thread is not abandoned, a few milliseconds), so the store closes after
it.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
import trio

from prover.eip712 import Domain
from prover.wire import parse_address
from sequencer.config import Resolved, ValidatorConfig, add_settings_arguments, validator_config
from sequencer.explorer.api import install as install_explorer
from sequencer.l1.fees import GWEI, FeePolicy
from sequencer.l1.keys import KeyLoadError, LoadedKey, key_from_settings, warn_if_unsafe
from sequencer.l1.rounds import wait_for_l1
from sequencer.l1.sender import NonceJournal
from sequencer.l1.signer import RemoteSigner
from sequencer.rpc.cors import with_cors
from sequencer.rpc.http_server import HttpLimits, Request, Response, serve_http
from sequencer.rpc.jsonrpc import Dispatcher, Param, RpcContext, make_http_handler
from sequencer.rpc.methods import METHODS
from sequencer.rpc.read_api import ReadApi
from sequencer.runtime import serve_until_signalled
from sequencer.validator.metrics import ValidatorMetrics
from sequencer.validator.prove import ValidatorL1
from sequencer.validator.receipts import parse_watch
from sequencer.validator.replicate import Replica, UpstreamError
from sequencer.validator.upstream import UpstreamPool, pull
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
    "attest_findByLeafHash",
    "attest_status",
)
"""The docs/spec.md §10 methods a follower serves from its replica (everything but ingest)."""


@dataclass(frozen=True, slots=True)
class RunningValidator:
    port: int
    watcher: Watcher


async def run_validator(
    config: ValidatorConfig,
    *,
    task_status: trio.TaskStatus[RunningValidator] = trio.TASK_STATUS_IGNORED,
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
        log.info(
            "signing L1 transactions with a remote signer",
            extra={"signer": signer.url, "address": signer.address},
        )
    else:
        warn_if_unsafe(
            LoadedKey(config.key, config.key_source, config.key_encrypted), chain_id, "validator"
        )
    domain = Domain(chain_id, parse_address(l1.address, "l1.contract"))
    store = await trio.to_thread.run_sync(Store.open, config.data_dir / "replica")
    # The User-Agent names this validator to its upstreams' explorers (their follower list).
    upstreams = UpstreamPool(
        config.upstreams,
        deadline_s=config.upstream_timeout_s,
        user_agent=f"attest-validator/{l1.account.address}",
    )
    replica: Replica | None = None
    try:
        metrics = ValidatorMetrics()
        replica = Replica(store, domain.separator, sequencer)
        watcher = Watcher(
            replica,
            l1,
            metrics,
            params=params,
            domain_separator=domain.separator,
            sequencer=sequencer,
            poll_s=config.poll_s,
            da_grace_s=config.da_grace_s,
        )
        watcher.upstream_status = upstreams.status
        api = ReadApi(store, domain, sequencer, checkpoints=watcher)
        dispatcher = Dispatcher(max_batch=1000, observe=metrics.count_request)
        register_methods(dispatcher, api, watcher)
        explorer = None if config.no_explorer else install_explorer(dispatcher, api, "validator")

        async def health(request: Request) -> Response:
            body = {
                "status": "ok",
                "replicaSize": replica.size,
                "upstreamError": replica.last_error,
                "upstreams": upstreams.status(),
                "l1": watcher.l1_status(),
            }
            return Response(200, orjson.dumps(body))

        async def metrics_page(request: Request) -> Response:
            metrics.replica_size.set(replica.size)
            metrics.blocks.set(store.head.block_count)
            metrics.violations.set(len(replica.violations))
            return Response(200, metrics.render(), content_type="text/plain; version=0.0.4")

        handler = with_cors(
            make_http_handler(
                dispatcher,
                extra_routes={
                    ("GET", "/health"): health,
                    ("GET", "/metrics"): metrics_page,
                    **(explorer.routes if explorer is not None else {}),
                },
            ),
            config.cors_origins,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(watcher.run)
            # The pull judges blocks by the latest live L1 checkpoint: it starts once the
            # watcher has read it (after a restart, blocks taken on receipts alone could be
            # ones a checkpoint committed meanwhile contradicts, docs/validator.md).
            pull_loop = partial(_pull_loop, replica, upstreams, metrics, config.pull_s)
            nursery.start_soon(_after, watcher.anchor_read.wait, pull_loop)
            if explorer is not None:
                await nursery.start(explorer.sampler.run)
            port = await nursery.start(
                partial(serve_http, handler, config.host, config.port, limits=HttpLimits())
            )
            log.info("validator ready: port %d, replica size %d", port, replica.size)
            task_status.started(RunningValidator(port, watcher))
    finally:
        if replica is not None:
            replica.close()
        await upstreams.aclose()
        store.close()


_LABELLED: dict[str, str] = {"attest_getEvent": "seq", "attest_getBlock": "end"}
"""The answers labelled ``provisional`` (docs/validator.md, "Anchored and provisional"), and
the field holding the seq (exclusive for a block's end) that decides it."""


def _labelled(method: Any, field: str, watcher: Watcher) -> Any:
    """`method` with ``provisional: true`` on answers beyond the latest live checkpoint: held on
    the sequencer's signed word only, not yet on L1's."""

    async def answer(ctx: RpcContext, *args: Any) -> Any:
        out = await method(ctx, *args)
        if isinstance(out, dict):
            last = out[field] - 1 if field == "end" else out[field]
            out["provisional"] = last >= watcher.replica.anchored_size
        return out

    return answer


def register_methods(dispatcher: Dispatcher, api: ReadApi, watcher: Watcher) -> None:
    """The read methods (same parameter specs as the sequencer's) and the validator's own."""
    for name in READ_METHODS:
        params, summary, _result = METHODS[name]
        method = getattr(api, name)
        if name in _LABELLED:
            method = _labelled(method, _LABELLED[name], watcher)
        dispatcher.register(name, method, params=params, doc=summary)

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
        doc="Keep a receipt; prove it broken on L1 if the sequencer does not keep it (docs/spec.md §5).",
    )
    dispatcher.register(
        "validator_status",
        status,
        params=(),
        doc="Replica, checkpoints and verdicts, violations, proofs, DA challenges, receipts.",
    )


async def _after(
    first: Callable[[], Awaitable[object]], then: Callable[[], Awaitable[None]]
) -> None:
    await first()
    await then()


async def _pull_loop(
    replica: Replica,
    upstreams: UpstreamPool,
    metrics: ValidatorMetrics,
    pull_s: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    warned: str | None = None
    while True:
        try:
            taken = await pull(replica, upstreams)
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
        print(
            f"attest-rollup validator listening on http://{config.host}:{running.port}", flush=True
        )

    return announce


def config_from_args(args: argparse.Namespace) -> ValidatorConfig:
    """Flags over the ``[validate]`` table of ``--config`` over `ValidatorConfig`'s defaults;
    the key from a keystore, a remote signer or a plain file (`load_validator_key`)."""
    return validator_config(args, load_validator_key)


def load_validator_key(r: Resolved) -> tuple[bytes | RemoteSigner, str, bool] | None:
    """The validator's key: ``signer_url`` with ``signer_address`` (a remote signer), or a
    keystore or plain key file (`key_from_settings`); never two of them."""
    loaded = key_from_settings(r, plain_key="key_file")
    url = r.values.get("signer_url")
    if url is None:
        if "signer_address" in r.values:
            raise KeyLoadError(
                f"{r.where('signer_address')}: names the account of a remote "
                f"signer, but no {r.where('signer_url')} was given"
            )
        return loaded
    if loaded is not None:
        raise KeyLoadError(f"{r.where('signer_url')}: give a remote signer or a key, not both")
    address = r.values.get("signer_address")
    if address is None:
        raise KeyLoadError(
            f"{r.where('signer_url')}: a remote signer needs the account to sign "
            "as (--signer-address, or signer_address in [validate])"
        )
    return RemoteSigner(url, address), f"remote signer {url}", True


def validator_args(
    *,
    sequencer: str,
    l1_rpc: str,
    contract: str,
    key_file: str | None,
    data_dir: str,
    rpc: str = "127.0.0.1:0",
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The `attest validate ...` arguments (after ``attest``), e.g. for `attest devnet` to spawn.
    Without `key_file`, `extra` names the key (``--keystore ...``, ``--signer-url ...``)."""
    key = ["--key-file", key_file] if key_file is not None else []
    return [
        "validate",
        "--sequencer",
        sequencer,
        "--l1-rpc",
        l1_rpc,
        "--contract",
        contract,
        *key,
        "--data-dir",
        data_dir,
        "--rpc",
        rpc,
        *extra,
    ]


def _cmd_validate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    trio.run(serve_until_signalled, partial(run_validator, config), _announce(config))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate", help="run a validator: replicate, re-check, challenge on L1, serve reads"
    )
    add_settings_arguments(p, "validate")
    p.set_defaults(handler=_cmd_validate)
