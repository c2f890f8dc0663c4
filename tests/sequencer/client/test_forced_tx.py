"""The client's hand-made EIP-1559 transaction (sequencer.client.forced) is byte for byte the
one eth-account signs: the client install carries neither web3 nor eth-account."""

from __future__ import annotations

from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.client.forced import sign_eip1559


@settings(max_examples=40, deadline=None)
@given(
    nonce=st.integers(0, 2**64 - 1),
    tip=st.integers(0, 10**12),
    extra=st.integers(0, 10**12),
    gas=st.integers(21_000, 30_000_000),
    value=st.integers(0, 2**128),
    data=st.binary(max_size=300),
    chain_id=st.sampled_from([1, 1337, 31337, 11155111]),
)
def test_matches_eth_account(
    nonce: int, tip: int, extra: int, gas: int, value: int, data: bytes, chain_id: int
) -> None:
    key = (123456789).to_bytes(32, "big")
    to = bytes.fromhex("e7f1725e7734ce288f8367e1bb143e90bb3f0512")
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": tip + extra,
        "gas": gas,
        "to": to,
        "value": value,
        "data": data,
    }
    expected = bytes(Account.sign_transaction(tx, key).raw_transaction)
    got = sign_eip1559(
        key,
        chain_id=chain_id,
        nonce=nonce,
        max_priority_fee=tip,
        max_fee=tip + extra,
        gas=gas,
        to=to,
        value=value,
        data=data,
    )
    assert got == expected
