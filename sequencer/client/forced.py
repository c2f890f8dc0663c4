"""Forced inclusion from the client side (docs/spec.md §7.3): post an event to the rollup's
L1 inbox, then wait until the sequencer has logged it and L1 has checked the inclusion.

No web3 and no eth-account (the client install has neither): the call is one static ABI
encoding (`postForced(bytes32,bytes32,bytes32,bytes32)`), put in an EIP-1559 transaction
encoded here (RLP, EIP-2718 type 2) and signed with the client's own secp256k1 signer
(`prover.eip712.sign_digest`), then sent over `SyncTransport` like the client's L1 reads. What comes back is verified, not
trusted: the `ForcedPosted` log of the receipt gives the inbox index and post time, and the
final answer carries the forced record with its inclusion proof against the L1 checkpoint in
which the contract itself checked it (so `Client.verify` on it needs nothing else).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from prover.errors import InvalidFieldError, L1Error, NotIncludedError
from prover.forced import ENTRY_WORDS, ForcedEntry
from prover.hashing import keccak256
from prover.jsonrpc import NOT_FOUND
from prover.record import compute_meta_hash, record_seq
from prover.wire import hex0x, parse_hex, parse_uint
from sequencer.client.errors import RejectedError
from sequencer.client.l1 import L1Reader, selector
from sequencer.client.signing import KeySigner
from sequencer.client.sync import Client

POST_FORCED: Final[bytes] = selector("postForced(bytes32,bytes32,bytes32,bytes32)")
FORCED_FEE: Final[bytes] = selector("forcedFee()")
FORCE_WINDOW: Final[bytes] = selector("forceInclusionWindow()")
FORCED_POSTED_TOPIC: Final[bytes] = keccak256(
    b"ForcedPosted(uint256,address,bytes32,bytes32,bytes32,bytes32,uint64,bytes32)"
)
POST_GAS: Final[int] = 250_000
"""Gas limit of a post (about 138k for the first entry, 104k after; docs/benchmarks.md)."""


@dataclass(frozen=True, slots=True)
class ForcedPost:
    """A forced event on L1: its inbox entry, the transaction, and its inclusion deadline."""

    entry: ForcedEntry
    tx_hash: str
    deadline: int
    """postedAt + forceInclusionWindow (L1 seconds): after it, no commit leaves it out."""


@dataclass(frozen=True, slots=True)
class ForcedIncluded:
    """A forced event in the log: where, and its proof against the checkpoint that checked it."""

    post: ForcedPost
    seq: int
    checkpoint: int
    """The L1 checkpoint whose commit proved the inclusion (docs/spec.md §7.3)."""
    proof: dict[str, Any]
    """`attest_getProof(seq, {"checkpoint": checkpoint})`: record, leafHash, root, proof."""


def post_forced(
    l1_rpc: str,
    contract: str | bytes,
    key: bytes | KeySigner,
    kind: bytes,
    subject: bytes,
    digest: bytes,
    meta: object | None = None,
    *,
    timeout: float = 60.0,
) -> ForcedPost:
    """Post (kind, subject, digest, H(JCS(meta))) to the inbox from `key`'s account, paying
    twice the current `forcedFee()` (the fee follows basefee); wait for the receipt."""
    for name, value in (("kind", kind), ("subject", subject), ("digest", digest)):
        if len(value) != 32:
            raise InvalidFieldError(name, f"must be 32 bytes, got {len(value)}")
    meta_hash = compute_meta_hash(meta)
    l1 = L1Reader(l1_rpc, contract, timeout=min(timeout, 30.0))
    try:
        signer = key if isinstance(key, KeySigner) else KeySigner(key)
        sender = hex0x(signer.address)
        fee = l1._call(FORCED_FEE, 1)[0]
        window = l1._call(FORCE_WINDOW, 1)[0]
        block = l1._raw("eth_getBlockByNumber", "latest", False)
        basefee = parse_uint(block.get("baseFeePerGas", "0x0"), "baseFeePerGas")
        tip = 10**9
        nonce = parse_uint(l1._raw("eth_getTransactionCount", sender, "pending"), "nonce")
        raw = sign_eip1559(
            signer,
            chain_id=l1.chain_id,
            nonce=nonce,
            max_priority_fee=tip,
            max_fee=2 * basefee + tip,
            gas=POST_GAS,
            to=l1.contract,
            value=2 * fee,
            data=POST_FORCED + kind + subject + digest + meta_hash,
        )
        tx_hash = l1._raw("eth_sendRawTransaction", hex0x(raw))
        receipt = _wait_receipt(l1, str(tx_hash), timeout)
        if parse_uint(receipt["status"], "status") != 1:
            raise L1Error(f"postForced reverted on L1 (transaction {tx_hash})")
        for log in receipt["logs"]:
            topics = [parse_hex(t, "topic") for t in log["topics"]]
            if topics and topics[0] == FORCED_POSTED_TOPIC:
                data = parse_hex(log["data"], "data")
                words = [data[32 * i : 32 * i + 32] for i in range(6)]
                entry = ForcedEntry(
                    index=int.from_bytes(topics[1], "big"),
                    poster=topics[2][12:],
                    kind=words[0],
                    subject=words[1],
                    digest=words[2],
                    meta_hash=words[3],
                    posted_at=int.from_bytes(words[4], "big"),
                )
                return ForcedPost(entry, str(tx_hash), entry.posted_at + window)
        raise L1Error(f"postForced mined without a ForcedPosted event (transaction {tx_hash})")
    finally:
        l1.close()


def wait_forced_included(
    client: Client, post: ForcedPost, *, timeout: float = 120.0, poll: float = 0.5
) -> ForcedIncluded:
    """Wait until the sequencer reports the entry in its log *and* L1 recorded the commit that
    proved it; then check the record it serves is the entry's forced record (v = 1, words
    2..10 from the inbox) and return it with its proof against that checkpoint."""
    j = post.entry.index
    end = time.monotonic() + timeout
    while True:
        try:
            answer: dict[str, Any] | None = client.rpc.call("attest_getForced", j)
        except RejectedError as exc:
            if exc.code != NOT_FOUND:
                raise
            answer = None
        proven = answer.get("provenAt") if answer else None
        proof: dict[str, Any] | None = None
        if answer is not None and answer.get("seq") is not None and proven:
            seq, checkpoint = int(proven["seq"]), int(proven["checkpoint"])
            try:
                proof = client.get_proof(seq, checkpoint)
            except NotIncludedError:
                proof = None  # the sequencer has not recorded that checkpoint yet
        if proof is not None and proven:
            seq, checkpoint = int(proven["seq"]), int(proven["checkpoint"])
            record = parse_hex(proof["record"], "record")
            expected = post.entry.template()
            # Verify the served record is this entry's forced record at that seq.
            if record[ENTRY_WORDS] != expected[ENTRY_WORDS] or record_seq(record) != seq:
                raise L1Error(
                    f"the sequencer serves another record at seq {seq} than forced event {j}"
                )
            return ForcedIncluded(post, seq, checkpoint, proof)
        if time.monotonic() > end:
            state = answer.get("status") if answer else "not seen by the sequencer"
            raise NotIncludedError(
                f"forced event {j} not included after {timeout:.0f} s (status: {state}; deadline "
                f"{post.deadline} on L1)"
            )
        time.sleep(poll)


def force(
    client: Client,
    *post: Any,
    timeout: float = 300.0,
    on_posted: Callable[[ForcedPost], None] | None = None,
) -> ForcedIncluded:
    """`attest force` as one call: `post_forced(*post)` (l1_rpc, contract, key, kind, subject,
    digest[, meta]), then `wait_forced_included` (at most `timeout` s); `on_posted` hears of
    the post (its inbox index and deadline) in between."""
    sent = post_forced(*post)
    if on_posted is not None:
        on_posted(sent)
    return wait_forced_included(client, sent, timeout=timeout)


def _wait_receipt(l1: L1Reader, tx_hash: str, timeout: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        receipt = l1._raw("eth_getTransactionReceipt", tx_hash)
        if receipt:
            found: dict[str, Any] = receipt
            return found
        if time.monotonic() > end:
            raise L1Error(f"transaction {tx_hash} not mined after {timeout:.0f} s")
        time.sleep(0.25)


# --- EIP-1559 transactions, by hand ----------------------------------------------------------


def _rlp(item: bytes | int | list[Any]) -> bytes:
    """RLP (Ethereum yellow paper, appendix B) of bytes, a non-negative int, or a list."""
    if isinstance(item, list):
        body = b"".join(_rlp(x) for x in item)
        return _rlp_length(len(body), 0xC0) + body
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big") if item else b""
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _rlp_length(len(item), 0x80) + item


def _rlp_length(n: int, offset: int) -> bytes:
    if n < 56:
        return bytes([offset + n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def sign_eip1559(
    key: bytes | KeySigner,
    *,
    chain_id: int,
    nonce: int,
    max_priority_fee: int,
    max_fee: int,
    gas: int,
    to: bytes,
    value: int,
    data: bytes,
) -> bytes:
    """The signed raw EIP-1559 (EIP-2718 type 2) transaction, ready for eth_sendRawTransaction."""
    fields: list[Any] = [chain_id, nonce, max_priority_fee, max_fee, gas, to, value, data, []]
    signer = key if isinstance(key, KeySigner) else KeySigner(key)
    v, r, s = signer.sign_digest(keccak256(b"\x02" + _rlp(fields)))
    y_parity = v - 27
    signed = [*fields, y_parity, int.from_bytes(r, "big"), int.from_bytes(s, "big")]
    return b"\x02" + _rlp(signed)
