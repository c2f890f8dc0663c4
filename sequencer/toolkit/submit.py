"""`attest submit` and `attest revoke`: events from flags or a JSONL stream, signed with a key
or sent with a token, each answer's receipt verified before it is printed."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from prover.errors import AttestError, InvalidFieldError, InvalidInputError, NotIncludedError
from prover.wire import hex0x, parse_uint
from sequencer.client import Client, Event
from sequencer.client.receipts import Accepted
from sequencer.client.results import KIND_REVOCATION, SUPERSEDES_KEY
from sequencer.client.signing import hash32_arg, subject_of
from sequencer.toolkit.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    MalformedInputError,
    UsageProblem,
    add_connection,
    add_signing,
    client_from_args,
    fail,
    out,
    run,
    say,
)
from sequencer.toolkit.fingerprint import UnreadableError, hash_file


def subject_arg(value: str) -> bytes:
    """--subject: 0x + 64 hex digits as they are, anything else as keccak256 of its UTF-8."""
    if value.startswith(("0x", "0X")) and len(value) == 66:
        return hash32_arg(value, "--subject")
    return subject_of(value)


def meta_arg(value: str | None) -> dict[str, Any] | None:
    """--meta: a JSON object, or @FILE holding one."""
    if value is None:
        return None
    text: bytes
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_bytes()
        except OSError as exc:
            raise UnreadableError(f"cannot read meta file {value[1:]}: {exc.strerror}") from None
    else:
        text = value.encode()
    try:
        meta = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedInputError(f"--meta is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise MalformedInputError(f"--meta must be a JSON object, got {type(meta).__name__}")
    return meta


def print_accepted(
    args: argparse.Namespace, a: Accepted, extra: dict[str, Any] | None = None
) -> None:
    if args.json:
        out({**a.to_json(), **(extra or {})})
    else:
        r = a.receipt
        say(
            f"seq {a.seq} leaf {hex0x(a.leaf_hash)} receipt firstSeq {r.first_seq} count {r.count} "
            f"deadline {r.deadline} verified" + (" (duplicate)" if a.duplicate else "")
        )


SUPERSEDES_HELP = (
    "the attestation this one replaces (docs/spec.md §13): its seq, or its 0x leaf hash; it "
    "must have the same subject (and, to count, the same submitter)"
)


def supersedes_meta(
    client: Client, which: str | int, meta: dict[str, Any] | None, subject: bytes
) -> dict[str, Any]:
    """Meta naming the record `which` (a seq, or a 0x leaf hash looked up among the records
    of `subject`) as superseded; it must have the same subject."""
    text = str(which).strip()
    if text.isdigit():
        old = client.get_event(int(text))
        if old.subject != subject:
            raise UsageProblem(
                f"--supersedes {text}: that record has subject {hex0x(old.subject)}, "
                f"not {hex0x(subject)}"
            )
    else:
        try:
            leaf = hash32_arg(text, "--supersedes")
        except InvalidInputError:
            raise UsageProblem(
                f"--supersedes {text[:80]!r}: give a seq (a number) or a 0x leaf hash "
                "(32 bytes of hex)"
            ) from None
        seqs = list(client.find(subject=subject))
        found = [
            e
            for i in range(0, len(seqs), 1000)
            for e in client.get_events(seqs[i : i + 1000])
            if e.leaf_hash == leaf
        ]
        if not found:
            raise NotIncludedError(
                f"--supersedes {hex0x(leaf)}: no record with that leaf hash among the "
                f"{len(seqs)} record(s) with subject {hex0x(subject)}"
            )
        old = found[0]
    return {**(meta or {}), SUPERSEDES_KEY: hex0x(old.leaf_hash)}


@run
def cmd_submit(args: argparse.Namespace) -> int:
    if args.jsonl is not None:
        if any(v is not None for v in (args.kind, args.subject, args.digest, args.file, args.meta)):
            raise UsageProblem(
                "--jsonl takes events from the file; drop --kind/--subject/--digest/--file/--meta"
            )
        return _submit_stream(args)
    if args.kind is None or args.subject is None or (args.digest is None) == (args.file is None):
        raise UsageProblem("give --kind, --subject and one of --digest or --file (or --jsonl FILE)")
    digest = hash32_arg(args.digest, "--digest") if args.digest else hash_file(Path(args.file))[0]
    subject = subject_arg(args.subject)
    meta = meta_arg(args.meta)
    with client_from_args(args, submit=True) as client:
        if args.supersedes is not None:
            meta = supersedes_meta(client, args.supersedes, meta, subject)
        accepted = client.submit(Event(args.kind, subject, digest, meta, args.nonce))
        print_accepted(args, accepted)
    return EXIT_OK


def _events_from(lines: Any) -> Any:
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedInputError(f"line {n}: not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise MalformedInputError(f"line {n}: must be a JSON object")
        unknown = set(obj) - {"kind", "subject", "digest", "meta", "nonce"}
        if unknown:
            raise MalformedInputError(f"line {n}: unknown field {sorted(unknown)[0]!r}")
        try:
            kind, subject, digest = obj["kind"], obj["subject"], obj["digest"]
            if (
                not isinstance(kind, str)
                or not isinstance(subject, str)
                or not isinstance(digest, str)
            ):
                raise MalformedInputError(f"line {n}: kind, subject and digest must be strings")
            nonce = None if obj.get("nonce") is None else parse_uint(obj["nonce"], "nonce")
            ev = Event(
                kind, subject_arg(subject), hash32_arg(digest, "digest"), obj.get("meta"), nonce
            )
        except KeyError as exc:
            raise MalformedInputError(f"line {n}: missing {exc.args[0]!r}") from None
        except InvalidFieldError as exc:
            raise MalformedInputError(f"line {n}: {exc}") from None
        yield ev


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal, or forced)."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, n: int, failed: int = 0) -> None:
        with self._lock:
            self.done += n
            self.failed += failed
            now = time.monotonic()
            if self.enabled and now - self._last > 0.2:
                self._last = now
                self.draw()

    def draw(self, end: str = "") -> None:
        rate = self.done / max(time.monotonic() - self.start, 1e-9)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            text = f"[{bar}] {self.done}/{self.total}"
        else:
            text = f"{self.done} events"
        sys.stderr.write(f"\r{text}  {rate:,.0f} ev/s  failed {self.failed}{end}")
        sys.stderr.flush()


def _submit_stream(args: argparse.Namespace) -> int:
    if args.jsonl == "-":
        source: Any = sys.stdin.buffer
        total = None
    else:
        try:
            source = open(args.jsonl, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UnreadableError(f"cannot read {args.jsonl}: {exc.strerror}") from None
        with open(args.jsonl, "rb") as f:
            total = sum(1 for line in f if line.strip())
    progress = Progress(total, args.progress or (sys.stderr.isatty() and not args.json))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def accepted(batch: list[Accepted]) -> None:
        with lock:
            for a in batch:
                print_accepted(args, a)
        progress.add(len(batch))

    def failed(events: Any, exc: BaseException) -> None:
        errors.append(exc)
        progress.add(0, len(events))

    try:
        with (
            client_from_args(args, submit=True) as client,
            client.batcher(
                max_events=args.batch, max_delay=0.05, on_accepted=accepted, on_error=failed
            ) as batcher,
        ):
            for ev in _events_from(source):
                batcher.add(ev)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if progress.enabled:
        progress.draw("\n")
    if errors:
        worst = errors[0]
        sys.stderr.write(f"attest submit: {progress.failed} event(s) not accepted\n")
        if not isinstance(worst, AttestError):
            raise worst  # not a verdict: a bug, with its traceback
        return fail(args, worst)
    return EXIT_OK


@run
def cmd_revoke(args: argparse.Namespace) -> int:
    with client_from_args(args, submit=True) as client:
        target = client.get_event(args.seq)
        if target.kind == KIND_REVOCATION:
            raise UsageProblem(f"seq {args.seq} is itself a revocation")
        if client.signer is not None and client.signer.address != target.submitter:
            raise UsageProblem(
                f"seq {args.seq} was submitted by {hex0x(target.submitter)}; only that submitter can "
                f"revoke it (this key is {hex0x(client.signer.address)})"
            )
        meta: dict[str, Any] = {"revokes": args.seq}
        if args.reason:
            meta["reason"] = args.reason
        accepted = client.submit(Event(KIND_REVOCATION, target.subject, target.leaf_hash, meta))
        mine = client.get_event(accepted.seq)
        if mine.submitter != target.submitter:
            # A token bound to another address: the revocation is in the log but counts for nothing.
            raise UsageProblem(
                f"the revocation (seq {accepted.seq}) was recorded for {hex0x(mine.submitter)}, "
                f"not the revoked record's submitter {hex0x(target.submitter)}: it does not count"
            )
        print_accepted(args, accepted, {"revokes": args.seq})
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "submit",
        help="submit events (one from flags, or a JSONL stream)",
        description="Submit one event from flags, or a stream of events from --jsonl FILE (or - "
        "for stdin: one JSON object a line with kind, subject, digest, meta?, nonce?). Each "
        "receipt is verified before the event is printed as accepted.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kind", help="kind name, e.g. model_fingerprint")
    p.add_argument("--subject", help="0x + 64 hex digits, or a name (hashed with keccak256)")
    p.add_argument("--digest", metavar="HEX", help="0x + 64 hex digits")
    p.add_argument("--file", metavar="PATH", help="digest = SHA-256 of this file")
    p.add_argument("--meta", metavar="JSON|@FILE", help="meta object, inline or from a file")
    p.add_argument(
        "--nonce", type=int, default=None, help="nonce (signed events; default: clock-based)"
    )
    p.add_argument("--supersedes", metavar="SEQ|LEAF", help=SUPERSEDES_HELP)
    p.add_argument(
        "--jsonl", metavar="FILE|-", help="submit every event of a JSONL file (- = stdin)"
    )
    p.add_argument(
        "--batch", type=int, default=1000, help="events per batch with --jsonl (default 1000)"
    )
    p.add_argument(
        "--progress", action="store_true", help="draw the progress bar even when not a tty"
    )
    add_signing(p)
    add_connection(p, l1=False)
    p.set_defaults(handler=cmd_submit)

    r = sub.add_parser(
        "revoke",
        help="revoke one of your attestations",
        description="Append a `revocation` event whose digest is the leaf hash of the record at "
        "--seq, by the same submitter (same key, or a token bound to the same address).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--seq", type=int, required=True, help="seq of the record to revoke")
    r.add_argument("--reason", help="why (kept in the revocation's meta)")
    add_signing(r)
    add_connection(r, l1=False)
    r.set_defaults(handler=cmd_revoke)
