"""The JSON-RPC envelope and its strict decoder: a hostile peer's answer is a
`MalformedResponseError`, never a crash of the caller (AttributeError, KeyError, ValueError)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.jsonrpc import (
    INVALID_PARAMS,
    JsonRpcError,
    MalformedResponseError,
    decode_result,
    error_response,
    index_batch,
    request,
    result_response,
)


def test_envelopes_round_trip() -> None:
    assert request("m", [1], 7) == {"jsonrpc": "2.0", "id": 7, "method": "m", "params": [1]}
    assert decode_result(result_response(7, {"a": 1})) == {"a": 1}
    assert decode_result(result_response(7, None)) is None
    err = JsonRpcError(INVALID_PARAMS, "bad", {"field": "x"})
    with pytest.raises(JsonRpcError) as raised:
        decode_result(error_response(7, err.to_json()))
    assert (raised.value.code, raised.value.message, raised.value.data) == (
        INVALID_PARAMS,
        "bad",
        {"field": "x"},
    )
    assert "data" not in JsonRpcError(1, "m").to_json()


@pytest.mark.parametrize(
    "answer",
    [
        {"error": "boom"},  # error not an object (crashed the validator with AttributeError)
        {"error": {"code": "x", "message": "m"}},  # non-integer code (ValueError)
        {"error": {"code": 1.5, "message": "m"}},
        {"error": {"code": True, "message": "m"}},
        {"error": {"message": "m"}},
        {"error": {"code": 1, "message": 5}},
        {"error": None},
        {},  # neither result nor error
        {"result": 1, "error": {"code": 1, "message": "m"}},  # both
        [],
        "result",
        None,
        7,
    ],
)
def test_malformed_answers_are_named_never_crash(answer: Any) -> None:
    with pytest.raises(MalformedResponseError):
        decode_result(answer)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_any_json_decodes_to_a_result_or_a_typed_error(answer: Any) -> None:
    with contextlib.suppress(JsonRpcError, MalformedResponseError):
        decode_result(answer)  # any other exception fails the test


def test_index_batch_demands_exactly_the_ids_asked() -> None:
    ok = [result_response(1, "b"), result_response(0, "a")]  # any order (JSON-RPC 2.0 §6)
    assert {k: decode_result(v) for k, v in index_batch(ok, [0, 1]).items()} == {0: "a", 1: "b"}
    for bad in (
        {"not": "a list"},
        [result_response(0, "a")],  # missing id 1
        [result_response(0, "a"), result_response(0, "a")],  # repeated
        [result_response(0, "a"), result_response(2, "c")],  # unknown
        [result_response(0, "a"), "x"],  # not an object
        [result_response(0, "a"), result_response(True, "b")],  # bool is not an id
    ):
        with pytest.raises(MalformedResponseError):
            index_batch(bad, [0, 1])
