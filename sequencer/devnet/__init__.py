"""`attest devnet` (the whole system on one machine) and the child-process runners that tests,
benchmarks and the devnet use to start `attest serve`, `attest validate` and `attest devnet`."""
