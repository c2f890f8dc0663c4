"""Event objects for the sequencer tests: unsigned ones, and signed ones made by eth-account."""

from __future__ import annotations

import hashlib
from typing import Any

from eth_account import Account

from l1_contracts.accounts import DEV_KEYS
from prover.eip712 import Domain, event_typed_data
from prover.hashing import keccak256
from prover.record import compute_meta_hash, encode_kind

# Two of anvil's well-known dev keys: public, never used for anything of value.
ALICE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MALLORY_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
ALICE = Account.from_key(ALICE_KEY).address
MALLORY = Account.from_key(MALLORY_KEY).address
SEQUENCER_ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # anvil account 0


def h32(label: str) -> str:
    return "0x" + hashlib.sha256(label.encode()).hexdigest()


def unsigned(
    i: int, *, kind: str = "sensor_hash", meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": kind,
        "subject": h32(f"subject-{i % 7}"),
        "digest": h32(f"digest-{i}"),
    }
    if meta is not None:
        ev["meta"] = meta
    return ev


def signed(
    key: str,
    nonce: int,
    *,
    chain_id: int = 31337,
    contract: str = "0x" + "00" * 20,
    kind: str = "inference_receipt",
    digest: str | None = None,
    meta: dict[str, Any] | None = None,
    claim: str | None = None,
) -> dict[str, Any]:
    """An event signed with EIP-712 by `key` via eth-account's sign_typed_data."""
    subject = h32("model-7")
    digest = digest or h32(f"output-{nonce}")
    # The message a wallet is shown (prover.eip712.event_typed_data is itself checked against
    # eth-account's encoder in tests/prover/test_eip712.py); eth-account signs it.
    full = event_typed_data(
        Domain(chain_id, bytes.fromhex(contract[2:])),
        encode_kind(kind),
        bytes.fromhex(subject[2:]),
        bytes.fromhex(digest[2:]),
        compute_meta_hash(meta),
        nonce,
    )
    sig = Account.sign_typed_data(key, full_message=full)
    ev: dict[str, Any] = {
        "kind": kind,
        "subject": subject,
        "digest": digest,
        "nonce": nonce,
        "submitter": claim or Account.from_key(key).address,
        "signature": "0x" + bytes(sig.signature).hex(),
    }
    if meta is not None:
        ev["meta"] = meta
    return ev


FORCED_POSTER_KEY = DEV_KEYS[3]
"""A funded devnet account posting to the L1 inbox (anvil's public key #3)."""


def forced_event(l1_rpc: str, contract: str, n: int) -> tuple[Any, ...]:
    """`post_forced`'s arguments for the n-th test forced event (a regulator's report)."""
    return (
        l1_rpc,
        contract,
        FORCED_POSTER_KEY,
        encode_kind("regulator_report"),
        keccak256(b"plant-7"),
        keccak256(f"report {n} at {contract}".encode()),
        {"n": n},
    )
