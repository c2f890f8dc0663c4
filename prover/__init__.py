"""Pure protocol code: hashing, the RFC 9162 tree and its proofs, the event record, EIP-712.

Nothing in this package does I/O, uses trio or touches LevelDB (STYLE.md rule 1).
"""

import os

# eth-hash picks its backend on first use; pick safe-pysha3 explicitly before any library
# (eth-utils, eth-account, web3) asks for keccak, because the automatic choice prefers
# pycryptodome, which is about 5x slower here.
os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
