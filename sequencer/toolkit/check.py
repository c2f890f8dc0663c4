"""`attest check`: the CI gate. Exit 0 only when (subject, digest) is attested, verified against
L1 through the light client, final (or pending with --allow-pending), by an accepted signer,
and neither revoked nor superseded; every matching record is considered (paging through the
subject's whole history), revocations included. Exit codes: `sequencer.toolkit.common`."""

from __future__ import annotations

import argparse

from prover.wire import hex0x, parse_address
from sequencer.client.signing import hash32_arg
from sequencer.toolkit.common import (
    EXIT_CODES_HELP,
    OUTCOME_CODES,
    add_connection,
    client_from_args,
    out,
    run,
    say,
)
from sequencer.toolkit.submit import subject_arg


@run
def cmd_check(args: argparse.Namespace) -> int:
    subject = subject_arg(args.subject)
    digest = hash32_arg(args.digest, "--digest")
    signers = [parse_address(s, "--signer") for s in args.signer or ()]
    with client_from_args(args) as client:
        result = client.check(
            subject, digest, kind=args.kind, signers=signers, allow_pending=args.allow_pending
        )
    code = OUTCOME_CODES[result.outcome]
    if args.json:
        out({**result.to_json(), "exitCode": code})
    else:
        head = "OK" if code == 0 else f"FAILED ({code}, {result.outcome.value})"
        say(f"{head}: {result.message}")
        if result.attested is not None:
            ev = result.attested.event
            say(f"  subject {hex0x(ev.subject)} digest {hex0x(ev.digest)} kind {ev.kind}")
            if ev.meta is not None:
                say(f"  meta {ev.meta}")
            for n in result.attested.notes:
                say(f"  note: {n}")
        for c in result.candidates[1:] if result.attested is not None else result.candidates:
            say(f"  seq {c.event.seq}: {c.outcome.value}: {c.message}")
    return code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="CI gate: is this digest attested for this subject, final and not revoked?",
        description="Verify through the light client, against L1, every record with --subject and "
        "--digest (and --kind); pass when one is final (or pending with --allow-pending), by an "
        "accepted --signer, and neither revoked nor superseded.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--subject", required=True, help="0x + 64 hex digits, or a name such as model:NAME"
    )
    p.add_argument("--digest", required=True, metavar="HEX")
    p.add_argument("--kind", help="only records of this kind")
    p.add_argument(
        "--signer", action="append", metavar="ADDR", help="accepted submitter (repeatable)"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--final", action="store_true", help="require a final checkpoint (the default)")
    g.add_argument("--allow-pending", action="store_true", help="accept a pending checkpoint")
    add_connection(p)
    p.set_defaults(handler=cmd_check)
