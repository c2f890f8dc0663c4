"""What the tests that steer anvil share: its cheat-code calls, a bonded rollup of the dev
accounts on it, and a commit sent from a thread of its own (so the test can spike fees or pause
mining under it). The private `anvil` fixture itself is in tests/conftest_l1.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from l1_contracts.accounts import DEV_KEYS
from sequencer.devnet.process import SequencerProcess, ValidatorProcess, write_key_file
from sequencer.l1.account import L1Client
from sequencer.l1.deploy import deploy_and_bond


def anvil_rpc(w3: Web3, method: str, *params: Any) -> Any:
    """Call one of anvil's JSON-RPC methods (`evm_mine`, `anvil_reorg`, ...); its result."""
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


@dataclass(frozen=True)
class Bonded:
    """A rollup deployed and bonded on `url`, dev account 0 its owner and sequencer."""

    url: str
    contract: str
    w3: Web3
    rollup: L1Client

    def serve_args(self, checkpoint_interval: float) -> list[str]:
        """`attest serve` arguments that commit to this rollup."""
        return ["--l1-rpc", self.url, "--contract", self.contract,
                "--checkpoint-interval", str(checkpoint_interval)]  # fmt: skip

    def serve(
        self, tmp_path: Path, *, checkpoint_interval: float, receipt_deadline_s: int, margin: int
    ) -> SequencerProcess:
        """`attest serve` (data in ``tmp_path/seq``) committing here, promising receipts
        `receipt_deadline_s` ahead with that `deadline_margin`; its JSON log at INFO captured."""
        config = tmp_path / "serve.toml"
        config.write_text(
            f"[serve]\nreceipt_deadline_s = {receipt_deadline_s}\ndeadline_margin = {margin}\n"
        )
        return SequencerProcess(
            tmp_path / "seq",
            extra_args=self.serve_args(checkpoint_interval),
            config=config,
            log_level="INFO",
            log_format="json",
            capture_log=True,
        )

    def validate(self, sequencer_url: str, tmp_path: Path) -> ValidatorProcess:
        """`attest validate` of this rollup (dev account 1, data in ``tmp_path/val``), following
        `sequencer_url` and L1 every 0.3 s."""
        return ValidatorProcess(
            sequencer=sequencer_url,
            l1_rpc=self.url,
            contract=self.contract,
            key_file=write_key_file(DEV_KEYS[1], tmp_path),
            data_dir=tmp_path / "val",
            extra_args=["--poll-interval", "0.3", "--pull-interval", "0.1"],
        )


def bonded(url: str, *, challenge_window: int, da_window: int) -> Bonded:
    """Deploy and bond a rollup on the node at `url` (see `Bonded`)."""
    d = deploy_and_bond(
        url,
        owner_key=DEV_KEYS[0],
        sequencer_key=DEV_KEYS[0],
        challenge_window=challenge_window,
        da_window=da_window,
    )
    return Bonded(
        url, d.contract, Web3(Web3.HTTPProvider(url)), L1Client(url, d.contract, DEV_KEYS[0])
    )


def commit_in_background(l1: L1Client, size: int) -> tuple[threading.Thread, dict[str, Any]]:
    """`l1.commit(size, ...)` on a thread; the dict gets "sent" or "error" when it ends."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["sent"] = l1.commit(size, bytes([size]) * 32, [], 0)
        except Exception as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out
