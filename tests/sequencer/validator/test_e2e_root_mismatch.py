"""A checkpoint whose root is not the root of the records served: the validator cannot verify
it, so it challenges the data behind it; nobody can reveal records matching that root, and the
validator resolves the challenge: the checkpoint is reverted and the bond slashed.

The sequencer here is an honest `attest serve` without L1; the bad commit is sent from the
sequencer's key (dev account 0) by the test, as a sequencer that lies to L1 would."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.contract import read_checkpoint, rollup_at
from prover.checkpoint import CheckpointStatus
from prover.validity import FraudRule
from sequencer.devnet.process import SequencerProcess, ValidatorProcess, write_key_file
from sequencer.devnet.run import deploy_and_bond
from sequencer.l1.account import L1Client
from sequencer.rpc.client import RpcClient
from tests.sequencer.events import unsigned
from tests.sequencer.validator.helpers import VALIDATOR_ADDRESS, events, pin_l1_ahead, wait_for

pytestmark = pytest.mark.slow  # devnet and validator processes


def test_committed_root_that_the_data_does_not_match(tmp_path: Path, devnet_url: str) -> None:
    d = deploy_and_bond(
        devnet_url,
        owner_key=DEV_KEYS[0],
        sequencer_key=DEV_KEYS[0],
        challenge_window=40,
        da_window=4,
    )
    w3 = Web3(Web3.HTTPProvider(devnet_url))
    contract = rollup_at(w3, d.contract)
    pin_l1_ahead(w3, 3)
    # The rollup's EIP-712 domain: the block receipts the validator checks are signed in it.
    config = tmp_path / "serve.toml"
    config.write_text(
        f'[serve]\nchain_id = {w3.eth.chain_id}\nverifying_contract = "{d.contract}"\n'
    )
    with (
        SequencerProcess(tmp_path / "seq", config=config) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(20)])
        wait_for(
            lambda: (b := rpc.call("attest_status")["latestBlock"]) and b["end"] == 20,
            what="the block to seal",
        )
        key = write_key_file(DEV_KEYS[1], tmp_path)
        with (
            ValidatorProcess(
                sequencer=seq.url,
                l1_rpc=devnet_url,
                contract=d.contract,
                key_file=key,
                data_dir=tmp_path / "v",
                extra_args=["--poll-interval", "0.5", "--da-grace", "2"],
            ) as v,
            RpcClient(v.url) as val,
        ):
            wait_for(lambda: val.call("validator_status")["replicaSize"] == 20, what="replication")
            # The sequencer commits a root that is not the log's.
            sent = L1Client(devnet_url, d.contract, DEV_KEYS[0]).commit(20, b"\x11" * 32, [], 0)
            opened = wait_for(lambda: events(contract, "DAChallengeOpened"), what="a DA challenge")
            args = opened[0]["args"]
            assert (args["checkpointIndex"], args["start"], args["end"]) == (sent.index, 0, 20)
            assert args["challenger"] == VALIDATOR_ADDRESS
            (proven,) = wait_for(
                lambda: events(contract, "FraudProven"), what="the unanswered challenge"
            )
            st = wait_for(
                lambda: (
                    (s := val.call("validator_status"))["daChallenges"][0]["state"] == "UPHELD"
                    and s
                ),
                what="the validator to record the resolution",
            )
        assert proven["args"]["rule"] == FraudRule.DA_UNANSWERED
        assert read_checkpoint(contract, sent.index).status == CheckpointStatus.REVERTED
        assert contract.functions.bond().call() == 0 and contract.functions.frozen().call()
        (cp,) = st["checkpoints"]
        assert cp["verdict"] == "root-mismatch"
        assert st["daChallenges"][0]["state"] == "UPHELD"


def test_a_mismatch_beyond_one_chunk_is_challenged_whole(tmp_path: Path, devnet_url: str) -> None:
    """600 records new in a checkpoint whose root is not theirs: which of them differ only L1
    can say, so every chunk of the range is challenged, not only the first."""
    d = deploy_and_bond(
        devnet_url,
        owner_key=DEV_KEYS[0],
        sequencer_key=DEV_KEYS[0],
        challenge_window=40,
        da_window=4,
    )
    w3 = Web3(Web3.HTTPProvider(devnet_url))
    contract = rollup_at(w3, d.contract)
    pin_l1_ahead(w3, 3)
    config = tmp_path / "serve.toml"
    config.write_text(
        f'[serve]\nchain_id = {w3.eth.chain_id}\nverifying_contract = "{d.contract}"\n'
    )
    with (
        SequencerProcess(tmp_path / "seq", config=config) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        for first in range(0, 600, 200):
            rpc.call("attest_submitBatch", [unsigned(i) for i in range(first, first + 200)])
        wait_for(
            lambda: (b := rpc.call("attest_status")["latestBlock"]) and b["end"] == 600,
            what="the blocks to seal",
        )
        key = write_key_file(DEV_KEYS[1], tmp_path)
        with (
            ValidatorProcess(
                sequencer=seq.url,
                l1_rpc=devnet_url,
                contract=d.contract,
                key_file=key,
                data_dir=tmp_path / "v",
                extra_args=["--poll-interval", "0.5", "--da-grace", "2"],
            ) as v,
            RpcClient(v.url) as val,
        ):
            wait_for(lambda: val.call("validator_status")["replicaSize"] == 600, what="replication")
            sent = L1Client(devnet_url, d.contract, DEV_KEYS[0]).commit(600, b"\x11" * 32, [], 0)
            opened = wait_for(
                lambda: len(e := events(contract, "DAChallengeOpened")) >= 3 and e,
                what="DA challenges on every chunk",
            )
        ranges = sorted((e["args"]["start"], e["args"]["end"]) for e in opened)
        assert ranges == [(0, 256), (256, 512), (512, 600)]
        assert {e["args"]["checkpointIndex"] for e in opened} == {sent.index}
        assert {e["args"]["challenger"] for e in opened} == {VALIDATOR_ADDRESS}
