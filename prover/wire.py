"""Scalar wire values: the one strict parser per JSON type the protocol sends (docs/spec.md §1.1).

Every hash, address, byte string, signature and unsigned integer that arrives as JSON (RPC
parameters and answers, proof bundles, the light client's state file, L1 node answers) is
parsed here, and every byte string that leaves as JSON is written by `hex0x`. One parser per
type means one set of accepted forms, and one place where a malformed form can slip through.

The accepted forms, decided once:

* **Hex bytes** (`parse_hex`, `parse_hash32`, `parse_address`, `parse_signature_bytes`): a
  string ``0x`` (lower-case x only, as Ethereum's JSON-RPC writes it; ``0X`` is refused)
  followed by exactly two hex digits per byte, digits in either case. Nothing else: no
  whitespace anywhere, no odd length, no ``0x`` alone where bytes are required.
* **Addresses** are 20 bytes and case-insensitive: an EIP-55 mixed-case checksum is accepted
  but not verified. Every address this protocol receives is then checked against something
  stronger (a signature must recover to it, a key must derive it, L1 must hold it), which
  catches a typo with a message naming both addresses.
* **Unsigned integers** (`parse_uint`): a JSON integer (never a bool or a float); or a string
  of ASCII decimal digits; or ``0x`` followed by at least one hex digit (either case); a
  string is at most 80 characters. Strings let clients whose JSON numbers are doubles send
  all of uint64. Leading zeros are accepted (the value is not ambiguous); signs, underscores,
  whitespace, fractions, exponents and the non-ASCII digits Python's `int()` would take are
  not. Every form must be at most the caller's `maximum`.

Errors are `InvalidFieldError` naming the field (`InvalidSignatureError` for a signature's
shape), which the JSON-RPC layer maps to its codes in one place (`sequencer/rpc/errors.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.types import Hash32

UINT64_MAX: Final[int] = 2**64 - 1
"""The largest uint64: the default `maximum` of `parse_uint`."""

UINT256_MAX: Final[int] = 2**256 - 1
"""The largest uint256 (checkpoint indexes, L1 amounts)."""

HASH_SIZE: Final[int] = 32
ADDRESS_SIZE: Final[int] = 20
SIGNATURE_SIZE: Final[int] = 65
"""``r || s || v``: 32 + 32 + 1 bytes, as eth-account, ethers and wallets write it."""

_MAX_UINT_CHARS: Final[int] = 80
"""Longer than any uint256 (78 decimal digits, 0x + 64 hex digits): bounds `int()`'s work."""


def hex0x(data: bytes) -> str:
    """``0x`` followed by two lower-case hex digits per byte (the form every answer uses)."""
    return "0x" + data.hex()


def _hex_reason(size: int | None, max_size: int | None) -> str:
    if size is not None:
        return f"must be 0x followed by {2 * size} hex digits"
    if max_size is not None:
        return f"must be 0x followed by an even number of hex digits, at most {2 * max_size}"
    return "must be 0x followed by an even number of hex digits"


def parse_hex(
    value: object, field: str, *, size: int | None = None, max_size: int | None = None
) -> bytes:
    """The bytes of a ``0x`` hex string: exactly `size` bytes, or at most `max_size`, or any.

    Raises `InvalidFieldError(field, ...)` for anything else (``is required`` for None).
    """
    if type(value) is str and value.startswith("0x"):
        digits = len(value) - 2
        if (size is None or digits == 2 * size) and (max_size is None or digits <= 2 * max_size):
            try:
                raw = bytes.fromhex(value[2:])
            except ValueError:
                pass
            else:
                # bytes.fromhex skips ASCII whitespace between bytes: a string that held any
                # decodes to fewer bytes than it has digit pairs, so the length check refuses it.
                if 2 * len(raw) == digits:
                    return raw
    if value is None:
        raise InvalidFieldError(field, "is required")
    raise InvalidFieldError(field, _hex_reason(size, max_size))


def parse_hex_list(values: list[object], field: str, size: int) -> list[bytes]:
    """The bytes of each ``0x`` hex string of `values`, each exactly `size` bytes.

    The hot path of a compact block's records: no field name is built per element; an element
    that does not decode is parsed again by `parse_hex`, which names it (``field[i]``)."""
    out: list[bytes] = []
    append = out.append
    hex_len = 2 + 2 * size
    fromhex = bytes.fromhex
    for text in values:
        if type(text) is str and len(text) == hex_len and text.startswith("0x"):
            try:
                raw = fromhex(text[2:])
            except ValueError:
                pass
            else:
                if len(raw) == size:  # fewer bytes: it held whitespace (see parse_hex)
                    append(raw)
                    continue
        append(parse_hex(text, f"{field}[{len(out)}]", size=size))
    return out


def parse_hash32(value: object, field: str) -> Hash32:
    """A 32-byte hash: ``0x`` and 64 hex digits."""
    # The hot path of event ingest (subject and digest of every event): checked inline.
    if type(value) is str and len(value) == 66 and value.startswith("0x"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            pass
        else:
            if len(raw) == HASH_SIZE:  # fewer bytes: it held whitespace (see parse_hex)
                return Hash32(raw)
    return Hash32(parse_hex(value, field, size=HASH_SIZE))


def parse_hashes(value: object, field: str) -> tuple[Hash32, ...]:
    """A JSON list of 32-byte hashes (a proof); elements are named ``field[i]`` in errors."""
    if type(value) is not list:
        if value is None:
            raise InvalidFieldError(field, "is required")
        raise InvalidFieldError(field, "must be a list of 0x-hex 32-byte hashes")
    return tuple(parse_hash32(v, f"{field}[{i}]") for i, v in enumerate(value))


def parse_address(value: object, field: str) -> bytes:
    """A 20-byte address: ``0x`` and 40 hex digits, any case (the EIP-55 checksum is not
    verified; see the module docstring)."""
    return parse_hex(value, field, size=ADDRESS_SIZE)


def parse_signature_bytes(value: object, field: str = "signature") -> bytes:
    """65 bytes ``r || s || v`` of ``0x`` hex; `InvalidSignatureError` for any other shape.

    Only the shape: the ranges of v, r and s are `prover.record.parse_signature`'s business.
    """
    try:
        return parse_hex(value, field, size=SIGNATURE_SIZE)
    except InvalidFieldError as e:
        raise InvalidSignatureError(field, f"{e.reason} (r || s || v)") from None


def parse_uint(value: object, field: str, *, maximum: int = UINT64_MAX) -> int:
    """An unsigned integer in [0, `maximum`]: a JSON integer, a decimal string or a 0x-hex
    string (see the module docstring for what each form may hold)."""
    if type(value) is int:
        n = value
    elif type(value) is str and 0 < len(value) <= _MAX_UINT_CHARS and value.isascii():
        # isdigit (on ASCII) excludes the signs, underscores and whitespace int() would take.
        if value.startswith("0x"):
            # Not int(digits, 16), which would also take "0x0x1f" and "0x_1f".
            digits = value[2:]
            padded = "0" + digits if len(digits) & 1 else digits
            try:
                raw = bytes.fromhex(padded)
            except ValueError:
                raise _uint_error(value, field, maximum) from None
            if not raw or 2 * len(raw) != len(padded):  # "0x" alone, or whitespace inside
                raise _uint_error(value, field, maximum)
            n = int.from_bytes(raw, "big")
        elif value.isdigit():
            n = int(value)
        else:
            raise _uint_error(value, field, maximum)
    else:
        if value is None:
            raise InvalidFieldError(field, "is required")
        raise _uint_error(value, field, maximum)
    if not 0 <= n <= maximum:
        raise _uint_error(value, field, maximum)
    return n


def _uint_error(value: object, field: str, maximum: int) -> InvalidFieldError:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return InvalidFieldError(
        field,
        f"must be an integer in [0, {maximum}]: a JSON integer, or a decimal or 0x-hex string; "
        f"got {shown}",
    )


def parse_object(value: object, field: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    """An optional JSON object of options (None is ``{}``) with only `allowed` keys: a key we
    would silently ignore (a typo) is refused."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise InvalidFieldError(field, "must be an object")
    unknown = set(value) - set(allowed)
    if unknown:
        raise InvalidFieldError(field, f"unknown keys {sorted(unknown)}; allowed: {list(allowed)}")
    return value


def encode_hashes(hashes: Sequence[bytes]) -> list[str]:
    """A proof as JSON: `hex0x` of each hash, in order."""
    return ["0x" + h.hex() for h in hashes]
