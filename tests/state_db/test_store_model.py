"""Store against a dict-and-list model (py-evm's test_journal_db.py style).

A Hypothesis `RuleBasedStateMachine` drives a real LevelDB in a temporary directory and a
plain Python model side by side: commits of random batches (signed and unsigned records, with
and without metas, with block seals), timer-style seals without records, reopening, state and
checkpoint writes; half the commits hand over the tree grown beforehand (`grown=`, as the
validator's replica does). Every read is compared with the model; roots come from a naive
recursive RFC 9162 tree, and proofs are checked with `prover.tree.verify_*` against those roots.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from prover.block import GENESIS_PARENT_HASH, BlockHeader
from prover.errors import InvalidFieldError, NotFoundError
from prover.hashing import EMPTY_ROOT, keccak256, leaf_hash
from prover.tree import verify_consistency, verify_inclusion
from state_db.store import Entry, Store
from tests.state_db.records import digest_of, make_record, subject_of, submitter_of
from tests.state_db.test_grown import grow


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, straight from the definition."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return keccak256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:]))


@dataclass
class Spec:
    signed: bool
    meta: bool
    subject: int
    digest: int
    submitter: int


specs = st.builds(
    Spec,
    signed=st.booleans(),
    meta=st.booleans(),
    subject=st.integers(0, 3),
    digest=st.integers(0, 3),
    submitter=st.integers(0, 2),
)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="store-model-")
        self.store: Store | None = None
        self.records: list[bytes] = []
        self.leaves: list[bytes] = []
        self.metas: list[bytes | None] = []
        self.receipts: list[bytes | None] = []
        self.blocks: list[BlockHeader] = []
        self.nonces: dict[tuple[bytes, int], int] = {}
        self.next_nonce: dict[bytes, int] = {}
        self.checkpoints: dict[int, bytes] = {}
        self.state: dict[str, bytes] = {}
        self.roots: dict[int, bytes] = {}

    def root(self, size: int) -> bytes:
        """The model's naive root of the first `size` leaves (memoised: leaves only grow)."""
        if size not in self.roots:
            self.roots[size] = naive_root(self.leaves[:size])
        return self.roots[size]

    @initialize(bits=st.sampled_from([0, 1, 2, 8]))
    def open_store(self, bits: int) -> None:
        self.store = Store.open(self.dir, node_chunk_bits=bits)

    def teardown(self) -> None:
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def s(self) -> Store:
        assert self.store is not None
        return self.store

    @property
    def last_end(self) -> int:
        return self.blocks[-1].end if self.blocks else 0

    def _entry(self, seq: int, spec: Spec) -> Entry:
        submitter = submitter_of(spec.submitter)
        nonce = self.next_nonce.get(submitter, 0)
        record = make_record(
            seq,
            subject=subject_of(spec.subject),
            digest=digest_of(spec.digest),
            submitter=submitter,
            nonce=nonce,
            signed=spec.signed,
        )
        meta = b'{"seq":%d}' % seq if spec.meta else None
        return Entry(record, leaf_hash(record), meta)

    @rule(batch=st.lists(specs, max_size=40), data=st.data())
    def commit(self, batch: list[Spec], data: st.DataObject) -> None:
        first = len(self.records)
        entries = []
        for i, spec in enumerate(batch):
            entry = self._entry(first + i, spec)
            entries.append(entry)
            if spec.signed:
                submitter = submitter_of(spec.submitter)
                nonce = self.next_nonce.get(submitter, 0)
                self.nonces[(submitter, nonce)] = first + i
                self.next_nonce[submitter] = nonce + 1
        new_size = first + len(entries)
        ends = sorted(
            data.draw(
                st.sets(st.integers(self.last_end + 1, new_size), max_size=4)
                if new_size > self.last_end
                else st.just(set())
            )
        )
        seal = [(end, 1000 + end) for end in ends]
        state = data.draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.binary(max_size=8)))
        receipt = b"receipt %d" % first if bool(entries) and data.draw(st.booleans()) else None
        # Half the commits hand over the tree as a validator does (`grown`): same store.
        as_validator = data.draw(st.booleans())
        grown = grow(self.s, entries, seal) if as_validator else None
        result = self.s.commit(entries, seal, state, receipt=receipt, grown=grown)
        self.receipts += [receipt] * len(entries)

        self.records += [e.record for e in entries]
        self.leaves += [e.leaf_hash for e in entries]
        self.metas += [e.meta for e in entries]
        self.state.update(state)
        expected_blocks = []
        for end, ts in seal:
            parent = self.blocks[-1].block_hash if self.blocks else GENESIS_PARENT_HASH
            header = BlockHeader(len(self.blocks), parent, self.last_end, end, self.root(end), ts)
            self.blocks.append(header)
            expected_blocks.append(header)
        assert result.first_seq == first
        assert result.tree_size == new_size
        assert result.root == self.root(len(self.leaves))
        assert result.blocks == tuple(expected_blocks)

    @precondition(lambda self: len(self.records) > self.last_end)
    @rule(data=st.data())
    def seal_without_records(self, data: st.DataObject) -> None:
        end = data.draw(st.integers(self.last_end + 1, len(self.records)))
        (header,) = self.s.commit([], [(end, 7)]).blocks
        parent = self.blocks[-1].block_hash if self.blocks else GENESIS_PARENT_HASH
        expected = BlockHeader(len(self.blocks), parent, self.last_end, end, self.root(end), 7)
        assert header == expected
        self.blocks.append(expected)

    @rule(bad_seal=st.booleans(), position=st.integers(0, 5))
    def rejected_commit_changes_nothing(self, bad_seal: bool, position: int) -> None:
        before = self.s.head
        first = len(self.records)
        entries = [self._entry(first + i, Spec(False, True, 0, 0, 0)) for i in range(6)]
        if bad_seal:
            # A block end at or below the last one is invalid input.
            with pytest.raises(InvalidFieldError, match="block end"):
                self.s.commit(entries, [(self.last_end, 1)])
        else:
            # A record whose seq word disagrees with its position is a caller bug.
            wrong = make_record(first + 99, subject=bytes(32), digest=bytes(32))
            entries[position] = Entry(wrong, leaf_hash(wrong), None)
            with pytest.raises(AssertionError, match="seq"):
                self.s.commit(entries)
        assert self.s.head == before
        with pytest.raises(NotFoundError):
            self.s.get_record(first)

    @rule()
    def reopen(self) -> None:
        bits = self.s.node_chunk_bits
        self.s.close()
        # The chunk size is fixed at creation: a different request is ignored on reopen.
        self.store = Store.open(self.dir, create=False, node_chunk_bits=8 - bits % 8)
        assert self.s.node_chunk_bits == bits

    @rule(data=st.data(), value=st.binary(max_size=16))
    def put_checkpoint(self, data: st.DataObject, value: bytes) -> None:
        index = data.draw(st.integers(0, len(self.checkpoints)))
        self.s.put_checkpoint(index, value)
        self.checkpoints[index] = value

    @rule(values=st.dictionaries(st.sampled_from(["a", "x", "ü"]), st.binary(max_size=8)))
    def put_state(self, values: dict[str, bytes]) -> None:
        self.s.put_state(values)
        self.state.update(values)

    # --- checks ------------------------------------------------------------------------------

    @invariant()
    def head_matches(self) -> None:
        if self.store is None:
            return
        head = self.s.head
        assert head.tree_size == len(self.records)
        assert head.root == self.root(len(self.leaves))
        assert head.block_count == len(self.blocks)
        assert head.last_block_end == self.last_end
        assert head.last_block_hash == (
            self.blocks[-1].block_hash if self.blocks else GENESIS_PARENT_HASH
        )
        assert self.s.checkpoint_count() == len(self.checkpoints)

    @precondition(lambda self: self.records)
    @rule(data=st.data())
    def check_record(self, data: st.DataObject) -> None:
        n = len(self.records)
        seq = data.draw(st.integers(0, n - 1))
        assert self.s.get_record(seq) == self.records[seq]
        assert self.s.get_meta(seq) == self.metas[seq]
        assert self.s.get_leaf_hash(seq) == self.leaves[seq]
        if self.receipts[seq] is None:
            with pytest.raises(NotFoundError, match="no receipt"):
                self.s.receipt_of_seq(seq)
        else:
            assert self.s.receipt_of_seq(seq) == self.receipts[seq]
        start = data.draw(st.integers(0, n))
        end = data.draw(st.integers(start, n))
        assert self.s.get_records(start, end) == self.records[start:end]
        if seq < self.last_end:
            block = self.s.block_of_seq(seq)
            assert block.start <= seq < block.end
            assert block == self.blocks[block.number]
        else:
            with pytest.raises(NotFoundError, match="not in a sealed block"):
                self.s.block_of_seq(seq)

    @rule()
    def missing_things_raise(self) -> None:
        n = len(self.records)
        with pytest.raises(NotFoundError, match=f"no record at seq {n}: tree size is {n}"):
            self.s.get_record(n)
        with pytest.raises(NotFoundError):
            self.s.get_meta(n)
        with pytest.raises(NotFoundError):
            self.s.receipt_of_seq(n)
        with pytest.raises(InvalidFieldError, match="receipt"):
            self.s.commit([], receipt=b"r")
        with pytest.raises(NotFoundError):
            self.s.get_records(0, n + 1)
        with pytest.raises(NotFoundError):
            self.s.get_block(len(self.blocks))
        with pytest.raises(NotFoundError):
            self.s.root_at(n + 1)
        with pytest.raises(NotFoundError):
            self.s.inclusion_proof(0, n + 1)

    @rule(which=st.integers(0, 3), after=st.integers(-1, 60), limit=st.integers(0, 20))
    def check_indexes(self, which: int, after: int, limit: int) -> None:
        by_digest = [i for i, r in enumerate(self.records) if r[128:160] == digest_of(which)]
        by_subject = [i for i, r in enumerate(self.records) if r[96:128] == subject_of(which)]
        got = self.s.find_by_digest(digest_of(which), after=after, limit=limit)
        assert got == [i for i in by_digest if i > after][:limit]
        got = self.s.find_by_subject(subject_of(which), after=after, limit=limit)
        assert got == [i for i in by_subject if i > after][:limit]
        submitter = submitter_of(which % 3)
        for nonce in range(self.next_nonce.get(submitter, 0) + 1):
            assert self.s.find_by_nonce(submitter, nonce) == self.nonces.get((submitter, nonce))

    @rule()
    def check_blocks(self) -> None:
        for block in self.blocks:
            assert self.s.get_block(block.number) == block

    @precondition(lambda self: self.records)
    @rule(data=st.data())
    def check_proofs(self, data: st.DataObject) -> None:
        n = len(self.records)
        size = data.draw(st.integers(1, n))
        index = data.draw(st.integers(0, size - 1))
        root = self.root(size)
        assert self.s.root_at(size) == root
        verify_inclusion(self.leaves[index], index, size, self.s.inclusion_proof(index, size), root)
        first = data.draw(st.integers(0, size))
        verify_consistency(
            first,
            size,
            self.root(first),
            root,
            self.s.consistency_proof(first, size),
        )

    @rule()
    def check_state_and_checkpoints(self) -> None:
        for name in ("a", "b", "c", "x", "ü", "never"):
            assert self.s.get_state(name) == self.state.get(name)
        for index in range(len(self.checkpoints) + 1):
            assert self.s.get_checkpoint(index) == self.checkpoints.get(index)


StoreMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoreMachine = StoreMachine.TestCase
