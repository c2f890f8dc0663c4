"""The `attest` command line. Each subcommand lives in the module that owns it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Final

from prover.errors import InvalidInputError
from sequencer import logs

Handler = Callable[[argparse.Namespace], int]

OWNERS: Final[dict[str, str]] = {
    "serve": "sequencer.node.service",
    "openrpc": "sequencer.rpc.methods",
    "devnet": "sequencer.devnet.run",
    "l1": "sequencer.l1.deploy",
    "key": "sequencer.l1.keys",
    "verify": "sequencer.lightclient.cli",
    "proof": "sequencer.lightclient.cli",
    "validate": "sequencer.validator.service",
    "bench": "bench.suite",
}
"""Each command and the module whose `register(sub)` adds it.

Only the owner of the command being run is imported: the others pull in web3, eth-account or
eth-tester, which would add about a second to every start (`attest verify` is run by scripts).
`attest --help` imports them all.
"""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attest",
        description="attest-rollup: a high-throughput attestation sequencer anchored on Ethereum.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="text: key=value context after the message; json: one object per line",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = next((a for a in (argv or ()) if a in OWNERS), None)
    owners = [OWNERS[command]] if command else list(dict.fromkeys(OWNERS.values()))
    for name in owners:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(args_in)
    args = parser.parse_args(args_in)
    logs.configure(args.log_level, args.log_format)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except InvalidInputError as exc:
        # A wrong flag, file or value: one line naming it, no traceback; exit 2, as argparse.
        print(f"attest {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
