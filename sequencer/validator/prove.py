"""The validator's blocking view of L1: read checkpoints and challenges, send proofs.

Every method blocks on the node (web3 over HTTP): the async watcher calls them through
`trio.to_thread.run_sync` under a `trio.fail_after` deadline. Every transaction is first run as
an `eth_call` from the validator's account: a proof the contract would refuse (another
validator was faster, the window closed) costs no gas and comes back as `TransactionRefusedError`
with the contract's reason. Gas limits are explicit (`calldata_gas_limit`): eth-tester's
estimate ignores EIP-7623's calldata floor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from l1_contracts.contract import (
    SignedReceipt,
    claim,
    covered_count_at,
    da_bond,
    receipt_deadline_fraud,
    receipt_mismatch_fraud,
    replay_fraud,
    revealed_records,
    single_record_fraud,
    time_travel_fraud,
)
from prover.errors import L1Error
from prover.validity import FraudRule
from prover.wire import parse_address
from sequencer.l1.account import Gas, RollupAccount, Sent
from sequencer.l1.reorg import Reorg, ReorgDetector

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class L1Events:
    """What `ValidatorL1.events` found in a block range."""

    committed: list[tuple[int, int, bytes, int, int, int]]
    """(index, size, root, committedAt, challengeEnds, timestampBound) per commit."""
    reverted: list[tuple[int, int]]
    """(fromIndex, toIndex) per revert cascade."""
    opened: list[tuple[int, int, str, int, int, int]]
    """(id, checkpoint, challenger, start, end, deadline) per DA challenge opened."""


class ValidatorL1(RollupAccount):
    """The rollup seen from the validator's account: reads, fraud proofs, DA challenges.

    Every proof is simulated before it is sent (`simulate=True`), so one the contract would
    refuse costs no gas and comes back as `TransactionRefusedError`.
    """

    reorgs: ReorgDetector | None = None

    # --- reads -------------------------------------------------------------------------------

    def follow_head(self) -> Reorg | None:
        """Read L1's head and compare it with the blocks seen before: the reorganisation that
        replaced some of them, if any (the watcher then re-reads its checkpoint view)."""
        if self.reorgs is None:
            self.reorgs = ReorgDetector()
        return self.reorgs.observe(self.head_block(), self.block_hash)

    def sequencer(self) -> bytes:
        return parse_address(self._call(self.contract.functions.sequencer().call), "sequencer()")

    def params(self) -> dict[str, int]:
        """The contract's immutable parameters the validator plans with."""
        f = self.contract.functions
        return {
            "challengeWindow": int(self._call(f.challengeWindow().call)),
            "daResponseWindow": int(self._call(f.daResponseWindow().call)),
            "maxDARange": int(self._call(f.maxDARange().call)),
            "challengerBond": int(self._call(f.challengerBond().call)),
        }

    def prev_size(self, index: int) -> int:
        """Records with seq >= prevSize(index) are new in checkpoint `index`."""
        return int(self._call(self.contract.functions.prevSize(index).call))

    def timestamp_bound(self, index: int) -> int:
        """The timestamp bound (ms) checkpoint `index` declared (rule 4b's limit, contract v2)."""
        return int(self._call(self.contract.functions.timestampBound(index).call))

    def da_bond(self, count: int) -> int:
        """What a DA challenge on `count` records needs now (priced by the basefee)."""
        return int(self._call(lambda: da_bond(self.contract, count)))

    def credits(self) -> int:
        """Wei the contract owes this account (rewards, refunds), paid by `claim`."""
        return int(self._call(self.contract.functions.credits(self.account.address).call))

    def claim(self) -> Sent:
        """Pull everything the contract credited to this account (contract v2 never pushes)."""
        return self._send(claim(self.contract), Gas.CLAIM, "claim", simulate=True)

    def revealed_records(self, challenge_id: int) -> list[bytes] | None:
        """The records revealed for `challenge_id` (from its reveal's calldata), or None."""
        return self._call(lambda: revealed_records(self.w3, self.contract, challenge_id))  # type: ignore[no-any-return]

    def events(self, from_block: int, to_block: int) -> L1Events:
        """The rollup's events a validator follows, mined in ``[from_block, to_block]``, each
        list in log order (`eth_getLogs` per event type; callers keep ranges short)."""
        ev = self.contract.events

        def logs(name: str) -> list[Any]:
            return list(
                self._call(
                    lambda: getattr(ev, name)().get_logs(from_block=from_block, to_block=to_block)
                )
            )

        return L1Events(
            committed=[
                (
                    int(e["args"]["index"]),
                    int(e["args"]["size"]),
                    bytes(e["args"]["root"]),
                    int(e["args"]["committedAt"]),
                    int(e["args"]["challengeEnds"]),
                    int(e["args"]["timestampBound"]),
                )
                for e in logs("CheckpointCommitted")
            ],
            reverted=[
                (int(e["args"]["fromIndex"]), int(e["args"]["toIndex"]))
                for e in logs("CheckpointsReverted")
            ],
            opened=[
                (
                    int(e["args"]["challengeId"]),
                    int(e["args"]["checkpointIndex"]),
                    str(e["args"]["challenger"]),
                    int(e["args"]["start"]),
                    int(e["args"]["end"]),
                    int(e["args"]["deadline"]),
                )
                for e in logs("DAChallengeOpened")
            ],
        )

    def block_number(self) -> int:
        return int(self._call(lambda: self.w3.eth.block_number))

    def balance(self) -> int:
        return int(self._call(lambda: self.w3.eth.get_balance(self.account.address)))

    # --- proofs ------------------------------------------------------------------------------

    def prove_single(
        self, rule: FraudRule, cp: int, index: int, record: bytes, proof: Sequence[bytes]
    ) -> Sent:
        fn = single_record_fraud(self.contract, rule, cp, index, record, proof)
        return self._send(fn, Gas.PROOF, f"{rule.name} proof on checkpoint {cp}", simulate=True)

    def prove_time_travel(
        self,
        cp: int,
        index: int,
        record: bytes,
        proof: Sequence[bytes],
        next_record: bytes,
        next_proof: Sequence[bytes],
    ) -> Sent:
        fn = time_travel_fraud(self.contract, cp, index, record, proof, next_record, next_proof)
        return self._send(fn, Gas.PROOF, f"time-travel proof on checkpoint {cp}", simulate=True)

    def prove_replay(
        self,
        cp: int,
        index: int,
        record: bytes,
        proof: Sequence[bytes],
        later_index: int,
        later_record: bytes,
        later_proof: Sequence[bytes],
    ) -> Sent:
        fn = replay_fraud(
            self.contract, cp, index, record, proof, later_index, later_record, later_proof
        )
        return self._send(fn, Gas.PROOF, f"replay proof on checkpoint {cp}", simulate=True)

    def prove_receipt_mismatch(
        self,
        receipt: SignedReceipt,
        leaf_hash: bytes,
        index_in_batch: int,
        batch_path: Sequence[bytes],
        cp: int,
        other_record: bytes,
        proof: Sequence[bytes],
    ) -> Sent:
        fn = receipt_mismatch_fraud(
            self.contract, receipt, leaf_hash, index_in_batch, batch_path, cp, other_record, proof
        )
        return self._send(
            fn, Gas.PROOF, f"receipt-mismatch proof on checkpoint {cp}", simulate=True
        )

    def prove_receipt_deadline(self, receipt: SignedReceipt) -> Sent:
        covered = self._call(lambda: covered_count_at(self.contract, receipt.deadline))
        fn = receipt_deadline_fraud(self.contract, receipt, covered)
        return self._send(
            fn, Gas.PROOF, f"receipt-deadline proof for seq {receipt.first_seq}", simulate=True
        )

    def open_da_challenge(self, cp: int, start: int, end: int, bond: int) -> tuple[int, Sent]:
        """Open a DA challenge on [start, end) of checkpoint `cp`; (challenge id, tx)."""
        fn = self.contract.functions.openDAChallenge(cp, start, end)
        sent = self._send(
            fn,
            Gas.DA_OPEN,
            f"DA challenge on checkpoint {cp} [{start}, {end})",
            value=bond,
            simulate=True,
        )
        events = self.contract.events.DAChallengeOpened().process_receipt(sent.receipt)
        if not events:
            raise L1Error("openDAChallenge mined without a DAChallengeOpened event")
        return int(events[0]["args"]["challengeId"]), sent

    def resolve_da_challenge(self, challenge_id: int, *, simulate: bool = True) -> Sent:
        """Settle an unanswered challenge. `simulate=False` when the deadline passed on the wall
        clock but no L1 block is late enough yet to simulate against (the transaction's block
        will be)."""
        fn = self.contract.functions.resolveDAChallenge(challenge_id)
        return self._send(
            fn, Gas.DA_RESOLVE, f"resolveDAChallenge({challenge_id})", simulate=simulate
        )
