"""The committed known-answer vectors: reproducible, and right by an independent reading of RFC 9162.

The naive tree here is written straight from RFC 9162 §2.1 (recursive MTH, PATH, PROOF and
SUBPROOF), sharing nothing with `prover.tree` but keccak256; signatures are recovered with
eth-account, not with `prover.eip712`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from prover import vectors
from prover.eip712 import Domain, event_typed_data, verify_record_signature
from prover.hashing import keccak256
from prover.record import RECORD_SIZE, decode_record, encode_kind, is_valid_kind
from prover.tree import verify_consistency, verify_inclusion

VECTORS_PATH = Path(__file__).resolve().parent.parent / "vectors" / "rfc9162_keccak.json"


@cache
def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_bytes())
    return data


def h(hex_str: str) -> bytes:
    assert hex_str.startswith("0x")
    return bytes.fromhex(hex_str[2:])


# --- RFC 9162 §2.1, recursively, over a list of leaf hashes ---------------------------------


def k_split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return keccak256(b"")
    if n == 1:
        return leaves[0]
    k = k_split(n)
    return keccak256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = k_split(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    if m == 0 or m == len(leaves):
        return []  # the two cases RFC 9162 leaves out: nothing to prove
    return subproof(m, leaves, True)


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = k_split(n)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# --- the tests -------------------------------------------------------------------------------


def test_committed_file_is_what_the_generator_writes() -> None:
    # If this fails after an intended change: `make vectors`, review the diff, commit it.
    assert VECTORS_PATH.read_bytes() == vectors.render_vectors()


def test_cli_writes_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "v.json"
    assert vectors.main([str(out)]) == 0
    assert out.read_bytes() == VECTORS_PATH.read_bytes()
    assert vectors.main([]) == 2


def test_top_level_shape() -> None:
    v = committed()
    required = {
        "hash",
        "eip712Domain",
        "records",
        "leafHashes",
        "roots",
        "inclusion",
        "consistency",
    }
    assert required <= v.keys()
    assert v["hash"] == "keccak256"
    assert v["eip712Domain"] == {
        "name": "attest-rollup",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": v["eip712Domain"]["verifyingContract"],
    }
    n = len(v["records"])
    assert n >= 64
    assert len(v["leafHashes"]) == n == len(v["decoded"])
    assert len(v["roots"]) == n + 1
    assert len(v["inclusion"]) >= 100
    assert len(v["consistency"]) >= 100


def test_records_are_valid_and_match_their_decoded_fields() -> None:
    v = committed()
    previous_timestamp = 0
    kinds = set()
    for i, (record_hex, fields) in enumerate(zip(v["records"], v["decoded"], strict=True)):
        record = h(record_hex)
        assert len(record) == RECORD_SIZE
        rec = decode_record(record)
        assert rec.seq == i == fields["seq"]
        assert rec.timestamp >= previous_timestamp
        previous_timestamp = rec.timestamp
        assert is_valid_kind(rec.kind)
        assert rec.kind == encode_kind(fields["kind"])
        kinds.add(fields["kind"])
        assert rec.subject == h(fields["subject"])
        assert rec.digest == h(fields["digest"])
        assert rec.submitter == h(fields["submitter"])
        assert (rec.nonce, rec.v) == (fields["nonce"], fields["v"])
        assert (rec.r, rec.s) == (h(fields["r"]), h(fields["s"]))
        if fields["meta"] is None:
            assert rec.meta_hash == bytes(32)
        else:
            assert rec.meta_hash == keccak256(fields["meta"].encode())
    assert len(kinds) >= 5


def test_signatures_recover_to_the_submitter_with_eth_account() -> None:
    v = committed()
    d = v["eip712Domain"]
    domain = Domain(d["chainId"], h(d["verifyingContract"]))
    signer_addresses = {s["address"] for s in v["signers"]}
    signed = unsigned = 0
    for record_hex, fields in zip(v["records"], v["decoded"], strict=True):
        record = h(record_hex)
        rec = decode_record(record)
        verify_record_signature(domain.separator, record)
        if rec.v == 0:
            unsigned += 1
            assert rec.r == rec.s == bytes(32)
            assert fields["signature"] is None
            assert fields["submitter"] == v["sequencer"]["address"]
            continue
        signed += 1
        message = encode_typed_data(
            full_message=event_typed_data(
                domain, rec.kind, rec.subject, rec.digest, rec.meta_hash, rec.nonce
            )
        )
        recovered = Account.recover_message(message, signature=h(fields["signature"]))
        assert recovered == fields["submitter"]
        assert recovered in signer_addresses
    assert signed >= 10
    assert unsigned >= 10


def test_signed_nonces_are_unique_per_submitter() -> None:
    seen = set()
    for fields in committed()["decoded"]:
        if fields["v"]:
            key = (fields["submitter"], fields["nonce"])
            assert key not in seen
            seen.add(key)


def test_signer_addresses_follow_from_their_derivation() -> None:
    v = committed()
    for entry, seed in zip(v["signers"], vectors.SIGNER_SEEDS, strict=True):
        assert entry["address"] == Account.from_key(keccak256(seed.encode())).address


def test_leaf_hashes_and_roots() -> None:
    v = committed()
    leaves = [h(x) for x in v["leafHashes"]]
    for record_hex, leaf in zip(v["records"], leaves, strict=True):
        assert leaf == keccak256(b"\x00" + h(record_hex))
    for n, root in enumerate(v["roots"]):
        assert h(root) == mth(leaves[:n])


def test_inclusion_vectors() -> None:
    v = committed()
    leaves = [h(x) for x in v["leafHashes"]]
    roots = [h(x) for x in v["roots"]]
    seen = set()
    for case in v["inclusion"]:
        index, size = case["index"], case["treeSize"]
        got = [h(x) for x in case["proof"]]
        assert got == path(index, leaves[:size])
        verify_inclusion(leaves[index], index, size, got, roots[size])
        seen.add((index, size))
    # Verify the edge cases are covered.
    sizes = {size for _, size in seen}
    assert {1, 2, 64} <= sizes  # powers of two
    assert {3, 7, 63, 65, len(leaves)} <= sizes  # and not
    assert all((0, n) in seen and (n - 1, n) in seen for n in sizes)


def test_consistency_vectors() -> None:
    v = committed()
    leaves = [h(x) for x in v["leafHashes"]]
    roots = [h(x) for x in v["roots"]]
    seen = set()
    for case in v["consistency"]:
        first, second = case["first"], case["second"]
        got = [h(x) for x in case["proof"]]
        assert got == proof(first, leaves[:second])
        verify_consistency(first, second, roots[first], roots[second], got)
        seen.add((first, second))
    assert any(first == 0 for first, _ in seen)
    assert any(first == second for first, second in seen)
    assert (32, 64) in seen and (64, len(leaves)) in seen and (32, 65) in seen


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_naive_tree_agrees_with_the_rfc_example_shape(n: int) -> None:
    # Guard the reference itself: each inclusion path folds back to MTH by the RFC's rules,
    # so a bug in the reference cannot make both sides agree by accident.
    leaves = [keccak256(bytes([i])) for i in range(n)]
    for m in range(n):
        verify_inclusion(leaves[m], m, n, path(m, leaves), mth(leaves))
    for m in range(n + 1):
        verify_consistency(m, n, mth(leaves[:m]), mth(leaves), proof(m, leaves))
