"""Child process of the crash test: appends deterministic batches until it is killed.

Usage: ``python -m tests.state_db._crash_writer DIR``. Resumes from the store's head, then
commits batches whose sizes and seals are pure functions of their first seq (see
`batch_size`, `seals_block`), printing the new tree size after each `commit` returns, i.e.
after the batch is durable. The parent SIGKILLs it at random moments.
"""

from __future__ import annotations

import sys

from prover.hashing import keccak256
from state_db.store import Store
from tests.state_db.records import deterministic_entry

MAX_BATCH = 300
MAX_TREE_SIZE = 200_000


def batch_size(start: int) -> int:
    """Size of the batch that starts at `start`: 1..MAX_BATCH, varied but reproducible."""
    return 1 + int.from_bytes(keccak256(start.to_bytes(8, "big"))[:4], "big") % MAX_BATCH


def seals_block(start: int) -> bool:
    """Whether the batch starting at `start` seals a block at its end."""
    return keccak256(start.to_bytes(8, "big"))[5] % 2 == 0


def receipt_for(start: int) -> bytes:
    """Stand-in receipt bytes of the batch starting at `start`."""
    return b"receipt" + keccak256(b"receipt" + start.to_bytes(8, "big"))


def main(path: str) -> None:
    with Store.open(path) as store:
        while store.head.tree_size < MAX_TREE_SIZE:
            start = store.head.tree_size
            end = start + batch_size(start)
            entries = [deterministic_entry(seq) for seq in range(start, end)]
            seal = [(end, 1_700_000_000_000 + end)] if seals_block(start) else []
            store.commit(
                entries,
                seal,
                {"writer.tree_size": end.to_bytes(8, "big")},
                receipt=receipt_for(start),
            )
            sys.stdout.write(f"{end}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
