#pragma version 0.4.3
"""
@title attest-rollup stateless verifier
@license Apache-2.0
@notice The pure checks of the rollup's fraud proofs and DA reveals (DESIGN §2, §3, §5): RFC
        9162 inclusion folds, the DA range fold, the record's well-formedness and its EIP-712
        signature. It holds no state and no ether, so `Rollup.vy` can call it with `staticcall`
        and every deployed contract keeps EIP-170 headroom (issue 10, finding 13). `commit`
        does not use it: the consistency proof stays in `Rollup.vy`, where it is cheapest.
        Forced records (docs/spec.md §7.3) are checked here too; for rule 2 on a forced record
        it reads the caller's (the rollup's) public inbox views.
"""

# The rollup's inbox views (docs/spec.md §7.3), read back by recordAuthentic.
interface Inbox:
    def inbox(j: uint256) -> bytes32: view
    def inboxAt(j: uint256) -> uint256: view

# A DA reveal carries at most this many records (DESIGN §4: B = 256).
MAX_RANGE: constant(uint256) = 256
# A commit proves at most this many forced records (Rollup.vy MAX_FORCED_PER_COMMIT), each
# encoded as the record, a word L <= 64 and L hashes.
MAX_FORCED: constant(uint256) = 16
FORCED_BYTES: constant(uint256) = MAX_FORCED * (352 + 32 + 64 * 32)
MASK64: constant(uint256) = 2**64 - 1
# Largest tree size (Rollup.vy MAX_TREE_SIZE).
MAX_TREE_SIZE: constant(uint256) = 2**52
# secp256k1 n / 2: signatures with a larger s are malleable copies (EIP-2).
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168
RECEIPT_TYPEHASH: constant(bytes32) = keccak256(
    "Receipt(uint64 firstSeq,uint64 count,bytes32 leavesRoot,uint64 deadline)"
)
EVENT_TYPEHASH: constant(bytes32) = keccak256(
    "Event(bytes32 kind,bytes32 subject,bytes32 digest,bytes32 metaHash,uint64 nonce)"
)


@external
@pure
def rootFromInclusion(leaf: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, 64]) -> bytes32:
    """
    @notice RFC 9162 §2.1.3.2 steps 1-5: the root implied by `leaf` at `index` of a tree of
            `size` leaves and its audit path (the caller compares it with the root).
    @param leaf The leaf hash, keccak256(0x00 || record).
    @param index Its position, below size.
    @param size Tree size.
    @param proof The audit path, leaf side first.
    @return The root the path implies.
    """
    return self._rootFromInclusion(leaf, index, size, proof)


@internal
@pure
def _rootFromInclusion(leaf: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, 64]) -> bytes32:
    """
    @dev RFC 9162 §2.1.3.2 steps 1-5 (shared by rootFromInclusion and includes); reverts on
         index >= size and on a path of the wrong length.
    """
    assert index < size, "rollup: index outside the tree"
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


@external
@pure
def verifyConsistency(
    first: uint256, second: uint256, firstRoot: bytes32, secondRoot: bytes32, proof: DynArray[bytes32, 96]
) -> bool:
    """
    @notice RFC 9162 §2.1.4.2: revert unless `proof` shows the tree of `second` leaves with
            root `secondRoot` extends the tree of `first` leaves with root `firstRoot`.
    @param first Size of the older tree, 0 < first.
    @param second Size of the newer tree, first < second.
    @param firstRoot Root of the older tree.
    @param secondRoot Root of the newer tree.
    @param proof The consistency proof.
    @return True (it reverts otherwise).
    """
    assert first > 0 and first < second, "rollup: consistency needs 0 < first < second"
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
    return True


@external
@pure
def receiptSigner(
    domainSeparator: bytes32, firstSeq: uint64, count: uint64, leavesRoot: bytes32, deadline: uint64, signature: Bytes[65]
) -> (bytes32, address):
    """
    @notice The EIP-712 digest of a DESIGN §6 Receipt and who signed it (65-byte r || s || v,
            v 27/28, low s).
    @param domainSeparator The rollup's EIP-712 domain separator.
    @param firstSeq Receipt field.
    @param count Receipt field.
    @param leavesRoot Receipt field.
    @param deadline Receipt field.
    @param signature The signature.
    @return (digest, signer); reverts on a receipt that covers no records or reaches beyond
            the log's reachable range (2**52), and on a malformed or malleable signature.
    """
    assert count > 0, "rollup: receipt covers no records"
    assert convert(firstSeq, uint256) + convert(count, uint256) <= MAX_TREE_SIZE, "rollup: receipt beyond the log's reachable range"
    assert len(signature) == 65, "rollup: signature must be 65 bytes"
    structHash: bytes32 = keccak256(abi_encode(RECEIPT_TYPEHASH, firstSeq, count, leavesRoot, deadline))
    digest: bytes32 = keccak256(concat(b"\x19\x01", domainSeparator, structHash))
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "rollup: receipt signature v must be 27 or 28"
    assert s <= HALF_N, "rollup: receipt signature s is high"
    return digest, ecrecover(digest, v, r, s)


@external
@pure
def includes(root: bytes32, size: uint256, index: uint256, record: Bytes[352], proof: DynArray[bytes32, 64]) -> bool:
    """
    @notice Whether `record` is at `index` of the tree of `size` leaves with root `root`
            (RFC 9162 §2.1.3.2, leaf = keccak256(0x00 || record)).
    @param root The tree's root.
    @param size Tree size.
    @param index The record's position.
    @param record The 352-byte record.
    @param proof Its audit path.
    @return True when the path reproduces the root; reverts on malformed input.
    """
    assert len(record) == 352, "rollup: record must be 352 bytes"
    assert index < size, "rollup: record index outside the checkpoint"
    return self._rootFromInclusion(keccak256(concat(b"\x00", record)), index, size, proof) == root


@external
@pure
def rootFromLeaves(
    leaves: DynArray[bytes32, MAX_RANGE], start: uint256, size: uint256, proof: DynArray[bytes32, 96]
) -> bytes32:
    """
    @notice The root implied by the leaf hashes at [start, start + len(leaves)) of a tree of
            `size` leaves and the boundary hashes that complete them (docs/contract.md, DA).
    @dev RFC 9162's tree equals the bottom-up tree where a level's lone last node is promoted
         unchanged, so at each level only the range's two boundary siblings are missing.
    @param leaves The leaf hashes keccak256(0x00 || record), in log order.
    @param start Position of the first one.
    @param size Tree size.
    @param proof Sibling hashes, bottom level first; per level the left one (the range starts
           at an odd node) before the right one (it ends at an even node that is not the last).
    @return The root.
    """
    layer: bytes32[MAX_RANGE] = empty(bytes32[MAX_RANGE])
    n: uint256 = len(leaves)
    assert n > 0 and start + n <= size, "rollup: range outside the tree"
    for i: uint256 in range(n, bound=MAX_RANGE):
        layer[i] = leaves[i]
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


@external
@view
def recordAuthentic(record: Bytes[352], domainSeparator: bytes32, index: uint256, checkpointIndex: uint256) -> bool:
    """
    @notice docs/spec.md §8 rule 2 with forced records: signatureValid, except that a forced
            record (v = 1) at `index`, new in `checkpointIndex`, is authentic when words 2..10
            hash to the caller's (the rollup's) inbox entry j = its nonce word, and a commit
            recorded that entry's inclusion at this index in this checkpoint.
    @param record The 352-byte record.
    @param domainSeparator The rollup's EIP-712 domain separator.
    @param index The record's position.
    @param checkpointIndex The checkpoint it is new in.
    @return True when the record is authentic.
    """
    assert len(record) == 352, "rollup: record must be 352 bytes"
    if extract32(record, 256, output_type=uint256) == 1:
        j: uint256 = extract32(record, 224, output_type=uint256)
        # An entry never posted has hash 0 and inboxAt 0: it matches nothing.
        at: uint256 = staticcall Inbox(msg.sender).inboxAt(j)
        if at >> 48 != (index + 1) | ((checkpointIndex + 1) << 64):
            return False
        return keccak256(slice(record, 64, 288)) == staticcall Inbox(msg.sender).inbox(j)
    return self._signatureValid(record, domainSeparator)


@external
@view
def signatureValid(record: Bytes[352], domainSeparator: bytes32) -> bool:
    """
    @notice DESIGN §3 / §5 rule 2: a signed record's EIP-712 Event signature (v 27/28, low s)
            recovers to its submitter; an unsigned one (v = 0) has r = s = 0; a forced one
            (v = 1) is judged by recordAuthentic.
    @param record The 352-byte record.
    @param domainSeparator The rollup's EIP-712 domain separator.
    @return True when the signature is valid.
    """
    return self._signatureValid(record, domainSeparator)


@internal
@view
def _signatureValid(record: Bytes[352], domainSeparator: bytes32) -> bool:
    """
    @dev See signatureValid.
    """
    assert len(record) == 352, "rollup: record must be 352 bytes"
    v: uint256 = extract32(record, 256, output_type=uint256)
    r: uint256 = extract32(record, 288, output_type=uint256)
    s: uint256 = extract32(record, 320, output_type=uint256)
    if v == 0:
        return r == 0 and s == 0
    # A forced record (v = 1, docs/spec.md §3) is judged against the L1 inbox by Rollup.vy.
    if v == 1:
        return True
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
    digest: bytes32 = keccak256(concat(b"\x19\x01", domainSeparator, structHash))
    signer: address = ecrecover(digest, v, r, s)
    if signer == empty(address):
        return False
    return convert(signer, uint256) == extract32(record, 192, output_type=uint256)


@external
@pure
def wellFormed(record: Bytes[352]) -> bool:
    """
    @notice DESIGN §3 / §5 rule 3: every word fits its ABI type and kind is
            [a-z0-9_.-]{1,32} right-padded with zeros (seq is rule 1's business).
    @param record The 352-byte record.
    @return True when the record is well formed.
    """
    return self._wellFormed(record)


@external
@pure
def forcedEntryHash(
    kind: bytes32, subject: bytes32, digest: bytes32, metaHash: bytes32, poster: address, index: uint256, postedAt: uint256, inboxHash: bytes32
) -> (bytes32, bytes32):
    """
    @notice docs/spec.md §7.3: keccak256 of words 2..10 of the forced record of inbox entry
            `index`, and the running inbox hash; reverts when that record would not be well formed (rule 3: the kind).
    @param kind Posted kind.
    @param subject Posted subject.
    @param digest Posted digest.
    @param metaHash Posted metaHash.
    @param poster The posting account (the record's submitter).
    @param index The entry's inbox index (the record's nonce).
    @param postedAt L1 time of the post (the record's r word).
    @param inboxHash The running inbox hash before this entry.
    @return (entry hash, running inbox hash after it).
    """
    words: Bytes[288] = concat(kind, subject, digest, metaHash, convert(poster, bytes32), convert(index, bytes32), convert(1, bytes32), convert(postedAt, bytes32), empty(bytes32))
    assert self._wellFormed(concat(empty(bytes32), empty(bytes32), words)), "rollup: forced event is not well formed"
    entry: bytes32 = keccak256(words)
    return entry, keccak256(concat(inboxHash, entry))


@external
@view
def forcedSeqs(root: bytes32, size: uint256, minSeq: uint256, first: uint256, forced: Bytes[FORCED_BYTES]) -> DynArray[uint256, MAX_FORCED]:
    """
    @notice docs/spec.md §7.3: `forced` holds, for inbox entries first, first+1, ..., each
            entry's forced record (352 bytes), a word L <= 64 and its L-hash inclusion proof.
            Each record must hash (words 2..10) to the caller's (the rollup's) `inbox(j)`, sit
            at its seq word, new (at least `minSeq`) and after the previous one, in the tree
            (size, root). Returns the seqs; reverts otherwise.
    @param root The new checkpoint's root.
    @param size Its size.
    @param minSeq Lowest acceptable seq (the previous checkpoint's size).
    @param first Inbox index of the first record's entry.
    @param forced The encoded records and proofs.
    @return The seqs, one per record.
    """
    seqs: DynArray[uint256, MAX_FORCED] = []
    off: uint256 = 0
    nextSeq: uint256 = minSeq
    for i: uint256 in range(MAX_FORCED):
        if off == len(forced):
            break
        record: Bytes[352] = slice(forced, off, 352)
        depth: uint256 = extract32(forced, off + 352, output_type=uint256)
        assert depth <= 64, "rollup: forced inclusion proof too long"
        proof: DynArray[bytes32, 64] = []
        for k: uint256 in range(depth, bound=64):
            proof.append(extract32(forced, off + 384 + 32 * k))
        off += 384 + 32 * depth
        # An entry not yet posted has hash 0, which no record matches.
        entryHash: bytes32 = staticcall Inbox(msg.sender).inbox(first + i)
        assert keccak256(slice(record, 64, 288)) == entryHash, "rollup: forced record does not match the inbox"
        seq: uint256 = extract32(record, 0, output_type=uint256)
        assert seq >= nextSeq and seq < size, "rollup: forced record out of order"
        assert self._rootFromInclusion(keccak256(concat(b"\x00", record)), seq, size, proof) == root, "rollup: forced inclusion proof refused"
        seqs.append(seq)
        nextSeq = seq + 1
    assert off == len(forced), "rollup: forced records malformed or more than MAX_FORCED_PER_COMMIT"
    return seqs


@internal
@pure
def _wellFormed(record: Bytes[352]) -> bool:
    """
    @dev See wellFormed.
    """
    assert len(record) == 352, "rollup: record must be 352 bytes"
    if extract32(record, 32, output_type=uint256) > MASK64:
        return False
    if extract32(record, 192, output_type=uint256) >= 2**160:
        return False
    if extract32(record, 224, output_type=uint256) > MASK64:
        return False
    if extract32(record, 256, output_type=uint256) > 255:
        return False
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
