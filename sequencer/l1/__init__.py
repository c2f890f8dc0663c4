"""Everything that talks to the L1 rollup contract from a service: one signing account with a
provider seam, the retry/backoff round loop, the sequencer's committer and DA responder, and
`attest l1 deploy`."""
