"""prover.light_client: every verdict, tampering, expectations, L1 statuses, trusted state."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prover.checkpoint import CheckpointStatus
from prover.eip712 import Domain, Signer, compute_event_digest
from prover.errors import (
    ExpectationMismatchError,
    InvalidFieldError,
    L1MismatchError,
    NotFinalError,
    NotIncludedError,
    ProofInvalidError,
    TrustedStateMismatchError,
)
from prover.hashing import leaf_hash
from prover.light_client import (
    CheckpointRef,
    Expectations,
    L1Checkpoint,
    ProofBundle,
    TrustedCheckpoint,
    decode_bundle,
    decode_trusted_state,
    encode_bundle,
    encode_trusted_state,
    find_trusted,
    is_valid_bundle_inclusion,
    needs_consistency_proof,
    other_logs,
    replace_trusted,
    verdict_to_json,
    verify_event,
    verify_trusted_extension,
)
from prover.record import Record, canonical_meta, compute_meta_hash, encode_kind, encode_record
from prover.tree import MemoryTree
from prover.types import Hash32
from prover.wire import hex0x

CHAIN = 31337
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
DOMAIN = Domain(CHAIN, CONTRACT)
ALICE = Signer(bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"))
TOKEN_ADDR = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")
KIND = encode_kind("inference_receipt")
META = {"model": "m-7", "latencyMs": 12}


def h(label: str) -> bytes:
    return leaf_hash(label.encode())  # any 32 bytes, deterministic


def make_record(
    seq: int, *, signed: bool = False, domain: Domain = DOMAIN, meta: bool = False
) -> bytes:
    subject, digest = h(f"subject-{seq % 3}"), h(f"digest-{seq}")
    meta_hash = compute_meta_hash(META) if meta else bytes(32)
    if not signed:
        return encode_record(
            Record(
                seq,
                1_700_000_000_000 + seq,
                KIND,
                subject,
                digest,
                meta_hash,
                TOKEN_ADDR,
                0,
                0,
                bytes(32),
                bytes(32),
            )
        )
    v, r, s = ALICE.sign(
        compute_event_digest(domain.separator, KIND, subject, digest, meta_hash, seq)
    )
    return encode_record(
        Record(
            seq,
            1_700_000_000_000 + seq,
            KIND,
            subject,
            digest,
            meta_hash,
            ALICE.address,
            seq,
            v,
            r,
            s,
        )
    )


# A log of 23 records: odd seqs signed by Alice, seq 4 carries a meta.
RECORDS = [make_record(i, signed=i % 2 == 1, meta=i == 4) for i in range(23)]
TREE = MemoryTree([leaf_hash(r) for r in RECORDS])


def l1_row(
    index: int, size: int, *, status: int = CheckpointStatus.FINAL, root: bytes | None = None
) -> L1Checkpoint:
    return L1Checkpoint(
        CHAIN,
        CONTRACT,
        index,
        size,
        Hash32(root if root is not None else TREE.root(size)),
        1000,
        1120,
        status,
    )


def bundle(seq: int, size: int, index: int = 0, *, tree_size: int | None = None) -> ProofBundle:
    """A proof of `seq` anchored to checkpoint `index` of `size`, via a tree of `tree_size`."""
    n = size if tree_size is None else tree_size
    return ProofBundle(
        seq=seq,
        record=RECORDS[seq],
        leaf_hash=leaf_hash(RECORDS[seq]),
        tree_size=n,
        root=TREE.root(n),
        proof=tuple(TREE.inclusion_proof(seq, n)),
        checkpoint=CheckpointRef(index, size, TREE.root(size)),
        anchor_proof=tuple(TREE.consistency_proof(size, n)),
        chain_id=CHAIN,
        contract=CONTRACT,
        meta=canonical_meta(META) if seq == 4 else None,
    )


NONE = Expectations()


# --- the good case --------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [0, 1, 4, 7, 15])
def test_final_checkpoint_verifies(seq: int) -> None:
    v = verify_event(bundle(seq, 16, 2), NONE, l1_row(2, 16))
    assert v.final and v.seq == seq and v.checkpoint == l1_row(2, 16)
    assert v.trusted == TrustedCheckpoint(CHAIN, CONTRACT, 2, 16, TREE.root(16))
    assert verdict_to_json(v)["checkpoint"]["status"] == "final"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_position_of_every_size_verifies_and_one_flipped_byte_does_not(
    data: st.DataObject,
) -> None:
    size = data.draw(st.integers(1, len(RECORDS)))
    seq = data.draw(st.integers(0, size - 1))
    b = bundle(seq, size)
    assert verify_event(b, NONE, l1_row(0, size)).final
    pos = data.draw(st.integers(0, 351))
    bad = bytearray(b.record)
    bad[pos] ^= 1 << data.draw(st.integers(0, 7))
    assert not is_valid_bundle_inclusion(replace(b, record=bytes(bad)))
    if b.proof:
        k = data.draw(st.integers(0, len(b.proof) - 1))
        proof = list(b.proof)
        proof[k] = Hash32(bytes([proof[k][0] ^ 1]) + proof[k][1:])
        assert not is_valid_bundle_inclusion(replace(b, proof=tuple(proof)))


def test_proof_against_a_later_tree_is_anchored_by_a_consistency_proof() -> None:
    b = bundle(5, 11, 1, tree_size=23)
    assert b.anchor_proof  # not trivially empty
    assert verify_event(b, NONE, l1_row(1, 11)).final
    bad = replace(b, anchor_proof=b.anchor_proof[1:])
    with pytest.raises(ProofInvalidError, match="extend checkpoint 1"):
        verify_event(bad, NONE, l1_row(1, 11))


def test_offline_verifies_against_the_bundle_only() -> None:
    v = verify_event(bundle(3, 16), NONE, None)
    assert v.checkpoint is None and not v.final and verdict_to_json(v)["l1Checked"] is False
    with pytest.raises(ProofInvalidError):
        verify_event(replace(bundle(3, 16), root=TREE.root(15)), NONE, None)


# --- tampering: proof invalid ---------------------------------------------------------------


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda b: replace(b, record=_flip(b.record, 130)), "leaf hash"),
        (lambda b: replace(b, leaf_hash=Hash32(_flip(b.leaf_hash, 0))), "leaf hash"),
        (
            lambda b: replace(b, proof=(Hash32(_flip(b.proof[0], 5)), *b.proof[1:])),
            "does not reproduce",
        ),
        (lambda b: replace(b, proof=b.proof[:-1]), "too short"),
        (lambda b: replace(b, proof=(*b.proof, b.proof[0])), "too long"),
        (lambda b: replace(b, seq=5), "asked for seq 5"),
        (lambda b: replace(b, record=b.record[:-1]), "malformed"),
        (lambda b: replace(b, meta=b'{"model":"m-8"}'), "meta"),
        (lambda b: replace(b, root=TREE.root(15)), "does not reproduce"),
    ],
)
def test_tampered_bundle_is_proof_invalid(tamper, message: str) -> None:  # type: ignore[no-untyped-def]
    good = bundle(4, 16)
    verify_event(good, NONE, l1_row(0, 16))
    with pytest.raises(ProofInvalidError, match=message):
        verify_event(tamper(good), NONE, l1_row(0, 16))


def test_signature_from_another_domain_is_proof_invalid() -> None:
    # Alice signed seq 3 for another contract: the leaf is what the tree holds, the signature
    # does not recover to her in this L1's domain (docs/spec.md §8 rule 2).
    other = make_record(3, signed=True, domain=Domain(CHAIN, bytes(20)))
    records = [*RECORDS[:3], other, *RECORDS[4:16]]
    tree = MemoryTree([leaf_hash(r) for r in records])
    b = ProofBundle(
        3,
        other,
        leaf_hash(other),
        16,
        tree.root(16),
        tuple(tree.inclusion_proof(3, 16)),
        CheckpointRef(0, 16, tree.root(16)),
        (),
        CHAIN,
        CONTRACT,
    )
    row = replace(l1_row(0, 16), root=tree.root(16))
    with pytest.raises(ProofInvalidError, match="signature"):
        verify_event(b, NONE, row)
    # Offline without a domain in the bundle, the signature cannot be checked.
    assert verify_event(replace(b, chain_id=None, contract=None), NONE, None).checkpoint is None


def test_bundle_for_another_contract_is_refused() -> None:
    with pytest.raises(InvalidFieldError, match="contract"):
        verify_event(replace(bundle(1, 16), contract=bytes(20)), NONE, l1_row(0, 16))
    with pytest.raises(InvalidFieldError, match="chainId"):
        verify_event(replace(bundle(1, 16), chain_id=1), NONE, l1_row(0, 16))


# --- expectations: not included -------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect", "field"),
    [
        (Expectations(digest=h("digest-8")), "digest"),
        (Expectations(subject=h("subject-0")), "subject"),
        (Expectations(kind=encode_kind("sensor_hash")), "kind"),
        (Expectations(submitter=TOKEN_ADDR), "submitter"),
        (Expectations(nonce=8), "nonce"),
        (Expectations(signed=False), "signed"),
        (Expectations(meta_hash=compute_meta_hash(META)), "metaHash"),
    ],
)
def test_expectation_mismatch_names_the_field(expect: Expectations, field: str) -> None:
    good = Expectations(
        kind=KIND,
        subject=h("subject-1"),
        digest=h("digest-7"),
        submitter=ALICE.address,
        nonce=7,
        signed=True,
        meta_hash=bytes(32),
    )
    verify_event(bundle(7, 16), good, l1_row(0, 16))
    with pytest.raises(ExpectationMismatchError) as info:
        verify_event(bundle(7, 16), expect, l1_row(0, 16))
    assert info.value.field == field
    assert isinstance(info.value, NotIncludedError)


# --- L1 statuses ----------------------------------------------------------------------------


def test_pending_needs_allow_pending() -> None:
    row = l1_row(0, 16, status=CheckpointStatus.PENDING)
    with pytest.raises(NotFinalError, match="pending"):
        verify_event(bundle(2, 16), NONE, row)
    v = verify_event(bundle(2, 16), NONE, row, allow_pending=True)
    assert not v.final and v.trusted is None  # a pending checkpoint is never trusted


@pytest.mark.parametrize(
    ("status", "message"),
    [(CheckpointStatus.REVERTED, "reverted"), (CheckpointStatus.NONE, "no checkpoint")],
)
def test_reverted_or_missing_checkpoint_is_refused_even_with_allow_pending(
    status: int, message: str
) -> None:
    with pytest.raises(L1MismatchError, match=message):
        verify_event(bundle(2, 16), NONE, l1_row(0, 16, status=status), allow_pending=True)


def test_l1_holding_another_size_or_root_disagrees() -> None:
    with pytest.raises(L1MismatchError, match="tree size"):
        verify_event(bundle(2, 16), NONE, l1_row(0, 17))
    with pytest.raises(L1MismatchError, match="root"):
        verify_event(bundle(2, 16), NONE, l1_row(0, 16, root=h("forged")))


def test_seq_past_the_checkpoint_is_not_final() -> None:
    b = replace(
        bundle(20, 23),
        checkpoint=CheckpointRef(0, 16, TREE.root(16)),
        anchor_proof=tuple(TREE.consistency_proof(16, 23)),
    )
    with pytest.raises(NotFinalError, match="not covered"):
        verify_event(b, NONE, l1_row(0, 16))


# --- trusted state --------------------------------------------------------------------------


def trusted(index: int, size: int, root: bytes | None = None) -> TrustedCheckpoint:
    return TrustedCheckpoint(CHAIN, CONTRACT, index, size, Hash32(root or TREE.root(size)))


def test_larger_final_checkpoint_extends_the_trusted_one_and_replaces_it() -> None:
    old = trusted(1, 9)
    assert needs_consistency_proof(old, l1_row(3, 20)) == (9, 20)
    v = verify_event(
        bundle(12, 20, 3),
        NONE,
        l1_row(3, 20),
        trusted=old,
        consistency_proof=TREE.consistency_proof(9, 20),
    )
    assert v.trusted == trusted(3, 20) and v.consistency_checked


def test_forked_root_is_l1_disagreeing() -> None:
    # The trusted checkpoint came from another history of the same size.
    forked = [*RECORDS[:5], make_record(5, signed=False), *RECORDS[6:9]]
    fork_root = MemoryTree([leaf_hash(r) for r in forked]).root(9)
    old = trusted(1, 9, fork_root)
    with pytest.raises(L1MismatchError, match="not one history"):
        verify_event(
            bundle(12, 20, 3),
            NONE,
            l1_row(3, 20),
            trusted=old,
            consistency_proof=TREE.consistency_proof(9, 20),
        )


def test_same_index_with_another_root_is_l1_disagreeing() -> None:
    with pytest.raises(L1MismatchError, match="verified before"):
        verify_trusted_extension(trusted(2, 16, h("old")), l1_row(2, 16), None)


def test_older_checkpoint_is_checked_against_the_trusted_one_which_stays() -> None:
    old = trusted(5, 20)
    v = verify_event(
        bundle(3, 9, 1),
        NONE,
        l1_row(1, 9),
        trusted=old,
        consistency_proof=TREE.consistency_proof(9, 20),
    )
    assert v.trusted == old


def test_pending_larger_checkpoint_is_checked_but_not_trusted() -> None:
    old = trusted(1, 9)
    new = verify_trusted_extension(
        old, l1_row(2, 20, status=CheckpointStatus.PENDING), TREE.consistency_proof(9, 20)
    )
    assert new == old
    with pytest.raises(L1MismatchError):
        verify_trusted_extension(
            old, l1_row(2, 20, status=CheckpointStatus.PENDING), TREE.consistency_proof(8, 20)
        )


def test_missing_proof_or_other_deployment_is_an_input_error() -> None:
    with pytest.raises(InvalidFieldError, match="needed from tree size 9 to 20"):
        verify_trusted_extension(trusted(1, 9), l1_row(3, 20), None)
    with pytest.raises(InvalidFieldError, match="another chain"):
        verify_trusted_extension(replace(trusted(1, 9), contract=bytes(20)), l1_row(3, 20), [])


# --- wire forms -----------------------------------------------------------------------------


def test_bundle_round_trips_through_json() -> None:
    for b in (
        bundle(4, 16, 2),
        bundle(5, 11, 1, tree_size=23),
        replace(bundle(1, 8), checkpoint=None),
    ):
        assert decode_bundle(encode_bundle(b)) == b


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"format": "other"}, "format"),
        ({"record": "0x00"}, "record"),
        ({"leafHash": "0x12"}, "leafHash"),
        ({"proof": ["zz"]}, "proof[0]"),
        ({"seq": -1}, "seq"),
        ({"contract": "0x1234"}, "contract"),
        ({"checkpoint": {"index": 0, "root": "0x" + "00" * 32}}, "checkpoint.treeSize"),
    ],
)
def test_bad_bundle_json_names_the_field(edit: dict[str, object], field: str) -> None:
    obj = {**encode_bundle(bundle(4, 16)), **edit}
    with pytest.raises(InvalidFieldError) as info:
        decode_bundle(obj)
    assert info.value.field == field


def test_trusted_state_round_trips_and_is_kept_per_log() -> None:
    # Two logs at the same chain and address (a devnet restarted): two genesis checkpoints.
    g1, g2 = CheckpointRef(0, 4, TREE.root(4)), CheckpointRef(0, 3, Hash32(h("another genesis")))
    a = replace(trusted(1, 9), genesis=g1)
    b = TrustedCheckpoint(CHAIN, CONTRACT, 0, 3, g2.root, g2)
    c = replace(trusted(0, 4), contract=bytes(20), genesis=g1)
    states = decode_trusted_state(encode_trusted_state([a, b, c]))
    assert states == [a, b, c]
    assert find_trusted(states, CHAIN, CONTRACT, g1) == a
    assert find_trusted(states, CHAIN, CONTRACT, g2) == b
    assert find_trusted(states, CHAIN, CONTRACT, CheckpointRef(0, 4, Hash32(h("third")))) is None
    assert other_logs(states, CHAIN, CONTRACT, g1) == [b]
    newer = replace(trusted(2, 16), genesis=g1)
    assert replace_trusted(states, newer) == [b, c, newer]


def test_format_1_state_is_read_and_upgraded() -> None:
    g = CheckpointRef(0, 4, TREE.root(4))
    old = encode_trusted_state([trusted(1, 9)])
    old["format"] = "attest-light-client/1"
    for entry in old["checkpoints"]:
        del entry["genesis"]
    (legacy,) = decode_trusted_state(old)
    assert legacy.genesis is None  # not recorded: stands for whichever log is there now
    assert find_trusted([legacy], CHAIN, CONTRACT, g) == legacy
    assert replace_trusted([legacy], replace(trusted(2, 16), genesis=g)) == [
        replace(trusted(2, 16), genesis=g)
    ]
    # Checkpoint 0 is its own genesis: known even in format 1.
    old["checkpoints"][0].update(index=0, treeSize=4, root=hex0x(TREE.root(4)))
    assert decode_trusted_state(old)[0].genesis == g


def test_a_fork_of_the_trusted_checkpoint_is_a_state_mismatch() -> None:
    cp = l1_row(2, 16)
    with pytest.raises(TrustedStateMismatchError):
        verify_trusted_extension(trusted(2, 16, h("seen on another fork")), cp, None)
    with pytest.raises(TrustedStateMismatchError):
        verify_trusted_extension(trusted(1, 9), cp, [h("not a proof")])


def test_bad_trusted_state_names_the_field() -> None:
    with pytest.raises(InvalidFieldError, match=r"checkpoints\[0\].root"):
        decode_trusted_state(
            {
                "format": "attest-light-client/1",
                "checkpoints": [
                    {"chainId": 1, "contract": "0x" + "00" * 20, "index": 0, "treeSize": 1}
                ],
            }
        )
