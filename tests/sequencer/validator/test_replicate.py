"""The replica on blocks served by a real store: checks, violations, refusals, restart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from prover.answers import block_json, block_records_json
from prover.eip712 import (
    Domain,
    Signer,
    address_of_private_key,
    compute_event_digest,
    sign_digest,
)
from prover.errors import InvalidFieldError
from prover.hashing import leaf_hash
from prover.receipt import receipt_to_json, sign_block_receipt
from prover.record import Record, encode_kind, encode_record
from prover.validity import FraudRule
from sequencer.validator.replicate import (
    Anchor,
    PulledBlock,
    Replica,
    RevealedContradictionError,
    UpstreamError,
    parse_block,
)
from state_db.store import Entry, Store

KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
SEQUENCER_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
SEQUENCER = address_of_private_key(SEQUENCER_KEY)
DOMAIN = Domain(31337, b"\x5f" * 20)
SEP = DOMAIN.separator
T0 = 1_700_000_000_000


def unsigned(seq: int, ts: int | None = None) -> Record:
    return Record(
        seq,
        T0 + seq if ts is None else ts,
        encode_kind("sensor_hash"),
        b"\x01" * 32,
        seq.to_bytes(32, "big"),
        bytes(32),
        b"\x0a" * 20,
        0,
        0,
        bytes(32),
        bytes(32),
    )


def signed(seq: int, nonce: int) -> Record:
    from eth_account import Account

    kind, subject, digest = encode_kind("attestation"), b"\x03" * 32, b"\x04" * 32
    v, r, s = sign_digest(KEY, compute_event_digest(SEP, kind, subject, digest, bytes(32), nonce))
    who = bytes.fromhex(Account.from_key(KEY).address[2:])
    return Record(seq, T0 + seq, kind, subject, digest, bytes(32), who, nonce, v, r, s)


class Source:
    """A sequencer's store, serving blocks in the `attest_getBlock(n, true)` shape."""

    def __init__(self, path: Path) -> None:
        self.store = Store.open(path)

    def append_block(self, records: list[bytes]) -> None:
        end = self.store.head.tree_size + len(records)
        entries = [Entry(r, leaf_hash(r), None) for r in records]
        self.store.commit(entries, [(end, T0 + end)], check_seq=False)

    def block(self, n: int, *, signer: bytes | None = SEQUENCER_KEY) -> dict[str, Any]:
        """Block `n` as the sequencer serves it: with its block receipt signed by `signer`
        (None: without one, as a follower serves it)."""
        header = self.store.get_block(n)
        out = block_json(header)
        out["events"] = [
            {"record": "0x" + r.hex(), "meta": None}
            for r in self.store.get_records(header.start, header.end)
        ]
        if signer is not None:
            leaves = [self.store.get_leaf_hash(s) for s in range(header.start, header.end)]
            receipt = sign_block_receipt(Signer(signer), SEP, header, leaves, 2_000_000_000)
            out["receipt"] = receipt_to_json(receipt, address_of_private_key(signer))
        return out

    def blocks(self, first: int = 0, *, signer: bytes | None = SEQUENCER_KEY) -> list[PulledBlock]:
        return [
            parse_block(self.block(n, signer=signer))
            for n in range(first, self.store.head.block_count)
        ]


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path / "source")


@pytest.fixture
def replica(tmp_path: Path) -> Replica:
    return Replica(Store.open(tmp_path / "replica"), SEP, SEQUENCER)


def test_honest_blocks_replicate_exactly(source: Source, replica: Replica) -> None:
    source.append_block([encode_record(unsigned(i)) for i in range(5)])
    source.append_block([encode_record(signed(5, 1)), encode_record(unsigned(6))])
    assert replica.ingest(source.blocks()) == 2
    assert replica.store.head == source.store.head  # same tree, same blocks, same hashes
    assert replica.violations == ()
    assert replica.ingest([]) == 0


@pytest.mark.parametrize(
    ("rule", "records"),
    [
        (FraudRule.WRONG_SEQ, [unsigned(0), unsigned(7)]),
        (
            FraudRule.BAD_SIGNATURE,
            [unsigned(0), replace(unsigned(1), v=27, r=b"\x01" * 32, s=b"\x01" * 32)],
        ),
        (FraudRule.MALFORMED, [unsigned(0), replace(unsigned(1), kind=b"BAD".ljust(32, b"\x00"))]),
        (FraudRule.TIME_TRAVEL, [unsigned(0), unsigned(1, ts=T0 - 1)]),
        (FraudRule.REPLAY, [signed(0, 9), signed(1, 9)]),
    ],
)
def test_each_violation_is_found_and_stored(
    rule: FraudRule, records: list[Record], source: Source, replica: Replica, tmp_path: Path
) -> None:
    source.append_block([encode_record(r) for r in records])
    assert replica.ingest(source.blocks()) == 1
    assert [(v.rule, v.seq) for v in replica.violations] == [(rule, 1)]
    if rule in (FraudRule.TIME_TRAVEL, FraudRule.REPLAY):
        assert replica.violations[0].related == 0
    # Stored with the records: a restart finds them again.
    replica.store.close()
    again = Replica(Store.open(tmp_path / "replica"), SEP, SEQUENCER)
    assert again.violations == replica.violations


def test_replay_across_pulls_uses_the_nonce_index(source: Source, replica: Replica) -> None:
    source.append_block([encode_record(signed(0, 4)), encode_record(unsigned(1))])
    replica.ingest(source.blocks())
    source.append_block([encode_record(unsigned(2)), encode_record(signed(3, 4))])
    replica.ingest(source.blocks(1))
    assert [(v.rule, v.seq, v.related) for v in replica.violations] == [(FraudRule.REPLAY, 3, 0)]


def test_served_data_that_does_not_hash_is_refused(source: Source, replica: Replica) -> None:
    source.append_block([encode_record(unsigned(i)) for i in range(3)])
    block = source.block(0)
    tampered = dict(
        block, events=[*block["events"][:2], {"record": "0x" + encode_record(unsigned(9)).hex()}]
    )
    with pytest.raises(UpstreamError, match="do not hash"):
        replica.ingest([parse_block(tampered)])
    wrong_hash = dict(block, blockHash="0x" + "11" * 32)
    with pytest.raises(UpstreamError, match="do not hash"):
        replica.ingest([parse_block(wrong_hash)])
    assert replica.store.head.tree_size == 0
    # A block that does not continue the replica is refused too.
    source.append_block([encode_record(unsigned(3))])
    with pytest.raises(UpstreamError, match="does not continue"):
        replica.ingest([parse_block(source.block(1))])
    assert replica.ingest(source.blocks()) == 2


def test_malformed_answers_are_refused() -> None:
    with pytest.raises(Exception, match="events"):
        parse_block({"number": 0})
    with pytest.raises(Exception, match="record"):
        parse_block(
            {
                "number": 0,
                "parentHash": "0x" + "00" * 32,
                "start": 0,
                "end": 1,
                "logRoot": "0x" + "00" * 32,
                "timestamp": 1,
                "blockHash": "0x" + "00" * 32,
                "events": [{"record": "0x00"}],
            }
        )


def test_bad_hex_and_wrong_meta(source: Source, replica: Replica) -> None:
    source.append_block([encode_record(unsigned(0))])
    block = source.block(0)
    with pytest.raises(InvalidFieldError, match="hex"):
        parse_block(dict(block, logRoot="0x" + "zz" * 32))
    with pytest.raises(InvalidFieldError, match="integer"):
        parse_block(dict(block, number="0 "))
    # A meta that does not hash to the record's metaHash is dropped, the record kept.
    with_meta = dict(block, events=[dict(block["events"][0], meta={"a": 1})])
    pulled = parse_block(with_meta)
    assert pulled.metas == (None,)
    assert replica.ingest([pulled]) == 1


# --- who vouches for a block (docs/validator.md, "Anchored and provisional") -----------------

OTHER_KEY = KEY  # any key but the sequencer's: a follower forging blocks signs with its own


def _two_blocks(source: Source) -> None:
    source.append_block([encode_record(unsigned(i)) for i in range(3)])
    source.append_block([encode_record(unsigned(i)) for i in range(3, 5)])


def test_a_block_without_the_sequencers_receipt_is_not_taken_beyond_l1(
    source: Source, replica: Replica
) -> None:
    _two_blocks(source)
    with pytest.raises(UpstreamError, match="no sequencer receipt"):
        replica.ingest(source.blocks(signer=None))
    with pytest.raises(UpstreamError, match=r"receipt refused.*not the sequencer"):
        replica.ingest(source.blocks(signer=OTHER_KEY))
    # A checkpoint covering block 0 anchors it (its records hash to the committed root), not
    # block 1 beyond it.
    root3 = source.store.root_at(3)
    assert replica.ingest(source.blocks(signer=None), Anchor(3, root3)) == 1
    with pytest.raises(UpstreamError, match="no sequencer receipt"):
        replica.ingest(source.blocks(1, signer=None), Anchor(3, root3))
    assert replica.size == 3


def test_what_a_checkpoint_covers_must_hash_to_its_root_receipt_or_not(
    source: Source, replica: Replica
) -> None:
    _two_blocks(source)
    # The sequencer signed the blocks, but L1 holds another root at size 3: L1 wins.
    with pytest.raises(UpstreamError, match="do not hash to the root of the L1 checkpoint"):
        replica.ingest(source.blocks(), Anchor(3, b"\x11" * 32))
    # A checkpoint inside block 1 (size 4): block 0 needs the consistency proof to it, and
    # block 1's first record must hash to the root at 4.
    with pytest.raises(UpstreamError, match="no consistency proof"):
        replica.ingest(source.blocks(), Anchor(4, source.store.root_at(4)))
    proof = tuple(source.store.consistency_proof(3, 4))
    wrong = Anchor(4, b"\x11" * 32, 3, proof)
    with pytest.raises(UpstreamError, match="does not lead to the L1 checkpoint's root"):
        replica.ingest(source.blocks(), wrong)
    assert replica.size == 0
    assert replica.ingest(source.blocks(), Anchor(4, source.store.root_at(4), 3, proof)) == 2
    assert replica.store.head == source.store.head


def test_a_receipt_for_other_records_is_refused(source: Source, replica: Replica) -> None:
    _two_blocks(source)
    block = source.block(0)
    other = dict(block, receipt=source.block(1)["receipt"])  # covers another range
    with pytest.raises(UpstreamError, match="receipt refused"):
        replica.ingest([parse_block(other)])
    assert replica.size == 0


def test_blocks_anchored_by_a_checkpoint_are_taken_without_receipts(
    source: Source, replica: Replica
) -> None:
    _two_blocks(source)
    source.append_block([encode_record(unsigned(5))])
    size, root = 5, source.store.root_at(5)
    proof = tuple(source.store.consistency_proof(3, 5))
    bare = source.blocks(signer=None)
    # The proof from the end of block 0 reaches the checkpoint: block 0 is anchored by it,
    # block 1 (end 5, the checkpoint's size) by the committed root itself; block 2 lies beyond.
    assert replica.ingest(bare, Anchor(size, root, 3, proof)) == 2
    assert replica.size == 5
    with pytest.raises(UpstreamError, match="no sequencer receipt"):
        replica.ingest(bare[2:], Anchor(size, root, 5, ()))
    assert replica.store.head.last_block_hash == source.store.get_block(1).block_hash


def test_a_forged_chain_cannot_be_anchored(
    source: Source, tmp_path: Path, replica: Replica
) -> None:
    _two_blocks(source)
    forged = Source(tmp_path / "forged")
    forged.append_block([encode_record(unsigned(i, ts=T0 + 99)) for i in range(3)])
    forged.append_block([encode_record(unsigned(i, ts=T0 + 99)) for i in range(3, 5)])
    root = source.store.root_at(5)
    # The forger's own consistency proof, against the real checkpoint root, fails.
    with pytest.raises(UpstreamError, match="does not lead to the L1 checkpoint's root"):
        replica.ingest(
            forged.blocks(signer=None),
            Anchor(5, root, 3, tuple(forged.store.consistency_proof(3, 5))),
        )
    with pytest.raises(UpstreamError, match="does not lead to the L1 checkpoint's root"):
        replica.ingest(forged.blocks(signer=None), Anchor(5, root, 5, ()))
    assert replica.size == 0


def test_unanchored_blocks_are_not_kept_when_the_anchor_block_fails(
    source: Source, replica: Replica
) -> None:
    _two_blocks(source)
    size, root = 5, source.store.root_at(5)
    bare = source.blocks(signer=None)
    broken = parse_block(dict(source.block(1, signer=None), blockHash="0x" + "11" * 32))
    # Block 0 would be anchored only through block 1's logRoot: block 1 failing leaves nothing.
    with pytest.raises(UpstreamError, match="do not hash"):
        replica.ingest([bare[0], broken], Anchor(size, root, 5, ()))
    assert replica.size == 0


def test_records_revealed_on_l1_are_taken_and_sealed_later(
    source: Source, replica: Replica
) -> None:
    _two_blocks(source)
    assert replica.ingest(source.blocks()[:1]) == 1
    revealed = source.store.get_records(0, 5)
    assert replica.take_revealed(0, revealed) == 2
    assert replica.size == 5
    assert replica.store.root_at(5) == source.store.root_at(5)
    assert replica.take_revealed(0, revealed) == 0  # nothing new
    # The block holding them arrives later: sealed over the records already held.
    assert replica.ingest(source.blocks(1)) == 1
    assert replica.store.head == source.store.head


def test_revealed_records_that_contradict_the_replica_are_not_taken(
    source: Source, replica: Replica, tmp_path: Path
) -> None:
    _two_blocks(source)
    assert replica.ingest(source.blocks()[:1]) == 1
    other = Source(tmp_path / "other")
    other.append_block([encode_record(unsigned(i, ts=T0 + 99)) for i in range(5)])
    with pytest.raises(RevealedContradictionError, match="record 0 revealed on L1") as caught:
        replica.take_revealed(0, other.store.get_records(0, 5))
    assert caught.value.seq == 0 and caught.value.held == replica.store.get_leaf_hash(0)
    assert replica.size == 3
    assert [c["seq"] for c in replica.contradictions] == [0]
    # Also when the replica holds the whole revealed range: nothing of it may go unnoticed.
    with pytest.raises(RevealedContradictionError):
        replica.take_revealed(0, other.store.get_records(0, 2))


# --- the compact block form (attest_getBlock(n, "records")) ---------------------------------


def _compact(source: Source, n: int) -> dict[str, Any]:
    full = source.block(n)
    header = source.store.get_block(n)
    out = block_records_json(
        header,
        source.store.get_records(header.start, header.end),
        [None] * (header.end - header.start),
    )
    out["receipt"] = full["receipt"]
    return out


def test_the_compact_form_replicates_like_the_full_one(
    source: Source, replica: Replica, tmp_path: Path
) -> None:
    _two_blocks(source)
    compact = [parse_block(_compact(source, n)) for n in range(2)]
    assert compact == source.blocks()
    assert replica.ingest(compact) == 2
    assert replica.store.head == source.store.head


_RECORD = "0x" + "00" * 352
MALFORMED_COMPACT: list[tuple[str, Any, str]] = [
    ("records", None, "block.records: must be an array of 3"),
    ("records", _RECORD * 3, "block.records: must be an array of 3"),
    ("records", [_RECORD] * 2, "block.records: must be an array of 3"),
    ("records", [_RECORD, _RECORD, _RECORD[:-2]], r"block.records\[2\]"),
    ("records", [_RECORD, _RECORD, "0x" + "zz" * 352], r"block.records\[2\]"),
    ("records", [_RECORD, 7, _RECORD], r"block.records\[1\]"),
    ("records", [_RECORD, _RECORD, "0x" + " 0" * 352], r"block.records\[2\]"),
    ("metas", None, "block.metas: must be an array of 3"),
    ("metas", [None] * 4, "block.metas: must be an array of 3"),
    ("metas", [None, "meta", None], r"block.metas\[1\]: must be a JSON object"),
    ("metas", [None, {"n": 1e400}, None], r"block.metas\[1\]"),
]


@pytest.mark.parametrize(("key", "value", "error"), MALFORMED_COMPACT)
def test_a_malformed_compact_block_is_refused_by_name(
    source: Source, key: str, value: Any, error: str
) -> None:
    _two_blocks(source)
    with pytest.raises(InvalidFieldError, match=error):
        parse_block(_compact(source, 0) | {key: value})


# --- rolling back (docs/validator.md, "Rollback") -----------------------------------------------


def test_a_rollback_cuts_to_the_anchor_and_keeps_the_receipts(
    source: Source, replica: Replica
) -> None:
    _two_blocks(source)
    source.append_block([encode_record(signed(5, 1)), encode_record(signed(6, 1))])  # a replay
    anchor = Anchor(3, source.store.root_at(3))
    assert replica.ingest(source.blocks(), anchor) == 3
    assert [v.rule for v in replica.violations] == [FraudRule.REPLAY]
    with pytest.raises(InvalidFieldError, match="anchored size 3"):
        replica.roll_back(2, 3, (1, 7, b"\x11" * 32))
    summary = replica.roll_back(3, 3, (1, 7, b"\x11" * 32))
    assert summary is not None
    assert (summary["from"], summary["to"], summary["blocksRemoved"]) == (3, 7, 2)
    assert summary["receiptsKept"] == 2
    assert replica.size == 3 and replica.violations == ()
    evidence = replica.evidence(summary["evidenceKey"])
    assert evidence is not None and b'"leafHashes"' in evidence
    # The cut blocks come back, from any upstream, as if never held.
    assert replica.roll_back(3, 3, (1, 7, b"\x11" * 32)) is None
    assert replica.ingest(source.blocks(1), anchor) == 2
    assert replica.store.head == source.store.head
    # Kept across a restart.
    store = replica.store
    again = Replica(store, SEP, SEQUENCER)
    assert [r["evidenceKey"] for r in again.rollbacks] == [summary["evidenceKey"]]
