"""The embedded L1: py-evm (through eth-tester) served as an Ethereum JSON-RPC endpoint.

Run it as ``python -m l1_contracts.devnet_node --host 127.0.0.1 --port 8545`` (``--port 0``
picks a free port). When ready it prints exactly one line to stdout::

    devnet listening on http://127.0.0.1:8545 chainId=31337

and it stops cleanly on SIGTERM or SIGINT. Any Ethereum client in any process can use it:
JSON-RPC 2.0 over HTTP POST, single and batch requests, HTTP/1.1 keep-alive.

How a request is served (see docs/devnet.md):

* Methods whose answer depends only on this node (``eth_chainId``, ``net_version``, the ``evm_*``
  time and snapshot controls) are answered here.
* Every chain method goes through web3's `EthereumTesterProvider` *request function*, i.e. the
  provider's own middleware (`default_transaction_fields_middleware` and
  `ethereum_tester_middleware`). That middleware is what turns JSON-RPC hex params into the
  integers eth-tester expects and renames eth-tester's snake_case results to JSON-RPC names;
  calling `provider.make_request` directly skips it and e.g. ``eth_getBalance(addr, "0x5")``
  fails. The result is then encoded for the wire (integers as hex quantities, bytes as
  ``0x`` data) by `to_wire`.
* One lock serialises every touch of the EVM: py-evm and eth-tester are not thread-safe, and
  the HTTP server runs one thread per connection.

Mining and time behave like anvil: every transaction is mined at once in its own block
(``--block-time N`` instead mines every N seconds, pending transactions included), and a new
block's timestamp is ``max(parent + 1, now + offset)``, so challenge windows measured in seconds
pass in real time; ``evm_increaseTime`` adds to ``offset`` and ``evm_setNextBlockTimestamp``
pins the next block's timestamp (later blocks continue from it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import IO, Any, Final

import orjson
from eth_abi import abi
from eth_abi.exceptions import DecodingError
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint

from l1_contracts.accounts import DEV_ACCOUNT_COUNT, DEV_HD_PATH_PREFIX, DEV_MNEMONIC
from prover.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    SERVER_ERROR,
    VERSION,
    JsonRpcError,
    error_response,
    result_response,
)
from prover.wire import parse_hex

logger = logging.getLogger(__name__)

DEFAULT_CHAIN_ID: Final = 31337
"""anvil's and Hardhat's default chain id."""

DEV_BALANCE_WEI: Final = 10_000 * 10**18
"""Each development account starts with 10,000 ETH, as on anvil."""

CLIENT_VERSION: Final = "attest-devnet/0.1.0/py-evm"

READY_LINE_RE: Final = re.compile(r"^devnet listening on (http://\S+:(\d+)) chainId=(\d+)$")
"""The one line printed on stdout when the node accepts connections."""

MAX_BODY_BYTES: Final = 16 * 1024 * 1024

# JSON-RPC 2.0 §5.1 error codes, plus the codes Ethereum nodes use.
EXECUTION_REVERTED: Final = 3  # geth/anvil: eth_call / eth_estimateGas reverted, data = output

# Error(string) selector, EIP-838: how a revert reason is ABI-encoded.
_ERROR_STRING_SELECTOR: Final = bytes.fromhex("08c379a0")

# Chain methods answered by eth-tester through the provider's middleware path.
FORWARDED_METHODS: Final = frozenset(
    {
        "eth_accounts",
        "eth_blockNumber",
        "eth_call",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_blobBaseFee",
        "eth_getBalance",
        "eth_getBlockByHash",
        "eth_getBlockByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getBlockTransactionCountByNumber",
        "eth_getCode",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_getLogs",
        "eth_getStorageAt",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_newBlockFilter",
        "eth_newFilter",
        "eth_newPendingTransactionFilter",
        "eth_sendRawTransaction",
        "eth_sendTransaction",
        "eth_syncing",
        "eth_uninstallFilter",
        "net_listening",
        "net_peerCount",
        "web3_sha3",
    }
)

# Methods that append a block (in auto-mine mode): the pending header's timestamp is set
# just before them so the block gets `max(parent + 1, now + offset)`.
_BLOCK_PRODUCING: Final = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})

# Fixed-width byte fields that eth-tester hands back as integers.
_FIXED_WIDTH_INT_FIELDS: Final = {"logsBloom": 256}
# eth-tester names the provider's middleware does not map to JSON-RPC names.
_RENAMED_KEYS: Final = {"y_parity": "yParity"}
# Pre-Byzantium receipt field eth-tester still adds next to `status`; JSON-RPC has only one.
_DROPPED_KEYS: Final = frozenset({"state_root"})


class _Reverted(Exception):
    """eth_call / eth_estimateGas reverted; carries the revert output."""

    def __init__(self, output: bytes, reason: str) -> None:
        self.output = output
        self.reason = reason
        super().__init__(reason)


def to_wire(value: Any, key: str | None = None) -> Any:
    """Encode an eth-tester/web3 result as JSON-RPC: ints as quantities, bytes as data.

    Floats (``gasUsedRatio``), booleans, strings and ``None`` pass through; `key` is the
    field name, for the fixed-width fields eth-tester returns as plain integers.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative quantity {value} in field {key!r}")
        width = _FIXED_WIDTH_INT_FIELDS.get(key or "")
        if width is not None:
            return "0x" + value.to_bytes(width, "big").hex()
        return hex(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = _RENAMED_KEYS.get(str(k), str(k))
            if name not in _DROPPED_KEYS:
                out[name] = to_wire(v, name)
        return out
    if isinstance(value, list | tuple):
        return [to_wire(v, key) for v in value]
    raise TypeError(f"cannot encode {type(value).__name__} in field {key!r} as JSON-RPC")


def _parse_quantity(value: Any, what: str) -> int:
    """A JSON-RPC quantity: a ``0x`` hex string or (as anvil accepts) a JSON integer."""
    if isinstance(value, bool):
        raise JsonRpcError(INVALID_PARAMS, f"{what}: expected a quantity, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise JsonRpcError(INVALID_PARAMS, f"{what}: must be >= 0, got {value}")
        return value
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) > 2:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise JsonRpcError(
        INVALID_PARAMS, f"{what}: expected a hex quantity like '0x1a', got {value!r}"
    )


# Methods whose last parameter is a block tag that clients may leave out (anvil defaults it to
# "latest"), with the number of parameters before it.
_BLOCK_TAG_POSITION: Final = {
    "eth_call": 1,
    "eth_estimateGas": 1,
    "eth_getBalance": 1,
    "eth_getCode": 1,
    "eth_getTransactionCount": 1,
    "eth_getStorageAt": 2,
}


def _default_block_tag(method: str, params: list[Any]) -> list[Any]:
    """Fill an omitted block tag with "latest"; read "pending" as "latest" for call/estimate.

    eth-tester refuses "pending" in eth_estimateGas; with auto-mining the pending state *is*
    the latest state. (With --block-time, pending transactions are not seen by call/estimate.)
    """
    position = _BLOCK_TAG_POSITION.get(method)
    if position is None:
        return params
    if len(params) == position:
        return [*params, "latest"]
    if (
        method in ("eth_call", "eth_estimateGas")
        and len(params) > position
        and params[position] == "pending"
    ):
        return [*params[:position], "latest", *params[position + 1 :]]
    return params


def _block_rewards(block: Any, chain: Any, percentiles: Sequence[float]) -> list[int]:
    """Effective priority fees at gas-weighted `percentiles` of one block (eth_feeHistory)."""
    if not block.transactions:
        return [0] * len(percentiles)
    base_fee = int(block.header.base_fee_per_gas)
    receipts = block.get_receipts(chain.chaindb)
    tips: list[tuple[int, int]] = []  # (effective tip, gas used)
    previous_cumulative = 0
    for tx, receipt in zip(block.transactions, receipts, strict=True):
        gas_used = int(receipt.gas_used) - previous_cumulative
        previous_cumulative = int(receipt.gas_used)
        tip = min(int(tx.max_priority_fee_per_gas), int(tx.max_fee_per_gas) - base_fee)
        tips.append((tip, gas_used))
    tips.sort()
    total = sum(g for _, g in tips)
    out: list[int] = []
    for p in percentiles:
        threshold = total * p / 100
        cumulative = 0
        chosen = tips[-1][0]
        for tip, gas in tips:
            cumulative += gas
            if cumulative >= threshold:
                chosen = tip
                break
        out.append(chosen)
    return out


def _revert_from_failure(exc: Exception) -> _Reverted:
    """Recover the revert output from eth-tester's `TransactionFailed`.

    eth-tester passes either the raw output (estimate_gas) or an already decoded reason
    string (call); a string is re-encoded as Error(string) so clients decode it as anvil's.
    """
    first = exc.args[0] if exc.args else b""
    if isinstance(first, Exception):
        first = first.args[0] if first.args else b""
    if isinstance(first, bytes | bytearray):
        output = bytes(first)
        reason = output.hex()
        if output[:4] == _ERROR_STRING_SELECTOR:
            with contextlib.suppress(DecodingError):
                reason = str(abi.decode(["string"], output[4:])[0])
        return _Reverted(output, reason)
    reason = str(first)
    return _Reverted(_ERROR_STRING_SELECTOR + abi.encode(["string"], [reason]), reason)


class DevnetChain:
    """One in-memory py-evm chain with the ten development accounts, and its RPC dispatcher.

    Thread-safe: `request` takes one lock around every EVM access. `clock` returns Unix time
    in seconds and exists so tests can move time without sleeping.
    """

    def __init__(
        self,
        chain_id: int = DEFAULT_CHAIN_ID,
        *,
        auto_mine: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Deferred: eth-tester and py-evm take ~1 s to import, which only the node pays.
        from eth_tester import EthereumTester, PyEVMBackend

        if chain_id <= 0:
            raise ValueError(f"chain_id must be positive, got {chain_id}")
        self.chain_id = chain_id
        self._clock = clock
        self._lock = threading.RLock()
        self._offset = 0  # seconds added to the clock by evm_increaseTime
        self._next_timestamp: int | None = None  # evm_setNextBlockTimestamp
        backend = PyEVMBackend.from_mnemonic(
            DEV_MNEMONIC,
            num_accounts=DEV_ACCOUNT_COUNT,
            genesis_state_overrides={"balance": DEV_BALANCE_WEI},
            genesis_parameters=PyEVMBackend.generate_genesis_params(
                overrides={"timestamp": int(clock())}
            ),
            hd_path=DEV_HD_PATH_PREFIX,
        )
        # eth-tester hard-codes chain id 131277322940537 as a class attribute of a chain class
        # it creates afresh in every setup_tester_chain() call, so setting it on that class
        # changes this chain only; py-evm reads it for every VM (CHAINID, EIP-155 checks).
        type(backend.chain).chain_id = chain_id
        self._backend = backend
        self._tester = EthereumTester(backend, auto_mine_transactions=auto_mine)
        self._auto_mine = auto_mine
        self._provider = EthereumTesterProvider(self._tester, api_endpoints=self._endpoints())
        # middleware=[]: no client-side middleware (ENS, attrdict, validation); the provider
        # adds its own formatting middleware inside request_func().
        self._w3 = Web3(self._provider, middleware=[])
        self._request_func = self._provider.request_func(self._w3, self._w3.middleware_onion)
        self._local = self._local_methods()

    # --- endpoints ---------------------------------------------------------------------------

    def _endpoints(self) -> dict[str, dict[str, Callable[..., Any]]]:
        from eth_tester.exceptions import TransactionFailed
        from web3.providers.eth_tester.defaults import API_ENDPOINTS

        # A copy two levels deep: API_ENDPOINTS is a shared module global.
        endpoints = {ns: dict(methods) for ns, methods in API_ENDPOINTS.items()}

        def catching_revert(fn: Callable[..., Any]) -> Callable[..., Any]:
            # The provider turns TransactionFailed into a message-only exception; catch it
            # first so the revert output reaches the client as error data.
            def wrapped(tester: Any, params: Any) -> Any:
                try:
                    return fn(tester, params)
                except TransactionFailed as exc:
                    raise _revert_from_failure(exc) from exc

            return wrapped

        endpoints["eth"]["call"] = catching_revert(endpoints["eth"]["call"])
        endpoints["eth"]["estimateGas"] = catching_revert(endpoints["eth"]["estimateGas"])
        return endpoints

    # --- time --------------------------------------------------------------------------------

    def _latest_timestamp(self) -> int:
        return int(self._backend.chain.get_canonical_head().timestamp)

    def _stamp_pending_header(self) -> None:
        """Give the block about to be built its anvil-like timestamp."""
        chain = self._backend.chain
        parent = self._latest_timestamp()
        if self._next_timestamp is not None:
            ts = max(self._next_timestamp, parent + 1)
            # Later blocks continue from the pinned time, as on anvil.
            self._offset = ts - int(self._clock())
            self._next_timestamp = None
        else:
            ts = max(parent + 1, int(self._clock()) + self._offset)
        chain.header = chain.header.copy(timestamp=ts)

    def _mine(self) -> None:
        self._stamp_pending_header()
        self._tester.mine_blocks(1)

    def mine_interval_block(self) -> None:
        """Mine one block (with any pending transactions); for ``--block-time`` mode."""
        with self._lock:
            self._mine()

    # --- dispatch ----------------------------------------------------------------------------

    def request(self, method: str, params: Sequence[Any]) -> Any:
        """Run one JSON-RPC method; returns the wire-encoded result or raises `JsonRpcError`."""
        with self._lock:
            try:
                return self._dispatch(method, list(params))
            except JsonRpcError:
                raise
            except _Reverted as exc:
                raise JsonRpcError(
                    EXECUTION_REVERTED,
                    f"execution reverted: {exc.reason}",
                    "0x" + exc.output.hex(),
                ) from exc
            except Exception as exc:
                raise _classify(method, exc) from exc

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        local = self._local.get(method)
        if local is not None:
            return local(params)
        if method not in FORWARDED_METHODS:
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
        params = _default_block_tag(method, params)
        if method == "eth_sendTransaction":
            params = self._fill_gas(params)
        elif method == "eth_getLogs":
            params = self._block_hash_filter(params)
        elif method == "eth_sendRawTransaction":
            self._check_raw_chain_id(params)
        if method in _BLOCK_PRODUCING and self._auto_mine:
            self._stamp_pending_header()
        return to_wire(self._forward(method, params))

    def _forward(self, method: str, params: list[Any]) -> Any:
        response = self._request_func(RPCEndpoint(method), params)
        if "error" in response:
            err = response["error"]
            message = err.get("message", "") if isinstance(err, dict) else str(err)
            raise JsonRpcError(METHOD_NOT_FOUND, message or f"Method not found: {method}")
        return response.get("result")

    def _local_methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "eth_chainId": lambda _p: hex(self.chain_id),
            "net_version": lambda _p: str(self.chain_id),
            "web3_clientVersion": lambda _p: CLIENT_VERSION,
            "evm_increaseTime": self._evm_increase_time,
            "evm_setNextBlockTimestamp": self._evm_set_next_block_timestamp,
            "evm_mine": self._evm_mine,
            "evm_snapshot": lambda _p: hex(self._tester.take_snapshot()),
            "evm_revert": self._evm_revert,
            "eth_feeHistory": self._fee_history,
            "eth_getTransactionReceipt": self._transaction_receipt,
        }

    def _fill_gas(self, params: list[Any]) -> list[Any]:
        # eth-tester insists on `gas`; anvil estimates it. Do as anvil does.
        if not params or not isinstance(params[0], dict):
            raise JsonRpcError(
                INVALID_PARAMS, "eth_sendTransaction: params[0] must be a transaction"
            )
        tx = dict(params[0])
        if tx.get("gas") is None:
            tx["gas"] = self._forward("eth_estimateGas", [tx])
        return [tx, *params[1:]]

    def _check_raw_chain_id(self, params: list[Any]) -> None:
        # py-evm executes a typed transaction signed for another chain; anvil and geth refuse
        # it (EIP-155 replay protection), and so do we.
        if len(params) != 1 or not isinstance(params[0], str):
            raise JsonRpcError(INVALID_PARAMS, 'eth_sendRawTransaction: expected ["0x<rlp>"]')
        try:
            raw = parse_hex(params[0], "params[0]")
            tx = self._backend.chain.get_transaction_builder().decode(raw)
        except Exception as exc:
            raise JsonRpcError(
                INVALID_PARAMS, f"eth_sendRawTransaction: cannot decode transaction: {exc}"
            ) from exc
        tx_chain_id = getattr(tx, "chain_id", None)
        if tx_chain_id is not None and tx_chain_id != self.chain_id:
            raise JsonRpcError(
                SERVER_ERROR,
                f"invalid chain id for signer: have {tx_chain_id} want {self.chain_id}",
            )

    def _block_hash_filter(self, params: list[Any]) -> list[Any]:
        # EIP-234: a `blockHash` filter means that one block; eth-tester knows only ranges.
        if not params or not isinstance(params[0], dict) or "blockHash" not in params[0]:
            return params
        flt = dict(params[0])
        if "fromBlock" in flt or "toBlock" in flt:
            raise JsonRpcError(INVALID_PARAMS, "eth_getLogs: blockHash excludes fromBlock/toBlock")
        block = self._forward("eth_getBlockByHash", [flt.pop("blockHash"), False])
        if block is None:
            raise JsonRpcError(INVALID_PARAMS, "eth_getLogs: unknown blockHash")
        flt["fromBlock"] = flt["toBlock"] = hex(block["number"])
        return [flt, *params[1:]]

    def _evm_increase_time(self, params: list[Any]) -> int:
        if len(params) != 1:
            raise JsonRpcError(INVALID_PARAMS, "evm_increaseTime: expected [seconds]")
        self._offset += _parse_quantity(params[0], "evm_increaseTime seconds")
        # anvil answers with the total offset as a JSON number.
        return self._offset

    def _evm_set_next_block_timestamp(self, params: list[Any]) -> None:
        if len(params) != 1:
            raise JsonRpcError(INVALID_PARAMS, "evm_setNextBlockTimestamp: expected [timestamp]")
        ts = _parse_quantity(params[0], "evm_setNextBlockTimestamp timestamp")
        latest = self._latest_timestamp()
        if ts <= latest:
            raise JsonRpcError(
                INVALID_PARAMS,
                f"Timestamp error: {ts} is lower than or equal to previous block's timestamp {latest}",
            )
        self._next_timestamp = ts
        return None

    def _evm_mine(self, params: list[Any]) -> str:
        # anvil: evm_mine([timestamp]) or evm_mine([{"timestamp": t, "blocks": n}]).
        blocks = 1
        if params and params[0] is not None:
            arg = params[0]
            if isinstance(arg, dict):
                if arg.get("blocks") is not None:
                    blocks = _parse_quantity(arg["blocks"], "evm_mine blocks")
                ts_arg = arg.get("timestamp")
            else:
                ts_arg = arg
            if ts_arg is not None:
                self._evm_set_next_block_timestamp([ts_arg])
        for _ in range(blocks):
            self._mine()
        return "0x0"

    def _resolve_block_number(self, tag: Any, what: str) -> int:
        head = int(self._backend.chain.get_canonical_head().block_number)
        if tag in ("latest", "pending", "safe", "finalized"):
            return head
        if tag == "earliest":
            return 0
        number = _parse_quantity(tag, what)
        if number > head:
            raise JsonRpcError(INVALID_PARAMS, f"{what}: block {number} is after the head {head}")
        return number

    def _fee_history(self, params: list[Any]) -> dict[str, Any]:
        """eth_feeHistory as in the execution-apis spec (eth-tester's ignores rewards and
        reports a fixed oldestBlock of 1, so it is answered here from py-evm directly)."""
        if not 2 <= len(params) <= 3:
            raise JsonRpcError(
                INVALID_PARAMS, "eth_feeHistory: expected [blockCount, newestBlock, percentiles?]"
            )
        count = _parse_quantity(params[0], "eth_feeHistory blockCount")
        if not 1 <= count <= 1024:
            raise JsonRpcError(INVALID_PARAMS, f"eth_feeHistory: blockCount {count} not in 1..1024")
        newest = self._resolve_block_number(params[1], "eth_feeHistory newestBlock")
        percentiles = params[2] if len(params) == 3 and params[2] is not None else []
        if not isinstance(percentiles, list) or not all(
            isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 100
            for p in percentiles
        ):
            raise JsonRpcError(
                INVALID_PARAMS, "eth_feeHistory: percentiles must be numbers in 0..100"
            )
        if percentiles != sorted(percentiles):
            raise JsonRpcError(INVALID_PARAMS, "eth_feeHistory: percentiles must be increasing")
        chain = self._backend.chain
        oldest = max(0, newest - count + 1)
        base_fees: list[int] = []
        ratios: list[float] = []
        rewards: list[list[str]] = []
        for number in range(oldest, newest + 1):
            block = chain.get_canonical_block_by_number(number)
            header = block.header
            base_fee = int(header.base_fee_per_gas)
            base_fees.append(base_fee)
            ratios.append(header.gas_used / header.gas_limit)
            if percentiles:
                rewards.append([hex(r) for r in _block_rewards(block, chain, percentiles)])
        # The spec includes the base fee of the block after `newest`.
        head = int(chain.get_canonical_head().block_number)
        if newest < head:
            next_fee = chain.get_canonical_block_header_by_number(newest + 1).base_fee_per_gas
        else:
            next_fee = chain.header.base_fee_per_gas  # the pending header, built on the head
        base_fees.append(int(next_fee))
        out: dict[str, Any] = {
            "oldestBlock": hex(oldest),
            "baseFeePerGas": [hex(f) for f in base_fees],
            "gasUsedRatio": ratios,
        }
        if percentiles:
            out["reward"] = rewards
        return out

    def _transaction_receipt(self, params: list[Any]) -> Any:
        receipt = to_wire(self._forward("eth_getTransactionReceipt", params))
        if isinstance(receipt, dict) and "logsBloom" not in receipt:
            # eth-tester leaves the receipt's bloom out; py-evm has it.
            chain = self._backend.chain
            block = chain.get_canonical_block_by_number(int(receipt["blockNumber"], 16))
            index = int(receipt["transactionIndex"], 16)
            bloom = int(block.get_receipts(chain.chaindb)[index].bloom)
            receipt["logsBloom"] = to_wire(bloom, "logsBloom")
        return receipt

    def _evm_revert(self, params: list[Any]) -> bool:
        from eth_tester.exceptions import SnapshotNotFound

        if len(params) != 1:
            raise JsonRpcError(INVALID_PARAMS, "evm_revert: expected [snapshotId]")
        try:
            self._tester.revert_to_snapshot(_parse_quantity(params[0], "evm_revert id"))
        except SnapshotNotFound:
            return False  # as anvil
        return True


def _classify(method: str, exc: Exception) -> JsonRpcError:
    """Map an exception from eth-tester/py-evm/web3 to a JSON-RPC error naming the cause."""
    from eth_tester.exceptions import AccountLocked
    from eth_tester.exceptions import ValidationError as TesterValidationError
    from eth_utils.exceptions import ValidationError as EvmValidationError

    detail = str(exc) or type(exc).__name__
    if isinstance(exc, EvmValidationError | AccountLocked):
        # The EVM rejected the transaction (nonce, balance, gas, signature).
        return JsonRpcError(SERVER_ERROR, f"{method}: {detail}")
    if isinstance(exc, TesterValidationError | TypeError | ValueError | KeyError | IndexError):
        return JsonRpcError(INVALID_PARAMS, f"{method}: invalid params: {detail}")
    logger.exception("devnet: internal error in %s", method)
    return JsonRpcError(INTERNAL_ERROR, f"{method}: internal error: {type(exc).__name__}: {detail}")


# --- JSON-RPC framing --------------------------------------------------------------------------


def _error_response(req_id: Any, err: JsonRpcError) -> dict[str, Any]:
    return error_response(req_id, err.to_json())


def handle_one(chain: DevnetChain, req: Any) -> dict[str, Any] | None:
    """Answer one JSON-RPC request object; ``None`` for a notification (no ``id``)."""
    if not isinstance(req, dict):
        return _error_response(
            None, JsonRpcError(INVALID_REQUEST, "Invalid request: not an object")
        )
    req_id = req.get("id")
    method = req.get("method")
    if req.get("jsonrpc") != VERSION or not isinstance(method, str):
        return _error_response(
            req_id,
            JsonRpcError(INVALID_REQUEST, "Invalid request: needs jsonrpc '2.0' and a method"),
        )
    params = req.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        return _error_response(
            req_id, JsonRpcError(INVALID_PARAMS, f"{method}: params must be an array")
        )
    try:
        result = chain.request(method, params)
    except JsonRpcError as err:
        response = _error_response(req_id, err)
    else:
        response = result_response(req_id, result)
    return response if "id" in req else None


def handle_body(chain: DevnetChain, body: bytes) -> bytes | None:
    """Answer an HTTP body holding one request or a batch; ``None`` when nothing to send."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # orjson rejects integers wider than 64 bits; the stdlib does not
            payload = json.loads(body)
        except ValueError as exc:
            return orjson.dumps(
                _error_response(None, JsonRpcError(PARSE_ERROR, f"Parse error: {exc}"))
            )
    if isinstance(payload, list):
        if not payload:
            return orjson.dumps(
                _error_response(None, JsonRpcError(INVALID_REQUEST, "Invalid request: empty batch"))
            )
        answers = [a for a in (handle_one(chain, r) for r in payload) if a is not None]
        return orjson.dumps(answers) if answers else None
    answer = handle_one(chain, payload)
    return orjson.dumps(answer) if answer is not None else None


# --- HTTP server -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    # Without TCP_NODELAY, Nagle's algorithm plus the client's delayed ACK stall every
    # keep-alive response ~40 ms (headers and body leave in separate segments).
    disable_nagle_algorithm = True
    server: _DevnetHTTPServer

    def do_POST(self) -> None:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self._send(HTTPStatus.LENGTH_REQUIRED, b"Content-Length required\n", "text/plain")
            return
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"bad Content-Length\n", "text/plain")
            self.close_connection = True
            return
        body = self.rfile.read(length)
        try:
            answer = handle_body(self.server.chain, body)
        except Exception as exc:  # a bug here must not cost the client its connection
            logger.exception("devnet: unhandled error")
            err = JsonRpcError(INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
            answer = orjson.dumps(_error_response(None, err))
        if answer is None:
            self._send(HTTPStatus.NO_CONTENT, b"", "application/json")
        else:
            self._send(HTTPStatus.OK, answer, "application/json")

    def do_GET(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED, b"POST JSON-RPC 2.0 requests here\n", "text/plain"
        )

    def do_OPTIONS(self) -> None:
        """CORS preflight (Fetch standard §3.2): any origin may call this devnet node, as any
        may call anvil's (`--allow-origin *` is its default), so a browser page such as the
        explorer's "verify in this browser" can read the rollup contract directly."""
        self.send_response(HTTPStatus.NO_CONTENT)
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "content-type")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def end_headers(self) -> None:
        # Every answer, preflight or not, carries the CORS header (a devnet holds nothing of value).
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("devnet http: " + format, *args)


class _DevnetHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block shutdown

    def __init__(self, address: tuple[str, int], chain: DevnetChain) -> None:
        self.chain = chain
        super().__init__(address, _Handler)


def make_server(host: str, port: int, chain: DevnetChain) -> _DevnetHTTPServer:
    """Bind (``port=0`` picks a free port) without serving yet; ``.server_address`` tells."""
    return _DevnetHTTPServer((host, port), chain)


def serve(host: str, port: int, chain_id: int = DEFAULT_CHAIN_ID, block_time: float = 0) -> None:
    """Serve until SIGTERM/SIGINT; print the ready line (see `READY_LINE_RE`) once bound."""
    if block_time < 0:
        raise ValueError(f"block_time must be >= 0, got {block_time}")
    chain = DevnetChain(chain_id, auto_mine=block_time == 0)
    try:
        server = make_server(host, port, chain)
    except OSError as exc:
        raise SystemExit(f"devnet: cannot listen on {host}:{port}: {exc}") from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    http_thread = threading.Thread(target=server.serve_forever, name="devnet-http", daemon=True)
    http_thread.start()
    miner: threading.Thread | None = None
    if block_time > 0:

        def mine_loop() -> None:
            while not stop.wait(block_time):
                chain.mine_interval_block()

        miner = threading.Thread(target=mine_loop, name="devnet-miner", daemon=True)
        miner.start()

    bound_host, bound_port = server.server_address[:2]
    if isinstance(bound_host, bytes):
        bound_host = bound_host.decode()
    print(f"devnet listening on http://{bound_host}:{bound_port} chainId={chain_id}", flush=True)
    # The main thread only waits, so signal handlers run promptly.
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    http_thread.join(timeout=5)
    if miner is not None:
        miner.join(timeout=5)
    logger.info("devnet stopped")


def start_devnet_subprocess(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    chain_id: int = DEFAULT_CHAIN_ID,
    block_time: float = 0,
    timeout: float = 60.0,
    stderr: int | IO[Any] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m l1_contracts.devnet_node`` and wait for its ready line.

    Returns the process and its URL (``port=0`` lets the node pick a free port; the real one
    comes from the ready line). The caller owns the process: `stop_process` it when done.
    Raises `RuntimeError` with the node's exit code if it dies or is not ready in `timeout`.
    """
    cmd = [
        sys.executable,
        "-u",
        "-m",
        "l1_contracts.devnet_node",
        "--host",
        host,
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--block-time",
        str(block_time),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        url = _wait_ready_line(proc, timeout)
    except BaseException:
        stop_process(proc)
        raise
    return proc, url


def _wait_ready_line(proc: subprocess.Popen[str], timeout: float) -> str:
    match = wait_for_output_line(proc, READY_LINE_RE, timeout, what="devnet node")
    return match.group(1)


def wait_for_output_line(
    proc: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float, *, what: str
) -> re.Match[str]:
    """Read `proc`'s stdout until a line matches `pattern`; return the match.

    A daemon thread reads the pipe (select() on a buffered text pipe misses lines already in
    Python's buffer) and keeps draining it afterwards, so a chatty child (anvil logs every
    request) never blocks on a full pipe. Raises `RuntimeError` with the last lines seen if
    the process exits first or `timeout` passes.
    """
    stream = proc.stdout
    if stream is None:
        raise ValueError("the process must be started with stdout=subprocess.PIPE")
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        try:
            for line in stream:
                lines.put(line)
        except (OSError, ValueError):
            pass  # stop_process closed the stream
        lines.put(None)

    threading.Thread(target=pump, name=f"{what} stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    tail: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(remaining, 0))
        except queue.Empty:
            raise RuntimeError(
                f"{what} not ready after {timeout} s; output: {''.join(tail)}"
            ) from None
        if line is None:
            raise RuntimeError(
                f"{what} exited (code {proc.wait()}) before it was ready; output: {''.join(tail)}"
            )
        tail = [*tail[-20:], line]
        match = pattern.search(line.strip())
        if match:
            # From now on the pump thread only drains: drop what it reads.
            _drain_queue_forever(lines)
            return match


def _drain_queue_forever(lines: queue.Queue[str | None]) -> None:
    def drain() -> None:
        while lines.get() is not None:
            pass

    threading.Thread(target=drain, name="stdout-drain", daemon=True).start()


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """SIGTERM `proc`, wait up to `timeout`, then SIGKILL; returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return int(proc.returncode)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m l1_contracts.devnet_node",
        description="Embedded Ethereum devnet (py-evm) served as JSON-RPC over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8545, help="0 picks a free port")
    parser.add_argument("--chain-id", type=int, default=DEFAULT_CHAIN_ID)
    parser.add_argument(
        "--block-time",
        type=float,
        default=0,
        help="seconds between blocks; 0 (default) mines each transaction at once",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    if args.chain_id <= 0:
        parser.error(f"--chain-id must be positive, got {args.chain_id}")
    if args.block_time < 0:
        parser.error(f"--block-time must be >= 0, got {args.block_time}")
    logging.basicConfig(
        level=os.environ.get("DEVNET_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    serve(args.host, args.port, args.chain_id, args.block_time)
    return 0


if __name__ == "__main__":
    sys.exit(main())
