"""Readers in other threads during commits see only durable, self-consistent state.

The sequencer runs one writer and many readers in worker threads (trio.to_thread.run_sync).
A reader that takes `store.head` must be able to read every record below it and get proofs
that verify against its root, whatever the writer is doing at that moment.
"""

from __future__ import annotations

import threading
from pathlib import Path

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
                        assert all(s < store.head.tree_size for s in store.find_by_digest(digest_of(0)))
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
