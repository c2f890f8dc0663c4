"""keccak256 and the RFC 9162 node hashes (docs/spec.md §2).

`H = keccak256`: Ethereum's Keccak, not NIST SHA3-256 (``hashlib.sha3_256`` is another hash).
The hot path calls the safe-pysha3 backend directly; everything else may use eth-hash, which
`prover/__init__.py` points at the same backend.
"""

from collections.abc import Sequence
from typing import Final

import sha3  # safe-pysha3

from prover.types import Hash32

_keccak = sha3.keccak_256

LEAF_PREFIX: Final[bytes] = b"\x00"
NODE_PREFIX: Final[bytes] = b"\x01"


def keccak256(data: bytes) -> Hash32:
    """Return keccak256(data)."""
    return Hash32(_keccak(data).digest())


def leaf_hash(record: bytes) -> Hash32:
    """RFC 9162 §2.1.1: MTH({d}) = H(0x00 || d)."""
    return Hash32(_keccak(LEAF_PREFIX + record).digest())


def leaf_hashes(records: Sequence[bytes]) -> list[Hash32]:
    """`leaf_hash` of each record: the group-commit hot path, without a call per record."""
    keccak = _keccak
    prefix = LEAF_PREFIX
    return [keccak(prefix + r).digest() for r in records]


def node_hash(left: bytes, right: bytes) -> Hash32:
    """RFC 9162 §2.1.1: H(0x01 || left || right)."""
    return Hash32(_keccak(NODE_PREFIX + left + right).digest())


EMPTY_ROOT: Final[Hash32] = keccak256(b"")
"""RFC 9162 §2.1.1: the root of the empty tree is H() (the hash of the empty string)."""
