"""The sequencer's blocking view of L1: read checkpoints, send commits (web3, HTTP).

Every method blocks on the node: the async side calls them through `trio.to_thread.run_sync`
under a `trio.fail_after` deadline. L1 is the source of truth for checkpoints; the sequencer
keeps only a cache of what it read there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import Wei

from l1_contracts.contract import (
    Checkpoint,
    DAState,
    calldata_gas_limit,
    read_checkpoint,
    reveal_records,
    rollup_at,
)
from prover.errors import L1Error

log = logging.getLogger(__name__)

# Execution gas of commit() is at most ~144k at any size up to 2**52 (docs/contract.md); the
# limit adds the EIP-7623 calldata floor explicitly because eth-tester's estimate ignores it.
_COMMIT_EXECUTION_GAS = 200_000


@dataclass(frozen=True, slots=True)
class DAChallenge:
    """One data-availability challenge as the contract holds it (DESIGN §5)."""

    id: int
    checkpoint_index: int
    start: int
    end: int
    deadline: int
    state: DAState
    challenger: str
    bond: int


@dataclass(frozen=True, slots=True)
class Sent:
    """A mined, successful transaction."""

    tx_hash: str
    gas_used: int
    receipt: Any


@dataclass(frozen=True, slots=True)
class SentCommit:
    tx_hash: bytes
    block_number: int
    index: int


class TransactionRefusedError(L1Error):
    """The contract refused the call when simulated: nothing was sent, no gas was paid."""


class RollupAccount:
    """One rollup contract on one L1 endpoint, seen from one account that signs locally.

    The sequencer's committer (`L1Client`) and the validator (`ValidatorL1`) both build on it:
    reads of the fixed interface, and sending with an explicit gas limit (eth-tester's estimate
    ignores EIP-7623's calldata floor), every failure turned into `L1Error`.
    """

    def __init__(self, rpc_url: str, contract: str, key: bytes, *, timeout_s: float = 10.0) -> None:
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.contract: Contract = rollup_at(self.w3, contract)
        self.account = Account.from_key(key)
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._call(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def checkpoint_count(self) -> int:
        return int(self._call(self.contract.functions.checkpointCount().call))

    def checkpoint(self, index: int) -> Checkpoint:
        return self._call(lambda: read_checkpoint(self.contract, index))  # type: ignore[no-any-return]

    def latest_block_time(self) -> int:
        """Timestamp (Unix seconds) of L1's latest block: the clock the contract's windows
        run on, and the earliest a transaction sent now can mine."""
        return int(self._call(lambda: self.w3.eth.get_block("latest")["timestamp"]))

    def da_challenge(self, challenge_id: int) -> DAChallenge:
        raw = self._call(self.contract.functions.daChallenges(challenge_id).call)
        index, start, end, deadline, state, challenger, bond = raw
        return DAChallenge(challenge_id, int(index), int(start), int(end), int(deadline),
                           DAState(state), str(challenger), int(bond))

    def _send(
        self,
        fn: ContractFunction,
        execution_gas: int,
        what: str,
        *,
        value: int = 0,
        simulate: bool = False,
    ) -> Sent:
        """Sign `fn` with this account's key, send it, wait for a successful receipt.

        With `simulate`, the call is first run as `eth_call`, so one the contract would refuse
        (someone was faster, a window closed) raises `TransactionRefusedError` and costs nothing.
        """
        calldata = bytes.fromhex(fn._encode_transaction_data()[2:])
        addr = self.account.address

        def send() -> Sent:
            if simulate:
                try:
                    fn.call({"from": addr, "value": Wei(value)})
                except ContractLogicError as exc:
                    raise TransactionRefusedError(f"{what}: refused by the contract: {exc}") from exc
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


class L1Client(RollupAccount):
    """The rollup seen from the sequencer account: commits and DA answers."""

    def frozen(self) -> bool:
        return bool(self._call(self.contract.functions.frozen().call))

    def last(self) -> tuple[int, bytes]:
        """(size, root) of the latest non-reverted checkpoint; (0, b"") when there is none."""
        size = int(self._call(self.contract.functions.lastSize().call))
        if size == 0:
            return 0, b""
        return size, bytes(self._call(self.contract.functions.lastRoot().call))

    def has_pending_transactions(self) -> bool:
        """True while a transaction from the sequencer account is not mined yet."""
        addr = self.account.address
        pending = self._call(lambda: self.w3.eth.get_transaction_count(addr, "pending"))
        latest = self._call(lambda: self.w3.eth.get_transaction_count(addr, "latest"))
        return bool(pending > latest)

    def commit(self, size: int, root: bytes, proof: Sequence[bytes], timestamp_bound: int) -> SentCommit:
        """Send commit(size, root, proof, timestampBound) signed by the sequencer key; wait for
        the receipt. `timestamp_bound` (ms) is the latest stamp of the records it adds: L1
        refuses the commit in a block stamped earlier (contract v2, rule 4b)."""
        fn = self.contract.functions.commit(size, root, list(proof), timestamp_bound)
        receipt = self._send(fn, _COMMIT_EXECUTION_GAS, f"commit({size})").receipt
        events = self.contract.events.CheckpointCommitted().process_receipt(receipt)
        if not events:
            raise L1Error(f"commit({size}) mined without a CheckpointCommitted event")
        return SentCommit(
            bytes(receipt["transactionHash"]), int(receipt["blockNumber"]), int(events[0]["args"]["index"])
        )

    def da_challenge_count(self) -> int:
        return int(self._call(self.contract.functions.daChallengeCount().call))

    def reveal(self, challenge_id: int, records: Sequence[bytes], proof: Sequence[bytes]) -> bytes:
        """Answer DA challenge `challenge_id` with its records; the transaction hash."""
        fn = reveal_records(self.contract, challenge_id, records, proof)
        # Execution: ~40k + a keccak and a log of 352 bytes per record, on top of the calldata.
        sent = self._send(fn, 200_000 + 30_000 * len(records), f"revealRecords({challenge_id})")
        return bytes(sent.receipt["transactionHash"])
