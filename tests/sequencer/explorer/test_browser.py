"""The explorer in a real browser (the system's headless Chromium driven by Playwright) against
real devnets: the dashboard follows ingest, search finds events, an event verifies in the
browser against L1, a hostile upstream's tampered proof fails at the step that catches it, a
proven fault shows its checkpoint reverted and its events unverifiable, and the pages fit a
phone's width.

Screenshots go to a temporary folder; with ``ATTEST_SCREENSHOTS=docs/explorer`` they are
written there (the README shows them).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright import sync_api  # a dev dependency (make install); drives the system Chromium

from sequencer.client.forced import force, post_forced
from sequencer.client.sync import Client
from sequencer.devnet.process import DevnetProcess
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import ALICE_KEY, forced_event, h32, signed, unsigned
from tests.sequencer.validator.helpers import (
    devnet_args,
    events,
    pin_l1_ahead,
    rollup,
    validator_for,
)
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install -y chromium "
            "(or set CHROMIUM); `make browser` checks it"
        )
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("ATTEST_SCREENSHOTS")
    folder = ROOT / wanted if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def devnet() -> Iterator[DevnetProcess]:
    """An honest devnet with its validator; some signed and unsigned events, checkpointed."""
    with DevnetProcess(
        validator=True, extra_args=["--checkpoint-interval", "0.5", "--challenge-window", "60"]
    ) as d:
        with RpcClient(d.url, token="dev") as rpc:
            chain_id = rpc.call("attest_status")["eip712Domain"]["chainId"]
            rpc.call(
                "attest_submitBatch",
                [unsigned(i, meta={"model": f"m-{i}", "latencyMs": 10 + i}) for i in range(12)],
            )
            rpc.call(
                "attest_submitBatch",
                [
                    signed(
                        ALICE_KEY, n, chain_id=chain_id, contract=d.contract, meta={"release": n}
                    )
                    for n in range(4)
                ],
            )
            wait_for(
                lambda: (cp := rpc.call("attest_getCheckpoint", "latest")) and cp["treeSize"] == 16,
                what="a checkpoint covering every event",
            )
        yield d


def _open(browser: Any, url: str, viewport: dict[str, int] = DESKTOP) -> Any:
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url)
    return page


def _until(page: Any, predicate: Any, what: str, timeout: float = 30.0) -> Any:
    """Poll `predicate(page)` from here (the pages' CSP forbids the string evaluation that
    Playwright's wait_for_function uses, which is as it should be)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate(page)
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def _text(page: Any, selector: str) -> str:
    el = page.query_selector(selector)
    return str(el.inner_text()) if el is not None else ""


def _tree_size(page: Any) -> int:
    return int(page.inner_text("#tree-size").replace(",", ""))


def test_dashboard_tree_size_grows_while_events_arrive(
    browser: Any, devnet: DevnetProcess, shots: Path
) -> None:
    page = _open(browser, devnet.url + "/")
    page.wait_for_selector("#tree-size")
    before = _tree_size(page)
    stop = threading.Event()

    def submit() -> None:
        with RpcClient(devnet.url, token="dev") as rpc:
            i = 1000
            while not stop.is_set():
                rpc.call("attest_submitBatch", [unsigned(i + k) for k in range(50)])
                i += 50
                time.sleep(0.1)

    t = threading.Thread(target=submit, daemon=True)
    t.start()
    try:
        grown = _until(page, lambda p: (n := _tree_size(p)) > before and n, "the tree size to grow")
        _until(page, lambda p: _tree_size(p) > grown, "the tree size to grow again")
        # The chart has points and the ingest rate is measured, not a placeholder.
        page.wait_for_selector("#chart polyline")
        _until(page, lambda p: not _text(p, "#ingest-rate").startswith("0/"), "an ingest rate")
    finally:
        stop.set()
        t.join()
    # The L1 panel is read by the browser; the validator appears among the followers.
    page.wait_for_selector("#l1-frozen")
    assert page.inner_text("#l1-frozen") == "no"
    _until(
        page,
        lambda p: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" in p.inner_text("body"),
        "the devnet's validator among the followers",
    )
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert page.errors == []


def _dashboard_polls(page: Any) -> list[str]:
    """Record every explorer_dashboard call the page makes over JSON-RPC (polling)."""
    calls: list[str] = []

    def seen(request: Any) -> None:
        body = request.post_data or ""
        if request.method == "POST" and "explorer_dashboard" in body:
            calls.append(body)

    page.on("request", seen)
    return calls


def test_dashboard_updates_by_server_sent_events(browser: Any, devnet: DevnetProcess) -> None:
    """The dashboard follows ingest through GET /explorer/live, without one JSON-RPC poll."""
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(30_000)
    polls = _dashboard_polls(page)
    page.goto(devnet.url + "/")
    _until(page, lambda p: "server-sent events" in _text(p, "#live-mode"), "the live stream")
    before = _tree_size(page)
    with RpcClient(devnet.url, token="dev") as rpc:
        rpc.call("attest_submitBatch", [unsigned(3000 + k) for k in range(25)])
    _until(page, lambda p: _tree_size(p) >= before + 25, "the pushed tree size")
    page.wait_for_selector("#chart polyline")
    assert polls == [], f"the dashboard polled {len(polls)} times while its stream was open"
    assert "server-sent events" in _text(page, "#live-mode")
    page.close()


def test_dashboard_falls_back_to_polling_when_the_stream_is_refused(
    browser: Any, devnet: DevnetProcess
) -> None:
    """At the per-address cap of live streams the node answers 503; the page polls instead."""
    parts = urlsplit(devnet.url)
    held = []
    try:
        # Take every live stream 127.0.0.1 may hold (sequencer.explorer.live's per-address cap;
        # other tests' pages may hold some already) until the node refuses one.
        while True:
            sock = socket.create_connection((parts.hostname or "", parts.port or 80))
            held.append(sock)
            sock.sendall(b"GET /explorer/live HTTP/1.1\r\nHost: x\r\n\r\n")
            status = sock.recv(64)
            if status.startswith(b"HTTP/1.1 503"):
                break
            assert status.startswith(b"HTTP/1.1 200"), status
            assert len(held) <= 8, "more live streams from one address than the cap"
        page = browser.new_page(viewport=DESKTOP)
        page.set_default_timeout(30_000)
        polls = _dashboard_polls(page)
        page.goto(devnet.url + "/")
        _until(page, lambda p: "polling" in _text(p, "#live-mode"), "the fallback to polling")
        before = _tree_size(page)
        with RpcClient(devnet.url, token="dev") as rpc:
            rpc.call("attest_submitBatch", [unsigned(4000 + k) for k in range(9)])
        _until(page, lambda p: _tree_size(p) >= before + 9, "the polled tree size")
        assert polls, "the refused dashboard did not poll"
        page.close()
    finally:
        for sock in held:
            sock.close()


def test_search_finds_an_event_by_digest_and_by_subject(
    browser: Any, devnet: DevnetProcess
) -> None:
    digest = h32("digest-5")
    page = _open(browser, devnet.url + "/")
    page.fill("#search-input", digest)
    page.press("#search-input", "Enter")
    page.wait_for_selector("#by-digest a[href='#/event/5']")
    subject = h32("subject-5")  # event 5 (unsigned(i) has subject i % 7)
    page.goto(f"{devnet.url}/#/search/{subject}")
    page.wait_for_selector("#by-subject a[href='#/event/5']")
    page.click("text=Timeline of this subject")
    page.wait_for_selector("#subject-timeline a[href='#/event/5']")
    # A number finds the event, the block and the checkpoint of that number.
    page.goto(f"{devnet.url}/#/search/0")
    page.wait_for_selector("a[href='#/event/0']")
    page.wait_for_selector("a[href='#/checkpoint/0']")
    assert page.errors == []


def _verdict(page: Any) -> dict[str, str]:
    page.wait_for_selector("#verdict[data-ok]", timeout=60_000)
    return {
        "ok": page.get_attribute("#verdict", "data-ok"),
        "failed": page.get_attribute("#verdict", "data-failed-step"),
        "text": page.inner_text("#verdict"),
    }


def test_event_verifies_in_the_browser_against_l1(
    browser: Any, devnet: DevnetProcess, shots: Path, tmp_path: Path
) -> None:
    page = _open(browser, f"{devnet.url}/#/event/13")  # a signed event with meta
    verdict = _verdict(page)
    assert verdict["ok"] == "true", verdict
    steps = page.query_selector_all("#verify-steps li")
    assert [s.get_attribute("data-step") for s in steps] == [
        "l1",
        "fetch",
        "record",
        "leaf",
        "meta",
        "signature",
        "inclusion",
        "status",
    ]
    assert all(s.get_attribute("class") == "pass" for s in steps)
    assert "recovers to 0x70997970c51812dc3a010c7d01b50e0d17dc79c8" in page.inner_text(
        "#verify-steps"
    )  # Alice
    assert "pending" in verdict["text"] or "final" in verdict["text"]
    page.screenshot(path=str(shots / "event-verified.png"), full_page=True)
    # The bundle downloads in `attest proof export` format, and `attest verify --bundle` accepts it.
    with page.expect_download() as info:
        page.click("#bundle-link")
    bundle = tmp_path / "bundle.json"
    info.value.save_as(bundle)
    data = json.loads(bundle.read_text())
    assert data["format"] == "attest-proof-bundle/1" and data["seq"] == 13
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "verify",
            "--bundle",
            str(bundle),
            "--l1-rpc",
            devnet.l1_rpc,
            "--contract",
            devnet.contract,
            "--allow-pending",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert page.errors == []


class _HostileProxy(ThreadingHTTPServer):
    """Serves the explorer of `upstream` (pages and JSON-RPC) but lies in what it relays: the
    server a visitor must not have to trust. `tamper` is "proof" (a byte of every inclusion
    proof flipped) or "event" (the digest of every event shown replaced)."""

    daemon_threads = True

    def __init__(self, upstream: str, tamper: str) -> None:
        self.upstream = urlsplit(upstream)
        self.tamper = tamper
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _HostileProxy
    protocol_version = "HTTP/1.1"

    def _relay(self, body: bytes | None) -> None:
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname or "", up.port or 80, timeout=10)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() in ("content-type", "if-none-match")
        }
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if self.command == "POST" and body is not None:
            data = self._tamper(json.loads(body), json.loads(data), self.server.tamper)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "connection", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    @staticmethod
    def _tamper(request: Any, answer: Any, what: str) -> bytes:
        pairs = (
            zip(request, answer, strict=False) if isinstance(request, list) else [(request, answer)]
        )
        for req, ans in pairs:
            result = ans.get("result") if isinstance(ans, dict) else None
            if (
                what == "proof"
                and req.get("method") == "attest_getProof"
                and result
                and result["proof"]
            ):
                first = result["proof"][0]
                result["proof"][0] = first[:-2] + ("00" if first[-2:] != "00" else "01")
            if what == "event" and req.get("method") == "attest_getEvent" and result:
                # Word 4 (digest) of the record, and the JSON field, both rewritten.
                fake = "ab" * 32
                record = result["record"]
                result["record"] = record[: 2 + 4 * 64] + fake + record[2 + 5 * 64 :]
                result["digest"] = "0x" + fake
        return json.dumps(answer).encode()

    def do_GET(self) -> None:
        self._relay(None)

    def do_POST(self) -> None:
        self._relay(self.rfile.read(int(self.headers["Content-Length"])))

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_tampered_proof_from_a_hostile_upstream_fails_and_says_where(
    browser: Any, devnet: DevnetProcess
) -> None:
    proxy = _HostileProxy(devnet.url, "proof")
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        page = _open(browser, f"{url}/#/event/3")
        verdict = _verdict(page)
        assert verdict["ok"] == "false" and verdict["failed"] == "inclusion", verdict
        assert "Inclusion" in verdict["text"] or "inclusion" in verdict["text"]
        failed = page.inner_text("#verify-steps li[data-step='inclusion']")
        assert "L1's checkpoint" in failed and "root" in failed
        # Everything before the proof step held: the record itself was served honestly.
        for step in ("l1", "fetch", "record", "leaf", "signature"):
            assert page.get_attribute(f"#verify-steps li[data-step='{step}']", "class") == "pass"
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_hostile_upstream_showing_another_event_is_caught(
    browser: Any, devnet: DevnetProcess
) -> None:
    """The page shows what the record bytes say; a server that shows one record and proves
    another fails at the record step."""
    proxy = _HostileProxy(devnet.url, "event")
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        page = _open(browser, f"http://127.0.0.1:{proxy.server_address[1]}/#/event/3")
        verdict = _verdict(page)
        assert verdict["ok"] == "false" and verdict["failed"] == "record", verdict
        assert "another record" in _text(page, "#verify-steps li[data-step='record']")
        assert "0x" + "ab" * 32 in page.inner_text("main")  # what the lie showed, refused
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_checkpoint_page_checks_consistency_with_the_previous_one(
    browser: Any, devnet: DevnetProcess
) -> None:
    with RpcClient(devnet.url, token="dev") as rpc:
        rpc.call("attest_submitBatch", [unsigned(500 + i) for i in range(7)])  # past checkpoint 0
        latest = wait_for(
            lambda: (cp := rpc.call("attest_getCheckpoint", "latest")) and cp["index"] >= 1 and cp,
            what="a second checkpoint",
        )
    page = _open(browser, f"{devnet.url}/#/checkpoint/{latest['index']}")
    _until(
        page,
        lambda p: "✓" in _text(p, "#consistency") or "✗" in _text(p, "#consistency"),
        "the consistency check",
    )
    assert page.get_attribute("#consistency", "class") == "pass", _text(page, "#consistency")
    assert "checked against both L1 roots" in _text(page, "#consistency")
    assert "pending" in _text(page, "#l1-status") or "final" in _text(page, "#l1-status")
    assert page.errors == []


def test_a_validator_serves_the_same_explorer_from_its_replica(
    browser: Any, devnet: DevnetProcess
) -> None:
    assert devnet.validator_url is not None
    # Its replica has the same indexes: a leaf-hash search answers as the sequencer's does.
    with RpcClient(devnet.url) as seq_rpc, RpcClient(devnet.validator_url) as val_rpc:
        leaf = seq_rpc.call("attest_getEvent", 13)["leafHash"]
        found = wait_for(
            lambda: val_rpc.call("attest_findByLeafHash", leaf)["seqs"] or None,
            what="the validator to replicate event 13",
        )
        assert found == seq_rpc.call("attest_findByLeafHash", leaf)["seqs"] == [13]
    page = _open(browser, f"{devnet.validator_url}/#/event/13")
    verdict = _verdict(page)
    assert verdict["ok"] == "true", verdict
    page.goto(devnet.validator_url + "/")
    _until(
        page,
        lambda p: _text(p, ".card:last-child .value") == "validator",
        "the validator's dashboard",
    )
    assert _tree_size(page) >= 16
    assert page.errors == []


def test_pages_fit_a_phone(browser: Any, devnet: DevnetProcess) -> None:
    for path, ready in (
        ("/", "#tree-size"),
        ("/#/event/13", "#verdict[data-ok]"),
        ("/#/block/0", "table"),
        ("/#/checkpoint/0", "#l1-status"),
    ):
        page = _open(browser, devnet.url + path, PHONE)
        page.wait_for_selector(ready, timeout=60_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px screen"
        assert page.errors == []
        page.close()


def test_leaf_hash_search_and_unsigned_submitter_page(browser: Any, devnet: DevnetProcess) -> None:
    with RpcClient(devnet.url) as rpc:
        event = rpc.call("attest_getEvent", 6)
    page = _open(browser, devnet.url + "/")
    page.fill("#search-input", event["leafHash"])
    page.press("#search-input", "Enter")
    page.wait_for_selector("#by-leaf-hash a[href='#/event/6']")
    assert page.query_selector("#by-subject") is None  # no event has it as its subject
    # Unsigned events are listed under the token's address, signed ones under their signer.
    page.goto(f"{devnet.url}/#/submitter/{event['submitter']}")
    page.wait_for_selector("#by-submitter-unsigned a[href='#/event/6']")
    assert page.query_selector("#by-submitter a[href='#/event/6']") is None
    page.goto(f"{devnet.url}/#/search/0x{'00' * 32}")
    page.wait_for_selector("#no-match")
    assert page.errors == []


def _attest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def _status(page: Any) -> str:
    page.wait_for_selector("#revocation-status[data-status]")
    return str(page.get_attribute("#revocation-status", "data-status"))


def test_event_page_shows_revoked_and_superseded(
    browser: Any, devnet: DevnetProcess, shots: Path
) -> None:
    """`attest revoke` by the same token, then a newer version naming an older one: the event
    pages say revoked / superseded, with links; a revocation by another submitter (Alice's
    key naming the leaf hash) is not believed."""
    subject = h32("model-under-audit")
    with RpcClient(devnet.url, token="dev") as rpc:
        chain_id = rpc.call("attest_status")["eip712Domain"]["chainId"]

        def submit(ev: dict[str, Any]) -> dict[str, Any]:
            placed: dict[str, Any] = rpc.call("attest_submit", ev)
            return placed

        v1 = submit({"kind": "model_fingerprint", "subject": subject, "digest": h32("weights-1")})
        v2 = submit({"kind": "model_fingerprint", "subject": subject, "digest": h32("weights-2")})
        v3 = submit(
            {
                "kind": "model_fingerprint",
                "subject": subject,
                "digest": h32("weights-3"),
                "meta": {"supersedes": v2["leafHash"], "version": 3},
            }
        )
        # Alice (another submitter) claims to revoke v3: not hers to revoke.
        forged = signed(
            ALICE_KEY,
            900,
            chain_id=chain_id,
            contract=devnet.contract,
            kind="revocation",
            digest=v3["leafHash"],
        )
        submit(forged)
    revoke = ["revoke", "--seq", str(v1["seq"]), "--reason", "found biased"]
    out = _attest(*revoke, "--token", "dev", "--rpc", devnet.url)
    assert out.returncode == 0, out.stdout + out.stderr

    page = _open(browser, f"{devnet.url}/#/event/{v1['seq']}")
    assert _status(page) == "revoked"
    assert "found biased" in _text(page, "#revoked-by")
    page.wait_for_selector("#revoked-by a")
    page.screenshot(path=str(shots / "event-revoked.png"), full_page=True)
    page.goto(f"{devnet.url}/#/event/{v2['seq']}")
    _until(
        page,
        lambda p: p.get_attribute("#revocation-status", "data-status") == "superseded",
        "superseded",
    )
    page.wait_for_selector(f"#revoked-by a[href='#/event/{v3['seq']}']")
    page.goto(f"{devnet.url}/#/event/{v3['seq']}")
    _until(
        page,
        lambda p: p.get_attribute("#revocation-status", "data-status") == "none",
        "not revoked",
    )
    assert page.errors == []


@pytest.mark.slow
def test_proven_fault_shows_the_checkpoint_reverted(
    browser: Any, tmp_path: Path, shots: Path
) -> None:
    """`--inject bad-signature` with a validator: once the fraud is proven on L1, the checkpoint
    reads reverted in the browser, and its events fail verification at the L1 step."""
    with DevnetProcess(extra_args=devnet_args("bad-signature")) as devnet:
        w3, contract = rollup(devnet)
        pin_l1_ahead(w3, 3)  # as test_e2e_faults: keeps rule 4b out of the picture
        with validator_for(devnet, tmp_path / "v"), RpcClient(devnet.url, token="dev") as rpc:
            rpc.call("attest_submitBatch", [unsigned(i) for i in range(10)])
            rpc.call("attest_submitBatch", [unsigned(100 + i) for i in range(5)])
            (proven,) = wait_for(
                lambda: events(contract, "FraudProven"),
                timeout=90,
                what="the validator's fraud proof",
            )
            reverted = proven["args"]["checkpointIndex"]
            page = _open(browser, f"{devnet.url}/#/checkpoint/{reverted}")
            _until(
                page,
                lambda p: "reverted" in _text(p, "#l1-status"),
                "the checkpoint to read reverted",
            )
            page.wait_for_selector("#reverted-note")
            page.screenshot(path=str(shots / "checkpoint-reverted.png"), full_page=True)
            page.goto(f"{devnet.url}/#/event/0")
            verdict = _verdict(page)
            assert verdict["ok"] == "false" and verdict["failed"] == "l1", verdict
            assert "reverted" in page.inner_text("#verify-steps")
            # The dashboard's timeline shows the fraud proof and the revert, read from L1.
            page.goto(devnet.url + "/")
            page.wait_for_selector("#timeline li.fraud")
            page.wait_for_selector("#timeline li.reverted")
            assert page.inner_text("#l1-frozen") == "yes"
            assert page.errors == []


def test_inbox_shows_a_forced_event_included_and_its_event_page_marks_it(
    browser: Any, devnet: DevnetProcess, shots: Path
) -> None:
    """A forced event posted through the client library's `force` (`attest force`'s call) on
    an honest devnet: the inbox page shows it included at its seq, linking to its event page,
    which marks it forced and verifies it in the browser against L1's inbox entry."""
    with Client(devnet.url) as client:
        done = force(client, *forced_event(devnet.l1_rpc, devnet.contract, 1), timeout=120)
    j = done.post.entry.index
    page = _open(browser, f"{devnet.url}/#/inbox")
    _until(page, lambda p: "included" in _text(p, f"#inbox-{j}"), "the entry included")
    assert f"at seq {done.seq:,}" in _text(page, f"#inbox-{j}")
    _until(page, lambda p: _text(p, "#l1-forced-included") == f"{j + 1}", "L1's included count")
    assert _text(page, "#l1-inbox-count") == f"{j + 1}"
    page.screenshot(path=str(shots / "inbox.png"), full_page=True)
    page.click(f"#inbox-{j} a")
    page.wait_for_selector("#forced-note")
    assert f"entry {j}" in _text(page, "#forced-note")
    verdict = _verdict(page)
    assert verdict["ok"] == "true", verdict
    steps = _text(page, "#verify-steps")
    assert f"forced: L1 inbox entry {j}" in steps and f"at seq {done.seq}" in steps
    assert page.errors == []


def test_inbox_shows_a_censored_forced_event_posted_then_overdue(browser: Any) -> None:
    """`--inject ignore-forced`: the sequencer reads the inbox but never logs the event; the
    inbox page shows it posted, then overdue once its deadline (30 s on the devnet) passes."""
    with DevnetProcess(extra_args=[*devnet_args(), "--inject", "ignore-forced"]) as devnet:
        post = post_forced(*forced_event(devnet.l1_rpc, devnet.contract, 2))
        j = post.entry.index
        page = _open(browser, f"{devnet.url}/#/inbox")
        _until(page, lambda p: "posted" in _text(p, f"#inbox-{j}"), "the entry posted")
        _until(
            page,
            lambda p: "overdue" in _text(p, f"#inbox-{j}"),
            "the entry overdue",
            timeout=90,
        )
        assert "can no longer commit without it" in _text(page, f"#inbox-{j}")
        assert page.query_selector(f"#inbox-{j} a") is None  # no event to link to
        assert _text(page, "#l1-forced-included") == "0"
        assert page.errors == []


def test_screenshots_are_committed() -> None:
    """The README shows them; `ATTEST_SCREENSHOTS=docs/explorer` regenerates them."""
    for name in (
        "dashboard.png",
        "event-verified.png",
        "checkpoint-reverted.png",
        "event-revoked.png",
        "inbox.png",
    ):
        path = ROOT / "docs" / "explorer" / name
        assert path.is_file() and path.stat().st_size > 10_000, path
        assert f"docs/explorer/{name}" in (ROOT / "README.md").read_text()
