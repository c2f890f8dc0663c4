"""`attest l1 deploy`: deploy the rollup contract on any L1 and bond the sequencer.

Blocking (web3): called from the CLI and, in a worker thread, from `attest devnet`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.datastructures import AttributeDict
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import Wei

from l1_contracts.contract import DEFAULT_FORCE_INCLUSION_WINDOW, deploy_rollup
from prover.errors import InvalidInputError, L1Error
from prover.wire import hex0x
from sequencer.l1.keys import (
    DEVNET_CHAIN_ID,
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

MIN_PUBLIC_CHALLENGE_WINDOW_S: Final = 3600
"""The shortest challenge window `attest l1 deploy` accepts on a chain that is not the devnet.

The window is the time a validator has to notice a bad checkpoint, replicate the data, and get
a proof mined — through an outage, a restart or a fee spike. Under an hour, a validator down
for routine maintenance lets fraud turn final. Public rollups use days (docs/spec.md §7); an
hour is the floor for a testnet. The devnet (chain 31337) takes any positive window: its tests
and demonstrations need seconds."""


class UnsafeParameterError(InvalidInputError):
    """A deployment parameter that would make the rollup unsafe; nothing was sent."""


def check_deploy_parameters(
    chain_id: int, *, challenge_window: int, da_window: int, min_bond: int, bond: int
) -> None:
    """Raise `UnsafeParameterError` (one line: the parameter, its value, why) for parameters
    that would make the rollup unsafe: before anything is sent, so a refused deploy costs
    nothing."""
    # Verify both windows are positive.
    if challenge_window <= 0 or da_window <= 0:
        raise UnsafeParameterError(
            f"--challenge-window {challenge_window} s and --da-window {da_window} s must both be positive"
        )
    # Verify the challenge window leaves a validator time to act, off the devnet.
    if chain_id != DEVNET_CHAIN_ID and challenge_window < MIN_PUBLIC_CHALLENGE_WINDOW_S:
        raise UnsafeParameterError(
            f"--challenge-window {challenge_window} s is below the minimum of "
            f"{MIN_PUBLIC_CHALLENGE_WINDOW_S} s on chain {chain_id} (only the devnet, "
            f"{DEVNET_CHAIN_ID}, takes shorter): fraud could turn final before a validator proves it"
        )
    # Verify a DA challenge can be answered and, if unanswered, proven within the window.
    if da_window >= challenge_window:
        raise UnsafeParameterError(
            f"--da-window {da_window} s must be shorter than --challenge-window {challenge_window} s: "
            "a withheld checkpoint would turn final before its data challenge ends"
        )
    # Verify there is a bond to slash.
    if min_bond <= 0 or bond <= 0:
        raise UnsafeParameterError(
            f"--min-bond {min_bond} wei and --bond {bond} wei must be positive: with no bond, "
            "fraud costs the sequencer nothing"
        )
    if bond < min_bond:
        raise UnsafeParameterError(f"--bond {bond} wei is below --min-bond {min_bond} wei")


@dataclass(frozen=True, slots=True)
class Deployment:
    l1_rpc: str
    contract: str
    chain_id: int
    deploy_tx: str = ""
    """Hash of the contract-creation transaction (0x-hex)."""
    block: int = 0
    """Block the contract was created in."""
    owner: str = ""
    parameters: tuple[tuple[str, object], ...] = ()
    """Every constructor parameter, by name, as the deployed contract reports it."""
    bond: int = 0
    """Wei the sequencer deposited."""
    bond_tx: str = ""


def deploy_and_bond(
    l1_rpc: str,
    *,
    owner_key: bytes,
    sequencer_key: bytes,
    challenge_window: int,
    da_window: int,
    min_bond: int = DEFAULT_MIN_BOND,
    bond: int = DEFAULT_BOND,
    force_inclusion_window: int = DEFAULT_FORCE_INCLUSION_WINDOW,
) -> Deployment:
    """Deploy Rollup.vy (owner = `owner_key`'s address) and deposit `bond` from the sequencer.

    Blocking (web3). Signs locally, so it works against any node, not only dev nodes that
    hold unlocked accounts. Refuses unsafe parameters first (`check_deploy_parameters`).
    """
    w3 = connect(l1_rpc, timeout_s=30)
    chain_id = int(w3.eth.chain_id)
    check_deploy_parameters(
        chain_id,
        challenge_window=challenge_window,
        da_window=da_window,
        min_bond=min_bond,
        bond=bond,
    )
    owner = Account.from_key(owner_key)
    sequencer = Account.from_key(sequencer_key)
    w3.eth.default_account = owner.address
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(owner), layer=0)
    first_block = int(w3.eth.block_number)
    rollup = deploy_rollup(
        w3,
        sequencer.address,
        owner.address,
        challenge_window,
        da_window,
        min_bond,
        force_inclusion_window=force_inclusion_window,
    )
    deploy_tx, block = _creation_of(w3, rollup.address, first_block)
    tx = rollup.functions.deposit().build_transaction(
        {
            "from": sequencer.address,
            "value": Wei(bond),
            "nonce": w3.eth.get_transaction_count(sequencer.address, "pending"),
            "chainId": chain_id,
        }
    )
    signed = sequencer.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    if receipt["status"] != 1:
        raise L1Error("the sequencer's bond deposit reverted")
    return Deployment(
        l1_rpc,
        str(rollup.address),
        chain_id,
        deploy_tx=deploy_tx,
        block=block,
        owner=owner.address,
        parameters=_constructor_parameters(rollup),
        bond=int(rollup.functions.bond().call()),
        bond_tx=hex0x(bytes(receipt["transactionHash"])),
    )


def _creation_of(w3: Web3, address: str, first_block: int) -> tuple[str, int]:
    """(hash, block) of the transaction that created `address`, mined at `first_block` or later.

    `deploy_rollup` returns the contract only; its creation is one of the few blocks just mined.
    """
    for number in range(first_block, int(w3.eth.block_number) + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            # A creation has no recipient: JSON-RPC says null, the embedded node "".
            if isinstance(tx, dict | AttributeDict) and tx.get("to") in (None, "", "0x"):
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                if receipt["contractAddress"] == address:
                    return hex0x(bytes(tx["hash"])), number
    raise L1Error(f"no transaction creating {address} in blocks {first_block} and after")


def _constructor_parameters(rollup: Contract) -> tuple[tuple[str, object], ...]:
    """Every constructor parameter, read back from the same-named view of the deployed contract
    (what L1 holds, not what was asked for)."""
    abi: list[dict[str, Any]] = [dict(e) for e in rollup.abi]
    ctor = next(e for e in abi if e.get("type") == "constructor")
    views = {str(e["name"]) for e in abi if e.get("type") == "function" and not e.get("inputs")}
    out: list[tuple[str, object]] = []
    for param in ctor.get("inputs", []):
        name = str(param["name"]).lstrip("_")
        if name in views:
            out.append((name, rollup.functions[name]().call()))
    return tuple(out)


def format_deployment(d: Deployment) -> str:
    """What `attest l1 deploy` prints: everything an operator must record."""
    lines = [
        f"rollup deployed at {d.contract} on chain {d.chain_id}; sequencer bonded",
        f"  transaction   {d.deploy_tx}",
        f"  block         {d.block}",
        f"  contract      {d.contract}",
        f"  owner         {d.owner}",
        "  parameters",
    ]
    width = max((len(name) for name, _ in d.parameters), default=0)
    for name, value in d.parameters:
        lines.append(f"    {name.ljust(width)}  {value}{_unit(name)}")
    lines.append(f"  bond          {d.bond} wei ({d.bond / ETHER:g} ETH) deposited in {d.bond_tx}")
    return "\n".join(lines)


def _unit(name: str) -> str:
    lower = name.lower()
    if "window" in lower or "delay" in lower:
        return " s"
    if "bond" in lower:
        return " wei"
    return ""


def _keys_from(args: argparse.Namespace) -> tuple[LoadedKey, LoadedKey]:
    """(owner, sequencer) keys from the flags: keystores, or plain files/variables (devnet)."""
    owner = key_from_args(args, plain_flag="--key-file")
    if args.key_env:
        if owner is not None:
            raise KeyLoadError("give one of --keystore, --key-file, --key-env")
        owner = LoadedKey(read_env_key(args.key_env), f"environment variable {args.key_env}", False)
    if owner is None:
        raise KeyLoadError(
            "give the deployer's key: --keystore PATH with --passphrase-file/"
            "--passphrase-env, or --key-file/--key-env (devnet)"
        )
    sequencer = key_from_args(args, prefix="sequencer", plain_flag="--sequencer-key-file")
    if args.sequencer_key_env:
        if sequencer is not None:
            raise KeyLoadError(
                "give one of --sequencer-keystore, --sequencer-key-file, --sequencer-key-env"
            )
        sequencer = LoadedKey(
            read_env_key(args.sequencer_key_env),
            f"environment variable {args.sequencer_key_env}",
            False,
        )
    return owner, sequencer if sequencer is not None else owner


def _cmd_deploy(args: argparse.Namespace) -> int:
    owner, sequencer = _keys_from(args)
    chain_id = int(connect(args.l1_rpc, timeout_s=30).eth.chain_id)
    check_deploy_parameters(
        chain_id,
        challenge_window=args.challenge_window,
        da_window=args.da_window,
        min_bond=args.min_bond,
        bond=args.bond,
    )
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
        force_inclusion_window=args.force_inclusion_window,
    )
    print(format_deployment(d), flush=True)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    l1 = sub.add_parser("l1", help="L1 operations").add_subparsers(
        dest="l1_command", metavar="COMMAND", required=True
    )
    d = l1.add_parser("deploy", help="deploy the rollup contract and bond the sequencer")
    d.add_argument("--l1-rpc", required=True)
    add_key_arguments(d, role="deployer (the contract's owner)", plain_flag="--key-file")
    d.add_argument(
        "--key-env",
        metavar="VAR",
        help="environment variable holding the deployer's plain hex key (devnet)",
    )
    add_key_arguments(
        d,
        prefix="sequencer",
        role="sequencer (default: the deployer's)",
        plain_flag="--sequencer-key-file",
    )
    d.add_argument(
        "--sequencer-key-env",
        metavar="VAR",
        help="environment variable holding the sequencer's plain hex key (devnet)",
    )
    d.add_argument(
        "--challenge-window",
        type=int,
        default=7 * 24 * 3600,
        help=f"s (default 7 days; at least {MIN_PUBLIC_CHALLENGE_WINDOW_S} off the devnet)",
    )
    d.add_argument(
        "--da-window",
        type=int,
        default=24 * 3600,
        help="s (default 1 day; shorter than the challenge window)",
    )
    d.add_argument(
        "--force-inclusion-window",
        type=int,
        default=6 * 3600,
        help="s from posting a forced event to its inclusion deadline (default 6 h; docs/spec.md §7.3)",
    )
    d.add_argument("--min-bond", type=int, default=DEFAULT_MIN_BOND, help="wei")
    d.add_argument("--bond", type=int, default=DEFAULT_BOND, help="wei deposited now")
    d.set_defaults(handler=_cmd_deploy)
    from sequencer.l1.bond import register as register_bond

    register_bond(l1)
