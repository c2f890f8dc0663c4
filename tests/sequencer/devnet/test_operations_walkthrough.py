"""docs/operations.md, run as written: its shell blocks, in order, with bash, against anvil
configured like a public chain (chain id 11155111, EIP-1559 base fee moving).

Changed, and said so in the page: anvil mines every 2 s instead of 12, and the ports are picked
by the OS. `.venv/bin/attest` and anvil's path are made absolute (the script runs in a fresh
directory). A block marked `<!-- rehearsal: background NAME -->` is started in the background
(the page's long-running services, its process id in `logs/NAME.pid`, as the page says); every
other marked block runs in one bash session with
`set -euo pipefail`, so a failing command fails the test. Unmarked blocks are not commands.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from l1_contracts.anvil import AnvilNotFoundError, find_anvil
from sequencer.l1.keys import decrypt_keystore

pytestmark = pytest.mark.slow  # the whole life of a deployment, on a chain with 2 s blocks

DOC = Path(__file__).parents[3] / "docs" / "operations.md"
ATTEST = str(Path(sys.executable).parent / "attest")
BLOCK = re.compile(r"<!-- rehearsal: (run|background (\w+)) -->\n```sh\n(.*?)```", re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(anvil: str, ports: dict[int, int], *, block_time: int = 2) -> str:
    text = DOC.read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 12, "docs/operations.md lost its rehearsal blocks"
    assert text.count("```sh") == len(blocks), "a shell block of the page is not marked"
    lines = [
        "set -euo pipefail",
        "mkdir -p logs",
        "trap 'kill $(cat logs/pids 2>/dev/null) 2>/dev/null || true' EXIT",
    ]
    for number, (kind, name, body) in enumerate(blocks, 1):
        body = body.replace(".venv/bin/attest", ATTEST)
        body = body.replace(".tools/anvil/node_modules/.bin/anvil", anvil)
        body = body.replace("--block-time 12", f"--block-time {block_time}")
        for documented, used in ports.items():
            body = body.replace(str(documented), str(used))
        # A marker line before each block (its number and the time): the transcript's index.
        lines.append(f'echo "### block {number} ({kind}) $(date +%s.%N)"')
        if kind == "run":
            lines.append(body)
        else:
            lines.append(f"{body.strip()} > logs/{name}.log 2>&1 &")
            lines.append(f"echo $! >> logs/pids; echo $! > logs/{name}.pid")
    lines.append('echo "### end $(date +%s.%N)"')
    return "\n".join(lines) + "\n"


def rehearse(
    workdir: Path,
    *,
    block_time: int = 2,
    timeout_s: float = 600,
    ports: dict[int, int] | None = None,
) -> tuple[int, str, dict[str, str]]:
    """Run the page's blocks in `workdir` against anvil mining every `block_time` s: the exit
    code, the output (with a `### block N` line before each block), the services' logs."""
    anvil = str(find_anvil())
    if ports is None:
        ports = {8545: _free_port(), 8645: _free_port(), 8646: _free_port()}
    (workdir / "walkthrough.sh").write_text(_script(anvil, ports, block_time=block_time))
    proc = subprocess.Popen(
        ["bash", "walkthrough.sh"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(
            f"the walk-through did not finish in {timeout_s:g} s:\n{out[-4000:]}"
        ) from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    logs = {p.name: p.read_text() for p in (workdir / "logs").glob("*.log")}
    return proc.returncode, out, logs


def test_the_operations_walkthrough_runs_as_written(tmp_path: Path) -> None:
    try:
        find_anvil()
    except AnvilNotFoundError as exc:
        pytest.skip(f"anvil is not installed ({exc})")
    code, out, logs = rehearse(tmp_path)
    assert code == 0, out[-4000:] + "\n".join(v[-2000:] for v in logs.values())
    check_outcome(tmp_path, out, logs)


def check_outcome(tmp_path: Path, out: str, logs: dict[str, str]) -> None:
    """What the page promises, as the commands printed it and the services logged it."""
    deploy = (tmp_path / "ops" / "deploy.txt").read_text()
    assert "on chain 11155111; sequencer bonded" in deploy
    assert "challengeWindow" in deploy and "86400 s" in deploy
    # §7, a real freeze: the validator proved the injected fault, L1 froze and slashed, the
    # owner recovered after the re-bond and the receipt horizon, a new epoch committed.
    frozen = (tmp_path / "ops" / "frozen.txt").read_text()
    assert re.search(r"^frozen\s+True$", frozen, flags=re.M), frozen
    assert re.search(r"^bondWei\s+0 ", frozen, flags=re.M), frozen
    assert '"rule":"BAD_SIGNATURE"' in (tmp_path / "ops" / "proofs.json").read_text()
    recovered = (tmp_path / "ops" / "recovered.txt").read_text()
    assert "recover: mined" in recovered
    assert re.search(r"^frozen\s+False$", recovered, flags=re.M), recovered
    assert re.search(r"^epoch\s+0$", frozen, flags=re.M), frozen
    assert re.search(r"^epoch\s+1$", recovered, flags=re.M), recovered
    assert "FAULT INJECTED (bad-signature)" in logs["faulty.log"]
    assert '"frozen":true' in out  # the sequencer's /health, as step 1 says
    assert "requestExit: mined" in out and "withdraw: mined" in out
    # The whole bond is the re-bond of §7 (the first one was slashed).
    assert "claim 10000000000000000000 wei: mined" in out, out[-2000:]
    assert "verified" in out.lower()
    withdrawn = (tmp_path / "ops" / "withdraw.txt").read_text()
    assert re.search(r"^bondWei\s+0 ", withdrawn, flags=re.M), withdrawn
    # Keys only ever in keystores: no private key in any output or log, in any spelling.
    ops = tmp_path / "ops"
    keys = [
        decrypt_keystore(ops / f"{who}.json", (ops / f"{who}.pass").read_text().splitlines()[0])
        for who in ("owner", "sequencer", "validator", "client")
    ]
    for text in (out, *logs.values()):
        at = text.find("Traceback")
        assert at < 0, text[max(0, at - 1500) : at + 3000]
        for key in keys:
            assert key.hex() not in text.lower()


# --- by hand, like a public chain: `python -m tests.sequencer.devnet.test_operations_walkthrough` --


def _traffic(l1: str, stop: threading.Event, base_fees: list[int]) -> None:
    """Other users of the chain: each few seconds, 0 to 6 transactions of ~100 kB of calldata
    from anvil's last dev account (~4M gas each against a 15M target), so the base fee climbs
    in busy blocks and falls in quiet ones; every block's base fee is kept in `base_fees`."""
    from eth_account import Account
    from web3 import Web3

    from l1_contracts.accounts import DEV_KEYS

    key = DEV_KEYS[9]  # anvil's last dev account: never one the page uses
    w3 = Web3(Web3.HTTPProvider(l1))
    while not stop.is_set():
        try:
            if w3.eth.chain_id:
                break
        except Exception:  # anvil not started yet
            stop.wait(1)
    me = Account.from_key(key)
    rng = random.Random(12)
    seen = -1
    while not stop.is_set():
        try:
            head = w3.eth.get_block("latest")
            if head["number"] != seen:
                seen = int(head["number"])
                base_fees.append(int(head["baseFeePerGas"]))
                nonce = w3.eth.get_transaction_count(me.address, "pending")
                base = int(head["baseFeePerGas"])
                for i in range(rng.choice((0, 0, 1, 3, 5, 6))):
                    tx = {
                        "to": me.address,
                        "value": 0,
                        "data": bytes(rng.getrandbits(8) | 1 for _ in range(100_000)),
                        "gas": 4_100_000,
                        "maxFeePerGas": 3 * base + 10**9,
                        "maxPriorityFeePerGas": 10**8,
                        "nonce": nonce + i,
                        "chainId": 11155111,
                        "type": 2,
                    }
                    w3.eth.send_raw_transaction(me.sign_transaction(tx).raw_transaction)
        except Exception as exc:  # the rehearsal is over, or anvil refused one: go on
            print(f"traffic: {exc}", file=sys.stderr)
        stop.wait(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--block-time", type=int, default=12)
    parser.add_argument("--dir", type=Path, required=True, help="an empty directory to run in")
    parser.add_argument("--no-traffic", action="store_true")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=False)
    ports = {8545: _free_port(), 8645: _free_port(), 8646: _free_port()}
    stop = threading.Event()
    base_fees: list[int] = []
    traffic = threading.Thread(
        target=_traffic, args=(f"http://127.0.0.1:{ports[8545]}", stop, base_fees), daemon=True
    )
    if not args.no_traffic:
        traffic.start()
    started = time.time()
    try:
        code, out, logs = rehearse(
            args.dir, block_time=args.block_time, timeout_s=3600, ports=ports
        )
    finally:
        stop.set()
    elapsed = time.time() - started
    (args.dir / "transcript.txt").write_text(out)
    marks = [
        (m.group(1), float(m.group(2)))
        for m in re.finditer(r"^### (block \d+ \([^)]*\)|end) (\S+)$", out, flags=re.M)
    ]
    print(f"exit code {code}; {elapsed:.0f} s; {len(marks) - 1} blocks")
    for (what, at), (_, nxt) in itertools.pairwise(marks):
        print(f"  {what:<34} {nxt - at:7.1f} s")
    hashes = set(re.findall(r"0x[0-9a-f]{64}", out))
    print(f"transaction hashes printed: {len(hashes)}, e.g. {min(hashes) if hashes else None}")
    if base_fees:
        print(
            f"base fee over {len(base_fees)} blocks: min {min(base_fees)} max {max(base_fees)} "
            f"wei/gas, {sum(a != b for a, b in itertools.pairwise(base_fees))} changes"
        )
    if code == 0:
        check_outcome(args.dir, out, logs)
        print("outcome checked: as the page promises")
    else:
        print(out[-3000:])
    return code


if __name__ == "__main__":
    sys.exit(main())
