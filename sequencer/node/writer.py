"""The single writer: group commit, block sealing and receipts (docs/spec.md §6, §5).

Every accepted submission is queued here. One task drains the queue into a *group*, assigns
seqs, builds the records, appends the tree, signs one receipt for the group and writes it all in
one `sync=True` LevelDB batch; only then are the waiting requests acknowledged. An
acknowledgement therefore always means durable, and the larger the load the larger the groups,
which is what keeps fsyncs per event low.

The queue is bounded by events, not submissions: a submission that does not fit is refused at
once with `OverloadedError` and a retry hint, so a full queue never hangs a client and never
drops an event that was accepted.

A failed write (disk full, out of descriptors, any I/O error) is fatal: the writer stops for
good (`failure` says why), every queued and every later submission is refused at once with
`StorageUnavailableError`, and after `fatal_grace_s` (time for `/health` to say why) `run`
raises, which ends the process; a supervisor restarts it and the store reopens at its last
synced batch. The store's in-memory state may not match the disk after a failed batch, so it
is never written again by this process.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import trio

from prover.eip712 import Signer, compute_receipt_digest
from prover.errors import (
    AttestError,
    DeadlineAtRiskError,
    OverloadedError,
    ReplayError,
    StorageUnavailableError,
)
from prover.hashing import leaf_hashes
from prover.receipt import Receipt, decode_receipt, encode_receipt
from prover.receipt_tree import compute_receipt_tree_hex
from prover.record import (
    CONTENT_WORDS,
    EventInput,
    build_record,
    record_nonce,
    record_seq,
    record_submitter,
    record_timestamp,
    record_v,
    stamp_record,
)
from prover.types import Hash32
from prover.wire import hex0x, parse_hashes
from sequencer.node.faults import FaultInjector
from sequencer.node.metrics import Metrics
from sequencer.rpc import handoff
from state_db.store import CommitResult, Entry, Store

log = logging.getLogger(__name__)

# Record words compared to decide whether a signed event with a known (submitter, nonce) is the
# same event sent again (idempotent) or a different one (replay): kind, subject, digest,
# metaHash, submitter, nonce — words 2..7 of docs/spec.md §3. Timestamp and seq are the sequencer's.
_CONTENT = CONTENT_WORDS


def make_templates(
    events: Sequence[EventInput], submitters: Sequence[bytes]
) -> tuple[list[bytes], list[bytes | None]]:
    """Records of checked events with seq and timestamp zero, and their metas, for `submit`."""
    return (
        [build_record(ev, 0, 0, who) for ev, who in zip(events, submitters, strict=True)],
        [ev.meta_bytes for ev in events],
    )


class Placed(NamedTuple):
    """Where one event of a submission ended up (a NamedTuple: one per event, hot path)."""

    seq: int
    leaf_hash: bytes
    group_index: int
    """Index in the receipt's group (the leaf index under `leavesRoot`; JSON `index`)."""
    path_hex: tuple[str, ...]
    """Audit path from the leaf to the receipt's `leavesRoot`, as the 0x-hex the answer sends."""
    receipt: Receipt
    duplicate: bool = False
    """True when the event was already in the log: this is the original placement."""

    @property
    def path(self) -> tuple[bytes, ...]:
        """The audit path as bytes."""
        return parse_hashes(list(self.path_hex), "path")


@dataclass(slots=True)
class Submission:
    """One RPC call's events, waiting for the writer."""

    templates: Sequence[bytes]
    """Each event's 352-byte record with seq and timestamp still zero (`make_templates`)."""
    metas: Sequence[bytes | None]
    done: trio.Event = field(default_factory=trio.Event)
    placed: list[Placed] | None = None
    error: AttestError | None = None


@dataclass(slots=True)
class _BlockClock:
    """The open block: where it starts and when its first record arrived (monotonic s)."""

    start: int
    opened_at: float | None


class Writer:
    """The one task that writes to the store. Callers use `submit`; `run` is the service."""

    def __init__(
        self,
        store: Store,
        *,
        sequencer_key: bytes,
        domain_separator: bytes,
        block_max_records: int,
        block_interval_ms: int,
        receipt_deadline_s: int,
        max_queue_events: int,
        max_group_events: int,
        metrics: Metrics,
        clock: WallClock | None = None,
        faults: FaultInjector | None = None,
        fatal_grace_s: float = 2.0,
    ) -> None:
        self.store = store
        self.failure: str | None = None
        """Why the writer stopped for good (None while it runs): every submission is refused."""
        self._fatal_grace_s = fatal_grace_s
        self._signer = Signer(sequencer_key)  # loads the key once (~40 µs saved per group)
        self._domain_separator = domain_separator
        self._block_max = block_max_records
        self._block_interval = block_interval_ms / 1000
        self._deadline_s = receipt_deadline_s
        self._max_queue = max_queue_events
        self._max_group = max_group_events
        self._metrics = metrics
        self._clock = clock or WallClock()
        self._faults = faults
        self._queue: deque[Submission] = deque()
        self._queued_events = 0
        self._reserved_events = 0  # being checked, promised room in the queue (`reserve`)
        self._wakeup = trio.Event()
        self._ewma_eps = 50_000.0  # drain-rate estimate for the retry hint
        head = store.head
        opened = None if head.tree_size == head.last_block_end else trio.current_time()
        self._block = _BlockClock(head.last_block_end, opened)
        self._last_timestamp = self._read_last_timestamp()
        self.promise_gate: Callable[[], str | None] | None = None
        """Asked before every submission once an L1 is attached: why no receipt may be
        promised now (a deadline at risk, `sequencer.l1.deadlines`), or None."""
        self.on_room: Callable[[int, float], None] | None = None
        """Told (events waiting, drain rate) whenever the queue's room changes: the HTTP front
        process refuses from these (`sequencer.node.front`)."""
        self.front_taken = 0
        """Events the HTTP front admitted whose admission is over (see `release_admitted`)."""
        self.on_taken: Callable[[int], None] | None = None
        """Told `front_taken` whenever it grows."""
        self.front_in_flight: Callable[[], int] | None = None
        """Events the HTTP front admitted that no `reserve` has taken over yet: they count
        against the queue's room here as there."""
        self.on_commit: Callable[[], Awaitable[None]] | None = None
        """Awaited after each group commit, before any of the group's callers is answered (at
        most `PUBLISH_TIMEOUT_S`, and not cancelled meanwhile: the callers must hear)."""
        self.on_stop: Callable[[], None] | None = None
        """Called when the writer stops for good (`failure` is set)."""

    # --- producer side ---------------------------------------------------------------------

    async def submit(
        self, templates: Sequence[bytes], metas: Sequence[bytes | None]
    ) -> list[Placed]:
        """Queue one submission and wait until it is durable (or refused as a whole).

        `templates` are the events' records with seq and timestamp left zero: the writer fills
        them in, so the per-event parsing and checking can happen anywhere beforehand (the event
        loop, or an ingest worker process).
        """
        n = len(templates)
        self.check_room(n)
        sub = Submission(templates, metas)
        self._queue.append(sub)
        self._queued_events += n
        self._metrics.queue_depth.set(self._queued_events)
        self._room_changed()
        self._wakeup.set()
        # Shielded: once queued, the events will be written whether or not this caller is still
        # there; leaving early would only lose the answer, never the events. The wait is
        # bounded: the writer sets `done` for every queued submission when it commits it, fails
        # it, or stops (its `finally`), and once stopped it queues nothing more (`check_room`).
        with trio.CancelScope(shield=True):
            await sub.done.wait()
        if sub.error is not None:
            reason = "replay" if isinstance(sub.error, ReplayError) else "not_written"
            self._metrics.rejected.labels(reason=reason).inc(n)
            raise sub.error
        assert sub.placed is not None
        return sub.placed

    def check_room(self, n: int, *, count: bool = True, room: bool = True) -> None:
        """Raise unless `n` more events could be queued now: `StorageUnavailableError` once the
        writer has stopped, `OverloadedError` with a retry hint when the queue is full.

        Cheap (no parsing): callers ask before checking a submission's events, so that a
        refusal costs the client milliseconds and the server nothing. `count=False` leaves the
        rejection metric alone (for a guess at `n` made from a body's length); `room=False`
        checks all but the room (the HTTP front has admitted them, `reserve`).
        """
        gate = self.promise_gate
        waiting = self.waiting
        if self.front_in_flight is not None:
            waiting += self.front_in_flight()
        error = room_error(
            n if room else 0,
            failure=self.failure,
            gate=gate() if gate is not None else None,
            waiting=waiting if room else 0,
            max_queue=self._max_queue,
            drain_eps=self._ewma_eps,
        )
        if error is not None:
            if count:
                self._metrics.rejected.labels(reason=_REJECTED_AS[type(error)]).inc(n)
            raise error

    @property
    def waiting(self) -> int:
        """Events queued or being checked (holding room in the queue)."""
        return self._queued_events + self._reserved_events

    @property
    def drain_eps(self) -> float:
        """The drain-rate estimate behind the retry hint (events a second)."""
        return self._ewma_eps

    def _room_changed(self) -> None:
        if self.on_room is not None:
            self.on_room(self.waiting, self._ewma_eps)

    @contextmanager
    def reserve(self, n: int) -> Iterator[None]:
        """Hold room for `n` events while a submission is checked (`check_room` first).

        Given back on exit; the caller then calls `submit` with no checkpoint in between, so the
        room is still there.
        """
        admitted = handoff.ADMITTED.get()
        if 0 < admitted < n:
            # Admitted for fewer events than it holds (never, by `MIN_EVENT_WIRE_BYTES`):
            # checked like any other.
            handoff.ADMITTED.set(0)
            self.release_admitted(admitted)
            admitted = 0
        if admitted:
            # The HTTP front counted these events in its room check and let the submission
            # through (`sequencer.node.front`): take its room over rather than check again.
            self.check_room(n, room=False)  # the writer stopped, a deadline at risk: refused
            handoff.ADMITTED.set(0)
            self._reserved_events += n
            self._room_changed()  # first the reservation, then the front's release of it
            self.release_admitted(admitted)
        else:
            self.check_room(n)
            self._reserved_events += n
            self._room_changed()
        try:
            yield
        finally:
            self._reserved_events -= n
            self._room_changed()

    def release_admitted(self, events: int) -> None:
        """The HTTP front's admission of `events` is over: taken over by `reserve`, or unused."""
        self.front_taken += events
        if self.on_taken is not None:
            self.on_taken(self.front_taken)

    # --- the service -----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Drain the queue until cancelled: one group commit at a time, seal blocks on time.

        A failed write stops it for good (see the module docstring): it refuses everything
        queued, keeps refusing for `fatal_grace_s` while the rest of the process still answers
        (so `/health` can say why), then raises `StorageUnavailableError` to end the process.
        """
        task_status.started()
        try:
            await self._drain()
        except trio.Cancelled:
            self._stop("the sequencer is shutting down")
            raise
        except Exception as exc:
            self._stop(_describe(exc))
            log.critical(
                "writer stopped: the store cannot be written",
                extra={"error": self.failure},
                exc_info=exc,
            )
            await trio.sleep(self._fatal_grace_s)
            raise StorageUnavailableError(f"the store cannot be written: {self.failure}") from exc
        finally:
            self._stop("the sequencer stopped")

    def _stop(self, why: str) -> None:
        """Refuse everything from now on; release every queued caller (idempotent)."""
        if self.failure is None:
            self.failure = why
        # Whatever is still queued was not written. Its callers wait shielded, so they must be
        # told, or the process could never exit.
        while self._queue:
            _fail(self._queue.popleft(), self.failure)
        self._queued_events = 0
        self._metrics.queue_depth.set(0)
        self._room_changed()
        if self.on_stop is not None:
            self.on_stop()  # the failure, for the HTTP front's /health

    async def _drain(self) -> None:
        while True:
            deadline = math.inf
            if self._block.opened_at is not None:
                deadline = self._block.opened_at + self._block_interval
            with trio.move_on_at(deadline):
                while not self._queue:
                    self._wakeup = trio.Event()
                    await self._wakeup.wait()
            group = self._take_group()
            if group or self._seal_due(trio.current_time()):
                await self._commit_group(group)

    def _take_group(self) -> list[Submission]:
        group: list[Submission] = []
        count = 0
        while self._queue and (
            not group or count + len(self._queue[0].templates) <= self._max_group
        ):
            sub = self._queue.popleft()
            group.append(sub)
            count += len(sub.templates)
        return group

    def _seal_due(self, now: float) -> bool:
        opened = self._block.opened_at
        return opened is not None and now - opened >= self._block_interval

    async def _commit_group(self, group: list[Submission]) -> None:
        started = time.perf_counter()
        now = trio.current_time()
        try:
            # LevelDB's fsync and the CPU-bound record building run in a worker thread so the
            # event loop keeps parsing the next requests meanwhile (that overlap is what forms
            # the next group). Not abandoned on cancel: a commit in flight always completes.
            outcome = await trio.to_thread.run_sync(self._build_and_commit, group, now)
        except BaseException as exc:
            # A storage failure is fatal (StorageError/OSError): nothing of the group was
            # acknowledged, so nothing is lost that a client was told was kept; the callers
            # hear that it was not written.
            for sub in group:
                self._queued_events -= len(sub.templates)
                _fail(sub, _describe(exc))
            raise
        finally:
            self._metrics.queue_depth.set(self._queued_events)
            self._room_changed()
        result, accepted = outcome
        elapsed = time.perf_counter() - started
        n_new = result.tree_size - result.first_seq
        if n_new:
            self._ewma_eps = 0.8 * self._ewma_eps + 0.2 * max(1000.0, n_new / max(elapsed, 1e-6))
        for sub in group:
            self._queued_events -= len(sub.templates)
        self._room_changed()
        if self.on_commit is not None:
            # Before any caller hears of its events: a status read after an acknowledgement
            # sees them (read-your-writes through the HTTP front, `sequencer.node.front`).
            with trio.CancelScope(shield=True) as publishing:
                publishing.deadline = trio.current_time() + PUBLISH_TIMEOUT_S
                await self.on_commit()
        for sub in group:
            sub.done.set()
        if n_new:
            self._metrics.group_size.observe(n_new)
            self._metrics.group_latency.observe(elapsed)
            self._metrics.accepted.inc(n_new)
        self._metrics.queue_depth.set(self._queued_events)
        self._metrics.tree_size.set(result.tree_size)
        if result.blocks:
            self._metrics.blocks.set(result.blocks[-1].number + 1)
        if n_new or result.blocks:
            log.debug(
                "group committed",
                extra={
                    "tree_size": result.tree_size,
                    "events": n_new,
                    "blocks": len(result.blocks),
                    "accepted_submissions": accepted,
                    "elapsed": elapsed,
                },
            )

    def _build_and_commit(self, group: list[Submission], now: float) -> tuple[CommitResult, int]:
        """Runs in a worker thread: the only code that writes to the store."""
        store = self.store
        first_seq = store.head.tree_size
        timestamp = max(self._clock.now_ms(), self._last_timestamp)
        records: list[bytes] = []
        metas: list[bytes | None] = []
        claimed: dict[tuple[bytes, int], bytes] = {}  # (submitter, nonce) -> record, this group
        pending: list[tuple[Submission, list[int | Placed]]] = []
        originals = _OriginalReceipts(store)
        for sub in group:
            try:
                slots = self._place(
                    sub, first_seq + len(records), claimed, records, metas, timestamp, originals
                )
            except AttestError as exc:
                sub.error = exc  # this submission alone is refused; its neighbours go on
                continue
            pending.append((sub, slots))

        faults = self._faults
        tampered = faults is not None and faults.tamper(records, metas, first_seq)
        hashes = leaf_hashes(records)
        receipt: Receipt | None = None
        paths: tuple[tuple[str, ...], ...] = ()
        if records:
            leaves_root, paths = compute_receipt_tree_hex(hashes)
            deadline = timestamp // 1000 + self._deadline_s
            digest = compute_receipt_digest(
                self._domain_separator, first_seq, len(records), leaves_root, deadline
            )
            v, r, s = self._signer.sign(digest)
            receipt = Receipt(first_seq, len(records), leaves_root, deadline, v, r, s)
        written, written_hashes = records, hashes
        broken = faults.break_receipt(records, first_seq) if faults is not None else None
        if broken is not None:  # fault injection: the receipt now promises other leaves
            written, written_hashes = broken, leaf_hashes(broken)
        entries = [Entry(r, h, m) for r, h, m in zip(written, written_hashes, metas, strict=True)]
        seal = self._plan_seals(first_seq + len(records), now, timestamp)
        result = store.commit(
            entries,
            seal,
            receipt=encode_receipt(receipt) if receipt is not None else None,
            check_seq=not (tampered and faults is not None and faults.breaks_seq),
        )
        # Durability point: after store.commit returns, the records, their tree nodes, indexes,
        # sealed blocks, this receipt and the new head survive a crash together (one sync batch).
        self._last_timestamp = timestamp
        self._advance_block(result, now)
        for sub, slots in pending:
            placed: list[Placed] = []
            for slot in slots:
                if isinstance(slot, Placed):
                    placed.append(slot)
                    continue
                assert receipt is not None
                index = slot - first_seq
                placed.append(Placed(slot, hashes[index], index, paths[index], receipt))
            sub.placed = placed
        return result, len(pending)

    def _place(
        self,
        sub: Submission,
        next_seq: int,
        claimed: dict[tuple[bytes, int], bytes],
        records: list[bytes],
        metas: list[bytes | None],
        timestamp: int,
        originals: _OriginalReceipts,
    ) -> list[int | Placed]:
        """Build a submission's records, or raise without touching `records` (all or nothing)."""
        new_records: list[bytes] = []
        new_metas: list[bytes | None] = []
        new_claims: dict[tuple[bytes, int], bytes] = {}
        slots: list[int | Placed] = []
        for i, (template, meta) in enumerate(zip(sub.templates, sub.metas, strict=True)):
            # docs/spec.md §3 words 0 and 1: seq and timestamp, the only fields the writer decides.
            record = stamp_record(template, next_seq + len(new_records), timestamp)
            # Signed (v 27/28): (submitter, nonce) must be new, or the same event again. Unsigned
            # (0) and forced (1, sequencer.node.forced) records have no replay key.
            if record_v(template) > 1:
                submitter = record_submitter(template)
                nonce = record_nonce(template)
                key = (submitter, nonce)
                earlier = claimed.get(key) or new_claims.get(key)
                if earlier is not None:
                    if earlier[_CONTENT] != record[_CONTENT]:
                        raise _replay(submitter, nonce, i)
                    # The same signed event twice in one group: one record, both answered by it.
                    slots.append(record_seq(earlier))
                    continue
                seq = self.store.find_by_nonce(submitter, nonce)
                if seq is not None:
                    original = self.store.get_record(seq)
                    if original[_CONTENT] != record[_CONTENT]:
                        raise _replay(submitter, nonce, i)
                    slots.append(originals.placement_of(seq))
                    continue
                new_claims[key] = record
            slots.append(next_seq + len(new_records))
            new_records.append(record)
            new_metas.append(meta)
        records.extend(new_records)
        metas.extend(new_metas)
        claimed.update(new_claims)
        return slots

    def _plan_seals(self, new_size: int, now: float, timestamp: int) -> list[tuple[int, int]]:
        """Block ends to seal in this commit: every full B records, then the rest if T passed."""
        seals: list[tuple[int, int]] = []
        start = self._block.start
        while new_size - start >= self._block_max:
            start += self._block_max
            seals.append((start, timestamp))
        opened = self._block.opened_at
        if start < new_size and seals:
            opened = now  # the remainder opened a new block just now
        elif start < new_size and opened is None:
            opened = now
        if start < new_size and opened is not None and now - opened >= self._block_interval:
            seals.append((new_size, timestamp))
        return seals

    def _advance_block(self, result: CommitResult, now: float) -> None:
        start = result.blocks[-1].end if result.blocks else self._block.start
        if start == result.tree_size:
            self._block = _BlockClock(start, None)
        elif result.blocks or self._block.opened_at is None:
            self._block = _BlockClock(start, now)

    def _read_last_timestamp(self) -> int:
        size = self.store.head.tree_size
        if size == 0:
            return 0
        return record_timestamp(self.store.get_record(size - 1))


def room_error(
    n: int,
    *,
    failure: str | None,
    gate: str | None,
    waiting: int,
    max_queue: int,
    drain_eps: float,
) -> AttestError | None:
    """Why `n` more events may not be queued now, or None: the writer has stopped (`failure`),
    no receipt may be promised (`gate`), or `waiting` events leave no room under `max_queue`
    (with a retry hint: the time `drain_eps` takes to drain them). `Writer.check_room`'s rule,
    and the HTTP front process's from what the writer publishes."""
    # Verify the writer still runs: a stopped writer would never answer a queued submission.
    if failure is not None:
        return StorageUnavailableError(f"storage unavailable, nothing was stored: {failure}")
    # Verify the receipt's deadline can be kept: never promise what L1 cannot deliver.
    if gate is not None:
        return DeadlineAtRiskError(gate, retry_after_ms=5000)
    # Verify there is room: refuse at once rather than hang (backpressure, issue 3). Events
    # still being checked count too: with many writers the checking, not the queue, is where
    # submissions wait (issue 12).
    if waiting + n > max_queue:
        return OverloadedError(
            f"ingest queue is full ({waiting} events waiting); retry later",
            retry_after_ms=drain_ms(waiting, drain_eps),
        )
    return None


def drain_ms(waiting: int, drain_eps: float) -> int:
    """A refused client's retry hint: the milliseconds `drain_eps` takes to drain `waiting`
    events (at least 10)."""
    return max(10, math.ceil(1000 * waiting / drain_eps))


PUBLISH_TIMEOUT_S: Final = 1.0
"""Longest a group's callers wait for `Writer.on_commit` (the HTTP front reading its channel)."""

_REJECTED_AS: Final[dict[type[AttestError], str]] = {
    StorageUnavailableError: "storage",
    DeadlineAtRiskError: "deadline",
    OverloadedError: "overloaded",
}


def _fail(sub: Submission, why: str) -> None:
    if not sub.done.is_set():
        sub.error = StorageUnavailableError(f"storage unavailable, not written: {why}")
        sub.done.set()


def _describe(exc: BaseException) -> str:
    """A one-line reason for a storage failure, fit for a client and `/health`."""
    if isinstance(exc, trio.Cancelled):
        return "the sequencer is shutting down"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


def _replay(submitter: bytes, nonce: int, index: int) -> ReplayError:
    return ReplayError(hex0x(submitter), nonce, index)


class _OriginalReceipts:
    """Original placements of records already in the log, one receipt tree per receipt.

    A client resending a batch of 1,000 signed events would otherwise rebuild the same
    receipt tree 1,000 times.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._trees: dict[int, tuple[Receipt, list[Hash32], tuple[tuple[str, ...], ...]]] = {}

    def placement_of(self, seq: int) -> Placed:
        receipt = decode_receipt(self._store.receipt_of_seq(seq))
        cached = self._trees.get(receipt.first_seq)
        if cached is None:
            first = receipt.first_seq
            hashes = self._store.read_nodes([(0, i) for i in range(first, first + receipt.count)])
            cached = (receipt, hashes, compute_receipt_tree_hex(hashes)[1])
            self._trees[first] = cached
        receipt, hashes, paths = cached
        index = seq - receipt.first_seq
        return Placed(seq, hashes[index], index, paths[index], receipt, duplicate=True)


class WallClock:
    """Milliseconds since the Unix epoch; a seam for tests that need fixed timestamps."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
