"""Store.truncate: cutting the provisional suffix of a replica (docs/validator.md, "Rollback").

Tried as an attacker would break it: after a cut, does any index, block, tree node or cached
chunk still speak of a removed record? Each cut store is compared key by key with a store that
never held the removed records (built fresh from the same prefix), then both grow by the same
new records and are compared again (the in-memory tails the commit path continues from). A
cut below the anchored size is refused; a SIGKILL during the cut leaves the store as it was or
as cut, nothing between (real LevelDB, a real child process).
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import plyvel
import pytest

from prover.errors import InvalidFieldError, NotFoundError
from prover.hashing import leaf_hash
from state_db.store import Entry, Store
from tests.state_db.records import deterministic_entry, digest_of, make_record, subject_of

REPO = Path(__file__).resolve().parents[2]
BITS = 2
"""Four tree nodes to a chunk: every cut crosses chunk boundaries on several levels."""


def entries(start: int, end: int, salt: bytes = b"") -> list[Entry]:
    out = []
    for seq in range(start, end):
        e = deterministic_entry(seq)
        if salt:  # other records at the same seqs: the ones that replace the cut ones
            record = e.record[:128] + leaf_hash(salt + e.record)[:32] + e.record[160:]
            e = Entry(record, leaf_hash(record), e.meta)
        out.append(e)
    return out


def seals(end: int) -> list[tuple[int, int]]:
    """Block ends every 700 records, and one at `end`."""
    return [(b, 1_700_000_000_000 + b) for b in range(700, end, 700)] + [
        (end, 1_700_000_000_000 + end)
    ]


def build(path: Path, groups: Sequence[tuple[int, int, bytes]], sealed: Sequence[int]) -> None:
    """Commit each (start, end, salt) group, sealing the block ends in `sealed` it reaches."""
    with Store.open(path, node_chunk_bits=BITS) as store:
        for start, end, salt in groups:
            ends = [(b, 1_700_000_000_000 + b) for b in sealed if start < b <= end]
            store.commit(entries(start, end, salt), ends)


def dump(path: Path) -> dict[bytes, bytes]:
    db = plyvel.DB(str(path))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def block_ends(total: int) -> list[int]:
    return [b for b, _ in seals(total)]


@pytest.mark.parametrize("cut", [0, 1, 699, 700, 701, 4095, 4096, 4097, 5000, 9000])
def test_a_cut_store_is_the_store_that_never_held_the_suffix(tmp_path: Path, cut: int) -> None:
    total = 9000
    ends = block_ends(total)
    build(tmp_path / "cut", [(0, 3000, b""), (3000, 6100, b""), (6100, total, b"")], ends)
    with Store.open(tmp_path / "cut") as store:
        assert store.find_by_digest(digest_of(9000 % 11), limit=1000)  # warm the caches
        store.get_records(0, total)
        removed = store.truncate(cut, anchored_size=0)
        assert [h.end for h in removed] == [b for b in ends if b > cut]
        assert store.head.tree_size == cut
        with pytest.raises(NotFoundError):
            store.get_record(cut)
        # Nothing read from a cache or an index names a removed record.
        assert all(s < cut for s in store.find_by_digest(digest_of(3), limit=1000))
        assert all(s < cut for s in store.find_by_subject(subject_of(1), limit=1000))
        if cut < total:
            assert store.find_by_leaf_hash(deterministic_entry(cut).leaf_hash) == []
    # The store that never held them, with the same blocks sealed.
    build(tmp_path / "fresh", [(0, cut, b"")], [b for b in ends if b <= cut])
    assert dump(tmp_path / "cut") == dump(tmp_path / "fresh")
    # Both take other records where the cut ones were, from the tails kept in memory.
    for name in ("cut", "fresh") if cut < total else ():
        with Store.open(tmp_path / name) as store:
            more = entries(cut, total, b"other")
            store.commit(more[: len(more) // 2])
            store.commit(more[len(more) // 2 :], [(total, 1)])
            assert store.find_by_leaf_hash(more[-1].leaf_hash) == [total - 1]
    assert dump(tmp_path / "cut") == dump(tmp_path / "fresh")


def test_a_cut_below_the_anchored_size_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        store.commit(entries(0, 100), [(50, 1), (100, 2)])
        before = store.head
        with pytest.raises(InvalidFieldError, match="anchored size 60: got 59"):
            store.truncate(59, anchored_size=60)
        with pytest.raises(InvalidFieldError, match="must be <= tree size 100, got 101"):
            store.truncate(101, anchored_size=0)
        assert store.head == before
        # Cutting inside a block removes the block and keeps its records below the cut.
        (removed,) = store.truncate(60, anchored_size=60)
        assert (removed.start, removed.end) == (50, 100)
        assert (store.head.tree_size, store.head.last_block_end) == (60, 50)


def test_state_lands_with_the_cut(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        store.commit(entries(0, 10), [(10, 1)], {"a": b"1", "b": b"2"})
        store.truncate(5, anchored_size=0, state={"a": None, "evidence": b"kept"})
    with Store.open(tmp_path / "s") as store:
        assert store.get_state("a") is None
        assert (store.get_state("b"), store.get_state("evidence")) == (b"2", b"kept")
        assert store.head.tree_size == 5


def test_a_cut_replay_gives_the_nonce_back_to_the_earlier_record(tmp_path: Path) -> None:
    """A provisional record that replays an anchored one's (submitter, nonce) took over the
    nonce index; once cut, the index must find the anchored record again (rule 5 depends on
    it), and only when told which one it was."""
    who = b"\x22" * 20

    def signed(seq: int) -> Entry:
        r = make_record(
            seq, subject=bytes(32), digest=bytes(32), submitter=who, nonce=7, signed=True
        )
        return Entry(r, leaf_hash(r))

    with Store.open(tmp_path / "s") as store:
        store.commit([signed(0), *entries(1, 5), signed(5)])
        assert store.find_by_nonce(who, 7) == 5
        store.truncate(5, anchored_size=0, reindex_nonces=[0])
        assert store.find_by_nonce(who, 7) == 0
        store.truncate(3, anchored_size=0)
        assert store.find_by_nonce(who, 7) == 0  # below the cut: untouched
        with pytest.raises(InvalidFieldError, match="seq 4 is not below 2"):
            store.truncate(2, anchored_size=0, reindex_nonces=[4])


def test_a_sigkill_during_a_cut_leaves_the_store_before_or_after(tmp_path: Path) -> None:
    total, cut, rounds = 30_000, 1_000, 6
    build(tmp_path / "base", [(0, total, b"")], block_ends(total))
    before = dump(tmp_path / "base")
    shutil.copytree(tmp_path / "base", tmp_path / "expected")
    with Store.open(tmp_path / "expected") as store:
        store.truncate(cut, anchored_size=0, state={"rollback": b"1"})
    after = dump(tmp_path / "expected")
    rng = random.Random(11)
    outcomes = []
    for n in range(rounds):
        path = tmp_path / f"r{n}"
        shutil.copytree(tmp_path / "base", path)
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.state_db._truncate_child", str(path), str(cut)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "cutting"
        time.sleep(rng.uniform(0.0, 0.2))
        child.send_signal(signal.SIGKILL)
        child.wait()
        with Store.open(path) as store:  # reopens: head, frontier, blocks checked
            assert store.head.tree_size in (cut, total)
        got = dump(path)
        assert got in (before, after), f"round {n}: neither the store before nor after the cut"
        outcomes.append("after" if got == after else "before")
    print("outcomes of the kills:", outcomes)
