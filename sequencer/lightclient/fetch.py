"""What the light client fetches: an event and its proofs from any sequencer or follower
over JSON-RPC, and checkpoint rows from L1 itself over web3. Blocking; nothing is trusted.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Any

from prover.checkpoint import CheckpointStatus
from prover.errors import (
    AttestError,
    InvalidFieldError,
    L1MismatchError,
    NotFinalError,
    NotIncludedError,
    ProofInvalidError,
)
from prover.jsonrpc import NOT_FOUND as NOT_FOUND_CODE
from prover.jsonrpc import JsonRpcError
from prover.light_client import (
    CheckpointRef,
    L1Checkpoint,
    ProofBundle,
    bundle_from_proof_json,
)
from prover.types import Hash32
from prover.wire import parse_address, parse_hash32
from sequencer.client.l1 import L1Reader as RawL1Reader
from sequencer.rpc.client import RpcClient, TransportError


class UnreachableError(AttestError):
    """The sequencer or L1 did not give what was needed (down, or refused to answer)."""


class L1Reader:
    """The checkpoints of one rollup contract as L1 itself answers them (docs/spec.md §7),
    typed for `prover.light_client`."""

    def __init__(
        self, url: str, contract: bytes, *, timeout: float = 10.0, block: str | int = "latest"
    ) -> None:
        # Raw eth_call (sequencer.client.l1), not web3: `attest verify` runs on the client
        # install, without web3 and py-evm (docs/client.md, "Installing").
        self.url = url
        self.contract = contract
        self._rollup = RawL1Reader(url, contract, timeout=timeout, block=block)
        self.chain_id: int = self._rollup.chain_id

    def checkpoint(self, index: int) -> L1Checkpoint:
        """`checkpoints(index)` as L1 itself answers it."""
        return self._rollup.checkpoint(index)

    def count(self) -> int:
        return self._rollup.count()

    def latest_finalized(self) -> int | None:
        return self._rollup.latest_finalized()

    def choose(self, seq: int, *, allow_pending: bool) -> L1Checkpoint:
        """The checkpoint to verify `seq` against, chosen from L1, not from the server.

        The latest final checkpoint when it covers `seq`; else, with `allow_pending`, the
        latest checkpoint when it is pending and covers `seq`. Raises `NotFinalError` when no
        such checkpoint exists yet.
        """
        final = self.latest_finalized()
        final_cp = self.checkpoint(final) if final is not None else None
        if final_cp is not None and final_cp.size > seq:
            return final_cp
        covered = final_cp.size if final_cp is not None else 0
        count = self.count()
        if allow_pending and count:
            latest = self.checkpoint(count - 1)
            if latest.status == CheckpointStatus.PENDING and latest.size > seq:
                return latest
        if count:
            latest = self.checkpoint(count - 1)
            if latest.status == CheckpointStatus.REVERTED and latest.size > seq:
                # Reverts cascade to every later checkpoint, so no live one covers seq: a fraud
                # was proven against the checkpoints that did.
                raise L1MismatchError(
                    f"the checkpoint(s) covering seq {seq} were reverted on L1 (checkpoint "
                    f"{latest.index} has status reverted); live checkpoints cover {covered} records"
                )
        pending = ""
        if not allow_pending and count:
            latest = self.checkpoint(count - 1)
            if latest.status == CheckpointStatus.PENDING and latest.size > seq:
                pending = (
                    f"; pending checkpoint {latest.index} covers it until its challenge window "
                    f"ends at {latest.challenge_ends} (--allow-pending accepts it)"
                )
        raise NotFinalError(
            f"no final checkpoint covers seq {seq} yet (final checkpoints cover {covered} "
            f"records){pending}"
        )


def rpc_call(client: RpcClient, method: str, *params: Any) -> Any:
    try:
        return client.call(method, *params)
    except (TransportError, OSError) as exc:  # OSError: RpcClient's connect() is unwrapped
        raise UnreachableError(f"sequencer at {client.url} is unreachable: {exc}") from None


def fetch_event(client: RpcClient, seq: int) -> dict[str, Any]:
    """`attest_getEvent(seq)`; raises `NotIncludedError` when the server has no such seq."""
    try:
        event = rpc_call(client, "attest_getEvent", seq)
    except JsonRpcError as exc:
        if exc.code == NOT_FOUND_CODE:
            raise NotIncludedError(f"seq {seq} is not in the log: {exc.message}") from None
        raise
    if not isinstance(event, dict):
        raise UnreachableError(f"attest_getEvent answered {event!r:.200}")
    return event


def fetch_bundle(
    client: RpcClient, seq: int, checkpoint: CheckpointRef | None, l1: L1Reader | None
) -> ProofBundle:
    """The record and proofs of `seq` anchored to `checkpoint` (its index as L1 names it).

    Asks ``attest_getProof(seq, {"checkpoint": index})`` first. A server without a record of
    its L1 checkpoints (-32004) is asked for the proof at its current tree size and a
    consistency proof from the checkpoint's size to it instead: the same evidence in two
    pieces. With `checkpoint` None, the proof is against the server's current tree only.

    Nothing the server says about the checkpoint is kept but the size and root its proof is
    against: the bundle names L1's index with the *served* size and root, which step 4 of
    `prover.light_client` then compares with L1's row. Raises `NotIncludedError` for a seq
    the server does not have, `ProofInvalidError` for a malformed answer.
    """
    meta = fetch_event(client, seq).get("meta")
    chain_id = l1.chain_id if l1 is not None else None
    contract = l1.contract if l1 is not None else None
    try:
        if checkpoint is not None:
            try:
                answer = rpc_call(client, "attest_getProof", seq, {"checkpoint": checkpoint.index})
            except JsonRpcError as exc:
                if exc.code != NOT_FOUND_CODE:
                    raise
            else:
                served = bundle_from_proof_json(
                    {**answer, "checkpoint": None}, meta=meta, chain_id=chain_id, contract=contract
                )
                anchor = CheckpointRef(checkpoint.index, served.tree_size, served.root)
                return replace(served, checkpoint=anchor)
        answer = rpc_call(client, "attest_getProof", seq)
        served = bundle_from_proof_json(
            {**answer, "checkpoint": None}, meta=meta, chain_id=chain_id, contract=contract
        )
        if checkpoint is None:
            return served
        if served.tree_size < checkpoint.size:
            raise UnreachableError(
                f"the server's tree (size {served.tree_size}) is behind checkpoint "
                f"{checkpoint.index} (size {checkpoint.size}): ask another sequencer or follower"
            )
        anchor_json = rpc_call(
            client, "attest_getConsistencyProof", checkpoint.size, served.tree_size
        )
        if not isinstance(anchor_json, dict):
            raise InvalidFieldError("attest_getConsistencyProof", "answer is not an object")
        first_root = parse_hash32(anchor_json.get("firstRoot"), "firstRoot")
        return replace(
            served,
            checkpoint=CheckpointRef(checkpoint.index, checkpoint.size, first_root),
            anchor_proof=tuple(
                _parse_proof(anchor_json.get("proof"), "attest_getConsistencyProof")
            ),
        )
    except InvalidFieldError as exc:
        raise ProofInvalidError(f"the server answered a malformed proof: {exc}") from None


def _parse_proof(value: Any, what: str) -> list[Hash32]:
    if not isinstance(value, list):
        raise InvalidFieldError(what, f"answered without a proof list: {value!r:.200}")
    return [parse_hash32(p, f"proof[{i}]") for i, p in enumerate(value)]


def fetch_consistency(client: RpcClient, first: int, second: int) -> list[Hash32]:
    """The server's RFC 9162 consistency proof between two tree sizes."""
    answer = rpc_call(client, "attest_getConsistencyProof", first, second)
    try:
        return _parse_proof(
            answer.get("proof") if isinstance(answer, dict) else None, "attest_getConsistencyProof"
        )
    except InvalidFieldError as exc:
        raise ProofInvalidError(f"the server answered a malformed proof: {exc}") from None


@dataclass(frozen=True, slots=True)
class L1Target:
    url: str
    contract: bytes
    from_server: bool
    """True when the L1 URL or contract was taken from the sequencer's attest_status."""


def l1_target(args: argparse.Namespace, client: RpcClient | None) -> L1Target | None:
    url: str | None = args.l1_rpc
    contract = None if args.contract is None else parse_address(args.contract, "--contract")
    from_server = False
    if (url is None or contract is None) and client is not None:
        status = rpc_call(client, "attest_status")
        l1 = status.get("l1") if isinstance(status, dict) else None
        if isinstance(l1, dict):
            if url is None and isinstance(l1.get("rpc"), str):
                url, from_server = l1["rpc"], True
            if contract is None and isinstance(l1.get("contract"), str):
                contract, from_server = parse_address(l1["contract"], "l1.contract"), True
    if url is None or contract is None:
        return None
    return L1Target(url, contract, from_server)
