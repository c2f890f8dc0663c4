"""The validator's view of L1 under reorganisations of depth 1 to 5, on anvil, one watcher round
at a time: every log it consumed — a CheckpointCommitted, a DA answer, a CheckpointsReverted with
its FraudProven — is taken away by a reorganisation, and its view must follow the canonical
chain (what it anchors the replica to, what it judges, what it challenges).

The validator is the real `Watcher` over a real replica (LevelDB) and the real `ValidatorL1`,
run in this process so the test can act at the attacker's best moment: `_Between` lets the test
move the chain *between* the watcher's read of L1's head and the rest of its round (a block
mined there, and replaced before the next round, is one the watcher never saw as a head). The
test plays the sequencer on L1 (its commits and DA answers, from a real store of records) and a
second validator (its DA challenge).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from web3 import Web3

from l1_contracts.accounts import DEV_ADDRESSES, DEV_KEYS, SEQUENCER_ADDRESS
from l1_contracts.contract import deploy_rollup
from prover.checkpoint import CheckpointStatus, DAState
from prover.eip712 import Domain
from prover.range_proof import prove_range
from prover.record import encode_record
from prover.wire import parse_address
from sequencer.l1.account import L1Client
from sequencer.l1.reorg import Block, Reorg
from sequencer.validator.metrics import ValidatorMetrics
from sequencer.validator.prove import ValidatorL1
from sequencer.validator.replicate import Replica
from sequencer.validator.watch import Watcher
from state_db.store import Store
from tests.conftest_l1 import l1_node
from tests.sequencer.validator.test_replicate import Source, unsigned

pytestmark = pytest.mark.slow

DEPTHS = (1, 2, 3, 4, 5)
CHUNK = 4
"""maxDARange: two chunks of records, one DA challenge each."""
SIZE = 2 * CHUNK
BOUND = 1_700_000_000_000 + SIZE  # ms: after every record's stamp (T0 + seq)


class _Between(ValidatorL1):
    """The validator's L1, with the test's hand between the round's read of the head and the
    rest of the round: `between` runs once, right after the head was read."""

    between: Callable[[], None] | None = None

    def follow_head(self) -> tuple[Block, Reorg | None]:
        out = super().follow_head()
        act, self.between = self.between, None
        if act is not None:
            act()
        return out


@dataclass
class World:
    w3: Web3
    sequencer: L1Client
    other: ValidatorL1
    """A second validator, whose DA challenge the watcher follows as a foreign one."""
    l1: _Between
    watcher: Watcher
    replica: Replica
    source: Source

    def rpc(self, method: str, *params: Any) -> Any:
        answer = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in answer, answer
        return answer["result"]

    def mine(self, n: int) -> None:
        for _ in range(n):
            self.rpc("evm_mine")

    def step(self) -> None:
        """One watcher round."""
        trio.run(self.watcher.step)

    def reorg(self, depth: int) -> None:
        """Replace the last `depth` blocks with empty ones; anvil's clock put back to now (its
        replacement blocks reuse the replaced blocks' times)."""
        self.rpc("anvil_reorg", depth, [])
        self.clock()

    def clock(self) -> None:
        """The next block at the wall clock's time (or just after the head's, if later)."""
        head = int(self.w3.eth.get_block("latest")["timestamp"])
        self.rpc("evm_setNextBlockTimestamp", max(head + 1, int(time.time()) + 1))

    def view(self, index: int) -> dict[str, Any] | None:
        return self.watcher.checkpoint(index)

    def reveal(self, cid: int, start: int, end: int) -> None:
        records = self.source.store.get_records(start, end)
        self.sequencer.reveal(cid, records, prove_range(self.source.store, start, end, SIZE))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with l1_node("anvil") as url:
        w3 = Web3(Web3.HTTPProvider(url))
        rollup = deploy_rollup(
            w3, SEQUENCER_ADDRESS, DEV_ADDRESSES[0], 600, 60, 10**18, max_da_range=CHUNK
        )
        rollup.functions.deposit().transact({"from": SEQUENCER_ADDRESS, "value": 10**19})
        source = Source(tmp_path / "source")
        source.append_block([encode_record(unsigned(i)) for i in range(SIZE)])
        l1 = _Between(url, rollup.address, DEV_KEYS[1])
        domain = Domain(int(w3.eth.chain_id), parse_address(rollup.address, "contract"))
        sequencer = parse_address(SEQUENCER_ADDRESS, "sequencer")
        replica = Replica(Store.open(tmp_path / "replica"), domain.separator, sequencer)
        watcher = Watcher(
            replica,
            l1,
            ValidatorMetrics(),
            params=l1.params(),
            domain_separator=domain.separator,
            sequencer=sequencer,
            da_grace_s=1e9,  # DA challenges only when the test says so
        )
        # Automine: every transaction mined at once; the test buries blocks with evm_mine.
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        yield World(
            w3,
            L1Client(url, rollup.address, DEV_KEYS[0]),
            ValidatorL1(url, rollup.address, DEV_KEYS[2]),
            l1,
            watcher,
            replica,
            source,
        )
        replica.close()


@pytest.mark.parametrize("depth", DEPTHS)
def test_the_validator_view_follows_the_canonical_chain(world: World, depth: int) -> None:
    w = world
    w.mine(6)  # room below: no reorganisation reaches the deployment
    w.step()
    assert w.view(0) is None

    # 1. A commit of a root nobody served, mined right after the watcher read the head and
    #    replaced `depth` blocks deep before its next round: the watcher must never anchor
    #    the replica to it, nor keep it in its view.
    def forged_commit() -> None:
        w.sequencer.commit(SIZE, b"\x66" * 32, [], BOUND)
        w.mine(depth - 1)

    w.l1.between = forged_commit
    w.step()
    assert w.sequencer.checkpoint_count() == 1
    w.reorg(depth)
    assert w.sequencer.checkpoint_count() == 0
    for _ in range(2):
        w.step()
        assert w.view(0) is None, "a commit L1 no longer holds is still in the view"
        assert w.replica.checkpoint is None, "the replica is anchored to a root L1 never kept"
        assert w.watcher.l1_status()["anchoredSize"] == 0

    # 2. A commit the watcher saw (head and log), replaced by another commit at the same index:
    #    the view holds the canonical one, new from 0.
    w.sequencer.commit(CHUNK, w.source.store.root_at(CHUNK), [], BOUND)
    w.mine(depth - 1)
    w.step()
    seen = w.view(0)
    assert seen is not None and seen["treeSize"] == CHUNK
    w.reorg(depth)
    w.sequencer.commit(SIZE, w.source.store.root_at(SIZE), [], BOUND)
    w.step()
    now = w.view(0)
    assert now is not None and now["treeSize"] == SIZE
    assert now["root"] == "0x" + w.source.store.root_at(SIZE).hex()
    assert w.watcher.status()["checkpoints"][0]["prevSize"] == 0
    assert w.replica.checkpoint == (SIZE, w.source.store.root_at(SIZE))

    # 3. A DA challenge (another validator's: ours would claim its refund in the same round,
    #    a block above the answer) answered, its records taken into the replica; the answer
    #    replaced: the challenge is open again in the view (its answer awaited, or its deadline);
    #    answered again, followed again.
    bond = w.other.da_bond(CHUNK) * 5 // 4
    first, _ = w.other.open_da_challenge(0, 0, CHUNK, bond)
    w.step()
    assert w.watcher.foreign[first]["state"] == "OPEN"
    w.reveal(first, 0, CHUNK)
    w.mine(depth - 1)
    w.step()
    assert w.watcher.foreign[first]["state"] == "ANSWERED"
    assert w.replica.size == CHUNK
    w.reorg(depth)
    assert w.sequencer.da_challenge(first).state == DAState.OPEN
    w.step()
    assert w.watcher.foreign[first]["state"] == "OPEN", "an answer L1 no longer holds"
    w.reveal(first, 0, CHUNK)
    w.step()
    assert w.watcher.foreign[first]["state"] == "ANSWERED"

    # 4. Another validator's DA challenge upheld (FraudProven, CheckpointsReverted), consumed,
    #    then taken away (`evm_revert`: L1's clock goes back with it, as the answer's window
    #    needs): the checkpoint is pending again in the view, the challenge open again; the
    #    sequencer's answer is then taken into the replica and the checkpoint agrees.
    cid, _ = w.other.open_da_challenge(0, CHUNK, SIZE, bond)
    w.step()
    assert w.watcher.foreign[cid]["state"] == "OPEN"
    snapshot = w.rpc("evm_snapshot")
    w.rpc("evm_increaseTime", 120)
    w.other.resolve_da_challenge(cid, simulate=False)
    w.mine(depth - 1)
    assert w.sequencer.frozen() is True
    w.step()
    gone = w.view(0)
    assert gone is not None and gone["status"] == "reverted"
    assert w.replica.checkpoint is None
    assert w.rpc("evm_revert", snapshot) is True
    w.clock()
    assert w.sequencer.checkpoint(0).status == CheckpointStatus.PENDING
    w.step()
    back = w.view(0)
    assert back is not None and back["status"] == "pending", "a revert L1 no longer holds"
    assert w.watcher.foreign[cid]["state"] == "OPEN"
    assert w.replica.checkpoint == (SIZE, w.source.store.root_at(SIZE))
    w.reveal(cid, CHUNK, SIZE)
    w.step()
    w.step()
    assert w.replica.size == SIZE
    assert w.watcher.status()["checkpoints"][0]["verdict"] == "agrees"
    assert w.l1.reorgs is not None and w.l1.reorgs.deepest >= depth
    # The canonical state is the honest one: the checkpoint pending, both challenges answered,
    # and the watcher never sent anything (nothing for it to prove or challenge).
    assert w.sequencer.frozen() is False
    assert [w.sequencer.da_challenge(i).state for i in (first, cid)] == [DAState.ANSWERED] * 2
    assert w.watcher.status()["proofs"] == [] and w.watcher.challenges == {}
