"""Smoke tests of the benchmark suite with tiny parameters: the hammer verifies what it is
served (a corrupted answer fails the run), and a whole suite run writes the documented keys."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import hammer, suite
from bench.bench_ingest import unsigned_bodies
from sequencer.devnet.process import SequencerProcess

TINY = replace(
    suite.QUICK, mode="tiny", ingest_seconds=0.4, ingest_signed_seconds=0.2, batch=20,
    connections=2, hammer_seconds=0.4, hammer_l1=False, proofs_records=2000,
    proofs_seconds=0.3, proofs_connections=2, proofs_batch=8, verify_seconds=0.1,
    tree_n=2000, tree_proofs=20, tree_pymerkle_n=500, restart_records=3000, restart_group=1000,
    validator_events=600, validator_signed_events=300, validator_repeats=1,
)  # fmt: skip

#: Every key the issue requires in --json (dotted paths into the nested result).
REQUIRED = (
    "ingest.unsigned_eps", "ingest.signed_eps", "ingest.ack_p50_ms", "ingest.ack_p99_ms",
    "floor.unsigned_eps", "tree.ours_s", "tree.pymerkle_s", "tree.floor_s",
    "proofs.serve_per_s", "proofs.verify_per_s", "restart.reopen_s", "l1.commit_gas",
    "l1.naive_registry_gas_per_event", "machine.cores", "machine.cpu", "machine.python",
    "client.batcher_eps", "client.client_vs_eth_account", "client.fingerprint_vs_sha256sum",
    "params.mode", "validator.eps", "validator.signed_eps", "validator.eps_vs_ingest",
    "validator.signed_eps_vs_ingest",
)  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with SequencerProcess(tmp_path_factory.mktemp("seq")) as proc:
        yield proc.url


class _Corrupter(BaseHTTPRequestHandler):
    """Forwards JSON-RPC to the sequencer; flips one hex digit in answers that match."""

    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int]
    pattern: re.Pattern[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        conn.request("POST", "/", body, {"Content-Type": "application/json"})
        answer = conn.getresponse().read()
        conn.close()
        m = self.pattern.search(answer)
        if m:  # flip the digit right after the match: a one-bit lie
            at = m.end()
            flipped = b"1" if answer[at : at + 1] != b"1" else b"2"
            answer = answer[:at] + flipped + answer[at + 1 :]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def corrupting_proxy(server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    host, port = server.removeprefix("http://").rsplit(":", 1)
    handler = type("H", (_Corrupter,), {"upstream": (host, int(port)),
                                        "pattern": re.compile(request.param)})  # fmt: skip
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_hammer_verifies_while_writing(server: str) -> None:
    cfg = hammer.HammerConfig(server, seconds=0.4, connections=2, readers=1, proofs_per_round=8)
    out = hammer.run(cfg, unsigned_bodies(4, 20))
    assert out["max"]["events"] > 0 and out["half"]["events"] > 0
    assert out["inclusion_verified"] > 0
    assert out["acks_audited"] > 0
    # Unsigned events are always new records: the log grew by exactly what was acknowledged.
    assert out["log_growth"] == out["max"]["events"] + out["half"]["events"]
    assert out["l1_attached"] is False and out["checkpoint_marks"] == []
    lat = out["max"]["latencies_ms"]
    assert len(lat) == out["max"]["requests"] and lat == sorted(lat)


@pytest.mark.parametrize(
    "corrupting_proxy",
    [
        rb'"proof":\["0x',  # the first hash of an inclusion (or consistency) audit path
        rb'"secondRoot":"0x',  # a consistency answer's new root
        rb'"record":"0x[0-9a-f]{60}',  # the record (its seq word's low byte)
    ],
    indirect=True,
    ids=["proof-hash", "consistency-root", "record"],
)
def test_a_corrupted_answer_fails_the_hammer(server: str, corrupting_proxy: str) -> None:
    cfg = hammer.HammerConfig(server, seconds=0.3, connections=1, readers=1,
                              proofs_per_round=8, half_rate_phase=False,
                              read_url=corrupting_proxy)  # fmt: skip
    with pytest.raises(hammer.HammerFailedError) as err:
        hammer.run(cfg, unsigned_bodies(4, 20))
    assert err.value.failures and all("reader 0" in f or "audit" in f for f in err.value.failures)


@pytest.mark.slow  # every phase of the suite, L1 included, with real processes
def test_suite_writes_the_documented_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # Every stage but the hammer (tested above on its own): the suite's wiring and keys.
    stages = [name for name, _, _ in suite.STAGES if name != "hammer"]
    code = suite.run_and_report(TINY, stages, out, None)
    result = json.loads(out.read_text())
    assert code == 0, result["errors"]
    for key in REQUIRED:
        value = suite.lookup(result, key)
        assert value is not None, key
    assert {g["key"] for g in result["goals"]} == {g.key for g in suite.GOALS}
    assert result["tree"]["roots_match"] is True


def test_validator_stage_beside_ingest() -> None:
    """Issue 11: replicate-and-check measured in the same run as ingest, and divided by it."""
    result = suite.run_suite(TINY, only=["ingest", "validator"])
    assert result["errors"] == {}
    v, ingest = result["validator"], result["ingest"]
    assert v["eps"] > 0 and v["signed_eps"] > 0
    assert v["eps_vs_ingest"] == v["eps"] / ingest["unsigned_eps"]
    assert v["signed_eps_vs_ingest"] == v["signed_eps"] / ingest["signed_eps"]
    raw = result["raw"]["validator"]
    # The whole log was replicated and judged honest (a violation fails the stage).
    assert raw["unsigned"]["records"] == 600 and raw["signed"]["records"] == 300
    shares = raw["unsigned"]["breakdown"]
    assert abs(shares["fetch_share"] + shares["parse_share"] + shares["ingest_share"] - 1) < 1e-9
    verdicts = {g["key"]: g for g in result["goals"]}
    assert verdicts["validator.eps_vs_ingest"]["value"] == v["eps_vs_ingest"]
