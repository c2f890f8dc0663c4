"""A hostile upstream for the validator's tests: a real HTTP server in its own process.

    python -m tests.sequencer.validator.hostile_upstream BEHAVIOUR HONEST_URL

It answers JSON-RPC on 127.0.0.1 (a free port, printed as ``hostile upstream listening on
http://127.0.0.1:PORT``) and misbehaves as BEHAVIOUR says (see `BEHAVIOURS`), using the
honest sequencer at HONEST_URL where it needs real data to lie convincingly.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from prover.answers import block_json, event_json
from prover.block import GENESIS_PARENT_HASH, BlockHeader
from prover.eip712 import Domain, Signer, address_of_private_key
from prover.hashing import leaf_hash
from prover.jsonrpc import NOT_FOUND
from prover.receipt import receipt_to_json, sign_block_receipt
from prover.record import Record, encode_kind, encode_record
from prover.tree import MemoryTree

ATTACKER_KEY = bytes.fromhex("2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6")
"""Dev account 9's key: any key but the sequencer's."""

BEHAVIOURS = (
    "drip",  # the honest answer, one byte every 2 s
    "stall",  # accepts, never answers
    "truncated",  # half the honest answer, then closes
    "oversized",  # an endless answer
    "error-not-object",  # {"error": "boom"}
    "code-not-integer",  # {"error": {"code": 1.5, ...}}
    "batch-non-objects",  # a batch answered [1, "a", null]
    "missing-ids",  # a batch answered without its ids
    "huge-numbers",  # latestBlock.number 1e30 (a float), block numbers 10**30
    "forged-ahead",  # the honest chain plus a forged block at latest + 1
    "forged-chain",  # a self-consistent chain of its own, longer than the honest one
    "withhold",  # serves nothing beyond the latest L1 checkpoint, and no receipts
    "flapping",  # two answers honest, two garbage, and so on
    "compact-malformed",  # compact blocks (getBlock(n, "records")) malformed, a new way each time
)
PIPELINE_BEHAVIOURS = (
    # Against the pipelined pull (tests/sequencer/validator/test_pipeline.py): what happens to
    # the range fetched while the one before it is checked.
    "forged-second-range",  # 1st attest_getBlock batch honest, later ones a forged next block
    "forged-then-stall",  # 1st attest_getBlock batch a forged block 0, later ones never answered
    "slow-after-first",  # honest, attest_getBlock batches after the first answered 1.5 s late
    "stall-after-first",  # honest, attest_getBlock batches after the first never answered
)
SLOW_S = 1.5
"""How late "slow-after-first" answers."""


def _honest(url: str, message: Any) -> Any:
    req = urllib.request.Request(
        url, data=orjson.dumps(message), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return orjson.loads(resp.read())


def _forged_record(seq: int) -> bytes:
    return encode_record(
        Record(
            seq,
            int(time.time() * 1000) - 60_000,
            encode_kind("sensor_hash"),
            b"\x66" * 32,
            seq.to_bytes(32, "big"),
            bytes(32),
            b"\x0a" * 20,
            0,
            0,
            bytes(32),
            bytes(32),
        )
    )


class Forger:
    """Blocks of forged records, continuing a given chain, receipts signed by the attacker."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.signer = Signer(ATTACKER_KEY)
        self.attacker = address_of_private_key(ATTACKER_KEY)

    def block(
        self, tree: MemoryTree, number: int, parent: bytes, *, receipt: bool
    ) -> dict[str, Any]:
        start = tree.size
        records = [_forged_record(seq) for seq in range(start, start + 4)]
        leaves = [leaf_hash(r) for r in records]
        tree.extend(leaves)
        header = BlockHeader(number, parent, start, tree.size, tree.root(), int(time.time() * 1000))
        out = block_json(header)
        out["events"] = [
            event_json(r, lh, None, number) for r, lh in zip(records, leaves, strict=True)
        ]
        if receipt:
            signed = sign_block_receipt(
                self.signer, self.domain.separator, header, leaves, 2_000_000_000
            )
            out["receipt"] = receipt_to_json(signed, self.attacker)
        return out


class Hostile:
    def __init__(self, behaviour: str, honest: str) -> None:
        self.behaviour = behaviour
        self.honest = honest
        self.requests = itertools.count()
        self.block_batches = itertools.count()
        self.late_batches = itertools.count()
        self.malformations = itertools.count()
        status = _honest(honest, {"jsonrpc": "2.0", "id": 1, "method": "attest_status"})
        d = status["result"]["eip712Domain"]
        self.forger = Forger(Domain(d["chainId"], bytes.fromhex(d["verifyingContract"][2:])))
        self.lock = threading.Lock()
        self.own: list[dict[str, Any]] = []
        self.own_tree = MemoryTree()
        if behaviour == "forged-chain":
            parent = GENESIS_PARENT_HASH
            for n in range(400):  # 1,600 records: longer than the honest log in the tests
                block = self.forger.block(self.own_tree, n, parent, receipt=n % 2 == 0)
                parent = bytes.fromhex(block["blockHash"][2:])
                self.own.append(block)

    # --- answers -----------------------------------------------------------------------------

    def answer(self, message: Any) -> Any:
        """The JSON answer to `message` (a request or a batch), lies included."""
        if self.behaviour in ("forged-second-range", "forged-then-stall") and _is_block_batch(
            message
        ):
            return self.forged_batch(message)
        if isinstance(message, list):
            answers = [self.one(m) for m in message]
            if self.behaviour == "batch-non-objects":
                return [1, "a", None][: len(answers)]
            if self.behaviour == "missing-ids":
                for a in answers:
                    a.pop("id", None)
            return answers
        return self.one(message)

    def one(self, req: dict[str, Any]) -> dict[str, Any]:
        rid, method, params = req.get("id"), req.get("method"), req.get("params") or []
        b = self.behaviour
        if b == "error-not-object":
            return {"jsonrpc": "2.0", "error": "boom", "id": rid}
        if b == "code-not-integer":
            return {"jsonrpc": "2.0", "error": {"code": 1.5, "message": "boom"}, "id": rid}
        if b == "forged-chain":
            return {"jsonrpc": "2.0", "id": rid, **self.own_chain(method, params)}
        answer = _honest(self.honest, req)
        result = answer.get("result")
        if b == "forged-ahead" and method == "attest_status" and result["latestBlock"]:
            result["latestBlock"]["number"] += 1
        if b == "forged-ahead" and method == "attest_getBlock" and "error" in answer:
            return {"jsonrpc": "2.0", "id": rid, "result": self.forged_next(params[0])}
        if b == "withhold":
            return self.withheld(req, answer)
        if b == "compact-malformed" and isinstance(result, dict) and "records" in result:
            self.malform(result)
        return answer

    def malform(self, block: dict[str, Any]) -> None:
        """One of the ways a compact block can be malformed, in turn."""
        records, metas = block["records"], block["metas"]
        how = next(self.malformations) % 6
        if how == 0:
            records[-1] = records[-1][:-2]  # 351 bytes
        elif how == 1:
            records[0] = "0x" + "zz" * 352  # not hex
        elif how == 2:
            block["records"] = "0x" + "".join(r[2:] for r in records)  # one string
        elif how == 3:
            block["metas"] = metas[:-1]  # one short
        elif how == 4:
            metas[0] = "meta"  # not an object
        else:
            records[0] = int(records[0][2:10], 16)  # a number

    def own_chain(self, method: Any, params: list[Any]) -> dict[str, Any]:
        if method == "attest_status":
            return {
                "result": {"latestBlock": {k: v for k, v in self.own[-1].items() if k != "events"}}
            }
        if method == "attest_getBlock" and isinstance(params[0], int) and params[0] < len(self.own):
            return {"result": self.own[params[0]]}
        if method == "attest_getConsistencyProof":
            first, second = params
            proof = self.own_tree.consistency_proof(first, second)
            return {
                "result": {
                    "first": first,
                    "second": second,
                    "proof": ["0x" + p.hex() for p in proof],
                }
            }
        return {"error": {"code": NOT_FOUND, "message": "not found"}}

    def forged_batch(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An `attest_getBlock` batch answered honestly the first time ("forged-second-range"),
        then with a forged block continuing the honest chain; or ("forged-then-stall") a
        forged block 0 the first time (later batches stall in the handler). Past the forged
        block, "not found"."""
        first = next(self.block_batches) == 0
        if first and self.behaviour == "forged-second-range":
            return [self.one(m) for m in batch]
        number = batch[0]["params"][0]
        if self.behaviour == "forged-then-stall":
            forged = self.forger.block(MemoryTree(), 0, GENESIS_PARENT_HASH, receipt=True)
        else:
            forged = self.forged_next(number)
        out = [{"jsonrpc": "2.0", "id": batch[0].get("id"), "result": forged}]
        for m in batch[1:]:
            out.append(
                {
                    "jsonrpc": "2.0",
                    "id": m.get("id"),
                    "error": {"code": NOT_FOUND, "message": "not found"},
                }
            )
        return out

    def forged_next(self, number: int) -> dict[str, Any]:
        """A block continuing the honest chain at `number`, its records forged."""
        prev = _honest(
            self.honest,
            {"jsonrpc": "2.0", "id": 1, "method": "attest_getBlock", "params": [number - 1]},
        )["result"]
        tree = MemoryTree()
        end = prev["end"]
        for n in range(0, number):  # the honest leaves, to compute a correct logRoot
            blk = _honest(
                self.honest,
                {"jsonrpc": "2.0", "id": 1, "method": "attest_getBlock", "params": [n, True]},
            )["result"]
            tree.extend([bytes.fromhex(e["leafHash"][2:]) for e in blk["events"]])
        if tree.size != end:
            raise AssertionError("honest chain moved while forging")
        return self.forger.block(tree, number, bytes.fromhex(prev["blockHash"][2:]), receipt=True)

    def withheld(self, req: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        """Honest up to the latest checkpoint, nothing after it; receipts stripped."""
        cp = _honest(
            self.honest,
            {"jsonrpc": "2.0", "id": 1, "method": "attest_getCheckpoint", "params": ["latest"]},
        )["result"]
        size = cp["treeSize"] if cp else 0
        method, result = req.get("method"), answer.get("result")
        if method == "attest_status" and result is not None and result["latestBlock"]:
            n = result["latestBlock"]["number"]
            while n >= 0:
                blk = _honest(
                    self.honest,
                    {"jsonrpc": "2.0", "id": 1, "method": "attest_getBlock", "params": [n]},
                )["result"]
                if blk["end"] <= size:
                    break
                n -= 1
            result["latestBlock"] = blk if n >= 0 else None
        if method == "attest_getBlock" and result is not None:
            if result["end"] > size:
                return {
                    "jsonrpc": "2.0",
                    "id": req.get("id"),
                    "error": {"code": NOT_FOUND, "message": "withheld"},
                }
            result.pop("receipt", None)
        return answer


def main() -> None:
    behaviour, honest = sys.argv[1], sys.argv[2]
    if behaviour not in BEHAVIOURS + PIPELINE_BEHAVIOURS:
        raise SystemExit(f"unknown behaviour {behaviour!r}")
    hostile = Hostile(behaviour, honest)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            count = next(hostile.requests)
            b = hostile.behaviour
            if b == "stall":
                time.sleep(3600)
                return
            message = orjson.loads(body)
            if b in ("forged-then-stall", "slow-after-first", "stall-after-first"):
                with hostile.lock:
                    later = _is_block_batch(message) and next(hostile.late_batches) > 0
                if later and b == "slow-after-first":
                    time.sleep(SLOW_S)
                elif later:
                    time.sleep(3600)
                    return
            if b == "oversized":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(b"[")
                    for _ in range(1024):  # up to 1 GiB, unless the reader gives up first
                        self.wfile.write(b"0," * (2**19))
                except OSError:
                    pass
                self.close_connection = True
                return
            if b == "flapping" and (count // 2) % 2 == 1:  # two answers good, two bad...
                self._send(b"<html>oops</html>")
                return
            answer = hostile.answer(message)
            raw = orjson.dumps(answer)
            if b == "huge-numbers":
                raw = _poison_numbers(raw)
            if b == "drip":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    for i in range(len(raw)):
                        self.wfile.write(raw[i : i + 1])
                        self.wfile.flush()
                        time.sleep(2)
                except OSError:
                    pass
                return
            if b == "truncated":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw[: len(raw) // 2])
                self.close_connection = True
                return
            self._send(raw)

        def _send(self, raw: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"hostile upstream listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


def _is_block_batch(message: Any) -> bool:
    return (
        isinstance(message, list)
        and bool(message)
        and isinstance(message[0], dict)
        and message[0].get("method") == "attest_getBlock"
    )


def _poison_numbers(raw: bytes) -> bytes:
    """latestBlock.number as 1e30 (a JSON float), every block number and start as 10**30."""
    for key in (b'"number":', b'"start":'):
        parts = raw.split(key)
        out = [parts[0]]
        for part in parts[1:]:
            digits = len(part) - len(part.lstrip(b"0123456789"))
            out.append(key + (b"1e30" if key == b'"number":' else b"1" + b"0" * 30) + part[digits:])
        raw = b"".join(out)
    return raw


if __name__ == "__main__":
    main()
