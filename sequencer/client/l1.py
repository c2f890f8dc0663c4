"""L1 reads without web3: the fixed read interface of docs/spec.md §7.1 over raw `eth_call`.

A light client needs three views and the chain id; ABI-encoding them by hand is a few lines
(every argument and result is a static word), and it keeps web3, py-evm and their ~100 MB out
of a client install. The selectors are the ones §7.1 lists; `tests/sequencer/client` checks
them against keccak256 of the signatures and, on a devnet, against web3's answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from prover.checkpoint import CheckpointStatus
from prover.errors import L1Error, L1MismatchError, NotFinalError
from prover.hashing import keccak256
from prover.light_client import L1Checkpoint
from prover.types import Hash32
from prover.wire import hex0x, parse_address, parse_hex, parse_uint
from sequencer.client.errors import RejectedError, UnreachableError
from sequencer.client.transport import SyncTransport


def selector(signature: str) -> bytes:
    """The 4-byte function selector: the first bytes of keccak256 of the signature."""
    return keccak256(signature.encode())[:4]


CHECKPOINT_COUNT: Final[bytes] = selector("checkpointCount()")
CHECKPOINTS: Final[bytes] = selector("checkpoints(uint256)")
LATEST_FINALIZED: Final[bytes] = selector("latestFinalized()")
SEQUENCER: Final[bytes] = selector("sequencer()")
NO_CHECKPOINT: Final[int] = 2**256 - 1
"""`latestFinalized()` while no checkpoint is final."""

DEV_CHAIN_IDS: Final[frozenset[int]] = frozenset({31337, 1337})
"""Chain ids of development nodes (the devnet, anvil, Hardhat, Ganache): no consensus, no
reorganisations, no `safe` or `finalized` block — their blocks are final at once."""
BLOCK_TAGS: Final[tuple[str, ...]] = ("latest", "safe", "finalized")


def parse_l1_block(value: str) -> str | int:
    """`--l1-block`: ``auto``, a tag (``latest``, ``safe``, ``finalized``) or a confirmation
    depth N >= 0 (read L1 as of N blocks below its head). ValueError names what was wrong."""
    if value in ("auto", *BLOCK_TAGS):
        return value
    try:
        depth = int(value, 10)
    except ValueError:
        raise ValueError(
            f"must be auto, latest, safe, finalized or a number of confirmations, got {value!r}"
        ) from None
    if depth < 0:
        raise ValueError(f"confirmations must be >= 0, got {depth}")
    return depth


def default_l1_block(chain_id: int) -> str:
    """What ``auto`` means: ``finalized`` on a public chain (a reorganisation cannot take back
    what the light client verified), ``latest`` on a development chain (which has no
    finalized block: anvil answers block 0, the embedded devnet none)."""
    return "latest" if chain_id in DEV_CHAIN_IDS else "finalized"


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which L1 checkpoint covers a seq, as `L1Reader.covering` finds it."""

    checkpoint: L1Checkpoint
    final: bool


class L1Reader:
    """One rollup contract on one L1 endpoint, read-only; failures are `L1Error`."""

    def __init__(
        self,
        url: str,
        contract: bytes | str,
        *,
        timeout: float = 10.0,
        block: str | int = "latest",
    ) -> None:
        self.url = url
        self.contract = (
            contract if isinstance(contract, bytes) else parse_address(contract, "contract")
        )
        self._rpc = SyncTransport(url, timeout=timeout, retries=2)
        self._chain_id: int | None = None
        self.block = block
        """Which L1 state to read: a tag, ``auto`` (`default_l1_block`) or a confirmation
        depth; resolved once to a block number (`pinned`) so every read sees one state."""
        self._pinned: str | None = None

    @property
    def pinned(self) -> str:
        """The block every read is made at: ``latest``, or a block number (hex) resolved
        once from the tag or confirmation depth."""
        if self._pinned is None:
            block = self.block
            if block == "auto":
                block = default_l1_block(self.chain_id)
            if block == "latest" or block == 0:
                self._pinned = "latest"
            else:
                tag = block if isinstance(block, str) else "latest"
                head = self._raw("eth_getBlockByNumber", tag, False)
                if not isinstance(head, dict) or head.get("number") is None:
                    raise L1Error(
                        f"L1 {self.url}: the node has no {tag!r} block (a development chain "
                        "has none: read 'latest')"
                    )
                number = parse_uint(head["number"], f"{tag} block number", maximum=2**64)
                depth = block if isinstance(block, int) else 0
                if depth > number:
                    raise L1Error(
                        f"L1 {self.url}: only {number + 1} blocks, {depth} confirmations asked"
                    )
                self._pinned = hex(number - depth)
        return self._pinned

    def close(self) -> None:
        self._rpc.close()

    def _raw(self, method: str, *params: Any) -> Any:
        try:
            return self._rpc.call(method, *params)
        except (UnreachableError, RejectedError) as exc:
            raise L1Error(f"L1 {self.url}: {exc}") from None

    def _call(self, data: bytes, words: int) -> list[int]:
        answer = self._raw(
            "eth_call", {"to": hex0x(self.contract), "data": hex0x(data)}, self.pinned
        )
        try:
            raw = parse_hex(answer, "eth_call")
        except Exception as exc:
            raise L1Error(f"L1 {self.url}: eth_call answered {answer!r:.100}: {exc}") from None
        if len(raw) < 32 * words:
            raise L1Error(
                f"L1 {self.url}: no rollup contract at {hex0x(self.contract)} "
                f"(eth_call answered {len(raw)} bytes)"
            )
        return [int.from_bytes(raw[32 * i : 32 * i + 32], "big") for i in range(words)]

    @property
    def chain_id(self) -> int:
        """`eth_chainId` of the node (read once)."""
        if self._chain_id is None:
            try:
                self._chain_id = parse_uint(
                    self._raw("eth_chainId"), "eth_chainId", maximum=2**256 - 1
                )
            except L1Error:
                raise
            except Exception as exc:
                raise L1Error(f"L1 {self.url}: bad eth_chainId answer: {exc}") from None
        return self._chain_id

    def count(self) -> int:
        """`checkpointCount()`."""
        return self._call(CHECKPOINT_COUNT, 1)[0]

    def latest_finalized(self) -> int | None:
        """`latestFinalized()`; None while no checkpoint is final."""
        index = self._call(LATEST_FINALIZED, 1)[0]
        return None if index == NO_CHECKPOINT else index

    def sequencer(self) -> bytes:
        """`sequencer()`: the address receipts must recover to (docs/spec.md §5)."""
        return self._call(SEQUENCER, 1)[0].to_bytes(32, "big")[12:]

    def checkpoint(self, index: int) -> L1Checkpoint:
        """`checkpoints(index)`, its status as L1 computes it at the latest block."""
        size, root, committed_at, challenge_ends, status = self._call(
            CHECKPOINTS + index.to_bytes(32, "big"), 5
        )
        return L1Checkpoint(
            self.chain_id,
            self.contract,
            index,
            size,
            Hash32(root.to_bytes(32, "big")),
            committed_at,
            challenge_ends,
            status,
        )

    def choose(self, seq: int, *, allow_pending: bool) -> L1Checkpoint:
        """The checkpoint to verify `seq` against, chosen from L1 (docs/spec.md §11 step 1).

        Raises `NotFinalError` when none covers it yet, `L1MismatchError` when the ones that
        covered it were reverted.
        """
        final = self.latest_finalized()
        final_cp = self.checkpoint(final) if final is not None else None
        if final_cp is not None and final_cp.size > seq:
            return final_cp
        covered = final_cp.size if final_cp is not None else 0
        count = self.count()
        latest = self.checkpoint(count - 1) if count else None
        if latest is not None and latest.size > seq:
            if latest.status == CheckpointStatus.PENDING and allow_pending:
                return latest
            if latest.status == CheckpointStatus.REVERTED:
                raise L1MismatchError(
                    f"the checkpoint(s) covering seq {seq} were reverted on L1 (checkpoint "
                    f"{latest.index}); live checkpoints cover {covered} records"
                )
            if latest.status == CheckpointStatus.PENDING:
                raise NotFinalError(
                    f"seq {seq} is covered only by pending checkpoint {latest.index} until its "
                    f"challenge window ends at {latest.challenge_ends}"
                )
        raise NotFinalError(
            f"no checkpoint covers seq {seq} yet (final checkpoints cover {covered} records)"
        )
