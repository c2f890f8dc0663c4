"""`attest force`: post one event to the rollup's L1 inbox and wait until it is in the log.

The way around a sequencer that refuses your events (docs/spec.md §7.3): the event goes to
L1 (`postForced`, paid from the `--key-file` account, which becomes the record's submitter),
the sequencer must log it within the contract's `forceInclusionWindow` or stop committing,
and this command waits until the sequencer serves it *and* L1 recorded the commit that proved
it, then prints its seq and its inclusion proof against that checkpoint.
"""

from __future__ import annotations

import argparse

from prover.record import encode_kind
from prover.wire import hex0x
from sequencer.client.forced import ForcedPost, force
from sequencer.client.signing import hash32_arg, key_file_signer
from sequencer.toolkit.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    UsageProblem,
    add_connection,
    client_from_args,
    out,
    run,
    say,
)
from sequencer.toolkit.submit import meta_arg, subject_arg


@run
def cmd_force(args: argparse.Namespace) -> int:
    if not args.key_file:
        raise UsageProblem("give --key-file FILE: the L1 account that posts and pays")
    if not args.l1_rpc or not args.contract:
        raise UsageProblem(
            "give --l1-rpc URL and --contract ADDR (or ATTEST_L1_RPC, ATTEST_CONTRACT)"
        )
    if not args.kind or not args.subject or not args.digest:
        raise UsageProblem("give --kind, --subject and --digest")
    signer = key_file_signer(args.key_file)
    kind = encode_kind(args.kind)
    subject = subject_arg(args.subject)
    digest = hash32_arg(args.digest, "--digest")
    meta = meta_arg(args.meta)

    def posted(post: ForcedPost) -> None:
        if not args.json:
            say(
                f"posted forced event {post.entry.index} on L1 (tx {post.tx_hash}); "
                f"the sequencer must log it by L1 time {post.deadline}"
            )

    with client_from_args(args) as client:
        done = force(
            client,
            args.l1_rpc,
            args.contract,
            signer,
            kind,
            subject,
            digest,
            meta,
            timeout=args.wait,
            on_posted=posted,
        )
    post = done.post
    answer = {
        "index": post.entry.index,
        "seq": done.seq,
        "checkpoint": done.checkpoint,
        "postTx": post.tx_hash,
        "submitter": hex0x(post.entry.poster),
        "proof": done.proof,
    }
    if args.json:
        out(answer)
    else:
        say(
            f"included: seq {done.seq}, proven on L1 by checkpoint {done.checkpoint} "
            f"(root {done.proof['root']})"
        )
        out(done.proof)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "force",
        help="post an event to the L1 inbox and wait until the sequencer logs it",
        description="Forced inclusion (docs/spec.md §7.3): post (kind, subject, digest, "
        "meta hash) to the rollup contract's inbox from --key-file's account, paying the "
        "contract's fee, then wait until the sequencer has logged it and L1 checked the "
        "inclusion; print the seq and the inclusion proof. A sequencer that ignores the inbox "
        "cannot commit after the deadline.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kind", help="kind name, e.g. regulator_report")
    p.add_argument("--subject", help="0x + 64 hex digits, or a name (hashed with keccak256)")
    p.add_argument("--digest", metavar="HEX", help="0x + 64 hex digits")
    p.add_argument("--meta", metavar="JSON|@FILE", help="meta object (only its hash goes to L1)")
    p.add_argument(
        "--key-file", metavar="FILE", help="0x-hex private key of the posting L1 account"
    )
    p.add_argument(
        "--wait", type=float, default=300.0, help="seconds to wait for the inclusion (default 300)"
    )
    add_connection(p, l1_from_server=False)  # L1 is where the post goes: no fallback
    p.set_defaults(handler=cmd_force, state="none")
