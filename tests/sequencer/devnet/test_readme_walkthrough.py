"""The README's walk-through and its fault example, run as written.

`attest devnet` is started the way `make devnet` starts it (the defaults: a block every second
on the embedded L1, a 120 s challenge window, a validator) except that every port is picked by
the OS, so the test can run beside a devnet someone has open; the README's URLs are rewritten to
the ports actually used and nothing else is changed. The curl bodies, the documented answers,
the banner, the log lines and the exit codes all come from README.md itself.

The walk-through needs the real challenge window to pass on an idle chain: about two and a half
minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from l1_contracts.devnet_node import DEFAULT_BLOCK_TIME_S
from prover.checkpoint import CheckpointStatus
from sequencer.config import Config
from sequencer.devnet.process import DevnetProcess
from sequencer.l1.reader import RollupReader
from sequencer.rpc.client import RpcClient
from tests.sequencer.devnet.readme import (
    README,
    Curl,
    argv_of,
    block_starting,
    check_shape,
    curl_commands,
    log_line_pattern,
    shape_of,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

ATTEST = str(Path(sys.executable).parent / "attest")
"""`.venv/bin/attest`, as the README calls it."""
README_SEQUENCER = "http://127.0.0.1:8645"
SEQUENCER_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
VALIDATOR_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _port_free(text: str) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def _post(devnet: DevnetProcess, curl: Curl) -> Any:
    """Send a README curl command's request, as curl would, to the devnet's sequencer."""
    assert curl.url in ("localhost:8645", "127.0.0.1:8645", README_SEQUENCER), curl.url
    # curl -d sends application/x-www-form-urlencoded; the sequencer reads the body as JSON.
    headers = {"Content-Type": "application/x-www-form-urlencoded", **curl.headers}
    request = urllib.request.Request(devnet.url, data=curl.body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _attest(
    argv: Sequence[str], devnet: DevnetProcess, home: Path
) -> subprocess.CompletedProcess[str]:
    """Run a README `.venv/bin/attest ...` line, pointed at this devnet's sequencer."""
    assert argv[0] == ".venv/bin/attest", argv
    args = [ATTEST, *(devnet.url if a == README_SEQUENCER else a for a in argv[1:])]
    # HOME: `attest verify` keeps the checkpoints it trusts in ~/.attest; a fresh one per test.
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(home)}
    )


def _walkthrough_commands() -> tuple[list[Curl], list[list[str]]]:
    curls = curl_commands(block_starting("curl -s localhost:8645 -H 'Authorization: Bearer dev'"))
    verify = [argv_of(line) for line in block_starting(".venv/bin/attest verify").splitlines()]
    return curls, verify


def _banner(devnet: DevnetProcess) -> list[str]:
    wait_for(lambda: any("dev keys" in line for line in devnet.lines), what="the whole banner")
    return [line.rstrip("\n") for line in devnet.lines]


def test_readme_walkthrough_on_an_idle_devnet(tmp_path: Path) -> None:
    curls, verify = _walkthrough_commands()
    submit, get_proof = curls
    allow_pending, until_final = verify
    assert "--allow-pending" in allow_pending and "--allow-pending" not in until_final

    with DevnetProcess(validator=True, log_level="INFO", capture_log=True) as devnet:
        # The banner, line by line as the README prints it ("..." stands for lines left out).
        banner = [_port_free(line) for line in _banner(devnet)]
        for line in block_starting("attest-rollup devnet is up").splitlines():
            if line.strip() != "...":
                assert _port_free(line) in banner, (line, banner)

        # Submit, and the answer has the documented shape.
        submitted_at = time.time()
        answer = _post(devnet, submit)
        assert "error" not in answer, answer
        assert submit.documented is not None
        check_shape(shape_of(submit.documented), answer["result"])
        proof = _post(devnet, get_proof)
        assert get_proof.documented is not None
        check_shape(shape_of(get_proof.documented), proof["result"])

        # "Within --checkpoint-interval seconds (5 by default) plus the allowed L1 clock lag
        # (2 s) and a block or two": anchored on L1. One more second for whole-second rounding
        # of L1 time.
        promised = (
            Config(data_dir=tmp_path).checkpoint_interval_s
            + Config(data_dir=tmp_path).l1_clock_lag_s
            + 2 * DEFAULT_BLOCK_TIME_S
            + 1
        )
        with RpcClient(devnet.url) as rpc:
            cp = wait_for(
                lambda: rpc.call("attest_getCheckpoint", "latest"),
                timeout=promised + 30,
                what="the first checkpoint",
            )
            anchored_after = time.time() - submitted_at
            assert anchored_after <= promised, f"anchored after {anchored_after:.1f} s"
            assert cp["status"] == "pending" and cp["treeSize"] >= 1
            assert cp["challengeEnds"] - cp["committedAt"] == 120  # "120 s on the devnet"

            # A light client: verified while pending with --allow-pending, "exit 4 until final".
            home = tmp_path / "home"
            home.mkdir()
            done = _attest(allow_pending, devnet, home)
            assert done.returncode == 0, done.stdout + done.stderr
            early = _attest(until_final, devnet, home)
            assert early.returncode == 4, early.stdout + early.stderr

            # Idle from here on: nobody sends a transaction, yet L1 time moves and the
            # checkpoint turns final after the window plus two block intervals.
            l1 = RollupReader(devnet.l1_rpc, devnet.contract)
            w3 = l1.w3
            nonces = [
                w3.eth.get_transaction_count(a) for a in (SEQUENCER_ADDRESS, VALIDATOR_ADDRESS)
            ]
            final_by = cp["challengeEnds"] + 2 * DEFAULT_BLOCK_TIME_S
            status = None
            while time.time() < final_by:
                status = l1.checkpoint(cp["index"]).status
                if status == CheckpointStatus.FINAL:
                    break
                time.sleep(0.2)
            assert status == CheckpointStatus.FINAL, (
                f"status {status} at L1 time {l1.latest_block_time()}, window ends {cp['challengeEnds']}"
            )
            assert l1.latest_finalized() == cp["index"]
            # The light client agrees (each run takes about a second to start).
            final = wait_for(
                lambda: (r := _attest(until_final, devnet, home)).returncode == 0 and r,
                timeout=10,
                what="attest verify --seq 0 to exit 0",
            )
            assert "FINAL" in final.stdout.upper(), final.stdout
            assert [
                w3.eth.get_transaction_count(a) for a in (SEQUENCER_ADDRESS, VALIDATOR_ADDRESS)
            ] == nonces
            # And the sequencer follows L1 to finality on its own.
            fin = wait_for(lambda: rpc.call("attest_getCheckpoint", "finalized"), what="finalized")
            assert fin["index"] == cp["index"]
        # A newcomer's devnet reports no L1 trouble it does not have: the inbox follower, whose
        # confirmed block is older than the contract for the first two blocks, stays quiet.
        inbox_warnings = [line for line in devnet.log_lines if "sequencer.node.forced" in line]
        assert not inbox_warnings, inbox_warnings


def test_readme_fault_example_fires_and_is_caught(tmp_path: Path) -> None:
    example = block_starting(".venv/bin/attest devnet --inject bad-signature")
    command = argv_of(example.splitlines()[0])
    banner_says = re.search(r"# the banner's second line: (.*?)\.\.\.$", example, flags=re.M)
    assert banner_says, example
    assert command[:2] == [".venv/bin/attest", "devnet"]
    log_block = block_starting("WARNING sequencer.node.faults FAULT INJECTED")
    expected = [log_line_pattern(line) for line in log_block.splitlines() if line.strip()]
    submit = _walkthrough_commands()[0][0]

    with DevnetProcess(
        validator=True, log_level="INFO", capture_log=True, extra_args=command[2:]
    ) as devnet:
        fault = command[command.index("--inject") + 1]
        second = _banner(devnet)[1]
        assert second.startswith("  FAULT") and fault in second, second
        assert " ".join(second.split()).startswith(" ".join(banner_says.group(1).split())), second
        # "submit two events (as in the walk-through above)"
        for _ in range(2):
            answer = _post(devnet, submit)
            assert "error" not in answer, answer

        def seen(pattern: re.Pattern[str]) -> bool:
            return any(pattern.search(line) for line in list(devnet.log_lines))

        for pattern in expected:
            wait_for(
                lambda p=pattern: seen(p), timeout=90, what=f"a log line like {pattern.pattern}"
            )

        # The consequences the README lists.
        with RpcClient(devnet.url) as rpc:
            # The sequencer learns it from L1 in its next committer round (the validator's log
            # line above is the validator's own view).
            wait_for(
                lambda: rpc.call("attest_getCheckpoint", 0)["status"] == "reverted",
                what='"status": "reverted" from the sequencer',
            )
            wait_for(lambda: rpc.call("attest_status")["l1"]["frozen"], what='"frozen": true')
        refused = re.search(
            r"attest verify --seq (\d+) --allow-pending` refuses the event \(exit (\d+)",
            " ".join(README.read_text().split()),
        )
        assert refused, "the README names the refused verify"
        seq, code = refused.groups()
        home = tmp_path / "home"
        home.mkdir()
        out = _attest(
            [
                ".venv/bin/attest",
                "verify",
                "--rpc",
                README_SEQUENCER,
                "--seq",
                seq,
                "--allow-pending",
            ],
            devnet,
            home,
        )
        assert out.returncode == int(code), out.stdout + out.stderr


def test_readme_forced_inclusion_against_a_censor_and_an_honest_sequencer(tmp_path: Path) -> None:
    """The README's forced-inclusion example (issue 16), run as written: against
    `--inject ignore-forced` the post is never included and `attest force` exits as documented;
    against an honest devnet the same line is included and proven."""
    block = block_starting(".venv/bin/attest devnet --inject ignore-forced")
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    devnet_cmd, key_line, force = argv_of(lines[0]), argv_of(lines[1]), argv_of(lines[2])
    assert devnet_cmd[:2] == [".venv/bin/attest", "devnet"] and key_line[0] == "echo"
    documented = re.search(r"^# exit (\d+) after (\d+) s: (.*?) \(status: (\w+)", block, flags=re.M)
    assert documented, block
    (tmp_path / key_line[-1]).write_text(key_line[1] + "\n")

    def run_force(devnet: DevnetProcess) -> subprocess.CompletedProcess[str]:
        swap = {
            README_SEQUENCER: devnet.url,
            "http://127.0.0.1:8545": devnet.l1_rpc,
            "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512": devnet.contract,
            key_line[-1]: str(tmp_path / key_line[-1]),
        }
        args = [ATTEST, *(swap.get(a, a) for a in force[1:])]
        return subprocess.run(args, capture_output=True, text=True, timeout=180)

    with DevnetProcess(extra_args=devnet_cmd[2:]) as censor:
        result = run_force(censor)
        assert result.returncode == int(documented.group(1)), result.stderr
        assert result.stdout.startswith("posted forced event 0 on L1"), result.stdout
        assert documented.group(3) in result.stderr and documented.group(4) == "overdue"
        assert "(status: overdue" in result.stderr, result.stderr
        with RpcClient(censor.url) as rpc:
            assert rpc.call("attest_getForced", 0)["status"] == "overdue"
    with DevnetProcess(extra_args=["--checkpoint-interval", "1"]) as honest:
        result = run_force(honest)
        assert result.returncode == 0, result.stderr
        out_lines = result.stdout.splitlines()
        assert re.match(r"included: seq \d+, proven on L1 by checkpoint \d+", out_lines[1])
        proof = json.loads(out_lines[2])
        assert proof["record"].startswith("0x") and proof["checkpoint"] is not None
