"""The `attest` command line. Each subcommand lives in the module that owns it."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final, NoReturn

from prover.errors import InvalidInputError, UsageError
from sequencer import logs

Handler = Callable[[argparse.Namespace], int]

USER_ERRORS: Final = (InvalidInputError, UsageError)
"""What a user can get wrong (a flag, a key file, the config file, a busy port): `main` prints
one line and exits `EXIT_USAGE`. Anything else is a bug and keeps its traceback."""

EXIT_USAGE: Final[int] = 2
"""argparse's own exit code for a usage error, kept for ours."""
EXIT_BROKEN_PIPE: Final[int] = 141
"""stdout's reader went away: 128 + SIGPIPE, what a shell reports for a tool SIGPIPE killed."""

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
    "db": "sequencer.db",
    "token": "sequencer.config",
    "submit": "sequencer.toolkit.submit",
    "revoke": "sequencer.toolkit.submit",
    "model": "sequencer.toolkit.model",
    "dataset": "sequencer.toolkit.dataset",
    "check": "sequencer.toolkit.check",
    "force": "sequencer.toolkit.force",
}
"""Each command and the module whose `register(sub)` adds it.

Only the owner of the command being run is imported: the others pull in web3, eth-account or
eth-tester, which would add about a second to every start (`attest verify` is run by scripts).
`attest --help` imports them all.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a usage error as one line like every other user error: the usage
    block it would print first is one ``--help`` away, and scripts read one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="attest",
        description="attest-rollup: a high-throughput attestation sequencer anchored on Ethereum.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text: key=value context after the message; json: one object per line",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = next((a for a in (argv or ()) if a in OWNERS), None)
    owners = [OWNERS[command]] if command else list(dict.fromkeys(OWNERS.values()))
    for name in owners:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A client-only install (`pip install attest-rollup`) lacks the server's packages;
            # its commands say so instead of failing `attest --help`.
            if command:
                raise UsageError(
                    f"attest {command} needs {exc.name}: pip install 'attest-rollup[server]'"
                ) from None
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(args_in)
    except USER_ERRORS as exc:
        return _report(exc)
    args = parser.parse_args(args_in)
    logs.configure(args.log_level, args.log_format)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except BrokenPipeError:
        return _reader_gone()
    except USER_ERRORS as exc:
        return _report(exc)
    except BaseExceptionGroup as group:
        # A service that fails while starting (a busy port) fails inside trio's nurseries.
        user, bugs = group.split(USER_ERRORS)
        if user is None or bugs is not None:
            raise
        return _report(_first_leaf(user))


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _reader_gone() -> int:
    """The reader of stdout went away (`attest l1 status | grep -q frozen`, `| head`): it has
    what it wanted. Stop quietly, as a tool killed by SIGPIPE does (exit 141), with stdout
    pointed at /dev/null so the interpreter's last flush finds no broken pipe either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def _report(exc: BaseException) -> int:
    """One line on stderr. The messages of `USER_ERRORS` name what was wrong and never hold a
    secret (key files are refused without quoting them)."""
    message = " ".join(str(exc).split())  # one line, whatever the message held
    sys.stderr.write(f"attest: error: {message}\n")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
