"""Sequencer configuration: defaults, the TOML file, and the command line, in that order.

The file (``--config FILE.toml``) looks like::

    chain_id = 31337
    verifying_contract = "0x0000000000000000000000000000000000000000"
    block_max_records = 256
    block_interval_ms = 50
    receipt_deadline_s = 600
    sequencer_key_file = "sequencer.key"      # 0x-hex private key, signs receipts
    allowlist = ["0x..."]                      # optional: only these may submit signed events

    [tokens]                                   # bearer tokens for unsigned events, stored hashed
    "sha256:<hex of sha256(token)>" = "0x<address the token vouches as>"

Tokens are kept only as SHA-256 hashes, so a leaked config file does not leak credentials;
`attest token hash TOKEN` prints the line to paste.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from prover.errors import InvalidFieldError

DEV_TOKEN: Final[str] = "dev"
"""The bearer token `--dev` adds. Never use it on a reachable interface."""

DEV_ADDRESS: Final[bytes] = bytes.fromhex("de7de7de7de7de7de7de7de7de7de7de7de7de70")
"""The address `--dev` binds the dev token to (recognisably fake: 0xde7de7...)."""

DEV_SEQUENCER_KEY: Final[bytes] = bytes.fromhex(
    # anvil's account 0 from the public "test test ... junk" mnemonic: the devnet sequencer.
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
)

ZERO_ADDRESS: Final[bytes] = bytes(20)


def hash_token(token: str) -> str:
    """The form a bearer token is stored in: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Config:
    """Everything `attest serve` needs. Frozen: change it with `dataclasses.replace`."""

    data_dir: Path
    """Where the LevelDB store lives."""
    host: str = "127.0.0.1"
    port: int = 8645
    chain_id: int = 31337
    """EIP-712 domain chainId (DESIGN §3); from L1 once a contract is attached."""
    verifying_contract: bytes = ZERO_ADDRESS
    """EIP-712 domain verifyingContract: the rollup contract address."""
    block_max_records: int = 256
    """B of DESIGN §4: a block is sealed when it holds this many records."""
    block_interval_ms: int = 50
    """T of DESIGN §4: an open block is sealed this long after its first record."""
    receipt_deadline_s: int = 600
    """A receipt promises a covering checkpoint within this many seconds (DESIGN §6)."""
    sequencer_key: bytes = field(default=DEV_SEQUENCER_KEY, repr=False)
    """secp256k1 key that signs receipts; its address is the L1 sequencer. Left out of `repr`:
    a logged config must not carry it."""
    sequencer_key_source: str = "the public dev key"
    """Where the key came from (a keystore, a plain file), for the warning a plain key earns
    on a chain that is not the devnet (`sequencer.l1.keys.warn_if_unsafe`)."""
    sequencer_key_encrypted: bool = False
    """True when the key came from an encrypted keystore."""
    tokens: Mapping[str, bytes] = field(default_factory=dict)
    """``sha256:<hex>`` of a bearer token -> the 20-byte address it vouches as."""
    allowlist: frozenset[bytes] | None = None
    """When set, only these addresses may submit signed events."""
    max_queue_events: int = 200_000
    """Events waiting for the writer before submissions are refused with `overloaded`."""
    max_group_events: int = 20_000
    """At most this many events go into one group commit."""
    max_batch_events: int = 10_000
    """At most this many events in one `attest_submitBatch`."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest HTTP request body accepted."""
    dev: bool = False
    """`--dev`: adds the `dev` token bound to `DEV_ADDRESS`."""
    l1_rpc: str | None = None
    """Ethereum JSON-RPC endpoint of L1; None runs without checkpoints."""
    l1_contract: str | None = None
    """Address of the rollup contract on L1 (also the EIP-712 verifyingContract)."""
    checkpoint_interval_s: float = 5.0
    """How often the committer anchors the durable head on L1."""
    ingest_workers: int = 0
    """Worker processes that check submissions (`sequencer/ingest_pool.py`); 0: the event loop."""
    inject: str | None = None
    """A fault to inject once (`sequencer/faults.py`): devnets and tests only."""
    l1_clock_lag_s: float = 2.0
    """How far L1 block times may lag this clock; records younger than that wait a round
    before being committed (DESIGN §5 rule 4: no record stamped after its checkpoint)."""
    l1_max_fee_gwei: float = 500.0
    """Ceiling of the max fee per gas of every L1 transaction (`sequencer/l1/fees.py`)."""
    l1_timeout_s: float = 10.0
    """Deadline of one L1 JSON-RPC call; a slower node counts as down for that round."""

    def with_dev(self) -> Config:
        tokens = dict(self.tokens)
        tokens[hash_token(DEV_TOKEN)] = DEV_ADDRESS
        return replace(self, tokens=tokens, dev=True)


def _address(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 42:
        raise InvalidFieldError(where, "must be a 0x-prefixed 20-byte hex address")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidFieldError(where, "must be a 0x-prefixed 20-byte hex address") from None


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidFieldError(where, "must be a positive integer")
    return value


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    """A 32-byte secp256k1 key stored as (0x-)hex text."""
    text = Path(path).read_text().strip()
    text = text.removeprefix("0x")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InvalidFieldError("sequencer_key_file", f"{path} is not hex") from None
    if len(key) != 32:
        raise InvalidFieldError("sequencer_key_file", f"{path} does not hold a 32-byte key")
    return key


_INT_KEYS: Final = (
    "chain_id",
    "block_max_records",
    "block_interval_ms",
    "receipt_deadline_s",
    "max_queue_events",
    "max_group_events",
    "max_batch_events",
    "max_body_bytes",
)
_KNOWN_KEYS: Final = {
    *_INT_KEYS,
    "verifying_contract",
    "sequencer_key_file",
    "allowlist",
    "tokens",
}


def load_config(base: Config, path: str | os.PathLike[str] | None) -> Config:
    """Apply a TOML file on top of `base`; every wrong key or value names itself."""
    if path is None:
        return base
    with open(path, "rb") as f:
        try:
            doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidFieldError("config", f"{path}: {exc}") from None
    unknown = set(doc) - _KNOWN_KEYS
    if unknown:
        raise InvalidFieldError("config", f"unknown keys {sorted(unknown)} in {path}")
    changes: dict[str, Any] = {k: _positive_int(doc[k], k) for k in _INT_KEYS if k in doc}
    if "verifying_contract" in doc:
        changes["verifying_contract"] = _address(doc["verifying_contract"], "verifying_contract")
    if "sequencer_key_file" in doc:
        key_path = Path(doc["sequencer_key_file"])
        if not key_path.is_absolute():
            key_path = Path(path).parent / key_path
        changes["sequencer_key"] = read_key_file(key_path)
        changes["sequencer_key_source"] = f"plain key file {key_path}"
        changes["sequencer_key_encrypted"] = False
    if "allowlist" in doc:
        raw = doc["allowlist"]
        if not isinstance(raw, list):
            raise InvalidFieldError("allowlist", "must be a list of addresses")
        changes["allowlist"] = frozenset(_address(a, "allowlist") for a in raw)
    if "tokens" in doc:
        raw_tokens = doc["tokens"]
        if not isinstance(raw_tokens, dict):
            raise InvalidFieldError("tokens", "must be a table of sha256:<hex> = address")
        tokens = dict(base.tokens)
        for token_hash, address in raw_tokens.items():
            if not token_hash.startswith("sha256:") or len(token_hash) != 7 + 64:
                raise InvalidFieldError("tokens", f"key {token_hash!r} is not sha256:<64 hex>")
            tokens[token_hash] = _address(address, f"tokens.{token_hash}")
        changes["tokens"] = tokens
    return replace(base, **changes)
