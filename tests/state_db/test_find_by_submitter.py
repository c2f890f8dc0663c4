"""Store.find_by_submitter (the explorer's submitter page) against a dict of what was written:
signed records only, ascending nonce, paging by nonce, nothing past the tree size."""

from __future__ import annotations

from pathlib import Path

import plyvel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prover.errors import InvalidFieldError
from prover.hashing import leaf_hash
from state_db import schema
from state_db.store import Entry, Store
from tests.state_db.records import digest_of, make_record, subject_of, submitter_of

ALICE = submitter_of(1)
BOB = submitter_of(2)


def _entries(start: int, plan: list[tuple[bytes, int, bool]]) -> list[Entry]:
    out = []
    for i, (who, nonce, signed) in enumerate(plan):
        rec = make_record(
            start + i,
            subject=subject_of(i),
            digest=digest_of(start + i),
            submitter=who,
            nonce=nonce,
            signed=signed,
        )
        out.append(Entry(rec, leaf_hash(rec), None))
    return out


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([ALICE, BOB]), st.integers(0, 40), st.booleans()), max_size=40
    ),
    st.integers(1, 7),
)
def test_pages_match_a_dict(
    tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[bytes, int, bool]], limit: int
) -> None:
    # Keep one signed record per (submitter, nonce), as the sequencer's replay check does.
    seen: set[tuple[bytes, int]] = set()
    kept = []
    for who, nonce, signed in plan:
        if signed and (who, nonce) in seen:
            continue
        if signed:
            seen.add((who, nonce))
        kept.append((who, nonce, signed))
    plan = kept
    with Store.open(tmp_path_factory.mktemp("s") / "db") as store:
        store.commit(_entries(0, plan))
        for who in (ALICE, BOB):
            want = sorted((n, seq) for seq, (w, n, s) in enumerate(plan) if s and w == who)
            got: list[tuple[int, int]] = []
            after = -1
            while True:
                page = store.find_by_submitter(who, after_nonce=after, limit=limit)
                got += page
                if len(page) < limit:
                    break
                after = page[-1][0]
            assert got == want


def test_refuses_malformed_input(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db") as store:
        with pytest.raises(InvalidFieldError):
            store.find_by_submitter(b"\x01" * 19)
        with pytest.raises(InvalidFieldError):
            store.find_by_submitter(ALICE, after_nonce=-2)
        assert store.find_by_submitter(ALICE, after_nonce=2**64 - 1) == []
        assert store.find_by_submitter(ALICE, limit=0) == []


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([ALICE, BOB]), st.integers(0, 3), st.booleans()), max_size=40
    ),
    st.integers(1, 7),
    st.integers(0, 40),
)
def test_unsigned_pages_match_a_dict(
    tmp_path_factory: pytest.TempPathFactory,
    plan: list[tuple[bytes, int, bool]],
    limit: int,
    split: int,
) -> None:
    """Unsigned records by their submitter (the token's address), by ascending seq; their
    nonces repeat freely; signed ones are not listed here; two commits, reopened between."""
    split = min(split, len(plan))
    path = tmp_path_factory.mktemp("s") / "db"
    with Store.open(path) as store:
        store.commit(_entries(0, plan[:split]))
    with Store.open(path) as store:
        store.commit(_entries(split, plan[split:]))
        for who in (ALICE, BOB):
            want = [seq for seq, (w, _n, s) in enumerate(plan) if not s and w == who]
            got: list[int] = []
            after = -1
            while True:
                page = store.find_unsigned_by_submitter(who, after=after, limit=limit)
                got += page
                if len(page) < limit:
                    break
                after = page[-1]
            assert got == want
        assert store.find_unsigned_by_submitter(submitter_of(3)) == []
        with pytest.raises(InvalidFieldError, match="submitter"):
            store.find_unsigned_by_submitter(b"\x01" * 21)


def test_one_token_across_commits_is_one_key_per_window(tmp_path: Path) -> None:
    """Commits all unsigned from one token (the common case, decided without a loop over
    records) extend one key per window, across a reopen; signed records and another token
    interleaved record by record add a key per window and token, not per record."""
    path = tmp_path / "db"
    plan = [(ALICE, 0, False)] * 10
    with Store.open(path) as store:
        store.commit(_entries(0, plan[:4]))
        store.commit(_entries(4, plan[4:]))
    with Store.open(path) as store:
        store.commit(_entries(10, [(ALICE, 0, False)] * 5 + [(ALICE, 1, True), (BOB, 0, False)]))
        interleaved = [
            step
            for k in range(3)
            for step in ((ALICE, 0, False), (ALICE, 2 + k, True), (BOB, 0, False))
        ]
        store.commit(_entries(17, interleaved))
        alice = [*range(15), 17, 20, 23]
        assert store.find_unsigned_by_submitter(ALICE) == alice
        assert store.find_unsigned_by_submitter(ALICE, after=13, limit=3) == [14, 17, 20]
        assert store.find_unsigned_by_submitter(BOB) == [16, 19, 22, 25]
    db = plyvel.DB(str(path))
    try:
        keys = dict(db.iterator(prefix=schema.UNSIGNED_SUBMITTER_PREFIX))
    finally:
        db.close()
    assert keys == {
        schema.unsigned_window_key(0, ALICE): b"".join(s.to_bytes(2, "big") for s in alice),
        schema.unsigned_window_key(0, BOB): b"".join(
            s.to_bytes(2, "big") for s in (16, 19, 22, 25)
        ),
    }


def test_windows_are_crossed(tmp_path: Path) -> None:
    """One token's commits across window boundaries (4,096 seqs), also a commit spanning a
    whole window, and a reopen at a boundary."""
    window = 1 << schema.LEAF_CHUNK_BITS
    path = tmp_path / "db"
    with Store.open(path) as store:
        store.commit(_entries(0, [(ALICE, 0, False)] * (window - 3)))
        store.commit(_entries(window - 3, [(BOB, 0, False)] * 3 + [(ALICE, 0, False)] * 2))
        store.commit(_entries(window + 2, [(ALICE, 0, False)] * (window + 10)))
        size = 2 * window + 12
        store.commit(_entries(size, [(ALICE, 0, False)] * (window - 12)))  # ends on a boundary
    with Store.open(path) as store:
        store.commit(_entries(3 * window, [(ALICE, 0, False)] * 3))
        bob = list(range(window - 3, window))
        alice = [s for s in range(3 * window + 3) if s not in bob]
        assert store.find_unsigned_by_submitter(BOB) == bob
        assert store.find_unsigned_by_submitter(ALICE, limit=len(alice) + 5) == alice
        assert store.find_unsigned_by_submitter(ALICE, after=window - 1, limit=2) == [
            window,
            window + 1,
        ]
