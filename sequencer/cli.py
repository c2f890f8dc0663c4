"""The `attest` command line. Each subcommand lives in the module that owns it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from sequencer import logs

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
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
    for register in _registrations():
        register(sub)
    return parser


def _registrations() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Subcommand registrars, one per module that owns a command."""
    from bench import suite
    from sequencer import devnet, service, verify
    from sequencer.validator import service as validator_service

    return [service.register, devnet.register, verify.register, suite.register, validator_service.register]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
