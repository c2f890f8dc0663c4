"""Child process of the truncation crash test: ``python -m tests.state_db._truncate_child DIR
SIZE`` opens the store, prints ``cutting`` and cuts it to SIZE records (the parent SIGKILLs it
at a random moment of the cut)."""

from __future__ import annotations

import sys

from state_db.store import Store


def main(path: str, size: int) -> None:
    with Store.open(path) as store:
        print("cutting", flush=True)
        store.truncate(size, anchored_size=0, state={"rollback": b"1"})
        print("cut", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
