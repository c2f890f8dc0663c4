"""`attest model fingerprint` and `attest model attest`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from prover.wire import hex0x
from sequencer.client import Event
from sequencer.client.signing import hash32_arg, subject_of
from sequencer.toolkit.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    MalformedInputError,
    UsageProblem,
    add_connection,
    add_signing,
    client_from_args,
    out,
    run,
    say,
)
from sequencer.toolkit.fingerprint import Fingerprint, UnreadableError, fingerprint, parse_manifest
from sequencer.toolkit.submit import SUPERSEDES_HELP, meta_arg, print_accepted, supersedes_meta

KIND_MODEL: str = "model_fingerprint"


def model_subject(name: str) -> bytes:
    """The subject convention for models: keccak256("model:" + name)."""
    return subject_of("model:" + name)


def _write(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.write(data.decode())
        return
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise UnreadableError(f"cannot write {path}: {exc.strerror}") from None


def _fingerprint_of(args: argparse.Namespace) -> Fingerprint:
    if getattr(args, "manifest", None):
        try:
            raw = Path(args.manifest).read_bytes()
        except OSError as exc:
            raise UnreadableError(f"cannot read manifest {args.manifest}: {exc.strerror}") from None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedInputError(f"manifest {args.manifest} is not JSON: {exc}") from None
        fp = parse_manifest(obj)
        if args.path is not None:
            now = fingerprint(args.path, name=fp.name)
            if now.root != fp.root:
                raise MalformedInputError(
                    f"{args.path} no longer matches manifest {args.manifest} (root "
                    f"{now.root.hex()} vs {fp.root.hex()})"
                )
        return fp
    if args.path is None:
        raise UsageProblem("give PATH (or --manifest FILE)")
    return fingerprint(args.path, name=getattr(args, "model_name", None))


@run
def cmd_fingerprint(args: argparse.Namespace) -> int:
    fp = fingerprint(args.path, name=args.model_name)
    data = orjson.dumps(fp.manifest(), option=orjson.OPT_INDENT_2) + b"\n"
    out_path = args.out or f"{fp.name}.manifest.json"
    _write(out_path, data)
    if args.json:
        out(
            {
                "digest": hex0x(fp.root),
                "sha256": fp.root.hex(),
                "files": len(fp.resources),
                "bytes": fp.total_bytes,
                "manifest": out_path,
            }
        )
    else:
        say(
            f"0x{fp.root.hex()}  {len(fp.resources)} file(s), {fp.total_bytes} bytes; manifest {out_path}"
        )
    return EXIT_OK


@run
def cmd_attest(args: argparse.Namespace) -> int:
    fp = _fingerprint_of(args)
    meta: dict[str, Any] = {
        "name": args.name,
        "version": args.version,
        "manifest": {
            "format": "model-signing/v1.0",
            "hashType": "sha256",
            "files": len(fp.resources),
        },
    }
    if args.dataset is not None:
        meta["dataset"] = hex0x(hash32_arg(args.dataset, "--dataset"))
    extra = meta_arg(args.meta)
    if extra:
        meta = {**extra, **meta}
    subject = model_subject(args.name)
    with client_from_args(args, submit=True) as client:
        if args.supersedes is not None:
            meta = supersedes_meta(client, args.supersedes, meta, subject)
        accepted = client.submit(Event(KIND_MODEL, subject, fp.root, meta))
        print_accepted(args, accepted, {"digest": hex0x(fp.root), "subject": hex0x(subject)})
        if not args.json:
            say(
                f"model {args.name} {args.version}: digest 0x{fp.root.hex()} subject {hex0x(subject)}"
            )
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    m = sub.add_parser("model", help="model fingerprints and their attestations")
    ms = m.add_subparsers(dest="model_command", metavar="COMMAND", required=True)
    f = ms.add_parser(
        "fingerprint",
        help="write a manifest of per-file SHA-256 digests and print its digest",
        description="Hash every file of a model (a file or a directory, streamed) into an "
        "OpenSSF model-signing v1.0 style manifest; print the root digest that attest model "
        "attest records.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("path", metavar="PATH")
    f.add_argument(
        "--out", metavar="FILE", help="manifest file (default NAME.manifest.json; - for stdout)"
    )
    f.add_argument(
        "--model-name", metavar="NAME", help="name in the manifest (default: the path's name)"
    )
    f.add_argument("--json", action="store_true", help="machine-readable output")
    f.set_defaults(handler=cmd_fingerprint)

    a = ms.add_parser(
        "attest",
        help="attest a model's fingerprint as model_fingerprint",
        description="Fingerprint PATH (or take --manifest) and submit kind model_fingerprint, "
        "subject keccak256('model:' + NAME), digest the manifest root, meta {name, version, "
        "dataset?, manifest}.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument("path", metavar="PATH", nargs="?")
    a.add_argument("--name", required=True)
    a.add_argument("--version", required=True)
    a.add_argument("--dataset", metavar="DIGEST", help="root of the dataset it was trained on")
    a.add_argument("--meta", metavar="JSON|@FILE", help="more meta (name/version/dataset win)")
    a.add_argument(
        "--manifest", metavar="FILE", help="use this manifest (checked against PATH if given)"
    )
    a.add_argument("--supersedes", metavar="SEQ|LEAF", help=SUPERSEDES_HELP)
    add_signing(a)
    add_connection(a, l1=False)
    a.set_defaults(handler=cmd_attest)
