"""`attest proof export`: save an event's record and proofs as a bundle that `attest verify
--bundle` checks offline (and against L1 when given one)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from prover.errors import AttestError, NotFinalError
from prover.light_client import CheckpointRef, encode_bundle, verify_anchor, verify_bundle_inclusion
from sequencer.config import sequencer_url_type
from sequencer.lightclient.fetch import L1Reader, fetch_bundle, l1_target
from sequencer.lightclient.output import EXIT_CODES_HELP, EXIT_OK, fail, usage
from sequencer.lightclient.state import write_atomically
from sequencer.rpc.client import RpcClient


def _parse_which(value: str) -> str | int:
    if value in ("latest", "finalized", "none"):
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be latest, finalized, none or a checkpoint index, got {value!r}"
        ) from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"checkpoint index must be >= 0, got {n}")
    return n


def cmd_export(args: argparse.Namespace) -> int:
    try:
        with RpcClient(args.rpc, timeout=args.timeout) as client:
            target = l1_target(args, client)
            l1 = (
                L1Reader(target.url, target.contract, timeout=args.timeout, block=args.l1_block)
                if target is not None
                else None
            )
            which: str | int = args.checkpoint
            anchor: CheckpointRef | None = None
            if which != "none":
                if l1 is None:
                    return usage(
                        args,
                        "no L1 known to anchor the bundle: pass --l1-rpc and --contract, "
                        "or --checkpoint none for a bundle of the current tree only",
                    )
                if which == "finalized":
                    cp = l1.choose(args.seq, allow_pending=False)
                elif which == "latest":
                    cp = l1.choose(args.seq, allow_pending=True)
                else:
                    assert isinstance(which, int)
                    cp = l1.checkpoint(which)
                    if cp.size <= args.seq:
                        raise NotFinalError(
                            f"checkpoint {which} (size {cp.size}) does not cover seq {args.seq}"
                        )
                anchor = CheckpointRef(cp.index, cp.size, cp.root)
            bundle = fetch_bundle(client, args.seq, anchor, l1)
        # Do not save what would not verify.
        verify_bundle_inclusion(bundle)
        if bundle.checkpoint is not None:
            verify_anchor(bundle)
    except AttestError as exc:
        return fail(args, exc, args.seq)
    data = orjson.dumps(encode_bundle(bundle), option=orjson.OPT_INDENT_2) + b"\n"
    if args.output == "-":
        sys.stdout.write(data.decode())
    else:
        write_atomically(Path(args.output), data)
        cp_text = (
            "no checkpoint"
            if bundle.checkpoint is None
            else f"checkpoint {bundle.checkpoint.index} (tree size {bundle.checkpoint.size})"
        )
        sys.stderr.write(f"wrote {args.output}: seq {bundle.seq} under {cp_text}\n")
    return EXIT_OK


def register_export(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `proof export` to the `attest` command line."""
    proof = sub.add_parser("proof", help="proof bundles for offline verification")
    proof_sub = proof.add_subparsers(dest="proof_command", metavar="COMMAND", required=True)
    e = proof_sub.add_parser(
        "export",
        help="save an event's record and proofs as a JSON bundle",
        description="Save everything `attest verify --bundle` needs to verify one event offline.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument(
        "--rpc",
        required=True,
        metavar="URL",
        type=sequencer_url_type("--rpc"),
        help="any sequencer or follower",
    )
    e.add_argument("--seq", type=int, required=True, help="position of the event")
    e.add_argument(
        "--checkpoint",
        type=_parse_which,
        default="finalized",
        help="finalized (default), latest, an index, or none (current tree only)",
    )
    e.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="bundle file, or - for stdout"
    )
    common(e)
    e.set_defaults(handler=cmd_export)
