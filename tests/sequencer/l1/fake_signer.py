"""A small remote signer for tests: JSON-RPC `eth_accounts` and `eth_signTransaction` on
127.0.0.1, answering as Clef does (``{"raw": "0x..", "tx": {..}}``), with the key read from a
file. ``--mode`` makes it misbehave: sign with another key, change the transaction, or refuse.
``fake_signed`` answers how many transactions it signed.

    python -m tests.sequencer.l1.fake_signer --key-file F [--mode honest|other-key|tamper|refuse]

prints ``fake signer listening on http://127.0.0.1:PORT`` when ready.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eth_account import Account

READY = "fake signer listening on "


def _tx_from_wire(tx: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tx.items():
        if key == "from":
            continue
        if key in ("to", "data"):
            out[key] = value
        else:
            out[key] = int(value, 16)
    out.setdefault("type", 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--key-file", required=True)
    parser.add_argument(
        "--mode", default="honest", choices=["honest", "other-key", "tamper", "refuse"]
    )
    args = parser.parse_args()
    account = Account.from_key(
        bytes.fromhex(Path(args.key_file).read_text().strip().removeprefix("0x"))
    )
    other = Account.create()
    signed = 0
    lock = threading.Lock()

    def answer(method: str, params: list[Any]) -> Any:
        nonlocal signed
        if method == "eth_accounts":
            return [account.address]
        if method == "fake_signed":
            return signed
        if method == "eth_signTransaction":
            if args.mode == "refuse":
                raise PermissionError("request denied by the operator")
            tx = _tx_from_wire(params[0])
            if args.mode == "tamper":
                tx["value"] = tx.get("value", 0) + 1
            key = other.key if args.mode == "other-key" else account.key
            raw = Account.sign_transaction(tx, key).raw_transaction
            with lock:
                signed += 1
            return {"raw": "0x" + bytes(raw).hex(), "tx": params[0]}
        raise LookupError(f"method not found: {method}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                body = {
                    "jsonrpc": "2.0",
                    "id": req["id"],
                    "result": answer(req["method"], req.get("params", [])),
                }
            except Exception as exc:
                body = {
                    "jsonrpc": "2.0",
                    "id": req.get("id"),
                    "error": {"code": -32000, "message": str(exc)},
                }
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"{READY}http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()  # until SIGTERM (stop_process), which ends the process
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
