"""`attest devnet`: the whole system on one machine.

`attest devnet` starts the embedded L1 (py-evm behind JSON-RPC, in its own process, a block
every `--l1-block-time` seconds like a real chain) unless `--l1-rpc` names a node, deploys the rollup contract, bonds the sequencer (dev account 0), and
runs the sequencer with `--dev` and the L1 committer in this process. It prints the URLs, the
contract address and the dev keys. The dev keys come from the public "test test ... junk"
mnemonic and must never hold anything of value.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import tempfile
from pathlib import Path

import trio

from l1_contracts.accounts import DEV_ADDRESSES, DEV_KEYS
from l1_contracts.devnet_node import DEFAULT_BLOCK_TIME_S, start_devnet_subprocess, stop_process
from sequencer.config import DEV_ADDRESS, DEV_TOKEN, Config
from sequencer.devnet.process import ValidatorProcess, write_key_file
from sequencer.l1.deploy import Deployment, deploy_and_bond
from sequencer.node.faults import Fault, FaultInjector
from sequencer.node.service import Running, add_inject_argument, run_sequencer

log = logging.getLogger(__name__)

async def run_devnet(args: argparse.Namespace) -> None:
    node: subprocess.Popen[str] | None = None
    validator: ValidatorProcess | None = None
    l1_rpc: str = args.l1_rpc
    if l1_rpc is None:
        node, l1_rpc = await trio.to_thread.run_sync(
            lambda: start_devnet_subprocess(port=args.l1_port, block_time=args.l1_block_time)
        )
    try:
        deployment = await trio.to_thread.run_sync(
            lambda: deploy_and_bond(
                l1_rpc,
                owner_key=DEV_KEYS[0],
                sequencer_key=DEV_KEYS[0],
                challenge_window=args.challenge_window,
                da_window=args.da_window,
            )
        )
        data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="attest-devnet-"))
        host, _, port = args.rpc.rpartition(":")
        config = Config(
            data_dir=data_dir,
            host=host or "127.0.0.1",
            port=int(port),
            sequencer_key=DEV_KEYS[0],
            l1_rpc=l1_rpc,
            l1_contract=deployment.contract,
            checkpoint_interval_s=args.checkpoint_interval,
            l1_timeout_s=args.l1_timeout,
            inject=args.inject,
        ).with_dev()
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                running: Running = await nursery.start(run_sequencer, config)
                if not args.no_validator:
                    validator = await trio.to_thread.run_sync(
                        _start_validator, args, deployment, config, running
                    )
                _print_banner(args, deployment, config, running, validator)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
    finally:
        if validator is not None:
            validator.stop()
        if node is not None:
            stop_process(node)


def _start_validator(
    args: argparse.Namespace, d: Deployment, config: Config, running: Running
) -> ValidatorProcess:
    """One validator (dev account 1) following the sequencer, in its own process."""
    vdir = config.data_dir / "validator"
    vdir.mkdir(parents=True, exist_ok=True)
    key_file = write_key_file(DEV_KEYS[1], vdir)
    return ValidatorProcess(
        sequencer=f"http://{config.host}:{running.port}",
        l1_rpc=d.l1_rpc,
        contract=d.contract,
        key_file=key_file,
        data_dir=vdir / "replica",
        extra_args=["--rpc", args.validator_rpc],
        log_level=args.log_level,
    )


def _print_banner(
    args: argparse.Namespace,
    d: Deployment,
    config: Config,
    running: Running,
    validator: ValidatorProcess | None,
) -> None:
    l1_kind = "" if args.l1_rpc else (
        f"   (embedded py-evm, a block every {args.l1_block_time:g} s)" if args.l1_block_time > 0
        else "   (embedded py-evm, a block per transaction)"
    )
    lines = [
        "attest-rollup devnet is up",
        *([f"  FAULT       {FaultInjector(Fault(args.inject)).describe()}"] if args.inject else []),
        f"  sequencer   http://{config.host}:{running.port}   (JSON-RPC; GET /health, /metrics)",
        f"  validator   {validator.url}   (replica: the same read methods; account 1)"
        if validator is not None else "  validator   none (--no-validator)",
        f"  L1          {d.l1_rpc}   chainId {d.chain_id}{l1_kind}",
        f"  contract    {d.contract}",
        f"  data dir    {config.data_dir}",
        f"  windows     checkpoint every {args.checkpoint_interval:g} s, "
        f"challenge {args.challenge_window} s, DA response {args.da_window} s",
        f"  dev token   {DEV_TOKEN}   (unsigned events vouched as 0x{DEV_ADDRESS.hex()})",
        "  dev keys    (public anvil mnemonic; never use them on a real chain)",
    ]
    roles = {0: "sequencer + owner", 1: "validator"}
    for i in range(4):
        lines.append(f"    [{i}] {DEV_ADDRESSES[i]}  0x{DEV_KEYS[i].hex()}  {roles.get(i, '')}".rstrip())
    print("\n".join(lines), flush=True)


def _cmd_devnet(args: argparse.Namespace) -> int:
    trio.run(run_devnet, args)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("devnet", help="run the whole system on the embedded L1")
    p.add_argument("--data-dir", default=None, help="sequencer data (default: a new temp dir)")
    p.add_argument("--rpc", default="127.0.0.1:8645", help="sequencer HOST:PORT")
    p.add_argument("--l1-port", type=int, default=8545, help="port of the embedded L1 node")
    p.add_argument("--l1-rpc", default=None, help="use this L1 node instead of the embedded one")
    p.add_argument(
        "--l1-block-time", type=float, default=DEFAULT_BLOCK_TIME_S,
        help=f"seconds between blocks of the embedded L1 (default {DEFAULT_BLOCK_TIME_S:g}; "
        "0: a block per transaction, and L1 time stands still while idle)",
    )
    p.add_argument("--checkpoint-interval", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--challenge-window", type=int, default=120, help="seconds (default 120)")
    p.add_argument("--da-window", type=int, default=30, help="DA response window, s (default 30)")
    p.add_argument("--l1-timeout", type=float, default=10.0, help="seconds per L1 call (default 10)")
    add_inject_argument(p)
    p.add_argument("--no-validator", action="store_true", help="do not start the validator")
    p.add_argument("--validator-rpc", default="127.0.0.1:8646", help="validator HOST:PORT")
    p.set_defaults(handler=_cmd_devnet)
