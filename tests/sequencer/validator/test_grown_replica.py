"""`Replica.ingest` hands the store the tree it hashed to check the served log roots
(`Store.commit(grown=...)`): what it hands over is only ever what it computed from the records
and checked, so the replica's store is the sequencer's, node for node, whatever the upstream
serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.record import encode_record
from sequencer.validator.replicate import Replica, UpstreamError, parse_block
from state_db.store import Store
from tests.sequencer.validator.test_replicate import SEP, SEQUENCER, Source, unsigned

# Block sizes crossing node chunks (256 nodes) and levels, one-record blocks among them.
SIZES = [1, 2, 5, 250, 1, 7, 300, 3, 256, 1, 44]


def assert_same_store(replica: Store, source: Store) -> None:
    assert replica.head == source.head
    size = source.head.tree_size
    for number in range(source.head.block_count):
        assert replica.get_block(number) == source.get_block(number)
    for n in range(1, size + 1):
        assert replica.root_at(n) == source.root_at(n)
    for n in (1, 9, 255, 256, 257, 600, size):
        for i in {0, n // 3, n - 1}:
            assert replica.inclusion_proof(i, n) == source.inclusion_proof(i, n)
        assert replica.consistency_proof(n, size) == source.consistency_proof(n, size)


def test_the_replica_stores_the_sequencers_tree_node_for_node(tmp_path: Path) -> None:
    source = Source(tmp_path / "source")
    seq = 0
    for count in SIZES:
        source.append_block([encode_record(unsigned(seq + i)) for i in range(count)])
        seq += count
    blocks = source.blocks()
    replica = Replica(Store.open(tmp_path / "replica"), SEP, SEQUENCER)
    # Pulled in runs of uneven length, the last run with a block the upstream tampered with:
    # the blocks before it are taken (their growth alone is handed over), it is not.
    assert replica.ingest(blocks[:1]) == 1
    assert replica.ingest(blocks[1:4]) == 3
    tampered = dict(source.block(6), blockHash="0x" + "11" * 32)
    assert replica.ingest([*blocks[4:6], parse_block(tampered)]) == 2
    assert replica.store.head.tree_size == sum(SIZES[:6])
    with pytest.raises(UpstreamError, match="do not hash"):
        replica.ingest([parse_block(tampered)])
    assert replica.ingest(blocks[6:]) == len(SIZES) - 6
    replica.store.close()
    # Reopened: what a restart resumes from agrees with the nodes on disk.
    with Store.open(tmp_path / "replica") as store:
        assert_same_store(store, source.store)
