"""The signing seam of every L1 transaction: a key in this process, or a remote signer.

`RollupAccount` signs through `.address` and `.sign_transaction(tx)` (whose result has
`.raw_transaction`): eth-account's `LocalAccount` is one such signer, `RemoteSigner` another.
A remote signer holds the key in another process, an HSM or a KMS and signs over JSON-RPC
`eth_signTransaction` (Clef answers ``{"raw": "0x..", "tx": {..}}``, web3signer the raw
transaction as a string; both are accepted). Only L1 transactions can be signed remotely: the
sequencer signs a receipt per group commit, in process, with its own key — a remote signer is
for validators and deployers.

A signer is trusted with nothing: every transaction it returns is decoded and its sender
recovered; one signed by another key is refused.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any, Final, Protocol

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3

from prover.errors import L1Error
from prover.wire import parse_hex

log = logging.getLogger(__name__)

SIGNER_TIMEOUT_S: Final = 30.0
"""A signer may wait for a human (Clef's confirmation prompt)."""


class TransactionSigner(Protocol):
    """What `RollupAccount` signs with: eth-account's `LocalAccount`, or `RemoteSigner`."""

    @property
    def address(self) -> ChecksumAddress: ...

    def sign_transaction(self, transaction_dict: Any, /) -> Any:
        """The signed transaction; its `.raw_transaction` goes to `eth_sendRawTransaction`."""
        ...


@dataclass(frozen=True, slots=True)
class SignedByRemote:
    """What `RollupAccount` needs of a signed transaction."""

    raw_transaction: bytes


def _wire(tx: Mapping[str, Any]) -> dict[str, Any]:
    """A web3 transaction dict as JSON-RPC wants it: quantities in hex, data as 0x hex."""
    out: dict[str, Any] = {}
    for key, value in tx.items():
        if isinstance(value, bool):
            raise L1Error(f"transaction field {key} is a boolean")
        if isinstance(value, int):
            out[key] = hex(value)
        elif isinstance(value, bytes | bytearray):
            out[key] = "0x" + bytes(value).hex()
        else:
            out[key] = value
    return out


class RemoteSigner:
    """Signs `address`'s transactions with `eth_signTransaction` at `url`."""

    def __init__(self, url: str, address: str, *, timeout_s: float = SIGNER_TIMEOUT_S) -> None:
        self.url = url
        self._address = Web3.to_checksum_address(address)
        self.timeout_s = timeout_s
        self._ids = count(1)

    @property
    def address(self) -> ChecksumAddress:
        return self._address

    def _call(self, method: str, params: list[Any]) -> Any:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        )
        request = urllib.request.Request(
            self.url,
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise L1Error(f"signer {self.url}: {method}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(answer, dict):
            raise L1Error(f"signer {self.url}: {method}: not a JSON-RPC answer")
        if answer.get("error") is not None:
            error = answer["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise L1Error(f"signer {self.url} refused {method}: {message}")
        return answer.get("result")

    def accounts(self) -> list[str]:
        """The accounts the signer offers (`eth_accounts`)."""
        result = self._call("eth_accounts", [])
        if not isinstance(result, list):
            raise L1Error(f"signer {self.url}: eth_accounts answered {result!r:.100}")
        return [Web3.to_checksum_address(a) for a in result]

    def check(self) -> None:
        """Raise `L1Error` unless the signer offers `address`."""
        if self.address not in self.accounts():
            raise L1Error(f"signer {self.url} does not offer {self.address}")

    def sign_transaction(self, tx: Mapping[str, Any], /) -> SignedByRemote:
        """The raw signed transaction; refused unless it is `tx` signed by `address`."""
        result = self._call("eth_signTransaction", [_wire({**tx, "from": self.address})])
        raw_hex = result.get("raw") if isinstance(result, dict) else result
        if not isinstance(raw_hex, str) or not raw_hex.startswith("0x"):
            raise L1Error(f"signer {self.url}: eth_signTransaction answered {result!r:.100}")
        try:
            raw = parse_hex(raw_hex, "raw transaction")
            sender = Account.recover_transaction(raw)
        except Exception as exc:  # eth-account raises many types for one cause: not a transaction
            raise L1Error(f"signer {self.url}: not a signed transaction: {exc}") from None
        # Verify the signer signed with the account we asked for, and the transaction we asked
        # for: a compromised signer must not slip in a transfer of the validator's funds.
        if sender != self.address:
            raise L1Error(f"signer {self.url} signed as {sender}, not {self.address}")
        _verify_same_transaction(tx, raw, self.url)
        log.debug("transaction signed remotely", extra={"signer": self.url, "sender": sender})
        return SignedByRemote(raw)


_COMPARED: Final = (
    "chainId",
    "nonce",
    "to",
    "value",
    "data",
    "gas",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
)


def _verify_same_transaction(asked: Mapping[str, Any], raw: bytes, url: str) -> None:
    """Raise `L1Error` unless `raw` is an EIP-1559 transaction with the fields `asked` set."""
    if not raw or raw[0] != 2:
        raise L1Error(f"signer {url}: expected an EIP-1559 (type 2) transaction")
    signed: dict[str, Any] = dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())
    for key in _COMPARED:
        if key not in asked:
            continue
        want, got = asked[key], signed[key]
        if key == "to":
            same = Web3.to_checksum_address(want) == Web3.to_checksum_address(bytes(got))
        elif key == "data":
            want_bytes = parse_hex(want, "data") if isinstance(want, str) else bytes(want)
            same = want_bytes == bytes(got)
        else:
            same = int(want) == int(got)
        if not same:
            raise L1Error(f"signer {url} changed the transaction's {key}")
