"""Restart time: build a store of N records, close it, and time `Store.open`.

Restart must not replay the log (docs/design.md): open reads the schema key, the head, one partial
node chunk per level and the frontier nodes, so its time should not grow with N beyond
LevelDB's own work. The first reopen after a close also replays LevelDB's write-ahead log
(everything since the last memtable flush: up to the 16 MiB `WRITE_BUFFER_SIZE`, or the
whole last batch if it was bigger) and writes it out as a table; later opens skip that. So
``reopen_s_first`` depends on the size of the last groups, not on N; ``reopen_s_best`` is the
cost of our own resume. Usage: ``python -m bench.bench_restart [records]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_store import synthetic_entries
from state_db.store import Store


def run(records: int = 1_000_000, group_size: int = 50_000, reopens: int = 3) -> dict[str, Any]:
    """Build `records` records in groups of `group_size`, then time `reopens` cold opens."""
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        path = Path(tmp, "store")
        started = time.perf_counter()
        with Store.open(path) as store:
            for start in range(0, records, group_size):
                group = synthetic_entries(start, min(start + group_size, records))
                store.commit(group, [(start + len(group), start)])
            head = store.head
        build_s = time.perf_counter() - started
        open_s = []
        for _ in range(reopens):
            started = time.perf_counter()
            store = Store.open(path, create=False)
            open_s.append(time.perf_counter() - started)
            if store.head != head:
                raise AssertionError("reopened head differs from the one written")
            store.close()
    return {
        "records": records,
        "build_s": build_s,
        "reopen_s_first": open_s[0],
        "reopen_s_best": min(open_s),
    }


def main(argv: list[str]) -> None:
    records = int(argv[1]) if len(argv) > 1 else 1_000_000
    for key, value in run(records).items():
        print(f"{key:16} {value:,.3f}" if isinstance(value, float) else f"{key:16} {value:,}")


if __name__ == "__main__":
    main(sys.argv)
