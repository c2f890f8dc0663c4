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
from l1_contracts.devnet_node import start_devnet_subprocess, stop_process
from sequencer.config import (
    DEV_ADDRESS,
    DEV_TOKEN,
    Config,
    DevnetConfig,
    add_settings_arguments,
    devnet_config,
)
from sequencer.devnet.process import ValidatorProcess, write_key_file
from sequencer.l1.deploy import Deployment, deploy_and_bond
from sequencer.node.faults import Fault, FaultInjector
from sequencer.node.service import Running, check_fault, run_sequencer

log = logging.getLogger(__name__)


async def run_devnet(devnet: DevnetConfig, log_level: str = "WARNING") -> None:
    node: subprocess.Popen[str] | None = None
    validator: ValidatorProcess | None = None
    if devnet.l1_rpc is None:
        node, l1_rpc = await trio.to_thread.run_sync(
            lambda: start_devnet_subprocess(port=devnet.l1_port, block_time=devnet.l1_block_time_s)
        )
    else:
        l1_rpc = devnet.l1_rpc
    try:
        deployment = await trio.to_thread.run_sync(
            lambda: deploy_and_bond(
                l1_rpc,
                owner_key=DEV_KEYS[0],
                sequencer_key=DEV_KEYS[0],
                challenge_window=devnet.challenge_window_s,
                da_window=devnet.da_window_s,
            )
        )
        data_dir = devnet.data_dir or Path(tempfile.mkdtemp(prefix="attest-devnet-"))
        config = Config(
            data_dir=data_dir,
            host=devnet.host,
            port=devnet.port,
            sequencer_key=DEV_KEYS[0],
            l1_rpc=l1_rpc,
            l1_contract=deployment.contract,
            checkpoint_interval_s=devnet.checkpoint_interval_s,
            l1_timeout_s=devnet.l1_timeout_s,
            inject=devnet.inject,
        ).with_dev()
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                running: Running = await nursery.start(run_sequencer, config)
                if not devnet.no_validator:
                    validator = await trio.to_thread.run_sync(
                        _start_validator, devnet, log_level, deployment, config, running
                    )
                _print_banner(devnet, deployment, config, running, validator)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
    finally:
        if validator is not None:
            validator.stop()
        if node is not None:
            stop_process(node)


def _start_validator(
    devnet: DevnetConfig, log_level: str, d: Deployment, config: Config, running: Running
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
        extra_args=["--rpc", f"{devnet.validator_host}:{devnet.validator_port}"],
        log_level=log_level,
    )


def _print_banner(
    devnet: DevnetConfig,
    d: Deployment,
    config: Config,
    running: Running,
    validator: ValidatorProcess | None,
) -> None:
    l1_kind = (
        ""
        if devnet.l1_rpc
        else (
            f"   (embedded py-evm, a block every {devnet.l1_block_time_s:g} s)"
            if devnet.l1_block_time_s > 0
            else "   (embedded py-evm, a block per transaction)"
        )
    )
    lines = [
        "attest-rollup devnet is up",
        *(
            [f"  FAULT       {FaultInjector(Fault(devnet.inject)).describe()}"]
            if devnet.inject
            else []
        ),
        f"  sequencer   http://{config.host}:{running.port}   "
        "(JSON-RPC; explorer at /; GET /health, /metrics)",
        f"  validator   {validator.url}   (replica: the same read methods and explorer; account 1)"
        if validator is not None
        else "  validator   none (--no-validator)",
        f"  L1          {d.l1_rpc}   chainId {d.chain_id}{l1_kind}",
        f"  contract    {d.contract}",
        f"  data dir    {config.data_dir}",
        f"  windows     checkpoint every {devnet.checkpoint_interval_s:g} s, "
        f"challenge {devnet.challenge_window_s} s, DA response {devnet.da_window_s} s",
        f"  dev token   {DEV_TOKEN}   (unsigned events vouched as 0x{DEV_ADDRESS.hex()})",
        "  dev keys    (public anvil mnemonic; never use them on a real chain)",
    ]
    roles = {0: "sequencer + owner", 1: "validator"}
    for i in range(4):
        lines.append(
            f"    [{i}] {DEV_ADDRESSES[i]}  0x{DEV_KEYS[i].hex()}  {roles.get(i, '')}".rstrip()
        )
    print("\n".join(lines), flush=True)


def _cmd_devnet(args: argparse.Namespace) -> int:
    devnet = devnet_config(args)
    check_fault(devnet.inject)
    trio.run(run_devnet, devnet, args.log_level)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("devnet", help="run the whole system on the embedded L1")
    add_settings_arguments(p, "devnet")
    p.set_defaults(handler=_cmd_devnet)
