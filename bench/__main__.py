"""`python -m bench [--quick] [--json FILE] [--plot DIR]`: the suite, as `attest bench` runs it."""

from __future__ import annotations

import sys

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
