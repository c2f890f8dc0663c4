"""L1 reorganisations of depth 1 to 5 on anvil (`anvil_reorg`, and `evm_snapshot`/`evm_revert`):
a commit, a DA answer and a fraud proof whose blocks are replaced are seen gone and sent again,
never twice on the canonical chain; the final state on L1 is the honest one. (The validator's
view round by round: test_reorg_validator_view.py.)

Mining is driven by the test (`evm_setIntervalMining 0`, then `evm_mine`), so the transaction
under test is exactly `depth` blocks deep when the chain is reorganised under it.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from web3 import Web3

from l1_contracts.accounts import DEV_ADDRESSES, DEV_KEYS, SEQUENCER_ADDRESS
from l1_contracts.contract import da_chunk
from prover.checkpoint import CheckpointStatus, DAState
from prover.jsonrpc import NOT_FOUND, JsonRpcError
from sequencer.devnet.process import SequencerProcess, ValidatorProcess, write_key_file
from sequencer.l1.reorg import Block, ReorgDetector
from sequencer.rpc.client import RpcClient
from sequencer.validator.prove import ValidatorL1
from tests.sequencer.events import unsigned
from tests.sequencer.l1.anvil_kit import anvil_rpc, bonded
from tests.waiting import wait_for

DEPTHS = (1, 2, 3, 4, 5)

# --- the detector alone ------------------------------------------------------------------------


def _chain(tag: bytes, start: int, n: int, parent: bytes) -> list[Block]:
    out = []
    for number in range(start, start + n):
        h = tag + number.to_bytes(4, "big")
        out.append(Block(number, h, parent, number))
        parent = h
    return out


@pytest.mark.parametrize("depth", DEPTHS)
def test_the_detector_measures_the_depth(depth: int) -> None:
    base = _chain(b"a", 0, 10, b"")
    fork = _chain(b"b", 10 - depth, depth + 1, base[9 - depth].hash)
    canonical = {b.number: b.hash for b in [*base[: 10 - depth], *fork]}
    detector = ReorgDetector()
    for block in base:
        assert detector.observe(block, canonical.get) is None
    # The new chain's head, one block higher: its parent is not the block seen at 9.
    reorg = detector.observe(fork[-1], canonical.get)
    assert reorg is not None and reorg.depth == depth and reorg.fork_block == 9 - depth
    assert detector.reorgs == 1 and detector.deepest == depth
    # Going on along the new chain is no reorganisation.
    nxt = Block(11, b"b" + (11).to_bytes(4, "big"), fork[-1].hash, 11)
    assert detector.observe(nxt, canonical.get) is None


def test_the_detector_sees_a_revert_to_an_earlier_head() -> None:
    base = _chain(b"a", 0, 8, b"")
    canonical = {b.number: b.hash for b in base[:5]}
    detector = ReorgDetector()
    for block in base:
        detector.observe(block, canonical.get)
    reorg = detector.observe(base[4], canonical.get)  # evm_revert: the head is block 4 again
    assert reorg is not None and reorg.depth == 3 and reorg.fork_block == 4


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_noted_block_replaced_between_two_heads_is_a_reorganisation(depth: int) -> None:
    """The attacker's timing: one's own transaction is mined in block 10 right after a read of
    head 9, and replaced before the next read. Seen only as heads, the new chain's block at 10
    (or higher) descends from the block 9 remembered: nothing changed. Noted from the receipt,
    the replaced block is a reorganisation down to 9."""
    base = _chain(b"a", 0, 10, b"")
    fork = _chain(b"b", 10, depth, base[9].hash)  # the replacement of 10 and the blocks above
    canonical = {b.number: b.hash for b in [*base, *fork]}
    blind = ReorgDetector()
    noted = ReorgDetector()
    for block in base:
        blind.observe(block, canonical.get)
        noted.observe(block, canonical.get)
    noted.note(10, b"mine" + (10).to_bytes(4, "big"))  # the receipt's block, never seen as head
    assert noted.head == 10
    assert blind.observe(fork[-1], canonical.get) is None
    reorg = noted.observe(fork[-1], canonical.get)
    assert reorg is not None and reorg.fork_block == 9 and reorg.depth == 1
    # A block already seen is not overwritten by a note: the change under it stays visible.
    seen = ReorgDetector()
    for block in base:
        seen.observe(block, canonical.get)
    seen.note(9, b"other")
    assert seen.observe(base[9], canonical.get) is None


# --- on anvil ------------------------------------------------------------------------------------


def _mine_the_next(w3: Web3, sender: str, what: str) -> int:
    """Wait until `sender` has a transaction in the pool, mine one block; its number.

    The pool itself is asked (`txpool_content`): after `anvil_reorg`, anvil's pending nonce
    still counts the transactions of the blocks it removed."""
    wait_for(
        lambda: sender.lower() in {a.lower() for a in anvil_rpc(w3, "txpool_content")["pending"]},
        timeout=30,
        what=what,
    )
    anvil_rpc(w3, "evm_mine")
    return int(w3.eth.block_number)


def _reorg_out(w3: Web3, block: int, depth: int, rpc: RpcClient | None = None) -> None:
    """Bury `block` (the head) under depth - 1 empty blocks, then replace the last `depth`
    (once the sequencer behind `rpc` saw the new head: a reorganisation's depth counts the
    blocks one had seen)."""
    assert w3.eth.block_number == block
    for _ in range(depth - 1):
        anvil_rpc(w3, "evm_mine")
    if rpc is not None:
        wait_for(
            lambda: _health(rpc)["headBlock"] == block + depth - 1,
            what="the sequencer's watch on the head",
        )
    anvil_rpc(w3, "anvil_reorg", depth, [])
    # anvil's replacement blocks reuse the replaced blocks' times and its clock stays that far
    # behind; a real chain's next block comes at its slot time: put anvil's clock back.
    head = int(w3.eth.get_block("latest")["timestamp"])
    anvil_rpc(w3, "evm_setNextBlockTimestamp", max(head + 1, int(time.time()) + 1))


def _health(rpc: RpcClient) -> dict[str, Any]:
    l1: dict[str, Any] = orjson.loads(rpc.request("GET", "/health").body)["l1"]
    return l1


def _sent_by(w3: Web3, address: str, first_block: int) -> list[Any]:
    """Receipts of every canonical transaction from `address` since `first_block`."""
    out = []
    for number in range(first_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == address:  # type: ignore[index]
                out.append(w3.eth.get_transaction_receipt(tx["hash"]))  # type: ignore[index]
    return out


def _validator_view(vrpc: RpcClient, index: int) -> dict[str, Any] | None:
    """The validator's checkpoint `index` (read from L1); None when it holds none."""
    try:
        cp: dict[str, Any] | None = vrpc.call("attest_getCheckpoint", index)
    except JsonRpcError as exc:
        if exc.code != NOT_FOUND:
            raise
        return None
    return cp


@pytest.mark.slow
def test_a_reorganised_commit_is_sent_again_once(anvil: str, tmp_path: Path) -> None:
    d = bonded(anvil, challenge_window=600, da_window=60)
    w3 = d.w3
    rollup = d.rollup
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    for _ in range(6):  # room below the first commit: no reorg reaches the deployment
        anvil_rpc(w3, "evm_mine")
    first_block = w3.eth.block_number + 1
    nonce = w3.eth.get_transaction_count(SEQUENCER_ADDRESS)
    args = d.serve_args(0.3)
    with (
        SequencerProcess(
            tmp_path / "seq", extra_args=args, log_format="json", capture_log=True
        ) as seq,
        d.validate(seq.url, tmp_path) as val,
        RpcClient(seq.url, token="dev") as rpc,
        RpcClient(val.url) as vrpc,
    ):
        for depth in DEPTHS:
            rpc.call("attest_submit", unsigned(depth))
            block = _mine_the_next(w3, SEQUENCER_ADDRESS, f"commit({depth})")
            assert rollup.checkpoint_count() == depth
            # The sequencer saw it: its record, and its watch on the block (a block replaced
            # before anyone looked at it is no reorganisation to them, only a lost transaction).
            wait_for(
                lambda depth=depth: (
                    (c := rpc.call("attest_getCheckpoint", "latest"))  # type: ignore[misc]
                    and c["treeSize"] == depth
                ),
                what=f"the sequencer's record of commit({depth})",
            )
            # The validator's view has it too, and two more of its rounds saw the head.
            wait_for(
                lambda depth=depth: _validator_view(vrpc, depth - 1),  # type: ignore[misc]
                what=f"the validator's view of checkpoint {depth - 1}",
            )
            rounds = vrpc.call("attest_status")["l1"]["rounds"]
            wait_for(
                lambda rounds=rounds: vrpc.call("attest_status")["l1"]["rounds"] >= rounds + 2,  # type: ignore[misc]
                what="two validator rounds",
            )
            _reorg_out(w3, block, depth, rpc)
            assert rollup.checkpoint_count() == depth - 1  # the commit's block is gone
            # The validator's view follows the canonical chain: the checkpoint is gone there.
            wait_for(
                lambda depth=depth: _validator_view(vrpc, depth - 1) is None,  # type: ignore[misc]
                what=f"the validator to forget checkpoint {depth - 1}",
            )
            # Seen, and sent again (the contract would refuse a size that does not extend).
            again = _mine_the_next(w3, SEQUENCER_ADDRESS, f"commit({depth}) again")
            assert rollup.checkpoint_count() == depth
            cp = rollup.checkpoint(depth - 1)
            assert cp.size == depth
            landed = w3.eth.get_block(again)["transactions"][0]
            # The same nonce: the version the sender still waited for, sent again, or a new
            # commit from the next round; either way the nonce the removed one had.
            assert w3.eth.get_transaction(landed)["nonce"] == nonce + depth - 1
            landed_hex = "0x" + bytes(landed).hex()  # type: ignore[arg-type]
            wait_for(
                lambda depth=depth: (
                    # At least as deep as the test made it (a watch that reads while anvil
                    # rebuilds its chain may count a block more).
                    (h := _health(rpc))["reorgs"] >= depth  # type: ignore[misc]
                    and h["deepestReorg"] >= depth
                ),
                what=f"the depth-{depth} reorg seen",
            )
            wait_for(
                lambda depth=depth, tx=landed_hex: (  # type: ignore[misc]
                    (c := rpc.call("attest_getCheckpoint", "latest"))
                    and c["treeSize"] == depth
                    and c["l1Tx"] == tx
                ),
                what="the sequencer's view to follow the canonical commit",
            )
            wait_for(
                lambda depth=depth: (
                    (v := _validator_view(vrpc, depth - 1)) and v["treeSize"] == depth  # type: ignore[misc]
                ),
                what=f"the validator's view of the commit sent again ({depth})",
            )
        assert vrpc.call("attest_status")["l1"]["reorgs"] >= 1
        # Each reorganisation a structured log line with its depth and fork, and the
        # committer's following of it.
        logged = [orjson.loads(line) for line in seq.log_lines if line.startswith("{")]
        seen = [e for e in logged if e["message"].startswith("L1 reorganised")]
        assert len(seen) == 5 and all(
            {"depth", "fork_block", "old_head", "new_head"} <= e.keys() for e in seen
        ), seen
        assert sorted(e["depth"] for e in seen)[-1] >= 5
        followed = [e for e in logged if e["message"] == "following an L1 reorganisation"]
        assert len(followed) >= 1 and "checkpoints_dropped" in followed[0]
        metrics = rpc.request("GET", "/metrics").body.decode()
        assert "attest_l1_reorgs 5.0" in metrics
        deepest = re.search(r"^attest_l1_reorg_deepest_blocks (\S+)$", metrics, flags=re.M)
        assert deepest is not None and float(deepest.group(1)) >= 5
    # The honest state: one checkpoint per size 1..5, every canonical commit succeeded, and
    # exactly five nonces used (the replaced ones do not count).
    sizes = [rollup.checkpoint(i).size for i in range(rollup.checkpoint_count())]
    assert sizes == [1, 2, 3, 4, 5]
    receipts = _sent_by(w3, SEQUENCER_ADDRESS, first_block)
    assert [r["status"] for r in receipts] == [1] * 5
    assert w3.eth.get_transaction_count(SEQUENCER_ADDRESS) == nonce + 5


@pytest.mark.slow
def test_a_reorganised_da_answer_is_sent_again(anvil: str, tmp_path: Path) -> None:
    d = bonded(anvil, challenge_window=600, da_window=120)
    w3 = d.w3
    rollup = d.rollup
    challenger = ValidatorL1(anvil, d.contract, DEV_KEYS[1])
    args = d.serve_args(0.3)
    with (
        SequencerProcess(tmp_path / "seq", extra_args=args) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        chunk = challenger.params()["maxDARange"]
        # One aligned chunk per depth: a range is challenged once.
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(len(DEPTHS) * chunk)])
        wait_for(lambda: rollup.checkpoint_count() == 1, timeout=30, what="the checkpoint")
        assert rollup.checkpoint(0).size == len(DEPTHS) * chunk
        anvil_rpc(w3, "evm_setIntervalMining", 0)
        for depth in DEPTHS:
            # A challenge, mined; the sequencer's answer, mined in the head, then reorganised
            # away while the challenge's own block stays.
            out: dict[str, Any] = {}
            start, end = da_chunk((depth - 1) * chunk, len(DEPTHS) * chunk, chunk)
            bond = challenger.da_bond(end - start) * 5 // 4

            def open_challenge(
                out: dict[str, Any] = out, bond: int = bond, start: int = start, end: int = end
            ) -> None:
                out["id"], _ = challenger.open_da_challenge(0, start, end, bond)

            thread = threading.Thread(target=open_challenge, daemon=True)
            thread.start()
            _mine_the_next(w3, DEV_ADDRESSES[1], "the DA challenge")
            thread.join(timeout=30)
            cid = out["id"]
            block = _mine_the_next(w3, SEQUENCER_ADDRESS, f"the answer to challenge {cid}")
            assert rollup.da_challenge(cid).state == DAState.ANSWERED
            _reorg_out(w3, block, depth, rpc)
            assert rollup.da_challenge(cid).state == DAState.OPEN  # the answer is gone
            _mine_the_next(w3, SEQUENCER_ADDRESS, f"the answer to challenge {cid} again")
            assert rollup.da_challenge(cid).state == DAState.ANSWERED
        anvil_rpc(w3, "evm_setIntervalMining", 1)
        # Seen (two reorganisations in the same second of the watch count as one).
        assert _health(rpc)["reorgs"] >= 1
    # The honest state: every challenge answered, nothing upheld, the sequencer not frozen.
    states = [rollup.da_challenge(i).state for i in range(rollup.da_challenge_count())]
    assert states == [DAState.ANSWERED] * 5
    assert rollup.frozen() is False
    assert rollup.checkpoint_count() == 1


@pytest.mark.slow
def test_a_commit_reverted_away_by_evm_revert_is_sent_again(anvil: str, tmp_path: Path) -> None:
    """`evm_snapshot` before a commit, `evm_revert` after it mined (the head goes back): the
    sequencer sees the head go back, forgets the checkpoint, and commits it again."""
    d = bonded(anvil, challenge_window=600, da_window=60)
    w3 = d.w3
    rollup = d.rollup
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    args = d.serve_args(0.3)
    with (
        SequencerProcess(tmp_path / "seq", extra_args=args) as seq,
        RpcClient(seq.url, token="dev") as rpc,
    ):
        snapshot = anvil_rpc(w3, "evm_snapshot")
        rpc.call("attest_submit", unsigned(1))
        _mine_the_next(w3, SEQUENCER_ADDRESS, "the commit")
        for _ in range(2):
            anvil_rpc(w3, "evm_mine")
        head = w3.eth.block_number
        wait_for(lambda: _health(rpc)["headBlock"] == head, what="the sequencer's watch on it")
        wait_for(lambda: rpc.call("attest_getCheckpoint", "latest"), what="the sequencer's record")
        assert anvil_rpc(w3, "evm_revert", snapshot) is True
        anvil_rpc(
            w3, "evm_setNextBlockTimestamp", int(time.time()) + 1
        )  # anvil rewinds its clock too
        assert rollup.checkpoint_count() == 0
        _mine_the_next(w3, SEQUENCER_ADDRESS, "the commit again")
        assert rollup.checkpoint_count() == 1 and rollup.checkpoint(0).size == 1
        wait_for(
            lambda: (h := _health(rpc))["reorgs"] == 1 and h["deepestReorg"] == 3,
            what="the revert seen, 3 blocks deep",
        )
        anvil_rpc(w3, "evm_setIntervalMining", 1)
        rpc.call("attest_submit", unsigned(2))
        wait_for(lambda: rollup.checkpoint_count() == 2, timeout=30, what="the next commit")
        assert rollup.checkpoint(1).size == 2


@pytest.mark.slow
def test_a_reorganised_fraud_proof_is_judged_and_sent_again(anvil: str, tmp_path: Path) -> None:
    """A sequencer with a bad signature injected, a validator proving it: the proof's block is
    replaced by reorganisations of depth 1 to 5 (each time the checkpoint is live and the
    contract unfrozen again); the validator re-reads the canonical chain, judges again and
    proves again. Final state: the checkpoint reverted once, by one proof, the bond slashed.

    The chain is reorganised as soon as the validator recorded its proof, without waiting for
    its next read of the head: the proof's block is replaced before the validator saw it as a
    head (it knows it from the proof's receipt, `ReorgDetector.note`)."""
    d = bonded(anvil, challenge_window=600, da_window=60)
    w3 = d.w3
    rollup = d.rollup
    validator_address = DEV_ADDRESSES[1]
    args = d.serve_args(0.3)
    key_file = write_key_file(DEV_KEYS[1], tmp_path)
    anvil_rpc(w3, "evm_setIntervalMining", 0)
    with (
        SequencerProcess(tmp_path / "seq", extra_args=[*args, "--inject", "bad-signature"]) as seq,
        ValidatorProcess(
            sequencer=seq.url,
            l1_rpc=anvil,
            contract=d.contract,
            key_file=key_file,
            data_dir=tmp_path / "val",
            extra_args=["--poll-interval", "0.3", "--pull-interval", "0.1"],
        ) as val,
        RpcClient(seq.url, token="dev") as rpc,
        RpcClient(val.url) as vrpc,
    ):
        rpc.call("attest_submitBatch", [unsigned(i) for i in range(4)])
        _mine_the_next(w3, SEQUENCER_ADDRESS, "the faulty commit")
        assert rollup.checkpoint_count() == 1
        bond_before = int(rollup.contract.functions.bond().call())

        def prove() -> int:
            """Mine the validator's transactions one block each until the checkpoint is
            reverted (a claim or a moved leftover may come first); the proof's block."""
            for _ in range(6):
                block = _mine_the_next(w3, validator_address, "the validator's proof")
                if rollup.checkpoint(0).status == CheckpointStatus.REVERTED:
                    return block
            raise AssertionError("no proof reverted the checkpoint")

        for depth in DEPTHS:
            block = prove()
            assert rollup.frozen() is True
            # The validator saw its proof mined (it records it once the receipt is in).
            wait_for(
                lambda depth=depth: len(vrpc.call("validator_status")["proofs"]) >= depth,  # type: ignore[misc]
                what=f"the validator's record of proof {depth}",
            )
            _reorg_out(w3, block, depth)
            assert rollup.checkpoint(0).status == CheckpointStatus.PENDING
            assert rollup.frozen() is False
        prove()
        anvil_rpc(w3, "evm_setIntervalMining", 1)
        # Judged and proven again after each reorganisation: six proofs mined, one canonical.
        proofs = wait_for(
            lambda: len(p := vrpc.call("validator_status")["proofs"]) == 6 and p,
            what="the validator's record of its six proofs",
        )
        assert {p["rule"] for p in proofs} == {"BAD_SIGNATURE"}
    # The honest final state: one FraudProven on the canonical chain, the checkpoint reverted,
    # the contract frozen, the bond slashed.
    proven = rollup.contract.events.FraudProven().get_logs(from_block=0)
    assert len(proven) == 1 and proven[0]["args"]["challenger"] == validator_address
    assert rollup.checkpoint(0).status == CheckpointStatus.REVERTED
    assert rollup.frozen() is True
    assert int(rollup.contract.functions.bond().call()) < bond_before
