"""Crash safety: SIGKILL a writer at random moments; the store must be a prefix of whole batches.

Each round starts `_crash_writer` on the same directory, lets it commit a random number of
batches, kills it with SIGKILL (no atexit, no flush, no close), and reopens the store. After
every kill the store must hold exactly the batches up to some boundary at or after the last one
the child reported durable (at most the one batch in flight beyond it), every record must be
the deterministic one, and the head root must equal a naive recomputation from the records.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import plyvel
import pytest

from prover.block import GENESIS_PARENT_HASH
from prover.hashing import leaf_hash
from state_db import schema
from state_db.store import Store
from tests.state_db._crash_writer import batch_size, receipt_for, seals_block
from tests.state_db.records import deterministic_entry
from tests.state_db.test_store_model import naive_root

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 24


def boundaries_after(size: int) -> int:
    """The end of the batch that starts at `size`."""
    return size + batch_size(size)


def is_boundary(size: int) -> bool:
    b = 0
    while b < size:
        b = boundaries_after(b)
    return b == size


def run_writer_until_killed(path: Path, rng: random.Random) -> int:
    """Start the writer, kill it at a random moment; return the last size it reported."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.state_db._crash_writer", str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    reported = 0
    for _ in range(rng.randint(0, 4)):
        line = child.stdout.readline()
        if not line:
            break
        reported = int(line)
    # A random delay puts the kill anywhere: inside open, a batch build, or the fsync.
    time.sleep(rng.uniform(0, 0.02))
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # Lines already in the pipe were printed after their commit returned: durable too.
    for line in child.stdout:
        reported = int(line)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return reported


def check_store(path: Path, reported: int, previous: int) -> int:
    with Store.open(path) as store:
        head = store.head
        size = head.tree_size
        # Verify the size is a whole-batch boundary, at or after every durable report, and at
        # most one (in-flight) batch beyond the last one.
        assert is_boundary(size), f"tree size {size} is not a batch boundary"
        assert size >= max(reported, previous), (size, reported, previous)
        if reported:
            assert size in (reported, boundaries_after(reported)), (size, reported)
        records = store.get_records(0, size)
        leaves = []
        for seq, record in enumerate(records):
            expected = deterministic_entry(seq)
            assert record == expected.record, f"record {seq} differs"
            leaves.append(leaf_hash(record))
        assert head.root == naive_root(leaves)
        if size:
            assert store.get_leaf_hash(size - 1) == leaves[-1]
            assert store.get_meta(size - 1) == deterministic_entry(size - 1).meta
            assert store.receipt_of_seq(size - 1) == receipt_for(_batch_start(size))
        # The caller's state key was written in the same batch as the head.
        state = store.get_state("writer.tree_size")
        assert (state is None and size == 0) or state == size.to_bytes(8, "big")
        # Blocks: the chain links up, and the blocks tile the log up to the last seal.
        parent, start = GENESIS_PARENT_HASH, 0
        for number in range(head.block_count):
            block = store.get_block(number)
            assert block.parent_hash == parent and block.start == start
            assert seals_block(_batch_start(block.end))
            parent, start = block.block_hash, block.end
        assert (parent, start) == (head.last_block_hash, head.last_block_end)
        if head.block_count:
            assert store.get_block(head.block_count - 1).log_root == naive_root(leaves[:start])
    # Verify nothing of a lost batch is left behind the head (records, indexes).
    db = plyvel.DB(str(path), create_if_missing=False)
    try:
        chunks = -(-size // schema.RECORDS_PER_CHUNK)
        for prefix, expected in (
            (schema.RECORD_PREFIX, chunks),
            (schema.DIGEST_PREFIX, size),
            (schema.SUBJECT_PREFIX, size),
        ):
            count = sum(1 for _ in db.iterator(prefix=prefix, include_value=False))
            assert count == expected, f"{count} keys under {prefix!r}, tree size {size}"
    finally:
        db.close()
    if size:
        # Every record is found by its leaf hash (the index entry of the same batch).
        with Store.open(path) as store:
            for seq in (0, size // 2, size - 1):
                assert store.find_by_leaf_hash(leaf_hash(store.get_record(seq))) == [seq]
    return size


def _batch_start(end: int) -> int:
    b = 0
    while True:
        nxt = boundaries_after(b)
        if nxt == end:
            return b
        assert nxt < end
        b = nxt


@pytest.mark.slow
def test_sigkill_leaves_a_prefix_of_whole_batches(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"crash test seed {seed}")  # shown by pytest when the test fails
    rng = random.Random(seed)
    path = tmp_path / "store"
    previous = 0
    sizes = []
    for _ in range(ROUNDS):
        reported = run_writer_until_killed(path, rng)
        previous = check_store(path, reported, previous)
        sizes.append(previous)
    # The test only means something if the writer got somewhere between kills.
    assert sizes[-1] > 0
