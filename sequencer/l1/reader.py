"""One rollup contract on one L1 endpoint, read-only: the fixed read interface of docs/spec.md
§7 and the few other views every L1 user needs. Blocking (web3 over HTTP).

The sequencer's committer, the validator and the light client all read L1 through this class;
the ones that send transactions extend it (`sequencer.l1.account.RollupAccount`). The provider
seam is the `w3` argument: tests hand in a `Web3` over any provider, everything else a URL.
"""

from __future__ import annotations

from typing import Any, Final

from web3 import Web3
from web3.contract import Contract

from l1_contracts.contract import read_checkpoint, rollup_at
from prover.checkpoint import Checkpoint
from prover.errors import L1Error
from sequencer.l1.reorg import Block

NO_CHECKPOINT: Final = 2**256 - 1
"""What `latestFinalized()` answers while no checkpoint is final (docs/spec.md §7)."""


def connect(rpc_url: str, *, timeout_s: float) -> Web3:
    """A web3 client of `rpc_url` whose every request gives up after `timeout_s` seconds."""
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))


class RollupReader:
    """Reads of one rollup contract; every failure becomes `L1Error` naming the endpoint."""

    def __init__(
        self, rpc_url: str, contract: str, *, timeout_s: float = 10.0, w3: Web3 | None = None
    ) -> None:
        self.rpc_url = rpc_url
        self.w3 = w3 if w3 is not None else connect(rpc_url, timeout_s=timeout_s)
        self.contract: Contract = rollup_at(self.w3, contract)
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
        """`checkpoints(index)`, its status as L1 computes it at the latest block."""
        return self._call(lambda: read_checkpoint(self.contract, index))  # type: ignore[no-any-return]

    def latest_finalized(self) -> int | None:
        """`latestFinalized()`; None while no checkpoint is final."""
        index = int(self._call(self.contract.functions.latestFinalized().call))
        return None if index == NO_CHECKPOINT else index

    def receipt_horizon(self) -> int:
        """`receiptHorizon()` (seconds): no receipt may promise a deadline further off than this
        after it is issued (docs/spec.md §9.2, the epoch rule)."""
        return int(self._call(self.contract.functions.receiptHorizon().call))

    def latest_block_time(self) -> int:
        """Timestamp (Unix seconds) of L1's latest block: the clock the contract's windows
        run on, and the earliest a transaction sent now can mine."""
        return int(self._call(lambda: self.w3.eth.get_block("latest")["timestamp"]))

    def head(self) -> tuple[int, int]:
        """(number, timestamp) of L1's latest block."""
        block = self._call(lambda: self.w3.eth.get_block("latest"))
        return int(block["number"]), int(block["timestamp"])

    def head_block(self) -> Block:
        """Number, hash, parent hash and time of L1's latest block."""
        b = self._call(lambda: self.w3.eth.get_block("latest"))
        return Block(
            int(b["number"]), bytes(b["hash"]), bytes(b["parentHash"]), int(b["timestamp"])
        )

    def block_hash(self, number: int) -> bytes | None:
        """The canonical hash of block `number`; None when the chain is not that long."""
        try:
            b = self._call(lambda: self.w3.eth.get_block(number))
        except L1Error as exc:
            if "not found" in str(exc).lower():
                return None
            raise
        return None if b is None else bytes(b["hash"])

    def unmined_transactions(self, account: str) -> int:
        """Transactions from `account` the node holds but has not mined (pending - latest nonce)."""
        addr = Web3.to_checksum_address(account)
        latest = int(self._call(lambda: self.w3.eth.get_transaction_count(addr, "latest")))
        pending = int(self._call(lambda: self.w3.eth.get_transaction_count(addr, "pending")))
        return max(0, pending - latest)

    def _call(self, fn: Any) -> Any:
        """Run one web3 interaction; every failure becomes `L1Error` with what failed."""
        try:
            return fn()
        except L1Error:
            raise
        except Exception as exc:  # web3 raises many unrelated types for one cause: L1 trouble
            raise L1Error(f"L1 {self.rpc_url}: {type(exc).__name__}: {exc}") from exc
