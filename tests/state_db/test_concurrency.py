"""Readers in other threads during commits see only durable, self-consistent state.

The sequencer commits in a worker thread (trio.to_thread.run_sync) while its JSON-RPC reads
run on the event loop's thread, and a validator reads from worker threads too. A reader that
takes `store.head` must be able to read every record below it and get proofs that verify
against its root, whatever the writer is doing at that moment; and the chunk cache that all
of them fill and evict must survive being changed from several threads at once.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pytest

import state_db.store as store_module
from prover.tree import verify_consistency, verify_inclusion
from state_db.store import Store
from tests.state_db.records import deterministic_entry, digest_of

GROUPS = 120
GROUP_SIZE = 37


def test_readers_see_only_durable_state_while_a_writer_commits(tmp_path: Path) -> None:
    entries = [deterministic_entry(seq) for seq in range(GROUPS * GROUP_SIZE)]
    errors: list[BaseException] = []
    done = threading.Event()
    reads = [0, 0]

    with Store.open(tmp_path / "s", node_chunk_bits=3) as store:

        def writer() -> None:
            try:
                for g in range(GROUPS):
                    end = (g + 1) * GROUP_SIZE
                    seal = [(end, end)] if g % 2 else []
                    store.commit(entries[g * GROUP_SIZE : end], seal)
            except BaseException as e:
                errors.append(e)
            finally:
                done.set()

        def reader(slot: int) -> None:
            try:
                previous = None
                while not done.is_set() or reads[slot] == 0:
                    head = store.head
                    n = head.tree_size
                    if previous is not None:
                        # Verify the log only grew, and consistently.
                        proof = store.consistency_proof(previous.tree_size, n)
                        verify_consistency(previous.tree_size, n, previous.root, head.root, proof)
                    if n:
                        i = (reads[slot] * 7919) % n
                        assert store.get_record(n - 1) == entries[n - 1].record
                        assert store.root_at(n) == head.root
                        proof = store.inclusion_proof(i, n)
                        verify_inclusion(entries[i].leaf_hash, i, n, proof, head.root)
                        assert all(
                            s < store.head.tree_size for s in store.find_by_digest(digest_of(0))
                        )
                    if head.block_count:
                        block = store.get_block(head.block_count - 1)
                        assert block.block_hash == head.last_block_hash
                    previous = head
                    reads[slot] += 1
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=writer)]
        threads += [threading.Thread(target=reader, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        if errors:
            raise errors[0]
        assert store.head.tree_size == GROUPS * GROUP_SIZE
    assert min(reads) > 10


def _yield_at_every_store_builtin(frame: FrameType, event: str, arg: object) -> None:
    """A profile hook that hands the GIL to another thread after every builtin the store calls.

    With the default 5 ms switch interval, a thread is preempted inside a two-call window such
    as ``next(iter(cache))`` about once in millions of calls; yielding after every builtin
    makes such interleavings happen within a few calls.
    """
    if event == "c_return" and frame.f_code.co_filename == store_module.__file__:
        time.sleep(0)


def test_chunk_cache_eviction_from_many_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 4-entry cache makes almost every read a miss that evicts, in every thread.
    monkeypatch.setattr(store_module, "_CHUNK_CACHE_MAX", 4)
    base, commits = 1000, 60
    entries = [deterministic_entry(seq) for seq in range(base + commits)]
    leaves = [e.leaf_hash for e in entries]
    errors: list[BaseException] = []
    done = threading.Event()
    reads = [0] * 4

    with Store.open(tmp_path / "s", node_chunk_bits=0) as store:
        store.commit(entries[:base], [(base // 2, 1)])

        def writer() -> None:
            sys.setprofile(_yield_at_every_store_builtin)
            try:
                for seq in range(base, base + commits):
                    store.commit(entries[seq : seq + 1])
                    # A timer seal below the tree size takes its root from stored nodes, so
                    # the commit itself reads (and evicts) in the writer thread; then a
                    # placement-style read, as the sequencer's writer does.
                    store.commit([], [(store.head.last_block_end + 1, 2)])
                    assert store.get_record(seq - base // 2) == entries[seq - base // 2].record
            except BaseException as e:
                errors.append(e)
            finally:
                done.set()

        def reader(slot: int) -> None:
            sys.setprofile(_yield_at_every_store_builtin)
            rng = random.Random(slot)
            try:
                while not done.is_set() or reads[slot] == 0:
                    head = store.head
                    i = rng.randrange(head.tree_size)
                    assert store.get_record(i) == entries[i].record
                    proof = store.inclusion_proof(i, head.tree_size)
                    verify_inclusion(leaves[i], i, head.tree_size, proof, head.root)
                    reads[slot] += 1
            except BaseException as e:
                errors.append(e)
                done.set()

        threads = [threading.Thread(target=writer)]
        threads += [threading.Thread(target=reader, args=(i,)) for i in range(len(reads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        if errors:
            raise errors[0]
        assert store.head.tree_size == base + commits
        assert len(store._chunk_cache) <= 4
    assert min(reads) > 0
