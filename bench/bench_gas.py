"""Gas of the rollup contract on py-evm (Prague rules): commits at tree sizes 2^10 .. 2^52 with
worst-case consistency proofs, every fraud proof, a 256-record DA reveal, and a naive
per-event registry on the same chain for comparison (EAS `attest` is ~200k per event).

Trees of 2^52 leaves do not fit anywhere, so `SparseNodeReader` stands for a tree whose
leaves are all one filler hash except a few real ones (the records a proof needs). A perfect
subtree without a real leaf then hashes to F_level (F_0 = filler, F_l = H(F_l-1, F_l-1)), and
the others are hashed from below, so every level agrees with the one under it (synthesising
each node as keccak256(level || index) would not: a consistency proof mixes levels).
prover.tree computes roots and proofs from it, so the contract sees exactly the proofs a real
tree of that size would give; gas does not depend on the hash values.

    python -m bench.bench_gas          # prints a JSON report
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

from eth_tester import EthereumTester, PyEVMBackend
from eth_typing import ChecksumAddress
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import Wei

from l1_contracts.contract import (
    MAX_FORCED_PER_COMMIT,
    SignedReceipt,
    calldata_gas_limit,
    deploy_naive_registry,
    deploy_rollup,
    receipt_deadline_fraud,
    receipt_mismatch_fraud,
    replay_fraud,
    reveal_records,
    single_record_fraud,
    time_travel_fraud,
)
from prover.eip712 import (
    address_of_private_key,
    compute_domain_separator,
    compute_event_digest,
    compute_receipt_digest,
    sign_digest,
)
from prover.hashing import keccak256, leaf_hash, node_hash
from prover.range_proof import prove_range
from prover.record import DIGEST_BYTES, Record, encode_kind, encode_record
from prover.tree import (
    MemoryTree,
    compute_root,
    consistency_ranges,
    prove_consistency,
    prove_inclusion,
)
from prover.types import Hash32
from prover.validity import FraudRule
from prover.wire import parse_address, parse_hex

COMMIT_SIZES: Final[tuple[int, ...]] = tuple(2**k for k in (*range(10, 51, 5), 52))
FRAUD_TREE_SIZE: Final[int] = 2**52
SUBMITTER_KEY: Final[bytes] = (77).to_bytes(32, "big")
SEQUENCER_KEY: Final[bytes] = (2).to_bytes(32, "big")  # eth-tester's accounts[1]
ETHER: Final[int] = 10**18
EAS_ATTEST_GAS: Final[int] = 200_000


class SparseNodeReader:
    """A NodeReader for huge trees: synthetic hashes except around `leaves` (index -> hash)."""

    def __init__(self, leaves: dict[int, bytes] | None = None) -> None:
        self.leaves = dict(leaves or {})
        self._sorted = sorted(self.leaves)
        self._node = lru_cache(maxsize=None)(self._compute)
        self._filler = [keccak256(b"filler leaf")]
        for _ in range(64):
            self._filler.append(node_hash(self._filler[-1], self._filler[-1]))

    def _has_leaf(self, start: int, end: int) -> bool:
        return any(start <= i < end for i in self._sorted)

    def _compute(self, level: int, index: int) -> bytes:
        start = index << level
        if not self._has_leaf(start, start + (1 << level)):
            return self._filler[level]
        if level == 0:
            return self.leaves[index]
        return node_hash(self._node(level - 1, 2 * index), self._node(level - 1, 2 * index + 1))

    def read_nodes(self, ids: Sequence[tuple[int, int]]) -> list[Hash32]:
        return [Hash32(self._node(level, index)) for level, index in ids]


def worst_first_size(n: int) -> int:
    """A first size m < n whose consistency proof to n is as long as any we can find."""
    k = n.bit_length()
    candidates = {1, n - 1, n // 2 + 1, n // 3, 2 * n // 3}
    for j in range(k):
        for m in (2**j - 1, 2**j + 1, n - 2**j - 1, n - 2**j + 1, (n - 1) & ~(2**j)):
            if 0 < m < n:
                candidates.add(m)
    alt = int("01" * k, 2) & (n - 1)
    candidates.update(x for x in (alt, alt | 1, (alt << 1) & (n - 1) | 1) if 0 < x < n)
    return max(sorted(candidates), key=lambda m: len(consistency_ranges(m, n)))


class Bench:
    """One chain with a rollup and a naive registry; measurements run between snapshots."""

    def __init__(self, max_da_range: int = 256) -> None:
        self.tester = EthereumTester(PyEVMBackend())
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        accounts: list[ChecksumAddress] = list(self.w3.eth.accounts)
        self.owner: ChecksumAddress = accounts[0]
        self.sequencer: ChecksumAddress = accounts[1]
        self.challenger: ChecksumAddress = accounts[2]
        self.rollup: Contract = deploy_rollup(
            self.w3,
            self.sequencer,
            self.owner,
            10**6,
            10**5,
            ETHER,
            challenger_bond=10**16,
            max_da_range=max_da_range,
            # Long enough for 32 posts (a block each) before the forced commits: no entry is
            # overdue while measuring (the window does not change any gas).
            force_inclusion_window=3600,
        )
        self.rollup.functions.deposit().transact({"from": self.sequencer, "value": Wei(ETHER)})
        self.registry = deploy_naive_registry(self.w3, self.owner)
        self.chain_id = int(self.w3.eth.chain_id)
        self.domain_separator = compute_domain_separator(
            self.chain_id, parse_address(self.rollup.address, "rollup")
        )

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def gas(
        self, fn: ContractFunction, sender: ChecksumAddress, execution_gas: int = 2_000_000
    ) -> int:
        """Send `fn` with an explicit limit (EIP-7623-safe); return gasUsed, failing loudly."""
        fn.call({"from": sender})  # raises with the revert reason
        data_len = (len(fn._encode_transaction_data()) - 2) // 2
        tx = fn.transact({"from": sender, "gas": calldata_gas_limit(data_len, execution_gas)})
        receipt = self.w3.eth.get_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise RuntimeError(f"{fn.fn_name} failed")
        return int(receipt["gasUsed"])

    def isolated(self, measure: Any) -> Any:
        snapshot = self.tester.take_snapshot()
        try:
            return measure()
        finally:
            self.tester.revert_to_snapshot(snapshot)

    # --- commits --------------------------------------------------------------------------

    def commit_gas(self, n: int) -> dict[str, int]:
        reader = SparseNodeReader()
        m = worst_first_size(n)
        proof = prove_consistency(reader, m, n)

        def measure() -> dict[str, int]:
            f = self.rollup.functions
            first = self.gas(
                f.commit(m, compute_root(reader, m), [], self.now() * 1000), self.sequencer
            )
            gas = self.gas(
                f.commit(n, compute_root(reader, n), proof, self.now() * 1000), self.sequencer
            )
            return {
                "size": n,
                "from_size": m,
                "proof_len": len(proof),
                "gas": gas,
                "first_commit_gas": first,
            }

        result: dict[str, int] = self.isolated(measure)
        return result

    # --- forced inclusion (issue 16) --------------------------------------------------------

    def forced_gas(
        self, n: int, counts: Sequence[int] = (0, 1, 2, 4, MAX_FORCED_PER_COMMIT)
    ) -> dict[str, Any]:
        """postForced gas (first and later entries), and a commit from size 3 to `n` proving
        k forced records placed in the upper half of the tree, for each k in `counts`."""
        from l1_contracts.contract import commit_call, read_forced_entries

        def measure() -> dict[str, Any]:
            f = self.rollup.functions
            fee = int(f.forcedFee().call()) * 2
            posts, entries = [], []
            for j in range(max(counts)):
                fn = f.postForced(
                    encode_kind("regulator_report"),
                    keccak256(b"s"),
                    keccak256(j.to_bytes(8, "big")),
                    b"\x00" * 32,
                )
                fn.call({"from": self.challenger, "value": Wei(fee)})
                tx = fn.transact({"from": self.challenger, "value": Wei(fee), "gas": 300_000})
                receipt = self.w3.eth.get_transaction_receipt(tx)
                posts.append(int(receipt["gasUsed"]))
                entries += read_forced_entries(self.rollup, int(receipt["blockNumber"]))
            m = worst_first_size(n)
            self.gas(f.commit(m, compute_root(SparseNodeReader(), m), [], 0), self.sequencer)
            out: dict[str, Any] = {"size": n, "post_first_gas": posts[0], "post_gas": posts[-1]}
            ts = self.now() * 1000
            for k in counts:

                def one(k: int = k) -> int:
                    seqs = [n // 2 + 1000 * i for i in range(k)]
                    recs = {q: entries[i].record(q, ts) for i, q in enumerate(seqs)}
                    reader = SparseNodeReader({q: leaf_hash(r) for q, r in recs.items()})
                    # the filler tree of size m and this one agree on [0, m): m is small
                    proof = prove_consistency(reader, m, n)
                    forced = [(recs[q], prove_inclusion(reader, q, n)) for q in seqs]
                    fn = commit_call(
                        self.rollup, n, compute_root(reader, n), proof, self.now() * 1000, forced
                    )
                    return self.gas(fn, self.sequencer, 3_000_000 + 100_000 * k)

                out[f"commit_with_{k}_forced_gas"] = self.isolated(one)
            return out

        result: dict[str, Any] = self.isolated(measure)
        return result

    # --- records --------------------------------------------------------------------------

    def record(
        self, seq: int, ts: int, *, nonce: int = 1, signed: bool = True, **changes: Any
    ) -> bytes:
        kind = encode_kind("inference_receipt")
        subject, digest = keccak256(b"subject"), keccak256(seq.to_bytes(8, "big"))
        v, r, s, submitter = 0, b"\x00" * 32, b"\x00" * 32, b"\x22" * 20
        if signed:
            ev_digest = compute_event_digest(
                self.domain_separator, kind, subject, digest, b"\x00" * 32, nonce
            )
            v, r, s = sign_digest(SUBMITTER_KEY, ev_digest)
            submitter = address_of_private_key(SUBMITTER_KEY)
        fields: dict[str, Any] = dict(
            seq=seq,
            timestamp=ts,
            kind=kind,
            subject=subject,
            digest=digest,
            meta_hash=b"\x00" * 32,
            submitter=submitter,
            nonce=nonce,
            v=v,
            r=r,
            s=s,
        )
        fields.update(changes)
        return encode_record(Record(**fields))

    def with_records(self, n: int, records: dict[int, bytes]) -> tuple[SparseNodeReader, int]:
        """Commit checkpoint 0 of size n holding `records`; return the reader and the index."""
        reader = SparseNodeReader({i: leaf_hash(r) for i, r in records.items()})
        self.rollup.functions.commit(n, compute_root(reader, n), [], 0).transact(
            {"from": self.sequencer}
        )
        return reader, 0

    def fraud_gas(self, n: int) -> dict[str, int]:
        i = n // 2 + 12_345
        ts = (self.now() - 10) * 1000
        cases: dict[str, Any] = {}

        def one(rule: FraudRule, rec: bytes) -> Any:
            def measure() -> int:
                reader, cp = self.with_records(n, {i: rec})
                fn = single_record_fraud(
                    self.rollup, rule, cp, i, rec, prove_inclusion(reader, i, n)
                )
                return self.gas(fn, self.challenger)

            return measure

        cases["wrong_seq"] = one(FraudRule.WRONG_SEQ, self.record(i + 1, ts))
        # Signed by the right key over another digest: ecrecover runs and mismatches.
        good = self.record(i, ts)
        cases["bad_signature"] = one(
            FraudRule.BAD_SIGNATURE,
            good[: DIGEST_BYTES.start] + b"\x99" * 32 + good[DIGEST_BYTES.stop :],
        )
        bad_kind = b"a" * 31 + b"A"  # the kind check runs all 32 bytes
        cases["malformed_kind"] = one(FraudRule.MALFORMED, self.record(i, ts, kind=bad_kind))
        cases["future_timestamp"] = one(FraudRule.FUTURE_TIMESTAMP, self.record(i, 2**63))

        def time_travel() -> int:
            a, b = self.record(i, ts), self.record(i + 1, ts - 1, nonce=2)
            reader, cp = self.with_records(n, {i: a, i + 1: b})
            fn = time_travel_fraud(
                self.rollup,
                cp,
                i,
                a,
                prove_inclusion(reader, i, n),
                b,
                prove_inclusion(reader, i + 1, n),
            )
            return self.gas(fn, self.challenger)

        def replay() -> int:
            j = i + 1000
            a, b = self.record(i, ts), self.record(j, ts, digest=keccak256(b"other"))
            reader, cp = self.with_records(n, {i: a, j: b})
            fn = replay_fraud(
                self.rollup,
                cp,
                i,
                a,
                prove_inclusion(reader, i, n),
                j,
                b,
                prove_inclusion(reader, j, n),
            )
            return self.gas(fn, self.challenger)

        def receipt_mismatch() -> int:
            count, k = 256, 77
            promised = [keccak256(b"promised" + x.to_bytes(4, "big")) for x in range(count)]
            batch = MemoryTree(promised)
            first = i - k
            receipt = self.sign_receipt(first, count, batch.root(), self.now() + 1000)
            other = self.record(i, ts)
            reader, cp = self.with_records(n, {i: other})
            fn = receipt_mismatch_fraud(
                self.rollup,
                receipt,
                promised[k],
                k,
                batch.inclusion_proof(k),
                cp,
                other,
                prove_inclusion(reader, i, n),
            )
            return self.gas(fn, self.challenger)

        def receipt_deadline() -> int:
            reader = SparseNodeReader()
            f = self.rollup.functions
            f.commit(1000, compute_root(reader, 1000), [], 0).transact({"from": self.sequencer})
            receipt = self.sign_receipt(1000, 256, keccak256(b"batch"), self.now() + 5)
            self.tester.time_travel(self.now() + 100)
            f.commit(n, compute_root(reader, n), prove_consistency(reader, 1000, n), 0).transact(
                {"from": self.sequencer}
            )
            return self.gas(receipt_deadline_fraud(self.rollup, receipt), self.challenger)

        cases["time_travel"] = time_travel
        cases["replay"] = replay
        cases["receipt_mismatch"] = receipt_mismatch
        cases["receipt_deadline_missed"] = receipt_deadline
        return {name: self.isolated(fn) for name, fn in cases.items()}

    def sign_receipt(
        self, first: int, count: int, leaves_root: bytes, deadline: int
    ) -> SignedReceipt:
        digest = compute_receipt_digest(self.domain_separator, first, count, leaves_root, deadline)
        v, r, s = sign_digest(SEQUENCER_KEY, digest)
        return SignedReceipt(first, count, leaves_root, deadline, r + s + bytes([v]))

    # --- DA -------------------------------------------------------------------------------

    def reveal_gas(self, n: int, count: int = 256) -> dict[str, int]:
        start = n // 2 + 3 * count  # a whole DA chunk (v2 challenges name aligned chunks)
        ts = (self.now() - 10) * 1000
        records = [self.record(start + x, ts, signed=False) for x in range(count)]

        def measure() -> dict[str, int]:
            reader, cp = self.with_records(
                n, dict(zip(range(start, start + count), records, strict=True))
            )
            f = self.rollup.functions
            bond = int(f.daBond(count).call(block_identifier="pending"))
            tx = f.openDAChallenge(cp, start, start + count).transact(
                {"from": self.challenger, "value": Wei(bond)}
            )
            open_used = int(self.w3.eth.get_transaction_receipt(tx)["gasUsed"])
            proof = prove_range(reader, start, start + count, n)
            fn = reveal_records(self.rollup, 0, records, proof)
            data = parse_hex(fn._encode_transaction_data(), "calldata")
            zeros = data.count(0)
            floor = 21_000 + 10 * (zeros + 4 * (len(data) - zeros))
            standard_calldata = 4 * zeros + 16 * (len(data) - zeros)
            gas = self.gas(fn, self.sequencer, 4_000_000)
            return {
                "records": count,
                "tree_size": n,
                "proof_len": len(proof),
                "open_gas": open_used,
                "reveal_gas": gas,
                "calldata_bytes": len(data),
                "calldata_gas_standard": standard_calldata,
                "eip7623_floor_gas": floor,
                "gas_per_record": gas // count,
            }

        result: dict[str, int] = self.isolated(measure)
        return result

    # --- baseline -------------------------------------------------------------------------

    def naive_gas(self, events: int = 20) -> dict[str, int]:
        kind = encode_kind("inference_receipt")
        used = []
        for x in range(events):
            fn = self.registry.functions.attest(
                kind, keccak256(b"s"), keccak256(x.to_bytes(4, "big"))
            )
            used.append(self.gas(fn, self.owner, 200_000))
        return {
            "events": events,
            "gas_per_event": sum(used) // len(used),
            "eas_attest_reference": EAS_ATTEST_GAS,
        }


def run() -> dict[str, Any]:
    """Measure everything; returns a JSON-able dict (see the module docstring)."""
    bench = Bench()
    commits = [bench.commit_gas(n) for n in COMMIT_SIZES]
    naive = bench.naive_gas()
    fraud = bench.fraud_gas(FRAUD_TREE_SIZE)
    reveal = bench.reveal_gas(FRAUD_TREE_SIZE)
    forced = bench.forced_gas(FRAUD_TREE_SIZE)
    return {
        "commit": commits,
        "commit_max_gas": max(c["gas"] for c in commits),
        "fraud_proofs_at_2_52": fraud,
        "da_reveal_256_at_2_52": reveal,
        "naive_registry": naive,
        "forced_inclusion_at_2_52": forced,
    }


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=1)
    sys.stdout.write("\n")
