"""EIP-712 digests and signatures (docs/spec.md §4, §5), checked against eth-account."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from prover.eip712 import (
    EVENT_TYPEHASH,
    RECEIPT_TYPEHASH,
    Domain,
    Signer,
    address_of_private_key,
    compute_domain_separator,
    compute_event_digest,
    compute_receipt_digest,
    encode_signature,
    event_typed_data,
    is_valid_record_signature,
    recover_event_signer,
    recover_signer,
    sign_digest,
    to_checksum_address,
    verify_event_signature,
    verify_record_signature,
)
from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.hashing import keccak256
from prover.record import (
    SECP256K1_N,
    build_record,
    encode_kind,
    parse_event,
)

KEY = keccak256(b"test key A")
OTHER_KEY = keccak256(b"test key B")
CONTRACT = bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3")
DOMAIN = Domain(31337, CONTRACT)
SEP = DOMAIN.separator

b32 = st.binary(min_size=32, max_size=32)
u64 = st.integers(0, 2**64 - 1)


def eip191_hash(m: SignableMessage) -> bytes:
    return keccak256(b"\x19" + m.version + m.header + m.body)


def receipt_typed_data(first_seq: int, count: int, root: bytes, deadline: int) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Receipt": [
                {"name": "firstSeq", "type": "uint64"},
                {"name": "count", "type": "uint64"},
                {"name": "leavesRoot", "type": "bytes32"},
                {"name": "deadline", "type": "uint64"},
            ],
        },
        "primaryType": "Receipt",
        "domain": DOMAIN.to_json(),
        "message": {
            "firstSeq": first_seq,
            "count": count,
            "leavesRoot": root,
            "deadline": deadline,
        },
    }


def test_typehashes_are_of_the_design_strings() -> None:
    assert (
        keccak256(
            b"Event(bytes32 kind,bytes32 subject,bytes32 digest,bytes32 metaHash,uint64 nonce)"
        )
        == EVENT_TYPEHASH
    )
    assert (
        keccak256(b"Receipt(uint64 firstSeq,uint64 count,bytes32 leavesRoot,uint64 deadline)")
        == RECEIPT_TYPEHASH
    )


def test_domain_separator_matches_eth_account() -> None:
    m = encode_typed_data(
        full_message=event_typed_data(DOMAIN, bytes(32), bytes(32), bytes(32), bytes(32), 0)
    )
    assert m.header == SEP
    assert compute_domain_separator(31337, CONTRACT) == SEP
    assert Domain(1, CONTRACT).separator != SEP
    assert Domain(31337, bytes(20)).separator != SEP


def test_domain_json() -> None:
    assert DOMAIN.to_json() == {
        "name": "attest-rollup",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    }


@pytest.mark.parametrize(
    ("chain_id", "contract", "field"),
    [
        (-1, CONTRACT, "chainId"),
        (2**256, CONTRACT, "chainId"),
        (1, CONTRACT[:19], "verifyingContract"),
    ],
)
def test_bad_domain(chain_id: int, contract: bytes, field: str) -> None:
    with pytest.raises(InvalidFieldError) as e:
        Domain(chain_id, contract)
    assert e.value.field == field


@given(st.binary(min_size=20, max_size=20))
def test_checksum_address_matches_eth_account(a: bytes) -> None:
    from eth_utils import to_checksum_address as reference

    assert to_checksum_address(a) == reference(a)


@settings(max_examples=30, deadline=None)
@given(kind=b32, subject=b32, digest=b32, meta_hash=b32, nonce=u64)
def test_event_digest_matches_eth_account(
    kind: bytes, subject: bytes, digest: bytes, meta_hash: bytes, nonce: int
) -> None:
    ours = compute_event_digest(SEP, kind, subject, digest, meta_hash, nonce)
    full = event_typed_data(DOMAIN, kind, subject, digest, meta_hash, nonce)
    assert ours == eip191_hash(encode_typed_data(full_message=full))


@settings(max_examples=30, deadline=None)
@given(first_seq=u64, count=u64, root=b32, deadline=u64)
def test_receipt_digest_matches_eth_account(
    first_seq: int, count: int, root: bytes, deadline: int
) -> None:
    ours = compute_receipt_digest(SEP, first_seq, count, root, deadline)
    full = receipt_typed_data(first_seq, count, root, deadline)
    assert ours == eip191_hash(encode_typed_data(full_message=full))


def test_receipt_digest_depends_on_every_field() -> None:
    base = (SEP, 1, 2, b"\x03" * 32, 4)
    d = compute_receipt_digest(*base)
    for i, changed in enumerate([Domain(1, CONTRACT).separator, 9, 9, b"\x09" * 32, 9]):
        args = list(base)
        args[i] = changed
        assert compute_receipt_digest(*args) != d  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((b"\x00" * 31, 0, 0, bytes(32), 0), "domainSeparator"),
        ((SEP, -1, 0, bytes(32), 0), "firstSeq"),
        ((SEP, 0, 2**64, bytes(32), 0), "count"),
        ((SEP, 0, 0, bytes(33), 0), "leavesRoot"),
        ((SEP, 0, 0, bytes(32), 2**64), "deadline"),
    ],
)
def test_receipt_digest_bad_fields(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(InvalidFieldError) as e:
        compute_receipt_digest(*args)
    assert e.value.field == field


# --- signatures ------------------------------------------------------------------------------


def wire_event(key: bytes, signed_nonce: int = 1, **over: Any) -> dict[str, Any]:
    """A signed wire event produced by eth-account, the way an outside client would."""
    kind = encode_kind("inference_receipt")
    subject, digest = b"\x0a" * 32, b"\x0b" * 32
    meta = {"model": "m-1", "tokens": 12}
    unsigned = parse_event({"kind": "inference_receipt", "subject": "0x" + subject.hex(),
                            "digest": "0x" + digest.hex(), "meta": meta})  # fmt: skip
    signed = Account.sign_typed_data(
        key,
        full_message=event_typed_data(
            DOMAIN, kind, subject, digest, unsigned.meta_hash, signed_nonce
        ),
    )
    ev = {
        "kind": "inference_receipt",
        "subject": "0x" + subject.hex(),
        "digest": "0x" + digest.hex(),
        "meta": meta,
        "nonce": signed_nonce,
        "signature": "0x" + bytes(signed.signature).hex(),
        "submitter": Account.from_key(key).address,
    }
    ev.update(over)
    return ev


def test_eth_account_signature_verifies() -> None:
    ev = parse_event(wire_event(KEY))
    verify_event_signature(SEP, ev)
    assert recover_event_signer(SEP, ev) == address_of_private_key(KEY)
    record = build_record(ev, 0, 1, address_of_private_key(KEY))
    verify_record_signature(SEP, record)
    assert is_valid_record_signature(SEP, record)


@pytest.mark.parametrize(
    "tamper",
    [
        {"nonce": 2},
        {"digest": "0x" + "0c" * 32},
        {"subject": "0x" + "0c" * 32},
        {"kind": "attestation"},
        {"meta": {"model": "m-2", "tokens": 12}},
        {"meta": None},
    ],
)
def test_tampered_event_fails(tamper: dict[str, Any]) -> None:
    ev = parse_event(wire_event(KEY, **tamper))
    with pytest.raises(InvalidSignatureError, match="not the submitter") as e:
        verify_event_signature(SEP, ev)
    assert e.value.field == "signature"


def test_signature_by_another_key_names_both_addresses() -> None:
    claimed = Account.from_key(KEY).address
    ev = parse_event(wire_event(OTHER_KEY, submitter=claimed))
    other = "0x" + address_of_private_key(OTHER_KEY).hex()
    with pytest.raises(InvalidSignatureError) as e:
        verify_event_signature(SEP, ev)
    assert e.value.reason == f"recovers to {other}, not the submitter {claimed.lower()}"


def test_signature_for_another_domain_fails() -> None:
    ev = parse_event(wire_event(KEY))
    with pytest.raises(InvalidSignatureError):
        verify_event_signature(Domain(1, CONTRACT).separator, ev)


def test_high_s_form_of_a_valid_signature_is_rejected() -> None:
    d = keccak256(b"message")
    v, r, s = sign_digest(KEY, d)
    high_s = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    with pytest.raises(InvalidSignatureError, match="upper half"):
        recover_signer(d, 55 - v, r, high_s)


@pytest.mark.parametrize(
    ("v", "r", "s", "message"),
    [
        (26, b"\x01" * 32, b"\x01" * 32, "v must be 27 or 28"),
        (0, b"\x01" * 32, b"\x01" * 32, "v must be 27 or 28"),
        (27, bytes(32), b"\x01" * 32, "r is not in"),
        (27, b"\xff" * 32, b"\x01" * 32, "r is not in"),
        (27, b"\x01" * 32, bytes(32), "s is zero"),
        (27, b"\x01" * 31, b"\x01" * 32, "32 bytes"),
    ],
)
def test_recover_rejects_malformed(v: int, r: bytes, s: bytes, message: str) -> None:
    with pytest.raises(InvalidSignatureError, match=message):
        recover_signer(keccak256(b"m"), v, r, s)


def test_recover_rejects_r_that_is_not_a_curve_x() -> None:
    # x = 5 is not the x-coordinate of any secp256k1 point (5**3 + 7 = 132 is a non-residue).
    with pytest.raises(InvalidSignatureError, match="does not recover"):
        recover_signer(keccak256(b"m"), 27, (5).to_bytes(32, "big"), (1).to_bytes(32, "big"))


@settings(max_examples=20, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_sign_digest_matches_eth_account_and_recovers(d: bytes) -> None:
    v, r, s = sign_digest(KEY, d)
    assert v in (27, 28)
    assert int.from_bytes(s, "big") <= SECP256K1_N // 2
    assert recover_signer(d, v, r, s) == address_of_private_key(KEY)
    ref = Account.unsafe_sign_hash(d, KEY)
    assert (v, int.from_bytes(r, "big"), int.from_bytes(s, "big")) == (ref.v, ref.r, ref.s)
    assert encode_signature(v, r, s) == "0x" + bytes(ref.signature).hex()


def test_signer_keeps_key_and_hides_it() -> None:
    signer = Signer(KEY)
    assert signer.address == bytes.fromhex(Account.from_key(KEY).address[2:])
    d = keccak256(b"x")
    assert signer.sign(d) == sign_digest(KEY, d)
    assert KEY.hex() not in repr(signer)


@pytest.mark.parametrize("key", [bytes(32), SECP256K1_N.to_bytes(32, "big"), b"\x01" * 31])
def test_bad_private_keys(key: bytes) -> None:
    with pytest.raises(InvalidFieldError) as e:
        Signer(key)
    assert e.value.field == "private_key"


def test_receipt_signature_recovers_to_the_sequencer() -> None:
    d = compute_receipt_digest(SEP, 10, 5, b"\x07" * 32, 1_800_000_000)
    v, r, s = sign_digest(KEY, d)
    signed = Account.sign_typed_data(
        KEY, full_message=receipt_typed_data(10, 5, b"\x07" * 32, 1_800_000_000)
    )
    assert encode_signature(v, r, s) == "0x" + bytes(signed.signature).hex()


# --- records ---------------------------------------------------------------------------------


def test_unsigned_record_rules() -> None:
    ev = parse_event(
        {"kind": "attestation", "subject": "0x" + "01" * 32, "digest": "0x" + "02" * 32}
    )
    record = build_record(ev, 0, 0, b"\x05" * 20)
    verify_record_signature(SEP, record)
    # An unsigned record with a stray r or s breaks rule 2 of docs/spec.md §8.
    for offset in (288, 351):
        bad = bytearray(record)
        bad[offset] = 1
        assert not is_valid_record_signature(SEP, bytes(bad))


def test_signed_record_with_a_changed_field_fails() -> None:
    ev = parse_event(wire_event(KEY))
    record = build_record(ev, 3, 4, address_of_private_key(KEY))
    # Flip one byte of kind, subject, digest, metaHash, submitter, nonce, r: each must fail.
    for offset in (64, 96, 128, 160, 210, 255, 300):
        bad = bytearray(record)
        bad[offset] ^= 1
        assert not is_valid_record_signature(SEP, bytes(bad)), offset
    # seq and timestamp are not signed: the sequencer assigns them.
    moved = bytearray(record)
    moved[31] ^= 1
    moved[63] ^= 1
    assert is_valid_record_signature(SEP, bytes(moved))


def test_event_input_without_signature_cannot_be_verified() -> None:
    ev = parse_event(
        {"kind": "attestation", "subject": "0x" + "01" * 32, "digest": "0x" + "02" * 32}
    )
    with pytest.raises(InvalidSignatureError, match="not signed"):
        verify_event_signature(SEP, ev)
    with pytest.raises(InvalidSignatureError):
        verify_event_signature(SEP, ev._replace(signature=(27, b"\x01" * 32, b"\x01" * 32)))
