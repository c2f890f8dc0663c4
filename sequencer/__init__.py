"""The trio JSON-RPC service: ingest, auth, group commit, blocks, receipts, the L1 committer."""

import prover as _prover  # noqa: F401  (selects the keccak backend before eth libraries load)
