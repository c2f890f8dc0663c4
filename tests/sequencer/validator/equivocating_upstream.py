"""A sequencer that equivocates, for the rollback tests: a real HTTP server in its own process.

    EQUIVOCATOR_KEY=<hex> python -m tests.sequencer.validator.equivocating_upstream HONEST_URL FROM [WITHHOLD]

It serves the honest sequencer's log at HONEST_URL (a free port on 127.0.0.1, printed as
``equivocating upstream listening on http://127.0.0.1:PORT``), except that every block starting
at seq FROM or later holds other records (each honest record with another digest), chained
into a self-consistent log whose block receipts are signed with EQUIVOCATOR_KEY, the
sequencer's own key: the sequencer vouching for records it will not commit. The test commits
the honest records on L1. ``equivocator_honest`` (a JSON-RPC method of its own) makes it serve
the honest log from then on. With WITHHOLD, it serves no block starting at seq WITHHOLD or
later, and no consistency proof to a size beyond WITHHOLD (while forging): what it vouched for
can then be contradicted only by records revealed on L1.
"""

from __future__ import annotations

import os
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from prover.answers import block_json, block_records_json, event_json
from prover.block import GENESIS_PARENT_HASH, BlockHeader
from prover.eip712 import Domain, Signer, address_of_private_key
from prover.hashing import keccak256, leaf_hash
from prover.receipt import receipt_to_json, sign_block_receipt
from prover.record import Word, canonical_meta, word_slice
from prover.tree import MemoryTree

_DIGEST = word_slice(Word.DIGEST)


def forge(record: bytes) -> bytes:
    """The record with another digest: same seq, time, kind, subject, submitter."""
    return record[: _DIGEST.start] + keccak256(b"forged" + record[_DIGEST]) + record[_DIGEST.stop :]


def _call(url: str, message: Any) -> Any:
    req = urllib.request.Request(
        url, data=orjson.dumps(message), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return orjson.loads(resp.read())


class Equivocator:
    def __init__(self, honest: str, from_seq: int, key: bytes, withhold: int | None = None) -> None:
        self.honest = honest
        self.from_seq = from_seq
        self.withhold = withhold
        status = _call(honest, {"jsonrpc": "2.0", "id": 1, "method": "attest_status"})["result"]
        d = status["eip712Domain"]
        self.domain = Domain(d["chainId"], bytes.fromhex(d["verifyingContract"][2:]))
        self.signer = Signer(key)
        self.sequencer = address_of_private_key(key)
        self.forging = True
        self.lock = threading.Lock()
        self.tree = MemoryTree()
        self.chain: list[tuple[BlockHeader, list[bytes], list[bytes | None], dict[str, Any]]] = []

    def _extend_to(self, number: int) -> bool:
        """Forge the chain up to block `number`; False when the honest log has no such block."""
        while len(self.chain) <= number:
            n = len(self.chain)
            got = _call(
                self.honest,
                {"jsonrpc": "2.0", "id": 1, "method": "attest_getBlock", "params": [n, True]},
            )
            blk = got.get("result")
            if blk is None:
                return False
            records = [bytes.fromhex(e["record"][2:]) for e in blk["events"]]
            metas = [canonical_meta(e["meta"]) for e in blk["events"]]
            if blk["start"] >= self.from_seq:
                records = [forge(r) for r in records]
            leaves = [leaf_hash(r) for r in records]
            self.tree.extend(leaves)
            parent = self.chain[-1][0].block_hash if self.chain else GENESIS_PARENT_HASH
            header = BlockHeader(
                n, parent, blk["start"], blk["end"], self.tree.root(), blk["timestamp"]
            )
            deadline = blk["receipt"]["deadline"] if blk.get("receipt") else 4_000_000_000
            receipt = sign_block_receipt(
                self.signer, self.domain.separator, header, leaves, deadline
            )
            self.chain.append((header, records, metas, receipt_to_json(receipt, self.sequencer)))
        return True

    def one(self, req: dict[str, Any]) -> dict[str, Any]:
        rid, method, params = req.get("id"), req.get("method"), req.get("params") or []
        if method == "equivocator_honest":
            self.forging = False
            return {"jsonrpc": "2.0", "id": rid, "result": True}
        if self.forging and method == "attest_getBlock" and params and type(params[0]) is int:
            with self.lock:
                if self._extend_to(params[0]):
                    header, records, metas, receipt = self.chain[params[0]]
                    if self.withhold is not None and header.start >= self.withhold:
                        return _withheld(rid)
                    full = params[1] if len(params) > 1 else False
                    if full == "records":
                        out = block_records_json(header, records, metas)
                    else:
                        out = block_json(header)
                        if full is True:
                            out["events"] = [
                                event_json(r, leaf_hash(r), m, header.number)
                                for r, m in zip(records, metas, strict=True)
                            ]
                    if full:
                        out["receipt"] = receipt
                    return {"jsonrpc": "2.0", "id": rid, "result": out}
        if self.forging and method == "attest_getConsistencyProof":
            first, second = params
            if self.withhold is not None and second > self.withhold:
                return _withheld(rid)
            with self.lock:
                if second <= self.tree.size:
                    proof = self.tree.consistency_proof(first, second)
                    result = {
                        "first": first,
                        "second": second,
                        "firstRoot": "0x" + self.tree.root(first).hex(),
                        "secondRoot": "0x" + self.tree.root(second).hex(),
                        "proof": ["0x" + p.hex() for p in proof],
                    }
                    return {"jsonrpc": "2.0", "id": rid, "result": result}
        answer: dict[str, Any] = _call(self.honest, req)
        return answer


def _withheld(rid: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": "withheld"}}


def main() -> None:
    honest, from_seq = sys.argv[1], int(sys.argv[2])
    withhold = int(sys.argv[3]) if len(sys.argv) > 3 else None
    key = bytes.fromhex(os.environ["EQUIVOCATOR_KEY"].removeprefix("0x"))
    eq = Equivocator(honest, from_seq, key, withhold)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            message = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if isinstance(message, list):
                answer: Any = [eq.one(m) for m in message]
            else:
                answer = eq.one(message)
            raw = orjson.dumps(answer)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"equivocating upstream listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
