"""The embedded devnet node, over real HTTP, and the same checks against anvil.

Tests taking `l1_url` run twice: on the embedded devnet (subprocess) and on anvil. They share
one node per session, so they assume nothing about the chain but the funded dev accounts.
Tests that move the chain's clock start a private node so they cannot disturb others.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import vyper
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from l1_contracts.accounts import (
    DEV_ADDRESSES,
    DEV_KEYS,
    SEQUENCER_ADDRESS,
    VALIDATOR_ADDRESS,
    derive_dev_keys,
)
from l1_contracts.devnet_node import (
    DEFAULT_CHAIN_ID,
    DEV_BALANCE_WEI,
    EXECUTION_REVERTED,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    DevnetChain,
    JsonRpcError,
    _Handler,
    handle_body,
    start_devnet_subprocess,
    stop_process,
    to_wire,
)
from tests.conftest_l1 import l1_node

pytest_plugins = ["tests.conftest_l1"]

PROBE_SOURCE = """
event Stored:
    who: indexed(address)
    value: uint256

stored: public(uint256)

@external
def store(v: uint256):
    assert v != 13, "unlucky"
    self.stored = v
    log Stored(who=msg.sender, value=v)

@external
@view
def now() -> uint256:
    return block.timestamp

@external
@view
def chain_id() -> uint256:
    return chain.id
"""


@pytest.fixture(scope="module")
def probe_artifacts() -> dict[str, Any]:
    out = vyper.compile_code(PROBE_SOURCE, output_formats=["abi", "bytecode"])
    return {"abi": out["abi"], "bytecode": out["bytecode"]}


def _w3(url: str) -> Web3:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))


def _deploy(w3: Web3, artifacts: dict[str, Any], sender: str = SEQUENCER_ADDRESS) -> Any:
    factory = w3.eth.contract(abi=artifacts["abi"], bytecode=artifacts["bytecode"])
    tx_hash = factory.constructor().transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
    assert receipt["contractAddress"] is not None
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifacts["abi"])


def _post(url: str, payload: Any) -> Any:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        conn.request("POST", "/", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, (resp.status, data)
        return json.loads(data)
    finally:
        conn.close()


# --- dev accounts --------------------------------------------------------------------------------


def test_cached_dev_keys_match_the_mnemonic() -> None:
    derived = derive_dev_keys()
    assert [k for k, _ in derived] == list(DEV_KEYS)
    assert [a for _, a in derived] == list(DEV_ADDRESSES)
    assert SEQUENCER_ADDRESS == DEV_ADDRESSES[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert DEV_ADDRESSES[1] == VALIDATOR_ADDRESS
    assert all(
        Account.from_key(k).address == a for k, a in zip(DEV_KEYS, DEV_ADDRESSES, strict=True)
    )


# --- both nodes, over HTTP -----------------------------------------------------------------------


def test_chain_id_and_dev_accounts(l1_url: str) -> None:
    w3 = _w3(l1_url)
    assert w3.eth.chain_id == DEFAULT_CHAIN_ID
    assert w3.net.version == str(DEFAULT_CHAIN_ID)
    assert w3.eth.accounts[:10] == list(DEV_ADDRESSES)
    # Genesis funds every dev account with 10,000 ETH (other tests may have spent since).
    for addr in DEV_ADDRESSES:
        assert w3.eth.get_balance(addr, "earliest") == DEV_BALANCE_WEI
        assert w3.eth.get_transaction_count(addr, "earliest") == 0


def test_deploy_call_transact_and_logs(l1_url: str, probe_artifacts: dict[str, Any]) -> None:
    w3 = _w3(l1_url)
    probe = _deploy(w3, probe_artifacts)
    assert w3.eth.get_code(probe.address) != b""
    assert probe.functions.chain_id().call() == DEFAULT_CHAIN_ID
    assert probe.functions.stored().call() == 0

    tx_hash = probe.functions.store(42).transact({"from": VALIDATOR_ADDRESS})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == w3.eth.block_number  # auto-mined in its own block
    assert probe.functions.stored().call() == 42
    bloom = bytes(receipt["logsBloom"])
    assert len(bloom) == 256 and any(bloom)  # the Stored log sets bits
    assert int.from_bytes(w3.eth.get_storage_at(probe.address, 0), "big") == 42
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["from"] == VALIDATOR_ADDRESS and tx["to"] == probe.address

    topic0 = Web3.keccak(text="Stored(address,uint256)")
    logs = w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": probe.address, "topics": [topic0]}
    )
    assert len(logs) == 1
    assert logs[0]["transactionHash"] == tx_hash
    event = probe.events.Stored().process_log(logs[0])
    assert event["args"]["who"] == VALIDATOR_ADDRESS and event["args"]["value"] == 42
    # Filter on the indexed sender: the validator's topic matches, the sequencer's does not.
    by_validator = "0x" + bytes(12).hex() + VALIDATOR_ADDRESS[2:].lower()
    by_sequencer = "0x" + bytes(12).hex() + SEQUENCER_ADDRESS[2:].lower()
    assert (
        len(
            w3.eth.get_logs(
                {"fromBlock": 0, "address": probe.address, "topics": [topic0, by_validator]}
            )
        )
        == 1
    )
    assert (
        w3.eth.get_logs(
            {"fromBlock": 0, "address": probe.address, "topics": [topic0, by_sequencer]}
        )
        == []
    )
    # EIP-234 blockHash filter.
    assert len(w3.eth.get_logs({"blockHash": receipt["blockHash"], "address": probe.address})) == 1


def test_revert_reason_reaches_the_client(l1_url: str, probe_artifacts: dict[str, Any]) -> None:
    w3 = _w3(l1_url)
    probe = _deploy(w3, probe_artifacts)
    with pytest.raises(ContractLogicError, match="unlucky"):
        probe.functions.store(13).call({"from": SEQUENCER_ADDRESS})
    with pytest.raises(ContractLogicError, match="unlucky"):
        probe.functions.store(13).estimate_gas({"from": SEQUENCER_ADDRESS})
    # A reverting transaction with explicit gas is still mined, with status 0 (as on anvil).
    tx_hash = probe.functions.store(13).transact({"from": SEQUENCER_ADDRESS, "gas": 200_000})
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 0


def test_raw_signed_transaction_from_dev_key(l1_url: str) -> None:
    w3 = _w3(l1_url)
    sender, key = DEV_ADDRESSES[3], DEV_KEYS[3]
    recipient = Account.create().address
    tx = {
        "type": 2,
        "chainId": DEFAULT_CHAIN_ID,
        "nonce": w3.eth.get_transaction_count(sender),
        "to": recipient,
        "value": 12345,
        "gas": 21000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    signed = Account.sign_transaction(tx, key)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
    assert w3.eth.get_balance(recipient) == 12345
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert [t["hash"] for t in block["transactions"]] == [tx_hash]
    assert w3.eth.get_block(block["hash"])["number"] == block["number"]
    # A second copy of the same transaction is rejected (nonce already used).
    err = _post(
        l1_url,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + bytes(signed.raw_transaction).hex()],
        },
    )
    assert "error" in err and err["error"]["message"]


def test_wrong_chain_id_is_rejected(l1_url: str) -> None:
    w3 = _w3(l1_url)
    tx = {
        "type": 2,
        "chainId": 1,
        "nonce": w3.eth.get_transaction_count(DEV_ADDRESSES[4]),
        "to": DEV_ADDRESSES[0],
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
    }
    raw = Account.sign_transaction(tx, DEV_KEYS[4]).raw_transaction
    answer = _post(
        l1_url,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + bytes(raw).hex()],
        },
    )
    assert "error" in answer, answer
    assert "chain id" in answer["error"]["message"].lower(), answer


def test_fee_methods_are_hex_quantities(l1_url: str) -> None:
    answers = _post(
        l1_url,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "eth_gasPrice", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_maxPriorityFeePerGas", "params": []},
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "eth_feeHistory",
                "params": ["0x1", "latest", []],
            },
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "eth_getBlockByNumber",
                "params": ["latest", False],
            },
            {
                "jsonrpc": "2.0",
                "id": 5,
                "method": "eth_estimateGas",
                "params": [{"from": SEQUENCER_ADDRESS, "to": VALIDATOR_ADDRESS, "value": "0x1"}],
            },
        ],
    )
    by_id = {a["id"]: a for a in answers}
    for i in (1, 2, 5):
        assert by_id[i]["result"].startswith("0x"), by_id[i]
        assert int(by_id[i]["result"], 16) > 0
    history = by_id[3]["result"]
    assert int(history["oldestBlock"], 16) >= 0
    assert all(isinstance(r, float | int) for r in history["gasUsedRatio"])
    block = by_id[4]["result"]
    assert len(bytes.fromhex(block["logsBloom"][2:])) == 256
    for field in ("number", "timestamp", "gasLimit", "baseFeePerGas"):
        assert block[field].startswith("0x"), field


def test_batch_and_errors_over_plain_http(l1_url: str) -> None:
    answers = _post(
        l1_url,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
            {"jsonrpc": "2.0", "id": 3, "method": "no_suchMethod", "params": []},
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "eth_getBalance",
                "params": [SEQUENCER_ADDRESS, "latest"],
            },
        ],
    )
    by_id = {a["id"]: a for a in answers}
    assert by_id[1]["result"] == hex(DEFAULT_CHAIN_ID)
    assert int(by_id[2]["result"], 16) >= 0
    assert by_id[3]["error"]["code"] == METHOD_NOT_FOUND
    assert int(by_id[4]["result"], 16) > 0
    assert _post(l1_url, [])["error"]["code"] == INVALID_REQUEST
    # JSON-RPC 2.0 says -32700; anvil answers -32600. Both name the request as bad.
    assert _post(l1_url, b"{not json")["error"]["code"] in (PARSE_ERROR, INVALID_REQUEST)
    single = _post(l1_url, {"jsonrpc": "2.0", "id": "x", "method": "web3_clientVersion"})
    assert single["id"] == "x" and isinstance(single["result"], str)


def test_keep_alive_serves_many_calls_on_one_connection(
    l1_url: str, probe_artifacts: dict[str, Any]
) -> None:
    """Many eth_blockNumber calls on one kept-alive connection, then contract transactions.

    The round-trip time itself (a Nagle stall shows as ~40 ms) is measured by
    `python -m bench.bench_l1`, not bounded here: a busy machine would fail a bound.
    """
    parts = urlsplit(l1_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    try:
        conn.connect()
        sock = conn.sock
        for _ in range(60):
            conn.request("POST", "/", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert "result" in json.loads(resp.read())
            assert conn.sock is sock  # the same connection, kept alive
    finally:
        conn.close()

    w3 = _w3(l1_url)
    probe = _deploy(w3, probe_artifacts)
    for i in range(5):
        tx_hash = probe.functions.store(100 + i).transact(
            {"from": SEQUENCER_ADDRESS, "gas": 100_000}
        )
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        assert receipt["status"] == 1
    assert probe.functions.stored().call() == 104


def test_embedded_node_disables_nagle() -> None:
    """Without TCP_NODELAY each keep-alive answer would stall ~40 ms (Nagle + delayed ACK)."""
    assert _Handler.disable_nagle_algorithm is True


# --- time: private nodes, so other tests keep a clock that follows wall time ---------------------


@pytest.fixture(scope="module", params=["embedded", "anvil"])
def private_l1_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with l1_node(request.param) as url:
        yield url


def test_increase_time_and_mine_advance_block_timestamp(
    private_l1_url: str, probe_artifacts: dict[str, Any]
) -> None:
    w3 = _w3(private_l1_url)
    probe = _deploy(w3, probe_artifacts)
    before = w3.eth.get_block("latest")
    # The chain clock follows wall time (anvil-like), not parent + 1.
    assert abs(before["timestamp"] - time.time()) < 30

    wall = int(time.time())
    w3.provider.make_request("evm_increaseTime", [3600])
    w3.provider.make_request("evm_mine", [])
    after = w3.eth.get_block("latest")
    assert after["number"] == before["number"] + 1
    assert after["timestamp"] >= wall + 3600
    # Transactions see the shifted clock too.
    tx_hash = probe.functions.store(7).transact({"from": SEQUENCER_ADDRESS})
    mined = w3.eth.get_block(w3.eth.wait_for_transaction_receipt(tx_hash)["blockNumber"])
    assert mined["timestamp"] >= wall + 3600

    pinned = after["timestamp"] + 100_000
    w3.provider.make_request("evm_setNextBlockTimestamp", [pinned])
    w3.provider.make_request("evm_mine", [])
    assert w3.eth.get_block("latest")["timestamp"] == pinned
    assert probe.functions.now().call() >= pinned
    # evm_mine with a timestamp argument.
    w3.provider.make_request("evm_mine", [pinned + 50])
    assert w3.eth.get_block("latest")["timestamp"] == pinned + 50
    # Going back in time is refused.
    answer = w3.provider.make_request("evm_setNextBlockTimestamp", [pinned - 1])
    assert "error" in answer


def test_snapshot_and_revert(private_l1_url: str) -> None:
    w3 = _w3(private_l1_url)
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    start = w3.eth.block_number
    tx = w3.eth.send_transaction({"from": DEV_ADDRESSES[6], "to": DEV_ADDRESSES[7], "value": 1})
    w3.eth.wait_for_transaction_receipt(tx)
    assert w3.eth.block_number == start + 1
    assert w3.provider.make_request("evm_revert", [snap])["result"] is True
    assert w3.eth.block_number == start
    assert w3.eth.get_transaction_count(DEV_ADDRESSES[6]) == 0
    assert w3.provider.make_request("evm_revert", ["0x99999"])["result"] is False


# --- in-process: the time rule with a fake clock, framing, encoding ------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _rpc(chain: DevnetChain, method: str, *params: Any) -> Any:
    return chain.request(method, list(params))


def _latest_ts(chain: DevnetChain) -> int:
    return int(_rpc(chain, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def test_block_timestamp_follows_the_clock_plus_offset() -> None:
    clock = FakeClock(1_800_000_000.0)
    chain = DevnetChain(clock=clock)
    assert _latest_ts(chain) == 1_800_000_000
    # Clock has not moved: the next block still moves forward by one second.
    _rpc(chain, "evm_mine")
    assert _latest_ts(chain) == 1_800_000_001
    # Real time passes: the next block takes it, not parent + 1.
    clock.now += 500
    tx = {"from": SEQUENCER_ADDRESS, "to": VALIDATOR_ADDRESS, "value": "0x1"}
    tx_hash = _rpc(chain, "eth_sendTransaction", tx)
    receipt = _rpc(chain, "eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    assert _latest_ts(chain) == 1_800_000_500
    # evm_increaseTime adds to the offset and returns the total (a JSON number, as anvil).
    assert _rpc(chain, "evm_increaseTime", 100) == 100
    assert _rpc(chain, "evm_increaseTime", "0x14") == 120
    _rpc(chain, "evm_mine")
    assert _latest_ts(chain) == 1_800_000_620
    # A pinned timestamp is used once, then time continues from it.
    _rpc(chain, "evm_setNextBlockTimestamp", 1_900_000_000)
    _rpc(chain, "evm_mine")
    assert _latest_ts(chain) == 1_900_000_000
    clock.now += 10
    _rpc(chain, "evm_mine")
    assert _latest_ts(chain) == 1_900_000_010


def test_invalid_params_name_the_problem() -> None:
    chain = DevnetChain(clock=FakeClock(1_800_000_000.0))
    with pytest.raises(JsonRpcError) as err:
        _rpc(chain, "evm_increaseTime", "ten")
    assert err.value.code == INVALID_PARAMS and "evm_increaseTime" in err.value.message
    with pytest.raises(JsonRpcError) as err:
        _rpc(chain, "evm_setNextBlockTimestamp", 5)
    assert err.value.code == INVALID_PARAMS and "Timestamp error" in err.value.message
    with pytest.raises(JsonRpcError) as err:
        _rpc(chain, "eth_getBalance", "0x1234", "latest")
    assert err.value.code == INVALID_PARAMS
    with pytest.raises(JsonRpcError) as err:
        _rpc(chain, "eth_sign", SEQUENCER_ADDRESS, "0x00")
    assert err.value.code == METHOD_NOT_FOUND


def test_eth_call_revert_is_code_3_with_data(probe_artifacts: dict[str, Any]) -> None:
    chain = DevnetChain(clock=FakeClock(1_800_000_000.0))
    tx_hash = _rpc(
        chain,
        "eth_sendTransaction",
        {"from": SEQUENCER_ADDRESS, "data": probe_artifacts["bytecode"]},
    )
    address = _rpc(chain, "eth_getTransactionReceipt", tx_hash)["contractAddress"]
    calldata = Web3().eth.contract(abi=probe_artifacts["abi"]).encode_abi("store", [13])
    with pytest.raises(JsonRpcError) as err:
        _rpc(
            chain,
            "eth_call",
            {"from": SEQUENCER_ADDRESS, "to": address, "data": calldata},
            "latest",
        )
    assert err.value.code == EXECUTION_REVERTED
    assert "unlucky" in err.value.message
    assert err.value.data is not None and err.value.data.startswith("0x08c379a0")


def test_framing_notifications_and_bad_requests() -> None:
    chain = DevnetChain(clock=FakeClock(1_800_000_000.0))
    answer = json.loads(handle_body(chain, b"{not json") or b"")
    assert answer["error"]["code"] == PARSE_ERROR and answer["id"] is None
    assert handle_body(chain, b'{"jsonrpc":"2.0","method":"eth_chainId"}') is None
    answer = json.loads(
        handle_body(chain, b'{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}') or b""
    )
    assert answer["error"]["code"] == INVALID_REQUEST
    answer = json.loads(
        handle_body(chain, b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":{}}') or b""
    )
    assert answer["error"]["code"] == INVALID_PARAMS
    answer = json.loads(handle_body(chain, b"[1]") or b"")
    assert answer[0]["error"]["code"] == INVALID_REQUEST


def test_to_wire_encoding() -> None:
    assert to_wire(0) == "0x0"
    assert to_wire(255) == "0xff"
    assert to_wire(True) is True
    assert to_wire(b"\x01\x02") == "0x0102"
    assert to_wire({"logsBloom": 0})["logsBloom"] == "0x" + "00" * 256
    assert to_wire({"y_parity": 1, "state_root": b"\x01"}) == {"yParity": "0x1"}
    assert to_wire({"gasUsedRatio": [0.5]}) == {"gasUsedRatio": [0.5]}
    with pytest.raises(ValueError, match="negative"):
        to_wire(-1)
    with pytest.raises(TypeError, match="cannot encode"):
        to_wire(object())


def test_subprocess_stops_cleanly_on_sigterm() -> None:
    proc, url = start_devnet_subprocess(port=0)
    try:
        assert (
            _post(url, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})["result"] == "0x7a69"
        )
    finally:
        code = stop_process(proc)
    assert code == 0


def test_interval_mining_holds_transactions_until_the_next_block() -> None:
    clock = FakeClock(1_800_000_000.0)
    chain = DevnetChain(auto_mine=False, clock=clock)
    tx = {"from": SEQUENCER_ADDRESS, "to": VALIDATOR_ADDRESS, "value": "0x5"}
    tx_hash = _rpc(chain, "eth_sendTransaction", tx)
    assert _rpc(chain, "eth_getTransactionReceipt", tx_hash) is None
    assert _rpc(chain, "eth_blockNumber") == "0x0"
    clock.now += 12
    chain.mine_interval_block()
    receipt = _rpc(chain, "eth_getTransactionReceipt", tx_hash)
    assert receipt["blockNumber"] == "0x1" and receipt["status"] == "0x1"
    assert _latest_ts(chain) == 1_800_000_012
    assert (
        int(_rpc(chain, "eth_getBalance", VALIDATOR_ADDRESS, "latest"), 16) == DEV_BALANCE_WEI + 5
    )


def test_fee_history_follows_the_spec() -> None:
    chain = DevnetChain(clock=FakeClock(1_800_000_000.0))
    tips = [10**9, 3 * 10**9]
    for tip in tips:
        tx = {
            "from": SEQUENCER_ADDRESS,
            "to": VALIDATOR_ADDRESS,
            "value": "0x1",
            "maxPriorityFeePerGas": hex(tip),
            "maxFeePerGas": hex(50 * 10**9),
        }
        _rpc(chain, "eth_sendTransaction", tx)
    _rpc(chain, "evm_mine")  # block 3, empty
    history = _rpc(chain, "eth_feeHistory", "0x3", "latest", [25, 75])
    assert history["oldestBlock"] == "0x1"
    # One base fee per block, plus the next block's.
    assert len(history["baseFeePerGas"]) == 4 and len(history["gasUsedRatio"]) == 3
    assert history["reward"] == [[hex(tips[0])] * 2, [hex(tips[1])] * 2, ["0x0", "0x0"]]
    blocks = [_rpc(chain, "eth_getBlockByNumber", hex(n), False) for n in (1, 2, 3)]
    assert history["baseFeePerGas"][:3] == [b["baseFeePerGas"] for b in blocks]
    # blockCount larger than the chain is clamped to genesis.
    assert _rpc(chain, "eth_feeHistory", "0x400", "0x1", [])["oldestBlock"] == "0x0"
    with pytest.raises(JsonRpcError) as err:
        _rpc(chain, "eth_feeHistory", "0x1", "latest", [75, 25])
    assert err.value.code == INVALID_PARAMS and "increasing" in err.value.message


def test_omitted_and_pending_block_tags_mean_latest() -> None:
    chain = DevnetChain(clock=FakeClock(1_800_000_000.0))
    tx = {"from": SEQUENCER_ADDRESS, "to": VALIDATOR_ADDRESS, "value": "0x1"}
    assert _rpc(chain, "eth_estimateGas", tx, "pending") == hex(21000)
    assert _rpc(chain, "eth_call", tx) == "0x"
    assert _rpc(chain, "eth_getBalance", SEQUENCER_ADDRESS) == hex(DEV_BALANCE_WEI)
    assert _rpc(chain, "eth_getTransactionCount", SEQUENCER_ADDRESS) == "0x0"
    assert _rpc(chain, "eth_getStorageAt", SEQUENCER_ADDRESS, "0x0") == "0x" + "00" * 32


def test_cors_lets_a_browser_page_call_the_node(l1_url: str) -> None:
    """A page on another origin (the explorer's "verify in this browser") may read L1: the
    preflight is answered and every answer allows any origin, as anvil's do by default."""
    parts = urlsplit(l1_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    origin = "http://127.0.0.1:9"
    conn.request(
        "OPTIONS",
        "/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    pre = conn.getresponse()
    pre.read()
    assert 200 <= pre.status < 300
    assert pre.getheader("Access-Control-Allow-Origin") in ("*", origin)
    assert "content-type" in (pre.getheader("Access-Control-Allow-Headers") or "").lower()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    conn.request(
        "POST", "/", body=body, headers={"Origin": origin, "Content-Type": "application/json"}
    )
    answer = conn.getresponse()
    assert json.loads(answer.read())["result"] == hex(DEFAULT_CHAIN_ID)
    assert answer.getheader("Access-Control-Allow-Origin") in ("*", origin)
    conn.close()
