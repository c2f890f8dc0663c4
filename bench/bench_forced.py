"""Commit gas with and without the forced-inclusion inbox, side by side on one chain (issue 16).

Deploys this tree's rollup (through `bench.bench_gas.Bench`) and, on the same py-evm chain, a
base rollup from the artifacts in `--base` (for example main's, `git show
main:l1_contracts/build/Rollup.json`), then measures at every size of docs/benchmarks.md §6:

* `base`: the base contract's commit;
* `empty`: this contract's four-argument commit with an empty inbox;
* `waiting`: the same with entries posted but none overdue (the deadline check's case);
* and, at 2^20 and 2^52, commits that prove k forced records (`Bench.forced_gas`).

    python -m bench.bench_forced --base DIR     # prints a JSON report

Gas is deterministic: the load of the machine does not change it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from bench.bench_gas import COMMIT_SIZES, ETHER, Bench
from l1_contracts.contract import MAX_FORCED_PER_COMMIT

WAITING = 4
"""Entries posted before the `waiting` commit (the count does not change its gas)."""
FORCED_COUNTS = (0, 1, 2, 4, 8, 16, MAX_FORCED_PER_COMMIT)


def deploy_base(bench: Bench, base: Path) -> Contract:
    """The base rollup (its own verifier) on the bench's chain, bonded like the bench's."""
    w3 = bench.w3

    def deploy(name: str, args: list[Any]) -> str:
        art = json.loads((base / f"{name}.json").read_text(encoding="utf-8"))
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        tx = factory.constructor(*args).transact({"from": bench.owner})
        address = w3.eth.get_transaction_receipt(tx)["contractAddress"]
        if address is None:
            raise RuntimeError(f"base {name} deployment failed")
        return str(address)

    verifier = deploy("RollupVerifier", [])
    f = bench.rollup.functions
    args: list[Any] = [
        verifier,
        bench.sequencer,
        f.challengeWindow().call(),
        f.daResponseWindow().call(),
        f.postRevealWindow().call(),
        f.minBond().call(),
        f.maxDARange().call(),
        f.challengerBond().call(),
        f.receiptHorizon().call(),
        "0x" + "00" * 20,
    ]
    abi = json.loads((base / "Rollup.json").read_text(encoding="utf-8"))["abi"]
    rollup: Contract = w3.eth.contract(
        address=Web3.to_checksum_address(deploy("Rollup", args)), abi=abi
    )
    rollup.functions.deposit().transact({"from": bench.sequencer, "value": Wei(ETHER)})
    return rollup


def waiting_commit_gas(bench: Bench, n: int) -> int:
    """commit_gas(n) with WAITING entries posted and none overdue."""
    f = bench.rollup.functions

    def measure() -> int:
        fee = int(f.forcedFee().call()) * 2
        for j in range(WAITING):
            fn = f.postForced(
                b"regulator_report".ljust(32, b"\0"), b"\1" * 32, bytes(32), bytes(32)
            )
            fn.transact({"from": bench.challenger, "value": Wei(fee), "gas": 300_000})
            del j
        return int(bench.commit_gas(n)["gas"])

    result: int = bench.isolated(measure)
    return result


def run(base: Path) -> dict[str, Any]:
    """Measure everything; returns a JSON-able dict."""
    bench = Bench()
    ours = bench.rollup
    theirs = deploy_base(bench, base)
    rows = []
    for n in COMMIT_SIZES:
        bench.rollup = theirs
        base_gas = bench.commit_gas(n)
        b = base_gas["gas"]
        bench.rollup = ours
        our_gas = bench.commit_gas(n)
        e = our_gas["gas"]
        w = waiting_commit_gas(bench, n)
        rows.append(
            {
                "size": n,
                "base": b,
                "empty": e,
                "waiting": w,
                "base_first": base_gas["first_commit_gas"],
                "empty_first": our_gas["first_commit_gas"],
                "empty_change": round((e - b) / b * 100, 2),
                "waiting_change": round((w - b) / b * 100, 2),
            }
        )
    return {
        "commit": rows,
        "forced_at_2_20": bench.forced_gas(2**20, FORCED_COUNTS),
        "forced_at_2_52": bench.forced_gas(2**52, FORCED_COUNTS),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="dir with the base artifacts")
    args = parser.parse_args(argv)
    json.dump(run(args.base), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
