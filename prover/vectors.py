"""Known-answer vectors: records, leaf hashes, roots, inclusion and consistency proofs.

``python -m prover.vectors OUT.json`` (``make vectors``) writes ``tests/vectors/rfc9162_keccak.json``.
Everything is derived from fixed seeds (keys, timestamps, contents; libsecp256k1 signs with
RFC 6979 nonces), so the output is the same byte for byte on every machine, and
``tests/prover/test_vectors.py`` checks the committed file against a fresh run.

Outside clients (light clients, the Vyper contract's tests, other languages) can check their
hashing, record decoding, EIP-712 recovery and RFC 9162 proof code against this file:

* ``hash``: ``"keccak256"``; ``eip712Domain``: the domain every signed record uses;
* ``records``: 0x hex 352-byte records, ``records[i]`` has seq ``i``; ``decoded``: their fields,
  with the canonical ``meta`` JSON where there is one, and the wire ``signature`` of signed ones;
* ``signers``: the addresses of the test keys (and how each key is derived) that signed them;
* ``leafHashes[i]`` = H(0x00 || record i); ``roots[n]`` = root of the first n leaves;
* ``inclusion``: ``{index, treeSize, proof}``; ``consistency``: ``{first, second, proof}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Final

from prover.eip712 import (
    Domain,
    Signer,
    compute_event_digest,
    encode_signature,
    to_checksum_address,
)
from prover.hashing import keccak256, leaf_hash
from prover.record import build_record, decode_kind, decode_record, parse_event
from prover.tree import MemoryTree
from prover.wire import hex0x as _hex

RECORD_COUNT: Final[int] = 70
"""Enough for sizes on both sides of 64 (a power of two) with a ragged right edge."""

CHAIN_ID: Final[int] = 31337
VERIFYING_CONTRACT: Final[bytes] = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
"""The address of the first contract a fresh Anvil/Hardhat devnet deploys; only a fixed value."""

BASE_TIMESTAMP_MS: Final[int] = 1_700_000_000_000

SIGNER_SEEDS: Final[tuple[str, ...]] = (
    "attest-rollup test vectors: signer 0",
    "attest-rollup test vectors: signer 1",
    "attest-rollup test vectors: signer 2",
)
"""Private key i is keccak256(SIGNER_SEEDS[i]) (UTF-8). Test keys: never fund them."""

SEQUENCER_SEED: Final[str] = "attest-rollup test vectors: sequencer"
"""The unsigned records are vouched for by the address of keccak256(SEQUENCER_SEED)."""

_KINDS: Final[tuple[str, ...]] = (
    "inference_receipt",
    "sensor_hash",
    "model_fingerprint",
    "dataset_hash",
    "attestation",
    "x",
    "vendor.custom-kind_2",
    "k" * 32,
)
# Gaps between consecutive timestamps: zero gaps exercise "non-decreasing", not "increasing".
_TIMESTAMP_STEPS: Final[tuple[int, ...]] = (0, 1, 7, 0, 250, 3, 0)


def _meta(i: int) -> dict[str, Any] | None:
    if i % 3 == 1:
        return None
    if i % 3 == 2:
        return {"i": i}
    return {
        "seq_hint": i,
        "model": {"name": "résumé-" + str(i % 4), "params": [1, 2, i]},
        "ok": i % 2 == 0,
        "note": None,
    }


def _inclusion_cases(n_leaves: int) -> list[tuple[int, int]]:
    cases: list[tuple[int, int]] = []
    for size in range(1, 10):  # every leaf of the small trees
        cases += [(index, size) for index in range(size)]
    for size in (12, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, n_leaves):
        indexes = sorted({0, 1, size // 2, size - 2, size - 1})
        cases += [(index, size) for index in indexes]
    return cases


def _consistency_cases(n_leaves: int) -> list[tuple[int, int]]:
    cases: list[tuple[int, int]] = []
    for second in range(1, 10):  # every pair of the small trees, first = 0 and first = second
        cases += [(first, second) for first in range(second + 1)]
    for second in (12, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, n_leaves):
        firsts = {0, 1, 2, 3, 5, second // 2, second - 1, second}
        firsts |= {1 << k for k in range(second.bit_length()) if 1 << k < second}
        cases += [(first, second) for first in sorted(firsts)]
    return cases


def build_vectors(n_records: int = RECORD_COUNT) -> dict[str, Any]:
    """The vectors file's content (see the module docstring)."""
    domain = Domain(CHAIN_ID, VERIFYING_CONTRACT)
    signers = [Signer(keccak256(seed.encode())) for seed in SIGNER_SEEDS]
    sequencer = Signer(keccak256(SEQUENCER_SEED.encode())).address
    next_nonce = [0] * len(signers)

    records: list[bytes] = []
    decoded: list[dict[str, Any]] = []
    timestamp = BASE_TIMESTAMP_MS
    for i in range(n_records):
        timestamp += _TIMESTAMP_STEPS[i % len(_TIMESTAMP_STEPS)]
        wire: dict[str, Any] = {
            "kind": _KINDS[i % len(_KINDS)],
            "subject": _hex(keccak256(f"subject {i % 5}".encode())),
            "digest": _hex(keccak256(f"digest {i}".encode())),
        }
        meta = _meta(i)
        if meta is not None:
            wire["meta"] = meta
        # Two of every three records are signed, by the signers in turn; the rest are unsigned
        # (some with a nonce, which unsigned records may carry but nothing checks).
        signature_hex = None
        if i % 3 != 2:
            signer_index = i % len(signers)
            signer = signers[signer_index]
            nonce = next_nonce[signer_index]
            next_nonce[signer_index] += 1
            unsigned_ev = parse_event(wire)
            digest = compute_event_digest(
                domain.separator,
                unsigned_ev.kind,
                unsigned_ev.subject,
                unsigned_ev.digest,
                unsigned_ev.meta_hash,
                nonce,
            )
            signature_hex = encode_signature(*signer.sign(digest))
            wire |= {
                "nonce": nonce,
                "signature": signature_hex,
                "submitter": _hex(signer.address),
            }
            submitter = signer.address
        else:
            if i % 2:
                wire["nonce"] = i
            submitter = sequencer
        ev = parse_event(wire)
        record = build_record(ev, i, timestamp, submitter)
        rec = decode_record(record)
        records.append(record)
        decoded.append(
            {
                "seq": rec.seq,
                "timestamp": rec.timestamp,
                "kind": decode_kind(rec.kind),
                "subject": _hex(rec.subject),
                "digest": _hex(rec.digest),
                "meta": None if ev.meta_bytes is None else ev.meta_bytes.decode(),
                "metaHash": _hex(rec.meta_hash),
                "submitter": to_checksum_address(rec.submitter),
                "nonce": rec.nonce,
                "v": rec.v,
                "r": _hex(rec.r),
                "s": _hex(rec.s),
                "signature": signature_hex,
            }
        )

    leaves = [leaf_hash(r) for r in records]
    tree = MemoryTree(leaves)
    return {
        "hash": "keccak256",
        "eip712Domain": domain.to_json(),
        "signers": [
            {
                "address": to_checksum_address(s.address),
                "privateKeyDerivation": f'keccak256("{seed}")',
            }
            for s, seed in zip(signers, SIGNER_SEEDS, strict=True)
        ],
        "sequencer": {
            "address": to_checksum_address(sequencer),
            "privateKeyDerivation": f'keccak256("{SEQUENCER_SEED}")',
        },
        "records": [_hex(r) for r in records],
        "decoded": decoded,
        "leafHashes": [_hex(h) for h in leaves],
        "roots": [_hex(tree.root(n)) for n in range(n_records + 1)],
        "inclusion": [
            {
                "index": index,
                "treeSize": size,
                "proof": [_hex(h) for h in tree.inclusion_proof(index, size)],
            }
            for index, size in _inclusion_cases(n_records)
        ],
        "consistency": [
            {
                "first": first,
                "second": second,
                "proof": [_hex(h) for h in tree.consistency_proof(first, second)],
            }
            for first, second in _consistency_cases(n_records)
        ],
    }


def render_vectors() -> bytes:
    """The exact bytes of the vectors file: ASCII JSON, 1-space indent, trailing newline."""
    return (json.dumps(build_vectors(), indent=1, ensure_ascii=True) + "\n").encode("ascii")


def main(argv: list[str]) -> int:
    """CLI: ``python -m prover.vectors OUT.json``."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m prover.vectors OUT.json\n")
        return 2
    with open(argv[0], "wb") as f:
        f.write(render_vectors())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
