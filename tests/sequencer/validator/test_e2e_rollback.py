"""A sequencer that vouches for records and commits others (issue 11 item 2, rollback).

The sequencer (here: an equivocating front, `equivocating_upstream`, holding the sequencer's
key, over an honest `attest serve`) serves blocks beyond the latest checkpoint with forged
records and signs their block receipts: the validator must take them, provisionally. Then the
sequencer's key commits a checkpoint over the honest records. The validator must roll the
contradicted records back (keeping the signed receipts as evidence), fetch the committed ones
again, checked against the L1 root, and from then on serve only them: over RPC, to the light
client and in the explorer. A SIGKILL in the middle of the rollback must reopen consistent.
Real processes, real HTTP, real LevelDB, the embedded L1 devnet.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_KEYS
from l1_contracts.contract import rollup_at
from prover.block import BlockHeader
from prover.eip712 import Domain
from prover.hashing import leaf_hash
from prover.receipt import verify_block_receipt
from prover.validity import FraudRule
from prover.wire import parse_address
from sequencer.client.receipts import parse_receipt
from sequencer.devnet.process import SequencerProcess, ValidatorProcess, _Child, write_key_file
from sequencer.devnet.run import deploy_and_bond
from sequencer.l1.account import L1Client
from sequencer.rpc.client import RpcClient
from state_db.store import Store
from tests.sequencer.events import unsigned
from tests.sequencer.validator.equivocating_upstream import forge
from tests.sequencer.validator.helpers import VALIDATOR_ADDRESS, events, pin_l1_ahead, wait_for

pytestmark = pytest.mark.slow  # devnet, sequencer, validator and upstream processes

ANCHORED = 20
"""Records under checkpoint 0, committed honestly before the equivocation starts."""
REPO = Path(__file__).resolve().parents[3]


class EquivocatorProcess(_Child):
    def __init__(self, honest: str, from_seq: int) -> None:
        args = [sys.executable, "-m", "tests.sequencer.validator.equivocating_upstream"]
        env = {"EQUIVOCATOR_KEY": DEV_KEYS[0].hex()}  # the sequencer's key, never in argv
        ready = re.compile(r"listening on (http://\S+)")
        self.url = self._start([*args, honest, str(from_seq)], ready, 60, env=env).group(1)


@dataclass
class World:
    devnet_url: str
    contract: str
    domain: Domain
    seq: RpcClient
    seq_url: str
    eq: EquivocatorProcess
    l1: L1Client
    committed: int = 0

    def commit_honest(self, size: int) -> None:
        """The sequencer's key commits the honest log's root at `size`."""
        wait_for(
            lambda: (b := self.seq.call("attest_status")["latestBlock"]) and b["end"] == size,
            what=f"the sequencer's blocks to seal up to {size}",
        )
        root = bytes.fromhex(
            self.seq.call("attest_getConsistencyProof", size, size)["firstRoot"][2:]
        )
        bound = int(self.seq.call("attest_getEvent", size - 1)["timestamp"])
        proof: list[bytes] = []
        if self.committed:
            answer = self.seq.call("attest_getConsistencyProof", self.committed, size)
            proof = [bytes.fromhex(p[2:]) for p in answer["proof"]]
        self.l1.commit(size, root, proof, bound)
        self.committed = size


@contextmanager
def world(tmp_path: Path, devnet_url: str) -> Iterator[World]:
    d = deploy_and_bond(
        devnet_url,
        owner_key=DEV_KEYS[0],
        sequencer_key=DEV_KEYS[0],
        challenge_window=120,
        da_window=20,
    )
    w3 = Web3(Web3.HTTPProvider(devnet_url))
    pin_l1_ahead(w3, 3)
    config = tmp_path / "serve.toml"
    # Receipt deadlines a day out: the tests move L1's clock past challenge windows (on the
    # session's shared devnet), and a deadline passed in L1 time would make the receipts'
    # broken promise a missed deadline instead of the mismatch the tests look for.
    config.write_text(
        f'[serve]\nchain_id = {w3.eth.chain_id}\nverifying_contract = "{d.contract}"\n'
        "receipt_deadline_s = 86400\n"
    )
    with ExitStack() as stack:
        seq_proc = stack.enter_context(SequencerProcess(tmp_path / "seq", config=config))
        seq = stack.enter_context(RpcClient(seq_proc.url, token="dev", timeout=60))
        seq.call("attest_submitBatch", [unsigned(i) for i in range(ANCHORED)])
        eq = stack.enter_context(EquivocatorProcess(seq_proc.url, ANCHORED))
        domain = Domain(w3.eth.chain_id, parse_address(d.contract, "contract"))
        l1 = L1Client(devnet_url, d.contract, DEV_KEYS[0])
        out = World(devnet_url, d.contract, domain, seq, seq_proc.url, eq, l1)
        out.commit_honest(ANCHORED)  # checkpoint 0: the anchored prefix
        yield out


def _finalise(w: World) -> None:
    """Let the challenge window (120 s) of every checkpoint so far pass on L1: the validator's
    receipt-mismatch proof (test_e2e_rollback_proof.py) then freezes the contract but leaves
    them live, so what is fetched again stays anchored (§9.4: final checkpoints never change)."""
    w3 = Web3(Web3.HTTPProvider(w.devnet_url))
    latest = int(w3.eth.get_block("latest")["timestamp"])
    w3.provider.make_request("evm_setNextBlockTimestamp", [latest + 200])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _proven_once(w: World) -> None:
    """The sequencer's broken block receipt was proven on L1, once, by the validator."""
    contract = rollup_at(Web3(Web3.HTTPProvider(w.devnet_url)), w.contract)
    (event,) = wait_for(lambda: events(contract, "FraudProven"), what="the receipt proof")
    assert event["args"]["rule"] == FraudRule.RECEIPT_MISMATCH
    assert event["args"]["challenger"] == VALIDATOR_ADDRESS
    assert contract.functions.frozen().call() is True


def _validator(w: World, data_dir: Path, upstreams: list[str], **kw: Any) -> ValidatorProcess:
    key_file = write_key_file(DEV_KEYS[1], data_dir.parent)
    return ValidatorProcess(
        sequencer=upstreams,
        l1_rpc=w.devnet_url,
        contract=w.contract,
        key_file=key_file,
        data_dir=data_dir,
        extra_args=["--poll-interval", "0.5", "--pull-interval", "0.1", "--da-grace", "60"],
        **kw,
    )


def _forged_digest(w: World, seq: int) -> str:
    record = bytes.fromhex(w.seq.call("attest_getEvent", seq)["record"][2:])
    return "0x" + forge(record)[128:160].hex()


def _serves_only_the_committed(w: World, val: RpcClient, size: int) -> None:
    """Every record the validator serves up to `size` is the sequencer's committed one, not
    provisional; no forged digest is found; its blocks are the committed chain's."""
    st = val.call("attest_status")
    assert st["treeSize"] == size
    assert st["root"] == w.seq.call("attest_getConsistencyProof", size, size)["firstRoot"]
    for seq in range(ANCHORED, size, max(1, (size - ANCHORED) // 25)):
        mine, theirs = val.call("attest_getEvent", seq), w.seq.call("attest_getEvent", seq)
        assert mine["record"] == theirs["record"] and mine["provisional"] is False, seq
        assert val.call("attest_findByDigest", _forged_digest(w, seq))["seqs"] == [], seq
        assert val.call("attest_findByDigest", theirs["digest"])["seqs"] == [seq], seq
        leaf = "0x" + leaf_hash(bytes.fromhex(mine["record"][2:])).hex()
        assert val.call("attest_findByLeafHash", leaf)["seqs"] == [seq]
    latest = val.call("attest_getBlock", "latest")
    assert latest == w.seq.call("attest_getBlock", latest["number"]) | {"provisional": False}
    # The explorer of the validator lists the committed blocks only.
    page = val.call("explorer_blocks")
    for b in page["blocks"]:
        assert b["blockHash"] == w.seq.call("attest_getBlock", b["number"])["blockHash"], b


def _light_client(w: World, val_url: str, tmp_path: Path, *args: str) -> int:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sequencer.cli",
            "verify",
            "--rpc",
            val_url,
            "--l1-rpc",
            w.devnet_url,
            "--contract",
            w.contract,
            "--state",
            str(tmp_path / "light-client.json"),
            "--allow-pending",
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    ).returncode


def _check_evidence(w: World, data_dir: Path, rollback: dict[str, Any]) -> None:
    """The evidence kept: the sequencer's receipts over exactly the removed, forged records."""
    with Store.open(data_dir / "replica") as store:
        raw = store.get_state(rollback["evidenceKey"])
    assert raw is not None
    copy = data_dir / "evidence" / f"{rollback['evidenceKey']}.json"
    assert copy.read_bytes() == raw
    evidence = orjson.loads(raw)
    assert evidence["blocks"] and evidence["heldRoot"] != evidence["checkpointRoot"]
    sequencer = bytes.fromhex(w.seq.call("attest_status")["sequencer"][2:])
    for b in evidence["blocks"]:
        header = BlockHeader(
            b["number"],
            bytes.fromhex(b["parentHash"][2:]),
            b["start"],
            b["end"],
            bytes.fromhex(b["logRoot"][2:]),
            b["timestamp"],
        )
        leaves = [bytes.fromhex(h[2:]) for h in b["leafHashes"]]
        # A slashable promise: signed by the sequencer's key over records it did not commit.
        verify_block_receipt(
            parse_receipt(b["receipt"]), header, leaves, w.domain.separator, sequencer
        )
        honest = [w.seq.call("attest_getEvent", s)["leafHash"] for s in range(b["start"], b["end"])]
        assert all("0x" + lf.hex() != h for lf, h in zip(leaves, honest, strict=True))


def test_contradicted_provisional_records_are_rolled_back(tmp_path: Path, devnet_url: str) -> None:
    with world(tmp_path, devnet_url) as w:
        w.seq.call("attest_submitBatch", [unsigned(i) for i in range(ANCHORED, 40)])
        data = tmp_path / "v"
        with _validator(w, data, [w.eq.url]) as v, RpcClient(v.url) as val:
            # The sequencer vouches for forged records beyond checkpoint 0: taken, provisional.
            wait_for(lambda: val.call("attest_status")["treeSize"] == 40, what="provisional take")
            ev = val.call("attest_getEvent", 25)
            assert ev["provisional"] is True
            assert ev["record"] != w.seq.call("attest_getEvent", 25)["record"]
            forged = _forged_digest(w, 25)
            assert val.call("attest_findByDigest", forged)["seqs"] == [25]
            assert _light_client(w, v.url, tmp_path, "--digest", forged) != 0  # not under L1
            # ...and commits the honest records instead.
            w.commit_honest(40)
            st = wait_for(
                lambda: (s := val.call("validator_status"))["rollbacks"] and s,
                what="the rollback",
            )
            (rollback,) = st["rollbacks"]
            assert (rollback["from"], rollback["to"]) == (ANCHORED, 40)
            assert rollback["checkpoint"] == 1 and rollback["receiptsKept"] >= 1
            # Never served again, while the equivocator keeps serving them.
            assert val.call("attest_findByDigest", forged)["seqs"] == []
            time.sleep(2)
            assert val.call("attest_status")["treeSize"] == ANCHORED
            assert val.call("validator_status")["upstreams"][0]["lastError"]
            _finalise(w)
            with RpcClient(w.eq.url) as eq:
                eq.call("equivocator_honest")  # the sequencer serves what it committed
            wait_for(
                lambda: any(
                    c["index"] == 1 and c["verdict"] == "agrees"
                    for c in val.call("validator_status")["checkpoints"]
                ),
                what="the committed records fetched again and checkpoint 1 agreeing",
            )
            _serves_only_the_committed(w, val, 40)
            _proven_once(w)
            assert _light_client(w, v.url, tmp_path, "--digest", forged) == 3  # not included
            honest = w.seq.call("attest_getEvent", 25)["digest"]
            assert _light_client(w, v.url, tmp_path, "--digest", honest) == 0
        _check_evidence(w, data, rollback)


def test_a_sigkill_in_the_middle_of_a_rollback_reopens_consistent(
    tmp_path: Path, devnet_url: str
) -> None:
    total = ANCHORED + 12_000
    with world(tmp_path, devnet_url) as w:
        for first in range(ANCHORED, total, 4000):
            w.seq.call("attest_submitBatch", [unsigned(i) for i in range(first, first + 4000)])
        data = tmp_path / "v"
        v = _validator(w, data, [w.eq.url], capture_log=True)
        with v, RpcClient(v.url) as val:
            wait_for(
                lambda: val.call("attest_status")["treeSize"] == total,
                timeout=120,
                what="the forged records taken provisionally",
            )
            w.commit_honest(total)
            deadline = time.monotonic() + 60
            while not any("rolling back" in line for line in v.log_lines):
                assert time.monotonic() < deadline, "the rollback did not start"
                time.sleep(0.002)
            v.kill()  # SIGKILL, mid-rollback: no cleanup
            done = any("rolled back to" in line for line in v.log_lines)
        with Store.open(data / "replica") as store:  # reopens: head, frontier, blocks checked
            size = store.head.tree_size
            raw = store.get_state("validator.rollbacks")
            assert size in (ANCHORED, total), size
            # The evidence and the cut landed together, or neither did.
            assert (raw is not None) == (size == ANCHORED)
            if size == total:
                assert not done
            print(f"killed {'after' if size == ANCHORED else 'before'} the cut's write batch")
        # Restarted with the honest sequencer listed too: it rolls back (again, if the kill
        # came first) and fetches the committed records from whichever upstream serves them.
        _finalise(w)
        with _validator(w, data, [w.eq.url, w.seq_url]) as v2, RpcClient(v2.url) as val:
            wait_for(
                lambda: any(
                    c["index"] == 1 and c["verdict"] == "agrees"
                    for c in val.call("validator_status")["checkpoints"]
                ),
                timeout=120,
                what="the committed records fetched again and checkpoint 1 agreeing",
            )
            _serves_only_the_committed(w, val, total)
            # One rollback in all: the pull takes nothing before the watcher read L1, so the
            # forged blocks are never taken again after the restart.
            (rollback,) = val.call("validator_status")["rollbacks"]
            assert (rollback["from"], rollback["to"]) == (ANCHORED, total)
            _proven_once(w)
