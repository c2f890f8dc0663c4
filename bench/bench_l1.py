"""L1 round trips the committer and the validator pay: one `eth_blockNumber` on a kept-alive
connection, and one transaction until its receipt, on the embedded devnet node and on anvil.

Without TCP_NODELAY on the node's socket, each keep-alive answer stalls ~40 ms (Nagle's
algorithm plus the client's delayed ACK); a healthy node answers in well under 20 ms. This was
a bound in tests/l1_contracts/test_devnet_node.py, where a busy machine made it flaky; the test
now checks the behaviour and this script measures the time.

    python -m bench.bench_l1            # prints a JSON report; anvil is skipped if absent
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from web3 import Web3
from web3.types import Wei

from l1_contracts.accounts import SEQUENCER_ADDRESS, VALIDATOR_ADDRESS
from l1_contracts.anvil import AnvilNotFoundError, find_anvil, start_anvil
from l1_contracts.devnet_node import start_devnet_subprocess, stop_process


@contextmanager
def _node(kind: str) -> Iterator[str]:
    proc: subprocess.Popen[Any]
    if kind == "embedded":
        proc, url = start_devnet_subprocess(port=0)
    else:
        proc, url = start_anvil(port=0, anvil=find_anvil())
    try:
        yield url
    finally:
        stop_process(proc)


def round_trips(url: str, calls: int = 200, warmup: int = 20) -> dict[str, float]:
    """Median and p99 of `eth_blockNumber` on one kept-alive connection, in ms."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    samples: list[float] = []
    try:
        for _ in range(warmup + calls):
            t0 = time.perf_counter()
            conn.request("POST", "/", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200 or "result" not in json.loads(resp.read()):
                raise RuntimeError(f"{url}: eth_blockNumber failed ({resp.status})")
            samples.append(time.perf_counter() - t0)
    finally:
        conn.close()
    kept = sorted(samples[warmup:])
    return {
        "rtt_median_ms": statistics.median(kept) * 1000,
        "rtt_p99_ms": kept[int(0.99 * (len(kept) - 1))] * 1000,
    }


def transactions(url: str, count: int = 10) -> dict[str, float]:
    """Median time from sending a value transfer to holding its receipt, in ms."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    samples: list[float] = []
    for _ in range(count):
        t0 = time.perf_counter()
        tx_hash = w3.eth.send_transaction(
            {"from": SEQUENCER_ADDRESS, "to": VALIDATOR_ADDRESS, "value": Wei(1)}
        )
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        samples.append(time.perf_counter() - t0)
    return {"tx_receipt_median_ms": statistics.median(samples) * 1000}


def run() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("embedded", "anvil"):
        try:
            with _node(kind) as url:
                out[kind] = {**round_trips(url), **transactions(url)}
        except AnvilNotFoundError as exc:
            out[kind] = {"skipped": str(exc)}
    return out


def main() -> int:
    print(json.dumps(run(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
