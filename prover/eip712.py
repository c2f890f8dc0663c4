"""EIP-712 typed data for events (docs/spec.md §4) and receipts (docs/spec.md §5), and secp256k1 recovery.

Both share one domain, ``{name: "attest-rollup", version: "1", chainId, verifyingContract}``.
The digests are built by hand (every member is a static 32-byte word, so ``encodeData`` is a
concatenation) and signatures are recovered with coincurve (libsecp256k1) directly: this is on
the per-event hot path, where eth-account's generic typed-data encoder costs milliseconds.
The tests check every digest against eth-account's `encode_typed_data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import coincurve
import sha3

from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.record import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    ZERO32,
    EventInput,
    record_digest,
    record_kind,
    record_meta_hash,
    record_nonce,
    record_r,
    record_s,
    record_subject,
    record_submitter,
    record_v,
)
from prover.wire import hex0x

_keccak = sha3.keccak_256


def _k(data: bytes) -> bytes:
    h: bytes = _keccak(data).digest()
    return h


def to_checksum_address(address: bytes) -> str:
    """EIP-55 mixed-case hex of a 20-byte address."""
    if len(address) != 20:
        raise InvalidFieldError("address", "must be 20 bytes")
    lower = address.hex()
    nibbles = _k(lower.encode()).hex()
    return "0x" + "".join(
        c.upper() if n >= "8" else c for c, n in zip(lower, nibbles, strict=False)
    )


DOMAIN_NAME: Final[str] = "attest-rollup"
DOMAIN_VERSION: Final[str] = "1"

EIP712_DOMAIN_TYPE: Final[str] = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
EVENT_TYPE: Final[str] = (
    "Event(bytes32 kind,bytes32 subject,bytes32 digest,bytes32 metaHash,uint64 nonce)"
)
RECEIPT_TYPE: Final[str] = (
    "Receipt(uint64 firstSeq,uint64 count,bytes32 leavesRoot,uint64 deadline)"
)

EIP712_DOMAIN_TYPEHASH: Final[bytes] = _k(EIP712_DOMAIN_TYPE.encode())
EVENT_TYPEHASH: Final[bytes] = _k(EVENT_TYPE.encode())
"""typeHash of the event a submitter signs (docs/spec.md §4)."""
RECEIPT_TYPEHASH: Final[bytes] = _k(RECEIPT_TYPE.encode())
"""typeHash of the receipt the sequencer signs (docs/spec.md §5)."""

_NAME_HASH: Final[bytes] = _k(DOMAIN_NAME.encode())
_VERSION_HASH: Final[bytes] = _k(DOMAIN_VERSION.encode())
_PREFIX: Final[bytes] = b"\x19\x01"  # EIP-712: "\x19\x01" || domainSeparator || hashStruct
_ZERO12: Final[bytes] = bytes(12)
_ZERO24: Final[bytes] = bytes(24)


def compute_domain_separator(chain_id: int, verifying_contract: bytes) -> bytes:
    """EIP-712 ``hashStruct(EIP712Domain)`` for the attest-rollup domain."""
    if type(chain_id) is not int or not 0 <= chain_id < 2**256:
        raise InvalidFieldError("chainId", f"must be an integer in uint256, got {chain_id!r}")
    if not isinstance(verifying_contract, bytes) or len(verifying_contract) != 20:
        raise InvalidFieldError("verifyingContract", "must be a 20-byte address")
    return _k(
        EIP712_DOMAIN_TYPEHASH
        + _NAME_HASH
        + _VERSION_HASH
        + chain_id.to_bytes(32, "big")
        + _ZERO12
        + verifying_contract
    )


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain of one deployment: the chain and the rollup contract."""

    chain_id: int
    """EIP-155 chain id of the L1 (31337 on the devnet)."""
    verifying_contract: bytes
    """20-byte address of the rollup contract."""
    separator: bytes = field(init=False, repr=False, compare=False)
    """The domain separator, computed once at construction."""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "separator", compute_domain_separator(self.chain_id, self.verifying_contract)
        )

    def to_json(self) -> dict[str, Any]:
        """The ``eip712Domain`` object of `attest_status` and of the vectors file."""
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }

    def typed_data_domain(self) -> dict[str, Any]:
        """The domain as eth-account / ethers take it (``domain_data``)."""
        return self.to_json()


def _u64(field_name: str, value: int) -> bytes:
    if type(value) is not int or not 0 <= value < 2**64:
        raise InvalidFieldError(field_name, f"must be an integer in uint64, got {value!r}")
    return _ZERO24 + value.to_bytes(8, "big")


def _b32(field_name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise InvalidFieldError(field_name, "must be 32 bytes")
    return value


def compute_event_struct_hash(
    kind: bytes, subject: bytes, digest: bytes, meta_hash: bytes, nonce: int
) -> bytes:
    """EIP-712 ``hashStruct(Event)``."""
    return _k(
        EVENT_TYPEHASH
        + _b32("kind", kind)
        + _b32("subject", subject)
        + _b32("digest", digest)
        + _b32("metaHash", meta_hash)
        + _u64("nonce", nonce)
    )


def compute_event_digest(
    domain_separator: bytes,
    kind: bytes,
    subject: bytes,
    digest: bytes,
    meta_hash: bytes,
    nonce: int,
) -> bytes:
    """The 32-byte hash a submitter signs for an event (docs/spec.md §4)."""
    return _k(
        _PREFIX
        + _b32("domainSeparator", domain_separator)
        + compute_event_struct_hash(kind, subject, digest, meta_hash, nonce)
    )


def compute_receipt_digest(
    domain_separator: bytes, first_seq: int, count: int, leaves_root: bytes, deadline: int
) -> bytes:
    """The 32-byte hash the sequencer signs for a receipt (docs/spec.md §5)."""
    struct_hash = _k(
        RECEIPT_TYPEHASH
        + _u64("firstSeq", first_seq)
        + _u64("count", count)
        + _b32("leavesRoot", leaves_root)
        + _u64("deadline", deadline)
    )
    return _k(_PREFIX + _b32("domainSeparator", domain_separator) + struct_hash)


# --- secp256k1 -------------------------------------------------------------------------------


def address_of_public_key(public_key: coincurve.PublicKey) -> bytes:
    """The Ethereum address of a public key: the last 20 bytes of keccak256(x || y)."""
    return _k(public_key.format(compressed=False)[1:])[12:]


def address_of_private_key(private_key: bytes) -> bytes:
    """The Ethereum address of a 32-byte secp256k1 private key."""
    return address_of_public_key(_private_key(private_key).public_key)


def _private_key(private_key: bytes) -> coincurve.PrivateKey:
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise InvalidFieldError("private_key", "must be 32 bytes")
    if not 0 < int.from_bytes(private_key, "big") < SECP256K1_N:
        raise InvalidFieldError("private_key", "is not in [1, secp256k1 order)")
    return coincurve.PrivateKey(private_key)


def recover_signer(digest: bytes, v: int, r: bytes, s: bytes) -> bytes:
    """The 20-byte address whose key signed `digest` with (v, r, s).

    Requires v in {27, 28}, r and s in [1, N) and s <= N/2 (EIP-2, as the contract's
    ``ecrecover`` callers and `prover.record.parse_signature` do). Raises
    `InvalidSignatureError("signature", ...)` for a malformed or unrecoverable signature.
    """
    if len(digest) != 32:
        raise InvalidFieldError("digest", "must be 32 bytes")
    if v != 27 and v != 28:
        raise InvalidSignatureError("signature", f"v must be 27 or 28, got {v}")
    if len(r) != 32 or len(s) != 32:
        raise InvalidSignatureError("signature", "r and s must be 32 bytes each")
    if not 0 < int.from_bytes(r, "big") < SECP256K1_N:
        raise InvalidSignatureError("signature", "r is not in [1, secp256k1 order)")
    if not 0 < int.from_bytes(s, "big") <= SECP256K1_HALF_N:
        raise InvalidSignatureError("signature", "s is zero or in the upper half (EIP-2)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            r + s + bytes((v - 27,)), digest, hasher=None
        )
    except Exception as e:  # libsecp256k1 reports "no point with this x" etc. as plain errors
        raise InvalidSignatureError("signature", f"does not recover a public key: {e}") from None
    return address_of_public_key(public_key)


def sign_digest(private_key: bytes, digest: bytes) -> tuple[int, bytes, bytes]:
    """Sign a 32-byte digest: (v, r, s) with v in {27, 28} and low s.

    Deterministic (RFC 6979 nonces, as libsecp256k1 does by default), and libsecp256k1 only
    ever produces low-s signatures, which is what EIP-2 and `recover_signer` require. Loading
    the key costs about as much as signing; a caller that signs often keeps a `Signer`.
    """
    return Signer(private_key).sign(digest)


class Signer:
    """A loaded secp256k1 key: signs digests without re-deriving the public key each time."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: bytes) -> None:
        self._key = _private_key(private_key)
        self.address: bytes = address_of_public_key(self._key.public_key)
        """The 20-byte Ethereum address of the key."""

    def __repr__(self) -> str:
        # Never print the key itself.
        return f"Signer({to_checksum_address(self.address)})"

    def sign(self, digest: bytes) -> tuple[int, bytes, bytes]:
        """(v, r, s) over a 32-byte digest, as `sign_digest`."""
        if len(digest) != 32:
            raise InvalidFieldError("digest", "must be 32 bytes")
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[64] + 27, sig[:32], sig[32:64]


def encode_signature(v: int, r: bytes, s: bytes) -> str:
    """The ``0x`` hex ``r || s || v`` wire form of a signature (docs/spec.md §10)."""
    return hex0x(r + s + bytes((v,)))


# --- events and records ----------------------------------------------------------------------


def recover_event_signer(domain_separator: bytes, ev: EventInput) -> bytes:
    """The address that signed the parsed event `ev`; `ev` must be signed."""
    if ev.signature is None or ev.nonce is None:
        raise InvalidSignatureError("signature", "the event is not signed")
    v, r, s = ev.signature
    digest = compute_event_digest(
        domain_separator, ev.kind, ev.subject, ev.digest, ev.meta_hash, ev.nonce
    )
    return recover_signer(digest, v, r, s)


def verify_event_signature(domain_separator: bytes, ev: EventInput) -> None:
    """Raise `InvalidSignatureError` unless the signed event `ev` recovers to `ev.submitter`."""
    signer = recover_event_signer(domain_separator, ev)
    if ev.submitter is None or signer != ev.submitter:
        claimed = "nobody" if ev.submitter is None else hex0x(ev.submitter)
        raise InvalidSignatureError(
            "signature", f"recovers to {hex0x(signer)}, not the submitter {claimed}"
        )


def verify_record_signature(domain_separator: bytes, record: bytes) -> None:
    """docs/spec.md §8 rule 2 for one raw record: raise `InvalidSignatureError` if it is broken.

    A signed record (v != 0) must recover to its submitter; an unsigned one must have
    v = r = s = 0. `record` must be a well-formed 352-byte record (`decode_record` checks that).
    """
    v = record_v(record)
    r = record_r(record)
    s = record_s(record)
    if v == 0:
        if r != ZERO32 or s != ZERO32:
            raise InvalidSignatureError("signature", "unsigned record (v = 0) has non-zero r or s")
        return
    digest = compute_event_digest(
        domain_separator,
        record_kind(record),
        record_subject(record),
        record_digest(record),
        record_meta_hash(record),
        record_nonce(record),
    )
    signer = recover_signer(digest, v, r, s)
    submitter = record_submitter(record)
    if signer != submitter:
        raise InvalidSignatureError(
            "signature", f"recovers to {hex0x(signer)}, not the submitter {hex0x(submitter)}"
        )


def is_valid_record_signature(domain_separator: bytes, record: bytes) -> bool:
    """True when `verify_record_signature` would pass."""
    try:
        verify_record_signature(domain_separator, record)
    except InvalidSignatureError:
        return False
    return True


def event_typed_data(
    domain: Domain, kind: bytes, subject: bytes, digest: bytes, meta_hash: bytes, nonce: int
) -> dict[str, Any]:
    """The full EIP-712 message of an event, as eth-account, ethers and wallets take it.

    For clients and tests: a wallet shown this message signs exactly `compute_event_digest`.
    """
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Event": [
                {"name": "kind", "type": "bytes32"},
                {"name": "subject", "type": "bytes32"},
                {"name": "digest", "type": "bytes32"},
                {"name": "metaHash", "type": "bytes32"},
                {"name": "nonce", "type": "uint64"},
            ],
        },
        "primaryType": "Event",
        "domain": domain.typed_data_domain(),
        "message": {
            "kind": kind,
            "subject": subject,
            "digest": digest,
            "metaHash": meta_hash,
            "nonce": nonce,
        },
    }
