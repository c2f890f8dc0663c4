"""The validator's blocking view of L1: read checkpoints and challenges, send proofs.

Every method blocks on the node (web3 over HTTP): the async watcher calls them through
`trio.to_thread.run_sync` under a `trio.fail_after` deadline. Every transaction is first run as
an `eth_call` from the validator's account: a proof the contract would refuse (another
validator was faster, the window closed) costs no gas and comes back as `ProofRefusedError`
with the contract's reason. Gas limits are explicit (`calldata_gas_limit`): eth-tester's
estimate ignores EIP-7623's calldata floor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import Wei

from l1_contracts.contract import (
    Checkpoint,
    DAState,
    FraudRule,
    SignedReceipt,
    calldata_gas_limit,
    covered_count_at,
    read_checkpoint,
    receipt_deadline_fraud,
    receipt_mismatch_fraud,
    replay_fraud,
    rollup_at,
    single_record_fraud,
    time_travel_fraud,
)
from prover.errors import L1Error

log = logging.getLogger(__name__)

# Execution gas per call, measured at 2**40 leaves in docs/contract.md (fraud proofs <= 224k,
# openDAChallenge 120k, resolve ~ a fraud proof's revert + payout), with headroom.
_PROOF_GAS: Final[int] = 400_000
_DA_OPEN_GAS: Final[int] = 250_000
_DA_RESOLVE_GAS: Final[int] = 300_000


class ProofRefusedError(L1Error):
    """The contract refuses the call (its revert reason says why); nothing was sent."""


@dataclass(frozen=True, slots=True)
class DAChallengeRow:
    """`daChallenges(id)`."""

    id: int
    checkpoint_index: int
    start: int
    end: int
    deadline: int
    state: DAState
    challenger: str


@dataclass(frozen=True, slots=True)
class Sent:
    """A mined, successful transaction."""

    tx_hash: str
    gas_used: int
    receipt: Any


class ValidatorL1:
    """One rollup contract on one L1 endpoint, seen from the validator's account."""

    def __init__(self, rpc_url: str, contract: str, key: bytes, *, timeout_s: float = 10.0) -> None:
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.contract = rollup_at(self.w3, contract)
        self.account = Account.from_key(key)
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        return str(self.contract.address)

    # --- reads -------------------------------------------------------------------------------

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._call(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def sequencer(self) -> bytes:
        return bytes.fromhex(str(self._call(self.contract.functions.sequencer().call))[2:])

    def params(self) -> dict[str, int]:
        """The contract's immutable parameters the validator plans with."""
        f = self.contract.functions
        return {
            "challengeWindow": int(self._call(f.challengeWindow().call)),
            "daResponseWindow": int(self._call(f.daResponseWindow().call)),
            "maxDARange": int(self._call(f.maxDARange().call)),
            "challengerBond": int(self._call(f.challengerBond().call)),
        }

    def now(self) -> int:
        """Timestamp of the latest L1 block: the clock the contract's windows run on."""
        return int(self._call(lambda: self.w3.eth.get_block("latest")["timestamp"]))

    def checkpoint_count(self) -> int:
        return int(self._call(self.contract.functions.checkpointCount().call))

    def checkpoint(self, index: int) -> Checkpoint:
        return self._call(lambda: read_checkpoint(self.contract, index))  # type: ignore[no-any-return]

    def prev_size(self, index: int) -> int:
        """Records with seq >= prevSize(index) are new in checkpoint `index`."""
        return int(self._call(self.contract.functions.prevSize(index).call))

    def da_challenge(self, challenge_id: int) -> DAChallengeRow:
        raw = self._call(self.contract.functions.daChallenges(challenge_id).call)
        index, start, end, deadline, state, challenger, _bond = raw
        return DAChallengeRow(challenge_id, int(index), int(start), int(end), int(deadline),
                              DAState(state), str(challenger))

    def revealed_records(self, challenge_id: int) -> list[bytes] | None:
        """The records revealed for `challenge_id` (its `RecordsRevealed` event), or None."""
        logs = self._call(lambda: self.contract.events.RecordsRevealed().get_logs(
            from_block=0, argument_filters={"challengeId": challenge_id}))
        for entry in logs:
            return [bytes(r) for r in entry["args"]["records"]]
        return None

    def balance(self) -> int:
        return int(self._call(lambda: self.w3.eth.get_balance(self.account.address)))

    # --- proofs ------------------------------------------------------------------------------

    def prove_single(
        self, rule: FraudRule, cp: int, index: int, record: bytes, proof: Sequence[bytes]
    ) -> Sent:
        fn = single_record_fraud(self.contract, rule, cp, index, record, proof)
        return self._send(fn, _PROOF_GAS, f"{rule.name} proof on checkpoint {cp}")

    def prove_time_travel(
        self, cp: int, index: int, record: bytes, proof: Sequence[bytes],
        next_record: bytes, next_proof: Sequence[bytes],
    ) -> Sent:
        fn = time_travel_fraud(self.contract, cp, index, record, proof, next_record, next_proof)
        return self._send(fn, _PROOF_GAS, f"time-travel proof on checkpoint {cp}")

    def prove_replay(
        self, cp: int, index: int, record: bytes, proof: Sequence[bytes],
        later_index: int, later_record: bytes, later_proof: Sequence[bytes],
    ) -> Sent:
        fn = replay_fraud(self.contract, cp, index, record, proof, later_index, later_record, later_proof)
        return self._send(fn, _PROOF_GAS, f"replay proof on checkpoint {cp}")

    def prove_receipt_mismatch(
        self, receipt: SignedReceipt, leaf_hash: bytes, index_in_batch: int,
        batch_path: Sequence[bytes], cp: int, other_record: bytes, proof: Sequence[bytes],
    ) -> Sent:
        fn = receipt_mismatch_fraud(
            self.contract, receipt, leaf_hash, index_in_batch, batch_path, cp, other_record, proof
        )
        return self._send(fn, _PROOF_GAS, f"receipt-mismatch proof on checkpoint {cp}")

    def prove_receipt_deadline(self, receipt: SignedReceipt) -> Sent:
        covered = self._call(lambda: covered_count_at(self.contract, receipt.deadline))
        fn = receipt_deadline_fraud(self.contract, receipt, covered)
        return self._send(fn, _PROOF_GAS, f"receipt-deadline proof for seq {receipt.first_seq}")

    def open_da_challenge(self, cp: int, start: int, end: int, bond: int) -> tuple[int, Sent]:
        """Open a DA challenge on [start, end) of checkpoint `cp`; (challenge id, tx)."""
        fn = self.contract.functions.openDAChallenge(cp, start, end)
        sent = self._send(fn, _DA_OPEN_GAS, f"DA challenge on checkpoint {cp} [{start}, {end})",
                          value=bond)
        events = self.contract.events.DAChallengeOpened().process_receipt(sent.receipt)
        if not events:
            raise L1Error("openDAChallenge mined without a DAChallengeOpened event")
        return int(events[0]["args"]["challengeId"]), sent

    def resolve_da_challenge(self, challenge_id: int, *, simulate: bool = True) -> Sent:
        """Settle an unanswered challenge. `simulate=False` when the deadline passed on the wall
        clock but no L1 block is late enough yet to simulate against (the transaction's block
        will be)."""
        fn = self.contract.functions.resolveDAChallenge(challenge_id)
        return self._send(fn, _DA_RESOLVE_GAS, f"resolveDAChallenge({challenge_id})", simulate=simulate)

    # --- plumbing ----------------------------------------------------------------------------

    def _send(
        self, fn: ContractFunction, execution_gas: int, what: str, *, value: int = 0, simulate: bool = True
    ) -> Sent:
        """Simulate, then sign and send `fn` from the validator's account; wait for success."""
        calldata = bytes.fromhex(fn._encode_transaction_data()[2:])
        addr = self.account.address

        def send() -> Sent:
            # Verify the contract accepts the call now, before paying for it.
            if simulate:
                try:
                    fn.call({"from": addr, "value": Wei(value)})
                except ContractLogicError as exc:
                    raise ProofRefusedError(f"{what}: refused by the contract: {exc}") from exc
            tx = fn.build_transaction({
                "from": addr,
                "value": Wei(value),
                "nonce": self.w3.eth.get_transaction_count(addr, "pending"),
                "gas": calldata_gas_limit(len(calldata), execution_gas),
                "chainId": self.chain_id(),
            })
            signed = self.account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
            if receipt["status"] != 1:
                raise L1Error(f"{what} reverted in tx 0x{bytes(tx_hash).hex()}")
            return Sent("0x" + bytes(tx_hash).hex(), int(receipt["gasUsed"]), receipt)

        sent: Sent = self._call(send)
        log.info("sent %s: tx %s, gas %d", what, sent.tx_hash, sent.gas_used)
        return sent

    def _call(self, fn: Any) -> Any:
        """Run one web3 interaction; every failure becomes `L1Error` with what failed."""
        try:
            return fn()
        except L1Error:
            raise
        except Exception as exc:  # web3 raises many unrelated types for one cause: L1 trouble
            raise L1Error(f"L1 {self.rpc_url}: {type(exc).__name__}: {exc}") from exc
