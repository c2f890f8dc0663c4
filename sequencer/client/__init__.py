"""The attest-rollup client library (docs/client.md): sign, submit, batch, verify, check.

Needs only the core install (`pip install attest-rollup`): orjson, rfc8785, safe-pysha3,
coincurve, httpx and anyio — no web3, py-evm, vyper, plyvel or trio (tests/test_layering.py
holds that, for imports anywhere in this package).
"""

from sequencer.client.aio import AsyncBatcher, AsyncClient
from sequencer.client.batcher import Batcher, BatcherClosedError, BatcherStats
from sequencer.client.errors import (
    ReceiptInvalidError,
    RejectedError,
    RevokedError,
    SupersededError,
    UnreachableError,
    WrongSignerError,
)
from sequencer.client.l1 import L1Reader
from sequencer.client.receipts import Accepted
from sequencer.client.results import (
    CandidateVerdict,
    CheckResult,
    EventInfo,
    Outcome,
    Status,
    Verification,
)
from sequencer.client.signing import (
    AccountSigner,
    Event,
    EventSigner,
    KeySigner,
    NonceSource,
    key_file_signer,
    keystore_signer,
    sign_event,
    subject_of,
)
from sequencer.client.sync import Client

__all__ = [
    "Accepted",
    "AccountSigner",
    "AsyncBatcher",
    "AsyncClient",
    "Batcher",
    "BatcherClosedError",
    "BatcherStats",
    "CandidateVerdict",
    "CheckResult",
    "Client",
    "Event",
    "EventInfo",
    "EventSigner",
    "KeySigner",
    "L1Reader",
    "NonceSource",
    "Outcome",
    "ReceiptInvalidError",
    "RejectedError",
    "RevokedError",
    "Status",
    "SupersededError",
    "UnreachableError",
    "Verification",
    "WrongSignerError",
    "key_file_signer",
    "keystore_signer",
    "sign_event",
    "subject_of",
]
