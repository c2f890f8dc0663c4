"""Per-event costs of the record and EIP-712 code (prover/record.py, prover/eip712.py).

``python -m bench.bench_record [N]`` prints, for N iterations each (default 20000, a few
seconds): the hand-packed record encoder against ``eth_abi.encode`` of the same tuple,
`parse_event` for unsigned, signed and meta-carrying events, `build_record`, the event
digest, signature recovery and signing. The sequencer pays parse + digest + recover + build
for every signed event, so their sum bounds the signed-event rate of one core.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from eth_abi.abi import encode as abi_encode

from prover.eip712 import (
    Domain,
    Signer,
    compute_event_digest,
    encode_signature,
    recover_signer,
)
from prover.hashing import keccak256
from prover.record import Record, build_record, encode_kind, encode_record, parse_event

_ABI_TYPES = [
    "uint64", "uint64", "bytes32", "bytes32", "bytes32", "bytes32",
    "address", "uint64", "uint8", "bytes32", "bytes32",
]  # fmt: skip


def _per_second(fn: Callable[[], Any], n: int) -> float:
    """Calls per second of `fn` over `n` calls (best of three rounds, to dodge noisy neighbours)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def run(n: int) -> dict[str, float]:
    """Measure each operation over `n` calls; rates in operations per second, costs in µs."""
    domain = Domain(31337, bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3"))
    signer = Signer(keccak256(b"bench signer"))
    subject, digest = keccak256(b"subject"), keccak256(b"digest")
    unsigned_wire = {
        "kind": "sensor_hash",
        "subject": "0x" + subject.hex(),
        "digest": "0x" + digest.hex(),
    }
    meta_wire = {**unsigned_wire, "meta": {"model": "m-1", "tokens": 120, "region": "eu"}}
    kind = encode_kind("sensor_hash")
    event_digest = compute_event_digest(domain.separator, kind, subject, digest, bytes(32), 7)
    v, r, s = signer.sign(event_digest)
    signed_wire = {
        **unsigned_wire,
        "nonce": 7,
        "signature": encode_signature(v, r, s),
        "submitter": "0x" + signer.address.hex(),
    }
    ev = parse_event(signed_wire)
    rec = Record(7, 1_700_000_000_000, kind, subject, digest, bytes(32), signer.address, 7, v, r, s)
    abi_tuple = (
        rec.seq, rec.timestamp, rec.kind, rec.subject, rec.digest, rec.meta_hash,
        "0x" + rec.submitter.hex(), rec.nonce, rec.v, rec.r, rec.s,
    )  # fmt: skip
    if encode_record(rec) != abi_encode(_ABI_TYPES, abi_tuple):
        raise AssertionError("hand-packed record differs from eth_abi.encode")

    slow_n = max(1, n // 10)  # eth_abi and secp256k1 are 10-100x slower: fewer rounds suffice
    results = {
        "encode_record_per_s": _per_second(lambda: encode_record(rec), n),
        "eth_abi_encode_per_s": _per_second(lambda: abi_encode(_ABI_TYPES, abi_tuple), slow_n),
        "build_record_per_s": _per_second(
            lambda: build_record(ev, 7, 1_700_000_000_000, signer.address), n
        ),
        "parse_event_unsigned_per_s": _per_second(lambda: parse_event(unsigned_wire), n),
        "parse_event_meta_per_s": _per_second(lambda: parse_event(meta_wire), n),
        "parse_event_signed_per_s": _per_second(lambda: parse_event(signed_wire), n),
        "event_digest_per_s": _per_second(
            lambda: compute_event_digest(domain.separator, kind, subject, digest, bytes(32), 7), n
        ),
    }
    results["recover_signer_us"] = 1e6 / _per_second(
        lambda: recover_signer(event_digest, v, r, s), slow_n
    )
    results["sign_us"] = 1e6 / _per_second(lambda: signer.sign(event_digest), slow_n)
    signed_path_us = (
        1e6
        * (
            1 / results["parse_event_signed_per_s"]
            + 1 / results["event_digest_per_s"]
            + 1 / results["build_record_per_s"]
        )
        + results["recover_signer_us"]
    )
    results["signed_event_path_us"] = signed_path_us
    return results


def main(argv: list[str]) -> int:
    """CLI: print the measurements, one per line."""
    n = int(argv[0]) if argv else 20_000
    results = run(n)
    for name, value in results.items():
        sys.stdout.write(f"{name:32s} {value:14,.1f}\n")
    ratio = results["encode_record_per_s"] / results["eth_abi_encode_per_s"]
    sys.stdout.write(f"{'hand-packed / eth_abi':32s} {ratio:14,.1f}x\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
