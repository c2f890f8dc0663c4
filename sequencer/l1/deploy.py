"""`attest l1 deploy`: deploy the rollup contract on any L1 and bond the sequencer.

Blocking (web3): called from the CLI and, in a worker thread, from `attest devnet`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from eth_account import Account
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import Wei

from l1_contracts.contract import deploy_rollup
from prover.errors import L1Error
from sequencer.l1.keys import (
    KeyLoadError,
    LoadedKey,
    add_key_arguments,
    key_from_args,
    read_env_key,
    warn_if_unsafe,
)
from sequencer.l1.reader import connect

ETHER = 10**18
DEFAULT_MIN_BOND = 1 * ETHER
DEFAULT_BOND = 10 * ETHER


@dataclass(frozen=True, slots=True)
class Deployment:
    l1_rpc: str
    contract: str
    chain_id: int


def deploy_and_bond(
    l1_rpc: str,
    *,
    owner_key: bytes,
    sequencer_key: bytes,
    challenge_window: int,
    da_window: int,
    min_bond: int = DEFAULT_MIN_BOND,
    bond: int = DEFAULT_BOND,
) -> Deployment:
    """Deploy Rollup.vy (owner = `owner_key`'s address) and deposit `bond` from the sequencer.

    Blocking (web3). Signs locally, so it works against any node, not only dev nodes that
    hold unlocked accounts.
    """
    w3 = connect(l1_rpc, timeout_s=30)
    owner = Account.from_key(owner_key)
    sequencer = Account.from_key(sequencer_key)
    w3.eth.default_account = owner.address
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(owner), layer=0)
    rollup = deploy_rollup(w3, sequencer.address, owner.address, challenge_window, da_window, min_bond)
    tx = rollup.functions.deposit().build_transaction(
        {
            "from": sequencer.address,
            "value": Wei(bond),
            "nonce": w3.eth.get_transaction_count(sequencer.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    signed = sequencer.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    if receipt["status"] != 1:
        raise L1Error("the sequencer's bond deposit reverted")
    return Deployment(l1_rpc, str(rollup.address), int(w3.eth.chain_id))


def _keys_from(args: argparse.Namespace) -> tuple[LoadedKey, LoadedKey]:
    """(owner, sequencer) keys from the flags: keystores, or plain files/variables (devnet)."""
    owner = key_from_args(args, plain_flag="--key-file")
    if args.key_env:
        if owner is not None:
            raise KeyLoadError("give one of --keystore, --key-file, --key-env")
        owner = LoadedKey(read_env_key(args.key_env), f"environment variable {args.key_env}", False)
    if owner is None:
        raise KeyLoadError("give the deployer's key: --keystore PATH with --passphrase-file/"
                           "--passphrase-env, or --key-file/--key-env (devnet)")
    sequencer = key_from_args(args, prefix="sequencer", plain_flag="--sequencer-key-file")
    if args.sequencer_key_env:
        if sequencer is not None:
            raise KeyLoadError("give one of --sequencer-keystore, --sequencer-key-file, --sequencer-key-env")
        sequencer = LoadedKey(read_env_key(args.sequencer_key_env),
                              f"environment variable {args.sequencer_key_env}", False)
    return owner, sequencer if sequencer is not None else owner


def _cmd_deploy(args: argparse.Namespace) -> int:
    owner, sequencer = _keys_from(args)
    chain_id = int(connect(args.l1_rpc, timeout_s=30).eth.chain_id)
    warn_if_unsafe(owner, chain_id, "deployer")
    if sequencer is not owner:
        warn_if_unsafe(sequencer, chain_id, "sequencer")
    d = deploy_and_bond(
        args.l1_rpc,
        owner_key=owner.key,
        sequencer_key=sequencer.key,
        challenge_window=args.challenge_window,
        da_window=args.da_window,
        min_bond=args.min_bond,
        bond=args.bond,
    )
    print(f"rollup deployed at {d.contract} on chain {d.chain_id}; sequencer bonded", flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    l1 = sub.add_parser("l1", help="L1 operations").add_subparsers(dest="l1_command", metavar="COMMAND")
    d = l1.add_parser("deploy", help="deploy the rollup contract and bond the sequencer")
    d.add_argument("--l1-rpc", required=True)
    add_key_arguments(d, role="deployer (the contract's owner)", plain_flag="--key-file")
    d.add_argument("--key-env", metavar="VAR",
                   help="environment variable holding the deployer's plain hex key (devnet)")
    add_key_arguments(d, prefix="sequencer", role="sequencer (default: the deployer's)",
                      plain_flag="--sequencer-key-file")
    d.add_argument("--sequencer-key-env", metavar="VAR",
                   help="environment variable holding the sequencer's plain hex key (devnet)")
    d.add_argument("--challenge-window", type=int, default=7 * 24 * 3600, help="s (default 7 days)")
    d.add_argument("--da-window", type=int, default=24 * 3600, help="s (default 1 day)")
    d.add_argument("--min-bond", type=int, default=DEFAULT_MIN_BOND, help="wei")
    d.add_argument("--bond", type=int, default=DEFAULT_BOND, help="wei deposited now")
    d.set_defaults(handler=_cmd_deploy)
