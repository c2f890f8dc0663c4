"""The light client's I/O (`attest verify`, `attest proof export`): fetch a proof from any
upstream, read the checkpoint from L1 itself, keep trusted state; the checks themselves are
pure and live in `prover.light_client`."""
