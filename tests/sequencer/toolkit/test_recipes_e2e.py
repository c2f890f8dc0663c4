"""The recipes of docs/recipes/, each run end to end against one devnet (`attest devnet`): the
commands as the recipes write them, L1 time moved past the challenge window where a recipe
says "wait until final"."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from prover.light_client import Expectations
from sequencer.client import Client, Event, KeySigner, subject_of
from sequencer.devnet.process import DevnetProcess

pytestmark = pytest.mark.slow

ALICE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
BOB_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
WINDOW = 30


@dataclass
class Net:
    url: str
    l1: str
    contract: str
    home: Path

    def advance(self, seconds: int = WINDOW + 5) -> None:
        """Move L1 time past the challenge window (what "wait until final" means on a devnet)."""
        for i, (method, params) in enumerate((("evm_increaseTime", [seconds]), ("evm_mine", []))):
            httpx.post(
                self.l1, json={"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            )

    def attest(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "ATTEST_RPC": self.url,
            "ATTEST_L1_RPC": self.l1,
            "ATTEST_CONTRACT": self.contract,
            "HOME": str(self.home),
        }
        return subprocess.run(
            [sys.executable, "-m", "sequencer.cli", *args],
            capture_output=True,
            cwd=self.home,
            env=env,
            timeout=120,
            input=None if stdin is None else stdin.decode(),
            text=True,
        )

    def wait_covered(self, seq: int) -> None:
        with Client(self.url, l1_rpc=self.l1, contract=self.contract) as c:
            c.wait_anchored(seq, timeout=60)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    home = tmp_path_factory.mktemp("home")
    (home / "alice.key").write_text(ALICE_KEY + "\n")
    (home / "bob.key").write_text(BOB_KEY + "\n")
    with DevnetProcess(
        extra_args=[
            "--challenge-window",
            str(WINDOW),
            "--da-window",
            str(WINDOW // 4),
            "--checkpoint-interval",
            "1",
        ]
    ) as d:
        yield Net(d.url, d.l1_rpc, d.contract, home)


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.stdout.strip(), proc.stderr
    return orjson.loads(proc.stdout.strip().splitlines()[-1])


def test_model_registry_with_a_ci_gate(net: Net) -> None:
    model = net.home / "model-a"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(1 << 20))
    (model / "config.json").write_bytes(b'{"layers": 2}')
    fp = net.attest("model", "fingerprint", str(model), "--out", "model-a.manifest.json", "--json")
    digest = _json(fp)["digest"]
    att = net.attest(
        "model",
        "attest",
        str(model),
        "--name",
        "model-a",
        "--version",
        "1.0",
        "--key-file",
        "alice.key",
        "--json",
    )
    assert att.returncode == 0, att.stderr
    seq = _json(att)["seq"]
    alice = KeySigner(ALICE_KEY).address.hex()
    gate = [
        "check",
        "--subject",
        "model:model-a",
        "--digest",
        digest,
        "--kind",
        "model_fingerprint",
        "--signer",
        "0x" + alice,
        "--json",
    ]
    net.wait_covered(seq)
    assert net.attest(*gate).returncode == 4  # in the log, not final yet
    assert net.attest(*gate, "--allow-pending").returncode == 0
    net.advance()
    ok = net.attest(*gate)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    verdict = _json(ok)
    assert (
        verdict["ok"]
        and verdict["meta"]["name"] == "model-a"
        and verdict["meta"]["version"] == "1.0"
    )
    # Another digest, another signer: distinct codes.
    assert (
        net.attest("check", "--subject", "model:model-a", "--digest", "0x" + "ab" * 32).returncode
        == 3
    )
    assert (
        net.attest(
            "check", "--subject", "model:model-a", "--digest", digest, "--signer", "0x" + "11" * 20
        ).returncode
        == 12
    )


def test_revocation_fails_the_gate_and_supersession_is_reported(net: Net) -> None:
    model = net.home / "model-b"
    model.write_bytes(b"model b weights")
    att = _json(
        net.attest(
            "model",
            "attest",
            str(model),
            "--name",
            "model-b",
            "--version",
            "1",
            "--key-file",
            "alice.key",
            "--json",
        )
    )
    net.wait_covered(att["seq"])
    net.advance()
    gate = ["check", "--subject", "model:model-b", "--digest", att["digest"]]
    assert net.attest(*gate).returncode == 0
    # Bob cannot revoke Alice's attestation.
    assert net.attest("revoke", "--seq", str(att["seq"]), "--key-file", "bob.key").returncode == 2
    rv = net.attest(
        "revoke", "--seq", str(att["seq"]), "--reason", "found biased", "--key-file", "alice.key"
    )
    assert rv.returncode == 0, rv.stderr
    failed = net.attest(*gate, "--json")
    assert failed.returncode == 10 and "found biased" in _json(failed)["message"]
    # attest verify reports it too, with the record's meta.
    verified = net.attest(
        "verify",
        "--rpc",
        net.url,
        "--l1-rpc",
        net.l1,
        "--contract",
        net.contract,
        "--seq",
        str(att["seq"]),
        "--state",
        "v-state.json",
        "--json",
    )
    v = _json(verified)
    assert verified.returncode == 10 and v["revoked"] and v["meta"]["name"] == "model-b", (
        verified.stdout
    )
    # A new version naming the old one supersedes it.
    (net.home / "model-b2").write_bytes(b"model b v2")
    old = _json(
        net.attest(
            "model",
            "attest",
            str(net.home / "model-b2"),
            "--name",
            "model-b",
            "--version",
            "2",
            "--key-file",
            "alice.key",
            "--json",
        )
    )
    (net.home / "model-b3").write_bytes(b"model b v3")
    new = _json(
        net.attest(
            "model",
            "attest",
            str(net.home / "model-b3"),
            "--name",
            "model-b",
            "--version",
            "3",
            "--supersedes",
            str(old["seq"]),
            "--key-file",
            "alice.key",
            "--json",
        )
    )
    net.wait_covered(new["seq"])
    net.advance()
    assert (
        net.attest("check", "--subject", "model:model-b", "--digest", old["digest"]).returncode
        == 11
    )
    assert (
        net.attest("check", "--subject", "model:model-b", "--digest", new["digest"]).returncode == 0
    )


def test_sensor_fleet_through_the_batcher(net: Net) -> None:
    accepted: list[Any] = []
    with (
        Client(net.url, token="dev") as client,
        client.batcher(
            max_events=500, max_delay=0.02, max_pending=2000, on_accepted=accepted.extend
        ) as batcher,
    ):
        for i in range(5000):
            batcher.add(
                Event("sensor_hash", subject_of(f"sensor:{i % 50}"), os.urandom(32), {"t": i})
            )
    assert len(accepted) == 5000 and batcher.stats.failed == 0
    seqs = sorted(a.seq for a in accepted)
    assert seqs == list(range(seqs[0], seqs[0] + 5000))
    with Client(net.url) as reader:  # every match, whatever the page size
        assert (
            list(reader.find(subject=subject_of("sensor:3"), page=7))
            == list(reader.find(subject=subject_of("sensor:3")))
            and len(list(reader.find(subject=subject_of("sensor:3")))) == 100
        )
    # The stream form: attest submit --jsonl - with a progress bar.
    lines = b"".join(
        orjson.dumps(
            {"kind": "sensor_hash", "subject": "sensor:7", "digest": "0x" + os.urandom(32).hex()}
        )
        + b"\n"
        for _ in range(300)
    )
    proc = net.attest("submit", "--jsonl", "-", "--token", "dev", "--progress", stdin=lines)
    assert proc.returncode == 0, proc.stderr
    assert len([line for line in proc.stdout.splitlines() if line.endswith("verified")]) == 300


def test_dataset_commit_supersedes_an_earlier_version_by_seq_or_leaf(net: Net) -> None:
    def commit(version: int, *more: str) -> subprocess.CompletedProcess[str]:
        data = net.home / f"corpus-v{version}.jsonl"
        data.write_bytes(b"".join(b'{"v": %d, "id": %d}\n' % (version, i) for i in range(50)))
        return net.attest(
            "dataset", "commit", str(data), "--name", "corpus", "--key-file", "alice.key",
            "--json", *more,
        )  # fmt: skip

    v1 = _json(commit(1))
    v2 = _json(commit(2, "--supersedes", str(v1["seq"])))  # by seq
    v3 = _json(commit(3, "--supersedes", v2["leafHash"]))  # by leaf hash
    with Client(net.url, l1_rpc=net.l1, contract=net.contract) as c:
        assert c.get_event(v2["seq"]).meta["supersedes"] == v1["leafHash"]  # type: ignore[index]
        assert c.get_event(v3["seq"]).meta["supersedes"] == v2["leafHash"]  # type: ignore[index]
    net.wait_covered(v3["seq"])
    net.advance()

    def gate(v: dict[str, Any]) -> int:
        return net.attest(
            "check", "--subject", "dataset:corpus", "--digest", v["root"], "--kind", "dataset_hash"
        ).returncode

    assert [gate(v) for v in (v1, v2, v3)] == [11, 11, 0]  # superseded, superseded, attested
    verified = net.attest("verify", "--rpc", net.url, "--seq", str(v1["seq"]), "--json")
    assert verified.returncode == 11 and _json(verified)["supersededBy"] == [v2["seq"]]
    # Wrong --supersedes: another subject's seq, a leaf no record of this subject has, junk,
    # and with --no-submit (nothing is submitted, so nothing can supersede).
    other = net.attest(
        "submit", "--kind", "sensor_hash", "--subject", "sensor:7", "--digest", "0x" + "cd" * 32,
        "--key-file", "alice.key", "--json",
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    bad = [
        (commit(4, "--supersedes", str(_json(other)["seq"])), 2, "subject"),
        (commit(4, "--supersedes", "0x" + "ab" * 32), 3, "no record with that leaf hash"),
        (commit(4, "--supersedes", "v1"), 2, "seq (a number) or a 0x leaf hash"),
        (commit(4, "--no-submit", "--supersedes", str(v3["seq"])), 2, "--no-submit"),
    ]
    for proc, code, message in bad:
        # One line saying what was wrong (the lines before it are the INFO log), no traceback.
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == code and last.startswith("attest dataset: error"), proc.stderr
        assert message in last and "Traceback" not in proc.stderr, proc.stderr


def test_dataset_membership_proof_for_an_auditor(net: Net) -> None:
    data = net.home / "train.jsonl"
    data.write_bytes(b"".join(b'{"id": %d, "text": "sample %d"}\n' % (i, i) for i in range(5000)))
    commit = _json(
        net.attest(
            "dataset",
            "commit",
            str(data),
            "--name",
            "train-v1",
            "--key-file",
            "alice.key",
            "--json",
        )
    )
    net.wait_covered(commit["seq"])
    net.advance()
    (net.home / "sample.json").write_bytes(b'{"id": 1234, "text": "sample 1234"}\n')
    prove = net.attest(
        "dataset", "prove", "sample.json", "--dataset", commit["root"], "--out", "proof.json"
    )
    assert prove.returncode == 0, prove.stderr
    # The auditor: offline (bundle only), then against L1.
    assert net.attest("verify", "--bundle", "proof.json").returncode == 8
    full = net.attest(
        "verify",
        "--bundle",
        "proof.json",
        "--l1-rpc",
        net.l1,
        "--contract",
        net.contract,
        "--state",
        "none-state.json",
        "--json",
    )
    assert full.returncode == 0, full.stdout
    bundle = orjson.loads((net.home / "proof.json").read_bytes())
    # Tampered at the dataset level, then at the log level.
    bad = {**bundle, "dataset": {**bundle["dataset"], "index": bundle["dataset"]["index"] + 1}}
    (net.home / "bad1.json").write_bytes(orjson.dumps(bad))
    assert net.attest("verify", "--bundle", "bad1.json").returncode == 9
    rec = bundle["record"]
    bad = {**bundle, "record": rec[:-1] + ("0" if rec[-1] != "0" else "1")}
    (net.home / "bad2.json").write_bytes(orjson.dumps(bad))
    assert net.attest("verify", "--bundle", "bad2.json").returncode == 5
    (net.home / "stranger.json").write_bytes(b'{"id": -1}\n')
    assert (
        net.attest(
            "dataset", "prove", "stranger.json", "--dataset", commit["root"], "--out", "x.json"
        ).returncode
        == 14
    )


def test_pay_per_inference_receipts_counted_and_verified_by_the_payer(net: Net) -> None:
    provider = KeySigner(BOB_KEY)
    job = subject_of("invoice:acme-2026-12")
    # Receipts checked against the sequencer() L1 holds (the provider pins L1).
    with Client(net.url, signer=provider, l1_rpc=net.l1, contract=net.contract) as c:
        placed = c.submit_batch(
            [
                Event(
                    "inference_receipt", job, os.urandom(32), {"units": 3 + i % 4, "model": "m-7"}
                )
                for i in range(40)
            ]
        )
        assert c.receipt_signer() == c.status().sequencer  # L1's sequencer() is the devnet's
    net.wait_covered(max(a.seq for a in placed))
    net.advance()
    # The payer trusts only L1 and the provider's address.
    with Client(net.url, l1_rpc=net.l1, contract=net.contract) as payer:
        seqs = list(payer.find(subject=job))
        total = 0
        for seq in seqs:
            v = payer.verify(
                seq,
                Expectations(
                    kind=b"inference_receipt".ljust(32, b"\0"),
                    submitter=provider.address,
                    signed=True,
                ),
            )
            assert (
                v.final
                and v.event.submitter == provider.address
                and v.event.kind == "inference_receipt"
            )
            assert v.event.meta is not None and v.event.meta_verified
            total += v.event.meta["units"]
        assert payer.wait_final(seqs[-1], timeout=30).final
        bundle = payer.bundle(seqs[0])  # what the payer files as evidence: `attest verify --bundle`
    (net.home / "invoice-0.json").write_bytes(orjson.dumps(bundle))
    assert (
        net.attest(
            "verify",
            "--bundle",
            "invoice-0.json",
            "--l1-rpc",
            net.l1,
            "--contract",
            net.contract,
            "--state",
            "none-state2.json",
        ).returncode
        == 0
    )
    assert len(seqs) == 40 and total == sum(3 + i % 4 for i in range(40))
