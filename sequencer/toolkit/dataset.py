"""`attest dataset commit` and `attest dataset prove`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import orjson

from prover.dataset_proof import DatasetProof, encode_dataset_proof, verify_dataset_proof
from prover.errors import NotIncludedError
from prover.light_client import encode_bundle, verify_anchor, verify_bundle_inclusion
from prover.wire import hex0x
from sequencer.client import Event
from sequencer.client.light import fetch_bundle
from sequencer.client.signing import subject_of
from sequencer.toolkit.common import (
    EXIT_CODES_HELP,
    EXIT_OK,
    UsageProblem,
    add_connection,
    add_signing,
    client_from_args,
    out,
    run,
    say,
)
from sequencer.toolkit.datatree import DEFAULT_HOME, build, open_dataset, sample_leaf
from sequencer.toolkit.fingerprint import UnreadableError
from sequencer.toolkit.submit import SUPERSEDES_HELP, meta_arg, print_accepted, supersedes_meta

KIND_DATASET: str = "dataset_hash"
MAX_INLINE_SAMPLE: int = 65_536
"""Samples up to this size travel inside the bundle; larger ones are named only."""


def dataset_subject(name: str) -> bytes:
    """The subject convention for datasets: keccak256("dataset:" + name)."""
    return subject_of("dataset:" + name)


def _home(args: argparse.Namespace) -> Path:
    return Path(os.path.expanduser(args.store))


@run
def cmd_commit(args: argparse.Namespace) -> int:
    if args.no_submit and args.supersedes is not None:
        raise UsageProblem(
            "--supersedes names the attestation this commit replaces: drop --no-submit"
        )
    tree = build(Path(args.path), args.name, _home(args))
    info = tree.info
    meta: dict[str, Any] = {
        "name": args.name,
        "samples": info.size,
        "sampleKind": info.samples,
        "leaf": "keccak256(0x00 || sample)",
    }
    extra = meta_arg(args.meta)
    if extra:
        meta = {**extra, **meta}
    if args.no_submit:
        result = {"root": hex0x(info.root), "size": info.size, "store": str(tree.directory)}
        out(result) if args.json else say(
            f"dataset {args.name}: root {hex0x(info.root)}, {info.size} samples (not submitted)"
        )
        return EXIT_OK
    subject = dataset_subject(args.name)
    with client_from_args(args, submit=True) as client:
        if args.supersedes is not None:
            meta = supersedes_meta(client, args.supersedes, meta, subject)
        accepted = client.submit(Event(KIND_DATASET, subject, info.root, meta))
        print_accepted(
            args,
            accepted,
            {"root": hex0x(info.root), "size": info.size, "store": str(tree.directory)},
        )
        if not args.json:
            say(
                f"dataset {args.name}: root {hex0x(info.root)}, {info.size} samples, kept in {tree.directory}"
            )
    return EXIT_OK


@run
def cmd_prove(args: argparse.Namespace) -> int:
    tree = open_dataset(args.dataset, _home(args))
    try:
        sample = Path(args.sample)
        leaf = sample_leaf(tree, sample)
        index = tree.find(leaf)
        inner = DatasetProof(
            name=tree.info.name,
            root=tree.info.root,
            size=tree.info.size,
            index=index,
            leaf_hash=leaf,
            proof=tuple(tree.prove(index)),
            sample=_inline(sample, tree.info.samples),
            sample_name=tree.name_of(index),
        )
    finally:
        tree.close()
    with client_from_args(args) as client:
        # The log record attesting this root: the latest dataset_hash record with that digest.
        seqs = list(client.find(digest=inner.root))
        events = [e for e in client.get_events(seqs) if e.kind == KIND_DATASET]
        if not events:
            raise NotIncludedError(
                f"no dataset_hash record with digest {hex0x(inner.root)} in the log"
            )
        event = events[-1]
        l1 = client.l1()
        assert l1 is not None
        cp = l1.choose(event.seq, allow_pending=args.allow_pending)
        bundle = fetch_bundle(client, event, cp)
    # Do not write what would not verify.
    verify_bundle_inclusion(bundle)
    verify_anchor(bundle)
    verify_dataset_proof(inner, bundle.record)
    doc = {**encode_bundle(bundle), "dataset": encode_dataset_proof(inner)}
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    try:
        Path(args.out).write_bytes(data)
    except OSError as exc:
        raise UnreadableError(f"cannot write {args.out}: {exc.strerror}") from None
    summary = {
        "out": args.out,
        "seq": bundle.seq,
        "index": index,
        "datasetRoot": hex0x(inner.root),
        "checkpoint": {"index": cp.index, "treeSize": cp.size},
    }
    out(summary) if args.json else say(
        f"wrote {args.out}: sample {index} of {inner.size} in dataset {inner.name} -> seq {bundle.seq} "
        f"-> checkpoint {cp.index} (tree size {cp.size})"
    )
    return EXIT_OK


def _inline(sample: Path, kind: str) -> bytes | None:
    try:
        if sample.stat().st_size > MAX_INLINE_SAMPLE:
            return None
        data = sample.read_bytes()
    except OSError as exc:
        raise UnreadableError(f"cannot read {sample}: {exc.strerror}") from None
    if kind == "lines":
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    return data


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("dataset", help="dataset trees, their attestations and membership proofs")
    ds = d.add_subparsers(dest="dataset_command", metavar="COMMAND", required=True)
    c = ds.add_parser(
        "commit",
        help="build an RFC 9162 tree over samples and attest its root",
        description="Samples are the lines of a file (JSONL or any text; without line "
        "terminators) or the files of a directory. The tree is kept under --store; its root "
        "is submitted as kind dataset_hash, subject keccak256('dataset:' + NAME).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("path", metavar="PATH|JSONL")
    c.add_argument("--name", required=True)
    c.add_argument("--meta", metavar="JSON|@FILE", help="more meta")
    c.add_argument(
        "--store",
        default=DEFAULT_HOME,
        metavar="DIR",
        help=f"where trees are kept (default {DEFAULT_HOME})",
    )
    c.add_argument("--no-submit", action="store_true", help="build the tree only")
    c.add_argument(
        "--supersedes",
        metavar="SEQ|LEAF",
        help=SUPERSEDES_HELP + " (the earlier commit of the same --name)",
    )
    add_signing(c)
    add_connection(c, l1=False)
    c.set_defaults(handler=cmd_commit)

    p = ds.add_parser(
        "prove",
        help="write a two-level bundle: sample -> dataset root -> log -> L1",
        description="Find SAMPLE (a file holding the sample: one line, or one file of the "
        "dataset) in the dataset with root --dataset and write a proof bundle that attest "
        "verify --bundle checks offline and against L1.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sample", metavar="SAMPLE")
    p.add_argument("--dataset", required=True, metavar="ROOT", help="the dataset's 0x root")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--store", default=DEFAULT_HOME, metavar="DIR")
    p.add_argument(
        "--allow-pending",
        action="store_true",
        help="anchor to a pending checkpoint if no final one covers it",
    )
    add_connection(p)
    p.set_defaults(handler=cmd_prove)
