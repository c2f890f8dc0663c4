"""Checking submissions: `check_submission` turns one submission into record templates, or
raises the error that refuses it whole.

The write path is one pass: transport (sequencer.rpc) -> `check_submission` -> the writer
(`Writer.submit`) -> `single_answer` / `batch_answer`. The check is plain CPU work with no
state but its `IngestSettings`, so the same function runs in three places: inline on the
event loop (few signatures), in a worker thread with recovery split across two threads (many
signatures: libsecp256k1 releases the GIL), and — with `--ingest-workers N` — in a pool of
processes that take whole `attest_submit(Batch)` request bodies (`prepare`, `IngestPool`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from prover.eip712 import compute_event_digest, recover_signer
from prover.errors import (
    AttestError,
    InvalidFieldError,
    InvalidSignatureError,
    LimitExceededError,
    UnauthorizedError,
)
from prover.receipt import receipt_to_json
from prover.record import EventInput, parse_event
from prover.wire import hex0x
from sequencer.config import hash_token
from sequencer.node.writer import Placed, make_templates
from sequencer.rpc import errors as rpc_errors

SUBMIT: Final = "attest_submit"
SUBMIT_BATCH: Final = "attest_submitBatch"

THREAD_RECOVERY_MIN: Final = 32
"""Below this many signed events, checking on the event loop beats a hop to a worker thread."""


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """What checking a submission needs (picklable, for worker processes)."""

    tokens: Mapping[str, bytes]
    """SHA-256 of each bearer token (`hash_token`) -> the address it vouches as."""
    allowlist: frozenset[bytes] | None
    """Signers allowed to submit signed events; None allows every signer."""
    domain_separator: bytes
    """The EIP-712 domain separator events are signed in."""
    max_batch_events: int
    """Most events in one `attest_submitBatch`."""


class Checked(NamedTuple):
    """A submission that passed every check: what the writer takes."""

    templates: list[bytes]
    metas: list[bytes | None]


Recover = Callable[[bytes, Sequence[EventInput], Sequence[int]], list[bytes]]


def check_submission(
    raw: Any,
    authorization: str | None,
    settings: IngestSettings,
    *,
    batch: bool,
    recover: Recover | None = None,
) -> Checked:
    """Check one submission whole: `raw` is the event object (or, with `batch`, the list).

    Cheapest checks first (issue 12): the batch's shape and length, the bearer token, and that
    every event without a signature has a token to vouch for it — all before a field is parsed;
    then every field (meta's size bounded before it is canonicalised), every signature and the
    allowlist. The first failure raises an `AttestError` that names it (with its index in a
    batch, none for a lone event) and nothing of the submission is queued. `recover` recovers
    signers (default `recover_chunk`, one thread). Pure CPU: safe in a worker thread or process.
    """
    steps = check_submission_steps(raw, authorization, settings, batch=batch, recover=recover)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            checked: Checked = done.value
            return checked


CHECK_SLICE: Final = 256
"""`check_submission_steps` pauses once per this many events parsed or packed, and
`batch_answer_steps` once per this many placements (under a millisecond each, measured at
about 3 µs an event: the longest the event loop is held by one submission's slice)."""


def check_submission_steps(
    raw: Any,
    authorization: str | None,
    settings: IngestSettings,
    *,
    batch: bool,
    recover: Recover | None = None,
) -> Generator[None, None, Checked]:
    """`check_submission` as a generator that pauses after every `CHECK_SLICE` events parsed
    or packed, when work remains; its return value is the `Checked`. The event loop drives it
    with a checkpoint at each pause, so that no batch holds the loop for more than a slice (a
    batch of up to `CHECK_SLICE` events does not pause at all)."""
    try:
        if batch:
            check_batch_shape(raw, settings.max_batch_events)
        items = raw if batch else [raw]
        token = token_address(authorization, settings.tokens)
        if token is None:
            require_signatures(items, batch=batch)
        events: list[EventInput] = []
        for start in range(0, len(items), CHECK_SLICE):
            if start:
                yield
            events += parse_events(items[start : start + CHECK_SLICE], batch=batch, offset=start)
        submitters, signed = unsigned_submitters(events, token, batch=batch)
        recovered = (
            (recover or recover_chunk)(settings.domain_separator, events, signed) if signed else []
        )
        who = signed_submitters(submitters, signed, recovered, settings.allowlist, batch=batch)
    except AttestError as exc:
        raise without_index(exc, batch) from None
    templates: list[bytes] = []
    metas: list[bytes | None] = []
    for start in range(0, len(events), CHECK_SLICE):
        yield
        more_templates, more_metas = make_templates(
            events[start : start + CHECK_SLICE], who[start : start + CHECK_SLICE]
        )
        templates += more_templates
        metas += more_metas
    return Checked(templates, metas)


def count_signed(raw: Any, *, batch: bool) -> int:
    """How many events of a submission carry a signature, before any parsing (cheap)."""
    events = raw if batch and isinstance(raw, list) else [raw]
    return sum(1 for e in events if isinstance(e, dict) and "signature" in e)


def count_events(raw: Any, *, batch: bool) -> int:
    """How many events a (possibly malformed) submission holds, for the rejection metric."""
    return len(raw) if batch and isinstance(raw, list) else 1


_recovery_pool: ThreadPoolExecutor | None = None


def recover_parallel(
    sep: bytes, events: Sequence[EventInput], indices: Sequence[int]
) -> list[bytes]:
    """`recover_chunk` split over this thread and one more (one per core of the target machine).

    The lower half runs here, so its error (the first bad event) wins when both halves fail.
    """
    global _recovery_pool
    if _recovery_pool is None:
        _recovery_pool = ThreadPoolExecutor(1, thread_name_prefix="recover")
    half = len(indices) // 2
    upper = _recovery_pool.submit(recover_chunk, sep, events, indices[half:])
    lower = recover_chunk(sep, events, indices[:half])
    return lower + upper.result()


# --- the checks -------------------------------------------------------------------------------


def check_batch_shape(events: Any, max_events: int) -> None:
    if not isinstance(events, list) or not events:
        raise InvalidFieldError("events", "must be a non-empty list of event objects")
    if len(events) > max_events:
        raise LimitExceededError("events per batch", max_events, len(events))


def parse_events(raw: Sequence[Any], *, batch: bool, offset: int = 0) -> list[EventInput]:
    """`parse_event` of each; the first bad one names its index in a batch (`raw` being the
    batch's slice from `offset`)."""
    out = []
    for i, obj in enumerate(raw, offset):
        try:
            out.append(parse_event(obj))
        except InvalidFieldError as exc:
            raise exc.at_index(i) if batch else exc from None
    return out


def token_address(authorization: str | None, tokens: Mapping[str, bytes]) -> bytes | None:
    """The address a bearer token vouches as; None without a token; refused if unknown."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("Authorization header must be 'Bearer <token>'")
    address = tokens.get(hash_token(token.strip()))
    if address is None:
        raise UnauthorizedError("unknown bearer token")
    return address


def require_signatures(raw: Sequence[Any], *, batch: bool) -> None:
    """Without a bearer token every event must be signed: refuse the first that is not, before
    any field is parsed (an anonymous client must not get the server to parse its meta)."""
    for i, obj in enumerate(raw):
        if isinstance(obj, dict) and obj.get("signature") is None:
            where = f"events[{i}]: " if batch else ""
            raise UnauthorizedError(f"{where}unsigned events need 'Authorization: Bearer <token>'")


def unsigned_submitters(
    events: Sequence[EventInput], token: bytes | None, *, batch: bool
) -> tuple[list[bytes | None], list[int]]:
    """Submitters of the unsigned events (the token's address), and the signed events' indices."""
    submitters: list[bytes | None] = [None] * len(events)
    signed: list[int] = []
    for i, ev in enumerate(events):
        if ev.signature is not None:
            signed.append(i)
            continue
        if token is None:
            where = f"events[{i}]: " if batch else ""
            raise UnauthorizedError(f"{where}unsigned events need 'Authorization: Bearer <token>'")
        submitters[i] = token
    return submitters, signed


def recover_chunk(sep: bytes, events: Sequence[EventInput], indices: Sequence[int]) -> list[bytes]:
    """Signer of each signed event; raises naming the first bad one. Pure CPU."""
    out = []
    for i in indices:
        ev = events[i]
        assert ev.signature is not None and ev.nonce is not None
        v, r, s = ev.signature
        digest = compute_event_digest(sep, ev.kind, ev.subject, ev.digest, ev.meta_hash, ev.nonce)
        try:
            who = recover_signer(digest, v, r, s)
        except InvalidFieldError as exc:
            raise exc.at_index(i) from None
        if ev.submitter is not None and who != ev.submitter:
            raise InvalidSignatureError(
                "signature",
                f"recovers to {hex0x(who)}, not the submitter {hex0x(ev.submitter)}",
                i,
            )
        out.append(who)
    return out


def signed_submitters(
    submitters: list[bytes | None],
    signed: Sequence[int],
    recovered: Sequence[bytes],
    allowlist: frozenset[bytes] | None,
    *,
    batch: bool,
) -> list[bytes]:
    """Fill in the recovered signers (checked against the allowlist); every event has one."""
    for i, who in zip(signed, recovered, strict=True):
        if allowlist is not None and who not in allowlist:
            where = f"events[{i}]: " if batch else ""
            raise UnauthorizedError(f"{where}signer {hex0x(who)} is not allowed")
        submitters[i] = who
    return [s for s in submitters if s is not None]


def without_index(exc: AttestError, batch: bool) -> AttestError:
    """A lone event is not a batch: its field error carries no index."""
    if not batch and isinstance(exc, InvalidFieldError) and exc.index is not None:
        return type(exc)(exc.field, exc.reason)
    return exc


def rejection_reason(exc: BaseException) -> str:
    """The `reason` label of attest_events_rejected for a refused submission."""
    if isinstance(exc, UnauthorizedError):
        return "unauthorized"
    if isinstance(exc, InvalidSignatureError):
        return "signature"
    return "invalid"


# --- the answers ------------------------------------------------------------------------------


def placed_json(p: Placed) -> dict[str, Any]:
    return {
        "seq": p.seq,
        "leafHash": hex0x(p.leaf_hash),
        "index": p.group_index,
        "path": list(p.path_hex),
    }


def single_answer(p: Placed, sequencer: bytes) -> dict[str, Any]:
    """`attest_submit`'s result."""
    out: dict[str, Any] = {"receipt": receipt_to_json(p.receipt, sequencer), **placed_json(p)}
    if p.duplicate:
        out["duplicate"] = True
    return out


def batch_answer(placed: Sequence[Placed], sequencer: bytes) -> dict[str, Any]:
    """`attest_submitBatch`'s result: one receipt; duplicates carry their original one."""
    steps = batch_answer_steps(placed, sequencer)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            answer: dict[str, Any] = done.value
            return answer


def batch_answer_steps(
    placed: Sequence[Placed], sequencer: bytes
) -> Generator[None, None, dict[str, Any]]:
    """`batch_answer` as a generator that pauses after every `CHECK_SLICE` placements, when
    more remain (as `check_submission_steps`); its return value is the answer."""
    top = next((p.receipt for p in placed if not p.duplicate), placed[0].receipt)
    entries = []
    for i, p in enumerate(placed):
        if i and not i % CHECK_SLICE:
            yield
        entry = placed_json(p)
        if p.receipt is not top:
            entry["duplicate"] = True
            entry["receipt"] = receipt_to_json(p.receipt, sequencer)
        entries.append(entry)
    return {"receipt": receipt_to_json(top, sequencer), "events": entries}


# --- the worker-process side ------------------------------------------------------------------


class Prepared(NamedTuple):
    """A checked submission: ready for the writer."""

    req_id: Any
    method: str
    templates: list[bytes]
    metas: list[bytes | None]


class Rejected(NamedTuple):
    """A submission refused by the checks: the JSON-RPC error object to send."""

    req_id: Any
    error: dict[str, Any]
    reason: str
    events: int
    method: str


_settings: IngestSettings | None = None


def init_worker(settings: IngestSettings) -> None:
    """Process-pool initializer."""
    global _settings
    _settings = settings


def prepare(body: bytes, authorization: str | None) -> Prepared | Rejected | None:
    """Check one HTTP body holding a lone `attest_submit(Batch)` call, in a worker process.

    None means "not that shape" (a batch array, a notification, a malformed envelope...): the
    sequencer's own dispatcher then handles the body, with its exact errors.
    """
    settings = _settings
    assert settings is not None, "init_worker was not called"
    try:
        msg = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or "id" not in msg:
        return None
    method, req_id, params = msg.get("method"), msg["id"], msg.get("params")
    if method not in (SUBMIT, SUBMIT_BATCH) or not (
        req_id is None or (isinstance(req_id, str | int) and not isinstance(req_id, bool))
    ):
        return None
    name = "event" if method == SUBMIT else "events"
    if isinstance(params, list) and len(params) == 1:
        raw = params[0]
    elif isinstance(params, dict) and set(params) == {name}:
        raw = params[name]
    else:
        return None
    batch = method == SUBMIT_BATCH
    try:
        checked = check_submission(raw, authorization, settings, batch=batch)
    except AttestError as exc:
        return Rejected(
            req_id,
            rpc_errors.error_object(exc),
            rejection_reason(exc),
            count_events(raw, batch=batch),
            method,
        )
    return Prepared(req_id, method, checked.templates, checked.metas)
