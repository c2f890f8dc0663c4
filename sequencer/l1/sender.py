"""Sending one account's transactions on a real chain: the fee policy, one nonce manager, and
replacement of a transaction that is not mined. Blocking (web3); callers run it in a thread.

One transaction of the account is in flight at a time. Its nonce, fields and every hash sent
for it are written to a journal file before it is sent, so a restart knows the nonce is taken
and by what: `resume()` finishes it (replacing it further if its fees are still too low)
instead of sending a second transaction for the same purpose with a new nonce — the committer
would otherwise double-commit after a crash mid-replacement. Without a journal (tests, tools)
the same holds within the process.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from web3 import Web3
from web3.exceptions import TransactionNotFound

from prover.errors import L1Error
from sequencer.l1.deadlines import urgent_fees
from sequencer.l1.fees import FeePolicy, Fees, bump_fees, compute_fees, fee_history_params
from sequencer.l1.signer import TransactionSigner

log = logging.getLogger(__name__)

MINING_TIMEOUT_S: Final = 120.0
"""How long `send` waits for a receipt, replacing as it goes, before giving up (the journal
keeps the transaction: the next `resume` goes on with it)."""


LOST_CHECK_S: Final = 2.0
"""How often a transaction waiting to be mined is looked for in the node at all."""

_ALREADY_SENT: Final = ("already known", "already imported", "known transaction", "nonce too low")
"""Refusals meaning the node has this transaction (or its nonce is mined): nothing new was sent."""
_PRICED_OUT: Final = ("less than block base fee", "underpriced", "fee cap less than", "fee too low")
"""Refusals meaning the fees are too low for now: wait, and replace from a fresh history."""


@dataclass(slots=True)
class InFlight:
    """The account's transaction in flight, as journaled."""

    nonce: int
    what: str
    tx: dict[str, Any]
    """The fields without nonce and fees (to, data, value, gas, chainId, from)."""
    fees: tuple[int, int]
    """(maxFeePerGas, maxPriorityFeePerGas) of the last version sent."""
    hashes: list[str] = field(default_factory=list)


class NonceJournal:
    """The in-flight transaction of one account, in a JSON file that survives restarts."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> InFlight | None:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise L1Error(f"nonce journal {self.path} is corrupt: {exc}") from None
        if doc is None:
            return None
        return InFlight(
            int(doc["nonce"]),
            str(doc["what"]),
            dict(doc["tx"]),
            (int(doc["fees"][0]), int(doc["fees"][1])),
            list(doc["hashes"]),
        )

    def save(self, entry: InFlight | None) -> None:
        """Replace the journal atomically. After this returns, a crash keeps `entry`: the
        temporary file is synced before the rename, and the directory after it."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(entry) if entry is not None else None, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class TransactionSender:
    """Sends `signer`'s transactions on `w3` under `policy`, one at a time."""

    def __init__(
        self,
        w3: Web3,
        signer: TransactionSigner,
        *,
        policy: FeePolicy | None = None,
        journal: NonceJournal | None = None,
        poll_s: float = 0.2,
        timeout_s: float = MINING_TIMEOUT_S,
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.policy = policy or FeePolicy()
        self.journal = journal
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.replacements = 0
        """Replacements sent by this process (for metrics)."""
        self.urgent_replacements = 0
        """Of those, the ones a near deadline pushed beyond the normal schedule."""
        self.fees_paid_wei = 0
        """Gas times effective price of every transaction this process saw mined."""
        self.deadline_at: float | None = None
        """Unix time by which the transaction in flight must be mined (a receipt deadline the
        committer set); within `urgent_window_s` of it, fees climb towards the ceiling and the
        transaction is replaced every block (`sequencer.l1.deadlines.urgent_fees`)."""
        self.urgent_window_s = 60.0
        self._in_flight: InFlight | None = journal.load() if journal is not None else None

    @property
    def in_flight(self) -> InFlight | None:
        return self._in_flight

    def attach_journal(self, journal: NonceJournal) -> None:
        """Keep the in-flight transaction in `journal` from now on, and take over the one an
        earlier run left there (finished by the next `resume` or `send`)."""
        self.journal = journal
        self._in_flight = journal.load()

    def fees_now(self) -> Fees:
        """What the policy bids for a transaction sent now."""
        history = self.w3.eth.fee_history(*fee_history_params(self.policy))
        return compute_fees(history, self.policy)

    def send(self, tx: Mapping[str, Any], what: str) -> Any:
        """Send `tx` (without nonce and fees) and return its receipt once mined, replacing it
        as the policy says. A transaction left in flight by an earlier run is finished first."""
        self.resume()
        fields = {
            k: v
            for k, v in tx.items()
            if k not in ("nonce", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice")
        }
        # The next nonce is the mined one: this sender has nothing else in flight, so a
        # transaction of the account still in a pool above it is a leftover (a reorganisation
        # removed the one before it, leaving a gap no block can fill); the new one replaces it.
        nonce = int(self.w3.eth.get_transaction_count(self.signer.address, "latest"))
        fees = self.fees_now()
        entry = InFlight(
            nonce, what, _jsonable(fields), (fees.max_fee_per_gas, fees.max_priority_fee_per_gas)
        )
        self._broadcast(entry, fees)
        return self._until_mined(entry)

    def resume(self) -> Any | None:
        """Finish the journaled transaction, if any (re-sent, replaced as needed); its receipt."""
        entry = self._in_flight
        if entry is None:
            return None
        log.info(
            "resuming %s at nonce %d (%d versions sent)", entry.what, entry.nonce, len(entry.hashes)
        )
        if not self._receipt_of(entry):
            # The node may have lost it (a restart of its own): send the last version again.
            self._broadcast(entry, Fees(*entry.fees), again=True)
        return self._until_mined(entry)

    # --- the loop ------------------------------------------------------------------------------

    def _until_mined(self, entry: InFlight) -> Any:
        deadline = time.monotonic() + self.timeout_s
        sent_at = int(self.w3.eth.block_number)
        at_ceiling = False
        gap_seen = 0
        recheck_at = time.monotonic() + LOST_CHECK_S
        while True:
            receipt = self._receipt_of(entry)
            if receipt is not None:
                self._paid(receipt)
                self._close()
                return receipt
            mined_nonce = int(self.w3.eth.get_transaction_count(self.signer.address, "latest"))
            if mined_nonce < entry.nonce:
                gap_seen += 1
                if gap_seen >= 2:  # two reads apart: not a node between two heads
                    # A reorganisation removed the account's previous transaction and nothing
                    # filled its nonce: this one can never be mined where it is. Move it down
                    # (the contract refuses whatever would repeat an effect, e.g. a commit
                    # that no longer extends the log).
                    log.warning(
                        "%s: nonce %d is free again (L1 reorganised): moving it from %d",
                        entry.what,
                        mined_nonce,
                        entry.nonce,
                        extra={"nonce": mined_nonce, "was": entry.nonce},
                    )
                    entry.nonce = mined_nonce
                    self._broadcast(entry, Fees(*entry.fees))
                    sent_at = int(self.w3.eth.block_number)
                    gap_seen = 0
                time.sleep(self.poll_s)
                continue
            gap_seen = 0
            if mined_nonce > entry.nonce:
                receipt = self._receipt_of(entry)  # mined between the two reads
                if receipt is not None:
                    self._paid(receipt)
                    self._close()
                    return receipt
                self._close()
                raise L1Error(
                    f"{entry.what}: nonce {entry.nonce} was used by a transaction "
                    "this sender did not send"
                )
            lost = False
            if time.monotonic() >= recheck_at:
                recheck_at = time.monotonic() + LOST_CHECK_S
                # Neither mined nor in the node's pool: a reorganisation removed it (and the
                # node did not put it back), or the pool dropped it (priced out by a base fee
                # spike): bid again now, from a fresh history, whatever the schedule.
                lost = not self._known(entry)
                if lost:
                    log.warning(
                        "%s at nonce %d: the node no longer knows it; sending it again",
                        entry.what,
                        entry.nonce,
                        extra={"nonce": entry.nonce},
                    )
            block = int(self.w3.eth.block_number)
            left = None if self.deadline_at is None else self.deadline_at - time.time()
            urgent = left is not None and left < self.urgent_window_s
            after = 1 if urgent else self.policy.replace_after_blocks
            if lost or block >= sent_at + after:
                if urgent:
                    assert left is not None
                    new = urgent_fees(
                        Fees(*entry.fees),
                        self.fees_now(),
                        self.policy,
                        left_s=left,
                        window_s=self.urgent_window_s,
                    )
                else:
                    new = bump_fees(Fees(*entry.fees), self.fees_now(), self.policy)
                if new is None:
                    if lost:  # nothing better under the ceiling: the same version again
                        self._broadcast(entry, Fees(*entry.fees), again=True)
                    if not at_ceiling:
                        log.warning(
                            "%s not mined after %d blocks and the fee ceiling (%d wei/gas) "
                            "leaves no room to replace it",
                            entry.what,
                            block - sent_at,
                            self.policy.max_fee_per_gas,
                        )
                    at_ceiling = True
                else:
                    self._broadcast(entry, new)
                    self.replacements += 1
                    self.urgent_replacements += urgent
                    log.info(
                        "replaced %s at nonce %d: max fee %d, tip %d wei/gas%s",
                        entry.what,
                        entry.nonce,
                        new.max_fee_per_gas,
                        new.max_priority_fee_per_gas,
                        f" (deadline in {left:.0f} s)" if urgent and left is not None else "",
                        extra={
                            "nonce": entry.nonce,
                            "max_fee": new.max_fee_per_gas,
                            "tip": new.max_priority_fee_per_gas,
                            "urgent": urgent,
                        },
                    )
                sent_at = block
            if time.monotonic() > deadline:
                raise L1Error(
                    f"{entry.what}: not mined within {self.timeout_s:g} s "
                    f"(nonce {entry.nonce}, still in flight)"
                )
            time.sleep(self.poll_s)

    def _broadcast(self, entry: InFlight, fees: Fees, *, again: bool = False) -> None:
        tx = {
            **entry.tx,
            "nonce": entry.nonce,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            "type": 2,
        }
        tx.pop("from", None)  # the signer knows who it is (eth-account refuses a stray "from")
        signed = self.signer.sign_transaction(tx)
        tx_hash = "0x" + bytes(Web3.keccak(bytes(signed.raw_transaction))).hex()
        if tx_hash not in entry.hashes:
            entry.hashes.append(tx_hash)
        entry.fees = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas)
        # Journaled before it is sent: after this write, a restart knows the nonce is taken and
        # by which hashes, whatever happens to the send below.
        self._in_flight = entry
        if self.journal is not None:
            self.journal.save(entry)
        try:
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:  # nodes word these differently
            text = str(exc).lower()
            if any(s in text for s in _ALREADY_SENT):
                if not again:
                    log.info("%s: %s", entry.what, exc)
            elif any(s in text for s in _PRICED_OUT):
                # Not taken at this price (the base fee is above the ceiling, or the pool wants
                # more): any earlier version stays in the pool, and the next replacement bids
                # again from a fresh fee history.
                log.warning(
                    "%s at nonce %d: the node refused max fee %d wei/gas: %s",
                    entry.what,
                    entry.nonce,
                    fees.max_fee_per_gas,
                    exc,
                )
            else:
                raise L1Error(f"{entry.what}: the node refused the transaction: {exc}") from exc

    def _known(self, entry: InFlight) -> bool:
        """True when the node holds some version of `entry` (in its pool or mined)."""
        for tx_hash in reversed(entry.hashes):
            try:
                if self.w3.eth.get_transaction(tx_hash) is not None:  # type: ignore[arg-type]
                    return True
            except TransactionNotFound:
                continue
        return False

    def _receipt_of(self, entry: InFlight) -> Any | None:
        for tx_hash in reversed(entry.hashes):
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
            if receipt is not None:
                return receipt
        return None

    def _paid(self, receipt: Any) -> None:
        price = receipt.get("effectiveGasPrice") or 0
        self.fees_paid_wei += int(receipt["gasUsed"]) * int(price)

    def _close(self) -> None:
        self._in_flight = None
        if self.journal is not None:
            self.journal.save(None)


def _jsonable(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        out[key] = "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else value
    return out
