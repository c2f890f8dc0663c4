"""Every metric of `attest serve` moves by the expected amount, read through `GET /metrics`.

A real sequencer process, known actions, then a scrape over HTTP: N calls of method M add N to
`attest_rpc_requests_total{method=M, outcome=...}`, submissions that fill K blocks leave
`attest_blocks == K`, and so on. (The L1 gauges are checked in tests/sequencer/l1/test_e2e_l1.py,
the validator's in tests/sequencer/validator/test_e2e_honest.py.)
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from prover.jsonrpc import JsonRpcError
from sequencer.devnet.process import SequencerProcess
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import ALICE_KEY, h32, signed, unsigned
from tests.sequencer.scrape import Scrape, scrape

B = 4  # records per block: 10 events seal 2 blocks, 12 seal 3


def _requests(s: Scrape, method: str, outcome: str = "ok") -> float:
    return s("attest_rpc_requests_total", method=method, outcome=outcome)


@pytest.mark.parametrize("workers", [0, 1], ids=["event-loop", "ingest-pool"])
def test_metrics_follow_requests_commits_and_blocks(tmp_path: Path, workers: int) -> None:
    config = tmp_path / "sequencer.toml"
    # No time-based seal within the test: blocks close only when B records fill them.
    config.write_text(f"[serve]\nblock_max_records = {B}\nblock_interval_ms = 3600000\n")
    args = ["--ingest-workers", str(workers)]
    with (
        SequencerProcess(tmp_path / "d", config=config, extra_args=args) as proc,
        RpcClient(proc.url, token="dev") as rpc,
        RpcClient(proc.url) as anon,
    ):
        s0 = scrape(rpc)
        assert (
            s0("attest_tree_size"),
            s0("attest_blocks"),
            s0("attest_events_accepted_total"),
        ) == (0, 0, 0)
        assert s0("attest_l1_up") == 0  # no L1 attached

        # Writes: one batch of 10 (one group commit), then 2 single events.
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(10)])
        s1 = scrape(rpc)
        assert s1("attest_events_accepted_total") == 10
        assert s1("attest_tree_size") == 10
        assert s1("attest_blocks") == 2  # [0, 4) and [4, 8) sealed; 8 and 9 wait in the open block
        assert (
            s1("attest_group_commit_size_count") == 1 and s1("attest_group_commit_size_sum") == 10
        )
        assert s1("attest_group_commit_seconds_count") == 1
        assert s1("attest_queue_depth") == 0
        for i in range(2):
            rpc.call("attest_submit", unsigned(100 + i))
        s2 = scrape(rpc)
        assert s2("attest_events_accepted_total") == 12
        assert (s2("attest_tree_size"), s2("attest_blocks")) == (12, 3)
        assert (
            s2("attest_group_commit_size_count") == 3 and s2("attest_group_commit_size_sum") == 12
        )
        assert _requests(s2, "attest_submitBatch") == 1 and _requests(s2, "attest_submit") == 2

        # Reads, by method and outcome; a JSON batch counts once per entry.
        for seq in range(5):
            rpc.call("attest_getEvent", seq)
        for _ in range(2):
            with pytest.raises(JsonRpcError):
                rpc.call("attest_getEvent", 10**6)
        with pytest.raises(JsonRpcError):
            rpc.call("attest_getEvent", "x")
        rpc.batch([("attest_status", [])] * 3)
        with pytest.raises(JsonRpcError):
            rpc.call("no_such_method")
        assert rpc.post_raw(b"{not json").status == 200
        s3 = scrape(rpc)
        assert _requests(s3, "attest_getEvent") == 5
        assert _requests(s3, "attest_getEvent", "not_found") == 2
        assert _requests(s3, "attest_getEvent", "invalid_params") == 1
        assert _requests(s3, "attest_status") == 3
        assert _requests(s3, "unknown", "method_not_found") == 1
        assert _requests(s3, "invalid", "parse_error") == 1

        # Refusals: counted by request outcome, and by event in attest_events_rejected.
        with pytest.raises(JsonRpcError):
            anon.call("attest_submitBatch", [unsigned(200 + i) for i in range(3)])
        rpc.call("attest_submit", signed(ALICE_KEY, 7))
        with pytest.raises(JsonRpcError):  # the same nonce for another event
            rpc.call("attest_submit", signed(ALICE_KEY, 7, digest=h32("another output")))
        s4 = scrape(rpc)
        assert _requests(s4, "attest_submitBatch", "unauthorized") == 1
        assert s4("attest_events_rejected_total", reason="unauthorized") == 3
        assert _requests(s4, "attest_submit") == 3
        assert _requests(s4, "attest_submit", "replay") == 1
        assert s4("attest_events_rejected_total", reason="replay") == 1
        assert s4("attest_events_accepted_total") == 13 and s4("attest_tree_size") == 13
        assert s4("attest_blocks") == 3
        assert s4("attest_queue_depth") == 0

    # A restart starts its counters afresh, and its gauges from the store.
    with SequencerProcess(tmp_path / "d", config=config) as proc, RpcClient(proc.url) as rpc:
        s5 = scrape(rpc)
        assert (s5("attest_tree_size"), s5("attest_blocks")) == (13, 3)
        assert s5("attest_events_accepted_total") == 0
        health = orjson.loads(rpc.request("GET", "/health").body)
        assert health["treeSize"] == 13
