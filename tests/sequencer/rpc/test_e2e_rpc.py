"""Every JSON-RPC method, success and failure, against a real `attest serve` process over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from prover.eip712 import Domain, compute_receipt_digest, recover_signer
from prover.hashing import leaf_hash
from prover.jsonrpc import JsonRpcError
from prover.receipt_tree import verify_receipt_path
from prover.tree import verify_consistency, verify_inclusion
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc.client import RpcClient
from sequencer.rpc.methods import MAX_FULL_BLOCKS_PER_BATCH, build_openrpc
from tests.sequencer.events import (
    ALICE,
    ALICE_KEY,
    MALLORY_KEY,
    SEQUENCER_ADDRESS,
    h32,
    signed,
    unsigned,
)
from tests.waiting import wait_for

DOMAIN = Domain(31337, bytes(20))
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", params=[0, 1], ids=["event-loop", "ingest-pool"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[SequencerProcess]:
    """Every test runs against submissions checked on the event loop and in a worker pool."""
    data = tmp_path_factory.mktemp("seq")
    with SequencerProcess(data, extra_args=["--ingest-workers", str(request.param)]) as proc:
        yield proc


@pytest.fixture
def rpc(server: SequencerProcess) -> Iterator[RpcClient]:
    with RpcClient(server.url, token="dev") as client:
        yield client


@pytest.fixture
def anon(server: SequencerProcess) -> Iterator[RpcClient]:
    with RpcClient(server.url) as client:
        yield client


def b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str[2:])


def check_receipt(receipt: dict, placement: dict) -> None:
    """A receipt share verifies: audit path to leavesRoot, signature by the sequencer."""
    assert receipt["sequencer"] == SEQUENCER_ADDRESS
    verify_receipt_path(
        b(placement["leafHash"]),
        placement["index"],
        receipt["count"],
        [b(p) for p in placement["path"]],
        b(receipt["leavesRoot"]),
    )
    assert placement["seq"] == receipt["firstSeq"] + placement["index"]
    digest = compute_receipt_digest(
        DOMAIN.separator,
        receipt["firstSeq"],
        receipt["count"],
        b(receipt["leavesRoot"]),
        receipt["deadline"],
    )
    sig = b(receipt["signature"])
    assert "0x" + recover_signer(digest, sig[64], sig[:32], sig[32:64]).hex() == SEQUENCER_ADDRESS


# --- submit ----------------------------------------------------------------------------------


def test_submit_unsigned_returns_a_verifiable_receipt(rpc: RpcClient) -> None:
    ev = unsigned(1, meta={"model": "m-7", "latencyMs": 12})
    out = rpc.call("attest_submit", ev)
    check_receipt(out["receipt"], out)
    got = rpc.call("attest_getEvent", out["seq"])
    assert got["digest"] == ev["digest"] and got["kind"] == "sensor_hash"
    assert got["meta"] == {"latencyMs": 12, "model": "m-7"}
    assert got["signed"] is False and got["signature"] is None
    assert got["submitter"] == "0xde7de7de7de7de7de7de7de7de7de7de7de7de70"
    assert leaf_hash(b(got["record"])) == b(out["leafHash"]) == b(got["leafHash"])


def test_submit_batch_one_receipt_and_paths_in_order(rpc: RpcClient) -> None:
    events = [unsigned(100 + i) for i in range(37)]
    out = rpc.call("attest_submitBatch", events)
    seqs = [e["seq"] for e in out["events"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 37
    for placement in out["events"]:
        check_receipt(out["receipt"], placement)
    for ev, placement in zip(events, out["events"], strict=True):
        assert rpc.call("attest_getEvent", placement["seq"])["digest"] == ev["digest"]


def test_unsigned_without_token_is_unauthorized(anon: RpcClient) -> None:
    with pytest.raises(JsonRpcError) as err:
        anon.call("attest_submit", unsigned(2))
    assert err.value.code == -32001 and "Bearer" in err.value.message


def test_unknown_token_is_unauthorized(server: SequencerProcess) -> None:
    with RpcClient(server.url, token="not-a-token") as c, pytest.raises(JsonRpcError) as err:
        c.call("attest_submit", unsigned(3))
    assert err.value.code == -32001


def test_signed_event_from_eth_account_is_accepted_without_token(anon: RpcClient) -> None:
    ev = signed(ALICE_KEY, nonce=1, meta={"prompt": "sha256:..."})
    out = anon.call("attest_submit", ev)
    check_receipt(out["receipt"], out)
    got = anon.call("attest_getEvent", out["seq"])
    assert got["signed"] is True and got["submitter"] == ALICE.lower() and got["nonce"] == 1
    assert got["signature"] == ev["signature"]


def test_forged_signature_is_refused(anon: RpcClient) -> None:
    forged = signed(MALLORY_KEY, nonce=5, claim=ALICE)
    with pytest.raises(JsonRpcError) as err:
        anon.call("attest_submit", forged)
    assert err.value.code == -32002 and "recovers to" in err.value.message


def test_malformed_signature_is_refused(anon: RpcClient) -> None:
    ev = signed(ALICE_KEY, nonce=6)
    ev["signature"] = ev["signature"][:-4]
    with pytest.raises(JsonRpcError) as err:
        anon.call("attest_submit", ev)
    assert err.value.code == -32002 and err.value.data["field"] == "signature"


def test_replayed_nonce_with_other_content_is_refused(anon: RpcClient) -> None:
    anon.call("attest_submit", signed(ALICE_KEY, nonce=7))
    with pytest.raises(JsonRpcError) as err:
        anon.call("attest_submit", signed(ALICE_KEY, nonce=7, digest=h32("something else")))
    assert err.value.code == -32003 and err.value.data["nonce"] == 7


def test_resent_signed_event_returns_original_receipt(anon: RpcClient) -> None:
    ev = signed(ALICE_KEY, nonce=8)
    first = anon.call("attest_submit", ev)
    size = anon.call("attest_status")["treeSize"]
    again = anon.call("attest_submit", ev)
    assert again["duplicate"] is True
    assert (again["seq"], again["leafHash"], again["receipt"]) == (
        first["seq"],
        first["leafHash"],
        first["receipt"],
    )
    assert anon.call("attest_status")["treeSize"] == size  # no second record
    check_receipt(again["receipt"], again)


def test_batch_with_one_bad_event_stores_nothing(rpc: RpcClient) -> None:
    size = rpc.call("attest_status")["treeSize"]
    events = [unsigned(200 + i) for i in range(5)]
    events[3]["digest"] = "0x1234"
    with pytest.raises(JsonRpcError) as err:
        rpc.call("attest_submitBatch", events)
    assert err.value.code == -32602
    assert err.value.data == {"field": "digest", "index": 3, "reason": err.value.data["reason"]}
    assert "events[3].digest" in err.value.message
    assert rpc.call("attest_status")["treeSize"] == size


def test_batch_with_one_forged_signature_stores_nothing(rpc: RpcClient) -> None:
    size = rpc.call("attest_status")["treeSize"]
    events = [signed(ALICE_KEY, nonce=300 + i) for i in range(40)]  # >= 32: threaded recovery
    events[33] = signed(MALLORY_KEY, nonce=333, claim=ALICE)
    with pytest.raises(JsonRpcError) as err:
        rpc.call("attest_submitBatch", events)
    assert err.value.code == -32002 and err.value.data["index"] == 33
    assert rpc.call("attest_status")["treeSize"] == size


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"kind": "Bad Kind!", "subject": h32("s"), "digest": h32("d")}, "kind"),
        ({"kind": "x", "subject": "0x12", "digest": h32("d")}, "subject"),
        ({"kind": "x", "subject": h32("s"), "digest": h32("d"), "meta": {"a": "x" * 2000}}, "meta"),
        ({"kind": "x", "subject": h32("s"), "digest": h32("d"), "nonce": -1}, "nonce"),
        ({"kind": "x", "subject": h32("s"), "digest": h32("d"), "mata": {}}, "mata"),
        ({"subject": h32("s"), "digest": h32("d")}, "kind"),
    ],
)
def test_bad_fields_are_named(rpc: RpcClient, event: dict, field: str) -> None:
    with pytest.raises(JsonRpcError) as err:
        rpc.call("attest_submit", event)
    assert err.value.code in (-32602, -32006)
    assert field in err.value.message


# --- reads -----------------------------------------------------------------------------------


def test_get_proof_and_consistency_verify(rpc: RpcClient) -> None:
    first = rpc.call("attest_submitBatch", [unsigned(400 + i) for i in range(10)])
    old = rpc.call("attest_status")
    rpc.call("attest_submitBatch", [unsigned(500 + i) for i in range(13)])
    seq = first["events"][4]["seq"]
    proof = rpc.call("attest_getProof", seq)
    assert proof["checkpoint"] is None
    verify_inclusion(
        b(proof["leafHash"]),
        seq,
        proof["treeSize"],
        [b(p) for p in proof["proof"]],
        b(proof["root"]),
    )
    assert leaf_hash(b(proof["record"])) == b(proof["leafHash"])
    cons = rpc.call("attest_getConsistencyProof", old["treeSize"], proof["treeSize"])
    assert cons["firstRoot"] == old["root"] and cons["secondRoot"] == proof["root"]
    verify_consistency(
        cons["first"],
        cons["second"],
        b(cons["firstRoot"]),
        b(cons["secondRoot"]),
        [b(p) for p in cons["proof"]],
    )


@pytest.mark.parametrize("seq", ["0x1_0", "0x10 ", "0x1\n", " 1", "+1", "0x", "1.0", True])
def test_seq_params_take_one_strict_uint_form(rpc: RpcClient, seq: object) -> None:
    """Issue 12: `int(x, 16)` took underscores and whitespace; prover.wire.parse_uint does not."""
    with pytest.raises(JsonRpcError) as err:
        rpc.call("attest_getEvent", seq)
    assert err.value.code == -32602


def test_reads_of_missing_things_are_not_found(rpc: RpcClient) -> None:
    size = rpc.call("attest_status")["treeSize"]
    for method, params in [
        ("attest_getEvent", [size + 5]),
        ("attest_getProof", [size]),
        ("attest_getConsistencyProof", [1, size + 1]),
        ("attest_getBlock", [10**9]),
    ]:
        with pytest.raises(JsonRpcError) as err:
            rpc.call(method, *params)
        assert err.value.code == -32004, method
    with pytest.raises(JsonRpcError) as err:
        rpc.call("attest_getProof", 0, {"checkpoint": "latest"})
    assert err.value.code == -32004 and "checkpoint" in err.value.message


def test_blocks_are_sealed_and_chained(rpc: RpcClient) -> None:
    rpc.call("attest_submitBatch", [unsigned(600 + i) for i in range(300)])  # > B = 256
    size = rpc.call("attest_status")["treeSize"]
    # T = 50 ms: the open block is sealed soon after (a real server's real clock).
    latest = wait_for(
        lambda: (blk := rpc.call("attest_getBlock", "latest"))["end"] == size and blk,
        timeout=10,
        what="the open block to be sealed",
    )
    prev = latest
    for n in range(latest["number"] - 1, -1, -1):
        blk = rpc.call("attest_getBlock", n)
        assert blk["blockHash"] == prev["parentHash"] and blk["end"] == prev["start"]
        assert blk["count"] <= 256
        prev = blk
    assert prev["start"] == 0 and prev["parentHash"] == "0x" + "00" * 32
    full = rpc.call("attest_getBlock", latest["number"], True)
    assert [e["seq"] for e in full["events"]] == list(range(latest["start"], latest["end"]))
    # The compact form: the same header and receipt, the records' hex and metas only.
    compact = rpc.call("attest_getBlock", latest["number"], "records")
    assert compact["records"] == [e["record"] for e in full["events"]]
    assert compact["metas"] == [e["meta"] for e in full["events"]]
    header = {k: v for k, v in full.items() if k != "events"}
    assert {k: v for k, v in compact.items() if k not in ("records", "metas")} == header
    with pytest.raises(JsonRpcError) as err:
        rpc.call("attest_getBlock", latest["number"], "events")
    assert err.value.code == -32602 and "records" in err.value.message
    # Compact blocks count against the cap of full blocks per body, like full ones.
    over = [
        {"jsonrpc": "2.0", "id": i, "method": "attest_getBlock", "params": [0, "records"]}
        for i in range(MAX_FULL_BLOCKS_PER_BATCH + 1)
    ]
    refused = orjson.loads(rpc.post_raw(orjson.dumps(over)).body)
    assert refused["error"]["code"] == -32006
    assert refused["error"]["data"]["what"] == "full blocks per batch"
    proof = rpc.call("attest_getConsistencyProof", latest["end"], latest["end"])
    assert proof["firstRoot"] == latest["logRoot"]
    event = rpc.call("attest_getEvent", latest["start"])
    assert event["block"] == latest["number"]


def test_find_by_digest_and_subject_with_paging(rpc: RpcClient) -> None:
    digest = h32("shared-digest")
    events = [{**unsigned(700 + i), "digest": digest} for i in range(5)]
    out = rpc.call("attest_submitBatch", events)
    seqs = [e["seq"] for e in out["events"]]
    page1 = rpc.call("attest_findByDigest", digest, {"limit": 3})
    assert page1["seqs"] == seqs[:3] and page1["next"] == seqs[2]
    page2 = rpc.call("attest_findByDigest", digest, {"after": page1["next"], "limit": 3})
    assert page2 == {"seqs": seqs[3:], "next": None}
    by_subject = rpc.call("attest_findBySubject", events[0]["subject"], {"limit": 1000})
    assert seqs[0] in by_subject["seqs"]
    with pytest.raises(JsonRpcError) as err:
        rpc.call("attest_findByDigest", digest, {"limit": 5000})
    assert err.value.code == -32602


def test_status_checkpoint_and_discover(rpc: RpcClient) -> None:
    status = rpc.call("attest_status")
    assert status["eip712Domain"]["chainId"] == 31337
    assert status["eip712Domain"]["name"] == "attest-rollup"
    assert status["sequencer"] == SEQUENCER_ADDRESS
    assert status["l1"] is None and status["checkpointLag"] is None
    assert rpc.call("attest_getCheckpoint", "latest") is None
    doc = rpc.call("rpc.discover")
    names = {m["name"] for m in doc["methods"]}
    assert {
        "attest_submit",
        "attest_submitBatch",
        "attest_getEvent",
        "attest_getProof",
        "attest_getConsistencyProof",
        "attest_getCheckpoint",
        "attest_getBlock",
        "attest_findByDigest",
        "attest_findBySubject",
        "attest_status",
    } <= names
    assert doc == orjson.loads(orjson.dumps(build_openrpc()))
    committed = orjson.loads((REPO / "docs" / "openrpc.json").read_bytes())
    assert committed == doc, "docs/openrpc.json is stale: run `attest openrpc > docs/openrpc.json`"


# --- the JSON-RPC envelope and HTTP ------------------------------------------------------------


def test_envelope_errors(rpc: RpcClient) -> None:
    def error_of(body: bytes) -> dict:
        reply = rpc.post_raw(body)
        return orjson.loads(reply.body)["error"]

    assert error_of(b"{not json")["code"] == -32700
    assert error_of(b'{"jsonrpc": "1.0", "id": 1, "method": "attest_status"}')["code"] == -32600
    assert error_of(b'{"jsonrpc": "2.0", "id": 1, "method": "attest_nope"}')["code"] == -32601
    err = error_of(b'{"jsonrpc": "2.0", "id": 1, "method": "attest_getEvent", "params": [true]}')
    assert err["code"] == -32602 and "seq" in err["message"]
    err = error_of(b'{"jsonrpc": "2.0", "id": 1, "method": "attest_getEvent", "params": ["x"]}')
    assert err["code"] == -32602
    answers = orjson.loads(
        rpc.post_raw(
            b'[{"jsonrpc": "2.0", "id": 1, "method": "attest_status"},'
            b' {"jsonrpc": "2.0", "id": 2, "method": "nope"}]'
        ).body
    )
    assert [a["id"] for a in answers] == [1, 2]
    assert "result" in answers[0] and answers[1]["error"]["code"] == -32601


def test_health_and_metrics(rpc: RpcClient) -> None:
    health = rpc.request("GET", "/health")
    assert health.status == 200 and orjson.loads(health.body)["status"] == "ok"
    head = rpc.request("HEAD", "/health")  # RFC 9110 §9.3.2 (issue 12: it was 405)
    assert head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(health.body)
    absolute = rpc.request("GET", f"{rpc.url.rstrip('/')}/health")  # RFC 9112 §3.2.2 (was 404)
    assert absolute.status == 200 and orjson.loads(absolute.body)["status"] == "ok"
    rpc.call("attest_submit", unsigned(900))
    metrics = rpc.request("GET", "/metrics")
    text = metrics.body.decode()
    assert metrics.status == 200
    for name in (
        "attest_events_accepted_total",
        "attest_queue_depth",
        "attest_group_commit_size",
        "attest_group_commit_seconds",
        "attest_tree_size",
        "attest_events_rejected_total",
    ):
        assert name in text, name
    accepted = next(
        line for line in text.splitlines() if line.startswith("attest_events_accepted_total")
    )
    assert float(accepted.split()[1]) >= 1


def test_configured_limits_refuse_with_clear_errors(tmp_path: Path) -> None:
    config = tmp_path / "sequencer.toml"
    config.write_text("[serve]\nmax_batch_events = 5\nmax_body_bytes = 20000\n")
    with (
        SequencerProcess(tmp_path / "d", config=config) as proc,
        RpcClient(proc.url, token="dev") as rpc,
    ):
        with pytest.raises(JsonRpcError) as err:
            rpc.call("attest_submitBatch", [unsigned(i) for i in range(6)])
        assert err.value.code == -32006 and err.value.data == {
            "what": "events per batch",
            "limit": 5,
            "actual": 6,
        }
        reply = rpc.post_raw(
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "attest_submit",
                    "params": [unsigned(1, meta={"x": "y" * 30_000})],
                }
            )
        )
        assert reply.status == 413
        error = orjson.loads(reply.body)["error"]
        assert error["code"] == -32006 and "request body bytes" in error["message"]
        assert rpc.call("attest_status")["treeSize"] == 0  # nothing of either was stored
