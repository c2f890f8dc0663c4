"""Every one-step fraud proof of docs/spec.md §9: accepted for a real violation, refused for a valid
record, on real trees of real records (rule numbers as in docs/contract.md)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account import Account

from l1_contracts.contract import (
    replay_fraud,
    single_record_fraud,
    time_travel_fraud,
)
from prover.checkpoint import CheckpointStatus
from prover.record import SECP256K1_N, Record, encode_record
from prover.validity import FraudRule
from tests.l1_contracts.helpers import (
    KEYS,
    MIN_BOND,
    WINDOW,
    Chain,
    events,
    kind32,
    make_record,
    reverts,
    signed_record,
)

SIGNER = KEYS[5]
OTHER = KEYS[6]
SIGNER_ADDR = bytes.fromhex(Account.from_key(SIGNER).address[2:])


def _setup(c: Chain, new: list[bytes] | Callable[[Chain], list[bytes]]) -> int:
    """Checkpoint 0: four valid records (two signed); checkpoint 1: `new` (built with the
    next seq numbers). Returns checkpoint 1's index."""
    c.bond()
    t = c.ts()
    c.append(
        [
            make_record(0, t),
            signed_record(SIGNER, 1, t + 1, 7, c.chain_id, c.address),
            make_record(2, t + 2),
            signed_record(SIGNER, 3, t + 3, 8, c.chain_id, c.address),
        ]
    )
    c.commit()
    c.append(new(c) if callable(new) else new)
    return c.commit()


def _prove_one(c: Chain, rule: FraudRule, cp: int, index: int) -> bytes:
    size = c.rollup.functions.checkpoints(cp).call()[0]
    fn = single_record_fraud(
        c.rollup, rule, cp, index, c.records[index], c.tree.inclusion_proof(index, size)
    )
    return bytes(fn.transact({"from": c.challenger}))


def _assert_punished(c: Chain, cp: int, rule: FraudRule, tx: bytes) -> None:
    assert c.status(cp) == CheckpointStatus.REVERTED
    assert c.rollup.functions.frozen().call()
    assert c.rollup.functions.bond().call() == 0
    (ev,) = events(c, "FraudProven", tx)
    assert (ev.args.rule, ev.args.checkpointIndex, ev.args.reward) == (rule, cp, MIN_BOND // 2)


def test_helper_records_match_prover_encode_record(chain: Chain) -> None:
    rec = signed_record(SIGNER, 5, 1234, 9, chain.chain_id, chain.address)
    words = [int.from_bytes(rec[i : i + 32], "big") for i in range(0, 352, 32)]
    assert rec == encode_record(
        Record(
            seq=5,
            timestamp=1234,
            kind=rec[64:96],
            subject=rec[96:128],
            digest=rec[128:160],
            meta_hash=rec[160:192],
            submitter=SIGNER_ADDR,
            nonce=9,
            v=words[8],
            r=rec[288:320],
            s=rec[320:352],
        )
    )


# --- rule 1: seq ----------------------------------------------------------------------------


def test_wrong_seq_accepted(chain: Chain) -> None:
    cp = _setup(chain, lambda c: [make_record(4, c.ts()), make_record(4, c.ts())])
    tx = _prove_one(chain, FraudRule.WRONG_SEQ, cp, 5)
    _assert_punished(chain, cp, FraudRule.WRONG_SEQ, tx)


def test_wrong_seq_refused_for_valid_record(chain: Chain) -> None:
    cp = _setup(chain, lambda c: [make_record(4, c.ts())])
    with reverts("rollup: seq matches the index"):
        _prove_one(chain, FraudRule.WRONG_SEQ, cp, 4)


# --- common refusals --------------------------------------------------------------------------


def test_refusals_common_to_every_proof(chain: Chain) -> None:
    c = chain
    cp = _setup(c, lambda c: [make_record(9, c.ts())])
    f = c.rollup.functions
    rec, proof = c.records[4], c.tree.inclusion_proof(4, 5)
    with reverts("rollup: no such checkpoint"):
        f.proveWrongSeq(7, 4, rec, proof).transact({"from": c.challenger})
    with reverts("rollup: record not new in this checkpoint"):
        f.proveWrongSeq(cp, 3, c.records[3], c.tree.inclusion_proof(3, 5)).transact(
            {"from": c.challenger}
        )
    with reverts("rollup: record index outside the checkpoint"):
        f.proveWrongSeq(cp, 5, rec, proof).transact({"from": c.challenger})
    with reverts("rollup: record must be 352 bytes"):
        f.proveWrongSeq(cp, 4, rec[:-1], proof).transact({"from": c.challenger})
    with reverts("rollup: inclusion proof does not match the checkpoint root"):
        f.proveWrongSeq(cp, 4, make_record(8, 1), proof).transact({"from": c.challenger})
    with reverts("rollup: inclusion proof too long"):
        f.proveWrongSeq(cp, 4, rec, [*proof, b"\x00" * 32]).transact({"from": c.challenger})
    with reverts("rollup: inclusion proof too short"):
        f.proveWrongSeq(cp, 4, rec, proof[:-1]).transact({"from": c.challenger})
    # The same bad record in the wrong checkpoint: not new there (and not covered).
    with reverts("rollup: record index outside the checkpoint"):
        f.proveWrongSeq(0, 4, rec, proof).transact({"from": c.challenger})
    # After the window the checkpoint is final: too late.
    c.advance(WINDOW)
    with reverts("rollup: checkpoint is not pending"):
        f.proveWrongSeq(cp, 4, rec, proof).transact({"from": c.challenger})


def test_reverted_checkpoint_cannot_be_proven_again(chain: Chain) -> None:
    c = chain
    cp = _setup(c, lambda c: [make_record(9, c.ts()), make_record(9, c.ts())])
    _prove_one(c, FraudRule.WRONG_SEQ, cp, 4)
    with reverts("rollup: checkpoint is not pending"):
        _prove_one(c, FraudRule.WRONG_SEQ, cp, 5)


# --- rule 2: signatures ------------------------------------------------------------------------


def _bad_signatures(c: Chain) -> dict[str, bytes]:
    t = c.ts()
    good = signed_record(SIGNER, 4, t, 20, c.chain_id, c.address)
    w = [int.from_bytes(good[i : i + 32], "big") for i in range(0, 352, 32)]
    other_addr = bytes.fromhex(Account.from_key(OTHER).address[2:])

    def patch(**kw: int | bytes) -> bytes:
        fields = dict(
            kind=good[64:96],
            subject=good[96:128],
            digest=good[128:160],
            submitter=SIGNER_ADDR,
            nonce=20,
            v=w[8],
            r=w[9],
            s=w[10],
        )
        fields.update(kw)
        return make_record(4, t, **fields)  # type: ignore[arg-type]

    return {
        "other signer": patch(submitter=other_addr),
        "tampered digest": patch(digest=b"\x99" * 32),
        "v 29": patch(v=29),
        "v 1": patch(v=1),
        "high s": patch(s=SECP256K1_N - w[10], v=55 - w[8]),
        "r zero": patch(r=0),
        "unsigned with r": make_record(4, t, r=1),
        "unsigned with s": make_record(4, t, s=1),
        "other chain": signed_record(SIGNER, 4, t, 20, c.chain_id + 1, c.address),
        "other contract": signed_record(SIGNER, 4, t, 20, c.chain_id, "0x" + "12" * 20),
    }


@pytest.mark.parametrize(
    "case",
    [
        "other signer",
        "tampered digest",
        "v 29",
        "v 1",
        "high s",
        "r zero",
        "unsigned with r",
        "unsigned with s",
        "other chain",
        "other contract",
    ],
)
def test_bad_signature_accepted(chain: Chain, case: str) -> None:
    cp = _setup(chain, lambda c: [_bad_signatures(c)[case]])
    tx = _prove_one(chain, FraudRule.BAD_SIGNATURE, cp, 4)
    _assert_punished(chain, cp, FraudRule.BAD_SIGNATURE, tx)


@pytest.mark.parametrize("signed", [True, False])
def test_bad_signature_refused_for_valid_record(chain: Chain, signed: bool) -> None:
    def new(c: Chain) -> list[bytes]:
        if signed:
            return [signed_record(SIGNER, 4, c.ts(), 21, c.chain_id, c.address)]
        return [make_record(4, c.ts())]

    cp = _setup(chain, new)
    with reverts("rollup: signature is valid"):
        _prove_one(chain, FraudRule.BAD_SIGNATURE, cp, 4)


# --- rule 3: kind and malformed words ------------------------------------------------------------


MALFORMED = {
    "empty kind": dict(kind=b"\x00" * 32),
    "upper case": dict(kind=kind32("Sensor")),
    "space": dict(kind=kind32("a b")),
    "slash": dict(kind=kind32("a/b")),
    "gap": dict(kind=b"ab\x00c".ljust(32, b"\x00")),
    "leading zero": dict(kind=b"\x00abc".ljust(32, b"\x00")),
    "high byte": dict(kind=kind32(b"caf\xc3\xa9")),
    "submitter high bits": dict(submitter=(1 << 160) | 5),
    "timestamp above uint64": dict(timestamp=1 << 64),
    "nonce above uint64": dict(nonce=1 << 64),
    "v above uint8": dict(v=256),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_accepted(chain: Chain, case: str) -> None:
    kw = dict(MALFORMED[case])
    ts = kw.pop("timestamp", None)
    cp = _setup(chain, lambda c: [make_record(4, c.ts() if ts is None else ts, **kw)])  # type: ignore[arg-type]
    tx = _prove_one(chain, FraudRule.MALFORMED, cp, 4)
    _assert_punished(chain, cp, FraudRule.MALFORMED, tx)


@pytest.mark.parametrize(
    "kind", ["a", "x.y-z_09", "abcdefghijklmnopqrstuvwxyz012345", "inference_receipt"]
)
def test_malformed_refused_for_valid_record(chain: Chain, kind: str) -> None:
    cp = _setup(
        chain,
        lambda c: [
            make_record(
                4, c.ts(), kind=kind32(kind), submitter=(1 << 160) - 1, nonce=2**64 - 1, v=0
            )
        ],
    )
    with reverts("rollup: record is well formed"):
        _prove_one(chain, FraudRule.MALFORMED, cp, 4)


# --- rule 4: timestamps ---------------------------------------------------------------------------


def test_future_timestamp(chain: Chain) -> None:
    c = chain
    # The commit transaction is mined at now + 1: record 4 is stamped exactly then (valid),
    # record 5 one millisecond later.
    cp = _setup(
        c,
        lambda c: [make_record(4, (c.now() + 1) * 1000), make_record(5, (c.now() + 1) * 1000 + 1)],
    )
    committed_at = c.rollup.functions.checkpoints(cp).call()[2]
    assert committed_at * 1000 == int.from_bytes(c.records[4][32:64], "big")
    with reverts("rollup: timestamp is not in the future"):
        _prove_one(c, FraudRule.FUTURE_TIMESTAMP, cp, 4)
    tx = _prove_one(c, FraudRule.FUTURE_TIMESTAMP, cp, 5)
    _assert_punished(c, cp, FraudRule.FUTURE_TIMESTAMP, tx)


def test_time_travel_across_checkpoints(chain: Chain) -> None:
    c = chain
    cp = _setup(c, lambda c: [make_record(4, int.from_bytes(c.records[3][32:64], "big") - 1)])
    f = time_travel_fraud(
        c.rollup,
        cp,
        3,
        c.records[3],
        c.tree.inclusion_proof(3, 5),
        c.records[4],
        c.tree.inclusion_proof(4, 5),
    )
    tx = f.transact({"from": c.challenger})
    _assert_punished(c, cp, FraudRule.TIME_TRAVEL, tx)


def test_time_travel_refusals(chain: Chain) -> None:
    c = chain
    cp = _setup(
        c,
        lambda c: [
            make_record(4, int.from_bytes(c.records[3][32:64], "big")),
            make_record(5, c.ts() + 10),
        ],
    )
    p = c.tree.inclusion_proof
    with reverts("rollup: timestamps do not decrease"):
        time_travel_fraud(c.rollup, cp, 3, c.records[3], p(3, 6), c.records[4], p(4, 6)).transact(
            {"from": c.challenger}
        )
    with reverts("rollup: timestamps do not decrease"):
        time_travel_fraud(c.rollup, cp, 4, c.records[4], p(4, 6), c.records[5], p(5, 6)).transact(
            {"from": c.challenger}
        )
    # records 2, 3 are both old in checkpoint 1
    with reverts("rollup: record not new in this checkpoint"):
        time_travel_fraud(c.rollup, cp, 2, c.records[2], p(2, 6), c.records[3], p(3, 6)).transact(
            {"from": c.challenger}
        )
    # the pair must be adjacent: record 3 is not at index 4 - 2
    with reverts("rollup: inclusion proof does not match the checkpoint root"):
        time_travel_fraud(c.rollup, cp, 3, c.records[2], p(2, 6), c.records[4], p(4, 6)).transact(
            {"from": c.challenger}
        )


# --- rule 5: replay -----------------------------------------------------------------------------


def test_replay_accepted(chain: Chain) -> None:
    c = chain
    cp = _setup(
        c,
        lambda c: [
            make_record(4, c.ts()),
            signed_record(SIGNER, 5, c.ts(), 7, c.chain_id, c.address, digest=b"\x55" * 32),
        ],
    )
    p = c.tree.inclusion_proof
    tx = replay_fraud(c.rollup, cp, 1, c.records[1], p(1, 6), 5, c.records[5], p(5, 6)).transact(
        {"from": c.challenger}
    )
    _assert_punished(c, cp, FraudRule.REPLAY, tx)


def test_replay_refusals(chain: Chain) -> None:
    c = chain
    cp = _setup(
        c,
        lambda c: [
            signed_record(SIGNER, 4, c.ts(), 9, c.chain_id, c.address),
            make_record(5, c.ts(), submitter=SIGNER_ADDR, nonce=7),
            signed_record(OTHER, 6, c.ts(), 7, c.chain_id, c.address),
        ],
    )
    p = c.tree.inclusion_proof
    r = c.records

    def call(i: int, j: int) -> None:
        replay_fraud(c.rollup, cp, i, r[i], p(i, 7), j, r[j], p(j, 7)).transact(
            {"from": c.challenger}
        )

    with reverts("rollup: nonces differ"):
        call(1, 4)  # nonce 7 vs 9
    with reverts("rollup: both records must be signed"):
        call(1, 5)  # same submitter and nonce, but 5 is unsigned
    with reverts("rollup: submitters differ"):
        call(1, 6)  # both signed with nonce 7, by different keys
    with reverts("rollup: records must be in log order"):
        call(4, 4)
    with reverts("rollup: record not new in this checkpoint"):
        call(1, 3)
