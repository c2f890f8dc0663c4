"""The client's signing (against eth-account and the worked example of docs/spec.md §4.3),
its receipt checks (a tamper table), and its retry policy (against a fake transport)."""

from __future__ import annotations

import copy
import os
from typing import Any

import httpx
import orjson
import pytest
from eth_account import Account

from prover.eip712 import Domain, Signer, compute_receipt_digest
from prover.receipt_tree import compute_receipt_tree_hex
from sequencer.client import AccountSigner, Event, KeySigner, sign_event
from sequencer.client.errors import ReceiptInvalidError, RejectedError
from sequencer.client.l1 import CHECKPOINT_COUNT, CHECKPOINTS, LATEST_FINALIZED
from sequencer.client.receipts import verify_answer
from sequencer.client.transport import SyncTransport, retry_after_s

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DOMAIN = Domain(31337, bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3"))
WORKED = Event(
    "inference_receipt",
    "0x2188becbc1c5f0cbdd36dd4f0c597b90c98b6871a3ecf50108d2efcf9e1a7406",
    "0x19a7f46deb88629b71ecdf869dc483b95294398d06123c6bf78321647ef143d4",
    {"model": "m-7", "latencyMs": 12, "tags": ["a", "b"]},
    7,
)
WORKED_SIG = (
    "0xb2439994927075d8ecbc1943b22ca41b7a399863295f827a77b1b81df312463331e3b93fa1c8a45e"
    "e771a4e3ebd36118dbde6438c32ccf32eb3e2416522c7e9c1c"
)


def test_key_signer_reproduces_the_worked_example() -> None:
    wire = sign_event(KeySigner(KEY), DOMAIN, WORKED)
    assert wire["signature"] == WORKED_SIG
    assert wire["submitter"] == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"


@pytest.mark.parametrize("mode", ["hash", "typed"])
def test_any_eth_account_signer_gives_the_same_signature(mode: str) -> None:
    account = Account.from_key(KEY)

    class TypedOnly:  # a signer that only signs whole EIP-712 messages, like a wallet
        address = account.address

        def sign_typed_data(self, full_message: dict[str, Any]) -> Any:
            return account.sign_typed_data(full_message=full_message)

    signer = AccountSigner(account if mode == "hash" else TypedOnly())
    assert sign_event(signer, DOMAIN, WORKED)["signature"] == WORKED_SIG


def test_selectors_are_those_of_the_spec() -> None:
    assert (CHECKPOINT_COUNT.hex(), CHECKPOINTS.hex(), LATEST_FINALIZED.hex()) == (
        "1f618cd2",
        "b8a24252",
        "6cdd45ae",
    )


# --- receipts: a tamper table ------------------------------------------------------------------

SEQ_KEY = bytes.fromhex(KEY[2:])
SEQUENCER = Signer(SEQ_KEY).address


def _answer(n: int, first: int = 10) -> dict[str, Any]:
    leaves = [os.urandom(32) for _ in range(n)]
    root, paths = compute_receipt_tree_hex(leaves)
    digest = compute_receipt_digest(DOMAIN.separator, first, n, root, 1_800_000_000)
    v, r, s = Signer(SEQ_KEY).sign(digest)
    return {
        "receipt": {
            "firstSeq": first,
            "count": n,
            "leavesRoot": "0x" + root.hex(),
            "deadline": 1_800_000_000,
            "signature": "0x" + (r + s + bytes([v])).hex(),
            "sequencer": "0x" + SEQUENCER.hex(),
        },
        "events": [
            {"seq": first + i, "leafHash": "0x" + h.hex(), "index": i, "path": list(paths[i])}
            for i, h in enumerate(leaves)
        ],
    }


def _flip(h: str) -> str:
    return h[:-1] + ("0" if h[-1] != "0" else "1")


def test_an_honest_answer_verifies() -> None:
    got = verify_answer(_answer(37), 37, DOMAIN.separator, SEQUENCER, batch=True)
    assert [a.seq for a in got] == list(range(10, 47))


def _tamper(kind: str, a: dict[str, Any]) -> None:
    ev, rc = a["events"], a["receipt"]
    if kind == "leaf":
        ev[5]["leafHash"] = _flip(ev[5]["leafHash"])
    elif kind == "path":
        ev[3]["path"][1] = _flip(ev[3]["path"][1])
    elif kind == "root":
        rc["leavesRoot"] = _flip(rc["leavesRoot"])
    elif kind == "signature":
        rc["signature"] = (
            "0x" + Signer(os.urandom(31) + b"\x01").sign(os.urandom(32))[1].hex() * 2 + "1b"
        )
    elif kind == "seq":
        ev[2]["seq"] += 1
    elif kind == "index":
        ev[2]["index"] = 99
    elif kind == "missing":
        ev.pop()
    elif kind == "deadline":
        rc["deadline"] += 1


@pytest.mark.parametrize(
    "kind", ["leaf", "path", "root", "signature", "seq", "index", "missing", "deadline"]
)
def test_a_tampered_answer_is_refused(kind: str) -> None:
    a = _answer(12)
    _tamper(kind, a)
    with pytest.raises(ReceiptInvalidError):
        verify_answer(a, 12, DOMAIN.separator, SEQUENCER, batch=True)


def test_a_partial_receipt_verifies_path_by_path() -> None:
    a = _answer(16)
    a["events"] = a["events"][4:9]  # our 5 events inside a group commit of 16
    got = verify_answer(a, 5, DOMAIN.separator, SEQUENCER, batch=True)
    assert [x.batch_index for x in got] == [4, 5, 6, 7, 8]
    a["events"][2]["path"][0] = _flip(a["events"][2]["path"][0])
    with pytest.raises(ReceiptInvalidError):
        verify_answer(a, 5, DOMAIN.separator, SEQUENCER, batch=True)


@pytest.mark.parametrize(
    "kind", ["leaf", "path", "root", "signature", "seq", "index", "missing", "deadline"]
)
def test_a_tampered_slice_of_a_shared_receipt_is_refused(kind: str) -> None:
    # Our 300 events inside a group commit of 1000 (another client's batch shares the
    # receipt): the one-pass check of the slice refuses every tampering the whole-receipt
    # check does, and passes the honest answer.
    a = _answer(1000)
    a["events"] = a["events"][200:500]
    got = verify_answer(copy.deepcopy(a), 300, DOMAIN.separator, SEQUENCER, batch=True)
    assert [x.seq for x in got] == list(range(210, 510)) and got[7].batch_index == 207
    _tamper(kind, a)
    with pytest.raises(ReceiptInvalidError):
        verify_answer(a, 300, DOMAIN.separator, SEQUENCER, batch=True)


def test_a_slice_whose_path_is_another_leafs_is_refused() -> None:
    a = _answer(64)
    a["events"] = a["events"][8:40]
    a["events"][20]["path"] = list(a["events"][21]["path"])  # a real path, not its own
    with pytest.raises(ReceiptInvalidError, match="does not"):
        verify_answer(a, 32, DOMAIN.separator, SEQUENCER, batch=True)


def test_a_receipt_signed_by_another_key_is_refused() -> None:
    with pytest.raises(ReceiptInvalidError, match="not the sequencer"):
        verify_answer(_answer(3), 3, DOMAIN.separator, b"\x11" * 20, batch=True)


# --- retries -----------------------------------------------------------------------------------


def test_overloaded_is_retried_after_retry_after_ms() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        rid = orjson.loads(request.content)["id"]
        calls.append(rid)
        if len(calls) < 3:
            return httpx.Response(
                200,
                json={
                    "jsonrpc": "2.0",
                    "id": rid,
                    "error": {
                        "code": -32005,
                        "message": "overloaded",
                        "data": {"retryAfterMs": 250},
                    },
                },
            )
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": rid, "result": 42})

    t = SyncTransport("http://127.0.0.1:1", sleep=slept.append)
    t._http = httpx.Client(transport=httpx.MockTransport(handler))
    assert t.call("attest_status") == 42
    assert slept == [0.25, 0.25] and len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        rid = orjson.loads(request.content)["id"]
        return httpx.Response(
            200, json={"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "bad"}}
        )

    t = SyncTransport("http://127.0.0.1:1", sleep=lambda s: pytest.fail("slept"))
    t._http = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(RejectedError) as info:
        t.call("attest_submit", {})
    assert info.value.code == -32602


def test_retry_after_is_clamped() -> None:
    from prover.jsonrpc import JsonRpcError

    assert retry_after_s(JsonRpcError(-32005, "x", {"retryAfterMs": 10**9})) == 10.0
    assert retry_after_s(JsonRpcError(-32005, "x", None)) == 0.1


# --- keystores -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_keystore_made_by_eth_account_decrypts(tmp_path: Any, kdf: str) -> None:
    from prover.errors import InvalidFieldError
    from sequencer.client import keystore_signer

    ks = Account.encrypt(KEY, "s3cret", kdf=kdf, iterations=2 if kdf == "scrypt" else 1000)
    path = tmp_path / "k.json"
    path.write_bytes(orjson.dumps(ks))
    assert keystore_signer(path, "s3cret").address == bytes.fromhex(
        Account.from_key(KEY).address[2:]
    )

    with pytest.raises(InvalidFieldError, match="wrong password"):
        keystore_signer(path, "nope")


@pytest.mark.parametrize("batcher", ["Batcher", "AsyncBatcher"])
@pytest.mark.parametrize(
    "limits",
    [
        {"max_events": 0},
        {"max_events": 10, "max_pending": 9},
        {"in_flight": 0},
        {"max_delay": 0.0},
        {"max_delay": -1.0},
    ],
)
def test_batchers_refuse_limits_that_cannot_make_progress(
    batcher: str, limits: dict[str, Any]
) -> None:
    import sequencer.client.aio
    import sequencer.client.batcher

    cls = getattr(sequencer.client.batcher, batcher, None) or getattr(sequencer.client.aio, batcher)
    # The limits are checked before the client is touched, so no client is needed here.
    with pytest.raises(ValueError, match="max_events >= 1, max_pending >= max_events"):
        cls(None, **limits)
