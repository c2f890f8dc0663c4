"""Event objects for the sequencer tests: unsigned ones, and signed ones made by eth-account."""

from __future__ import annotations

import hashlib
from typing import Any

from eth_account import Account

from prover.record import compute_meta_hash, encode_kind

# Two of anvil's well-known dev keys: public, never used for anything of value.
ALICE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MALLORY_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
ALICE = Account.from_key(ALICE_KEY).address
MALLORY = Account.from_key(MALLORY_KEY).address
SEQUENCER_ADDRESS = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # anvil account 0


def h32(label: str) -> str:
    return "0x" + hashlib.sha256(label.encode()).hexdigest()


def unsigned(i: int, *, kind: str = "sensor_hash", meta: dict[str, Any] | None = None) -> dict[str, Any]:
    ev: dict[str, Any] = {"kind": kind, "subject": h32(f"subject-{i % 7}"), "digest": h32(f"digest-{i}")}
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
    message = {
        "kind": encode_kind(kind),
        "subject": bytes.fromhex(subject[2:]),
        "digest": bytes.fromhex(digest[2:]),
        "metaHash": compute_meta_hash(meta),
        "nonce": nonce,
    }
    full = {
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
        "domain": {"name": "attest-rollup", "version": "1", "chainId": chain_id,
                   "verifyingContract": contract},
        "message": message,
    }
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
