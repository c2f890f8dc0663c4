"""The strict scalar parsers of prover/wire.py against every malformed form, and round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.errors import InvalidFieldError, InvalidSignatureError
from prover.wire import (
    UINT64_MAX,
    UINT256_MAX,
    encode_hashes,
    hex0x,
    parse_address,
    parse_hash32,
    parse_hashes,
    parse_hex,
    parse_object,
    parse_signature_bytes,
    parse_uint,
)

# Characters that must never be accepted inside a hex or integer string: every kind of
# whitespace bytes.fromhex or int() skips, separators int() takes, signs, and non-ASCII digits
# and letters that str methods call digits (Arabic-Indic, full-width, superscript).
WHITESPACE = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003", "\u3000"]
INTRUDERS = [*WHITESPACE, "_", "+", "-", ".", ",", "g", "x", "\u0661", "\uff11", "\u00b2", "\uff41"]


def _parse_fixed(size: int, value: object) -> bytes:
    if size == 32:
        return parse_hash32(value, "f")
    if size == 20:
        return parse_address(value, "f")
    if size == 65:
        return parse_signature_bytes(value, "f")
    return parse_hex(value, "f", size=size)


SIZES = st.sampled_from([1, 20, 32, 65])


# --- round trips ----------------------------------------------------------------------------


@given(SIZES.flatmap(lambda n: st.binary(min_size=n, max_size=n)), st.booleans())
def test_fixed_size_round_trip(data: bytes, upper: bool) -> None:
    text = hex0x(data)
    assert text == "0x" + data.hex()
    if upper:  # digits in either case; the prefix stays "0x"
        text = "0x" + text[2:].upper()
    assert _parse_fixed(len(data), text) == data


@given(st.binary(max_size=100))
def test_any_size_round_trip(data: bytes) -> None:
    assert parse_hex(hex0x(data), "f") == data
    assert parse_hex(hex0x(data), "f", max_size=len(data)) == data


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=8))
def test_hashes_round_trip(hashes: list[bytes]) -> None:
    assert parse_hashes(encode_hashes(hashes), "proof") == tuple(hashes)


@given(st.integers(0, UINT256_MAX))
def test_uint_round_trip_every_form(n: int) -> None:
    assert parse_uint(n, "n", maximum=UINT256_MAX) == n
    assert parse_uint(str(n), "n", maximum=UINT256_MAX) == n
    assert parse_uint(hex(n), "n", maximum=UINT256_MAX) == n
    assert parse_uint("0x" + f"{n:x}".upper(), "n", maximum=UINT256_MAX) == n


def test_uint_leading_zeros_and_bounds() -> None:
    assert parse_uint("007", "n") == 7
    assert parse_uint("0x0007", "n") == 7
    assert parse_uint(0, "n") == 0
    assert parse_uint(UINT64_MAX, "n") == UINT64_MAX
    assert parse_uint("0x" + "f" * 16, "n") == UINT64_MAX
    assert parse_uint(5, "n", maximum=5) == 5


# --- malformed hex --------------------------------------------------------------------------


@given(SIZES, st.data())
def test_hex_wrong_length_by_one_byte_or_one_digit(size: int, data: st.DataObject) -> None:
    good = data.draw(st.binary(min_size=size, max_size=size)).hex()
    for bad in (good[:-2], good + "00", good[:-1], good + "0"):
        with pytest.raises(InvalidFieldError) as e:
            _parse_fixed(size, "0x" + bad)
        assert e.value.field == "f"


@given(SIZES, st.data(), st.sampled_from(INTRUDERS))
def test_hex_with_an_intruder_anywhere(size: int, data: st.DataObject, bad: str) -> None:
    digits = data.draw(st.binary(min_size=size, max_size=size)).hex()
    # Replace one digit (same length) or insert (one longer), at any position incl. the ends.
    at = data.draw(st.integers(0, len(digits)))
    replaced = digits[:at] + bad + digits[at + 1 :] if at < len(digits) else digits[:-1] + bad
    inserted = digits[:at] + bad + digits[at:]
    for text in ("0x" + replaced, "0x" + inserted, bad + "0x" + digits, "0x" + digits + bad):
        with pytest.raises(InvalidFieldError):
            _parse_fixed(size, text)
        with pytest.raises(InvalidFieldError):
            parse_hex(text, "f")


def test_the_31_byte_hash_with_trailing_spaces_is_refused() -> None:
    # Issue 9: an earlier parser decoded this to 31 bytes.
    with pytest.raises(InvalidFieldError, match="64 hex digits"):
        parse_hash32("0x" + "00" * 31 + "  ", "digest")
    with pytest.raises(InvalidFieldError):
        parse_hex("0x" + "00" * 31 + "  ", "digest", max_size=32)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        1.0,
        b"\x00" * 32,
        bytearray(32),
        ["0x" + "00" * 32],
        {"hash": "0x" + "00" * 32},
        "00" * 32,  # no prefix
        "0X" + "00" * 32,  # upper-case prefix
        "0x",  # prefix alone
        "",
        "x" + "00" * 32,
        "0x" + "0" * 63,  # odd length
        "0x" + "\u0661" * 64,  # Arabic-Indic digits
        "0x" + "\uff10" * 64,  # full-width digits
        " 0x" + "00" * 32,
        "0x" + "00" * 32 + "\n",
    ],
)
def test_hash32_refuses(value: object) -> None:
    with pytest.raises(InvalidFieldError) as e:
        parse_hash32(value, "digest")
    assert e.value.field == "digest"
    assert ("required" in e.value.reason) == (value is None)


def test_hex_size_limits() -> None:
    assert parse_hex("0x", "f") == b""
    assert parse_hex("0x", "f", max_size=0) == b""
    with pytest.raises(InvalidFieldError, match="at most 4"):
        parse_hex("0x" + "00" * 3, "f", max_size=2)
    with pytest.raises(InvalidFieldError, match="even number"):
        parse_hex("0x123", "f")
    with pytest.raises(InvalidFieldError, match="0x followed by 2 hex digits"):
        parse_hex("0x", "f", size=1)


def test_address_is_case_insensitive_and_checksum_is_not_verified() -> None:
    addr = bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55
    wrong_checksum = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    for text in (checksummed, wrong_checksum, checksummed.lower(), "0x" + checksummed[2:].upper()):
        assert parse_address(text, "submitter") == addr


def test_signature_shape_errors_are_signature_errors() -> None:
    with pytest.raises(InvalidSignatureError, match="130 hex digits") as e:
        parse_signature_bytes("0x" + "00" * 64)
    assert e.value.field == "signature"
    with pytest.raises(InvalidSignatureError):
        parse_signature_bytes(None)


def test_hashes_errors_name_the_element() -> None:
    with pytest.raises(InvalidFieldError) as e:
        parse_hashes(["0x" + "00" * 32, "0x00"], "proof")
    assert e.value.field == "proof[1]"
    for bad in ("0x" + "00" * 32, None, {"0": 1}, ("0x" + "00" * 32,)):
        with pytest.raises(InvalidFieldError) as e:
            parse_hashes(bad, "proof")
        assert e.value.field == "proof"


# --- malformed integers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        1.0,
        0.0,
        float("nan"),
        -1,
        2**64,
        "",
        "0x",
        "0X1",
        "0x0x1",
        "0x_1",
        "0x-1",
        "0x 1",
        "0b1",
        "0o1",
        "1_000",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1\n",
        "\t1",
        "1.0",
        "1e3",
        "\u0661",  # Arabic-Indic one: int() accepts it
        "\uff11",  # full-width one
        "\u00b2",  # superscript two: str.isdigit() says True
        "0x\uff11",
        "0x1" + "0" * 16,  # 2**64
        str(2**64),
        "1" * 100,
        [1],
        {"n": 1},
        b"1",
    ],
)
def test_uint_refuses(value: object) -> None:
    with pytest.raises(InvalidFieldError) as e:
        parse_uint(value, "nonce")
    assert e.value.field == "nonce"


@given(st.integers(0, 2**70), st.sampled_from(INTRUDERS), st.data())
def test_uint_with_an_intruder_anywhere(n: int, bad: str, data: st.DataObject) -> None:
    for text in (str(n), hex(n)):
        at = data.draw(st.integers(0, len(text)))
        with pytest.raises(InvalidFieldError):
            parse_uint(text[:at] + bad + text[at:], "n", maximum=2**71)


@given(st.integers(1, 2**80), st.integers(0, 2**80))
def test_uint_above_maximum(maximum: int, excess: int) -> None:
    value = maximum + 1 + excess
    for form in (value, str(value), hex(value)):
        with pytest.raises(InvalidFieldError, match=f"\\[0, {maximum}\\]"):
            parse_uint(form, "n", maximum=maximum)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_uint_refuses_every_float(x: float) -> None:
    with pytest.raises(InvalidFieldError):
        parse_uint(x, "n")


# --- option objects -------------------------------------------------------------------------


def test_parse_object() -> None:
    assert parse_object(None, "paging", ("after", "limit")) == {}
    assert parse_object({"limit": 5}, "paging", ("after", "limit")) == {"limit": 5}
    for bad, reason in (
        ([], "must be an object"),
        ("x", "must be an object"),
        ({"limt": 5}, "unknown keys"),
    ):
        with pytest.raises(InvalidFieldError, match=reason) as e:
            parse_object(bad, "paging", ("after", "limit"))
        assert e.value.field == "paging"
