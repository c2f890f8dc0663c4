"""Wire-level scalar types shared by every package."""

from typing import Final, NewType

Hash32 = NewType("Hash32", bytes)
"""A 32-byte keccak256 digest."""

TreeSize = NewType("TreeSize", int)
"""Number of leaves of an RFC 9162 tree."""

Seq = NewType("Seq", int)
"""Position of a record in the log, starting at 0."""

MAX_TREE_SIZE: Final[int] = 2**40
"""Largest tree size the proofs and the contract are specified for (docs/spec.md §7)."""
