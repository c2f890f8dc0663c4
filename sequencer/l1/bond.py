"""`attest l1 status | deposit | exit | withdraw | recover`: the bond's life after the deploy
(docs/operations.md). Blocking (web3); every transaction goes through the account's sender
(EIP-1559 fees under `--l1-max-fee-gwei`), is simulated first, and a refusal is one line with
the contract's reason.

* `status` — bond, frozen, epoch, exit requested and when the bond is withdrawable, checkpoints;
* `deposit --amount WEI` — add to the bond (re-bond after a freeze);
* `exit` — `requestExit()`: no commit is accepted afterwards; the bond is withdrawable after
  `exitDelay`;
* `withdraw` — `withdraw()` then `claim()`: the whole bond back to the sequencer account;
* `recover` — the owner lifts a freeze once the sequencer re-bonded and the receipt horizon
  passed (a new epoch).

Exit codes: 0 done; 1 L1 refused the transaction (the contract's reason, nothing was sent) or
could not be reached, one line on stderr; 2 a usage mistake (a flag, a key), one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Final

from prover.errors import InvalidInputError, L1Error
from sequencer.l1.account import Gas, RollupAccount, Sent
from sequencer.l1.deploy import ETHER
from sequencer.l1.fees import GWEI, FeePolicy
from sequencer.l1.keys import KeyLoadError, add_key_arguments, key_from_args, warn_if_unsafe
from sequencer.l1.reader import NO_CHECKPOINT, RollupReader

EXIT_L1: Final = 1
"""L1 refused the transaction (simulated first: nothing was sent) or was unreachable."""


def _one_line(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except L1Error as exc:
            message = " ".join(str(exc).split())
            sys.stderr.write(f"attest: error: {message}\n")
            return EXIT_L1

    return run


def _account(args: argparse.Namespace, role: str) -> RollupAccount:
    key = key_from_args(args, plain_flag="--key-file")
    if key is None:
        raise KeyLoadError(
            f"give the {role}'s key: --keystore PATH with --passphrase-file/--passphrase-env, "
            "or --key-file (devnet)"
        )
    account = RollupAccount(args.l1_rpc, args.contract, key.key, timeout_s=args.l1_timeout)
    account.sender.policy = FeePolicy(max_fee_per_gas=int(args.l1_max_fee_gwei * GWEI))
    warn_if_unsafe(key, account.chain_id(), role)
    return account


def status(reader: RollupReader) -> dict[str, Any]:
    """What an operator checks before and after each step."""
    f = reader.contract.functions
    call = reader._call
    requested = int(call(f.exitRequestedAt().call))
    delay = int(call(f.exitDelay().call))
    finalized = int(call(f.latestFinalized().call))
    return {
        "contract": reader.address,
        "sequencer": str(call(f.sequencer().call)),
        "owner": str(call(f.owner().call)),
        "bondWei": int(call(f.bond().call)),
        "minBondWei": int(call(f.minBond().call)),
        "frozen": bool(call(f.frozen().call)),
        "epoch": int(call(f.epoch().call)),
        "exitRequestedAt": requested or None,
        "withdrawableAt": requested + delay if requested else None,
        "exitDelayS": delay,
        "checkpoints": reader.checkpoint_count(),
        "latestFinalized": None if finalized == NO_CHECKPOINT else finalized,
        "l1Time": reader.latest_block_time(),
    }


def _print_status(doc: dict[str, Any]) -> None:
    width = max(len(k) for k in doc)
    for key, value in doc.items():
        shown = f"{value} ({value / ETHER:g} ETH)" if key.endswith("Wei") else value
        print(f"{key.ljust(width)}  {shown}", flush=True)


def _send(account: RollupAccount, fn: Any, what: str, *, value: int = 0) -> Sent:
    sent = account._send(fn, Gas.CLAIM * 2, what, value=value, simulate=True)
    print(f"{what}: mined in tx {sent.tx_hash} (gas {sent.gas_used})", flush=True)
    return sent


def _cmd_status(args: argparse.Namespace) -> int:
    reader = RollupReader(args.l1_rpc, args.contract, timeout_s=args.l1_timeout)
    _print_status(status(reader))
    return 0


def _cmd_deposit(args: argparse.Namespace) -> int:
    if args.amount <= 0:
        raise InvalidInputError(f"--amount must be a positive number of wei, got {args.amount}")
    account = _account(args, "sequencer")
    _send(account, account.contract.functions.deposit(), "deposit", value=args.amount)
    _print_status(status(account))
    return 0


def _cmd_exit(args: argparse.Namespace) -> int:
    account = _account(args, "sequencer")
    _send(account, account.contract.functions.requestExit(), "requestExit")
    _print_status(status(account))
    return 0


def _cmd_withdraw(args: argparse.Namespace) -> int:
    account = _account(args, "sequencer")
    f = account.contract.functions
    _send(account, f.withdraw(), "withdraw")
    owed = int(account._call(f.credits(account.account.address).call))
    _send(account, f.claim(), f"claim {owed} wei")
    _print_status(status(account))
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    account = _account(args, "owner")
    _send(account, account.contract.functions.recover(), "recover")
    _print_status(status(account))
    return 0


def register(l1: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the bond commands under `attest l1`."""
    commands = (
        ("status", "the bond, the freeze, the exit and the checkpoints as L1 holds them", None),
        (
            "deposit",
            "add --amount wei to the sequencer's bond (re-bond after a freeze)",
            "sequencer",
        ),
        (
            "exit",
            "request the sequencer's exit: no more commits, bond withdrawable later",
            "sequencer",
        ),
        ("withdraw", "after the exit delay: withdraw the whole bond and claim it", "sequencer"),
        ("recover", "the owner lifts a freeze (after a re-bond and the receipt horizon)", "owner"),
    )
    handlers = {
        "status": _cmd_status,
        "deposit": _cmd_deposit,
        "exit": _cmd_exit,
        "withdraw": _cmd_withdraw,
        "recover": _cmd_recover,
    }
    for name, help_text, role in commands:
        p = l1.add_parser(name, help=help_text)
        p.add_argument("--l1-rpc", required=True, metavar="URL")
        p.add_argument("--contract", required=True, metavar="ADDR")
        p.add_argument("--l1-timeout", type=float, default=30.0, help="s per L1 call")
        if role is not None:
            add_key_arguments(p, role=role, plain_flag="--key-file")
            p.add_argument(
                "--l1-max-fee-gwei",
                type=float,
                default=500.0,
                help="ceiling of the max fee per gas, in gwei (default 500)",
            )
        if name == "deposit":
            p.add_argument("--amount", type=int, required=True, help="wei")
        p.set_defaults(handler=_one_line(handlers[name]))
