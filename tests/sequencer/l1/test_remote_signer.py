"""The remote signer behind the signing seam: L1 transactions signed over JSON-RPC
`eth_signTransaction` by a fake signer process on 127.0.0.1 that holds the key, and every
misbehaviour of a signer refused before anything is sent."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_KEYS, SEQUENCER_ADDRESS, VALIDATOR_ADDRESS
from l1_contracts.devnet_node import stop_process, wait_for_output_line
from prover.errors import L1Error
from sequencer.devnet.process import DevnetProcess, ValidatorProcess, write_key_file
from sequencer.l1.account import L1Client
from sequencer.l1.deploy import deploy_and_bond
from sequencer.l1.signer import RemoteSigner
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.sequencer.l1.fake_signer import READY
from tests.sequencer.validator.helpers import events, rollup
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]


@contextmanager
def fake_signer(key: bytes, directory: Path, mode: str = "honest") -> Iterator[str]:
    """The fake signer process holding `key` (from a 0600 file, never argv); its URL."""
    key_file = write_key_file(key, directory)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sequencer.l1.fake_signer",
            "--key-file",
            key_file,
            "--mode",
            mode,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        url = wait_for_output_line(
            proc, re.compile(rf"{READY}(\S+)"), 30, what="fake signer"
        ).group(1)
        yield url
    finally:
        stop_process(proc)


def _signed_count(url: str) -> int:
    return int(RemoteSigner(url, SEQUENCER_ADDRESS)._call("fake_signed", []))


def test_commit_signed_by_a_remote_signer(devnet_url: str, tmp_path: Path) -> None:
    d = deploy_and_bond(
        devnet_url,
        owner_key=DEV_KEYS[0],
        sequencer_key=DEV_KEYS[0],
        challenge_window=60,
        da_window=10,
    )
    with fake_signer(DEV_KEYS[0], tmp_path) as url:
        signer = RemoteSigner(url, SEQUENCER_ADDRESS)
        signer.check()
        l1 = L1Client(devnet_url, d.contract, signer)  # no key in this process
        sent = l1.commit(3, b"\x11" * 32, [], 0)
        assert sent.index == 0 and l1.checkpoint_count() == 1
        tx = l1.w3.eth.get_transaction(sent.tx_hash)  # type: ignore[arg-type]
        assert tx["from"] == SEQUENCER_ADDRESS
        assert _signed_count(url) == 1


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("other-key", "signed as"),
        ("tamper", "changed the transaction's value"),
        ("refuse", "refused eth_signTransaction: request denied"),
    ],
)
def test_a_misbehaving_signer_is_refused_before_sending(
    devnet_url: str, tmp_path: Path, mode: str, says: str
) -> None:
    d = deploy_and_bond(
        devnet_url,
        owner_key=DEV_KEYS[0],
        sequencer_key=DEV_KEYS[0],
        challenge_window=60,
        da_window=10,
    )
    w3 = Web3(Web3.HTTPProvider(devnet_url))
    with fake_signer(DEV_KEYS[0], tmp_path, mode) as url:
        l1 = L1Client(devnet_url, d.contract, RemoteSigner(url, SEQUENCER_ADDRESS))
        nonce = w3.eth.get_transaction_count(SEQUENCER_ADDRESS, "pending")
        with pytest.raises(L1Error, match=says):
            l1.commit(3, b"\x11" * 32, [], 0)
        assert w3.eth.get_transaction_count(SEQUENCER_ADDRESS, "pending") == nonce
        assert l1.checkpoint_count() == 0


def test_validator_proves_fraud_with_its_key_in_a_remote_signer(tmp_path: Path) -> None:
    with (
        DevnetProcess(
            extra_args=["--inject", "bad-signature", "--checkpoint-interval", "0.5"]
        ) as devnet,
        fake_signer(DEV_KEYS[1], tmp_path) as signer_url,
        ValidatorProcess(
            sequencer=devnet.url,
            l1_rpc=devnet.l1_rpc,
            contract=devnet.contract,
            key_file=None,
            data_dir=tmp_path / "v",
            extra_args=[
                "--signer-url",
                signer_url,
                "--signer-address",
                VALIDATOR_ADDRESS,
                "--poll-interval",
                "0.5",
            ],
        ),
        RpcClient(devnet.url, token="dev") as rpc,
    ):
        rpc.call("attest_submit", unsigned(1))
        w3, contract = rollup(devnet)
        proven = wait_for(lambda: events(contract, "FraudProven"), timeout=60, what="a fraud proof")
        proof_tx = w3.eth.get_transaction(proven[0]["transactionHash"])
        assert proof_tx["from"] == VALIDATOR_ADDRESS
        assert _signed_count(signer_url) >= 1
