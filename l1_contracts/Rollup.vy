#pragma version 0.4.3
#pragma optimize codesize
"""
@title attest-rollup L1 contract
@license Apache-2.0
@notice Checkpoints of an RFC 9162 keccak256 Merkle log (DESIGN §4), one-step fraud proofs
        for the validity rules of DESIGN §5, broken-receipt proofs (DESIGN §6) and data
        availability challenges. A successful proof reverts the challenged checkpoint and
        every later one, slashes the sequencer's bond and freezes commits until the owner
        recovers. See docs/contract.md for storage packing and the procedures.
"""

# --- constants ----------------------------------------------------------------------------

MAX_TREE_SIZE: constant(uint256) = 2**40
MASK64: constant(uint256) = 2**64 - 1
NO_INDEX: constant(uint256) = max_value(uint256)
# A DA challenge names at most this many records (DESIGN §4: B = 256).
MAX_RANGE: constant(uint256) = 256
# secp256k1 n / 2: signatures with a larger s are malleable copies (EIP-2).
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
NAME_HASH: constant(bytes32) = keccak256("attest-rollup")
VERSION_HASH: constant(bytes32) = keccak256("1")
EVENT_TYPEHASH: constant(bytes32) = keccak256(
    "Event(bytes32 kind,bytes32 subject,bytes32 digest,bytes32 metaHash,uint64 nonce)"
)
RECEIPT_TYPEHASH: constant(bytes32) = keccak256(
    "Receipt(uint64 firstSeq,uint64 count,bytes32 leavesRoot,uint64 deadline)"
)

# Checkpoint status (DESIGN §4 read interface).
STATUS_NONE: constant(uint8) = 0
STATUS_PENDING: constant(uint8) = 1
STATUS_FINAL: constant(uint8) = 2
STATUS_REVERTED: constant(uint8) = 3

# Fraud rule codes carried by FraudProven (docs/contract.md, fraud-proof catalogue).
RULE_WRONG_SEQ: constant(uint8) = 1
RULE_BAD_SIGNATURE: constant(uint8) = 2
RULE_MALFORMED: constant(uint8) = 3
RULE_TIME_TRAVEL: constant(uint8) = 4
RULE_FUTURE_TIMESTAMP: constant(uint8) = 5
RULE_REPLAY: constant(uint8) = 6
RULE_RECEIPT_MISMATCH: constant(uint8) = 7
RULE_RECEIPT_DEADLINE: constant(uint8) = 8
RULE_DA_UNANSWERED: constant(uint8) = 9

# DA challenge states.
DA_NONE: constant(uint8) = 0
DA_OPEN: constant(uint8) = 1
DA_ANSWERED: constant(uint8) = 2
DA_UPHELD: constant(uint8) = 3
DA_VOID: constant(uint8) = 4

# --- events -------------------------------------------------------------------------------

event BondDeposited:
    sequencer: indexed(address)
    amount: uint256
    total: uint256

event ExitRequested:
    sequencer: indexed(address)
    withdrawableAt: uint256

event BondWithdrawn:
    sequencer: indexed(address)
    amount: uint256

event CheckpointCommitted:
    index: indexed(uint256)
    size: uint64
    root: bytes32
    committedAt: uint64
    challengeEnds: uint64

event CheckpointsReverted:
    fromIndex: indexed(uint256)
    toIndex: uint256
    lastSize: uint256

event FraudProven:
    checkpointIndex: indexed(uint256)
    rule: indexed(uint8)
    challenger: indexed(address)
    reward: uint256

event BondSlashed:
    amount: uint256
    reward: uint256
    burned: uint256

event Frozen:
    rule: uint8

event Recovered:
    owner: indexed(address)
    bond: uint256

event DAChallengeOpened:
    challengeId: indexed(uint256)
    checkpointIndex: indexed(uint256)
    challenger: indexed(address)
    start: uint64
    end: uint64
    deadline: uint64

event RecordsRevealed:
    challengeId: indexed(uint256)
    checkpointIndex: indexed(uint256)
    start: uint64
    records: DynArray[Bytes[352], MAX_RANGE]

event DAChallengeResolved:
    challengeId: indexed(uint256)
    outcome: uint8

# --- storage ------------------------------------------------------------------------------

struct DAChallenge:
    checkpointIndex: uint256
    start: uint64
    end: uint64
    deadline: uint64
    state: uint8
    challenger: address
    bond: uint256

owner: public(address)
sequencer: public(immutable(address))
challengeWindow: public(immutable(uint256))
daResponseWindow: public(immutable(uint256))
minBond: public(immutable(uint256))
challengerBond: public(immutable(uint256))
maxDARange: public(immutable(uint256))
exitDelay: public(immutable(uint256))

bond: public(uint256)
# Slashed wei that was not paid to a challenger stays locked here forever (docs/contract.md).
burned: public(uint256)
frozen: public(bool)
exitRequestedAt: public(uint256)

# One word per checkpoint, packed by hand because Vyper does not pack struct members:
#   bits   0..63  size           bits 128..191 challengeEnds
#   bits  64..127 committedAt    bits 192..199 stored status (1 = committed)
#   bits 200..255 prevSize: size of the previous non-reverted checkpoint when this one was
#                 committed (< 2**40, so it fits); records at seq >= prevSize are "new" here.
_meta: HashMap[uint256, uint256]
_roots: HashMap[uint256, bytes32]
# count (0..63) | index of the latest non-reverted checkpoint + 1 (64..127) | its size (128..191)
_head: uint256

# Reverted checkpoints form disjoint intervals [from, to); a revert at j drops every interval
# starting after j (it now lies inside [j, count)) and pushes [j, count), so the stack stays
# sorted and each interval is pushed and popped once: reverts are O(1) amortised, whatever
# the number of pending checkpoints, and a lookup is a binary search.
#   from (0..63) | to (64..127) | index of the last non-reverted checkpoint before from, + 1 (128..191)
_reverts: HashMap[uint256, uint256]
_revertCount: uint256

# Open DA challenges hold finality (DESIGN §5). While any is open, no checkpoint at or after
# the lowest challenged index since the count was last zero becomes final: conservative, but
# O(1), and it guarantees a checkpoint never turns final while an earlier one can still revert.
daOpenCount: public(uint256)
_daHoldFrom: uint256
daChallengeCount: public(uint256)
# A challenge in two words (a struct would take seven):
#   _daRange[id]: checkpointIndex (0..63) | start (64..127) | end (128..191) | deadline (192..255)
#   _daParty[id]: challenger (0..159) | state (160..167)
# Its bond is always challengerBond (openDAChallenge requires exactly that value).
_daRange: HashMap[uint256, uint256]
_daParty: HashMap[uint256, uint256]

# Receipts already proven broken (by EIP-712 digest): one slash per receipt.
receiptBroken: public(HashMap[bytes32, bool])


@deploy
def __init__(
    _sequencer: address,
    _challengeWindow: uint256,
    _daResponseWindow: uint256,
    _minBond: uint256,
    _maxDARange: uint256,
    _challengerBond: uint256,
):
    """
    @notice Deploy the rollup; the deployer becomes the owner (operator).
    @param _sequencer The only address allowed to bond and commit checkpoints.
    @param _challengeWindow Seconds a checkpoint stays pending (DESIGN §4: W).
    @param _daResponseWindow Seconds the sequencer has to answer a DA challenge.
    @param _minBond Minimum bond (wei) for committing.
    @param _maxDARange Largest record range of one DA challenge (at most 256).
    @param _challengerBond Wei a DA challenger must post.
    """
    assert _sequencer != empty(address), "rollup: sequencer is the zero address"
    assert _challengeWindow > 0, "rollup: challenge window must be positive"
    assert _daResponseWindow > 0, "rollup: DA response window must be positive"
    assert _minBond > 0, "rollup: minimum bond must be positive"
    assert _maxDARange > 0 and _maxDARange <= MAX_RANGE, "rollup: max DA range must be in [1, 256]"
    assert _challengeWindow < 2**32 and _daResponseWindow < 2**32, "rollup: window too long"
    self.owner = msg.sender
    sequencer = _sequencer
    challengeWindow = _challengeWindow
    daResponseWindow = _daResponseWindow
    minBond = _minBond
    maxDARange = _maxDARange
    challengerBond = _challengerBond
    # Longer than the challenge window plus a DA answer: a bond cannot leave before every
    # checkpoint it backs could be challenged (withdraw also checks nothing is pending).
    exitDelay = _challengeWindow + _daResponseWindow


# --- bond ---------------------------------------------------------------------------------


@external
@payable
def deposit():
    """
    @notice Add msg.value to the sequencer's bond.
    """
    assert msg.sender == sequencer, "rollup: caller is not the sequencer"
    assert msg.value > 0, "rollup: deposit must be positive"
    self.bond += msg.value
    log BondDeposited(sequencer=msg.sender, amount=msg.value, total=self.bond)


@external
def requestExit():
    """
    @notice Start the exit delay; no commits are accepted afterwards.
    """
    assert msg.sender == sequencer, "rollup: caller is not the sequencer"
    assert self.exitRequestedAt == 0, "rollup: exit already requested"
    self.exitRequestedAt = block.timestamp
    log ExitRequested(sequencer=msg.sender, withdrawableAt=block.timestamp + exitDelay)


@external
@nonreentrant
def withdraw():
    """
    @notice Pay the whole bond back to the sequencer after the exit delay, when not frozen
            and no checkpoint is pending.
    """
    assert msg.sender == sequencer, "rollup: caller is not the sequencer"
    requested: uint256 = self.exitRequestedAt
    assert requested != 0, "rollup: no exit requested"
    assert block.timestamp >= requested + exitDelay, "rollup: exit delay not over"
    assert not self.frozen, "rollup: frozen"
    last: uint256 = (self._head >> 64) & MASK64
    if last != 0:
        assert self._status(last - 1) == STATUS_FINAL, "rollup: a checkpoint is still pending"
    amount: uint256 = self.bond
    # Effects before the interaction: a re-entrant call sees a zero bond and no exit request.
    self.bond = 0
    self.exitRequestedAt = 0
    log BondWithdrawn(sequencer=sequencer, amount=amount)
    if amount > 0:
        raw_call(sequencer, b"", value=amount)


@external
def recover():
    """
    @notice Owner lifts the freeze once the sequencer has re-bonded to at least minBond.
    """
    assert msg.sender == self.owner, "rollup: caller is not the owner"
    assert self.frozen, "rollup: not frozen"
    assert self.bond >= minBond, "rollup: sequencer has not re-bonded"
    self.frozen = False
    log Recovered(owner=msg.sender, bond=self.bond)


# --- commit -------------------------------------------------------------------------------


@external
def commit(size: uint64, root: bytes32, consistencyProof: DynArray[bytes32, 96]):
    """
    @notice Commit checkpoint (size, root), proven by an RFC 9162 §2.1.4 consistency proof
            to extend the latest non-reverted checkpoint (none: the proof must be empty).
    @param size Tree size, larger than the previous one and at most 2**40.
    @param root keccak256 RFC 9162 root of the tree of `size` leaves.
    @param consistencyProof Proof from the previous checkpoint's tree to this one.
    """
    assert msg.sender == sequencer, "rollup: caller is not the sequencer"
    assert not self.frozen, "rollup: frozen"
    assert self.exitRequestedAt == 0, "rollup: sequencer is exiting"
    assert self.bond >= minBond, "rollup: bond below minimum"
    newSize: uint256 = convert(size, uint256)
    assert newSize <= MAX_TREE_SIZE, "rollup: size above 2**40"
    head: uint256 = self._head
    count: uint256 = head & MASK64
    lastPlus1: uint256 = (head >> 64) & MASK64
    lastSize: uint256 = head >> 128
    assert newSize > lastSize, "rollup: size must grow"
    if lastPlus1 == 0:
        # Every tree extends the empty one (RFC 9162 §2.1.4): nothing to prove.
        assert len(consistencyProof) == 0, "rollup: proof from the empty tree must be empty"
    else:
        self._verifyConsistency(lastSize, newSize, self._roots[lastPlus1 - 1], root, consistencyProof)
    ends: uint256 = block.timestamp + challengeWindow
    self._meta[count] = (
        newSize | (block.timestamp << 64) | (ends << 128) | (1 << 192) | (lastSize << 200)
    )
    self._roots[count] = root
    self._head = (count + 1) | ((count + 1) << 64) | (newSize << 128)
    log CheckpointCommitted(
        index=count,
        size=size,
        root=root,
        committedAt=convert(block.timestamp, uint64),
        challengeEnds=convert(ends, uint64),
    )


# --- read interface (DESIGN §4) -----------------------------------------------------------


@external
@view
def checkpointCount() -> uint256:
    """
    @notice Number of checkpoints ever committed (reverted ones included).
    """
    return self._head & MASK64


@external
@view
def checkpoints(index: uint256) -> (uint64, bytes32, uint64, uint64, uint8):
    """
    @notice One checkpoint: (size, root, committedAt, challengeEnds, status), status
            0 none, 1 pending, 2 final, 3 reverted, computed at the current block time.
    @param index Checkpoint index; past the end returns all zeros (status none).
    """
    meta: uint256 = self._meta[index]
    if meta == 0:
        return 0, empty(bytes32), 0, 0, STATUS_NONE
    return (
        convert(meta & MASK64, uint64),
        self._roots[index],
        convert((meta >> 64) & MASK64, uint64),
        convert((meta >> 128) & MASK64, uint64),
        self._status(index),
    )


@external
@view
def latestFinalized() -> uint256:
    """
    @notice Index of the latest final checkpoint, or 2**256-1 when none is final.
    """
    count: uint256 = self._head & MASK64
    # challengeEnds never decreases with the index (commit times do not, W is fixed), so the
    # checkpoints whose window is over form a prefix: binary-search its end.
    lo: uint256 = 0
    hi: uint256 = count
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        if (self._meta[mid] >> 128) & MASK64 <= block.timestamp:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return NO_INDEX
    k: uint256 = lo - 1
    if self.daOpenCount > 0:
        holdFrom: uint256 = self._daHoldFrom
        if holdFrom <= k:
            if holdFrom == 0:
                return NO_INDEX
            k = holdFrom - 1
    entry: uint256 = self._revertEntry(k)
    if entry != 0:
        prevPlus1: uint256 = (entry >> 128) & MASK64
        if prevPlus1 == 0:
            return NO_INDEX
        k = prevPlus1 - 1
    return k


@external
@view
def lastSize() -> uint256:
    """
    @notice Size of the latest non-reverted checkpoint (0 when none): the next commit's base.
    """
    return self._head >> 128


@external
@view
def lastRoot() -> bytes32:
    """
    @notice Root of the latest non-reverted checkpoint (keccak256("") when none).
    """
    lastPlus1: uint256 = (self._head >> 64) & MASK64
    if lastPlus1 == 0:
        return keccak256(b"")
    return self._roots[lastPlus1 - 1]


@external
@view
def lastIndex() -> uint256:
    """
    @notice Index of the latest non-reverted checkpoint, or 2**256-1 when none.
    """
    lastPlus1: uint256 = (self._head >> 64) & MASK64
    if lastPlus1 == 0:
        return NO_INDEX
    return lastPlus1 - 1


@external
@view
def prevSize(index: uint256) -> uint256:
    """
    @notice Records at seq >= prevSize(index) are new in checkpoint `index`.
    @param index Checkpoint index.
    """
    meta: uint256 = self._meta[index]
    assert meta != 0, "rollup: no such checkpoint"
    return meta >> 200


@external
@view
def domainSeparator() -> bytes32:
    """
    @notice EIP-712 domain separator {name "attest-rollup", version "1", chainId, this}.
    """
    return self._domainSeparator()


@external
@view
def daChallenges(challengeId: uint256) -> DAChallenge:
    """
    @notice One DA challenge (state 0 none, 1 open, 2 answered, 3 upheld, 4 void).
    @param challengeId Id returned by openDAChallenge.
    """
    return self._challenge(challengeId)


# --- fraud proofs (DESIGN §5) -------------------------------------------------------------


@external
@nonreentrant
def proveWrongSeq(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
):
    """
    @notice Rule 1: the record at `index` says its seq is something else.
    @param checkpointIndex Pending checkpoint that newly covers the record.
    @param index Position of the record in the log.
    @param record The 352-byte record (DESIGN §3).
    @param proof RFC 9162 inclusion proof of the record at `index` in that checkpoint.
    """
    self._checkNewRecord(checkpointIndex, index, record, proof)
    assert extract32(record, 0, output_type=uint256) != index, "rollup: seq matches the index"
    self._punish(checkpointIndex, RULE_WRONG_SEQ)


@external
@nonreentrant
def proveBadSignature(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
):
    """
    @notice Rule 2: a signed record's EIP-712 signature does not recover to its submitter
            (or v is not 27/28, or s is high), or an unsigned record has r or s nonzero.
    @param checkpointIndex Pending checkpoint that newly covers the record.
    @param index Position of the record in the log.
    @param record The 352-byte record.
    @param proof RFC 9162 inclusion proof of the record at `index` in that checkpoint.
    """
    self._checkNewRecord(checkpointIndex, index, record, proof)
    assert not self._signatureValid(record), "rollup: signature is valid"
    self._punish(checkpointIndex, RULE_BAD_SIGNATURE)


@external
@nonreentrant
def proveBadKind(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
):
    """
    @notice Rule 3: kind is not [a-z0-9_.-]{1,32} right-padded with zeros, or a word does not
            fit its ABI type (timestamp/nonce above uint64, submitter above uint160, v above uint8).
    @param checkpointIndex Pending checkpoint that newly covers the record.
    @param index Position of the record in the log.
    @param record The 352-byte record.
    @param proof RFC 9162 inclusion proof of the record at `index` in that checkpoint.
    """
    self._checkNewRecord(checkpointIndex, index, record, proof)
    assert not self._wellFormed(record), "rollup: record is well formed"
    self._punish(checkpointIndex, RULE_MALFORMED)


@external
@nonreentrant
def proveFutureTimestamp(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
):
    """
    @notice Rule 4b: a record new in the checkpoint is timestamped (ms) after its commit time.
    @param checkpointIndex Pending checkpoint that newly covers the record.
    @param index Position of the record in the log.
    @param record The 352-byte record.
    @param proof RFC 9162 inclusion proof of the record at `index` in that checkpoint.
    """
    meta: uint256 = self._checkNewRecord(checkpointIndex, index, record, proof)
    committedAtMs: uint256 = ((meta >> 64) & MASK64) * 1000
    assert extract32(record, 32, output_type=uint256) > committedAtMs, "rollup: timestamp is not in the future"
    self._punish(checkpointIndex, RULE_FUTURE_TIMESTAMP)


@external
@nonreentrant
def proveTimeTravel(
    checkpointIndex: uint256,
    index: uint256,
    record: Bytes[352],
    proof: DynArray[bytes32, 64],
    nextRecord: Bytes[352],
    nextProof: DynArray[bytes32, 64],
):
    """
    @notice Rule 4a: record index+1 (new in the checkpoint) is timestamped before record index.
    @param checkpointIndex Pending checkpoint that newly covers record index+1.
    @param index Position of the earlier record.
    @param record The record at `index`.
    @param proof Its inclusion proof in the checkpoint.
    @param nextRecord The record at index+1.
    @param nextProof Its inclusion proof in the checkpoint.
    """
    self._checkNewRecord(checkpointIndex, index + 1, nextRecord, nextProof)
    self._checkIncluded(checkpointIndex, index, record, proof)
    assert extract32(nextRecord, 32, output_type=uint256) < extract32(record, 32, output_type=uint256), "rollup: timestamps do not decrease"
    self._punish(checkpointIndex, RULE_TIME_TRAVEL)


@external
@nonreentrant
def proveReplay(
    checkpointIndex: uint256,
    index: uint256,
    record: Bytes[352],
    proof: DynArray[bytes32, 64],
    laterIndex: uint256,
    laterRecord: Bytes[352],
    laterProof: DynArray[bytes32, 64],
):
    """
    @notice Rule 5: two signed records share (submitter, nonce); the later one is new.
    @param checkpointIndex Pending checkpoint that newly covers the later record.
    @param index Position of the earlier record.
    @param record The earlier record.
    @param proof Its inclusion proof in the checkpoint.
    @param laterIndex Position of the later record (> index).
    @param laterRecord The later record.
    @param laterProof Its inclusion proof in the checkpoint.
    """
    assert index < laterIndex, "rollup: records must be in log order"
    self._checkNewRecord(checkpointIndex, laterIndex, laterRecord, laterProof)
    self._checkIncluded(checkpointIndex, index, record, proof)
    assert extract32(record, 256, output_type=uint256) != 0 and extract32(laterRecord, 256, output_type=uint256) != 0, "rollup: both records must be signed"
    assert extract32(record, 192) == extract32(laterRecord, 192), "rollup: submitters differ"
    assert extract32(record, 224) == extract32(laterRecord, 224), "rollup: nonces differ"
    self._punish(checkpointIndex, RULE_REPLAY)


# --- broken receipts (DESIGN §6) ----------------------------------------------------------


@external
@nonreentrant
def proveReceiptMismatch(
    firstSeq: uint64,
    count: uint64,
    leavesRoot: bytes32,
    deadline: uint64,
    signature: Bytes[65],
    leafHash: bytes32,
    indexInBatch: uint64,
    batchPath: DynArray[bytes32, 64],
    checkpointIndex: uint256,
    otherRecord: Bytes[352],
    inclusionProof: DynArray[bytes32, 64],
):
    """
    @notice A sequencer-signed receipt promised `leafHash` at firstSeq+indexInBatch, but a
            non-reverted checkpoint holds a different record there. Slashes and freezes;
            a pending checkpoint is also reverted.
    @param firstSeq Receipt field.
    @param count Receipt field.
    @param leavesRoot Receipt field.
    @param deadline Receipt field.
    @param signature 65-byte r || s || v sequencer signature over the EIP-712 Receipt.
    @param leafHash The promised leaf hash.
    @param indexInBatch Its position in the receipt's batch.
    @param batchPath RFC 9162 inclusion proof of leafHash in the tree of `count` leaves.
    @param checkpointIndex A non-reverted checkpoint covering firstSeq+indexInBatch.
    @param otherRecord The record that checkpoint holds there.
    @param inclusionProof Its inclusion proof in the checkpoint.
    """
    digest: bytes32 = self._checkReceipt(firstSeq, count, leavesRoot, deadline, signature)
    # Verify the promised leaf is in the receipt's batch.
    assert indexInBatch < count, "rollup: index outside the batch"
    assert self._rootFromInclusion(leafHash, convert(indexInBatch, uint256), convert(count, uint256), batchPath) == leavesRoot, "rollup: batch path does not match leavesRoot"
    # Verify the checkpoint holds a different record at the promised position.
    status: uint8 = self._status(checkpointIndex)
    assert status != STATUS_NONE, "rollup: no such checkpoint"
    assert status != STATUS_REVERTED, "rollup: checkpoint is reverted"
    seq: uint256 = convert(firstSeq, uint256) + convert(indexInBatch, uint256)
    self._checkIncluded(checkpointIndex, seq, otherRecord, inclusionProof)
    assert keccak256(concat(b"\x00", otherRecord)) != leafHash, "rollup: record matches the receipt"
    self.receiptBroken[digest] = True
    if status == STATUS_PENDING:
        self._revertFrom(checkpointIndex)
    self._slashAndPay(checkpointIndex, RULE_RECEIPT_MISMATCH, 0)


@external
@nonreentrant
def proveReceiptDeadlineMissed(
    firstSeq: uint64,
    count: uint64,
    leavesRoot: bytes32,
    deadline: uint64,
    signature: Bytes[65],
    coveredCount: uint256,
):
    """
    @notice A sequencer-signed receipt's deadline passed and no non-reverted checkpoint
            committed at or before it covers [firstSeq, firstSeq+count). Slashes and freezes.
    @dev O(log n): the challenger names coveredCount, the number of checkpoints committed at
         or before the deadline; the contract checks that boundary against the two commit
         times around it, and that the largest non-reverted size among those is too small.
    @param firstSeq Receipt field.
    @param count Receipt field.
    @param leavesRoot Receipt field.
    @param deadline Receipt field (L1 seconds).
    @param signature 65-byte r || s || v sequencer signature over the EIP-712 Receipt.
    @param coveredCount Number of checkpoints with committedAt <= deadline.
    """
    digest: bytes32 = self._checkReceipt(firstSeq, count, leavesRoot, deadline, signature)
    assert block.timestamp > convert(deadline, uint256), "rollup: deadline not passed"
    total: uint256 = self._head & MASK64
    assert coveredCount <= total, "rollup: coveredCount above checkpointCount"
    dl: uint256 = convert(deadline, uint256)
    # Verify coveredCount is exactly the number of checkpoints committed by the deadline.
    if coveredCount > 0:
        assert (self._meta[coveredCount - 1] >> 64) & MASK64 <= dl, "rollup: checkpoint coveredCount-1 was committed after the deadline"
    if coveredCount < total:
        assert (self._meta[coveredCount] >> 64) & MASK64 > dl, "rollup: checkpoint coveredCount was committed by the deadline"
    covered: uint256 = 0
    if coveredCount > 0:
        covered = self._maxLiveSize(coveredCount - 1)
    assert covered < convert(firstSeq, uint256) + convert(count, uint256), "rollup: a checkpoint covered the receipt in time"
    self.receiptBroken[digest] = True
    self._slashAndPay(NO_INDEX, RULE_RECEIPT_DEADLINE, 0)


# --- data availability (DESIGN §5) --------------------------------------------------------


@external
@payable
def openDAChallenge(checkpointIndex: uint256, start: uint64, end: uint64) -> uint256:
    """
    @notice Bond challengerBond and demand the records [start, end) of a pending checkpoint.
    @param checkpointIndex A checkpoint whose challenge window is not over.
    @param start First record.
    @param end One past the last record; 0 < end - start <= maxDARange, end <= size.
    @return The challenge id.
    """
    assert msg.value == challengerBond, "rollup: value must equal the challenger bond"
    meta: uint256 = self._meta[checkpointIndex]
    assert meta != 0, "rollup: no such checkpoint"
    assert self._revertEntry(checkpointIndex) == 0, "rollup: checkpoint is reverted"
    assert block.timestamp < (meta >> 128) & MASK64, "rollup: challenge window is over"
    assert end > start, "rollup: empty range"
    assert convert(end - start, uint256) <= maxDARange, "rollup: range above maxDARange"
    assert convert(end, uint256) <= meta & MASK64, "rollup: range beyond the checkpoint size"
    cid: uint256 = self.daChallengeCount
    deadline: uint256 = block.timestamp + daResponseWindow
    self._daRange[cid] = (
        checkpointIndex
        | (convert(start, uint256) << 64)
        | (convert(end, uint256) << 128)
        | (deadline << 192)
    )
    self._daParty[cid] = convert(msg.sender, uint256) | (convert(DA_OPEN, uint256) << 160)
    self.daChallengeCount = cid + 1
    if self.daOpenCount == 0 or checkpointIndex < self._daHoldFrom:
        self._daHoldFrom = checkpointIndex
    self.daOpenCount += 1
    log DAChallengeOpened(
        challengeId=cid,
        checkpointIndex=checkpointIndex,
        challenger=msg.sender,
        start=start,
        end=end,
        deadline=convert(deadline, uint64),
    )
    return cid


@external
def revealRecords(
    challengeId: uint256, records: DynArray[Bytes[352], MAX_RANGE], proof: DynArray[bytes32, 96]
):
    """
    @notice Answer a DA challenge: the records of the range, with the boundary hashes that
            complete them to the checkpoint root (docs/contract.md, DA scheme). Anyone may
            answer; the challenger's bond is added to the sequencer's bond as compensation.
    @param challengeId The open challenge.
    @param records Records start .. end-1, each 352 bytes.
    @param proof Sibling hashes, bottom level first; per level the left one (if the range
           starts at an odd node) before the right one (if it ends at an even, non-last node).
    """
    c: DAChallenge = self._challenge(challengeId)
    assert c.state == DA_OPEN, "rollup: challenge is not open"
    assert block.timestamp <= convert(c.deadline, uint256), "rollup: response window is over"
    assert self._revertEntry(c.checkpointIndex) == 0, "rollup: checkpoint is reverted"
    start: uint256 = convert(c.start, uint256)
    end: uint256 = convert(c.end, uint256)
    assert len(records) == end - start, "rollup: wrong number of records"
    meta: uint256 = self._meta[c.checkpointIndex]
    root: bytes32 = self._rootFromRange(records, start, meta & MASK64, proof)
    assert root == self._roots[c.checkpointIndex], "rollup: records do not match the checkpoint root"
    self._setState(challengeId, c.challenger, DA_ANSWERED)
    self.daOpenCount -= 1
    self.bond += c.bond
    log RecordsRevealed(challengeId=challengeId, checkpointIndex=c.checkpointIndex, start=c.start, records=records)
    log DAChallengeResolved(challengeId=challengeId, outcome=DA_ANSWERED)


@external
@nonreentrant
def resolveDAChallenge(challengeId: uint256):
    """
    @notice After an unanswered challenge's deadline: revert the checkpoint (and later ones),
            slash, freeze, and pay the challenger its bond plus half the sequencer's bond.
            If the checkpoint was reverted meanwhile, only the challenger's bond is returned.
    @param challengeId The open challenge.
    """
    c: DAChallenge = self._challenge(challengeId)
    assert c.state == DA_OPEN, "rollup: challenge is not open"
    reverted: bool = self._revertEntry(c.checkpointIndex) != 0
    assert reverted or block.timestamp > convert(c.deadline, uint256), "rollup: response window not over"
    self.daOpenCount -= 1
    if reverted:
        self._setState(challengeId, c.challenger, DA_VOID)
        log DAChallengeResolved(challengeId=challengeId, outcome=DA_VOID)
        # Interaction last: state already closed, so re-entry finds nothing to pay.
        if c.bond > 0:
            raw_call(c.challenger, b"", value=c.bond)
        return
    self._setState(challengeId, c.challenger, DA_UPHELD)
    log DAChallengeResolved(challengeId=challengeId, outcome=DA_UPHELD)
    self._revertFrom(c.checkpointIndex)
    self._slashAndPayTo(c.checkpointIndex, RULE_DA_UNANSWERED, c.bond, c.challenger)


# --- internals: DA challenges --------------------------------------------------------------


@internal
@view
def _challenge(cid: uint256) -> DAChallenge:
    packed: uint256 = self._daRange[cid]
    party: uint256 = self._daParty[cid]
    bond: uint256 = 0
    if party != 0:
        bond = challengerBond
    return DAChallenge(
        checkpointIndex=packed & MASK64,
        start=convert((packed >> 64) & MASK64, uint64),
        end=convert((packed >> 128) & MASK64, uint64),
        deadline=convert(packed >> 192, uint64),
        state=convert((party >> 160) & 255, uint8),
        challenger=convert(convert(party & (2**160 - 1), uint160), address),
        bond=bond,
    )


@internal
def _setState(cid: uint256, challenger: address, state: uint8):
    self._daParty[cid] = convert(challenger, uint256) | (convert(state, uint256) << 160)


# --- internals: status --------------------------------------------------------------------


@internal
@view
def _revertEntry(index: uint256) -> uint256:
    # Binary search for the last interval starting at or before `index`; 0 = not reverted.
    n: uint256 = self._revertCount
    lo: uint256 = 0
    hi: uint256 = n
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        if self._reverts[mid] & MASK64 <= index:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return 0
    entry: uint256 = self._reverts[lo - 1]
    if index < (entry >> 64) & MASK64:
        return entry
    return 0


@internal
@view
def _status(index: uint256) -> uint8:
    meta: uint256 = self._meta[index]
    if meta == 0:
        return STATUS_NONE
    if self._revertEntry(index) != 0:
        return STATUS_REVERTED
    if block.timestamp >= (meta >> 128) & MASK64:
        if self.daOpenCount == 0 or self._daHoldFrom > index:
            return STATUS_FINAL
    return STATUS_PENDING


@internal
@view
def _maxLiveSize(index: uint256) -> uint256:
    # Largest size among non-reverted checkpoints 0..index: sizes strictly grow along the
    # non-reverted ones, so it is the size of the last non-reverted checkpoint <= index.
    entry: uint256 = self._revertEntry(index)
    if entry == 0:
        return self._meta[index] & MASK64
    prevPlus1: uint256 = (entry >> 128) & MASK64
    if prevPlus1 == 0:
        return 0
    return self._meta[prevPlus1 - 1] & MASK64


# --- internals: punishment ----------------------------------------------------------------


@internal
def _revertFrom(index: uint256):
    # Revert checkpoint `index` and every later one; index must be non-reverted.
    head: uint256 = self._head
    count: uint256 = head & MASK64
    n: uint256 = self._revertCount
    # Intervals starting after `index` are inside [index, count): drop them.
    for _: uint256 in range(2**32):
        if n == 0 or self._reverts[n - 1] & MASK64 < index:
            break
        n -= 1
    prevPlus1: uint256 = index
    if n > 0:
        top: uint256 = self._reverts[n - 1]
        if (top >> 64) & MASK64 == index:
            # index-1 is itself reverted: inherit the interval's last live checkpoint.
            prevPlus1 = (top >> 128) & MASK64
    self._reverts[n] = index | (count << 64) | (prevPlus1 << 128)
    self._revertCount = n + 1
    newLastSize: uint256 = 0
    if prevPlus1 != 0:
        newLastSize = self._meta[prevPlus1 - 1] & MASK64
    self._head = count | (prevPlus1 << 64) | (newLastSize << 128)
    log CheckpointsReverted(fromIndex=index, toIndex=count, lastSize=newLastSize)


@internal
def _slashAndPayTo(checkpointIndex: uint256, rule: uint8, extra: uint256, to: address):
    # Effects first (bond zeroed, frozen set, events logged), the payout is the last step:
    # a re-entrant call finds nothing left to slash, and every caller is @nonreentrant.
    amount: uint256 = self.bond
    reward: uint256 = amount // 2
    self.bond = 0
    self.burned += amount - reward
    self.frozen = True
    log BondSlashed(amount=amount, reward=reward, burned=amount - reward)
    log FraudProven(checkpointIndex=checkpointIndex, rule=rule, challenger=to, reward=reward)
    log Frozen(rule=rule)
    if reward + extra > 0:
        raw_call(to, b"", value=reward + extra)


@internal
def _slashAndPay(checkpointIndex: uint256, rule: uint8, extra: uint256):
    self._slashAndPayTo(checkpointIndex, rule, extra, msg.sender)


@internal
def _punish(checkpointIndex: uint256, rule: uint8):
    self._revertFrom(checkpointIndex)
    self._slashAndPay(checkpointIndex, rule, 0)


# --- internals: records and proofs --------------------------------------------------------


@internal
@view
def _checkIncluded(checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]):
    meta: uint256 = self._meta[checkpointIndex]
    assert meta != 0, "rollup: no such checkpoint"
    assert len(record) == 352, "rollup: record must be 352 bytes"
    assert index < meta & MASK64, "rollup: record index outside the checkpoint"
    leaf: bytes32 = keccak256(concat(b"\x00", record))
    assert self._rootFromInclusion(leaf, index, meta & MASK64, proof) == self._roots[checkpointIndex], "rollup: inclusion proof does not match the checkpoint root"


@internal
@view
def _checkNewRecord(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
) -> uint256:
    # Verify the checkpoint is pending and is the first live one covering `index`.
    meta: uint256 = self._meta[checkpointIndex]
    assert meta != 0, "rollup: no such checkpoint"
    assert self._status(checkpointIndex) == STATUS_PENDING, "rollup: checkpoint is not pending"
    assert index >= meta >> 200, "rollup: record not new in this checkpoint"
    self._checkIncluded(checkpointIndex, index, record, proof)
    return meta


@internal
@pure
def _rootFromInclusion(leaf: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, 64]) -> bytes32:
    # RFC 9162 §2.1.3.2 steps 1-5 (the caller compares the result with the root). Step 1,
    # index < size, is checked by every caller with its own message.
    fn: uint256 = index
    sn: uint256 = size - 1
    r: bytes32 = leaf
    for p: bytes32 in proof:
        assert sn != 0, "rollup: inclusion proof too long"
        if fn & 1 == 1 or fn == sn:
            r = keccak256(concat(b"\x01", p, r))
            if fn & 1 == 0:
                for _: uint256 in range(64):
                    if fn == 0 or fn & 1 == 1:
                        break
                    fn = fn >> 1
                    sn = sn >> 1
        else:
            r = keccak256(concat(b"\x01", r, p))
        fn = fn >> 1
        sn = sn >> 1
    assert sn == 0, "rollup: inclusion proof too short"
    return r


@internal
@pure
def _verifyConsistency(
    first: uint256, second: uint256, firstRoot: bytes32, secondRoot: bytes32, proof: DynArray[bytes32, 96]
):
    # RFC 9162 §2.1.4.2 for 0 < first < second (commit guarantees both).
    assert len(proof) != 0, "rollup: consistency proof is empty"
    fr: bytes32 = empty(bytes32)
    nextItem: uint256 = 0
    # Step 2: when first is an exact power of two the verifier already knows its root.
    if first & (first - 1) == 0:
        fr = firstRoot
    else:
        fr = proof[0]
        nextItem = 1
    sr: bytes32 = fr
    fn: uint256 = first - 1
    sn: uint256 = second - 1
    for _: uint256 in range(64):
        if fn & 1 == 0:
            break
        fn = fn >> 1
        sn = sn >> 1
    for i: uint256 in range(nextItem, len(proof), bound=96):
        c: bytes32 = proof[i]
        assert sn != 0, "rollup: consistency proof too long"
        if fn & 1 == 1 or fn == sn:
            fr = keccak256(concat(b"\x01", c, fr))
            sr = keccak256(concat(b"\x01", c, sr))
            if fn & 1 == 0:
                for _: uint256 in range(64):
                    if fn == 0 or fn & 1 == 1:
                        break
                    fn = fn >> 1
                    sn = sn >> 1
        else:
            sr = keccak256(concat(b"\x01", sr, c))
        fn = fn >> 1
        sn = sn >> 1
    # Step 6: both roots reproduced and the walk reached the top.
    assert sn == 0, "rollup: consistency proof too short"
    assert fr == firstRoot, "rollup: proof does not reproduce the previous root"
    assert sr == secondRoot, "rollup: proof does not reproduce the new root"


@internal
@pure
def _rootFromRange(
    records: DynArray[Bytes[352], MAX_RANGE], start: uint256, size: uint256, proof: DynArray[bytes32, 96]
) -> bytes32:
    # Fold the leaves of [start, start+len) level by level up to the root. RFC 9162's tree
    # equals the bottom-up tree where a level's lone last node is promoted unchanged, so at
    # each level only the range's two boundary siblings are missing: they come from `proof`.
    layer: bytes32[MAX_RANGE] = empty(bytes32[MAX_RANGE])
    n: uint256 = len(records)
    for i: uint256 in range(n, bound=MAX_RANGE):
        assert len(records[i]) == 352, "rollup: record must be 352 bytes"
        layer[i] = keccak256(concat(b"\x00", records[i]))
    lo: uint256 = start
    width: uint256 = size
    used: uint256 = 0
    for _: uint256 in range(64):
        if width == 1:
            break
        hi: uint256 = lo + n - 1
        left: bytes32 = empty(bytes32)
        right: bytes32 = empty(bytes32)
        extLo: uint256 = lo
        extHi: uint256 = hi
        if lo & 1 == 1:
            assert used < len(proof), "rollup: range proof too short"
            left = proof[used]
            used += 1
            extLo = lo - 1
        if hi & 1 == 0 and hi + 1 < width:
            assert used < len(proof), "rollup: range proof too short"
            right = proof[used]
            used += 1
            extHi = hi + 1
        # New node j covers children 2j and 2j+1; children are read before slot j-first is
        # overwritten because 2j-1 >= j - first for every j written after the first.
        first: uint256 = extLo >> 1
        m: uint256 = (extHi >> 1) - first + 1
        for k: uint256 in range(m, bound=MAX_RANGE):
            a: uint256 = 2 * (first + k)
            la: bytes32 = empty(bytes32)
            if a < lo:
                la = left
            else:
                la = layer[a - lo]
            if a + 1 > extHi:
                layer[k] = la  # lone last node: promoted unchanged
            else:
                rb: bytes32 = empty(bytes32)
                if a + 1 > hi:
                    rb = right
                else:
                    rb = layer[a + 1 - lo]
                layer[k] = keccak256(concat(b"\x01", la, rb))
        lo = first
        n = m
        width = (width + 1) >> 1
    assert used == len(proof), "rollup: range proof too long"
    return layer[0]


# --- internals: signatures ----------------------------------------------------------------


@internal
@view
def _domainSeparator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@internal
@view
def _signatureValid(record: Bytes[352]) -> bool:
    # DESIGN §3 / §5 rule 2.
    v: uint256 = extract32(record, 256, output_type=uint256)
    r: uint256 = extract32(record, 288, output_type=uint256)
    s: uint256 = extract32(record, 320, output_type=uint256)
    if v == 0:
        return r == 0 and s == 0
    if v != 27 and v != 28:
        return False
    if s > HALF_N:
        return False
    structHash: bytes32 = keccak256(
        concat(
            EVENT_TYPEHASH,
            extract32(record, 64),
            extract32(record, 96),
            extract32(record, 128),
            extract32(record, 160),
            extract32(record, 224),
        )
    )
    digest: bytes32 = keccak256(concat(b"\x19\x01", self._domainSeparator(), structHash))
    signer: address = ecrecover(digest, v, r, s)
    if signer == empty(address):
        return False
    return convert(signer, uint256) == extract32(record, 192, output_type=uint256)


@internal
@pure
def _wellFormed(record: Bytes[352]) -> bool:
    # Words must fit their ABI types (DESIGN §3); seq is rule 1's business.
    if extract32(record, 32, output_type=uint256) > MASK64:
        return False
    if extract32(record, 192, output_type=uint256) >= 2**160:
        return False
    if extract32(record, 224, output_type=uint256) > MASK64:
        return False
    if extract32(record, 256, output_type=uint256) > 255:
        return False
    # kind: [a-z0-9_.-]{1,32} then zero padding.
    kind: uint256 = extract32(record, 64, output_type=uint256)
    if kind >> 248 == 0:
        return False
    ended: bool = False
    for i: uint256 in range(32):
        ch: uint256 = (kind >> (248 - 8 * i)) & 255
        if ch == 0:
            ended = True
        elif ended:
            return False
        elif not (
            (ch >= 97 and ch <= 122) or (ch >= 48 and ch <= 57) or ch == 95 or ch == 46 or ch == 45
        ):
            return False
    return True


@internal
@view
def _checkReceipt(
    firstSeq: uint64, count: uint64, leavesRoot: bytes32, deadline: uint64, signature: Bytes[65]
) -> bytes32:
    # Verify the sequencer signed this Receipt (DESIGN §6) and it was not used before.
    assert count > 0, "rollup: receipt covers no records"
    assert len(signature) == 65, "rollup: signature must be 65 bytes"
    structHash: bytes32 = keccak256(abi_encode(RECEIPT_TYPEHASH, firstSeq, count, leavesRoot, deadline))
    digest: bytes32 = keccak256(concat(b"\x19\x01", self._domainSeparator(), structHash))
    assert not self.receiptBroken[digest], "rollup: receipt already proven broken"
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "rollup: receipt signature v must be 27 or 28"
    assert s <= HALF_N, "rollup: receipt signature s is high"
    assert ecrecover(digest, v, r, s) == sequencer, "rollup: receipt not signed by the sequencer"
    return digest
