"""The follower's replica: check the sealed blocks pulled from upstreams (`upstream.pull`),
and the records revealed on L1, and store them.

A replica is a `Store` fed with the sequencer's records and the same block seals, so its tree
and its block hashes equal the sequencer's. Every block is checked *before* it is written:

* the header continues the replica (number, parentHash, start) and holds `end - start` records;
* the records hash to the header's `logRoot` at size `end` (RFC 9162) and the header to its
  `blockHash` (docs/spec.md §6): an upstream serving records that do not hash to what it claimed is
  treated as not serving them at all (the block stays "unavailable" until some upstream serves
  it correctly, or a DA challenge settles it on L1);
* what the latest live L1 checkpoint covers hashes to its root, and what lies beyond it is
  signed by the sequencer's block receipt (docs/validator.md, "Anchored and provisional"):
  no upstream can make the replica hold records the sequencer did not vouch for or L1 did not
  anchor;
* every record against the rules of docs/spec.md §8 (`prover.validity`, applied at ingest speed
  by `sequencer.validator.check.BlockChecker`): rules 1-3 per record, 4a against its
  predecessor, 5 against the store's nonce index and the records of the same pull.
  Rule 4b needs the covering checkpoint's commit time and is checked by the L1 watcher.

Violations are stored in the same write batch as the records that break them.

A record whose seq word is wrong (rule 1) is stored as served (`Store.commit(check_seq=False)`):
the fraud proof needs it, and its inclusion proof, from the replica.

Every method blocks (LevelDB, CPU): the service runs them in a worker thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from prover.answers import block_from_json, block_json, block_records_from_json, event_from_json
from prover.block import BlockHeader
from prover.errors import AttestError, ConsistencyProofError, InvalidFieldError
from prover.hashing import keccak256, leaf_hash, leaf_hashes
from prover.receipt import (
    Receipt,
    decode_receipt,
    encode_receipt,
    receipt_to_json,
    verify_block_receipt,
)
from prover.record import record_meta_hash
from prover.tree import CompactTree, verify_consistency
from prover.validity import (
    FraudRule,
    Violation,
    violation_from_json,
)
from prover.wire import hex0x
from sequencer.client.receipts import parse_receipt
from sequencer.validator.check import BlockChecker
from state_db.store import Entry, Grown, Store

log = logging.getLogger(__name__)

VIOLATIONS_KEY: Final[str] = "validator.violations"
"""State key: JSON list of every `Violation` found in the stored records."""
ROLLBACKS_KEY: Final[str] = "validator.rollbacks"
"""State key: JSON list of the rollbacks done (`Replica.roll_back`), each naming its evidence."""
BLOCK_RECEIPT_PREFIX: Final[str] = "validator.blockReceipt."
"""State keys ``validator.blockReceipt.<block number, 16 digits>``: the sequencer's receipt
(`prover.receipt.encode_receipt`) of every block taken on it (beyond the latest checkpoint),
stored with the block: the evidence a rollback keeps."""
EVIDENCE_PREFIX: Final[str] = "validator.rollback."
"""State keys ``validator.rollback.<checkpoint, 8 digits>.<cut seq, 16 digits>``: what a
rollback removed, with the sequencer's receipts over it (docs/validator.md, "Rollback")."""


def block_receipt_key(number: int) -> str:
    return f"{BLOCK_RECEIPT_PREFIX}{number:016d}"


class UpstreamError(AttestError):
    """No upstream served the next block correctly (down, withholding, or inconsistent)."""


class ReplicaMovedError(AttestError):
    """Blocks fetched to continue the replica at one head no longer continue it: the replica
    moved while they were in flight (a rollback). Nobody's fault; the blocks are dropped."""


class RevealedContradictionError(AttestError):
    """Records revealed on L1 differ from records the replica holds: what L1 anchors
    contradicts what the sequencer vouched for (`Replica.take_revealed`)."""

    def __init__(self, seq: int, held: bytes, revealed: bytes) -> None:
        super().__init__(
            f"record {seq} revealed on L1 (leaf {hex0x(revealed)}) differs from the "
            f"replica's (leaf {hex0x(held)})"
        )
        self.seq = seq
        self.held = held
        self.revealed = revealed


@dataclass(frozen=True, slots=True)
class PulledBlock:
    """One block as an upstream served it, parsed and checked for shape only."""

    header: BlockHeader
    block_hash: bytes
    records: tuple[bytes, ...]
    metas: tuple[bytes | None, ...]
    receipt: Receipt | None = None
    """The sequencer's receipt over exactly this block (docs/spec.md §6), if served; checked
    by `Replica.ingest`, not here."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """The latest live L1 checkpoint, and how far the blocks being ingested reach into it."""

    size: int
    root: bytes
    first: int = 0
    """A block end ``<= size`` whose served logRoot `proof` shows to be a prefix of `root`
    (0: no proof)."""
    proof: tuple[bytes, ...] = ()
    """RFC 9162 consistency proof from `first` to `size`."""


def parse_block(obj: Any) -> PulledBlock:
    """`attest_getBlock(n, "records")`'s answer (or `(n, true)`'s, with its events) as a
    `PulledBlock`; `InvalidFieldError` naming what is malformed."""
    if not isinstance(obj, dict):
        raise InvalidFieldError("block", "must be an object")
    records: list[bytes] = []
    metas: list[bytes | None] = []
    if "records" in obj:
        header, block_hash, records, metas = block_records_from_json(obj)
    elif isinstance(obj.get("events"), list):
        header, block_hash = block_from_json(obj)
        for i, ev in enumerate(obj["events"]):
            record, meta = event_from_json(ev, f"events[{i}]")
            records.append(record)
            metas.append(meta)
        if len(records) != header.end - header.start:
            raise InvalidFieldError(
                "block", f"has {len(records)} records for [{header.start}, {header.end})"
            )
    else:
        raise InvalidFieldError("block", "must be an object with a records or an events list")
    for i, meta in enumerate(metas):
        if meta is not None and keccak256(meta) != record_meta_hash(records[i]):
            # Meta is off-chain (docs/spec.md §3): a wrong one is not provable, only not kept.
            log.warning(
                "block %d: meta of record %d does not hash to metaHash; dropped",
                header.number,
                header.start + i,
            )
            metas[i] = None
    raw_receipt = obj.get("receipt")
    receipt = None if raw_receipt is None else parse_receipt(raw_receipt, "block.receipt")
    return PulledBlock(header, block_hash, tuple(records), tuple(metas), receipt)


class Replica:
    """The replicated log and what is wrong with it. One writer at a time (the pull loop's
    ingest, or the watcher taking records revealed on L1, each in a worker thread)."""

    def __init__(self, store: Store, domain_separator: bytes, sequencer: bytes) -> None:
        self.store = store
        self.domain_separator = domain_separator
        self.sequencer = sequencer
        """The contract's `sequencer()`: the only key whose block receipts vouch for records."""
        raw = store.get_state(VIOLATIONS_KEY)
        self.violations: tuple[Violation, ...] = (
            tuple(violation_from_json(v) for v in orjson.loads(raw)) if raw else ()
        )
        self.checkpoint: tuple[int, bytes] | None = None
        """(size, root) of the latest live L1 checkpoint, as the watcher last read it."""
        self.verified_size = 0
        """The largest size of a live L1 checkpoint whose root the replica's records were found
        to hash to (set by the watcher each round, `Watcher._verified`; 0 after a start until
        its first round compared one)."""
        self.unavailable_since: float | None = None
        """Monotonic time since which the next block could not be obtained (None: it can)."""
        self.last_error: str | None = None
        self.progress_at = time.monotonic()
        """Monotonic time the replica last grew."""
        self.contradictions: list[dict[str, Any]] = []
        """Records revealed on L1 that differ from those the replica holds on the sequencer's
        block receipts: the sequencer promised one log and committed another."""
        self.contradicted: dict[str, Any] | None = None
        """Set by the pull (`upstream._find_contradiction`) when an upstream proved, against
        the L1 root, that the records held contradict the latest live checkpoint; cleared by
        `roll_back`."""
        self.contradiction_checked: tuple[int, int, bytes] | None = None
        """(replica size, checkpoint size, root) the upstreams were last asked about."""
        raw_rollbacks = store.get_state(ROLLBACKS_KEY)
        self.rollbacks: list[dict[str, Any]] = orjson.loads(raw_rollbacks) if raw_rollbacks else []
        """Every rollback of provisional records a checkpoint contradicted (`roll_back`)."""
        self._lock = threading.Lock()
        self.checker = BlockChecker(domain_separator)
        """The rules of docs/spec.md §8 over taken records (signatures on worker threads)."""

    @property
    def size(self) -> int:
        """Records replicated: those of the sealed, checked blocks, and any revealed on L1
        beyond them (held, not yet sealed: their block comes from an upstream later)."""
        return self.store.head.tree_size

    @property
    def anchored_size(self) -> int:
        """Records a live L1 checkpoint's root was checked to cover (`verified_size`); those
        beyond are provisional. A checkpoint that covers more than the replica holds anchors
        none of the records beyond the last checked one: until the replica reaches its size
        and its root is compared, they are only the sequencer's word (a forged prefix of its
        range must not be served as anchored)."""
        return min(self.size, self.verified_size)

    # --- taking blocks -------------------------------------------------------------------------

    def ingest(
        self,
        blocks: Sequence[PulledBlock],
        anchor: Anchor | None = None,
        expect: tuple[int, bytes] | None = None,
        before_write: Callable[[], None] | None = None,
    ) -> int:
        """Check `blocks` (consecutive, from the next one) and store them; how many were taken.

        `expect`: the (block count, last block hash) of the replica the blocks were fetched
        to continue; `ReplicaMovedError` if the replica is no longer there (rolled back while
        they were in flight), before anything is looked at: such blocks say nothing about
        their upstream, and none of them is taken. `before_write` is called once everything is
        checked, just before the write batch (the pull then reads the next range while the
        batch goes to disk).

        A block is taken only if it continues the replica, its records hash to its header's
        logRoot and the header to its blockHash (docs/spec.md §6), **and** something other than
        the upstream vouches for it:

        * what `anchor`, the latest live L1 checkpoint, covers of it hashes to the committed
          root: directly for the block reaching the checkpoint's size, through the consistency
          proof of `anchor` (RFC 9162 §2.1.4) for the blocks before it, which are taken only
          once a block so anchored is reached; and
        * what lies beyond the checkpoint is signed record by record by the sequencer's block
          receipt (`PulledBlock.receipt`): a slashable promise (docs/spec.md §9.2) no follower
          can forge.

        Stops at the first block that fails (`UpstreamError` if nothing could be taken).
        """
        with self._lock:
            if expect is not None:
                head = self.store.head
                # Verify the blocks were fetched for the replica as it is now.
                if (head.block_count, head.last_block_hash) != expect:
                    raise ReplicaMovedError(
                        f"blocks from {expect[0]} were fetched to continue block "
                        f"{expect[0] - 1} 0x{expect[1].hex()[:12]}, but the replica now "
                        f"ends at block {head.block_count - 1} "
                        f"0x{head.last_block_hash.hex()[:12]}"
                    )
            return self._ingest(blocks, anchor, before_write)

    def _ingest(
        self,
        blocks: Sequence[PulledBlock],
        anchor: Anchor | None,
        before_write: Callable[[], None] | None = None,
    ) -> int:
        if not blocks:
            return 0
        store = self.store
        head = store.head
        number, parent, start = head.block_count, head.last_block_hash, head.last_block_end
        held = head.tree_size  # > start when records revealed on L1 wait for their block
        tree = CompactTree(head.tree_size, head.frontier)
        anchored_end = 0
        if anchor is not None and anchor.first:
            served = {b.header.end: b.header.log_root for b in blocks}
            claimed = served.get(anchor.first)
            if claimed is not None:
                # Verify the served logRoot at `first` is a prefix of the L1 checkpoint's root.
                try:
                    verify_consistency(
                        anchor.first, anchor.size, claimed, anchor.root, anchor.proof
                    )
                except ConsistencyProofError as exc:
                    raise UpstreamError(
                        f"the logRoot served at size {anchor.first} does not lead to the L1 "
                        f"checkpoint's root at size {anchor.size}: {exc}"
                    ) from None
                anchored_end = anchor.first
        entries: list[Entry] = []
        seals: list[tuple[int, int]] = []
        # Per block taken: the tree after it, its root and the levels its records completed;
        # the store takes the tree from here instead of hashing it again (`Grown`).
        trees: list[CompactTree] = []
        roots: list[bytes] = []
        block_levels: list[list[list[bytes]]] = []
        receipts: list[tuple[int, bytes] | None] = []
        safe = (0, 0)  # (blocks, entries) that may be committed
        waiting_for_anchor = False
        taken = 0
        why = ""
        for block in blocks:
            h = block.header
            # Verify the header continues the replica.
            if (h.number, h.parent_hash, h.start) != (number, parent, start):
                why = (
                    f"block {h.number} [{h.start}, {h.end}) parent 0x{h.parent_hash.hex()[:12]} "
                    f"does not continue block {number - 1} ending at {start}"
                )
                break
            leaves = leaf_hashes(block.records)
            # Records already held (revealed on L1) must be the block's own.
            overlap = max(0, min(held, h.end) - h.start)
            if overlap and any(
                store.get_leaf_hash(h.start + i) != leaves[i] for i in range(overlap)
            ):
                why = f"block {h.number}: records differ from those revealed on L1"
                break
            grown = tree.copy()
            levels = grown.append_many(leaves[overlap:]) if h.end > held else []
            root = grown.root() if h.end >= held else store.root_at(h.end)
            # Verify the records hash to the header's logRoot, and the header to blockHash.
            if root != h.log_root or h.block_hash != block.block_hash:
                why = f"block {h.number}: records or header do not hash to the served logRoot/blockHash"
                break
            # Verify what the latest live checkpoint covers of the block hashes to its root.
            size = anchor.size if anchor is not None else 0
            anchored_here = False
            if anchor is not None and h.start < size:
                if h.end >= size:
                    if h.end == size:
                        at_size = root
                    elif size <= held:
                        at_size = store.root_at(size)
                    else:
                        part = tree.copy()
                        part.append_many(leaves[overlap : size - h.start])
                        at_size = part.root()
                    if at_size != anchor.root:
                        why = (
                            f"block {h.number}: its records do not hash to the root of the "
                            f"L1 checkpoint at size {size}"
                        )
                        break
                    anchored_here = True  # and with it every block before
                elif h.end > anchored_end:
                    why = (
                        f"block {h.number} [{h.start}, {h.end}): no consistency proof anchors "
                        f"it to the L1 checkpoint at size {size}"
                    )
                    break
            # Verify the sequencer vouches for what lies beyond the checkpoint.
            if h.end > size:
                if block.receipt is None:
                    why = (
                        f"block {h.number} [{h.start}, {h.end}): no sequencer receipt, and not "
                        f"anchored by a live L1 checkpoint (covering {size})"
                    )
                    break
                try:
                    verify_block_receipt(
                        block.receipt,
                        h,
                        leaves,
                        self.domain_separator,
                        self.sequencer,
                        levels if not overlap else (),  # the log's nodes over these leaves
                    )
                except InvalidFieldError as exc:  # InvalidSignatureError included
                    why = f"block {h.number}: receipt refused: {exc}"
                    break
            tree = grown
            new = block.records[overlap:]
            entries.extend(
                Entry(r, lh, m)
                for r, lh, m in zip(new, leaves[overlap:], block.metas[overlap:], strict=True)
            )
            seals.append((h.end, h.timestamp))
            trees.append(grown)
            roots.append(root)
            block_levels.append(levels)
            receipts.append(
                (h.number, encode_receipt(block.receipt))
                if h.end > size and block.receipt is not None
                else None
            )
            number, parent, start = h.number + 1, block.block_hash, h.end
            taken += 1  # noqa: SIM113 (only the blocks that pass)
            if anchored_here or h.end == anchored_end:
                waiting_for_anchor = False  # every block before is anchored now
            elif h.end <= size:
                waiting_for_anchor = True  # taken once a later block reaches the anchor
            if not waiting_for_anchor:
                safe = (taken, len(entries))
        taken, n_entries = safe
        if taken == 0:
            raise UpstreamError(why or "no block served")
        if why:
            log.warning("%s", why)
        entries, seals = entries[:n_entries], seals[:taken]
        # docs/spec.md §8 rules 1-3, 4a and 5 over every record taken: one contiguous run from
        # `held` (records revealed on L1 were checked when they were taken).
        found = self._check(held, [e.record for e in entries])
        violations = self.violations + tuple(found)
        state = {VIOLATIONS_KEY: _dump(violations)}
        # The sequencer's receipts over the provisional blocks: a rollback's evidence.
        for kept in receipts[:taken]:
            if kept is not None:
                state[block_receipt_key(kept[0])] = kept[1]
        if before_write is not None:
            before_write()
        # The tree over the records taken, as checked above against every served logRoot.
        merged: list[list[bytes]] = []
        for levels in block_levels[:taken]:
            for level, nodes in enumerate(levels):
                if level == len(merged):
                    merged.append([])
                merged[level].extend(nodes)
        grown_to = Grown(head.tree_size, head.frontier, merged, trees[taken - 1], roots[:taken])
        store.commit(entries, seals, state, check_seq=False, grown=grown_to)
        # After this write batch, a crash keeps these blocks, their records, their receipts
        # and every violation found in them together: a restart resumes after them.
        for v in found:
            log.warning("violation: rule %s at seq %d: %s", v.rule.name, v.seq, v.reason)
        self.violations = violations
        self.progress_at = time.monotonic()
        return taken

    # --- rolling back ---------------------------------------------------------------------------

    def roll_back(
        self, size: int, anchored_size: int, checkpoint: tuple[int, int, bytes]
    ) -> dict[str, Any] | None:
        """Remove the records from seq `size` on: provisional records that the L1 checkpoint
        `checkpoint` = (index, size, root) contradicts (its root is not the replica's at its
        size). `anchored_size` is what the replica holds on L1's word; the store refuses to
        cut below it. The removed blocks' headers, the sequencer's receipts over them and
        their leaf hashes are kept as evidence (state key under `EVIDENCE_PREFIX`, and a copy
        in ``evidence/`` beside the store), in the same write batch as the cut; violations
        found in removed records are dropped with them. Returns the rollback's summary (None:
        nothing beyond `size`). The pull then fetches the anchored range again, checked
        against the checkpoint's root (`ingest`).
        """
        with self._lock:
            store = self.store
            head = store.head
            if size >= head.tree_size:
                return None
            index, cp_size, cp_root = checkpoint
            blocks = []
            number = head.block_count - 1
            while number >= 0:
                header = store.get_block(number)
                if header.end <= size:
                    break
                raw = store.get_state(block_receipt_key(number))
                blocks.append(
                    {
                        **block_json(header),
                        "receipt": receipt_to_json(decode_receipt(raw), self.sequencer)
                        if raw is not None
                        else None,
                        "leafHashes": [
                            hex0x(leaf)
                            for leaf in store.read_nodes(
                                [(0, seq) for seq in range(header.start, header.end)]
                            )
                        ],
                    }
                )
                number -= 1
            blocks.reverse()
            kept = tuple(v for v in self.violations if v.seq < size)
            reindex = sorted(
                {
                    v.related
                    for v in self.violations
                    if v.seq >= size
                    and v.rule == FraudRule.REPLAY
                    and v.related is not None
                    and v.related < size
                }
            )
            key = f"{EVIDENCE_PREFIX}{index:08d}.{size:016d}"
            held_root = store.root_at(cp_size) if cp_size <= head.tree_size else None
            summary = {
                "checkpoint": index,
                "checkpointSize": cp_size,
                "checkpointRoot": hex0x(cp_root),
                "heldRoot": hex0x(held_root) if held_root is not None else None,
                "from": size,
                "to": head.tree_size,
                "blocksRemoved": len(blocks),
                "receiptsKept": sum(1 for b in blocks if b["receipt"] is not None),
                "evidenceKey": key,
                "at": int(time.time()),
            }
            evidence = orjson.dumps({**summary, "blocks": blocks})
            rollbacks = [*self.rollbacks, summary]
            state: dict[str, bytes | None] = {
                VIOLATIONS_KEY: _dump(kept),
                ROLLBACKS_KEY: orjson.dumps(rollbacks),
                key: evidence,
            }
            for b in blocks:
                state[block_receipt_key(b["number"])] = None
            log.error(
                "checkpoint %d contradicts the provisional records from seq %d: rolling back "
                "[%d, %d), keeping %d block receipts as evidence",
                index,
                size,
                size,
                head.tree_size,
                summary["receiptsKept"],
            )
            store.truncate(size, anchored_size=anchored_size, state=state, reindex_nonces=reindex)
            # After this write batch, a crash keeps the cut log, its evidence and the
            # violations that remain together; before it, the log as it was (the watcher
            # finds the contradiction again and rolls back again).
            self.violations = kept
            self.rollbacks = rollbacks
            self.contradicted = None
            self.contradiction_checked = None
            self.progress_at = time.monotonic()
            self._write_evidence_file(key, evidence)
            log.warning("rolled back to %d records; fetching the anchored range again", size)
            return summary

    def _write_evidence_file(self, key: str, evidence: bytes) -> None:
        """A copy of the evidence for the operator (the store's copy is the one kept with
        the cut); a failure to write it is logged, not fatal."""
        folder = Path(self.store.path).parent / "evidence"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{key}.json"
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(evidence)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.error("evidence file for %s not written: %s", key, exc)

    def evidence(self, key: str) -> bytes | None:
        """The evidence a rollback kept (`rollbacks[i]["evidenceKey"]`), or None."""
        if not key.startswith(EVIDENCE_PREFIX):
            return None
        return self.store.get_state(key)

    def take_revealed(self, start: int, records: Sequence[bytes]) -> int:
        """Take records revealed on L1 by a DA answer (`revealRecords`: the contract checked
        them against the checkpoint's root) for ``[start, start + len(records))``; how many
        were new. Only the part continuing the replica is taken, unsealed: the block holding
        them is sealed when an upstream serves it (`ingest` checks it holds these records).

        Raises `RevealedContradictionError` (nothing taken) when the replica already holds
        other records in the range: L1's are the committed ones, so the held ones — taken on
        the sequencer's receipts only — are contradicted; the watcher rolls them back and takes
        the revealed ones again (docs/validator.md, "Records revealed on L1")."""
        with self._lock:
            held = self.store.head.tree_size
            end = start + len(records)
            # Verify what the replica already holds of the range is what L1 revealed.
            for seq in range(start, min(held, end)):
                mine, theirs = self.store.get_leaf_hash(seq), leaf_hash(records[seq - start])
                if mine != theirs:
                    log.error(
                        "record %d revealed on L1 differs from the replica's: the sequencer "
                        "vouched for other records than it committed",
                        seq,
                    )
                    self.contradictions.append(
                        {"seq": seq, "held": hex0x(mine), "revealed": hex0x(theirs)}
                    )
                    raise RevealedContradictionError(seq, mine, theirs)
            if not start <= held < end:
                return 0
            new = list(records[held - start :])
            found = self._check(held, new)
            violations = self.violations + tuple(found)
            entries = [Entry(r, leaf_hash(r), None) for r in new]
            self.store.commit(entries, (), {VIOLATIONS_KEY: _dump(violations)}, check_seq=False)
            # After this write batch, a crash keeps the revealed records and their violations.
            for v in found:
                log.warning("violation: rule %s at seq %d: %s", v.rule.name, v.seq, v.reason)
            self.violations = violations
            self.progress_at = time.monotonic()
            log.info("took records [%d, %d) revealed on L1", held, end)
            return len(new)

    def _check(self, first: int, records: Sequence[bytes]) -> list[Violation]:
        """docs/spec.md §8 rules 1-3, 4a and 5 for `records`, the replica's next from seq
        `first` (the store holds everything before them)."""
        if not records:
            return []
        store = self.store
        previous = store.get_record(first - 1) if first > 0 else None
        return self.checker.check(first, records, previous, store.get_record, store.find_by_nonce)

    def close(self) -> None:
        """Stop the signature workers (the store is the caller's)."""
        self.checker.close()


def _dump(violations: Sequence[Violation]) -> bytes:
    return orjson.dumps([v.to_json() for v in violations])
