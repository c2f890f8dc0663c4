"""The toolkit without a sequencer: fingerprints, dataset trees, and the bad-input table."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prover.hashing import leaf_hash
from prover.tree import MemoryTree, verify_inclusion
from sequencer.toolkit.datatree import build
from sequencer.toolkit.fingerprint import fingerprint, parse_manifest

ROOT = Path(__file__).resolve().parents[3]


def test_fingerprint_root_is_sha256_of_file_digests_in_name_order(tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "sub").mkdir(parents=True)
    (model / "b.bin").write_bytes(b"bbb")
    (model / "a.bin").write_bytes(b"a" * 3_000_000)
    (model / "sub" / "c.json").write_bytes(b"{}")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_bytes(b"ignored")
    fp = fingerprint(model)
    names = [r.name for r in fp.resources]
    assert names == ["a.bin", "b.bin", "sub/c.json"]
    digests = [
        hashlib.sha256(p.read_bytes()).digest()
        for p in (model / "a.bin", model / "b.bin", model / "sub" / "c.json")
    ]
    assert fp.root == hashlib.sha256(b"".join(digests)).digest()
    assert parse_manifest(orjson.loads(orjson.dumps(fp.manifest()))).root == fp.root


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.binary(max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b),
        min_size=1,
        max_size=300,
    )
)
def test_dataset_tree_matches_the_memory_tree(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    tmp = tmp_path_factory.mktemp("ds")
    src = tmp / "data.jsonl"
    src.write_bytes(b"".join(line + b"\n" for line in lines))
    tree = build(src, "t", tmp / "store")
    ref = MemoryTree([leaf_hash(line) for line in lines])
    assert tree.info.root == ref.root() == tree.root()
    for i in {0, len(lines) // 2, len(lines) - 1}:
        proof = tree.prove(i)
        assert proof == ref.inclusion_proof(i)
        verify_inclusion(leaf_hash(lines[i]), i, len(lines), proof, tree.info.root)
        assert tree.find(leaf_hash(lines[i])) == lines.index(lines[i])
    tree.close()


def test_dataset_build_streams_many_samples(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    with open(src, "wb") as f:
        for i in range(200_000):
            f.write(b'{"i": %d}\n' % i)
    tree = build(src, "big", tmp_path / "store")
    assert tree.info.size == 200_000
    i = 123_457
    verify_inclusion(leaf_hash(b'{"i": %d}' % i), i, 200_000, tree.prove(i), tree.info.root)
    assert (
        tmp_path / "store" / tree.info.root.hex() / "level-0.bin"
    ).stat().st_size == 32 * 200_000
    tree.close()


# --- bad input: one line on stderr, a distinct exit code ------------------------------------------


def _attest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ATTEST_RPC": "http://127.0.0.1:9"}  # nothing listens on the discard port
    return subprocess.run(
        [sys.executable, "-m", "sequencer.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "model.bin").write_bytes(b"weights")
    (d / "bad-manifest.json").write_bytes(b'{"_type": "https://in-toto.io/Statement/v1"}')
    (d / "not-json.json").write_bytes(b"{nope")
    (d / "data.jsonl").write_bytes(b'{"a": 1}\n{"a": 2}\n')
    (d / "stranger.txt").write_bytes(b'{"a": 3}\n')
    (d / "bad.jsonl").write_bytes(b'{"kind": "sensor_hash"}\n')
    (d / "key").write_text("0x" + "11" * 32)
    from eth_account import Account

    (d / "ks.json").write_bytes(
        orjson.dumps(Account.encrypt("0x" + "11" * 32, "pw", kdf="pbkdf2", iterations=1000))
    )
    (d / "pw.txt").write_text("pw\n")
    (d / "bad-pw.txt").write_text("nope\n")
    build(d / "data.jsonl", "data", d / "store")
    return d


BAD_INPUT = [
    # (arguments, exit code, a word the one line must hold)
    (["submit", "--kind", "x"], 2, "give --kind"),
    (
        [
            "submit",
            "--kind",
            "Bad Kind",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--token",
            "t",
        ],
        2,
        "kind",
    ),
    (["submit", "--kind", "k", "--subject", "s", "--digest", "0x22", "--token", "t"], 2, "digest"),
    (
        ["submit", "--kind", "k", "--subject", "s", "--file", "missing.bin", "--token", "t"],
        15,
        "missing.bin",
    ),
    (
        [
            "submit",
            "--kind",
            "k",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--meta",
            "{x",
            "--token",
            "t",
        ],
        13,
        "meta",
    ),
    (
        [
            "submit",
            "--kind",
            "k",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--meta",
            "@nope.json",
            "--token",
            "t",
        ],
        15,
        "nope.json",
    ),
    (["submit", "--kind", "k", "--subject", "s", "--digest", "0x" + "22" * 32], 2, "--token"),
    (["submit", "--jsonl", "bad.jsonl", "--token", "t"], 13, "subject"),
    (["submit", "--jsonl", "missing.jsonl", "--token", "t"], 15, "missing.jsonl"),
    (
        [
            "submit",
            "--kind",
            "k",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--key-file",
            "missing-key",
        ],
        2,
        "missing-key",
    ),
    (
        ["submit", "--kind", "k", "--subject", "s", "--digest", "0x" + "22" * 32, "--token", "t"],
        7,
        "127.0.0.1:9",
    ),
    (
        [
            "submit",
            "--kind",
            "k",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--keystore",
            "ks.json",
            "--password-file",
            "pw.txt",
        ],
        7,
        "127.0.0.1:9",
    ),
    (
        [
            "submit",
            "--kind",
            "k",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--keystore",
            "ks.json",
            "--password-file",
            "bad-pw.txt",
        ],
        2,
        "wrong password",
    ),
    (
        [
            "submit",
            "--kind",
            "k",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--keystore",
            "not-json.json",
        ],
        2,
        "keystore",
    ),
    (
        [
            "submit",
            "--kind",
            "k",
            "--subject",
            "s",
            "--digest",
            "0x" + "22" * 32,
            "--key-file",
            "key",
            "--token",
            "t",
        ],
        2,
        "not allowed",
    ),
    (["model", "fingerprint", "missing-dir"], 15, "missing-dir"),
    (
        [
            "model",
            "attest",
            "--name",
            "n",
            "--version",
            "1",
            "--manifest",
            "bad-manifest.json",
            "--token",
            "t",
        ],
        13,
        "manifest",
    ),
    (
        [
            "model",
            "attest",
            "--name",
            "n",
            "--version",
            "1",
            "--manifest",
            "not-json.json",
            "--token",
            "t",
        ],
        13,
        "not JSON",
    ),
    (
        [
            "model",
            "attest",
            "--name",
            "n",
            "--version",
            "1",
            "--dataset",
            "0x12",
            "model.bin",
            "--token",
            "t",
        ],
        2,
        "--dataset",
    ),
    (["model", "nonsense"], 2, "invalid choice"),
    (["dataset", "commit", "missing.jsonl", "--name", "d", "--token", "t"], 15, "missing.jsonl"),
    (
        [
            "dataset",
            "prove",
            "stranger.txt",
            "--dataset",
            "ROOT",
            "--out",
            "b.json",
            "--store",
            "store",
        ],
        14,
        "not in dataset",
    ),
    (
        [
            "dataset",
            "prove",
            "missing.txt",
            "--dataset",
            "ROOT",
            "--out",
            "b.json",
            "--store",
            "store",
        ],
        15,
        "missing.txt",
    ),
    (
        [
            "dataset",
            "prove",
            "data.jsonl",
            "--dataset",
            "0x" + "00" * 32,
            "--out",
            "b.json",
            "--store",
            "store",
        ],
        15,
        "no dataset",
    ),
    (
        [
            "dataset",
            "prove",
            "data.jsonl",
            "--dataset",
            "0x12",
            "--out",
            "b.json",
            "--store",
            "store",
        ],
        2,
        "--dataset",
    ),
    (["check", "--subject", "model:x"], 2, "--digest"),
    (["check", "--subject", "model:x", "--digest", "0x12"], 2, "digest"),
    (
        ["check", "--subject", "model:x", "--digest", "0x" + "22" * 32, "--signer", "0x12"],
        2,
        "--signer",
    ),
    (
        [
            "check",
            "--subject",
            "model:x",
            "--digest",
            "0x" + "22" * 32,
            "--final",
            "--allow-pending",
        ],
        2,
        "not allowed",
    ),
    (["check", "--subject", "model:x", "--digest", "0x" + "22" * 32], 7, "127.0.0.1:9"),
    (["revoke", "--reason", "x", "--token", "t"], 2, "--seq"),
    (["verify", "--bundle", "missing.json"], 2, "missing.json"),
    (["verify", "--bundle", "not-json.json"], 2, "not JSON"),
]


@pytest.mark.parametrize(
    ("args", "code", "word"), BAD_INPUT, ids=[" ".join(a[0][:3]) + f" ->{a[1]}" for a in BAD_INPUT]
)
def test_bad_input_is_one_line_and_a_distinct_code(
    files: Path, args: list[str], code: int, word: str
) -> None:
    root = next((files / "store").iterdir()).name
    args = [a.replace("ROOT", "0x" + root) for a in args]
    proc = _attest(*args, cwd=files)
    # attest verify reports on stdout (its documented behaviour); the others on stderr.
    lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr, proc.stdout)
    assert len(lines) == 1, proc.stderr
    assert word.lower() in lines[0].lower(), lines[0]


def test_exit_code_table_agrees_with_the_constants_and_the_docs() -> None:
    """One table, three places: the constants, `--help` (from the module docstring), docs/client.md."""
    import re

    from sequencer.toolkit import common

    constants = {v for k, v in vars(common).items() if k.startswith("EXIT_") and isinstance(v, int)}
    in_help = {int(m) for m in re.findall(r"^\s*(\d+)  ", common.EXIT_CODES_HELP, re.M)}
    docs = (ROOT / "docs" / "client.md").read_text()
    table = docs[docs.index("### Exit codes") : docs.index("### Model fingerprints")]
    in_docs = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert constants == in_help == in_docs - {8}, (constants, in_help, in_docs)
    assert len(constants) == len(
        {
            getattr(common, k)
            for k in vars(common)
            if k.startswith("EXIT_") and k != "EXIT_CODES_HELP"
        }
    )
