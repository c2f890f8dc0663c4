"""Python side of the rollup contract: load the artifact, deploy, read, and encode proofs.

Everything here is synchronous web3 (it blocks on the node): async callers run it in
``trio.to_thread.run_sync``. Every protocol fact the contract shares with the rest of the
project is defined in `prover` and imported here: the record size (`prover.record`), the
checkpoint and DA challenge codes and the checkpoint row (`prover.checkpoint`), the fraud
rule codes (`prover.validity.FraudRule`) and the proof math (`prover.tree`, and
`prover.range_proof` for the DA range proof). This module only adds the argument order of
each contract call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from l1_contracts.build import load_artifact
from prover.checkpoint import Checkpoint, CheckpointStatus
from prover.errors import InvalidFieldError, L1Error
from prover.forced import ForcedEntry
from prover.record import RECORD_SIZE
from prover.validity import FraudRule
from prover.wire import parse_address

NO_INDEX: Final[int] = 2**256 - 1
"""What `latestFinalized()` / `lastIndex()` return when there is no such checkpoint."""
MAX_DA_RANGE: Final[int] = 256
DEFAULT_CHALLENGER_BOND: Final[int] = 10**16
"""The floor of a DA challenge's bond; above it the bond is priced by basefee (`da_bond`)."""
DEFAULT_RECEIPT_HORIZON: Final[int] = 3600
"""Longest receipt deadline, in seconds after issue, the contract is deployed for (the
sequencer's default is 600 s); `recover()` waits this long after a freeze."""
DEFAULT_FORCE_INCLUSION_WINDOW: Final[int] = 30
"""Seconds from posting a forced event to its inclusion deadline (docs/spec.md §7.3): the
devnet's default; production deployments use hours."""
MAX_FORCED_PER_COMMIT: Final[int] = 16
"""Forced records one commit proves at most (Rollup.vy `MAX_FORCED_PER_COMMIT`; docs/spec.md
§7.3 says why 16)."""


_SINGLE_RECORD_FUNCTIONS: Final[dict[FraudRule, str]] = {
    FraudRule.WRONG_SEQ: "proveWrongSeq",
    FraudRule.BAD_SIGNATURE: "proveBadSignature",
    FraudRule.MALFORMED: "proveBadKind",
    FraudRule.FUTURE_TIMESTAMP: "proveFutureTimestamp",
}


@dataclass(frozen=True, slots=True)
class SignedReceipt:
    """A docs/spec.md §5 receipt with the sequencer's 65-byte r || s || v signature."""

    first_seq: int
    count: int
    leaves_root: bytes
    deadline: int
    signature: bytes


# --- deployment ---------------------------------------------------------------------------


def default_post_reveal_window(challenge_window: int, da_window: int) -> int:
    """P for a deployment that names none: as long as the DA response window, but always
    with `da_window + P < challenge_window` (the constructor requires it)."""
    return max(1, min(da_window, challenge_window - da_window - 1))


def _deploy(
    w3: Web3,
    name: str,
    args: Sequence[Any],
    owner_address: ChecksumAddress,
    owner_key: bytes | None,
) -> str:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    ctor = factory.constructor(*args)
    if owner_key is None:
        tx = ctor.transact({"from": owner_address})
    else:
        unsigned = ctor.build_transaction(
            {"from": owner_address, "nonce": w3.eth.get_transaction_count(owner_address, "pending")}
        )
        signed = Account.sign_transaction(unsigned, owner_key)
        tx = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise L1Error(f"{name} deployment failed")
    return str(address)


def deploy_rollup(
    w3: Web3,
    sequencer: str,
    owner: str,
    challenge_window: int,
    da_window: int,
    min_bond: int,
    *,
    max_da_range: int = MAX_DA_RANGE,
    challenger_bond: int = DEFAULT_CHALLENGER_BOND,
    post_reveal_window: int | None = None,
    receipt_horizon: int = DEFAULT_RECEIPT_HORIZON,
    force_inclusion_window: int = DEFAULT_FORCE_INCLUSION_WINDOW,
    eip712_contract: str | None = None,
    verifier: str | None = None,
    owner_key: bytes | None = None,
) -> Contract:
    """Deploy RollupVerifier.vy (unless `verifier` names a deployed one) and Rollup.vy from
    `owner` (who becomes the rollup's owner) and wait for both.

    `post_reveal_window` defaults to `default_post_reveal_window`; `eip712_contract` names a
    predecessor whose EIP-712 domain signed events keep (docs/contract.md, migration). With
    `owner_key` the transactions are signed locally (any node); without it the node must hold
    `owner`'s key (eth-tester, the devnet, anvil).
    """
    owner_address = Web3.to_checksum_address(owner)
    if owner_key is not None and Account.from_key(owner_key).address != owner_address:
        raise InvalidFieldError("owner_key", f"is not the key of {owner_address}")
    if post_reveal_window is None:
        post_reveal_window = default_post_reveal_window(challenge_window, da_window)
    if verifier is None:
        verifier = _deploy(w3, "RollupVerifier", [], owner_address, owner_key)
    args = [
        Web3.to_checksum_address(verifier),
        sequencer,
        challenge_window,
        da_window,
        post_reveal_window,
        min_bond,
        max_da_range,
        challenger_bond,
        receipt_horizon,
        Web3.to_checksum_address(eip712_contract) if eip712_contract else "0x" + "00" * 20,
        force_inclusion_window,
    ]
    return rollup_at(w3, _deploy(w3, "Rollup", args, owner_address, owner_key))


def rollup_at(w3: Web3, address: str) -> Contract:
    """The deployed rollup at `address`."""
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=load_artifact("Rollup")["abi"]
    )


def deploy_naive_registry(w3: Web3, deployer: str) -> Contract:
    """Deploy the per-event baseline registry (bench only)."""
    artifact = load_artifact("NaiveRegistry")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor().transact({"from": deployer})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    address = receipt["contractAddress"]
    if address is None:
        raise L1Error("registry deployment produced no contract address")
    return w3.eth.contract(address=address, abi=artifact["abi"])


# --- reads --------------------------------------------------------------------------------


def read_checkpoint(rollup: Contract, index: int) -> Checkpoint:
    """`checkpoints(index)` as a typed row (status computed at the node's latest block)."""
    size, root, committed_at, challenge_ends, status = rollup.functions.checkpoints(index).call()
    return Checkpoint(
        index, size, bytes(root), committed_at, challenge_ends, CheckpointStatus(status)
    )


def latest_finalized(rollup: Contract) -> int | None:
    """Index of the latest final checkpoint, or None."""
    index: int = rollup.functions.latestFinalized().call()
    return None if index == NO_INDEX else index


def timestamp_bound(rollup: Contract, index: int) -> int:
    """The timestamp bound (ms) checkpoint `index` declared: rule 4b's limit for its new records."""
    return int(rollup.functions.timestampBound(index).call())


def da_bond(rollup: Contract, count: int) -> int:
    """What a DA challenge on `count` records needs now (`daBond`, priced by the basefee)."""
    return int(rollup.functions.daBond(count).call(block_identifier="pending"))


def da_chunk(position: int, tree_size: int, max_da_range: int) -> tuple[int, int]:
    """The one DA range `openDAChallenge` accepts that contains `position`: aligned to
    `max_da_range`, clipped to the tree."""
    if not 0 <= position < tree_size:
        raise InvalidFieldError("position", f"must be in [0, {tree_size}), got {position}")
    start = position - position % max_da_range
    return start, min(start + max_da_range, tree_size)


def claim(rollup: Contract) -> ContractFunction:
    """The call paying the sender everything the contract credited to it (pull payments)."""
    fn: ContractFunction = rollup.functions.claim()
    return fn


def revealed_records(w3: Web3, rollup: Contract, challenge_id: int) -> list[bytes] | None:
    """The records revealed for `challenge_id`, read back from the calldata of the
    transaction that emitted its `RecordsRevealed` event (v2 logs no records), or None."""
    logs = rollup.events.RecordsRevealed().get_logs(
        from_block=0, argument_filters={"challengeId": challenge_id}
    )
    for entry in logs:
        tx = w3.eth.get_transaction(entry["transactionHash"])
        _, args = rollup.decode_function_input(tx["input"])
        return [bytes(r) for r in args["records"]]
    return None


def covered_count_at(rollup: Contract, deadline: int) -> int:
    """How many checkpoints were committed at or before `deadline` (for a deadline proof).

    Commit times never decrease with the index, so this is a binary search of O(log n) calls.
    """
    lo, hi = 0, rollup.functions.checkpointCount().call()
    while lo < hi:
        mid = (lo + hi) // 2
        if rollup.functions.checkpoints(mid).call()[2] <= deadline:
            lo = mid + 1
        else:
            hi = mid
    return lo


# --- proof calls --------------------------------------------------------------------------


def _record(record: bytes) -> bytes:
    if len(record) != RECORD_SIZE:
        raise InvalidFieldError("record", f"must be {RECORD_SIZE} bytes, got {len(record)}")
    return bytes(record)


def _hashes(proof: Sequence[bytes]) -> list[bytes]:
    return [bytes(p) for p in proof]


def single_record_fraud(
    rollup: Contract,
    rule: FraudRule,
    checkpoint_index: int,
    index: int,
    record: bytes,
    proof: Sequence[bytes],
) -> ContractFunction:
    """The call proving a one-record rule (wrong seq, bad signature, malformed, future time)."""
    name = _SINGLE_RECORD_FUNCTIONS.get(rule)
    if name is None:
        raise InvalidFieldError("rule", f"{rule.name} is not a one-record fraud proof")
    fn: ContractFunction = rollup.functions[name](
        checkpoint_index, index, _record(record), _hashes(proof)
    )
    return fn


def time_travel_fraud(
    rollup: Contract,
    checkpoint_index: int,
    index: int,
    record: bytes,
    proof: Sequence[bytes],
    next_record: bytes,
    next_proof: Sequence[bytes],
) -> ContractFunction:
    """The call proving record index+1 is timestamped before record index (rule 4)."""
    fn: ContractFunction = rollup.functions.proveTimeTravel(
        checkpoint_index,
        index,
        _record(record),
        _hashes(proof),
        _record(next_record),
        _hashes(next_proof),
    )
    return fn


def replay_fraud(
    rollup: Contract,
    checkpoint_index: int,
    index: int,
    record: bytes,
    proof: Sequence[bytes],
    later_index: int,
    later_record: bytes,
    later_proof: Sequence[bytes],
) -> ContractFunction:
    """The call proving two signed records share (submitter, nonce) (rule 5)."""
    fn: ContractFunction = rollup.functions.proveReplay(
        checkpoint_index,
        index,
        _record(record),
        _hashes(proof),
        later_index,
        _record(later_record),
        _hashes(later_proof),
    )
    return fn


def _receipt_args(receipt: SignedReceipt) -> list[Any]:
    if len(receipt.signature) != 65:
        raise InvalidFieldError("signature", f"must be 65 bytes, got {len(receipt.signature)}")
    return [
        receipt.first_seq,
        receipt.count,
        bytes(receipt.leaves_root),
        receipt.deadline,
        bytes(receipt.signature),
    ]


def receipt_mismatch_fraud(
    rollup: Contract,
    receipt: SignedReceipt,
    leaf_hash: bytes,
    index_in_batch: int,
    batch_path: Sequence[bytes],
    checkpoint_index: int,
    other_record: bytes,
    inclusion_proof: Sequence[bytes],
) -> ContractFunction:
    """The call proving a checkpoint holds another record where a receipt promised `leaf_hash`."""
    fn: ContractFunction = rollup.functions.proveReceiptMismatch(
        *_receipt_args(receipt),
        bytes(leaf_hash),
        index_in_batch,
        _hashes(batch_path),
        checkpoint_index,
        _record(other_record),
        _hashes(inclusion_proof),
    )
    return fn


def receipt_deadline_fraud(
    rollup: Contract, receipt: SignedReceipt, covered_count: int | None = None
) -> ContractFunction:
    """The call proving no checkpoint covered a receipt by its deadline.

    `covered_count` defaults to `covered_count_at(rollup, receipt.deadline)`.
    """
    if covered_count is None:
        covered_count = covered_count_at(rollup, receipt.deadline)
    fn: ContractFunction = rollup.functions.proveReceiptDeadlineMissed(
        *_receipt_args(receipt), covered_count
    )
    return fn


def reveal_records(
    rollup: Contract, challenge_id: int, records: Sequence[bytes], proof: Sequence[bytes]
) -> ContractFunction:
    """The call answering DA challenge `challenge_id` with its records and `prove_range` hashes."""
    fn: ContractFunction = rollup.functions.revealRecords(
        challenge_id, [_record(r) for r in records], _hashes(proof)
    )
    return fn


def calldata_gas_limit(calldata_len: int, execution_gas: int) -> int:
    """A gas limit that covers EIP-7623's calldata floor (Prague) as well as execution.

    Under EIP-7623 a transaction pays at least 21000 + 10 gas per calldata token (a zero byte
    is one token, a nonzero byte four), so 40 gas per byte bounds the floor. eth-tester's
    estimate ignores that floor, which is why calldata-heavy calls need an explicit limit.
    """
    return 21_000 + 40 * calldata_len + execution_gas


# --- forced inclusion (docs/spec.md §7.3) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxSlot:
    """What the contract holds for inbox entry j (`inbox(j)`, `inboxAt(j)`)."""

    entry_hash: bytes
    """keccak256 of words 2..10 of its forced record; zero for an entry never posted."""
    deadline: int
    """postedAt + forceInclusionWindow (L1 s); 0 for an entry never posted."""
    included_at: tuple[int, int] | None
    """(seq, checkpoint index) of the latest commit that proved it, or None. The checkpoint may
    have been reverted since: compare with `forcedIncluded()`."""


def post_forced(
    rollup: Contract, kind: bytes, subject: bytes, digest: bytes, meta_hash: bytes
) -> ContractFunction:
    """The call posting one forced event (send it with value >= `forced_fee`)."""
    fn: ContractFunction = rollup.functions.postForced(kind, subject, digest, meta_hash)
    return fn


def forced_fee(rollup: Contract) -> int:
    """forcedFee() at the latest block (the fee rises with basefee: send a margin)."""
    return int(rollup.functions.forcedFee().call())


def inbox_slot(rollup: Contract, index: int) -> InboxSlot:
    """Inbox entry `index` as the contract holds it."""
    f = rollup.functions
    entry_hash = bytes(f.inbox(index).call())
    at = int(f.inboxAt(index).call())
    seq_plus_1, cp_plus_1 = (at >> 48) & (2**64 - 1), at >> 112
    included = (seq_plus_1 - 1, cp_plus_1 - 1) if seq_plus_1 and cp_plus_1 else None
    return InboxSlot(entry_hash, at & (2**48 - 1), included)


def forced_entries_from_logs(logs: Sequence[Any]) -> list[ForcedEntry]:
    """`ForcedPosted` events (decoded by web3) as entries, in log order."""
    out: list[ForcedEntry] = []
    for ev in logs:
        a = ev["args"]
        out.append(
            ForcedEntry(
                index=int(a["index"]),
                poster=parse_address(str(a["poster"]), "poster"),
                kind=bytes(a["kind"]),
                subject=bytes(a["subject"]),
                digest=bytes(a["digest"]),
                meta_hash=bytes(a["metaHash"]),
                posted_at=int(a["postedAt"]),
            )
        )
    return out


def read_forced_entries(
    rollup: Contract, from_block: int, to_block: int | str = "latest"
) -> list[ForcedEntry]:
    """Every entry posted in blocks [from_block, to_block], in inbox order."""
    logs = rollup.events.ForcedPosted().get_logs(from_block=from_block, to_block=to_block)
    return sorted(forced_entries_from_logs(logs), key=lambda e: e.index)


def commit_call(
    rollup: Contract,
    size: int,
    root: bytes,
    proof: Sequence[bytes],
    timestamp_bound: int,
    forced: Sequence[tuple[bytes, Sequence[bytes]]] = (),
) -> ContractFunction:
    """`commit(size, root, proof, timestampBound)`, or with forced records (record, inclusion
    proof in (size, root), in inbox order) `commitForced(..., forced_commit_args(forced))`
    (docs/spec.md §7.3)."""
    args: list[Any] = [size, bytes(root), _hashes(proof), timestamp_bound]
    if not forced:
        fn: ContractFunction = rollup.functions.commit(*args)
        return fn
    fn = rollup.functions.commitForced(*args, forced_commit_args(forced))
    return fn


def forced_commit_args(forced: Sequence[tuple[bytes, Sequence[bytes]]]) -> bytes:
    """commitForced's fifth argument (docs/spec.md §7.3): per forced record, in inbox order, the
    352-byte record, its proof's length L as a 32-byte word and the L hashes of its inclusion
    proof."""
    out = bytearray()
    for record, proof in forced:
        hashes = _hashes(proof)
        if any(len(h) != 32 for h in hashes):
            raise InvalidFieldError("proof", "every hash of a forced inclusion proof is 32 bytes")
        out += _record(record) + len(hashes).to_bytes(32, "big") + b"".join(hashes)
    return bytes(out)
