"""The follower's replica: pull sealed blocks from upstreams, re-check them, store them.

A replica is a `Store` fed with the sequencer's records and the same block seals, so its tree
and its block hashes equal the sequencer's. Every block is checked *before* it is written:

* the header continues the replica (number, parentHash, start) and holds `end - start` records;
* the records hash to the header's `logRoot` at size `end` (RFC 9162) and the header to its
  `blockHash` (docs/spec.md §6): an upstream serving records that do not hash to what it claimed is
  treated as not serving them at all (the block stays "unavailable" until some upstream serves
  it correctly, or a DA challenge settles it on L1);
* every record against the rules of docs/spec.md §8 (`prover.validity`, applied at ingest speed
  by `sequencer.validator.check.BlockChecker`): rules 1-3 per record, 4a against its
  predecessor, 5 against the store's nonce index and the records of the same pull.
  Rule 4b needs the covering checkpoint's commit time and is checked by the L1 watcher.

Violations are stored in the same write batch as the records that break them.

A record whose seq word is wrong (rule 1) is stored as served (`Store.commit(check_seq=False)`):
the fraud proof needs it, and its inclusion proof, from the replica.

Every method blocks (HTTP, LevelDB): the service runs them in a worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from prover.answers import block_from_json, event_from_json
from prover.block import BlockHeader
from prover.errors import AttestError, InvalidFieldError
from prover.hashing import keccak256, leaf_hashes
from prover.jsonrpc import JsonRpcError
from prover.record import record_meta_hash
from prover.tree import CompactTree
from prover.validity import Violation, violation_from_json
from sequencer.rpc.client import RpcClient, TransportError
from sequencer.rpc.methods import MAX_FULL_BLOCKS_PER_BATCH
from sequencer.validator.check import BlockChecker
from state_db.store import Entry, Store

log = logging.getLogger(__name__)

VIOLATIONS_KEY: Final[str] = "validator.violations"
"""State key: JSON list of every `Violation` found in the stored records."""


class UpstreamError(AttestError):
    """No upstream served the next block correctly (down, withholding, or inconsistent)."""


@dataclass(frozen=True, slots=True)
class PulledBlock:
    """One block as an upstream served it, parsed and checked for shape only."""

    header: BlockHeader
    block_hash: bytes
    records: tuple[bytes, ...]
    metas: tuple[bytes | None, ...]


def parse_block(obj: Any) -> PulledBlock:
    """`attest_getBlock(n, true)`'s answer as a `PulledBlock`; `InvalidFieldError` if malformed."""
    if not isinstance(obj, dict) or not isinstance(obj.get("events"), list):
        raise InvalidFieldError("block", "must be an object with an events list")
    header, block_hash = block_from_json(obj)
    records: list[bytes] = []
    metas: list[bytes | None] = []
    for i, ev in enumerate(obj["events"]):
        record, meta = event_from_json(ev, f"events[{i}]")
        if meta is not None and keccak256(meta) != record_meta_hash(record):
            # Meta is off-chain (docs/spec.md §3): a wrong one is not provable, only not kept.
            log.warning(
                "block %d: meta of record %d does not hash to metaHash; dropped",
                header.number,
                header.start + i,
            )
            meta = None
        records.append(record)
        metas.append(meta)
    if len(records) != header.end - header.start:
        raise InvalidFieldError(
            "block", f"has {len(records)} records for [{header.start}, {header.end})"
        )
    return PulledBlock(header, block_hash, tuple(records), tuple(metas))


class Upstreams:
    """The sequencer and any other followers, tried in order for each block."""

    def __init__(
        self, urls: Sequence[str], *, timeout_s: float = 10.0, user_agent: str | None = None
    ) -> None:
        if not urls:
            raise InvalidFieldError("sequencer", "give at least one upstream URL")
        self.clients = [RpcClient(u, timeout=timeout_s, user_agent=user_agent) for u in urls]

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def latest_block(self) -> int | None:
        """The highest block number any upstream has sealed (None: none has, or all down)."""
        best: int | None = None
        errors: list[str] = []
        for c in self.clients:
            try:
                latest = c.call("attest_status")["latestBlock"]
            except (
                JsonRpcError,
                TransportError,
                OSError,
                KeyError,
                TypeError,
            ) as exc:  # OSError: refused
                errors.append(f"{c.url}: {exc}")
                continue
            if isinstance(latest, dict) and isinstance(latest.get("number"), int):
                best = max(best if best is not None else -1, latest["number"])
        if best is None and len(errors) == len(self.clients):
            raise UpstreamError("no upstream answers attest_status: " + "; ".join(errors))
        return best

    def blocks(self, first: int, count: int, client_index: int = 0) -> list[Any]:
        """Up to `count` raw blocks from `first` from one upstream, stopping at the first error."""
        client = self.clients[client_index]
        answers = client.batch(
            [("attest_getBlock", [n, True]) for n in range(first, first + count)]
        )
        out: list[Any] = []
        for answer in answers:
            if isinstance(answer, JsonRpcError):
                break
            out.append(answer)
        return out


class Replica:
    """The replicated log and what is wrong with it. One writer (the pull loop's thread)."""

    def __init__(self, store: Store, domain_separator: bytes) -> None:
        self.store = store
        self.domain_separator = domain_separator
        raw = store.get_state(VIOLATIONS_KEY)
        self.violations: tuple[Violation, ...] = (
            tuple(violation_from_json(v) for v in orjson.loads(raw)) if raw else ()
        )
        self.unavailable_since: float | None = None
        """Monotonic time since which the next block could not be obtained (None: it can)."""
        self.last_error: str | None = None
        self.checker = BlockChecker(domain_separator)
        """The rules of docs/spec.md §8 over pulled records (signatures on worker threads)."""

    def close(self) -> None:
        """Stop the signature workers (the store is the caller's)."""
        self.checker.close()

    @property
    def size(self) -> int:
        """Records replicated: those of the sealed, checked blocks."""
        return self.store.head.last_block_end

    # --- pulling -----------------------------------------------------------------------------

    def pull(self, upstreams: Upstreams, *, max_blocks: int = MAX_FULL_BLOCKS_PER_BATCH) -> int:
        """Pull, check and store the next blocks; the number of blocks taken (0: up to date).

        `max_blocks` defaults to what a sequencer answers in one body: asking for more gets the
        whole body refused, on every pull once the replica is that far behind.

        Raises `UpstreamError` when the next block exists upstream but no upstream serves it
        correctly; `unavailable_since` then says since when.
        """
        latest = upstreams.latest_block()
        nxt = self.store.head.block_count
        if latest is None or latest < nxt:
            self.unavailable_since = None
            return 0
        count = min(max_blocks, latest + 1 - nxt)
        errors: list[str] = []
        for i in range(len(upstreams.clients)):
            try:
                raw = upstreams.blocks(nxt, count, i)
                blocks = [parse_block(b) for b in raw]
                taken = self.ingest(blocks)
            except (TransportError, OSError, InvalidFieldError, UpstreamError) as exc:
                errors.append(f"{upstreams.clients[i].url}: {exc}")
                continue
            if taken:
                self.unavailable_since = None
                self.last_error = None
                return taken
            errors.append(f"{upstreams.clients[i].url}: block {nxt} not served")
        if self.unavailable_since is None:
            self.unavailable_since = time.monotonic()
        self.last_error = "; ".join(errors)
        raise UpstreamError(f"block {nxt} (from seq {self.size}) unavailable: {self.last_error}")

    def ingest(self, blocks: Sequence[PulledBlock]) -> int:
        """Check `blocks` (consecutive, from the next one) and store them; how many were taken.

        Stops at the first block that does not continue the replica or does not hash to its
        header (`UpstreamError` if that is the very first one).
        """
        store = self.store
        head = store.head
        number, parent, start = head.block_count, head.last_block_hash, head.last_block_end
        tree = CompactTree(head.tree_size, head.frontier)
        entries: list[Entry] = []
        seals: list[tuple[int, int]] = []
        found: list[Violation] = []
        accepted: list[PulledBlock] = []
        for block in blocks:
            h = block.header
            # Verify the header continues the replica.
            if (h.number, h.parent_hash, h.start) != (number, parent, start):
                why = (
                    f"block {h.number} [{h.start}, {h.end}) parent 0x{h.parent_hash.hex()[:12]} "
                    f"does not continue block {number - 1} ending at {start}"
                )
                if not accepted:
                    raise UpstreamError(why)
                log.warning("%s", why)
                break
            leaves = leaf_hashes(block.records)
            grown = tree.copy()
            grown.append_many(leaves)
            # Verify the records hash to the header's logRoot, and the header to blockHash.
            if grown.root() != h.log_root or h.block_hash != block.block_hash:
                why = f"block {h.number}: records or header do not hash to the served logRoot/blockHash"
                if not accepted:
                    raise UpstreamError(why)
                log.warning("%s", why)
                break
            tree = grown
            accepted.append(block)
            entries.extend(
                Entry(r, lh, m) for r, lh, m in zip(block.records, leaves, block.metas, strict=True)
            )
            seals.append((h.end, h.timestamp))
            number, parent, start = h.number + 1, block.block_hash, h.end
        if accepted:
            # docs/spec.md §8 rules 1-3, 4a and 5 over every record of the accepted blocks.
            first = accepted[0].header.start
            found = self.checker.check(
                first,
                [e.record for e in entries],
                store.get_record(first - 1) if first > 0 else None,
                store.get_record,
                store.find_by_nonce,
            )
        violations = self.violations + tuple(found)
        if entries or seals:
            store.commit(entries, seals, {VIOLATIONS_KEY: _dump(violations)}, check_seq=False)
            # After this write batch, a crash keeps these blocks, their records and every
            # violation found in them together: a restart resumes after them.
        elif found:
            store.put_state({VIOLATIONS_KEY: _dump(violations)})
        for v in found:
            log.warning("violation: rule %s at seq %d: %s", v.rule.name, v.seq, v.reason)
        self.violations = violations
        return len(accepted)


def _dump(violations: Sequence[Violation]) -> bytes:
    return orjson.dumps([v.to_json() for v in violations])
