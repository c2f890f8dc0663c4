// Verify an attest-rollup event against L1, trusting the serving node for nothing
// (docs/spec.md §11). Runs in a browser (bundled once with esbuild into
// sequencer/explorer/static/verify.js) and in Node >= 18 (this file, `import` it).
//
// Names follow the spec: leaf_hash -> leafHash, verify_inclusion -> verifyInclusion, ...
// `verify*` throw a VerifyError with the reason, `is*` return a boolean, `compute*` are pure.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';

// --- errors ------------------------------------------------------------------------------

/** A check that failed; `reason` says what did not hold. */
export class VerifyError extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'VerifyError';
  }
}

/** Malformed input (not a failed proof): a hex string of the wrong length, say. */
export class MalformedError extends VerifyError {
  constructor(reason) {
    super(reason);
    this.name = 'MalformedError';
  }
}

// --- bytes and hex -----------------------------------------------------------------------

export const RECORD_SIZE = 352;
export const MAX_TREE_SIZE = 2 ** 52;
export const UINT256_MAX = (1n << 256n) - 1n;
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** Bytes of a `0x` hex string; with `length`, exactly that many bytes (docs/spec.md §1.1). */
export function fromHex(hex, length, what = 'value') {
  if (typeof hex !== 'string' || !/^0[xX][0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) {
    throw new MalformedError(`${what} must be 0x-prefixed hex`);
  }
  const out = new Uint8Array((hex.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 + 2 * i, 4 + 2 * i), 16);
  if (length !== undefined && out.length !== length) {
    throw new MalformedError(`${what} must be ${length} bytes, got ${out.length}`);
  }
  return out;
}

/** Lowercase `0x` hex of `bytes`. */
export function toHex(bytes) {
  let s = '0x';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function u256(value) {
  let v = BigInt(value);
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function wordInt(bytes, start = 0, end = bytes.length) {
  let v = 0n;
  for (let i = start; i < end; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

const utf8 = new TextEncoder();

// --- hashing and the tree (docs/spec.md §2) ------------------------------------------------

/** keccak256 (Ethereum's, not NIST SHA3-256). */
export function keccak256(bytes) {
  return keccak_256(typeof bytes === 'string' ? utf8.encode(bytes) : bytes);
}

export const EMPTY_ROOT = keccak256(new Uint8Array(0));

/** RFC 9162 leaf hash H(0x00 || data). */
export function computeLeafHash(data) {
  return keccak256(concat(Uint8Array.of(0), data));
}

/** RFC 9162 interior node H(0x01 || left || right). */
export function computeNodeHash(left, right) {
  return keccak256(concat(Uint8Array.of(1), left, right));
}

function checkProof(proof) {
  for (const p of proof) {
    if (!(p instanceof Uint8Array) || p.length !== 32) {
      throw new MalformedError('every proof element must be 32 bytes');
    }
  }
}

/** The root an RFC 9162 §2.1.3.2 inclusion proof reproduces; throws if the proof is malformed. */
export function computeRootFromInclusionProof(leaf, index, treeSize, proof) {
  checkProof(proof);
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(treeSize))) {
    throw new MalformedError('index and tree size must be integers');
  }
  if (!(index >= 0 && index < treeSize && treeSize <= MAX_TREE_SIZE)) {
    throw new VerifyError(`index ${index} is not inside a tree of size ${treeSize}`);
  }
  // BigInt: tree sizes reach 2**52, past JavaScript's 32-bit shifts.
  let fn = BigInt(index);
  let sn = BigInt(treeSize) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerifyError('inclusion proof too long');
    if ((fn & 1n) === 1n || fn === sn) {
      r = computeNodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = computeNodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError('inclusion proof too short');
  return r;
}

/** RFC 9162 §2.1.3.2: throws unless `proof` puts `leaf` at `index` under `root`. */
export function verifyInclusion(leaf, index, treeSize, proof, root) {
  const got = computeRootFromInclusionProof(leaf, index, treeSize, proof);
  if (!equal(got, root)) {
    throw new VerifyError(
      `inclusion proof of index ${index} does not reproduce the root of tree size ${treeSize}`,
    );
  }
}

export function isValidInclusion(leaf, index, treeSize, proof, root) {
  try {
    verifyInclusion(leaf, index, treeSize, proof, root);
    return true;
  } catch (e) {
    if (e instanceof VerifyError) return false;
    throw e;
  }
}

/** RFC 9162 §2.1.4.2 with the edge cases of docs/spec.md §2.3; throws with the reason. */
export function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  checkProof(proof);
  if (!(Number.isSafeInteger(first) && Number.isSafeInteger(second))) {
    throw new MalformedError('tree sizes must be integers');
  }
  if (!(first >= 0 && first <= second && second <= MAX_TREE_SIZE)) {
    throw new VerifyError(`tree sizes ${first} and ${second} are not in order`);
  }
  if (first === second) {
    if (proof.length !== 0) throw new VerifyError('consistency proof of equal sizes must be empty');
    if (!equal(firstRoot, secondRoot)) throw new VerifyError('equal sizes with different roots');
    return;
  }
  if (first === 0) {
    if (proof.length !== 0) throw new VerifyError('consistency proof from size 0 must be empty');
    if (!equal(firstRoot, EMPTY_ROOT)) throw new VerifyError('root of size 0 is not H("")');
    return;
  }
  if (proof.length === 0) throw new VerifyError('consistency proof is empty');
  let path = proof;
  let fn = BigInt(first) - 1n;
  let sn = BigInt(second) - 1n;
  if ((BigInt(first) & fn) === 0n) path = [firstRoot, ...proof]; // first is a power of two
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerifyError('consistency proof too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = computeNodeHash(c, fr);
      sr = computeNodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = computeNodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError('consistency proof too short');
  if (!equal(fr, firstRoot)) throw new VerifyError(`consistency proof does not reproduce the root of size ${first}`);
  if (!equal(sr, secondRoot)) throw new VerifyError(`consistency proof does not reproduce the root of size ${second}`);
}

// --- the record (docs/spec.md §3) ------------------------------------------------------------

const KIND_CHARS = /^[a-z0-9_.-]$/;

/** The kind name of a well-formed bytes32 kind, else null (docs/spec.md §3 "kind"). */
export function decodeKind(word) {
  let end = word.indexOf(0);
  if (end === -1) end = 32;
  if (end === 0) return null;
  for (let i = end; i < 32; i++) if (word[i] !== 0) return null;
  let name = '';
  for (let i = 0; i < end; i++) {
    const c = String.fromCharCode(word[i]);
    if (!KIND_CHARS.test(c)) return null;
    name += c;
  }
  return name;
}

function zero(bytes, start, end) {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Every field of a 352-byte record, read word by word (never refused; see `wellFormed`). */
export function decodeRecord(record) {
  if (record.length !== RECORD_SIZE) {
    throw new MalformedError(`a record is ${RECORD_SIZE} bytes, got ${record.length}`);
  }
  const word = (k) => record.slice(32 * k, 32 * k + 32);
  const kindName = decodeKind(word(2));
  const v = Number(wordInt(record, 256, 288) & 0xffn);
  const wellFormed =
    zero(record, 0, 24) && zero(record, 32, 56) && zero(record, 192, 204) &&
    zero(record, 224, 248) && zero(record, 256, 287) && kindName !== null;
  return {
    seq: wordInt(record, 0, 32),
    timestamp: wordInt(record, 32, 64),
    kind: kindName ?? toHex(word(2)),
    kindWord: word(2),
    subject: word(3),
    digest: word(4),
    metaHash: word(5),
    submitter: record.slice(204, 224),
    nonce: wordInt(record, 224, 256),
    v,
    r: word(9),
    s: word(10),
    // v = 1: a forced record, logged from the L1 inbox; it carries no signature (docs/spec.md §7.3).
    forced: wordInt(record, 256, 288) === 1n,
    signed: wordInt(record, 256, 288) > 1n,
    wellFormed,
  };
}

/** RFC 8785 canonical JSON (JCS) of a JSON value: sorted keys, ECMAScript number format. */
export function canonicalJson(value) {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new MalformedError('non-finite numbers are not JSON');
    return JSON.stringify(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    // JCS sorts member names by UTF-16 code units: JavaScript's default string order.
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  throw new MalformedError(`${typeof value} is not JSON`);
}

/** metaHash of a meta object: H(JCS(meta)), or 32 zero bytes for none (docs/spec.md §3). */
export function computeMetaHash(meta) {
  if (meta === null || meta === undefined) return new Uint8Array(32);
  return keccak256(utf8.encode(canonicalJson(meta)));
}

// --- revocation and supersession (docs/spec.md §13) -------------------------------------------

export const SUPERSEDES_KEY = 'supersedes';

/**
 * What `candidate` says about `target` under docs/spec.md §13, checked from bytes: 'revokes',
 * 'supersedes' or null. Both are {record: 352 bytes, meta: object|null}; the candidate's leaf
 * hash is recomputed from its record, its meta must hash to its metaHash (a server cannot
 * attach a `supersedes` the record does not commit to), and seqs, submitters, subjects and
 * kinds are read from the records themselves, never from a server's JSON. Whether the
 * candidate is itself in the log as L1 says is a separate check (verify it on its own).
 */
export function revocationStatus(target, candidate) {
  const t = decodeRecord(target.record);
  const c = decodeRecord(candidate.record);
  if (c.seq <= t.seq || !equal(c.submitter, t.submitter)) return null;
  const targetLeaf = computeLeafHash(target.record);
  if (c.kind === 'revocation') return equal(c.digest, targetLeaf) ? 'revokes' : null;
  if (!equal(c.subject, t.subject) || candidate.meta === null || candidate.meta === undefined) return null;
  if (!equal(computeMetaHash(candidate.meta), c.metaHash)) return null;
  const named = candidate.meta[SUPERSEDES_KEY];
  return typeof named === 'string' && named.toLowerCase() === toHex(targetLeaf) ? 'supersedes' : null;
}

// --- EIP-712 (docs/spec.md §4) -----------------------------------------------------------------

const DOMAIN_TYPEHASH = keccak256(
  'EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)',
);
const EVENT_TYPEHASH = keccak256(
  'Event(bytes32 kind,bytes32 subject,bytes32 digest,bytes32 metaHash,uint64 nonce)',
);
const RECEIPT_TYPEHASH = keccak256(
  'Receipt(uint64 firstSeq,uint64 count,bytes32 leavesRoot,uint64 deadline)',
);

/** EIP-712 domain separator of a deployment (name "attest-rollup", version "1"). */
export function computeDomainSeparator(chainId, contract) {
  const address = typeof contract === 'string' ? fromHex(contract, 20, 'contract') : contract;
  return keccak256(concat(
    DOMAIN_TYPEHASH, keccak256('attest-rollup'), keccak256('1'), u256(chainId),
    concat(new Uint8Array(12), address),
  ));
}

/** The EIP-712 digest a record's submitter signed: over record[64:192] and the nonce word. */
export function computeEventDigest(domainSeparator, record) {
  const struct = keccak256(concat(EVENT_TYPEHASH, record.slice(64, 192), record.slice(224, 256)));
  return keccak256(concat(Uint8Array.of(0x19, 0x01), domainSeparator, struct));
}

/** The EIP-712 digest of a receipt (docs/spec.md §5). */
export function computeReceiptDigest(domainSeparator, receipt) {
  const struct = keccak256(concat(
    RECEIPT_TYPEHASH, u256(receipt.firstSeq), u256(receipt.count),
    fromHex(receipt.leavesRoot, 32, 'leavesRoot'), u256(receipt.deadline),
  ));
  return keccak256(concat(Uint8Array.of(0x19, 0x01), domainSeparator, struct));
}

/** The address (20 bytes) an Ethereum (v 27/28, low-s) signature of `digest` recovers to. */
export function recoverAddress(digest, v, r, s) {
  if (v !== 27 && v !== 28) throw new VerifyError(`v must be 27 or 28, got ${v}`);
  const sInt = wordInt(s);
  if (sInt > SECP256K1_HALF_N) throw new VerifyError('s is in the upper half of the curve order (EIP-2)');
  let point;
  try {
    const sig = secp256k1.Signature.fromBytes(concat(Uint8Array.of(v - 27), r, s), 'recovered');
    point = sig.recoverPublicKey(digest);
  } catch (e) {
    throw new VerifyError(`signature does not recover: ${e.message}`);
  }
  const uncompressed = point.toBytes(false);
  return keccak256(uncompressed.slice(1)).slice(12);
}

/** Rule 2 (docs/spec.md §8): throws unless a signed record recovers to its submitter. */
export function verifyRecordSignature(domainSeparator, record) {
  const rec = decodeRecord(record);
  if (!rec.signed) {
    if (!zero(record, 288, 352)) throw new VerifyError('unsigned record with non-zero r or s');
    return { signed: false };
  }
  const signer = recoverAddress(computeEventDigest(domainSeparator, record), rec.v, rec.r, rec.s);
  if (equal(signer, new Uint8Array(20))) throw new VerifyError('signature recovers to the zero address');
  if (!equal(signer, rec.submitter)) {
    throw new VerifyError(`signature recovers to ${toHex(signer)}, not the submitter ${toHex(rec.submitter)}`);
  }
  return { signed: true, signer: toHex(signer) };
}

/**
 * Rule 2 for a forced record (v = 1, docs/spec.md §8): its words 2..10 hash to L1's inbox entry
 * j = its nonce, and L1 recorded that entry's inclusion at exactly `seq` by a live checkpoint.
 */
export async function verifyForcedRecord(l1, record, seq) {
  const rec = decodeRecord(record);
  if (!rec.forced) throw new VerifyError('not a forced record (v is not 1)');
  const j = Number(rec.nonce);
  const entry = await l1.forcedEntry(j);
  if (!equal(keccak256(record.slice(64, RECORD_SIZE)), entry.entryHash)) {
    throw new VerifyError(`forced record does not match L1's inbox entry ${j}`);
  }
  if (entry.included === null || entry.included.seq !== seq) {
    const where = entry.included === null ? 'no inclusion' : `its inclusion at seq ${entry.included.seq}`;
    throw new VerifyError(`L1 recorded ${where} of inbox entry ${j}, not seq ${seq}`);
  }
  const by = await l1.checkpoint(entry.included.checkpoint);
  if (by.status === 3) throw new VerifyError(`checkpoint ${by.index}, which proved inbox entry ${j}, is reverted`);
  return { index: j, checkpoint: by.index, deadline: entry.deadline };
}

// --- JSON-RPC over fetch -----------------------------------------------------------------

let ids = 0;

/** One JSON-RPC call with fetch; throws `RpcError` (JSON-RPC error) or a network error. */
export async function rpcCall(url, method, params = [], { fetchFn = globalThis.fetch, timeoutMs = 10000 } = {}) {
  const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = ctrl ? setTimeout(() => ctrl.abort(), timeoutMs) : null;
  try {
    const res = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++ids, method, params }),
      signal: ctrl ? ctrl.signal : undefined,
    });
    const body = await res.json();
    if (body.error) throw new RpcError(body.error.code, body.error.message, body.error.data);
    return body.result;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export class RpcError extends Error {
  constructor(code, message, data) {
    super(`${message} (${code})`);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }
}

// --- L1 (docs/spec.md §7.1) ------------------------------------------------------------------

export const CHECKPOINT_STATUS = ['none', 'pending', 'final', 'reverted'];
const SELECTORS = {
  checkpointCount: '0x1f618cd2',
  checkpoints: '0xb8a24252',
  latestFinalized: '0x6cdd45ae',
  bond: '0x64c9ec6f',
  frozen: '0x054f7d9c',
  minBond: '0x831518b7',
  challengeWindow: '0x861a1412',
  daOpenCount: '0xc585a2bc',
  daChallengeCount: '0x1b91e3c2',
  daChallenges: '0xad3f949f',
  sequencer: '0x5c1bba38',
  inbox: '0xe5a1c356',
  inboxAt: '0x1e2a4034',
  inboxCount: '0xa95f6a84',
  forcedIncluded: '0xfa93671d',
};
const DA_STATES = ['none', 'open', 'answered', 'upheld', 'void'];

/** Topic 0 of the rollup's events, for eth_getLogs (l1_contracts/Rollup.vy). */
export const EVENT_TOPICS = {
  CheckpointCommitted: toHex(keccak256('CheckpointCommitted(uint256,uint64,bytes32,uint64,uint64,uint64)')),
  CheckpointsReverted: toHex(keccak256('CheckpointsReverted(uint256,uint256,uint256)')),
  FraudProven: toHex(keccak256('FraudProven(uint256,uint8,address,uint256,uint256)')),
  Frozen: toHex(keccak256('Frozen(uint8,uint256)')),
  DAChallengeOpened: toHex(keccak256('DAChallengeOpened(uint256,uint256,address,uint64,uint64,uint64,uint256)')),
};

/** Read-only access to the rollup contract through an L1 JSON-RPC endpoint (eth_call). */
export class L1Reader {
  constructor(url, contract, { fetchFn = globalThis.fetch } = {}) {
    this.url = url;
    this.contract = toHex(fromHex(contract, 20, 'contract'));
    this.fetchFn = fetchFn;
  }

  call(method, params) {
    return rpcCall(this.url, method, params, { fetchFn: this.fetchFn });
  }

  async view(name, ...args) {
    const data = SELECTORS[name] + args.map((a) => toHex(u256(a)).slice(2)).join('');
    const out = await this.call('eth_call', [{ to: this.contract, data }, 'latest']);
    return fromHex(out, undefined, `${name}() result`);
  }

  async chainId() {
    return Number(BigInt(await this.call('eth_chainId', [])));
  }

  /** `block.timestamp` of the latest L1 block: the clock checkpoint statuses are computed at. */
  async now() {
    const block = await this.call('eth_getBlockByNumber', ['latest', false]);
    return Number(BigInt(block.timestamp));
  }

  async checkpointCount() {
    return Number(wordInt(await this.view('checkpointCount')));
  }

  /** `checkpoints(index)`: {index, size, root (bytes), committedAt, challengeEnds, status}. */
  async checkpoint(index) {
    const out = await this.view('checkpoints', index);
    if (out.length !== 160) throw new MalformedError(`checkpoints(${index}) returned ${out.length} bytes`);
    const status = Number(wordInt(out, 128, 160));
    return {
      index,
      size: Number(wordInt(out, 0, 32)),
      root: out.slice(32, 64),
      committedAt: Number(wordInt(out, 64, 96)),
      challengeEnds: Number(wordInt(out, 96, 128)),
      status,
      statusName: CHECKPOINT_STATUS[status] ?? `unknown(${status})`,
    };
  }

  /** Index of the latest final checkpoint, or null when none is final. */
  async latestFinalized() {
    const v = wordInt(await this.view('latestFinalized'));
    return v === UINT256_MAX ? null : Number(v);
  }

  async bond() { return wordInt(await this.view('bond')); }
  async minBond() { return wordInt(await this.view('minBond')); }
  async frozen() { return wordInt(await this.view('frozen')) !== 0n; }
  async challengeWindow() { return Number(wordInt(await this.view('challengeWindow'))); }
  async daOpenCount() { return Number(wordInt(await this.view('daOpenCount'))); }
  async daChallengeCount() { return Number(wordInt(await this.view('daChallengeCount'))); }

  async inboxCount() { return Number(wordInt(await this.view('inboxCount'))); }
  async forcedIncluded() { return Number(wordInt(await this.view('forcedIncluded'))); }

  /**
   * Forced-inclusion inbox entry `j` (docs/spec.md §7.3): {index, entryHash (bytes), deadline,
   * included: {seq, checkpoint} of the latest commit that proved it, or null}.
   */
  async forcedEntry(j) {
    const [entryHash, atOut] = await Promise.all([this.view('inbox', j), this.view('inboxAt', j)]);
    const at = wordInt(atOut);
    const seqPlus1 = (at >> 48n) & ((1n << 64n) - 1n);
    const cpPlus1 = at >> 112n;
    return {
      index: j,
      entryHash: entryHash.slice(0, 32),
      deadline: Number(at & ((1n << 48n) - 1n)),
      included: seqPlus1 && cpPlus1 ? { seq: Number(seqPlus1 - 1n), checkpoint: Number(cpPlus1 - 1n) } : null,
    };
  }

  /** `daChallenges(id)`: {id, checkpointIndex, start, end, deadline, state, challenger, bond}. */
  async daChallenge(id) {
    const out = await this.view('daChallenges', id);
    return {
      id,
      checkpointIndex: Number(wordInt(out, 0, 32)),
      start: Number(wordInt(out, 32, 64)),
      end: Number(wordInt(out, 64, 96)),
      deadline: Number(wordInt(out, 96, 128)),
      state: DA_STATES[Number(wordInt(out, 128, 160))] ?? 'unknown',
      challenger: toHex(out.slice(172, 192)),
      bond: wordInt(out, 192, 224),
    };
  }

  /** The rollup's logs of one event kind (topic 0), oldest first, with their block times. */
  async logs(name) {
    const logs = await this.call('eth_getLogs', [{
      address: this.contract, fromBlock: '0x0', toBlock: 'latest', topics: [EVENT_TOPICS[name]],
    }]);
    return logs.map((l) => ({
      name,
      topics: l.topics,
      data: fromHex(l.data),
      blockNumber: Number(BigInt(l.blockNumber)),
      transactionHash: l.transactionHash,
    }));
  }

  /** The checkpoint a light client checks `seq` against (docs/spec.md §11 step 1). */
  async chooseCheckpoint(seq, { allowPending = true } = {}) {
    const k = await this.latestFinalized();
    if (k !== null) {
      const cp = await this.checkpoint(k);
      if (cp.size > seq) return { checkpoint: cp, verdict: 'final' };
    }
    const count = await this.checkpointCount();
    if (count === 0) return { checkpoint: null, verdict: 'not final yet: no checkpoint on L1' };
    const latest = await this.checkpoint(count - 1);
    if (latest.status === 1 && latest.size > seq) {
      return allowPending
        ? { checkpoint: latest, verdict: 'pending' }
        : { checkpoint: null, verdict: `not final yet: checkpoint ${latest.index} is pending` };
    }
    if (latest.status === 3 && latest.size > seq) {
      // Find the first reverted checkpoint that covered seq, to name it.
      let first = latest;
      for (let i = count - 2; i >= 0; i--) {
        const cp = await this.checkpoint(i);
        if (cp.status !== 3 || cp.size <= seq) break;
        first = cp;
      }
      return {
        checkpoint: first,
        verdict: `L1 disagrees: checkpoint ${first.index}, which covered seq ${seq}, was reverted by a fraud proof`,
      };
    }
    return { checkpoint: null, verdict: `not final yet: no live checkpoint covers seq ${seq}` };
  }
}

// --- the verification, step by step (docs/spec.md §11) -----------------------------------------

function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Verify event `seq` served by `serverUrl` against the rollup at `contract` on `l1Url`.
 *
 * Returns {ok, steps, checkpoint, bundle}: each step is {id, title, ok (true/false/null =
 * not reached), detail}. The server supplies only the record, the meta and the proofs; the
 * checkpoint (size, root, status) and the EIP-712 domain come from L1. `onStep` is called as
 * each step settles (for a live display). `event`, when given, is the `attest_getEvent` answer
 * a page already shows: it is not fetched again, and the record proven must be its record, so
 * what the page displays is what was verified.
 */
export async function verifyEvent({ serverUrl, l1Url, contract, seq, event: shown = null, allowPending = true, fetchFn = globalThis.fetch, onStep = () => {} }) {
  const steps = [
    { id: 'l1', title: 'Read the checkpoint from L1', ok: null, detail: '' },
    { id: 'fetch', title: 'Fetch the record and proof from the server', ok: null, detail: '' },
    { id: 'record', title: 'Record is 352 well-formed bytes at this seq', ok: null, detail: '' },
    { id: 'leaf', title: 'Leaf hash recomputed from the record bytes', ok: null, detail: '' },
    { id: 'meta', title: 'Meta hashes to the record\'s metaHash', ok: null, detail: '' },
    { id: 'signature', title: 'EIP-712 signature recovers to the submitter', ok: null, detail: '' },
    { id: 'inclusion', title: 'RFC 9162 inclusion proof reproduces L1\'s root', ok: null, detail: '' },
    { id: 'status', title: 'Checkpoint status on L1', ok: null, detail: '' },
  ];
  const result = { ok: false, steps, checkpoint: null, bundle: null, failedStep: null };
  const byId = Object.fromEntries(steps.map((s) => [s.id, s]));
  const settle = (id, ok, detail) => {
    byId[id].ok = ok;
    byId[id].detail = detail;
    onStep(byId[id]);
    if (!ok && result.failedStep === null) result.failedStep = id;
    return ok;
  };
  const run = async (id, fn) => {
    try {
      const detail = await fn();
      return settle(id, true, detail ?? '');
    } catch (e) {
      settle(id, false, e instanceof VerifyError || e instanceof RpcError ? e.message : `${e.name}: ${e.message}`);
      return false;
    }
  };

  const l1 = new L1Reader(l1Url, contract, { fetchFn });
  let chainId;
  let chosen;
  let now;
  if (!(await run('l1', async () => {
    chainId = await l1.chainId();
    now = await l1.now();
    chosen = await l1.chooseCheckpoint(seq, { allowPending });
    if (chosen.checkpoint === null || chosen.checkpoint.status === 3) throw new VerifyError(chosen.verdict);
    const cp = chosen.checkpoint;
    result.checkpoint = cp;
    return `chain ${chainId}, checkpoint ${cp.index}: size ${cp.size}, root ${toHex(cp.root)}`;
  }))) {
    // Still report the status of the checkpoint that covered it, when there is one.
    if (chosen && chosen.checkpoint) {
      result.checkpoint = chosen.checkpoint;
      settle('status', false, chosen.verdict);
    }
    return result;
  }
  const cp = chosen.checkpoint;
  const call = (method, params) => rpcCall(serverUrl, method, params, { fetchFn });

  let event;
  let proof;
  let anchorProof = [];
  if (!(await run('fetch', async () => {
    event = shown ?? await call('attest_getEvent', [seq]);
    try {
      proof = await call('attest_getProof', [seq, { checkpoint: cp.index }]);
    } catch (e) {
      // A server without a record of this checkpoint: prove against its tree and anchor that
      // tree to the checkpoint with a consistency proof (docs/spec.md §11 step 2).
      if (!(e instanceof RpcError) || e.code !== -32004) throw e;
      proof = await call('attest_getProof', [seq]);
      const cons = await call('attest_getConsistencyProof', [cp.size, proof.treeSize]);
      anchorProof = cons.proof;
    }
    return `proof against tree size ${proof.treeSize} (${proof.proof.length} hashes)`;
  }))) return result;

  let record;
  await run('record', () => {
    record = fromHex(proof.record, RECORD_SIZE, 'record');
    if (typeof event.record === 'string' && event.record.toLowerCase() !== proof.record.toLowerCase()) {
      throw new VerifyError('the server proved another record than the one it served as the event');
    }
    const rec = decodeRecord(record);
    if (!rec.wellFormed) throw new VerifyError('record is not well formed (ABI padding or kind)');
    if (rec.seq !== BigInt(seq)) throw new VerifyError(`record says seq ${rec.seq}, asked for seq ${seq}`);
    return `kind ${rec.kind}, seq ${rec.seq}`;
  });
  if (!record) return result;
  const leaf = computeLeafHash(record);
  await run('leaf', () => {
    if (!equal(leaf, fromHex(proof.leafHash, 32, 'leafHash'))) {
      throw new VerifyError(`server said ${proof.leafHash}, the record hashes to ${toHex(leaf)}`);
    }
    return toHex(leaf);
  });
  const rec = decodeRecord(record);
  await run('meta', () => {
    if (rec.forced && event.meta === null) {
      // The inbox takes a metaHash: the meta itself never reaches the sequencer.
      return `forced event: metaHash ${toHex(rec.metaHash)} as posted to L1 (the meta is the poster's)`;
    }
    const want = computeMetaHash(event.meta);
    if (!equal(want, rec.metaHash)) {
      throw new VerifyError(`served meta hashes to ${toHex(want)}, the record says ${toHex(rec.metaHash)}`);
    }
    return event.meta === null ? 'no meta (metaHash is zero)' : `H(JCS(meta)) = ${toHex(want)}`;
  });
  await run('signature', async () => {
    if (rec.forced) {
      const f = await verifyForcedRecord(l1, record, seq);
      return `forced: L1 inbox entry ${f.index}, posted by ${toHex(rec.submitter)}; L1 proved it at seq ${seq} when checkpoint ${f.checkpoint} was committed`;
    }
    const out = verifyRecordSignature(computeDomainSeparator(chainId, l1.contract), record);
    return out.signed
      ? `recovers to ${out.signer} in the domain of chain ${chainId}, contract ${l1.contract}`
      : `unsigned: vouched for by the token of ${toHex(rec.submitter)} (r = s = 0)`;
  });
  await run('inclusion', () => {
    const path = proof.proof.map((h) => fromHex(h, 32, 'proof element'));
    const treeSize = proof.treeSize;
    const root = computeRootFromInclusionProof(leaf, seq, treeSize, path);
    if (treeSize === cp.size) {
      if (!equal(root, cp.root)) {
        throw new VerifyError(`proof reproduces ${toHex(root)}, but L1's checkpoint ${cp.index} root is ${toHex(cp.root)}`);
      }
      return `root ${toHex(root)} at size ${treeSize} equals L1's`;
    }
    if (!equal(root, fromHex(proof.root, 32, 'root'))) {
      throw new VerifyError(`proof reproduces ${toHex(root)}, not the served root of size ${treeSize}`);
    }
    verifyConsistency(cp.size, treeSize, cp.root, root, anchorProof.map((h) => fromHex(h, 32, 'anchor proof element')));
    return `root of size ${treeSize} extends L1's checkpoint ${cp.index} (consistency proof checked)`;
  });
  const statusOk = await run('status', () => {
    if (cp.status === 2) return `final (challenge window ended ${fmtDuration(now - cp.challengeEnds)} ago)`;
    if (cp.status === 1) {
      if (!allowPending) throw new VerifyError('pending, and pending checkpoints were not accepted');
      return `pending: final in ${fmtDuration(cp.challengeEnds - now)} unless a fraud proof reverts it`;
    }
    throw new VerifyError(`status ${cp.statusName}`);
  });
  result.ok = steps.every((s) => s.ok === true);
  result.final = statusOk && cp.status === 2;
  result.bundle = {
    format: 'attest-proof-bundle/1',
    seq,
    record: proof.record,
    leafHash: proof.leafHash,
    treeSize: proof.treeSize,
    root: proof.root,
    proof: proof.proof,
    checkpoint: { index: cp.index, treeSize: cp.size, root: toHex(cp.root) },
    anchorProof,
    chainId,
    contract: l1.contract,
    meta: event.meta,
  };
  return result;
}

/**
 * Checkpoint `index` read from L1 extends the previous live one: the server's consistency
 * proof between the two sizes is checked against the two roots read from L1.
 */
export async function verifyCheckpointConsistency({ serverUrl, l1Url, contract, index, fetchFn = globalThis.fetch }) {
  const l1 = new L1Reader(l1Url, contract, { fetchFn });
  const cp = await l1.checkpoint(index);
  if (cp.status === 0) throw new VerifyError(`no checkpoint ${index} on L1`);
  let prev = null;
  for (let i = index - 1; i >= 0; i--) {
    const c = await l1.checkpoint(i);
    if (c.status !== 3) {
      prev = c;
      break;
    }
  }
  if (prev === null) {
    return { checkpoint: cp, previous: null, detail: 'no earlier live checkpoint: every tree extends the empty one' };
  }
  if (prev.size > cp.size) throw new VerifyError(`checkpoint ${index} is smaller than checkpoint ${prev.index}`);
  const cons = await rpcCall(serverUrl, 'attest_getConsistencyProof', [prev.size, cp.size], { fetchFn });
  verifyConsistency(prev.size, cp.size, prev.root, cp.root, cons.proof.map((h) => fromHex(h, 32, 'proof element')));
  return {
    checkpoint: cp,
    previous: prev,
    detail: `size ${cp.size} extends checkpoint ${prev.index} (size ${prev.size}): ${cons.proof.length}-hash consistency proof checked against both L1 roots`,
  };
}
