#pragma version 0.4.3
#pragma optimize codesize
"""
@title attest-rollup L1 contract (v2)
@license Apache-2.0
@notice Checkpoints of an RFC 9162 keccak256 Merkle log (DESIGN §4), one-step fraud proofs
        for the validity rules of DESIGN §5, broken-receipt proofs (DESIGN §6) and a bounded
        data-availability game. v2 (DESIGN §9, issue 10): payouts are credited and pulled with
        `claim`; any proven fraud or broken promise reverts every pending checkpoint, slashes
        the bond of the current epoch and freezes commits until the owner recovers; rule 4b is
        judged against the timestamp bound each commit declares; DA bonds are priced by the
        cost of answering and every reveal leaves a post-reveal fraud window. The pure checks
        live in `RollupVerifier.vy`. See docs/contract.md for the guarantees and their bounds.
"""

# --- interfaces ---------------------------------------------------------------------------

interface Verifier:
    def rootFromInclusion(leaf: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, 64]) -> bytes32: pure
    def rootFromLeaves(leaves: DynArray[bytes32, 256], start: uint256, size: uint256, proof: DynArray[bytes32, 96]) -> bytes32: pure
    def signatureValid(record: Bytes[352], domainSeparator: bytes32) -> bool: view
    def recordAuthentic(record: Bytes[352], domainSeparator: bytes32, index: uint256, checkpointIndex: uint256) -> bool: view
    def wellFormed(record: Bytes[352]) -> bool: pure
    def verifyConsistency(first: uint256, second: uint256, firstRoot: bytes32, secondRoot: bytes32, proof: DynArray[bytes32, 96]) -> bool: pure
    def receiptSigner(domainSeparator: bytes32, firstSeq: uint64, count: uint64, leavesRoot: bytes32, deadline: uint64, signature: Bytes[65]) -> (bytes32, address): pure
    def includes(root: bytes32, size: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]) -> bool: pure
    def forcedEntryHash(kind: bytes32, subject: bytes32, digest: bytes32, metaHash: bytes32, poster: address, index: uint256, postedAt: uint256, inboxHash: bytes32) -> (bytes32, bytes32): pure
    def forcedSeqs(root: bytes32, size: uint256, minSeq: uint256, first: uint256, forced: Bytes[FORCED_BYTES]) -> DynArray[uint256, MAX_FORCED_PER_COMMIT]: view

# --- constants ----------------------------------------------------------------------------

# Largest tree size (DESIGN §4: at least 2**52; 2**52 records is 1,800 years at 77,700/s).
MAX_TREE_SIZE: constant(uint256) = 2**52
MASK32: constant(uint256) = 2**32 - 1
MASK48: constant(uint256) = 2**48 - 1
MASK56: constant(uint256) = 2**56 - 1
MASK64: constant(uint256) = 2**64 - 1
NO_INDEX: constant(uint256) = max_value(uint256)
# A DA challenge names at most this many records (DESIGN §4: B = 256).
MAX_RANGE: constant(uint256) = 256
# Hold entries tracked one by one (docs/contract.md, "Finality holds"); beyond, they merge.
HOLD_SLOTS: constant(uint256) = 16
# Smallest challenge window the constructor accepts (seconds).
MIN_CHALLENGE_WINDOW: constant(uint256) = 10
# What answering a DA challenge on n records costs in gas, calldata included: the larger of
# its execution-bound and its EIP-7623-floor-bound costs, fitted just below the gas measured
# at 2**52 leaves with typical records (tests/l1_contracts/test_da_economics.py).
REVEAL_EXEC_BASE: constant(uint256) = 225000
REVEAL_EXEC_PER_RECORD: constant(uint256) = 4500
REVEAL_FLOOR_BASE: constant(uint256) = 80000
REVEAL_FLOOR_PER_RECORD: constant(uint256) = 7500
# A DA bond covers answering at up to this multiple of the basefee at opening.
DA_BOND_BASEFEE_MULTIPLE: constant(uint256) = 2

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
NAME_HASH: constant(bytes32) = keccak256("attest-rollup")
VERSION_HASH: constant(bytes32) = keccak256("1")

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

# Forced inclusion (docs/spec.md §7.3): v = 1 marks a forced record. A commit proves at most
# MAX_FORCED_PER_COMMIT, encoded in at most FORCED_BYTES (per record: 352 bytes, a word L <= 64
# and L proof hashes): 38 KiB of calldata at most, about 1.4M gas at 2**52, and a memory bound
# small enough that a commit with one forced record costs less than the fee pays for (twice
# FORCED_INCLUSION_GAS at the posting block's basefee).
FORCED_V: constant(uint256) = 1
MAX_FORCED_PER_COMMIT: constant(uint256) = 16
FORCED_BYTES: constant(uint256) = MAX_FORCED_PER_COMMIT * (352 + 32 + 64 * 32)
FORCED_INCLUSION_GAS: constant(uint256) = 60000

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

event Credited:
    account: indexed(address)
    amount: uint256
    total: uint256

event Claimed:
    account: indexed(address)
    amount: uint256

event CheckpointCommitted:
    index: indexed(uint256)
    size: uint64
    root: bytes32
    committedAt: uint64
    challengeEnds: uint64
    timestampBound: uint64

event CheckpointsReverted:
    fromIndex: indexed(uint256)
    toIndex: uint256
    lastSize: uint256

event FraudProven:
    checkpointIndex: indexed(uint256)
    rule: indexed(uint8)
    challenger: indexed(address)
    reward: uint256
    refund: uint256

event BondSlashed:
    amount: uint256
    reward: uint256
    burned: uint256

event Frozen:
    rule: uint8
    epoch: uint256

event ForcedPosted:
    index: indexed(uint256)
    poster: indexed(address)
    kind: bytes32
    subject: bytes32
    digest: bytes32
    metaHash: bytes32
    postedAt: uint64
    inboxHash: bytes32

event Recovered:
    owner: indexed(address)
    bond: uint256
    epoch: uint256

event OwnershipTransferStarted:
    previousOwner: indexed(address)
    newOwner: indexed(address)

event OwnershipTransferred:
    previousOwner: indexed(address)
    newOwner: indexed(address)

event DAChallengeOpened:
    challengeId: indexed(uint256)
    checkpointIndex: indexed(uint256)
    challenger: indexed(address)
    start: uint64
    end: uint64
    deadline: uint64
    bond: uint256

event RecordsRevealed:
    challengeId: indexed(uint256)
    checkpointIndex: indexed(uint256)
    start: uint64
    end: uint64
    compensation: uint256

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

verifier: public(immutable(address))
sequencer: public(immutable(address))
challengeWindow: public(immutable(uint256))
daResponseWindow: public(immutable(uint256))
postRevealWindow: public(immutable(uint256))
minBond: public(immutable(uint256))
challengerBond: public(immutable(uint256))
maxDARange: public(immutable(uint256))
exitDelay: public(immutable(uint256))
receiptHorizon: public(immutable(uint256))
eip712Contract: public(immutable(address))

owner: public(address)
pendingOwner: public(address)

bond: public(uint256)
# Slashed wei that was not credited to a challenger stays locked here forever.
burned: public(uint256)
# Wei owed to each account, paid out by claim() (pull payments: no transfer can make a
# resolution, a proof or a withdrawal revert).
credits: public(HashMap[address, uint256])
frozen: public(bool)
frozenAt: public(uint256)
# Epoch e runs from the e-th recover() (epochStart; 0 at deployment) to the next freeze; a
# receipt is claimable only against the bond of the epoch its deadline falls in.
epoch: public(uint256)
epochStart: public(uint256)
exitRequestedAt: public(uint256)

# One word per checkpoint, packed by hand (Vyper does not pack struct members):
#   bits   0..55  size             bits 112..159 committedAt (seconds)
#   bits  56..111 prevSize         bits 160..207 timestampBound (ms)
#   bits 208..255 forced entries included by it and the live checkpoints before it
# prevSize is the size of the previous non-reverted checkpoint when this one was committed:
# records at seq >= prevSize are "new" here. challengeEnds = committedAt + challengeWindow.
_meta: HashMap[uint256, uint256]
_roots: HashMap[uint256, bytes32]
# count (0..47) | index of the latest non-reverted checkpoint + 1 (48..95) | its size (96..151)
# | forced entries it included (152..199) | deadline of the first entry it did not, 0 when
# every posted one is included (200..247): a commit learns "nothing overdue" from this word.
_head: uint256

# Forced-inclusion inbox (docs/spec.md §7.3): entry j's hash of forced-record words 2..10, and
#   inboxAt[j]: deadline = postedAt + forceInclusionWindow (0..47) | including seq + 1 (48..111) | including checkpoint + 1 (112..175)
inbox: public(HashMap[uint256, bytes32])
inboxAt: public(HashMap[uint256, uint256])
inboxCount: public(uint256)
inboxHash: public(bytes32)
forceInclusionWindow: public(uint256)

# Reverted checkpoints form disjoint sorted intervals [from, to) on a stack; a revert at j
# drops every interval starting at or after j and pushes [j, count) (merged with an interval
# that touches j), so reverts are O(1) amortised and a lookup is a binary search.
#   from (0..63) | to (64..127) | index of the last non-reverted checkpoint before from, + 1 (128..191)
_reverts: HashMap[uint256, uint256]
_revertCount: uint256

# DA challenges. daOpenCount counts open ones; each open or recently answered challenge holds
# its checkpoint and every later one pending through a hold slot:
#   _holds[i]: checkpointIndex (0..63) | until (64..127) | open (128..159) | generation (160..223)
# A slot holds while open > 0 or until > now; bit i of _holdMask says slot i is in use.
daOpenCount: public(uint256)
daChallengeCount: public(uint256)
_holds: HashMap[uint256, uint256]
_holdMask: uint256
# A challenge in two words:
#   _daRange[id]: checkpointIndex (0..47) | start (48..103) | end (104..159) | deadline (160..207) | slot generation (208..255)
#   _daParty[id]: challenger (0..159) | state (160..167) | slot (168..175) | bond (176..255)
_daRange: HashMap[uint256, uint256]
_daParty: HashMap[uint256, uint256]
# (checkpointIndex << 64 | chunk) -> already challenged: a range is challenged at most once.
_daChunkTaken: HashMap[uint256, bool]

# Receipts already proven broken (by EIP-712 digest).
receiptBroken: public(HashMap[bytes32, bool])


@deploy
def __init__(
    _verifier: address,
    _sequencer: address,
    _challengeWindow: uint256,
    _daResponseWindow: uint256,
    _postRevealWindow: uint256,
    _minBond: uint256,
    _maxDARange: uint256,
    _challengerBond: uint256,
    _receiptHorizon: uint256,
    _eip712Contract: address,
    _forceInclusionWindow: uint256,
):
    """
    @notice Deploy the rollup; the deployer becomes the owner (operator).
    @param _verifier The deployed RollupVerifier.
    @param _sequencer The only address allowed to bond and commit checkpoints.
    @param _challengeWindow Seconds a checkpoint stays pending (DESIGN §4: W), at least 10.
    @param _daResponseWindow Seconds the sequencer has to answer a DA challenge (D >= 1).
    @param _postRevealWindow Seconds a reveal keeps its checkpoint pending (P >= 1); D + P < W.
    @param _minBond Minimum bond (wei) for committing, positive.
    @param _maxDARange Records per DA chunk, 1..256.
    @param _challengerBond Smallest DA bond (wei), positive; the bond is priced above it.
    @param _receiptHorizon Longest time (s) from issuing a receipt to its deadline; recover()
           waits this long after a freeze, so no receipt of a settled epoch reaches the next.
    @param _eip712Contract verifyingContract of the EIP-712 domain; zero for this contract
           (a successor contract names its predecessor so signed events stay valid).
    @param _forceInclusionWindow Seconds from posting a forced event to its inclusion deadline.
    """
    assert _verifier.is_contract, "rollup: verifier has no code"
    assert _sequencer != empty(address), "rollup: sequencer is the zero address"
    assert _challengeWindow >= MIN_CHALLENGE_WINDOW, "rollup: challenge window below 10 s"
    assert _challengeWindow < 2**32, "rollup: window too long"
    assert _daResponseWindow > 0, "rollup: DA response window must be positive"
    assert _postRevealWindow > 0, "rollup: post-reveal window must be positive"
    assert _daResponseWindow + _postRevealWindow < _challengeWindow, "rollup: DA response plus post-reveal window must be below the challenge window"
    assert _minBond > 0, "rollup: minimum bond must be positive"
    assert _maxDARange > 0 and _maxDARange <= MAX_RANGE, "rollup: max DA range must be in [1, 256]"
    assert _challengerBond > 0, "rollup: challenger bond must be positive"
    assert _challengerBond < 2**80, "rollup: challenger bond too large"
    assert _receiptHorizon > 0 and _receiptHorizon < 2**32, "rollup: receipt horizon must be in [1, 2**32)"
    assert _forceInclusionWindow > 0 and _forceInclusionWindow < 2**32, "rollup: force inclusion window must be in [1, 2**32)"
    self.forceInclusionWindow = _forceInclusionWindow
    self.owner = msg.sender
    verifier = _verifier
    sequencer = _sequencer
    challengeWindow = _challengeWindow
    daResponseWindow = _daResponseWindow
    postRevealWindow = _postRevealWindow
    minBond = _minBond
    maxDARange = _maxDARange
    challengerBond = _challengerBond
    receiptHorizon = _receiptHorizon
    domainContract: address = _eip712Contract
    if domainContract == empty(address):
        domainContract = self
    eip712Contract = domainContract
    # A bond cannot leave before every checkpoint it backs is final, answered challenges
    # included (withdraw also checks the latest live checkpoint is final), nor before every
    # receipt issued until the exit request is past its deadline with time left to prove it.
    exitDelay = _challengeWindow + _daResponseWindow + _postRevealWindow + _receiptHorizon


# --- ownership (two-step, as snekmate's ownable_2step) ------------------------------------


@external
def transferOwnership(newOwner: address):
    """
    @notice Start moving ownership to `newOwner`, who must call acceptOwnership().
    @param newOwner The proposed owner; the zero address cancels a pending transfer.
    """
    self._onlyOwner()
    self.pendingOwner = newOwner
    log OwnershipTransferStarted(previousOwner=msg.sender, newOwner=newOwner)


@external
def acceptOwnership():
    """
    @notice The pending owner takes ownership.
    """
    assert msg.sender == self.pendingOwner, "rollup: caller is not the pending owner"
    previous: address = self.owner
    self.owner = msg.sender
    self.pendingOwner = empty(address)
    log OwnershipTransferred(previousOwner=previous, newOwner=msg.sender)


# --- bond and payouts ---------------------------------------------------------------------


@external
@payable
def deposit():
    """
    @notice Add msg.value to the sequencer's bond.
    """
    self._onlySequencer()
    assert msg.value > 0, "rollup: deposit must be positive"
    self.bond += msg.value
    log BondDeposited(sequencer=msg.sender, amount=msg.value, total=self.bond)


@external
def requestExit():
    """
    @notice Start the exit delay; no commits are accepted afterwards.
    """
    self._onlySequencer()
    assert self.exitRequestedAt == 0, "rollup: exit already requested"
    self.exitRequestedAt = block.timestamp
    log ExitRequested(sequencer=msg.sender, withdrawableAt=block.timestamp + exitDelay)


@external
def withdraw():
    """
    @notice Credit the whole bond to the sequencer (then claim()) after the exit delay, when
            the latest live checkpoint is final or, while frozen, when the bond is a post-freeze
            re-bond (a freeze reverted every pending checkpoint, so it backs nothing).
    """
    self._onlySequencer()
    requested: uint256 = self.exitRequestedAt
    assert requested != 0, "rollup: no exit requested"
    assert block.timestamp >= requested + exitDelay, "rollup: exit delay not over"
    if not self.frozen:
        last: uint256 = (self._head >> 48) & MASK48
        if last != 0:
            assert self._status(last - 1) == STATUS_FINAL, "rollup: a checkpoint is still pending"
    amount: uint256 = self.bond
    self.bond = 0
    self.exitRequestedAt = 0
    self._credit(sequencer, amount)
    log BondWithdrawn(sequencer=sequencer, amount=amount)


@external
@nonreentrant
def claim():
    """
    @notice Pay the caller everything credited to it (rewards, refunds, a withdrawn bond).
    """
    amount: uint256 = self.credits[msg.sender]
    assert amount > 0, "rollup: nothing to claim"
    # Effects before the interaction: a re-entrant call finds nothing to claim.
    self.credits[msg.sender] = 0
    log Claimed(account=msg.sender, amount=amount)
    ok: bool = raw_call(msg.sender, b"", value=amount, revert_on_failure=False)
    assert ok, "rollup: transfer failed"


@external
def recover():
    """
    @notice Owner lifts the freeze and starts a new epoch, once the sequencer has re-bonded
            to minBond and receiptHorizon has passed since the freeze (every receipt of the
            settled epoch is then past its deadline and can never be claimed again).
    """
    self._onlyOwner()
    assert self.frozen, "rollup: not frozen"
    assert self.bond >= minBond, "rollup: sequencer has not re-bonded"
    assert block.timestamp >= self.frozenAt + receiptHorizon, "rollup: receipt horizon not over"
    self.frozen = False
    self.epoch += 1
    self.epochStart = block.timestamp
    log Recovered(owner=msg.sender, bond=self.bond, epoch=self.epoch)


# --- commit -------------------------------------------------------------------------------


@external
def commit(size: uint64, root: bytes32, consistencyProof: DynArray[bytes32, 96], timestampBound: uint64):
    """
    @notice Commit checkpoint (size, root), proven by an RFC 9162 §2.1.4 consistency proof
            to extend the latest non-reverted checkpoint (none: the proof must be empty).
            Refused while an inbox entry is overdue (docs/spec.md §7.3): see commitForced.
    @param size Tree size, larger than the previous one and at most 2**52.
    @param root keccak256 RFC 9162 root of the tree of `size` leaves.
    @param consistencyProof Proof from the previous checkpoint's tree to this one.
    @param timestampBound No record new in this checkpoint is stamped later (ms); must not be
           after this block's time, else the commit reverts (rule 4b is judged against it).
    """
    self._commitChecks(size, timestampBound)
    self._commit(size, root, consistencyProof, timestampBound, empty(DynArray[uint256, MAX_FORCED_PER_COMMIT]))


@external
def commitForced(
    size: uint64,
    root: bytes32,
    consistencyProof: DynArray[bytes32, 96],
    timestampBound: uint64,
    forced: Bytes[FORCED_BYTES],
):
    """
    @notice commit, also proving the forced records this checkpoint newly includes, in inbox
            order from forcedIncluded() (docs/spec.md §7.3).
    @param size As commit.
    @param root As commit.
    @param consistencyProof As commit.
    @param timestampBound As commit.
    @param forced Per forced record: the record, a word L, then the L hashes of its inclusion
           proof in (size, root).
    """
    self._commitChecks(size, timestampBound)
    head: uint256 = self._head
    # The verifier checks each is the next inbox entry, new here, after the previous one, and
    # in the new tree; _commit records them.
    seqs: DynArray[uint256, MAX_FORCED_PER_COMMIT] = staticcall Verifier(verifier).forcedSeqs(root, convert(size, uint256), (head >> 96) & MASK56, (head >> 152) & MASK48, forced)
    self._commit(size, root, consistencyProof, timestampBound, seqs)


@internal
@view
def _commitChecks(size: uint64, timestampBound: uint64):
    """
    @dev commit's refusals that come before any proof (caller, state, bond, bound, size), in
         commit and commitForced alike.
    """
    self._onlySequencer()
    self._checkLive()
    assert self.bond >= minBond, "rollup: bond below minimum"
    # Verify the declared bound is not in the future: an early block reverts the commit
    # instead of making it slashable (issue 10, finding 6).
    assert convert(timestampBound, uint256) <= block.timestamp * 1000, "rollup: timestamp bound is after the block time"
    assert convert(size, uint256) <= MAX_TREE_SIZE, "rollup: size above 2**52"
    assert convert(size, uint256) > (self._head >> 96) & MASK56, "rollup: size must grow"


@internal
def _commit(size: uint64, root: bytes32, consistencyProof: DynArray[bytes32, 96], timestampBound: uint64, seqs: DynArray[uint256, MAX_FORCED_PER_COMMIT]):
    """
    @dev commit and commitForced after _commitChecks: `seqs` are the seqs of the forced
         records the verifier accepted, for inbox entries forcedIncluded() onwards.
    """
    bound: uint256 = convert(timestampBound, uint256)
    newSize: uint256 = convert(size, uint256)
    head: uint256 = self._head
    count: uint256 = head & MASK48
    lastPlus1: uint256 = (head >> 48) & MASK48
    lastSize: uint256 = (head >> 96) & MASK56
    if lastPlus1 == 0:
        # Every tree extends the empty one (RFC 9162 §2.1.4): nothing to prove.
        assert len(consistencyProof) == 0, "rollup: proof from the empty tree must be empty"
    else:
        # The verifier reverts with the reason on a proof that does not hold.
        assert staticcall Verifier(verifier).verifyConsistency(lastSize, newSize, self._roots[lastPlus1 - 1], root, consistencyProof)
    # Record the forced records the verifier accepted; then no later entry may be overdue
    # unless the batch was full. Without forced records only _head is read.
    included: uint256 = (head >> 152) & MASK48
    nextDeadline: uint256 = head >> 200
    if len(seqs) > 0:
        for seq: uint256 in seqs:
            self.inboxAt[included] = (self.inboxAt[included] & MASK48) | (unsafe_add(seq, 1) << 48) | (unsafe_add(count, 1) << 112)
            included = unsafe_add(included, 1)
        # 0 when entry `included` was never posted.
        nextDeadline = self.inboxAt[included] & MASK48
    assert nextDeadline == 0 or nextDeadline > block.timestamp or len(seqs) == MAX_FORCED_PER_COMMIT, "rollup: forced event overdue"
    self._meta[count] = newSize | (lastSize << 56) | (block.timestamp << 112) | (bound << 160) | (included << 208)
    self._roots[count] = root
    self._head = (count + 1) | ((count + 1) << 48) | (newSize << 96) | (included << 152) | (nextDeadline << 200)
    log CheckpointCommitted(
        index=count,
        size=size,
        root=root,
        committedAt=convert(block.timestamp, uint64),
        challengeEnds=convert(block.timestamp + challengeWindow, uint64),
        timestampBound=timestampBound,
    )


# --- forced inclusion (docs/spec.md §7.3) -------------------------------------------------


@external
@payable
def postForced(kind: bytes32, subject: bytes32, digest: bytes32, metaHash: bytes32) -> uint256:
    """
    @notice Post an event the sequencer must log within forceInclusionWindow, as a forced
            record (v = 1) whose submitter is the caller. msg.value (at least forcedFee()) is
            added to the sequencer's bond.
    @param kind Well-formed kind (docs/spec.md §3).
    @param subject Event subject.
    @param digest Event digest.
    @param metaHash keccak256 of the RFC 8785 meta, or zero.
    @return The entry's inbox index.
    """
    self._checkLive()
    assert msg.value >= self._forcedFee(), "rollup: value below the fee"
    j: uint256 = self.inboxCount
    entry: bytes32 = empty(bytes32)
    running: bytes32 = empty(bytes32)
    entry, running = staticcall Verifier(verifier).forcedEntryHash(kind, subject, digest, metaHash, msg.sender, j, block.timestamp, self.inboxHash)
    deadline: uint256 = block.timestamp + self.forceInclusionWindow
    self.inbox[j] = entry
    self.inboxAt[j] = deadline
    self.inboxHash = running
    self.inboxCount = j + 1
    head: uint256 = self._head
    if head >> 200 == 0:
        # Every earlier entry is included: this one is the next the commits must meet.
        self._head = head | (deadline << 200)
    self.bond = unsafe_add(self.bond, msg.value)
    log ForcedPosted(index=j, poster=msg.sender, kind=kind, subject=subject, digest=digest, metaHash=metaHash, postedAt=convert(block.timestamp, uint64), inboxHash=running)
    return j


@external
@view
def forcedFee() -> uint256:
    """
    @notice The fee postForced needs in this block.
    @return Wei.
    """
    return self._forcedFee()


@external
@view
def forcedIncluded() -> uint256:
    """
    @notice Forced events included by the latest non-reverted checkpoint (a prefix of the inbox).
    @return The count.
    """
    return (self._head >> 152) & MASK48


@internal
@view
def _forcedFee() -> uint256:
    """
    @dev What including one forced event costs at twice this block's basefee (at least 1 wei/gas).
    """
    return max(FORCED_INCLUSION_GAS, unsafe_mul(DA_BOND_BASEFEE_MULTIPLE * FORCED_INCLUSION_GAS, block.basefee))


# --- read interface (DESIGN §4, fixed) ----------------------------------------------------


@external
@view
def checkpointCount() -> uint256:
    """
    @notice Number of checkpoints ever committed (reverted ones included).
    @return The count.
    """
    return self._head & MASK48


@external
@view
def checkpoints(index: uint256) -> (uint64, bytes32, uint64, uint64, uint8):
    """
    @notice One checkpoint: (size, root, committedAt, challengeEnds, status), status
            0 none, 1 pending, 2 final, 3 reverted, computed at the current block time.
    @param index Checkpoint index; past the end returns all zeros (status none).
    @return (size, root, committedAt, challengeEnds, status).
    """
    meta: uint256 = self._meta[index]
    if meta == 0:
        return 0, empty(bytes32), 0, 0, STATUS_NONE
    committedAt: uint256 = (meta >> 112) & MASK48
    return (
        convert(meta & MASK56, uint64),
        self._roots[index],
        convert(committedAt, uint64),
        convert(committedAt + challengeWindow, uint64),
        self._status(index),
    )


@external
@view
def latestFinalized() -> uint256:
    """
    @notice Index of the latest final checkpoint, or 2**256-1 when none is final.
    @return The index.
    """
    return self._latestFinalized()


# --- other views --------------------------------------------------------------------------


@external
@view
def lastSize() -> uint256:
    """
    @notice Size of the latest non-reverted checkpoint (0 when none): the next commit's base.
    @return The size.
    """
    return (self._head >> 96) & MASK56


@external
@view
def lastRoot() -> bytes32:
    """
    @notice Root of the latest non-reverted checkpoint (keccak256("") when none).
    @return The root.
    """
    lastPlus1: uint256 = (self._head >> 48) & MASK48
    if lastPlus1 == 0:
        return keccak256(b"")
    return self._roots[lastPlus1 - 1]


@external
@view
def lastIndex() -> uint256:
    """
    @notice Index of the latest non-reverted checkpoint, or 2**256-1 when none.
    @return The index.
    """
    lastPlus1: uint256 = (self._head >> 48) & MASK48
    if lastPlus1 == 0:
        return NO_INDEX
    return lastPlus1 - 1


@external
@view
def prevSize(index: uint256) -> uint256:
    """
    @notice Records at seq >= prevSize(index) are new in checkpoint `index`.
    @param index Checkpoint index.
    @return The size of the live checkpoint before it when it was committed.
    """
    meta: uint256 = self._metaOf(index)
    return (meta >> 56) & MASK56


@external
@view
def timestampBound(index: uint256) -> uint256:
    """
    @notice The bound (ms) checkpoint `index` declared: rule 4b is broken by a record new in
            it stamped later.
    @param index Checkpoint index.
    @return The bound in milliseconds since the Unix epoch.
    """
    meta: uint256 = self._metaOf(index)
    return (meta >> 160) & MASK48


@external
@view
def domainSeparator() -> bytes32:
    """
    @notice EIP-712 domain separator {name "attest-rollup", version "1", chainId, eip712Contract}.
    @return The separator.
    """
    return self._domainSeparator()


@external
@view
def daChallenges(challengeId: uint256) -> DAChallenge:
    """
    @notice One DA challenge (state 0 none, 1 open, 2 answered, 3 upheld, 4 void).
    @param challengeId Id returned by openDAChallenge.
    @return (checkpointIndex, start, end, deadline, state, challenger, bond).
    """
    return self._challenge(challengeId)


@external
@view
def daBond(count: uint256) -> uint256:
    """
    @notice The bond a DA challenge on `count` records needs in this block: what answering it
            costs at DA_BOND_BASEFEE_MULTIPLE times the current basefee, at least challengerBond.
    @param count Records in the range.
    @return Wei.
    """
    return self._daBond(count)


# --- fraud proofs (DESIGN §5) -------------------------------------------------------------


@external
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
    self._punish(checkpointIndex, RULE_WRONG_SEQ, msg.sender, 0)


@external
def proveBadSignature(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
):
    """
    @notice Rule 2: a signed record's EIP-712 signature does not recover to its submitter
            (or v is not 27/28, or s is high), or an unsigned record has r or s nonzero, or a
            forced record (v = 1) is not the inclusion of its inbox entry that a commit proved.
    @param checkpointIndex Pending checkpoint that newly covers the record.
    @param index Position of the record in the log.
    @param record The 352-byte record.
    @param proof RFC 9162 inclusion proof of the record at `index` in that checkpoint.
    """
    self._checkNewRecord(checkpointIndex, index, record, proof)
    # A forced record's authority is the L1 inbox (docs/spec.md §8 rule 2, v = 1): the verifier
    # reads entry j = its nonce word back from this contract's inbox views.
    assert not staticcall Verifier(verifier).recordAuthentic(record, self._domainSeparator(), index, checkpointIndex), "rollup: signature is valid"
    self._punish(checkpointIndex, RULE_BAD_SIGNATURE, msg.sender, 0)


@external
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
    assert not staticcall Verifier(verifier).wellFormed(record), "rollup: record is well formed"
    self._punish(checkpointIndex, RULE_MALFORMED, msg.sender, 0)


@external
def proveFutureTimestamp(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
):
    """
    @notice Rule 4b: a record new in the checkpoint is stamped (ms) after the timestamp bound
            the commit declared (itself never after the commit's block time).
    @param checkpointIndex Pending checkpoint that newly covers the record.
    @param index Position of the record in the log.
    @param record The 352-byte record.
    @param proof RFC 9162 inclusion proof of the record at `index` in that checkpoint.
    """
    meta: uint256 = self._checkNewRecord(checkpointIndex, index, record, proof)
    assert extract32(record, 32, output_type=uint256) > (meta >> 160) & MASK48, "rollup: timestamp is within the bound"
    self._punish(checkpointIndex, RULE_FUTURE_TIMESTAMP, msg.sender, 0)


@external
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
    self._punish(checkpointIndex, RULE_TIME_TRAVEL, msg.sender, 0)


@external
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
    assert extract32(record, 256, output_type=uint256) > FORCED_V and extract32(laterRecord, 256, output_type=uint256) > FORCED_V, "rollup: both records must be signed"
    assert extract32(record, 192) == extract32(laterRecord, 192), "rollup: submitters differ"
    assert extract32(record, 224) == extract32(laterRecord, 224), "rollup: nonces differ"
    self._punish(checkpointIndex, RULE_REPLAY, msg.sender, 0)


# --- broken receipts (DESIGN §6) ----------------------------------------------------------


@external
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
    @notice A sequencer-signed receipt of this epoch promised `leafHash` at
            firstSeq+indexInBatch, but the live checkpoint in which that position is new holds
            a different record. Slashes the epoch's bond, freezes, reverts every pending checkpoint.
    @param firstSeq Receipt field.
    @param count Receipt field.
    @param leavesRoot Receipt field.
    @param deadline Receipt field.
    @param signature 65-byte r || s || v sequencer signature over the EIP-712 Receipt.
    @param leafHash The promised leaf hash.
    @param indexInBatch Its position in the receipt's batch.
    @param batchPath RFC 9162 inclusion proof of leafHash in the tree of `count` leaves.
    @param checkpointIndex The live checkpoint in which firstSeq+indexInBatch is new.
    @param otherRecord The record that checkpoint holds there.
    @param inclusionProof Its inclusion proof in the checkpoint.
    """
    digest: bytes32 = self._checkReceipt(firstSeq, count, leavesRoot, deadline, signature)
    # Verify the promised leaf is in the receipt's batch.
    assert indexInBatch < count, "rollup: index outside the batch"
    assert staticcall Verifier(verifier).rootFromInclusion(leafHash, convert(indexInBatch, uint256), convert(count, uint256), batchPath) == leavesRoot, "rollup: batch path does not match leavesRoot"
    # Verify a live checkpoint, where the position is new, holds a different record there.
    meta: uint256 = self._liveMeta(checkpointIndex)
    seq: uint256 = convert(firstSeq, uint256) + convert(indexInBatch, uint256)
    self._checkIsNew(meta, seq)
    self._checkIncluded(checkpointIndex, seq, otherRecord, inclusionProof)
    assert keccak256(concat(b"\x00", otherRecord)) != leafHash, "rollup: record matches the receipt"
    self.receiptBroken[digest] = True
    self._punish(checkpointIndex, RULE_RECEIPT_MISMATCH, msg.sender, 0)


@external
def proveReceiptDeadlineMissed(
    firstSeq: uint64,
    count: uint64,
    leavesRoot: bytes32,
    deadline: uint64,
    signature: Bytes[65],
    coveredCount: uint256,
):
    """
    @notice A sequencer-signed receipt of this epoch is past its deadline and no live
            checkpoint committed at or before it covers [firstSeq, firstSeq+count). Slashes
            the epoch's bond, freezes, reverts every pending checkpoint.
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
    dl: uint256 = convert(deadline, uint256)
    assert block.timestamp > dl, "rollup: deadline not passed"
    total: uint256 = self._head & MASK48
    assert coveredCount <= total, "rollup: coveredCount above checkpointCount"
    # Verify coveredCount is exactly the number of checkpoints committed by the deadline.
    if coveredCount > 0:
        assert (self._meta[coveredCount - 1] >> 112) & MASK48 <= dl, "rollup: checkpoint coveredCount-1 was committed after the deadline"
    if coveredCount < total:
        assert (self._meta[coveredCount] >> 112) & MASK48 > dl, "rollup: checkpoint coveredCount was committed by the deadline"
    covered: uint256 = 0
    if coveredCount > 0:
        covered = self._maxLiveSize(coveredCount - 1)
    assert covered < convert(firstSeq, uint256) + convert(count, uint256), "rollup: a checkpoint covered the receipt in time"
    self.receiptBroken[digest] = True
    self._punish(NO_INDEX, RULE_RECEIPT_DEADLINE, msg.sender, 0)


# --- data availability (DESIGN §5) --------------------------------------------------------


@external
@payable
def openDAChallenge(checkpointIndex: uint256, start: uint64, end: uint64) -> uint256:
    """
    @notice Bond at least daBond(end - start) and demand one chunk of a pending checkpoint:
            [start, end) with start a multiple of maxDARange and end = min(start + maxDARange,
            size). Each chunk of a checkpoint can be challenged once.
    @param checkpointIndex A live checkpoint whose challenge window is not over.
    @param start First record, a multiple of maxDARange.
    @param end One past the last record: min(start + maxDARange, size).
    @return The challenge id.
    """
    meta: uint256 = self._liveMeta(checkpointIndex)
    assert block.timestamp < ((meta >> 112) & MASK48) + challengeWindow, "rollup: challenge window is over"
    s: uint256 = convert(start, uint256)
    e: uint256 = convert(end, uint256)
    size: uint256 = meta & MASK56
    assert s < size, "rollup: range beyond the checkpoint size"
    assert s % maxDARange == 0, "rollup: range must start at a chunk boundary"
    assert e == min(s + maxDARange, size), "rollup: range must be one whole chunk"
    key: uint256 = (checkpointIndex << 64) | (s // maxDARange)
    assert not self._daChunkTaken[key], "rollup: range already challenged"
    assert msg.value >= self._daBond(e - s), "rollup: value below the DA bond"
    assert msg.value < 2**80, "rollup: value too large"
    cid: uint256 = self.daChallengeCount
    deadline: uint256 = block.timestamp + daResponseWindow
    slot: uint256 = 0
    gen: uint256 = 0
    slot, gen = self._holdAdd(checkpointIndex)
    self._daChunkTaken[key] = True
    self._daRange[cid] = checkpointIndex | (s << 48) | (e << 104) | (deadline << 160) | (gen << 208)
    self._daParty[cid] = convert(msg.sender, uint256) | (convert(DA_OPEN, uint256) << 160) | (slot << 168) | (msg.value << 176)
    self.daChallengeCount = cid + 1
    self.daOpenCount += 1
    log DAChallengeOpened(
        challengeId=cid,
        checkpointIndex=checkpointIndex,
        challenger=msg.sender,
        start=start,
        end=end,
        deadline=convert(deadline, uint64),
        bond=msg.value,
    )
    return cid


@external
def revealRecords(
    challengeId: uint256, records: DynArray[Bytes[352], MAX_RANGE], proof: DynArray[bytes32, 96]
):
    """
    @notice Answer a DA challenge: the records of the range, with the boundary hashes that
            complete them to the checkpoint root (docs/contract.md, DA scheme). Anyone may
            answer. The checkpoint and every later one then stay pending for postRevealWindow.
            The sequencer's bond gets what answering cost at this block's basefee (at most the
            challenger's bond); the rest of that bond is credited back to the challenger.
            The records are in this transaction's calldata (no log: it was a quarter of the gas).
    @param challengeId The open challenge.
    @param records Records start .. end-1, each 352 bytes.
    @param proof Sibling hashes, bottom level first; per level the left one (if the range
           starts at an odd node) before the right one (if it ends at an even, non-last node).
    """
    c: DAChallenge = self._openChallenge(challengeId)
    assert block.timestamp <= convert(c.deadline, uint256), "rollup: response window is over"
    self._checkNotReverted(c.checkpointIndex)
    start: uint256 = convert(c.start, uint256)
    n: uint256 = convert(c.end, uint256) - start
    assert len(records) == n, "rollup: wrong number of records"
    size: uint256 = self._meta[c.checkpointIndex] & MASK56
    # Hash the leaves here and pass 32 bytes per record: the records stay in calldata.
    leaves: DynArray[bytes32, MAX_RANGE] = []
    for record: Bytes[352] in records:
        assert len(record) == 352, "rollup: record must be 352 bytes"
        leaves.append(keccak256(concat(b"\x00", record)))
    root: bytes32 = staticcall Verifier(verifier).rootFromLeaves(leaves, start, size, proof)
    assert root == self._roots[c.checkpointIndex], "rollup: records do not match the checkpoint root"
    compensation: uint256 = min(c.bond, block.basefee * self._revealGas(n))
    self._setState(challengeId, DA_ANSWERED)
    self.daOpenCount -= 1
    self._holdRelease(challengeId, block.timestamp + postRevealWindow)
    self.bond += compensation
    self._credit(c.challenger, c.bond - compensation)
    log RecordsRevealed(challengeId=challengeId, checkpointIndex=c.checkpointIndex, start=c.start, end=c.end, compensation=compensation)
    log DAChallengeResolved(challengeId=challengeId, outcome=DA_ANSWERED)


@external
def resolveDAChallenge(challengeId: uint256):
    """
    @notice After an unanswered challenge's deadline: revert every pending checkpoint, slash,
            freeze, and credit the challenger its bond plus half the sequencer's bond. If the
            checkpoint was reverted meanwhile, the challenge is void and only the bond is
            credited back (anyone may call this: it also lifts the challenge's hold).
    @param challengeId The open challenge.
    """
    c: DAChallenge = self._openChallenge(challengeId)
    reverted: bool = self._revertEntry(c.checkpointIndex) != 0
    assert reverted or block.timestamp > convert(c.deadline, uint256), "rollup: response window not over"
    self.daOpenCount -= 1
    if reverted:
        self._holdRelease(challengeId, 0)
        self._setState(challengeId, DA_VOID)
        self._credit(c.challenger, c.bond)
        log DAChallengeResolved(challengeId=challengeId, outcome=DA_VOID)
        return
    self._setState(challengeId, DA_UPHELD)
    log DAChallengeResolved(challengeId=challengeId, outcome=DA_UPHELD)
    # The hold stays until _punish reverts the checkpoint (which clears it): released first,
    # the checkpoint would count as final and escape the revert.
    self._punish(c.checkpointIndex, RULE_DA_UNANSWERED, c.challenger, c.bond)


# --- internals: DA challenges and holds ---------------------------------------------------


@internal
@view
def _daBond(count: uint256) -> uint256:
    """
    @dev What answering `count` records costs at DA_BOND_BASEFEE_MULTIPLE x today's basefee.
    """
    return max(challengerBond, DA_BOND_BASEFEE_MULTIPLE * block.basefee * self._revealGas(count))


@internal
@pure
def _revealGas(count: uint256) -> uint256:
    """
    @dev Gas of revealRecords for `count` records (see REVEAL_EXEC_BASE).
    """
    return max(REVEAL_EXEC_BASE + REVEAL_EXEC_PER_RECORD * count, REVEAL_FLOOR_BASE + REVEAL_FLOOR_PER_RECORD * count)


@internal
@view
def _challenge(cid: uint256) -> DAChallenge:
    """
    @dev Unpack challenge `cid` from its two storage words.
    """
    packed: uint256 = self._daRange[cid]
    party: uint256 = self._daParty[cid]
    return DAChallenge(
        checkpointIndex=packed & MASK48,
        start=convert((packed >> 48) & MASK56, uint64),
        end=convert((packed >> 104) & MASK56, uint64),
        deadline=convert((packed >> 160) & MASK48, uint64),
        state=convert((party >> 160) & 255, uint8),
        challenger=convert(convert(party & (2**160 - 1), uint160), address),
        bond=party >> 176,
    )


@internal
def _setState(cid: uint256, state: uint8):
    """
    @dev Set the state byte of challenge `cid`, keeping its other fields.
    """
    party: uint256 = self._daParty[cid]
    self._daParty[cid] = (party & ~(255 << 160)) | (convert(state, uint256) << 160)


@internal
def _holdAdd(checkpointIndex: uint256) -> (uint256, uint256):
    """
    @dev Take a free slot (never used, or no open challenge and its post-reveal hold is over)
         for a new open challenge on `checkpointIndex`. With every slot busy, merge into the
         slot holding the lowest checkpoint (lowered to checkpointIndex if that is lower): it
         already holds everything later, so the merge only lengthens its hold. Returns (slot,
         generation).
    """
    mask: uint256 = self._holdMask
    lowest: uint256 = 0
    lowestCp: uint256 = NO_INDEX
    for i: uint256 in range(HOLD_SLOTS):
        w: uint256 = self._holds[i]
        if (mask >> i) & 1 == 0 or ((w >> 128) & MASK32 == 0 and (w >> 64) & MASK64 <= block.timestamp):
            gen: uint256 = ((w >> 160) & MASK64) + 1
            self._holds[i] = checkpointIndex | (1 << 128) | (gen << 160)
            self._holdMask = mask | (1 << i)
            return i, gen
        if w & MASK64 < lowestCp:
            lowest = i
            lowestCp = w & MASK64
    w: uint256 = self._holds[lowest]
    self._holds[lowest] = (w & ~MASK64 & ~(MASK32 << 128)) | min(lowestCp, checkpointIndex) | ((((w >> 128) & MASK32) + 1) << 128)
    return lowest, (w >> 160) & MASK64


@internal
def _holdRelease(cid: uint256, until: uint256):
    """
    @dev One open challenge of the slot is settled; the slot keeps holding until `until`. A slot
         cleared by a revert has a new generation: then there is nothing to release.
    """
    slot: uint256 = (self._daParty[cid] >> 168) & 255
    gen: uint256 = self._daRange[cid] >> 208
    w: uint256 = self._holds[slot]
    if (w >> 160) & MASK64 != gen or (self._holdMask >> slot) & 1 == 0:
        return
    openCount: uint256 = (w >> 128) & MASK32
    if openCount > 0:
        openCount -= 1
    newUntil: uint256 = max((w >> 64) & MASK64, until)
    self._holds[slot] = (w & MASK64) | (newUntil << 64) | (openCount << 128) | (gen << 160)


@internal
def _holdClearFrom(index: uint256):
    """
    @dev A revert at `index`: slots holding from index on hold reverted checkpoints only.
    """
    mask: uint256 = self._holdMask
    for i: uint256 in range(HOLD_SLOTS):
        if (mask >> i) & 1 == 1:
            w: uint256 = self._holds[i]
            if w & MASK64 >= index:
                self._holds[i] = (((w >> 160) & MASK64) + 1) << 160
                mask = mask & ~(1 << i)
    self._holdMask = mask


@internal
@view
def _holdFloor() -> uint256:
    """
    @dev Lowest checkpoint an active slot holds (NO_INDEX when none).
    """
    mask: uint256 = self._holdMask
    low: uint256 = NO_INDEX
    for i: uint256 in range(HOLD_SLOTS):
        if (mask >> i) & 1 == 1:
            w: uint256 = self._holds[i]
            if (w >> 128) & MASK32 > 0 or (w >> 64) & MASK64 > block.timestamp:
                low = min(low, w & MASK64)
    return low


# --- internals: status --------------------------------------------------------------------


@internal
@view
def _revertEntry(index: uint256) -> uint256:
    """
    @dev Binary search for the last interval starting at or before `index`; 0 = not reverted.
    """
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
    """
    @dev The DESIGN §4 status of checkpoint `index` at this block's time.
    """
    meta: uint256 = self._meta[index]
    if meta == 0:
        return STATUS_NONE
    if self._revertEntry(index) != 0:
        return STATUS_REVERTED
    if block.timestamp >= ((meta >> 112) & MASK48) + challengeWindow and self._holdFloor() > index:
        return STATUS_FINAL
    return STATUS_PENDING


@internal
@view
def _latestFinalized() -> uint256:
    """
    @dev Index of the latest final checkpoint, or NO_INDEX.
    """
    count: uint256 = self._head & MASK48
    # challengeEnds never decreases with the index (commit times do not, W is fixed), so the
    # checkpoints whose window is over form a prefix: binary-search its end.
    lo: uint256 = 0
    hi: uint256 = count
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        if ((self._meta[mid] >> 112) & MASK48) + challengeWindow <= block.timestamp:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return NO_INDEX
    k: uint256 = lo - 1
    # A hold keeps its checkpoint and every later one pending.
    heldFloor: uint256 = self._holdFloor()
    if heldFloor <= k:
        if heldFloor == 0:
            return NO_INDEX
        k = heldFloor - 1
    entry: uint256 = self._revertEntry(k)
    if entry != 0:
        prevPlus1: uint256 = (entry >> 128) & MASK64
        if prevPlus1 == 0:
            return NO_INDEX
        k = prevPlus1 - 1
    return k


@internal
@view
def _maxLiveSize(index: uint256) -> uint256:
    """
    @dev Largest size among non-reverted checkpoints 0..index: sizes strictly grow along the
         non-reverted ones, so it is the size of the last non-reverted checkpoint <= index.
    """
    entry: uint256 = self._revertEntry(index)
    if entry == 0:
        return self._meta[index] & MASK56
    prevPlus1: uint256 = (entry >> 128) & MASK64
    if prevPlus1 == 0:
        return 0
    return self._meta[prevPlus1 - 1] & MASK56


# --- internals: punishment ----------------------------------------------------------------


@internal
def _revertFrom(index: uint256):
    """
    @dev Revert checkpoint `index` and every later one (some may be reverted already).
    """
    count: uint256 = self._head & MASK48
    n: uint256 = self._revertCount
    # Intervals starting at or after `index` lie inside [index, count): drop them.
    for _: uint256 in range(2**32):
        if n == 0 or self._reverts[n - 1] & MASK64 < index:
            break
        n -= 1
    first: uint256 = index
    prevPlus1: uint256 = index
    if n > 0:
        top: uint256 = self._reverts[n - 1]
        if (top >> 64) & MASK64 >= index:
            # The interval below reaches index: extend it, keeping its last live checkpoint.
            first = top & MASK64
            prevPlus1 = (top >> 128) & MASK64
            n -= 1
    self._reverts[n] = first | (count << 64) | (prevPlus1 << 128)
    self._revertCount = n + 1
    newLastSize: uint256 = 0
    included: uint256 = 0
    if prevPlus1 != 0:
        prevMeta: uint256 = self._meta[prevPlus1 - 1]
        newLastSize = prevMeta & MASK56
        included = prevMeta >> 208
    # Forced entries included only by reverted checkpoints are not included any more: the
    # first of them (if any) is the next deadline (0 when entry `included` was never posted).
    self._head = count | (prevPlus1 << 48) | (newLastSize << 96) | (included << 152) | ((self.inboxAt[included] & MASK48) << 200)
    self._holdClearFrom(first)
    log CheckpointsReverted(fromIndex=index, toIndex=count, lastSize=newLastSize)


@internal
@view
def _checkLive():
    """
    @dev Revert while frozen or once the sequencer asked to exit: nothing can be committed.
    """
    self._checkNotFrozen()
    assert self.exitRequestedAt == 0, "rollup: sequencer is exiting"


@internal
@view
def _onlySequencer():
    """
    @dev Revert unless the caller is the sequencer.
    """
    assert msg.sender == sequencer, "rollup: caller is not the sequencer"


@internal
def _credit(account: address, amount: uint256):
    """
    @dev Credit `amount` wei to `account` (paid out by claim()); events after the state.
    """
    if amount == 0:
        return
    total: uint256 = self.credits[account] + amount
    self.credits[account] = total
    log Credited(account=account, amount=amount, total=total)


@internal
def _punish(checkpointIndex: uint256, rule: uint8, to: address, refund: uint256):
    """
    @dev The sequencer is proven dishonest (DESIGN §9): revert every pending checkpoint (all
         after the latest final one), slash the epoch's bond (half credited to `to` with its DA
         bond `refund`, half burned) and freeze. Only credits: nothing is sent, so no recipient
         can make a proof revert (issue 10, finding 1).
    """
    self._checkNotFrozen()
    count: uint256 = self._head & MASK48
    final: uint256 = self._latestFinalized()
    first: uint256 = 0
    if final != NO_INDEX:
        first = final + 1
    if first < count:
        self._revertFrom(first)
    amount: uint256 = self.bond
    reward: uint256 = amount // 2
    self.bond = 0
    self.burned += amount - reward
    self.frozen = True
    self.frozenAt = block.timestamp
    self._credit(to, reward + refund)
    log BondSlashed(amount=amount, reward=reward, burned=amount - reward)
    log FraudProven(checkpointIndex=checkpointIndex, rule=rule, challenger=to, reward=reward, refund=refund)
    log Frozen(rule=rule, epoch=self.epoch)


# --- internals: records and proofs --------------------------------------------------------


@internal
@view
def _checkIncluded(checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]):
    """
    @dev Revert unless `record` is at `index` under checkpoint `checkpointIndex`'s root.
    """
    meta: uint256 = self._metaOf(checkpointIndex)
    assert staticcall Verifier(verifier).includes(self._roots[checkpointIndex], meta & MASK56, index, record, proof), "rollup: inclusion proof does not match the checkpoint root"


@internal
@view
def _checkNewRecord(
    checkpointIndex: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]
) -> uint256:
    """
    @dev Verify the checkpoint is pending and is the first live one covering `index`.
    """
    meta: uint256 = self._metaOf(checkpointIndex)
    assert self._status(checkpointIndex) == STATUS_PENDING, "rollup: checkpoint is not pending"
    self._checkIsNew(meta, index)
    self._checkIncluded(checkpointIndex, index, record, proof)
    return meta


@internal
@pure
def _checkIsNew(meta: uint256, index: uint256):
    """
    @dev Records at seq >= prevSize are new in a checkpoint (DESIGN §5: proofs name the first
         live checkpoint that covers the record).
    """
    assert index >= (meta >> 56) & MASK56, "rollup: record not new in this checkpoint"


@internal
@view
def _metaOf(index: uint256) -> uint256:
    """
    @dev Checkpoint `index`'s meta word; reverts when there is none. (The shared helpers
         below each hold one revert string: Rollup.vy keeps its EIP-170 headroom.)
    """
    meta: uint256 = self._meta[index]
    assert meta != 0, "rollup: no such checkpoint"
    return meta


@internal
@view
def _liveMeta(index: uint256) -> uint256:
    """
    @dev Checkpoint `index`'s meta word; reverts when there is none or it is reverted.
    """
    meta: uint256 = self._metaOf(index)
    self._checkNotReverted(index)
    return meta


@internal
@view
def _checkNotReverted(index: uint256):
    """
    @dev Revert when checkpoint `index` is reverted.
    """
    assert self._revertEntry(index) == 0, "rollup: checkpoint is reverted"


@internal
@view
def _checkNotFrozen():
    """
    @dev Revert while frozen.
    """
    assert not self.frozen, "rollup: frozen"


@internal
@view
def _onlyOwner():
    """
    @dev Revert unless the owner calls.
    """
    assert msg.sender == self.owner, "rollup: caller is not the owner"


@internal
@view
def _openChallenge(cid: uint256) -> DAChallenge:
    """
    @dev Challenge `cid`; reverts unless it is open.
    """
    c: DAChallenge = self._challenge(cid)
    assert c.state == DA_OPEN, "rollup: challenge is not open"
    return c


# --- internals: signatures ----------------------------------------------------------------


@internal
@view
def _domainSeparator() -> bytes32:
    """
    @dev The EIP-712 domain separator, in the domain of eip712Contract.
    """
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, eip712Contract))


@internal
@view
def _checkReceipt(
    firstSeq: uint64, count: uint64, leavesRoot: bytes32, deadline: uint64, signature: Bytes[65]
) -> bytes32:
    """
    @dev Verify the sequencer signed this Receipt (DESIGN §6), that it belongs to the current
         epoch and can be met at all, and that it was not proven broken before.
    """
    self._checkNotFrozen()
    assert convert(deadline, uint256) > self.epochStart, "rollup: receipt deadline in an earlier epoch"
    digest: bytes32 = empty(bytes32)
    signer: address = empty(address)
    digest, signer = staticcall Verifier(verifier).receiptSigner(self._domainSeparator(), firstSeq, count, leavesRoot, deadline, signature)
    assert not self.receiptBroken[digest], "rollup: receipt already proven broken"
    assert signer == sequencer, "rollup: receipt not signed by the sequencer"
    return digest
