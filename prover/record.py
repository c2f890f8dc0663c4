"""The event record (docs/spec.md §3) and the wire event object it is built from (docs/spec.md §10).

A record is the ABI encoding of a static tuple of 11 words, 352 bytes:

    word  field      ABI type   bytes of the word that may be non-zero
    0     seq        uint64     last 8
    1     timestamp  uint64     last 8
    2     kind       bytes32    all
    3     subject    bytes32    all
    4     digest     bytes32    all
    5     metaHash   bytes32    all
    6     submitter  address    last 20
    7     nonce      uint64     last 8
    8     v          uint8      last 1
    9     r          bytes32    all
    10    s          bytes32    all

Records are packed and unpacked by hand with one precompiled `struct.Struct` rather than with
eth_abi: building a record is on the per-event hot path of the sequencer, and the hand-packed
form is byte-for-byte the ABI encoding (the tests compare it with `eth_abi.encode`).

The wire event object is ``{kind, subject, digest, meta?, nonce?, signature?, submitter?}``:

* ``kind``: the ASCII name (``"sensor_hash"``), or the 0x-hex bytes32 of a well-formed kind.
* ``subject``, ``digest``: ``0x`` followed by 64 hex digits (either case; every hex and
  integer form is `prover.wire`'s, which says exactly what is accepted).
* ``meta``: a JSON object, at most `MAX_META_BYTES` in RFC 8785 canonical form; ``null`` is the
  same as leaving it out.
* ``nonce``: a JSON integer, or a string holding a decimal or ``0x``-hex integer (so clients
  whose JSON numbers are doubles can send all of uint64); must fit in uint64 (`parse_uint`). Required for a
  signed event; optional (default 0) for an unsigned one.
* ``signature``: ``0x`` followed by 65 bytes of hex, ``r || s || v`` (what eth-account, ethers
  and wallets return). ``v`` is 27 or 28; 0 and 1 are accepted and normalised to 27 and 28.
  ``s`` must be in the lower half of the curve order (EIP-2), so a signature has one form only.
* ``submitter``: the ``0x`` address the event claims to be signed by. Required with a
  signature, so that a signature made with the wrong key, domain or fields is rejected with a
  message naming both addresses instead of being attributed to whatever address it happens to
  recover to. Forbidden without a signature: an unsigned event is vouched for by the address
  its bearer token is bound to (docs/spec.md §3), and the client does not get to name another one.

`parse_event` checks the shape only; checking that the signature recovers to ``submitter`` is
`prover.eip712.verify_event_signature`, which needs the domain.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, NamedTuple

import orjson
import rfc8785
import sha3

from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.wire import parse_address, parse_hash32, parse_signature_bytes, parse_uint

_keccak = sha3.keccak_256

WORD_SIZE: Final[int] = 32
"""Bytes in one ABI word."""

RECORD_WORDS: Final[int] = 11
"""Words in a record, one per field (docs/spec.md §3)."""

RECORD_SIZE: Final[int] = RECORD_WORDS * WORD_SIZE
"""Bytes in a record: 11 ABI words, 352 bytes (docs/spec.md §3)."""

MAX_META_BYTES: Final[int] = 1024
"""Largest canonical (RFC 8785) `meta`, in bytes (docs/spec.md §3: "at most 1 KiB of JSON")."""

MAX_KIND_LENGTH: Final[int] = 32
"""A kind is 1 to 32 ASCII characters: it must fit in its bytes32 word."""

SECP256K1_N: Final[int] = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""Order of the secp256k1 group; r and s of a valid signature are in [1, N)."""

SECP256K1_HALF_N: Final[int] = SECP256K1_N // 2
"""EIP-2: s must be at most N/2, so that (r, s) and (r, N - s) are not both valid."""

ZERO32: Final[bytes] = bytes(32)
"""The zero word: metaHash without meta, r and s of an unsigned record."""

_KIND_CHARS: Final[bytes] = b"abcdefghijklmnopqrstuvwxyz0123456789_.-"

# --- the record layout -----------------------------------------------------------------------


class Word(IntEnum):
    """Index of each field's word in a record (docs/spec.md §3); word k is bytes [32k, 32k + 32)."""

    SEQ = 0
    TIMESTAMP = 1
    KIND = 2
    SUBJECT = 3
    DIGEST = 4
    META_HASH = 5
    SUBMITTER = 6
    NONCE = 7
    V = 8
    R = 9
    S = 10


def word_slice(first: int, end: int | None = None) -> slice:
    """The bytes of words [first, end) of a record (just word `first` without `end`)."""
    return slice(first * WORD_SIZE, (first + 1 if end is None else end) * WORD_SIZE)


def _low(word: int, size: int) -> slice:
    # The last `size` bytes of a word: where an ABI uint64, address or uint8 sits.
    return slice((word + 1) * WORD_SIZE - size, (word + 1) * WORD_SIZE)


# Where each field's value sits in a record, as slices of its bytes (docs/spec.md §3). Every piece
# of code that reads or writes record bytes by hand uses these (tests/test_single_definitions.py).
SEQ_BYTES: Final[slice] = _low(Word.SEQ, 8)
TIMESTAMP_BYTES: Final[slice] = _low(Word.TIMESTAMP, 8)
KIND_BYTES: Final[slice] = word_slice(Word.KIND)
SUBJECT_BYTES: Final[slice] = word_slice(Word.SUBJECT)
DIGEST_BYTES: Final[slice] = word_slice(Word.DIGEST)
META_HASH_BYTES: Final[slice] = word_slice(Word.META_HASH)
SUBMITTER_BYTES: Final[slice] = _low(Word.SUBMITTER, 20)
NONCE_BYTES: Final[slice] = _low(Word.NONCE, 8)
V_OFFSET: Final[int] = (Word.V + 1) * WORD_SIZE - 1
"""The byte holding v (the last of word 8)."""
R_BYTES: Final[slice] = word_slice(Word.R)
S_BYTES: Final[slice] = word_slice(Word.S)

CONTENT_WORDS: Final[slice] = word_slice(Word.KIND, Word.V)
"""Words 2-7 (kind, subject, digest, metaHash, submitter, nonce): what the submitter decided.
Two signed records with one (submitter, nonce) and equal content words are the same event
sent twice; with different content words, a replay (docs/spec.md §8 rule 5)."""

REPLAY_KEY_WORDS: Final[slice] = word_slice(Word.SUBMITTER, Word.V)
"""Words 6-7 (submitter, nonce), whole, as the contract compares them for rule 5."""

# One word per field; "24x"/"12x"/"31x" are the zero high bytes of uint64, address and uint8.
_RECORD: Final[struct.Struct] = struct.Struct(">24xQ24xQ32s32s32s32s12x20s24xQ31xB32s32s")

# (start, end) of the bytes of each word that must be zero, with the field they belong to.
_PADDING: Final[tuple[tuple[str, int, int], ...]] = (
    ("seq", Word.SEQ * WORD_SIZE, SEQ_BYTES.start),
    ("timestamp", Word.TIMESTAMP * WORD_SIZE, TIMESTAMP_BYTES.start),
    ("submitter", Word.SUBMITTER * WORD_SIZE, SUBMITTER_BYTES.start),
    ("nonce", Word.NONCE * WORD_SIZE, NONCE_BYTES.start),
    ("v", Word.V * WORD_SIZE, V_OFFSET),
)


@dataclass(frozen=True, slots=True)
class Record:
    """One log entry, field for field as docs/spec.md §3 fixes it."""

    seq: int
    """Position in the log, assigned by the sequencer, starting at 0 (uint64)."""
    timestamp: int
    """Sequencer receive time in milliseconds since the Unix epoch (uint64)."""
    kind: bytes
    """bytes32: the ASCII kind name right-padded with zeros (see `is_valid_kind`)."""
    subject: bytes
    """bytes32: what the event is about (model id, sensor id, dataset id, ...)."""
    digest: bytes
    """bytes32: the content hash being attested."""
    meta_hash: bytes
    """bytes32: keccak256(JCS(meta)) of the optional meta object, or zero without one."""
    submitter: bytes
    """20-byte address that vouches for the event (the signer, or the token's address)."""
    nonce: int
    """The submitter's nonce (uint64); (submitter, nonce) is unique among signed events."""
    v: int
    """Signature recovery byte, 27 or 28; 0 for an unsigned event (uint8)."""
    r: bytes
    """bytes32: signature r, or zero for an unsigned event."""
    s: bytes
    """bytes32: signature s, or zero for an unsigned event."""

    @property
    def is_signed(self) -> bool:
        """True when the record carries a signature (v != 0)."""
        return self.v != 0


def _check_uint(field: str, value: int, bits: int) -> None:
    if type(value) is not int or not 0 <= value < 1 << bits:
        raise InvalidFieldError(field, f"must be an integer in uint{bits}, got {value!r}")


def _check_bytes(field: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise InvalidFieldError(field, f"must be {size} bytes, got {value!r}")


def verify_record_fields(rec: Record) -> None:
    """Raise `InvalidFieldError` naming the first field that does not fit its ABI type."""
    _check_uint("seq", rec.seq, 64)
    _check_uint("timestamp", rec.timestamp, 64)
    _check_bytes("kind", rec.kind, 32)
    _check_bytes("subject", rec.subject, 32)
    _check_bytes("digest", rec.digest, 32)
    _check_bytes("meta_hash", rec.meta_hash, 32)
    _check_bytes("submitter", rec.submitter, 20)
    _check_uint("nonce", rec.nonce, 64)
    _check_uint("v", rec.v, 8)
    _check_bytes("r", rec.r, 32)
    _check_bytes("s", rec.s, 32)


def encode_record(rec: Record) -> bytes:
    """The 352-byte ABI encoding of `rec` (docs/spec.md §3).

    Only the ABI types are checked here (a record that breaks a validity rule of docs/spec.md §8,
    such as a malformed kind, still encodes: validators must be able to hash what they prove
    wrong). Raises `InvalidFieldError` naming a field that does not fit its type.
    """
    verify_record_fields(rec)
    return _RECORD.pack(
        rec.seq,
        rec.timestamp,
        rec.kind,
        rec.subject,
        rec.digest,
        rec.meta_hash,
        rec.submitter,
        rec.nonce,
        rec.v,
        rec.r,
        rec.s,
    )


def decode_record(b: bytes) -> Record:
    """Parse a 352-byte record, checking its ABI padding.

    Raises `InvalidFieldError` with field ``"record"`` for a wrong length, or naming the field
    whose word has non-zero high bytes. The validity rules of docs/spec.md §8 are not checked.
    """
    if not isinstance(b, bytes | bytearray | memoryview):
        raise InvalidFieldError("record", f"must be bytes, got {type(b).__name__}")
    if len(b) != RECORD_SIZE:
        raise InvalidFieldError("record", f"must be {RECORD_SIZE} bytes, got {len(b)}")
    b = bytes(b)
    # Verify every word holding a narrower type has zero high bytes, as ABI decoders require.
    for field, start, end in _PADDING:
        if b[start:end].count(0) != end - start:
            raise InvalidFieldError(field, "ABI word has non-zero high bytes")
    return Record(*_RECORD.unpack(b))


# Fast accessors for raw record bytes (docs/spec.md §3). They assume a well-formed 352-byte record
# (from the store, or after `decode_record`); `record_word` reads a whole word, as the
# contract's ``extract32`` does, for judging records that may not be well formed.


def record_word(b: bytes, k: int) -> int:
    """Word `k`, whole, as a uint256 (a malformed record may overflow the field's type)."""
    return int.from_bytes(b[k * WORD_SIZE : (k + 1) * WORD_SIZE], "big")


def record_seq(b: bytes) -> int:
    """Field 0, seq."""
    return int.from_bytes(b[SEQ_BYTES], "big")


def record_timestamp(b: bytes) -> int:
    """Field 1, timestamp (ms)."""
    return int.from_bytes(b[TIMESTAMP_BYTES], "big")


def record_kind(b: bytes) -> bytes:
    """Field 2, kind (bytes32)."""
    return b[KIND_BYTES]


def record_subject(b: bytes) -> bytes:
    """Field 3, subject."""
    return b[SUBJECT_BYTES]


def record_digest(b: bytes) -> bytes:
    """Field 4, digest."""
    return b[DIGEST_BYTES]


def record_meta_hash(b: bytes) -> bytes:
    """Field 5, metaHash."""
    return b[META_HASH_BYTES]


def record_submitter(b: bytes) -> bytes:
    """Field 6, submitter (the last 20 bytes of the word)."""
    return b[SUBMITTER_BYTES]


def record_nonce(b: bytes) -> int:
    """Field 7, nonce."""
    return int.from_bytes(b[NONCE_BYTES], "big")


def record_v(b: bytes) -> int:
    """Field 8, v."""
    return b[V_OFFSET]


def record_r(b: bytes) -> bytes:
    """Field 9, r."""
    return b[R_BYTES]


def record_s(b: bytes) -> bytes:
    """Field 10, s."""
    return b[S_BYTES]


def record_signature(b: bytes) -> bytes:
    """The 65-byte ``r || s || v`` of a signed record (the wire form of `parse_signature`)."""
    return b[R_BYTES] + b[S_BYTES] + b[V_OFFSET : V_OFFSET + 1]


# Words 0 and 1 (seq, timestamp) as ABI uint64s: the part of a record `stamp_record` writes.
_STAMP: Final[struct.Struct] = struct.Struct(">24xQ24xQ")
_STAMPED_END: Final[int] = (Word.TIMESTAMP + 1) * WORD_SIZE


def stamp_record(template: bytes, seq: int, timestamp: int) -> bytes:
    """`template` with words 0 and 1 set to `seq` and `timestamp`: the only fields a sequencer
    decides (docs/spec.md §3).

    `template` is a record from `build_record` (any seq and timestamp); both must fit uint64
    (`struct.error` otherwise). The writer's per-event hot path: one pack and one
    concatenation, about 2x faster than splicing the two 8-byte values in.
    """
    return _STAMP.pack(seq, timestamp) + template[_STAMPED_END:]


# --- kinds -----------------------------------------------------------------------------------


def is_valid_kind(kind: bytes) -> bool:
    """The rule the contract enforces (docs/spec.md §3, §8 rule 3).

    32 bytes; at least one character before the first zero byte; every byte before it in
    ``[a-z0-9_.-]``; every byte after it zero.
    """
    if not isinstance(kind, bytes) or len(kind) != 32:
        return False
    n = kind.find(0)
    if n == -1:
        n = 32
    return n > 0 and not kind[:n].translate(None, _KIND_CHARS) and kind.count(0) == 32 - n


def verify_kind(kind: bytes) -> None:
    """Raise `InvalidFieldError("kind", ...)` unless `is_valid_kind(kind)`."""
    if not is_valid_kind(kind):
        raise InvalidFieldError(
            "kind", f"must be 1-32 characters of [a-z0-9_.-] zero-padded to 32 bytes, got {kind!r}"
        )


def encode_kind(name: str) -> bytes:
    """The bytes32 of kind `name`: its ASCII right-padded with zeros.

    Raises `InvalidFieldError("kind", ...)` unless `name` matches ``[a-z0-9_.-]{1,32}``.
    """
    if not isinstance(name, str) or not name.isascii() or not 1 <= len(name) <= MAX_KIND_LENGTH:
        raise InvalidFieldError("kind", f"must be 1-32 characters of [a-z0-9_.-], got {name!r}")
    raw = name.encode("ascii")
    if raw.translate(None, _KIND_CHARS):
        raise InvalidFieldError("kind", f"must be 1-32 characters of [a-z0-9_.-], got {name!r}")
    return raw.ljust(32, b"\x00")


def decode_kind(kind: bytes) -> str:
    """The name held by a well-formed kind; raises `InvalidFieldError("kind", ...)` otherwise."""
    verify_kind(kind)
    return kind.rstrip(b"\x00").decode("ascii")


KIND_INFERENCE_RECEIPT: Final[bytes] = encode_kind("inference_receipt")
KIND_SENSOR_HASH: Final[bytes] = encode_kind("sensor_hash")
KIND_MODEL_FINGERPRINT: Final[bytes] = encode_kind("model_fingerprint")
KIND_DATASET_HASH: Final[bytes] = encode_kind("dataset_hash")
KIND_ATTESTATION: Final[bytes] = encode_kind("attestation")

WELL_KNOWN_KINDS: Final[tuple[str, ...]] = (
    "inference_receipt",
    "sensor_hash",
    "model_fingerprint",
    "dataset_hash",
    "attestation",
)
"""The kinds docs/spec.md §3 names; any other well-formed kind is accepted too."""

# --- meta ------------------------------------------------------------------------------------


_MAX_SAFE_INT: Final[int] = 2**53 - 1
"""RFC 8785 §3.2.2.3 / I-JSON: integers beyond ±(2**53 - 1) are not interoperable."""


_FAST_META_DEPTH: Final[int] = 64
"""Deeper metas take the rfc8785 path: orjson refuses nesting beyond 255 levels."""


def _is_orjson_canonical(value: object, depth: int = 0) -> bool:
    """True when orjson with sorted keys writes `value` exactly as RFC 8785 does.

    That holds for objects with ASCII keys (sorting by code point then equals RFC 8785's
    UTF-16 code unit order), strings (both escape only ``"``, ``\\`` and U+0000-U+001F, with the
    same short forms, and write everything else as UTF-8), safe integers, booleans, null and
    arrays of these, nested at most `_FAST_META_DEPTH` deep. Numbers with a fraction are not
    in the subset: their ECMAScript shortest form is the part of JCS where serialisers differ.
    """
    t = type(value)
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT  # type: ignore[operator]
    if depth >= _FAST_META_DEPTH:
        return False
    if t is dict:
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str or not k.isascii() or not _is_orjson_canonical(v, depth + 1):
                return False
        return True
    if t is list:
        return all(_is_orjson_canonical(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    return False


def canonical_meta(meta: object | None) -> bytes | None:
    """RFC 8785 (JCS) canonical bytes of `meta`, or None without one.

    Raises `InvalidFieldError("meta", ...)` unless `meta` is a JSON object that JCS accepts
    (string keys, integers within ±(2**53 - 1), finite numbers) and whose canonical form is at
    most `MAX_META_BYTES` bytes (docs/spec.md §3).
    """
    if meta is None:
        return None
    if type(meta) is not dict:
        raise InvalidFieldError("meta", f"must be a JSON object, got {type(meta).__name__}")
    canonical: bytes | None = None
    # Fast path (about 5x faster than rfc8785 on typical metas): orjson, for the subset of JSON
    # where its output is byte-for-byte JCS; tests/prover/test_record.py holds the two equal.
    if len(meta) <= MAX_META_BYTES and _is_orjson_canonical(meta):
        try:
            canonical = orjson.dumps(meta, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # lone surrogates, nesting too deep: let rfc8785 judge
            canonical = None
    if canonical is None:
        try:
            canonical = rfc8785.dumps(meta)
        except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as e:
            raise InvalidFieldError(
                "meta", f"is not canonicalisable JSON (RFC 8785): {e}"
            ) from None
    if len(canonical) > MAX_META_BYTES:
        raise InvalidFieldError(
            "meta", f"canonical JSON is {len(canonical)} bytes, more than {MAX_META_BYTES}"
        )
    return bytes(canonical)


def compute_meta_hash(meta: object | None) -> bytes:
    """docs/spec.md §3 metaHash: keccak256(JCS(meta)), or 32 zero bytes when `meta` is None."""
    canonical = canonical_meta(meta)
    return ZERO32 if canonical is None else _keccak(canonical).digest()


# --- the wire event object -------------------------------------------------------------------


class EventInput(NamedTuple):
    """A parsed, shape-checked wire event (docs/spec.md §10), before it has a seq or a submitter.

    The signature, when present, has NOT been checked against `submitter` yet: that needs the
    EIP-712 domain (`prover.eip712.verify_event_signature`).

    A NamedTuple rather than a frozen dataclass: it is built once per submitted event, and a
    frozen dataclass's `__init__` (one `object.__setattr__` per field) cost ~2 µs of the ~10 µs
    an event may take at 100k events/s; a NamedTuple is as immutable and costs ~0.3 µs.
    """

    kind: bytes
    """bytes32, well formed (`is_valid_kind`)."""
    subject: bytes
    """bytes32."""
    digest: bytes
    """bytes32."""
    meta_bytes: bytes | None
    """The RFC 8785 canonical JSON of `meta`, or None; the store keeps it beside the record."""
    meta_hash: bytes
    """keccak256(meta_bytes), or 32 zero bytes."""
    nonce: int | None
    """uint64, or None when the (unsigned) event gave none; the record then holds 0."""
    signature: tuple[int, bytes, bytes] | None
    """(v, r, s) with v in {27, 28}, r and s 32 bytes, s low (EIP-2); None when unsigned."""
    submitter: bytes | None
    """The 20-byte address a signed event claims as signer; None for an unsigned event."""

    @property
    def is_signed(self) -> bool:
        """True when the event carries a signature."""
        return self.signature is not None


EVENT_KEYS: Final[frozenset[str]] = frozenset(
    ("kind", "subject", "digest", "meta", "nonce", "signature", "submitter")
)
"""Every key a wire event object may have; any other key is rejected."""

# Kind names seen so far -> bytes32. A server sees few distinct kinds, so the check runs once
# per name; the cache stops growing at _KIND_CACHE_MAX so hostile clients cannot exhaust memory.
_kind_cache: dict[str, bytes] = {name: encode_kind(name) for name in WELL_KNOWN_KINDS}
_KIND_CACHE_MAX: Final[int] = 4096


def _parse_kind(value: object) -> bytes:
    if type(value) is str:
        cached = _kind_cache.get(value)
        if cached is not None:
            return cached
        kind: bytes
        if len(value) == 66 and value.startswith("0x"):
            # 66 characters cannot be a name (at most 32), so this is the bytes32 form.
            kind = parse_hash32(value, "kind")
            verify_kind(kind)
        else:
            kind = encode_kind(value)
        if len(_kind_cache) < _KIND_CACHE_MAX:
            _kind_cache[value] = kind
        return kind
    if value is None:
        raise InvalidFieldError("kind", "is required")
    raise InvalidFieldError("kind", f"must be a string, got {type(value).__name__}")


def parse_signature(value: object) -> tuple[int, bytes, bytes]:
    """Parse a 65-byte ``0x`` hex ``r || s || v`` signature into (v, r, s).

    v 0/1 is normalised to 27/28. Raises `InvalidSignatureError("signature", ...)` for a wrong
    shape, v outside {0, 1, 27, 28}, r or s outside [1, N), or s above N/2 (EIP-2).
    """
    raw = parse_signature_bytes(value, "signature")
    v = raw[64]
    if v < 27:
        v += 27
    if v != 27 and v != 28:
        raise InvalidSignatureError("signature", f"v must be 27 or 28 (or 0 or 1), got {raw[64]}")
    r, s = raw[:32], raw[32:64]
    if not 0 < int.from_bytes(r, "big") < SECP256K1_N:
        raise InvalidSignatureError("signature", "r is not in [1, secp256k1 order)")
    s_int = int.from_bytes(s, "big")
    if s_int == 0:
        raise InvalidSignatureError("signature", "s is zero")
    if s_int > SECP256K1_HALF_N:
        raise InvalidSignatureError(
            "signature", "s is in the upper half of the curve order (EIP-2); send the low-s form"
        )
    return v, r, s


def parse_event(obj: object) -> EventInput:
    """Check the shape of one wire event object (docs/spec.md §10) and parse its fields.

    See the module docstring for the accepted forms. Raises `InvalidFieldError` (or its
    subclass `InvalidSignatureError` for the signature) naming the offending field; the
    caller locates it in a batch with `.at_index(i)`.
    """
    if type(obj) is not dict:
        raise InvalidFieldError("event", f"must be a JSON object, got {type(obj).__name__}")
    # Verify there are no keys we would silently ignore (a typo'd "mata" loses the meta).
    if not obj.keys() <= EVENT_KEYS:
        unknown = sorted(str(k) for k in obj.keys() - EVENT_KEYS)
        raise InvalidFieldError(unknown[0], "is not a field of an event object")
    get = obj.get
    kind = _parse_kind(get("kind"))
    subject = parse_hash32(get("subject"), "subject")
    digest = parse_hash32(get("digest"), "digest")
    meta = get("meta")
    if meta is None:
        meta_bytes = None
        meta_hash = ZERO32
    else:
        meta_bytes = canonical_meta(meta)
        meta_hash = _keccak(meta_bytes).digest()
    raw_nonce = get("nonce")
    nonce = None if raw_nonce is None else parse_uint(raw_nonce, "nonce")
    raw_signature = get("signature")
    raw_submitter = get("submitter")
    if raw_signature is None:
        if raw_submitter is not None:
            raise InvalidFieldError(
                "submitter",
                "is only allowed with a signature; an unsigned event is vouched for by the "
                "address bound to its bearer token",
            )
        return EventInput(kind, subject, digest, meta_bytes, meta_hash, nonce, None, None)
    signature = parse_signature(raw_signature)
    if nonce is None:
        raise InvalidFieldError("nonce", "is required for a signed event")
    if raw_submitter is None:
        raise InvalidFieldError(
            "submitter", "is required for a signed event (the signer's 0x address)"
        )
    submitter = parse_address(raw_submitter, "submitter")
    return EventInput(kind, subject, digest, meta_bytes, meta_hash, nonce, signature, submitter)


def build_record(ev: EventInput, seq: int, timestamp_ms: int, submitter: bytes) -> bytes:
    """The 352-byte record of `ev` at position `seq` (docs/spec.md §3), hand-packed.

    `submitter` is the recovered signer of a signed event (it must equal `ev.submitter`) or,
    for an unsigned one, the address bound to the bearer token; the record of an unsigned
    event has v = r = s = 0. `ev` must come from `parse_event` (which fixes every field's
    length): the packer does not re-check lengths on this hot path.
    """
    if len(submitter) != 20:
        raise InvalidFieldError("submitter", f"must be 20 bytes, got {len(submitter)}")
    signature = ev.signature
    if signature is None:
        v, r, s = 0, ZERO32, ZERO32
    else:
        if submitter != ev.submitter:
            raise InvalidFieldError("submitter", "differs from the address the event names")
        v, r, s = signature
    nonce = ev.nonce
    try:
        return _RECORD.pack(
            seq,
            timestamp_ms,
            ev.kind,
            ev.subject,
            ev.digest,
            ev.meta_hash,
            submitter,
            0 if nonce is None else nonce,
            v,
            r,
            s,
        )
    except struct.error:
        _check_uint("seq", seq, 64)
        _check_uint("timestamp", timestamp_ms, 64)
        raise
