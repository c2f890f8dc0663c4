"""Signing events (docs/spec.md §4): who signs, and the wire event a signature goes into.

An `EventSigner` is anything with an `address` (20 bytes) and `sign_digest(digest) -> (v, r, s)`.
Three ways to get one:

* `KeySigner(private_key)`: a raw 32-byte key, signing with libsecp256k1 (coincurve) over the
  digest `prover.eip712` builds by hand: the fastest path (see docs/benchmarks.md, "client").
* `keystore_signer(path, password)`: an Ethereum keystore (Web3 Secret Storage v3) file,
  decrypted here (scrypt or PBKDF2 from hashlib, AES-128-CTR from pycryptodome, the `client`
  extra) into a `KeySigner`.
* `AccountSigner(account)`: any eth-account signer — a `LocalAccount`, or anything with
  `unsafe_sign_hash(bytes)` (eth-account >= 0.13) or `signHash`, or only
  `sign_typed_data(full_message=...)` (e.g. a hardware-wallet wrapper: it is shown the whole
  EIP-712 message). eth-account is never imported here: the object brings its own.

Every signature is checked to recover to the signer's address before it leaves
(`sign_event`), so a wrong key or domain fails here, not as a refused submission.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import orjson

from prover.eip712 import (
    Domain,
    Signer,
    compute_event_digest,
    encode_signature,
    event_typed_data,
    recover_signer,
)
from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.hashing import keccak256
from prover.record import compute_meta_hash, encode_kind
from prover.types import Hash32
from prover.wire import hex0x, parse_address, parse_hash32, parse_hex


@runtime_checkable
class EventSigner(Protocol):
    """Signs 32-byte EIP-712 digests for one address."""

    @property
    def address(self) -> bytes:
        """The 20-byte address that signs."""
        ...

    def sign_digest(self, digest: bytes) -> tuple[int, bytes, bytes]:
        """(v, r, s) over `digest`, v in {27, 28}, low s."""
        ...


class KeySigner:
    """A raw secp256k1 key (never printed)."""

    __slots__ = ("_signer",)

    def __init__(self, private_key: bytes | str) -> None:
        if isinstance(private_key, str):
            text = private_key.strip()
            text = "0x" + (text[2:] if text[:2] in ("0x", "0X") else text)
            private_key = parse_hex(text, "private key", size=32)
        self._signer = Signer(private_key)

    @property
    def address(self) -> bytes:
        return self._signer.address

    def sign_digest(self, digest: bytes) -> tuple[int, bytes, bytes]:
        return self._signer.sign(digest)

    def __repr__(self) -> str:
        return f"KeySigner({hex0x(self.address)})"


def key_file_signer(path: str | os.PathLike[str]) -> KeySigner:
    """A `KeySigner` from a file holding the 0x-hex key (as `attest devnet` writes them)."""
    try:
        text = open(path, encoding="ascii").read().strip()  # noqa: SIM115 - closed by GC at once
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFieldError("key-file", f"cannot read {path}: {exc}") from None
    try:
        return KeySigner(text)
    except (ValueError, InvalidFieldError) as exc:
        raise InvalidFieldError(
            "key-file", f"{path} does not hold a 32-byte hex key: {exc}"
        ) from None


def keystore_signer(path: str | os.PathLike[str], password: str | bytes) -> KeySigner:
    """A `KeySigner` from an Ethereum keystore file (Web3 Secret Storage, version 3).

    The key is derived with scrypt or PBKDF2-HMAC-SHA256 (`hashlib`), checked against the
    file's MAC (keccak256 of the derived key's second half and the ciphertext), and decrypted
    with AES-128-CTR (pycryptodome, the `client` extra). Raises `InvalidFieldError("keystore",
    ...)` for an unreadable or malformed file and for a wrong password (the MAC differs).
    """
    try:
        with open(path, "rb") as f:
            data = orjson.loads(f.read())
    except (OSError, ValueError) as exc:
        raise InvalidFieldError("keystore", f"cannot read {path}: {exc}") from None
    pw = password.encode() if isinstance(password, str) else password
    return KeySigner(decrypt_keystore(data, pw))


def _plain_hex(value: Any, field_name: str) -> bytes:
    """A keystore's hex field (written without 0x), through the one hex parser."""
    if not isinstance(value, str):
        raise InvalidFieldError("keystore", f"{field_name} must be a hex string")
    try:
        return parse_hex("0x" + value.lower(), f"keystore {field_name}")
    except InvalidFieldError as exc:
        raise InvalidFieldError("keystore", f"malformed keystore: {exc}") from None


def decrypt_keystore(data: Any, password: bytes) -> bytes:
    """The 32-byte private key of a v3 keystore object (see `keystore_signer`)."""
    try:
        crypto = data.get("crypto") or data["Crypto"]
        if int(data.get("version", 3)) != 3:
            raise InvalidFieldError(
                "keystore", f"version {data.get('version')} is not supported (only 3)"
            )
        kdf, kp = crypto["kdf"], crypto["kdfparams"]
        salt = _plain_hex(kp["salt"], "kdfparams.salt")
        if kdf == "scrypt":
            n, r, p, dklen = int(kp["n"]), int(kp["r"]), int(kp["p"]), int(kp["dklen"])
            derived = hashlib.scrypt(
                password,
                salt=salt,
                n=n,
                r=r,
                p=p,
                dklen=dklen,
                maxmem=128 * r * (n + p + 2) + (1 << 20),
            )
        elif kdf == "pbkdf2":
            if kp.get("prf", "hmac-sha256") != "hmac-sha256":
                raise InvalidFieldError("keystore", f"pbkdf2 prf {kp.get('prf')} is not supported")
            derived = hashlib.pbkdf2_hmac("sha256", password, salt, int(kp["c"]), int(kp["dklen"]))
        else:
            raise InvalidFieldError("keystore", f"kdf {kdf!r} is not supported (scrypt, pbkdf2)")
        if crypto["cipher"] != "aes-128-ctr":
            raise InvalidFieldError("keystore", f"cipher {crypto['cipher']!r} is not supported")
        ciphertext = _plain_hex(crypto["ciphertext"], "ciphertext")
        iv = _plain_hex(crypto["cipherparams"]["iv"], "cipherparams.iv")
        mac = _plain_hex(crypto["mac"], "mac")
    except InvalidFieldError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidFieldError(
            "keystore", f"malformed keystore: {type(exc).__name__}: {exc}"
        ) from None
    # Verify the password before decrypting anything (the MAC of Web3 Secret Storage).
    if len(derived) < 32 or keccak256(derived[16:32] + ciphertext) != mac:
        raise InvalidFieldError("keystore", "wrong password (the keystore's MAC does not match)")
    try:
        from Crypto.Cipher import AES  # pycryptodome: the `client` extra, only keystores need it
        from Crypto.Util import Counter
    except ModuleNotFoundError:
        raise InvalidFieldError(
            "keystore", "needs pycryptodome: pip install 'attest-rollup[client]'"
        ) from None
    ctr = Counter.new(128, initial_value=int.from_bytes(iv, "big"))
    key = AES.new(derived[:16], AES.MODE_CTR, counter=ctr).decrypt(ciphertext)
    if len(key) != 32:
        raise InvalidFieldError("keystore", f"holds a {len(key)}-byte key, not 32")
    return bytes(key)


class AccountSigner:
    """Any eth-account style signer (see the module docstring)."""

    def __init__(self, account: Any) -> None:
        addr = getattr(account, "address", None)
        if not isinstance(addr, str | bytes):
            raise InvalidFieldError("account", "has no address")
        self._account = account
        self._address = (
            parse_address(addr, "account.address") if isinstance(addr, str) else bytes(addr)
        )
        self.domain: Domain | None = None
        """Set by the client before `sign_typed` is needed (typed-data-only signers)."""

    @property
    def address(self) -> bytes:
        return self._address

    def sign_digest(self, digest: bytes) -> tuple[int, bytes, bytes]:
        fn = getattr(self._account, "unsafe_sign_hash", None) or getattr(
            self._account, "signHash", None
        )
        if fn is None:
            raise InvalidFieldError("account", "cannot sign a hash; use sign_event_typed")
        return _split(bytes(fn(digest).signature))

    def sign_typed(self, typed: dict[str, Any]) -> tuple[int, bytes, bytes]:
        """Sign the full EIP-712 message (what a wallet shows the user)."""
        return _split(bytes(self._account.sign_typed_data(full_message=typed).signature))

    @property
    def can_sign_hash(self) -> bool:
        return hasattr(self._account, "unsafe_sign_hash") or hasattr(self._account, "signHash")


def _split(sig: bytes) -> tuple[int, bytes, bytes]:
    if len(sig) != 65:
        raise InvalidSignatureError("signature", f"signer returned {len(sig)} bytes, not 65")
    v = sig[64] + 27 if sig[64] < 27 else sig[64]
    return v, sig[:32], sig[32:64]


# --- events ----------------------------------------------------------------------------------


def subject_of(text: str) -> Hash32:
    """A subject from a name: keccak256 of its UTF-8 (``subject_of("model:m-7")``, §4.3)."""
    return keccak256(text.encode())


def hash32_arg(value: str | bytes, field_name: str) -> Hash32:
    """32 bytes, or ``0x`` + 64 hex digits."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InvalidFieldError(field_name, f"must be 32 bytes, got {len(value)}")
        return Hash32(value)
    return parse_hash32(value.lower() if value.startswith("0X") else value, field_name)


_GOOD_KINDS: set[str] = set()
"""Kind names already checked (an event stream has few)."""


class Event(NamedTuple):
    """One event to submit (docs/spec.md §3, §10.3); the sequencer adds seq and timestamp.

    A NamedTuple: a producer makes one per event, and a frozen dataclass costs ~4x more to build.
    """

    kind: str
    """Kind name, ``[a-z0-9_.-]{1,32}`` (``"model_fingerprint"``)."""
    subject: bytes | str
    """bytes32, or 0x-hex; `subject_of(name)` makes one from a name."""
    digest: bytes | str
    """bytes32 content hash, or 0x-hex."""
    meta: dict[str, Any] | None = None
    """Optional JSON object (RFC 8785 canonical form at most 1024 bytes)."""
    nonce: int | None = None
    """uint64; a signed event without one gets the signer's next nonce."""

    def wire(self) -> dict[str, Any]:
        """The unsigned wire object (token submissions); a malformed field raises here."""
        if self.kind not in _GOOD_KINDS:
            encode_kind(self.kind)  # raises InvalidFieldError naming the kind
            if len(_GOOD_KINDS) < 1024:
                _GOOD_KINDS.add(self.kind)
        subject, digest = self.subject, self.digest
        out: dict[str, Any] = {
            "kind": self.kind,
            # 32 bytes as they are (the common case, one C call each); anything else is parsed.
            "subject": "0x" + subject.hex()
            if type(subject) is bytes and len(subject) == 32
            else hex0x(hash32_arg(subject, "subject")),
            "digest": "0x" + digest.hex()
            if type(digest) is bytes and len(digest) == 32
            else hex0x(hash32_arg(digest, "digest")),
        }
        if self.meta is not None:
            out["meta"] = self.meta
        if self.nonce is not None:
            out["nonce"] = self.nonce
        return out


class NonceSource:
    """Nonces for one signer: microseconds since the epoch at start, then +1 per event.

    (submitter, nonce) must be unique among signed records (rule 5); a clock-based start
    keeps two runs of a tool with one key apart without any state file, as long as each run
    signs fewer events than microseconds elapse between their starts. Thread-safe.
    """

    def __init__(self, start: int | None = None) -> None:
        self._next = time.time_ns() // 1000 if start is None else start
        self._lock = threading.Lock()

    def take(self, n: int = 1) -> int:
        """The first of `n` consecutive fresh nonces."""
        with self._lock:
            first = self._next
            self._next += n
            return first


@dataclass(slots=True)
class EventSigning:
    """Signs events for one signer in one domain (see `sign_event`)."""

    signer: EventSigner
    domain: Domain
    nonces: NonceSource = field(default_factory=NonceSource)
    check: bool = True
    """Recover every signature before it leaves (costs one ecrecover, ~40 µs)."""

    def sign(self, event: Event) -> dict[str, Any]:
        """The signed wire event (docs/spec.md §10.3) for `event`."""
        return sign_event(self.signer, self.domain, event, self.nonces, check=self.check)


def sign_event(
    signer: EventSigner,
    domain: Domain,
    event: Event,
    nonces: NonceSource | None = None,
    *,
    check: bool = True,
) -> dict[str, Any]:
    """Sign `event` in `domain`: the wire object with `submitter`, `nonce`, `signature`.

    metaHash is 32 zero bytes without meta, else keccak256(JCS(meta)); kind is the ASCII name
    right-padded with zeros (docs/spec.md §3). Raises `InvalidFieldError` for a malformed
    field, `InvalidSignatureError` when the signer's signature does not recover to it.
    """
    kind = encode_kind(event.kind)
    subject = hash32_arg(event.subject, "subject")
    digest = hash32_arg(event.digest, "digest")
    meta_hash = compute_meta_hash(event.meta)
    nonce = event.nonce
    if nonce is None:
        nonce = (nonces or NonceSource()).take()
    ev_digest = compute_event_digest(domain.separator, kind, subject, digest, meta_hash, nonce)
    if isinstance(signer, AccountSigner) and not signer.can_sign_hash:
        v, r, s = signer.sign_typed(
            event_typed_data(domain, kind, subject, digest, meta_hash, nonce)
        )
    else:
        v, r, s = signer.sign_digest(ev_digest)
    if check:
        # Verify the signature recovers to the signer (docs/spec.md §4.2): a wrong key or
        # domain is caught here with both addresses named, not as a refused submission.
        got = recover_signer(ev_digest, v, r, s)
        if got != signer.address:
            raise InvalidSignatureError(
                "signature", f"recovers to {hex0x(got)}, not the signer {hex0x(signer.address)}"
            )
    out: dict[str, Any] = {
        "kind": event.kind,
        "subject": hex0x(subject),
        "digest": hex0x(digest),
        "nonce": nonce,
        "submitter": hex0x(signer.address),
        "signature": encode_signature(v, r, s),
    }
    if event.meta is not None:
        out["meta"] = event.meta
    return out
