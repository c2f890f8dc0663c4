"""The dataset level of a two-level proof bundle (docs/spec.md §11.1): a sample's place in a
dataset's RFC 9162 tree whose root a `dataset_hash` record attests.

Pure: it checks data already in hand. The log level (record → checkpoint → L1) is
`prover.light_client`'s; this adds, for a bundle carrying a ``dataset`` member:

1. the record's kind is ``dataset_hash`` and its digest is the dataset root;
2. the sample's leaf hash ``H(0x00 || sample)`` (when the sample bytes are included) equals
   the bundle's `leafHash`;
3. `verify_inclusion(leafHash, index, size, proof, root)` in the dataset tree (§2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from prover.errors import InclusionProofError, InvalidFieldError, ProofInvalidError
from prover.hashing import leaf_hash
from prover.record import KIND_DATASET_HASH, record_digest, record_kind
from prover.tree import verify_inclusion
from prover.types import MAX_TREE_SIZE, Hash32
from prover.wire import hex0x, parse_hash32, parse_hashes, parse_hex, parse_uint

DATASET_PROOF_FORMAT: Final[str] = "attest-dataset-proof/1"


class DatasetProofError(ProofInvalidError):
    """The dataset level of a bundle does not check out (tampered or wrong dataset)."""


@dataclass(frozen=True, slots=True)
class DatasetProof:
    """A sample's inclusion in a dataset tree."""

    name: str
    root: Hash32
    size: int
    index: int
    leaf_hash: Hash32
    proof: tuple[Hash32, ...]
    sample: bytes | None = None
    """The sample's bytes, when the bundle carries them."""
    sample_name: str | None = None
    """A file sample's relative path, for people; not checked."""


def encode_dataset_proof(p: DatasetProof) -> dict[str, Any]:
    return {
        "format": DATASET_PROOF_FORMAT,
        "name": p.name,
        "root": hex0x(p.root),
        "size": p.size,
        "index": p.index,
        "leafHash": hex0x(p.leaf_hash),
        "proof": [hex0x(h) for h in p.proof],
        "sample": None if p.sample is None else hex0x(p.sample),
        "sampleName": p.sample_name,
    }


def decode_dataset_proof(obj: Any) -> DatasetProof:
    """Parse the ``dataset`` member of a bundle; `InvalidFieldError` naming what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidFieldError("dataset", "must be an object")
    if obj.get("format") != DATASET_PROOF_FORMAT:
        raise InvalidFieldError("dataset.format", f"must be {DATASET_PROOF_FORMAT!r}")
    name = obj.get("name")
    sample_name = obj.get("sampleName")
    if not isinstance(name, str) or not (sample_name is None or isinstance(sample_name, str)):
        raise InvalidFieldError("dataset.name", "must be a string")
    sample = obj.get("sample")
    return DatasetProof(
        name=name,
        root=parse_hash32(obj.get("root"), "dataset.root"),
        size=parse_uint(obj.get("size"), "dataset.size", maximum=MAX_TREE_SIZE),
        index=parse_uint(obj.get("index"), "dataset.index", maximum=MAX_TREE_SIZE),
        leaf_hash=parse_hash32(obj.get("leafHash"), "dataset.leafHash"),
        proof=parse_hashes(obj.get("proof"), "dataset.proof"),
        sample=None if sample is None else parse_hex(sample, "dataset.sample"),
        sample_name=sample_name,
    )


def verify_dataset_proof(p: DatasetProof, record: bytes) -> None:
    """Steps 1-3 of the module docstring; raises `DatasetProofError`."""
    # Verify the log record attests this dataset root.
    if record_kind(record) != KIND_DATASET_HASH:
        raise DatasetProofError("the bundle's record is not a dataset_hash attestation")
    if record_digest(record) != p.root:
        raise DatasetProofError(
            f"the record attests dataset root {hex0x(record_digest(record))}, the bundle's "
            f"dataset level has {hex0x(p.root)}"
        )
    # Verify the sample bytes, when given, are the leaf.
    if p.sample is not None and leaf_hash(p.sample) != p.leaf_hash:
        raise DatasetProofError("the sample does not hash to the bundle's dataset leafHash")
    try:
        verify_inclusion(p.leaf_hash, p.index, p.size, p.proof, p.root)
    except InclusionProofError as exc:
        raise DatasetProofError(
            f"the sample's inclusion proof in the dataset does not verify: {exc}"
        ) from None
