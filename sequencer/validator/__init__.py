"""The validator (docs/spec.md (overview), §5): a follower that replicates the log, re-checks every record,
watches L1 and proves what is wrong. The pure rules live in `prover.validity`; this package is
the I/O around them (see docs/validator.md)."""
