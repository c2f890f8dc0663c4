"""The explorer: pages at ``GET /`` served by `attest serve` and `attest validate` from assets
shipped in this package, and the read methods they need (docs/explorer.md)."""
