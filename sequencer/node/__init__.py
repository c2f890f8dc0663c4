"""The sequencer process (`attest serve`): ingest checks, the writer's group commit, block
sealing, receipts, fault injection for demonstrations, metrics, and the service that wires
them to the JSON-RPC transport and the L1 committer."""
