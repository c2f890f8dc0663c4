"""Accounts that send to the rollup contract: the sequencer's (commits, DA answers) and, through
`sequencer.validator.prove`, the validator's (proofs, DA challenges). Blocking (web3, HTTP).

Every method blocks on the node: the async side calls them through `trio.to_thread.run_sync`
under a `trio.fail_after` deadline. L1 is the source of truth for checkpoints; the sequencer
keeps only a cache of what it read there.
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
from web3.types import Nonce, Wei

from l1_contracts.contract import (
    calldata_gas_limit,
    commit_call,
    reveal_records,
)
from prover.checkpoint import DAState
from prover.errors import L1Error
from prover.wire import hex0x, parse_hex
from sequencer.l1.reader import RollupReader
from sequencer.l1.sender import TransactionSender
from sequencer.l1.signer import RemoteSigner, TransactionSigner

log = logging.getLogger(__name__)


class Gas:
    """Execution gas limits of every transaction the services send, in one place.

    `calldata_gas_limit` adds the EIP-7623 calldata floor to each, explicitly, because
    eth-tester's estimate ignores it. Measured figures: docs/benchmarks.md (bench_gas).
    """

    COMMIT: Final = 200_000
    """commit(): at most ~144k at any size up to 2**52 (docs/contract.md)."""
    REVEAL_BASE: Final = 200_000
    REVEAL_PER_RECORD: Final = 30_000
    """revealRecords(): ~40k, plus a keccak and a 352-byte log per record."""
    PROOF: Final = 400_000
    """Any one-step fraud proof or broken-receipt proof: at most ~305k at 2**52."""
    DA_OPEN: Final = 300_000
    """openDAChallenge(): ~186k at 2**52."""
    DA_RESOLVE: Final = 400_000
    """resolveDAChallenge(): a fraud proof's revert plus the credit."""
    CLAIM: Final = 60_000
    """claim(): pull the credited payouts."""
    FORCED_PER_RECORD: Final = 100_000
    """Added to COMMIT per forced record a commit proves: ~67k gas at 2**52, and at most 97k
    for the EIP-7623 calldata floor of its 2,432 bytes (docs/benchmarks.md §6b)."""
    POST_FORCED: Final = 200_000
    """postForced(): ~120k for the first entry (fresh storage words), less after."""


@dataclass(frozen=True, slots=True)
class DAChallenge:
    """One data-availability challenge as the contract holds it (docs/spec.md §9)."""

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


class RollupAccount(RollupReader):
    """One rollup contract on one L1 endpoint, seen from one account that signs locally.

    The sequencer's committer (`L1Client`) and the validator (`ValidatorL1`) both build on it:
    the reads of `RollupReader`, and sending with an explicit gas limit, every failure turned
    into `L1Error`.
    """

    def __init__(
        self,
        rpc_url: str,
        contract: str,
        key: bytes | RemoteSigner,
        *,
        timeout_s: float = 10.0,
        w3: Web3 | None = None,
    ) -> None:
        super().__init__(rpc_url, contract, timeout_s=timeout_s, w3=w3)
        # The signing seam: a key held here, or a signer elsewhere (sequencer/l1/signer.py).
        self.account: TransactionSigner = (
            key if isinstance(key, RemoteSigner) else Account.from_key(key)
        )
        self.sender = TransactionSender(self.w3, self.account)
        """Fees, the nonce and replacement of every transaction this account sends."""

    def da_challenge(self, challenge_id: int) -> DAChallenge:
        raw = self._call(self.contract.functions.daChallenges(challenge_id).call)
        index, start, end, deadline, state, challenger, bond = raw
        return DAChallenge(
            challenge_id,
            int(index),
            int(start),
            int(end),
            int(deadline),
            DAState(state),
            str(challenger),
            int(bond),
        )

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
        calldata = parse_hex(fn._encode_transaction_data(), "calldata")
        addr = self.account.address

        def send() -> Sent:
            if simulate:
                try:
                    fn.call({"from": addr, "value": Wei(value)})
                except ContractLogicError as exc:
                    raise TransactionRefusedError(
                        f"{what}: refused by the contract: {exc}"
                    ) from exc
            # Nonce and fees are the sender's (sequencer/l1/sender.py): placeholders here keep
            # web3 from asking the node for them.
            tx = fn.build_transaction(
                {
                    "from": addr,
                    "value": Wei(value),
                    "nonce": Nonce(0),
                    "gas": calldata_gas_limit(len(calldata), execution_gas),
                    "chainId": self.chain_id(),
                    "maxFeePerGas": Wei(1),
                    "maxPriorityFeePerGas": Wei(1),
                }
            )
            receipt = self.sender.send(dict(tx), what)
            tx_hash = bytes(receipt["transactionHash"])
            if receipt["status"] != 1:
                raise L1Error(f"{what} reverted in tx 0x{bytes(tx_hash).hex()}")
            return Sent(hex0x(bytes(tx_hash)), int(receipt["gasUsed"]), receipt)

        sent: Sent = self._call(send)
        log.info("sent %s: tx %s, gas %d", what, sent.tx_hash, sent.gas_used)
        return sent


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

    def commit(
        self,
        size: int,
        root: bytes,
        proof: Sequence[bytes],
        timestamp_bound: int,
        forced: Sequence[tuple[bytes, Sequence[bytes]]] = (),
    ) -> SentCommit:
        """Send commit(size, root, proof, timestampBound, forced) signed by the sequencer key;
        wait for the receipt. `timestamp_bound` (ms) is the latest stamp of the records it
        adds: L1 refuses the commit in a block stamped earlier (contract v2, rule 4b).
        `forced` holds the forced records it newly includes with their inclusion proofs in
        (size, root), in inbox order (docs/spec.md §7.3)."""
        fn = commit_call(self.contract, size, root, proof, timestamp_bound, forced)
        gas = Gas.COMMIT + Gas.FORCED_PER_RECORD * len(forced)
        receipt = self._send(fn, gas, f"commit({size})").receipt
        events = self.contract.events.CheckpointCommitted().process_receipt(receipt)
        if not events:
            raise L1Error(f"commit({size}) mined without a CheckpointCommitted event")
        return SentCommit(
            bytes(receipt["transactionHash"]),
            int(receipt["blockNumber"]),
            int(events[0]["args"]["index"]),
        )

    def da_challenge_count(self) -> int:
        return int(self._call(self.contract.functions.daChallengeCount().call))

    def reveal(self, challenge_id: int, records: Sequence[bytes], proof: Sequence[bytes]) -> bytes:
        """Answer DA challenge `challenge_id` with its records; the transaction hash."""
        fn = reveal_records(self.contract, challenge_id, records, proof)
        # Execution: ~40k + a keccak and a log of 352 bytes per record, on top of the calldata.
        sent = self._send(
            fn,
            Gas.REVEAL_BASE + Gas.REVEAL_PER_RECORD * len(records),
            f"revealRecords({challenge_id})",
        )
        return bytes(sent.receipt["transactionHash"])
