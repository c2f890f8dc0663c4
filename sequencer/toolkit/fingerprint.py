"""Model fingerprints: a manifest of per-file SHA-256 digests, in the shape of the OpenSSF
model-signing (sigstore/model-transparency) v1.0 payload, and its root digest.

The manifest is an in-toto Statement v1 as model-signing writes it, without the DSSE/Sigstore
envelope around it (the log is the signature here):

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": <model name>, "digest": {"sha256": <root>}}],
     "predicateType": "https://model_signing/signature/v1.0",
     "predicate": {"serialization": {"method": "files", "hash_type": "sha256",
                                     "allow_symlinks": false, "ignore_paths": [...]},
                   "resources": [{"name": "dir/file", "algorithm": "sha256", "digest": <hex>}, ...]}}

`resources` are sorted by name (POSIX relative path); the root is SHA-256 over the
concatenated 32-byte file digests in that order, so the root a model-signing verifier
recomputes from the resources is ours. Where we differ (docs/client.md, "Model fingerprints"):
no envelope or signature (the attestation is the log record); symlinks are refused rather than
followed; a single-file model is one resource named by its file name; the manifest is not the
attested digest — the root is, and the manifest file is what lets anyone re-derive it.

Files are streamed in 1 MiB reads into a reused buffer (`readinto`), so memory stays flat
for any model size and hashing runs at OpenSSL's speed (docs/benchmarks.md: against sha256sum).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from prover.errors import InvalidInputError
from prover.wire import parse_hex

STATEMENT_TYPE: Final[str] = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final[str] = "https://model_signing/signature/v1.0"
IGNORE_PATHS: Final[tuple[str, ...]] = (".git", ".gitattributes", ".github", ".gitignore")
"""Ignored at any depth, as model-signing ignores them by default."""
CHUNK: Final[int] = 1 << 20


class UnreadableError(InvalidInputError):
    """A path that cannot be opened or read."""


class MalformedManifestError(InvalidInputError):
    """A manifest file that is not the shape above, or whose root does not match."""


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    """POSIX path relative to the model root (the file name for a one-file model)."""
    digest: bytes
    """SHA-256 of the file's bytes."""
    size: int


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A model's manifest and its root digest."""

    name: str
    resources: tuple[Resource, ...]
    root: bytes
    """SHA-256 over the resources' digests in name order: the digest that gets attested."""

    @property
    def total_bytes(self) -> int:
        return sum(r.size for r in self.resources)

    def manifest(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.name, "digest": {"sha256": self.root.hex()}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "serialization": {
                    "method": "files",
                    "hash_type": "sha256",
                    "allow_symlinks": False,
                    "ignore_paths": list(IGNORE_PATHS),
                },
                "resources": [
                    {"name": r.name, "algorithm": "sha256", "digest": r.digest.hex()}
                    for r in self.resources
                ],
            },
        }


def hash_file(path: Path, progress: Callable[[int], None] | None = None) -> tuple[bytes, int]:
    """(SHA-256, size) of a file, streamed through one reused 1 MiB buffer."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
                size += n
                if progress is not None:
                    progress(n)
    except OSError as exc:
        raise UnreadableError(f"cannot read {path}: {exc.strerror or exc}") from None
    return h.digest(), size


def _walk(root: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise UnreadableError(f"cannot list {root}: {exc.strerror or exc}") from None
    for e in entries:
        if e.name in IGNORE_PATHS:
            continue
        p = Path(e.path)
        if e.is_symlink():
            raise InvalidInputError(
                f"{p} is a symbolic link; model fingerprints do not follow links"
            )
        if e.is_dir():
            yield from _walk(p)
        elif e.is_file():
            yield p


def fingerprint(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Fingerprint:
    """Fingerprint a model file or directory (see the module docstring)."""
    root = Path(path)
    if root.is_symlink():
        raise InvalidInputError(
            f"{root} is a symbolic link; model fingerprints do not follow links"
        )
    if not root.exists():
        raise UnreadableError(f"{root}: no such file or directory")
    if root.is_dir():
        files = [(p.relative_to(root).as_posix(), p) for p in _walk(root)]
        if not files:
            raise InvalidInputError(f"{root} holds no files to fingerprint")
    else:
        files = [(root.name, root)]
    files.sort(key=lambda x: x[0])
    resources = []
    for rel, p in files:
        digest, size = hash_file(p, progress)
        resources.append(Resource(rel, digest, size))
    return Fingerprint(name or root.resolve().name, tuple(resources), compute_root(resources))


def compute_root(resources: list[Resource] | tuple[Resource, ...]) -> bytes:
    h = hashlib.sha256()
    for r in resources:
        h.update(r.digest)
    return h.digest()


def _sha256_hex(value: Any, what: str) -> bytes:
    """A manifest's SHA-256 hex (written without 0x), through the one hex parser."""
    if not isinstance(value, str):
        raise MalformedManifestError(f"malformed manifest: {what} is not a hex string")
    try:
        return parse_hex("0x" + value.lower(), what, size=32)
    except InvalidInputError as exc:
        raise MalformedManifestError(f"malformed manifest: {exc}") from None


def parse_manifest(obj: Any) -> Fingerprint:
    """A manifest file's JSON as a `Fingerprint`, its root recomputed and compared."""
    try:
        if obj.get("_type") != STATEMENT_TYPE or obj.get("predicateType") != PREDICATE_TYPE:
            raise MalformedManifestError(
                "not an in-toto statement of a model-signing v1.0 manifest"
            )
        (subject,) = obj["subject"]
        name = subject["name"]
        root = _sha256_hex(subject["digest"]["sha256"], "subject digest")
        resources = tuple(
            Resource(r["name"], _sha256_hex(r["digest"], f"digest of {r['name']}"), 0)
            for r in obj["predicate"]["resources"]
            if r["algorithm"] == "sha256"
        )
        if len(resources) != len(obj["predicate"]["resources"]):
            raise MalformedManifestError("only sha256 resources are supported")
    except MalformedManifestError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedManifestError(f"malformed manifest: {type(exc).__name__}: {exc}") from None
    if len(root) != 32 or any(len(r.digest) != 32 for r in resources):
        raise MalformedManifestError("malformed manifest: digests must be 32 bytes of hex")
    if [r.name for r in resources] != sorted(r.name for r in resources):
        raise MalformedManifestError("malformed manifest: resources are not sorted by name")
    if compute_root(resources) != root:
        raise MalformedManifestError(
            "malformed manifest: the resources do not hash to the subject's digest"
        )
    return Fingerprint(name, resources, root)
