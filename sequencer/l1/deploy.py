"""`attest l1 deploy`: deploy the rollup contract on any L1 and bond the sequencer.

Blocking (web3): called from the CLI and, in a worker thread, from `attest devnet`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from eth_account import Account
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import Wei

from l1_contracts.contract import deploy_rollup
from prover.errors import InvalidFieldError, L1Error
from prover.wire import parse_hex
from sequencer.config import read_key_file
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
    rollup = deploy_rollup(
        w3, sequencer.address, owner.address, challenge_window, da_window, min_bond
    )
    tx = rollup.functions.deposit().build_transaction(
        {
            "from": sequencer.address,
            "value": Wei(bond),
            "nonce": w3.eth.get_transaction_count(sequencer.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    signed = sequencer.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    if receipt["status"] != 1:
        raise L1Error("the sequencer's bond deposit reverted")
    return Deployment(l1_rpc, str(rollup.address), int(w3.eth.chain_id))


def _key_from(args: argparse.Namespace, name: str) -> bytes:
    """A private key from --NAME-file or the environment variable --NAME-env (never argv)."""
    path = getattr(args, f"{name}_file")
    env = getattr(args, f"{name}_env")
    if path:
        return read_key_file(path, f"--{name.replace('_', '-')}-file")
    if env:
        value = os.environ.get(env, "").strip()
        try:  # the key file's form: 64 hex digits, 0x optional (prover.wire's hex otherwise)
            return parse_hex(value if value.startswith("0x") else "0x" + value, env, size=32)
        except InvalidFieldError:  # its message would not echo the key; this one says where
            raise InvalidFieldError(f"--{name}-env", f"{env} must hold a 32-byte hex key") from None
    raise InvalidFieldError(f"--{name}-file", f"give --{name}-file or --{name}-env")


def _cmd_deploy(args: argparse.Namespace) -> int:
    key = _key_from(args, "key")
    sequencer_key = (
        _key_from(args, "sequencer_key")
        if (args.sequencer_key_file or args.sequencer_key_env)
        else key
    )
    d = deploy_and_bond(
        args.l1_rpc,
        owner_key=key,
        sequencer_key=sequencer_key,
        challenge_window=args.challenge_window,
        da_window=args.da_window,
        min_bond=args.min_bond,
        bond=args.bond,
    )
    print(f"rollup deployed at {d.contract} on chain {d.chain_id}; sequencer bonded", flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    l1 = sub.add_parser("l1", help="L1 operations").add_subparsers(
        dest="l1_command", metavar="COMMAND", required=True
    )
    d = l1.add_parser("deploy", help="deploy the rollup contract and bond the sequencer")
    d.add_argument("--l1-rpc", required=True)
    d.add_argument("--key-file", help="file with the deployer/owner key (0x hex)")
    d.add_argument("--key-env", help="environment variable holding the deployer/owner key")
    d.add_argument("--sequencer-key-file", help="sequencer key file (default: the deployer key)")
    d.add_argument("--sequencer-key-env", help="environment variable with the sequencer key")
    d.add_argument("--challenge-window", type=int, default=7 * 24 * 3600, help="s (default 7 days)")
    d.add_argument("--da-window", type=int, default=24 * 3600, help="s (default 1 day)")
    d.add_argument("--min-bond", type=int, default=DEFAULT_MIN_BOND, help="wei")
    d.add_argument("--bond", type=int, default=DEFAULT_BOND, help="wei deposited now")
    d.set_defaults(handler=_cmd_deploy)
