#pragma version 0.4.3
"""
@title Naive per-event attestation registry
@license Apache-2.0
@notice Baseline for bench/bench_gas.py: one storage write and one event per attestation,
        the way a registry without a rollup (e.g. EAS) records events. Not used in production.
"""

struct Attestation:
    kind: bytes32
    subject: bytes32
    attester: address
    timestamp: uint64

event Attested:
    digest: indexed(bytes32)
    kind: indexed(bytes32)
    subject: indexed(bytes32)
    attester: address

attestations: public(HashMap[bytes32, Attestation])
count: public(uint256)


@external
def attest(kind: bytes32, subject: bytes32, digest: bytes32):
    """
    @notice Record one attestation of `digest` by msg.sender.
    @param kind Event kind.
    @param subject What the event is about.
    @param digest The content hash attested; each digest can be attested once.
    """
    assert self.attestations[digest].attester == empty(address), "registry: digest already attested"
    self.attestations[digest] = Attestation(
        kind=kind, subject=subject, attester=msg.sender, timestamp=convert(block.timestamp, uint64)
    )
    self.count += 1
    log Attested(digest=digest, kind=kind, subject=subject, attester=msg.sender)
