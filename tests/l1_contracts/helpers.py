"""Shared test scaffolding: an in-process py-evm chain, records, signatures and a committer.

Records are built word by word here (not with prover.record.encode_record) so tests can
make malformed ones; one test checks a valid one is byte-identical to encode_record.
Signatures come from eth-account, independently of prover.eip712.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract

from l1_contracts.contract import SignedReceipt, commit_call, deploy_rollup
from prover.hashing import leaf_hash
from prover.tree import MemoryTree

KEYS = [(i + 1).to_bytes(32, "big") for i in range(10)]  # eth-tester's default account keys
ETHER = 10**18
WINDOW = 1000
DA_WINDOW = 300
POST_REVEAL = 100
RECEIPT_HORIZON = 50
MIN_BOND = ETHER
CHALLENGER_BOND = 10**16
ZERO32 = b"\x00" * 32
EVENT_TYPES = {
    "Event": [
        {"name": "kind", "type": "bytes32"},
        {"name": "subject", "type": "bytes32"},
        {"name": "digest", "type": "bytes32"},
        {"name": "metaHash", "type": "bytes32"},
        {"name": "nonce", "type": "uint64"},
    ]
}
RECEIPT_TYPES = {
    "Receipt": [
        {"name": "firstSeq", "type": "uint64"},
        {"name": "count", "type": "uint64"},
        {"name": "leavesRoot", "type": "bytes32"},
        {"name": "deadline", "type": "uint64"},
    ]
}


def word(x: int | bytes) -> bytes:
    """One ABI word: ints big-endian, bytes right-aligned (addresses) if shorter than 32."""
    if isinstance(x, int):
        return x.to_bytes(32, "big")
    if len(x) == 32:
        return x
    return x.rjust(32, b"\x00")


def kind32(name: str | bytes) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    return raw.ljust(32, b"\x00")


def make_record(
    seq: int,
    timestamp: int,
    *,
    kind: bytes = kind32("sensor_hash"),
    subject: bytes = b"\x11" * 32,
    digest: bytes | None = None,
    meta_hash: bytes = ZERO32,
    submitter: int | bytes = b"\x22" * 20,
    nonce: int = 0,
    v: int = 0,
    r: int = 0,
    s: int = 0,
) -> bytes:
    """The 352-byte record of docs/spec.md §3, word by word (no validation: tests need bad ones)."""
    if digest is None:
        digest = seq.to_bytes(32, "big")
    words = [seq, timestamp, kind, subject, digest, meta_hash, submitter, nonce, v, r, s]
    return b"".join(word(w) for w in words)


def domain(chain_id: int, contract: str) -> dict[str, Any]:
    return {
        "name": "attest-rollup",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": contract,
    }


def signed_record(
    key: bytes,
    seq: int,
    timestamp: int,
    nonce: int,
    chain_id: int,
    contract: str,
    *,
    kind: bytes = kind32("inference_receipt"),
    subject: bytes = b"\x33" * 32,
    digest: bytes | None = None,
) -> bytes:
    """A record signed by `key` with eth-account's EIP-712 encoder."""
    if digest is None:
        digest = (seq + 1000).to_bytes(32, "big")
    msg = {"kind": kind, "subject": subject, "digest": digest, "metaHash": ZERO32, "nonce": nonce}
    sig = Account.sign_typed_data(key, domain(chain_id, contract), EVENT_TYPES, msg)
    addr = bytes.fromhex(Account.from_key(key).address[2:])
    return make_record(
        seq,
        timestamp,
        kind=kind,
        subject=subject,
        digest=digest,
        submitter=addr,
        nonce=nonce,
        v=sig.v,
        r=sig.r,
        s=sig.s,
    )


def sign_receipt(
    key: bytes,
    chain_id: int,
    contract: str,
    first_seq: int,
    count: int,
    leaves_root: bytes,
    deadline: int,
) -> SignedReceipt:
    msg = {"firstSeq": first_seq, "count": count, "leavesRoot": leaves_root, "deadline": deadline}
    sig = Account.sign_typed_data(key, domain(chain_id, contract), RECEIPT_TYPES, msg)
    signature = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])
    return SignedReceipt(first_seq, count, leaves_root, deadline, signature)


@dataclass
class Chain:
    """One py-evm chain with a deployed rollup; accounts[0] owner, [1] sequencer, [2] challenger."""

    tester: EthereumTester
    w3: Web3
    rollup: Contract
    owner: str
    sequencer: str
    challenger: str
    records: list[bytes] = field(default_factory=list)
    tree: MemoryTree = field(default_factory=MemoryTree)
    committed: int = 0  # size of the latest live checkpoint, as this harness committed it

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def address(self) -> str:
        return str(self.rollup.address)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def set_time(self, t: int) -> None:
        """Mine a block at time `t`: views then run at `t`, the next transaction at t + 1.

        (eth-tester's time_travel(t) leaves the latest block at t - 1 and mines the next at t.)
        """
        self.tester.time_travel(t)
        self.tester.mine_blocks(1)

    def advance(self, seconds: int) -> None:
        """Move the chain clock forward by `seconds` and mine a block there."""
        self.set_time(self.now() + seconds)

    def bond(self, amount: int = MIN_BOND) -> None:
        self.rollup.functions.deposit().transact({"from": self.sequencer, "value": amount})

    def append(self, records: Sequence[bytes]) -> None:
        self.records.extend(records)
        self.tree.extend([leaf_hash(r) for r in records])

    def bound_for(self, size: int) -> int:
        """The timestamp bound an honest committer declares for records [committed, size):
        their latest stamp, capped at the next block's time (records stamped later are
        then provably in the future, which fraud tests want)."""
        stamps = [int.from_bytes(r[32:64], "big") for r in self.records[self.committed : size]]
        return min(max(stamps, default=0), (self.now() + 1) * 1000)

    def commit(
        self,
        size: int | None = None,
        bound: int | None = None,
        forced: Sequence[tuple[bytes, list[bytes]]] = (),
    ) -> int:
        """Commit the harness tree at `size` (default: all of it) with the forced records it
        newly includes, as (record, inclusion proof) pairs; return the index."""
        size = self.tree.size if size is None else size
        bound = self.bound_for(size) if bound is None else bound
        proof = self.tree.consistency_proof(self.committed, size) if self.committed else []
        fn = commit_call(self.rollup, size, self.tree.root(size), proof, bound, forced)
        fn.transact({"from": self.sequencer})
        self.committed = size
        return int(self.rollup.functions.checkpointCount().call()) - 1

    def recover(self) -> None:
        """Re-bond if needed, wait out the receipt horizon, and let the owner recover."""
        f = self.rollup.functions
        if f.bond().call() < MIN_BOND:
            self.bond(MIN_BOND - f.bond().call())
        wait = f.frozenAt().call() + f.receiptHorizon().call() - self.now() - 1
        if wait > 0:
            self.advance(wait)
        f.recover().transact({"from": self.owner})

    def ts(self) -> int:
        """A record timestamp (ms) safely before the next commit."""
        return self.now() * 1000

    def valid_records(self, n: int) -> list[bytes]:
        base = len(self.records)
        t = self.ts()
        return [make_record(base + i, t + i) for i in range(n)]

    def balance(self, who: str) -> int:
        return int(self.w3.eth.get_balance(who))

    def status(self, index: int) -> int:
        return int(self.rollup.functions.checkpoints(index).call()[4])


def new_chain(**kwargs: Any) -> Chain:
    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    owner, sequencer, challenger = w3.eth.accounts[:3]
    params: dict[str, Any] = {
        "challenge_window": WINDOW,
        "da_window": DA_WINDOW,
        "min_bond": MIN_BOND,
        "challenger_bond": CHALLENGER_BOND,
        "post_reveal_window": POST_REVEAL,
        "receipt_horizon": RECEIPT_HORIZON,
    }
    params.update(kwargs)
    rollup = deploy_rollup(w3, sequencer, owner, **params)
    return Chain(tester, w3, rollup, owner, sequencer, challenger)


def reverts(message: str) -> Any:
    """pytest.raises for a revert whose reason contains `message`."""
    import re

    import pytest
    from eth_tester.exceptions import TransactionFailed
    from web3.exceptions import ContractLogicError

    return pytest.raises((TransactionFailed, ContractLogicError), match=re.escape(message))


def events(chain: Chain, name: str, tx: bytes) -> list[Any]:
    """Decoded `name` events of transaction `tx`."""
    from web3.logs import DISCARD

    receipt = chain.w3.eth.get_transaction_receipt(tx)
    return list(getattr(chain.rollup.events, name)().process_receipt(receipt, errors=DISCARD))


def fee(chain: Chain, tx: bytes) -> int:
    """Wei the sender paid for gas in transaction `tx`."""
    r = chain.w3.eth.get_transaction_receipt(tx)
    return int(r["gasUsed"]) * int(r["effectiveGasPrice"])
