"""`Client`: the blocking client of one sequencer or follower (docs/client.md).

Every call is one or a few JSON-RPC requests through `SyncTransport`; every submission's
answer is verified (`sequencer.client.receipts`) before it is returned; every verification
trusts only L1 (`sequencer.client.light`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prover.errors import InvalidFieldError, L1Error, NotFinalError, NotIncludedError
from prover.jsonrpc import NOT_FOUND
from prover.light_client import Expectations, L1Checkpoint
from prover.wire import hex0x, parse_address
from sequencer.client.errors import RejectedError, UnreachableError
from sequencer.client.l1 import L1Reader
from sequencer.client.light import check_attestation, fetch_event, verify_seq
from sequencer.client.receipts import Accepted, verify_answer
from sequencer.client.results import (
    CheckResult,
    EventInfo,
    Status,
    Verification,
    parse_event_info,
    parse_status,
)
from sequencer.client.signing import Event, EventSigner, EventSigning, NonceSource, hash32_arg
from sequencer.client.transport import DEFAULT_RETRIES, SyncTransport


class Client:
    """A blocking client: sign, submit, verify, wait, check.

    `token` sends unsigned events (the sequencer vouches for them as the token's address);
    `signer` (an `EventSigner`) signs every event instead. `l1_rpc` and `contract` pin the
    L1 a light-client verification trusts; without them the server's `attest_status` names
    them (and the verification says so in its notes). `state_path` keeps the last final
    checkpoint verified, so a later verification also checks that L1 did not fork.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        signer: EventSigner | None = None,
        timeout: float = 30.0,
        retries: int = DEFAULT_RETRIES,
        l1_rpc: str | None = None,
        contract: bytes | str | None = None,
        sequencer: bytes | str | None = None,
        state_path: str | Path | None = None,
        nonces: NonceSource | None = None,
    ) -> None:
        self.rpc = SyncTransport(url, token=token, timeout=timeout, retries=retries)
        self.signer = signer
        self.timeout = timeout
        self._l1_rpc = l1_rpc
        self._contract = contract
        self._pinned_sequencer: bytes | None = (
            sequencer
            if isinstance(sequencer, bytes) or sequencer is None
            else parse_address(sequencer, "sequencer")
        )
        self.state_path = None if state_path is None else Path(state_path)
        self._nonces = nonces or NonceSource()
        self._status: Status | None = None
        self._signing: EventSigning | None = None
        self._l1: L1Reader | None = None
        self._receipt_signer: bytes | None = None

    @property
    def url(self) -> str:
        return self.rpc.url

    def close(self) -> None:
        self.rpc.close()
        if self._l1 is not None:
            self._l1.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- status and identity ------------------------------------------------------------------

    def status(self) -> Status:
        """`attest_status`, parsed (and remembered: the domain and sequencer do not change)."""
        try:
            status = parse_status(self.rpc.call("attest_status"))
        except InvalidFieldError as exc:
            raise UnreachableError(f"{self.url}: malformed attest_status: {exc}") from None
        self._status = status
        return status

    def _known_status(self) -> Status:
        return self._status if self._status is not None else self.status()

    def receipt_signer(self) -> bytes:
        """The address receipts must recover to: `sequencer` when the caller pinned it; else
        L1's `sequencer()` when the caller pinned L1 (`l1_rpc` and `contract`: docs/spec.md §5
        says to trust L1's); else the server's `attest_status.sequencer` — an L1 named by the
        same server would add nothing, and might not be reachable from here."""
        if self._receipt_signer is None:
            if self._pinned_sequencer is not None:
                self._receipt_signer = self._pinned_sequencer
            elif not self.l1_from_server():
                l1 = self.l1()
                assert l1 is not None
                self._receipt_signer = l1.sequencer()
            else:
                self._receipt_signer = self._known_status().sequencer
        return self._receipt_signer

    def l1(self, *, required: bool = True) -> L1Reader | None:
        """The L1 reader: `l1_rpc`/`contract` as given, else as `attest_status` names them."""
        if self._l1 is None:
            url, contract = self._l1_rpc, self._contract
            if url is None or contract is None:
                st = self._known_status()
                url = url or st.l1_rpc
                contract = contract if contract is not None else st.contract
            if url is None or contract is None:
                if required:
                    raise InvalidFieldError("l1", "no L1 known: pass l1_rpc and contract")
                return None
            self._l1 = L1Reader(url, contract, timeout=self.timeout)
        return self._l1

    def l1_from_server(self) -> bool:
        """True when the L1 endpoint or contract was taken from the server's attest_status."""
        return self._l1_rpc is None or self._contract is None

    # --- submitting ---------------------------------------------------------------------------

    def _signing_for(self) -> EventSigning | None:
        if self.signer is None:
            return None
        if self._signing is None:
            self._signing = EventSigning(self.signer, self._known_status().domain, self._nonces)
        return self._signing

    def prepare(self, events: Sequence[Event | dict[str, Any]]) -> list[dict[str, Any]]:
        """The wire objects for `events`: signed when the client has a signer."""
        signing = self._signing_for()
        out: list[dict[str, Any]] = []
        for ev in events:
            if isinstance(ev, dict):
                out.append(ev)
            elif signing is not None:
                out.append(signing.sign(ev))
            else:
                out.append(ev.wire())
        return out

    def submit(self, event: Event | dict[str, Any]) -> Accepted:
        """Submit one event; its verified placement and receipt (`attest_submit`)."""
        (wire,) = self.prepare([event])
        answer = self.rpc.call("attest_submit", wire, idempotent="signature" in wire)
        st = self._known_status()
        (accepted,) = verify_answer(
            answer, 1, st.domain.separator, self.receipt_signer(), batch=False
        )
        return accepted

    def submit_batch(self, events: Sequence[Event | dict[str, Any]]) -> list[Accepted]:
        """Submit events as one batch (all stored or none); their verified placements."""
        if not events:
            return []
        wires = self.prepare(events)
        return self.submit_wire(wires)

    def submit_wire(self, wires: Sequence[dict[str, Any]]) -> list[Accepted]:
        """`submit_batch` for events already in wire form (signed or not)."""
        signed = all("signature" in w for w in wires)
        answer = self.rpc.call("attest_submitBatch", list(wires), idempotent=signed)
        st = self._known_status()
        return verify_answer(
            answer, len(wires), st.domain.separator, self.receipt_signer(), batch=True
        )

    def batcher(self, **kwargs: Any) -> Any:
        """A `Batcher` on this client (see `sequencer.client.batcher.Batcher`)."""
        from sequencer.client.batcher import Batcher

        return Batcher(self, **kwargs)

    # --- reading ------------------------------------------------------------------------------

    def get_event(self, seq: int) -> EventInfo:
        """The record at `seq`, read from its bytes; `NotIncludedError` if there is none."""
        return fetch_event(self, seq)

    def get_proof(self, seq: int, checkpoint: int | str | None = None) -> dict[str, Any]:
        """`attest_getProof` as served (verify it with `verify`, which trusts only L1)."""
        params: list[Any] = [seq] if checkpoint is None else [seq, {"checkpoint": checkpoint}]
        try:
            answer: dict[str, Any] = self.rpc.call("attest_getProof", *params)
        except RejectedError as exc:
            if exc.code == NOT_FOUND:
                raise NotIncludedError(f"seq {seq}: {exc.message}") from None
            raise
        return answer

    def find(
        self,
        *,
        subject: bytes | str | None = None,
        digest: bytes | str | None = None,
        page: int = 1000,
    ) -> Iterator[int]:
        """Every seq with this subject (or digest), ascending, paging through the server."""
        if (subject is None) == (digest is None):
            raise InvalidFieldError("find", "give exactly one of subject and digest")
        method = "attest_findBySubject" if subject is not None else "attest_findByDigest"
        key = hex0x(hash32_arg(subject if subject is not None else digest, "subject"))  # type: ignore[arg-type]
        after: int | None = None
        while True:
            paging: dict[str, Any] = {"limit": page}
            if after is not None:
                paging["after"] = after
            answer = self.rpc.call(method, key, paging)
            seqs = answer.get("seqs") if isinstance(answer, dict) else None
            if not isinstance(seqs, list) or not all(type(s) is int for s in seqs):
                raise UnreachableError(f"{self.url}: {method} answered {answer!r:.200}")
            yield from seqs
            nxt = answer.get("next")
            if nxt is None or not seqs:
                return
            after = nxt

    def get_events(self, seqs: Sequence[int]) -> list[EventInfo]:
        """Many records, 100 per JSON-RPC batch."""
        out: list[EventInfo] = []
        for i in range(0, len(seqs), 100):
            chunk = seqs[i : i + 100]
            answers = self.rpc.batch([("attest_getEvent", [s]) for s in chunk])
            for s, a in zip(chunk, answers, strict=True):
                if isinstance(a, RejectedError):
                    raise NotIncludedError(f"seq {s}: {a.message}")
                try:
                    out.append(parse_event_info(a, s))
                except InvalidFieldError as exc:
                    raise UnreachableError(
                        f"{self.url}: malformed attest_getEvent({s}): {exc}"
                    ) from None
        return out

    # --- L1 and the light client --------------------------------------------------------------

    def bundle(self, seq: int, *, allow_pending: bool = False) -> dict[str, Any]:
        """A proof bundle of `seq` (docs/spec.md §11, the file `attest proof export` writes and
        `attest verify --bundle` checks), anchored to the L1 checkpoint chosen from L1 itself:
        the latest final one covering it (or the pending latest with `allow_pending`).
        Checked before it is returned: the inclusion proof and the anchor."""
        from prover.light_client import encode_bundle, verify_anchor, verify_bundle_inclusion
        from sequencer.client.light import fetch_bundle

        event = self.get_event(seq)
        l1 = self.l1()
        assert l1 is not None
        b = fetch_bundle(self, event, l1.choose(seq, allow_pending=allow_pending))
        verify_bundle_inclusion(b)
        verify_anchor(b)
        return encode_bundle(b)

    def verify(
        self,
        seq: int,
        expectations: Expectations | None = None,
        *,
        allow_pending: bool = False,
        revocations: bool = True,
    ) -> Verification:
        """Light-client verification of `seq` against L1 (docs/spec.md §11), with its
        revocation and supersession status. Raises the verdict errors of `prover.errors`."""
        return verify_seq(
            self,
            seq,
            expectations or Expectations(),
            allow_pending=allow_pending,
            revocations=revocations,
        )

    def wait_anchored(self, seq: int, *, timeout: float = 120.0, poll: float = 0.5) -> L1Checkpoint:
        """Block until an L1 checkpoint (pending or final) covers `seq`; that checkpoint."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.l1().choose(seq, allow_pending=True)  # type: ignore[union-attr]
            except NotFinalError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(poll)

    def wait_final(
        self,
        seq: int,
        *,
        timeout: float = 600.0,
        poll: float = 1.0,
        expectations: Expectations | None = None,
    ) -> Verification:
        """Block until `seq` verifies under a *final* checkpoint; that verification."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.verify(seq, expectations, allow_pending=False)
            except NotFinalError:
                if time.monotonic() >= deadline:
                    raise
            except L1Error:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(poll)

    def check(
        self,
        subject: bytes | str,
        digest: bytes | str,
        *,
        kind: str | None = None,
        signers: Sequence[bytes] = (),
        allow_pending: bool = False,
    ) -> CheckResult:
        """The CI gate (`attest check`): is (subject, digest) attested, final, not revoked?"""
        return check_attestation(
            self,
            hash32_arg(subject, "subject"),
            hash32_arg(digest, "digest"),
            kind=kind,
            signers=tuple(signers),
            allow_pending=allow_pending,
        )
