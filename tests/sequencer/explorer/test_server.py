"""The explorer's server side against a real `attest serve`: its pages and assets come from the
package, its `explorer_*` methods answer as the OpenRPC table says, and CORS is off by default
except for the node's own origin."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from prover.jsonrpc import JsonRpcError
from sequencer.devnet.process import SequencerProcess
from sequencer.explorer.assets import load_assets
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import ALICE, ALICE_KEY, h32, signed, unsigned
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SequencerProcess]:
    data = tmp_path_factory.mktemp("seq")
    with SequencerProcess(
        data, extra_args=["--cors-origins", "http://partner.example:3000"]
    ) as proc:
        with RpcClient(proc.url, token="dev") as rpc:
            rpc.call("attest_submitBatch", [unsigned(i) for i in range(20)])
            rpc.call("attest_submitBatch", [signed(ALICE_KEY, n) for n in range(5)])
            wait_for(
                lambda: (b := rpc.call("attest_status")["latestBlock"]) and b["end"] == 25,
                what="the last block to be sealed",
            )
        yield proc


def _request(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_pages_and_assets_come_from_the_package(server: SequencerProcess) -> None:
    assets = load_assets()
    assert {"index.html", "app.js", "style.css", "verify.js"} <= set(assets)
    status, headers, body = _request(server.url, "GET", "/")
    assert status == 200 and body == assets["index.html"].body
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    for name in ("app.js", "verify.js", "style.css"):
        status, headers, body = _request(server.url, "GET", f"/explorer/{name}")
        assert status == 200 and body == assets[name].body
        # Re-validation of an unchanged file costs a header, not the file.
        again, _, empty = _request(
            server.url, "GET", f"/explorer/{name}", {"If-None-Match": headers["etag"]}
        )
        assert again == 304 and empty == b""
    # Nothing is fetched from elsewhere: every script and style the page names is local.
    html = assets["index.html"].body.decode()
    assert "http://" not in html and "https://" not in html
    assert _request(server.url, "GET", "/explorer/nope.js")[0] == 404


def test_dashboard_in_one_poll(server: SequencerProcess) -> None:
    with RpcClient(server.url) as rpc:
        d = rpc.call("explorer_dashboard")
        assert d["role"] == "sequencer"
        assert d["status"]["treeSize"] == 25
        assert d["blocks"] and d["blocks"][0]["number"] == d["status"]["latestBlock"]["number"]
        assert d["checkpoints"] == []  # no L1 attached
        samples = d["ingest"]["samples"]
        assert samples and samples[-1][1] <= 25
        later = rpc.call("explorer_dashboard", samples[-1][0])
        assert all(t > samples[-1][0] for t, _ in later["ingest"]["samples"])


def test_blocks_paged_newest_first(server: SequencerProcess) -> None:
    with RpcClient(server.url) as rpc:
        latest = rpc.call("attest_status")["latestBlock"]["number"]
        page = rpc.call("explorer_blocks", None, 1)
        assert [b["number"] for b in page["blocks"]] == [latest]
        if latest:
            assert page["next"] == latest
            older = rpc.call("explorer_blocks", page["next"], 100)
            assert [b["number"] for b in older["blocks"]] == list(range(latest - 1, -1, -1))
        with pytest.raises(JsonRpcError) as err:
            rpc.call("explorer_blocks", None, 101)
        assert err.value.code == -32602


def test_inbox_without_an_l1_says_there_is_none(server: SequencerProcess) -> None:
    """`explorer_inbox` on a sequencer that follows no L1 inbox: not an error, and not an
    empty inbox either (`available` false); bad paging is refused like the other lists.
    The inbox with entries: tests/sequencer/explorer/test_browser.py (a devnet)."""
    with RpcClient(server.url) as rpc:
        page = rpc.call("explorer_inbox")
        assert page == {"available": False, "count": 0, "entries": [], "next": None}
        for limit in (0, 101, -1):
            with pytest.raises(JsonRpcError) as err:
                rpc.call("explorer_inbox", None, limit)
            assert err.value.code == -32602 and "limit" in err.value.message


def test_find_by_submitter_pages_by_nonce(server: SequencerProcess) -> None:
    with RpcClient(server.url) as rpc:
        first = rpc.call("explorer_findBySubmitter", ALICE, {"limit": 3})
        assert first["nonces"] == [0, 1, 2] and first["next"] == 2
        rest = rpc.call("explorer_findBySubmitter", ALICE, {"after": first["next"]})
        assert rest["nonces"] == [3, 4] and rest["next"] is None
        for seq in first["seqs"] + rest["seqs"]:
            assert rpc.call("attest_getEvent", seq)["submitter"] == ALICE.lower()
        assert rpc.call("explorer_findBySubmitter", "0x" + "ab" * 20)["seqs"] == []
        with pytest.raises(JsonRpcError) as err:
            rpc.call("explorer_findBySubmitter", "0x1234")
        assert err.value.code == -32602


def test_find_unsigned_by_submitter_pages_by_seq(server: SequencerProcess) -> None:
    """Unsigned events carry the token's address as submitter: the submitter search finds
    them too (paged by seq), and not the signed ones."""
    with RpcClient(server.url) as rpc:
        token_address = rpc.call("attest_getEvent", 0)["submitter"]
        first = rpc.call("explorer_findUnsignedBySubmitter", token_address, {"limit": 8})
        assert first["seqs"] == list(range(8)) and first["next"] == 7
        rest = rpc.call("explorer_findUnsignedBySubmitter", token_address, {"after": 7})
        assert rest["seqs"] == list(range(8, 20)) and rest["next"] is None
        assert rpc.call("explorer_findUnsignedBySubmitter", ALICE)["seqs"] == []
        with pytest.raises(JsonRpcError) as err:
            rpc.call("explorer_findUnsignedBySubmitter", token_address, {"limit": 0})
        assert err.value.code == -32602


def test_find_by_leaf_hash(server: SequencerProcess) -> None:
    with RpcClient(server.url) as rpc:
        for seq in (0, 13, 24):
            leaf = rpc.call("attest_getEvent", seq)["leafHash"]
            assert rpc.call("attest_findByLeafHash", leaf) == {"seqs": [seq], "next": None}
            assert rpc.call("attest_findByLeafHash", leaf, {"after": seq})["seqs"] == []
        assert rpc.call("attest_findByLeafHash", "0x" + "00" * 32)["seqs"] == []
        with pytest.raises(JsonRpcError) as err:
            rpc.call("attest_findByLeafHash", "0x1234")
        assert err.value.code == -32602 and "leafHash" in err.value.message


def test_receipt_of_an_event(server: SequencerProcess) -> None:
    with RpcClient(server.url) as rpc:
        receipt = rpc.call("explorer_receipt", 21)
        assert receipt["firstSeq"] == 20 and receipt["count"] == 5
        with pytest.raises(JsonRpcError) as err:
            rpc.call("explorer_receipt", 10**6)
        assert err.value.code == -32004
        # The subject search the pages use is the protocol's.
        assert rpc.call("attest_findBySubject", h32("subject-0"))["seqs"][:3] == [0, 7, 14]


def _rpc_body() -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "attest_status"})


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://partner.example:3000", True),  # configured
        ("http://evil.example", False),  # not configured
    ],
)
def test_cors_for_configured_origins_only(
    server: SequencerProcess, origin: str, allowed: bool
) -> None:
    status, headers, _ = _request(
        server.url,
        "OPTIONS",
        "/",
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert (status == 204) is allowed
    assert (headers.get("access-control-allow-origin") == origin) is allowed
    status, headers, body = _request(
        server.url, "POST", "/", {"Origin": origin, "Content-Type": "application/json"}, _rpc_body()
    )
    assert status == 200 and orjson.loads(body)["result"]["treeSize"] == 25  # served either way
    assert (headers.get("access-control-allow-origin") == origin) is allowed


def test_cors_allows_the_nodes_own_origin(server: SequencerProcess) -> None:
    own = "http://" + urlsplit(server.url).netloc
    status, headers, _ = _request(
        server.url, "POST", "/", {"Origin": own, "Content-Type": "application/json"}, _rpc_body()
    )
    assert status == 200 and headers["access-control-allow-origin"] == own
    status, headers, _ = _request(
        server.url, "POST", "/", {"Content-Type": "application/json"}, _rpc_body()
    )
    assert "access-control-allow-origin" not in headers  # no Origin: not a browser's cross call


def test_cors_is_off_by_default_and_no_explorer_removes_the_pages(tmp_path: Path) -> None:
    with SequencerProcess(tmp_path / "plain", extra_args=["--no-explorer"]) as proc:
        status, headers, _ = _request(
            proc.url,
            "OPTIONS",
            "/",
            {"Origin": "http://partner.example:3000", "Access-Control-Request-Method": "POST"},
        )
        assert status == 403 and "access-control-allow-origin" not in headers
        assert _request(proc.url, "GET", "/")[0] == 405  # POST / only, as before the explorer
        assert _request(proc.url, "GET", "/explorer/app.js")[0] == 404
        with RpcClient(proc.url) as rpc, pytest.raises(JsonRpcError) as err:
            rpc.call("explorer_dashboard")
        assert err.value.code == -32601


def test_sampler_takes_a_sample_a_second(server: SequencerProcess) -> None:
    with RpcClient(server.url) as rpc:
        before = rpc.call("explorer_dashboard")["ingest"]["samples"]
        time.sleep(2.2)
        after = rpc.call("explorer_dashboard", before[-1][0])["ingest"]["samples"]
        assert 1 <= len(after) <= 3
