"""A dataset's RFC 9162 tree on disk: built streaming, proven from files, memory bounded.

Samples are leaf inputs as they are: each *line* of a JSONL (or any text) file without its
line terminator (``\\n`` or ``\\r\\n``), or each *file* of a directory (sorted by POSIX
relative path, whole bytes). Leaf hash ``H(0x00 || sample)``, nodes ``H(0x01 || l || r)``
with keccak256 — the log's own tree (docs/spec.md §2), so the same proof code checks both.

Layout of a dataset directory (``~/.attest/datasets/<root hex>/`` by default):

    dataset.json      {"format": "attest-dataset/1", name, root, size, samples: "lines"|"files", source}
    level-<L>.bin     the perfect-subtree hashes of level L, 32 bytes each, in index order
    names.txt         for "files": the relative path of each sample, one per line

Building appends 65,536 leaf hashes at a time (`CompactTree.append_many` returns the nodes
each chunk completes, level by level) and writes them to the level files, so memory is one
chunk whatever the sample count: a million samples use ~64 MB of disk (two hashes a leaf)
and a few MB of memory. A proof reads its O(log n) nodes by offset (`NodeReader`);
finding a sample's index scans level 0 in 1 MiB blocks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import orjson

from prover.errors import InvalidInputError
from prover.hashing import leaf_hash
from prover.tree import CompactTree, NodeId, fold_subtrees, prove_inclusion
from prover.types import Hash32
from prover.wire import hex0x, parse_hash32
from sequencer.toolkit.fingerprint import UnreadableError

FORMAT: Final[str] = "attest-dataset/1"
CHUNK_LEAVES: Final[int] = 65_536
DEFAULT_HOME: Final[str] = "~/.attest/datasets"


class SampleNotFoundError(InvalidInputError):
    """The sample's leaf hash is not in the dataset."""


def iter_lines(path: Path) -> Iterator[bytes]:
    """Each line of a file without its terminator; a final empty line is not a sample."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
                yield line
    except OSError as exc:
        raise UnreadableError(f"cannot read {path}: {exc.strerror or exc}") from None


def list_files(root: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in filenames:
            p = Path(dirpath) / fn
            out.append((p.relative_to(root).as_posix(), p))
    out.sort(key=lambda x: x[0])
    return out


def file_leaf(path: Path) -> Hash32:
    """`H(0x00 || bytes)` of a whole file, streamed."""
    import sha3

    from prover.hashing import LEAF_PREFIX

    h = sha3.keccak_256(LEAF_PREFIX)
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    except OSError as exc:
        raise UnreadableError(f"cannot read {path}: {exc.strerror or exc}") from None
    return Hash32(h.digest())


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    name: str
    root: Hash32
    size: int
    samples: str
    """"lines" or "files"."""
    source: str


class DatasetTree:
    """A built dataset tree in `directory` (a `NodeReader` for `prover.tree`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            meta = orjson.loads((directory / "dataset.json").read_bytes())
        except FileNotFoundError:
            raise UnreadableError(
                f"no dataset at {directory} (attest dataset commit makes one)"
            ) from None
        except (OSError, orjson.JSONDecodeError) as exc:
            raise InvalidInputError(f"{directory / 'dataset.json'}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InvalidInputError(f"{directory / 'dataset.json'} is not an {FORMAT} file")
        try:
            self.info = DatasetInfo(
                meta["name"],
                parse_hash32(meta["root"], "root"),
                meta["size"],
                meta["samples"],
                meta["source"],
            )
        except (KeyError, InvalidInputError) as exc:
            raise InvalidInputError(f"{directory / 'dataset.json'}: {exc}") from None
        self._files: dict[int, IO[bytes]] = {}

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def _level(self, level: int) -> IO[bytes]:
        f = self._files.get(level)
        if f is None:
            f = self._files[level] = open(self.directory / f"level-{level}.bin", "rb")  # noqa: SIM115
        return f

    def read_nodes(self, ids: Sequence[NodeId]) -> list[Hash32]:
        out: list[Hash32] = []
        for level, index in ids:
            f = self._level(level)
            f.seek(index * 32)
            h = f.read(32)
            # Verify the reader returned exactly the node asked for (a truncated file is a bug
            # or damage, never a short proof).
            if len(h) != 32:
                raise InvalidInputError(
                    f"dataset {self.directory}: level {level} lacks node {index}"
                )
            out.append(Hash32(h))
        return out

    def root(self) -> Hash32:
        from prover.tree import range_node_ids

        return fold_subtrees(self.read_nodes(range_node_ids(0, self.info.size)))

    def prove(self, index: int) -> list[Hash32]:
        """RFC 9162 audit path of sample `index` in the dataset tree."""
        return prove_inclusion(self, index, self.info.size)

    def leaf(self, index: int) -> Hash32:
        return self.read_nodes([(0, index)])[0]

    def find(self, leaf: bytes) -> int:
        """Index of the first sample whose leaf hash is `leaf`; `SampleNotFoundError` if none."""
        f = self._level(0)
        f.seek(0)
        base = 0
        while block := f.read(1 << 20):
            pos = block.find(leaf)
            while pos != -1:
                if pos % 32 == 0:
                    return base + pos // 32
                pos = block.find(leaf, pos + 1)
            base += len(block) // 32
        raise SampleNotFoundError(
            f"the sample (leaf hash {hex0x(leaf)}) is not in dataset {self.info.name}"
        )

    def name_of(self, index: int) -> str | None:
        if self.info.samples != "files":
            return None
        with open(self.directory / "names.txt", "rb") as f:
            for i, line in enumerate(f):
                if i == index:
                    return line.rstrip(b"\n").decode()
        return None


def build(source: Path, name: str, home: Path) -> DatasetTree:
    """Build the tree of `source` (a directory of files, or a file of lines) under `home`."""
    if not source.exists():
        raise UnreadableError(f"{source}: no such file or directory")
    home.mkdir(parents=True, exist_ok=True)
    work = Path(os.path.join(home, f".building-{os.getpid()}"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    files: dict[int, IO[bytes]] = {}
    tree = CompactTree()
    samples = "files" if source.is_dir() else "lines"
    try:
        names = open(work / "names.txt", "wb") if samples == "files" else None  # noqa: SIM115
        leaves: Iterable[bytes]
        if samples == "files":
            listed = list_files(source)
            assert names is not None
            for rel, _ in listed:
                names.write(rel.encode() + b"\n")
            names.close()
            leaves = (file_leaf(p) for _, p in listed)
        else:
            leaves = (leaf_hash(s) for s in iter_lines(source))
        chunk: list[bytes] = []
        for h in leaves:
            chunk.append(h)
            if len(chunk) == CHUNK_LEAVES:
                _append(tree, chunk, files, work)
                chunk = []
        if chunk:
            _append(tree, chunk, files, work)
        if tree.size == 0:
            raise InvalidInputError(f"{source} holds no samples")
        for f in files.values():
            f.close()
        root = tree.root()
        meta: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "root": hex0x(root),
            "size": tree.size,
            "samples": samples,
            "source": str(source.resolve()),
        }
        (work / "dataset.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")
        final = home / root.hex()
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
    except BaseException:
        for f in files.values():
            f.close()
        shutil.rmtree(work, ignore_errors=True)
        raise
    return DatasetTree(final)


def _append(tree: CompactTree, chunk: list[bytes], files: dict[int, IO[bytes]], work: Path) -> None:
    for level, nodes in enumerate(tree.append_many(chunk)):
        f = files.get(level)
        if f is None:
            f = files[level] = open(work / f"level-{level}.bin", "ab")  # noqa: SIM115
        f.write(b"".join(nodes))


def open_dataset(root_hex: str, home: Path) -> DatasetTree:
    """The dataset tree with this root (0x-hex), from `home`."""
    text = root_hex[2:] if root_hex.startswith(("0x", "0X")) else root_hex
    if len(text) != 64:
        raise InvalidInputError(f"--dataset must be the 0x-hex root of a dataset, got {root_hex!r}")
    return DatasetTree(home / text.lower())


def sample_leaf(tree: DatasetTree, sample: Path) -> Hash32:
    """The leaf hash of a sample file as this dataset hashes samples."""
    if tree.info.samples == "files":
        return file_leaf(sample)
    try:
        data = sample.read_bytes()
    except OSError as exc:
        raise UnreadableError(f"cannot read {sample}: {exc.strerror or exc}") from None
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    return leaf_hash(data)


def sha256_file(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.digest()
