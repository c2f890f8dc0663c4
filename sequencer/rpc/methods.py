"""The method table of docs/spec.md §10: parameters for dispatch, and the OpenRPC document.

`docs/openrpc.json` is `build_openrpc(...)` written out (`attest openrpc > docs/openrpc.json`);
a test keeps the two equal.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

import orjson

from sequencer.rpc import errors as rpc_errors
from sequencer.rpc.jsonrpc import BatchCap, Dispatcher, Param, RpcContext

OPENRPC_VERSION: Final = "1.3.2"
API_VERSION: Final = "1.0.0"

_HEX32: Final = {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}
_HEX: Final = {"type": "string", "pattern": "^0x[0-9a-fA-F]*$"}
_UINT: Final = {"type": "integer", "minimum": 0}
_PROOF: Final = {"type": "array", "items": _HEX32, "description": "RFC 9162 proof, leaf side first"}

SCHEMAS: Final[dict[str, Any]] = {
    "Event": {
        "type": "object",
        "description": "An event to attest (docs/spec.md §3, §10.3). Signed events carry `submitter`, "
        "`nonce` and an EIP-712 `signature`; unsigned ones need a bearer token.",
        "required": ["kind", "subject", "digest"],
        "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "pattern": "^[a-z0-9_.-]{1,32}$"},
            "subject": _HEX32,
            "digest": _HEX32,
            "meta": {"type": "object", "description": "at most 1 KiB as RFC 8785 JSON"},
            "nonce": {"oneOf": [_UINT, {"type": "string"}], "description": "uint64"},
            "submitter": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
            "signature": {"type": "string", "pattern": "^0x[0-9a-fA-F]{130}$"},
        },
    },
    "Receipt": {
        "type": "object",
        "description": "EIP-712 Receipt(uint64 firstSeq,uint64 count,bytes32 leavesRoot,"
        "uint64 deadline) signed by `sequencer` (docs/spec.md §5).",
        "properties": {
            "firstSeq": _UINT,
            "count": _UINT,
            "leavesRoot": _HEX32,
            "deadline": _UINT,
            "signature": _HEX,
            "sequencer": _HEX,
        },
    },
    "Placement": {
        "type": "object",
        "description": "One event's share of a receipt: its seq and its audit path to leavesRoot.",
        "properties": {
            "seq": _UINT,
            "leafHash": _HEX32,
            "index": _UINT,
            "path": _PROOF,
            "duplicate": {"type": "boolean"},
            "receipt": {"$ref": "#/components/schemas/Receipt"},
        },
    },
    "Forced": {
        "type": "object",
        "description": "An L1 inbox entry (docs/spec.md §7.3) and whether the log has it.",
        "properties": {
            "index": _UINT,
            "poster": _HEX,
            "kind": _HEX32,
            "subject": _HEX32,
            "digest": _HEX32,
            "metaHash": _HEX32,
            "postedAt": _UINT,
            "deadline": _UINT,
            "status": {"enum": ["posted", "included", "overdue"]},
            "seq": {"type": ["integer", "null"]},
            "provenAt": {"type": ["object", "null"]},
        },
    },
    "Checkpoint": {
        "type": ["object", "null"],
        "properties": {
            "index": _UINT,
            "treeSize": _UINT,
            "root": _HEX32,
            "committedAt": _UINT,
            "challengeEnds": _UINT,
            "status": {"enum": ["pending", "final", "reverted"]},
            "l1Tx": _HEX,
        },
    },
}


def _page_params(before: str) -> tuple[Param, ...]:
    """`before` (exclusive, default: the newest) and `limit` (1..100) of a paged list."""
    return (
        Param("before", (int, str, type(None)), required=False, description=before),
        Param("limit", (int, str), required=False, default=20, description="1..100"),
    )


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_CHECKPOINT_SELECTOR: Final = Param(
    "checkpoint",
    (str, int),
    required=False,
    default="latest",
    description='"latest", "finalized" or a checkpoint index',
)

# name -> (params, summary, result schema)
METHODS: Final[dict[str, tuple[tuple[Param, ...], str, dict[str, Any]]]] = {
    "attest_submit": (
        (Param("event", (dict,), description="the event object"),),
        "Submit one event; the answer comes once it is durable, with a signed receipt.",
        {
            "type": "object",
            "allOf": [_ref("Placement")],
            "properties": {"receipt": _ref("Receipt")},
        },
    ),
    "attest_submitBatch": (
        (Param("events", (list,), description="event objects; rejected whole if any is bad"),),
        "Submit many events at once: one receipt, and each event's seq, leaf hash and path.",
        {
            "type": "object",
            "properties": {
                "receipt": _ref("Receipt"),
                "events": {"type": "array", "items": _ref("Placement")},
            },
        },
    ),
    "attest_getEvent": (
        (Param("seq", (int, str), description="position in the log"),),
        "One event: its fields, meta, the raw record, its leaf hash and block.",
        {"type": "object"},
    ),
    "attest_getProof": (
        (
            Param("seq", (int, str)),
            Param(
                "options",
                (dict,),
                required=False,
                description='{"checkpoint": "latest" | "finalized" | index}; '
                "without it, the proof is against the current tree",
            ),
        ),
        "Inclusion proof of one event, against the current tree or an L1 checkpoint.",
        {
            "type": "object",
            "properties": {
                "seq": _UINT,
                "record": _HEX,
                "leafHash": _HEX32,
                "treeSize": _UINT,
                "root": _HEX32,
                "proof": _PROOF,
                "checkpoint": _ref("Checkpoint"),
            },
        },
    ),
    "attest_getConsistencyProof": (
        (Param("first", (int, str)), Param("second", (int, str))),
        "RFC 9162 consistency proof between two tree sizes.",
        {
            "type": "object",
            "properties": {
                "first": _UINT,
                "second": _UINT,
                "firstRoot": _HEX32,
                "secondRoot": _HEX32,
                "proof": _PROOF,
            },
        },
    ),
    "attest_getCheckpoint": (
        (_CHECKPOINT_SELECTOR,),
        "An L1 checkpoint as the sequencer recorded it (null while no L1 is attached).",
        _ref("Checkpoint"),
    ),
    "attest_getForced": (
        (Param("index", (int, str), description="inbox index of the forced event"),),
        "A forced event of the L1 inbox: posted, included at a seq, or overdue (sequencer only).",
        _ref("Forced"),
    ),
    "attest_getBlock": (
        (
            Param(
                "number",
                (int, str),
                required=False,
                default="latest",
                description='block number or "latest"',
            ),
            Param(
                "full",
                (bool, str),
                required=False,
                default=False,
                description="true: include the block's events; \"records\": its records' hex "
                "and metas instead (the compact form followers replicate from)",
            ),
        ),
        'A sealed block header; with full=true its events, with full="records" its records\' '
        "hex and metas, and either way from the sequencer its block receipt (docs/spec.md §6).",
        {"type": "object"},
    ),
    "attest_findByDigest": (
        (
            Param("digest", (str,)),
            Param(
                "paging", (dict,), required=False, description='{"after": seq, "limit": n <= 1000}'
            ),
        ),
        "Seqs of events with this digest, ascending; `next` pages on.",
        {
            "type": "object",
            "properties": {
                "seqs": {"type": "array", "items": _UINT},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "attest_findBySubject": (
        (
            Param("subject", (str,)),
            Param(
                "paging", (dict,), required=False, description='{"after": seq, "limit": n <= 1000}'
            ),
        ),
        "Seqs of events about this subject, ascending; `next` pages on.",
        {
            "type": "object",
            "properties": {
                "seqs": {"type": "array", "items": _UINT},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "attest_findByLeafHash": (
        (
            Param("leafHash", (str,)),
            Param(
                "paging", (dict,), required=False, description='{"after": seq, "limit": n <= 1000}'
            ),
        ),
        "Seqs of events whose RFC 9162 leaf hash is this (one in an honest log); `next` pages on.",
        {
            "type": "object",
            "properties": {
                "seqs": {"type": "array", "items": _UINT},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "attest_status": (
        (),
        "Tree size and root, latest block, EIP-712 domain, L1 attachment, checkpoint lag.",
        {"type": "object"},
    ),
    # The explorer's reads (sequencer/explorer/api.py): not protocol, like validator_*; every
    # one answers from memory or a bounded number of store reads.
    "explorer_dashboard": (
        (
            Param(
                "sinceMs",
                (int, str),
                required=False,
                default=0,
                description="only ingest samples taken after this unix time in ms",
            ),
        ),
        "The dashboard in one poll: status, latest blocks and checkpoints, ingest samples, "
        "followers seen and their lag.",
        {
            "type": "object",
            "properties": {
                "role": {"enum": ["sequencer", "validator"]},
                "status": {"type": "object"},
                "blocks": {"type": "array", "items": {"type": "object"}},
                "checkpoints": {"type": "array", "items": _ref("Checkpoint")},
                "ingest": {
                    "type": "object",
                    "properties": {
                        "intervalS": {"type": "number"},
                        "samples": {
                            "type": "array",
                            "items": {"type": "array", "items": _UINT},
                            "description": "[unix ms, tree size] pairs, oldest first",
                        },
                    },
                },
                "followers": {"type": "array", "items": {"type": "object"}},
            },
        },
    ),
    "explorer_blocks": (
        _page_params("block number (exclusive)"),
        "Sealed block headers below `before`, newest first; `next` pages on.",
        {
            "type": "object",
            "properties": {
                "blocks": {"type": "array", "items": {"type": "object"}},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "explorer_checkpoints": (
        _page_params("checkpoint index (exclusive)"),
        "The L1 checkpoints this node knows below `before`, newest first; `next` pages on.",
        {
            "type": "object",
            "properties": {
                "checkpoints": {"type": "array", "items": _ref("Checkpoint")},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "explorer_inbox": (
        _page_params("inbox index (exclusive)"),
        "The L1 forced-inclusion inbox as this sequencer follows it, newest first: each entry "
        "posted, included at a seq, or overdue; `next` pages on. `available` is false on a "
        "node that follows no inbox (a follower, or a sequencer without L1).",
        {
            "type": "object",
            "properties": {
                "available": {"type": "boolean"},
                "count": {"type": "integer"},
                "entries": {"type": "array", "items": _ref("Forced")},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "explorer_findBySubmitter": (
        (
            Param("submitter", (str,), description="0x address"),
            Param(
                "paging",
                (dict,),
                required=False,
                description='{"after": nonce, "limit": n <= 1000}',
            ),
        ),
        "Seqs of a submitter's signed events by ascending nonce; `next` (a nonce) pages on.",
        {
            "type": "object",
            "properties": {
                "seqs": {"type": "array", "items": _UINT},
                "nonces": {"type": "array", "items": _UINT},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "explorer_findUnsignedBySubmitter": (
        (
            Param("submitter", (str,)),
            Param(
                "paging", (dict,), required=False, description='{"after": seq, "limit": n <= 1000}'
            ),
        ),
        "Seqs of the unsigned events whose submitter (the token's address) is this, ascending; "
        "`next` pages on.",
        {
            "type": "object",
            "properties": {
                "seqs": {"type": "array", "items": _UINT},
                "next": {"type": ["integer", "null"]},
            },
        },
    ),
    "explorer_receipt": (
        (Param("seq", (int, str), description="position in the log"),),
        "The receipt of the group commit that wrote `seq` (null where this node keeps none).",
        {"oneOf": [_ref("Receipt"), {"type": "null"}]},
    ),
}


EXPLORER_METHODS: Final = tuple(name for name in METHODS if name.startswith("explorer_"))
"""The explorer's methods, registered by `sequencer.explorer.api.install` on both services."""


MAX_FULL_BLOCKS_PER_BATCH: Final = 16
"""`attest_getBlock(n, true)` or `(n, "records")` calls in one body: each answers up to a
block of events."""
MAX_PROOFS_PER_BATCH: Final = 256
"""Inclusion and consistency proofs in one body: each reads O(log n) tree nodes."""
MAX_EVENTS_PER_BATCH: Final = 10_000
"""Events submitted in one body, over all its `attest_submit(Batch)` entries (default)."""


def _param(raw: list[Any] | dict[str, Any], index: int, name: str) -> Any:
    if isinstance(raw, list):
        return raw[index] if index < len(raw) else None
    return raw.get(name)


def _full_block_cost(raw: list[Any] | dict[str, Any]) -> int:
    full = _param(raw, 1, "full")
    return 1 if full is True or full == "records" else 0


def _one(raw: list[Any] | dict[str, Any]) -> int:
    return 1


def _events_cost(raw: list[Any] | dict[str, Any]) -> int:
    events = _param(raw, 0, "events")
    return len(events) if isinstance(events, list) else 1


def batch_caps(max_events: int = MAX_EVENTS_PER_BATCH) -> dict[str, tuple[BatchCap, ...]]:
    """What each method's calls count against, per body (see `sequencer.rpc.jsonrpc`)."""
    full_blocks = BatchCap("full blocks per batch", MAX_FULL_BLOCKS_PER_BATCH, _full_block_cost)
    proofs = BatchCap("proofs per batch", MAX_PROOFS_PER_BATCH, _one)
    events = BatchCap("events per batch", max_events, _events_cost)
    return {
        "attest_getBlock": (full_blocks,),
        "attest_getProof": (proofs,),
        "attest_getConsistencyProof": (proofs,),
        "attest_submit": (BatchCap("events per batch", max_events, _one),),
        "attest_submitBatch": (events,),
    }


WRITES: Final = frozenset({"attest_submit", "attest_submitBatch"})
"""Methods that write: their answers are never cut by the response-bytes bound
(`MethodSpec.writes`)."""


def register_api(
    dispatcher: Dispatcher, api: object, *, max_batch_events: int = MAX_EVENTS_PER_BATCH
) -> None:
    """Register every method of METHODS that `api` implements, and `rpc.discover`.

    The table is the protocol's; `api` is whichever service serves it (the sequencer's
    `RpcApi`, or a follower's read-only `ReadApi`), so this module imports neither.
    """
    caps = batch_caps(max_batch_events)
    for name, (params, summary, _result) in METHODS.items():
        handler = getattr(api, name, None)
        if handler is not None:
            dispatcher.register(
                name,
                handler,
                params=params,
                doc=summary,
                caps=caps.get(name, ()),
                writes=name in WRITES,
            )
    document = build_openrpc()

    async def discover(ctx: RpcContext) -> dict[str, Any]:
        return document

    dispatcher.register("rpc.discover", discover, params=(), doc="This OpenRPC document.")


def build_openrpc() -> dict[str, Any]:
    """The OpenRPC document served by `rpc.discover` and kept in docs/openrpc.json."""
    methods = []
    for name, (params, summary, result) in METHODS.items():
        methods.append(
            {
                "name": name,
                "summary": summary,
                "paramStructure": "either",
                "params": [
                    {
                        "name": p.name,
                        "required": p.required,
                        "description": p.description,
                        "schema": _ref("Event") if p.name == "event" else p.schema(),
                    }
                    for p in params
                ],
                "result": {"name": name.removeprefix("attest_") + "Result", "schema": result},
                "errors": [
                    {"$ref": f"#/components/errors/{spec.name}"} for spec in rpc_errors.ERRORS
                ],
            }
        )
    methods.append(
        {
            "name": "rpc.discover",
            "summary": "This OpenRPC document.",
            "params": [],
            "result": {"name": "OpenRPC", "schema": {"type": "object"}},
        }
    )
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "attest-rollup sequencer",
            "version": API_VERSION,
            "description": "JSON-RPC 2.0 over HTTP POST / (batch arrays allowed). "
            "Protocol: docs/spec.md §10; errors: the components below.",
        },
        "methods": methods,
        "components": {
            "schemas": SCHEMAS,
            "errors": {spec.name: spec.to_openrpc() for spec in rpc_errors.ERRORS},
        },
    }


def _cmd_openrpc(args: argparse.Namespace) -> int:
    sys.stdout.buffer.write(
        orjson.dumps(build_openrpc(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    sys.stdout.buffer.write(b"\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("openrpc", help="print the OpenRPC document (docs/openrpc.json)")
    p.set_defaults(handler=_cmd_openrpc)
