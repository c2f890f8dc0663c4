// node --test: the browser verifier against the known answers of tests/vectors/rfc9162_keccak.json
// and the worked examples of docs/spec.md §2.4 and §4.3.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as v from '../src/verify.js';

const vectors = JSON.parse(readFileSync(new URL('../../tests/vectors/rfc9162_keccak.json', import.meta.url)));
const leaves = vectors.leafHashes.map((h) => v.fromHex(h, 32));
const roots = vectors.roots.map((h) => v.fromHex(h, 32));
const hx = (h) => v.fromHex(h, 32);

test('leaf hashes are H(0x00 || record)', () => {
  vectors.records.forEach((r, i) => assert.equal(v.toHex(v.computeLeafHash(v.fromHex(r, 352))), vectors.leafHashes[i]));
});

test('every inclusion vector verifies, and fails once tampered', () => {
  assert.ok(vectors.inclusion.length >= 100);
  for (const { index, treeSize, proof } of vectors.inclusion) {
    const path = proof.map(hx);
    v.verifyInclusion(leaves[index], index, treeSize, path, roots[treeSize]);
    if (path.length) {
      const bad = path.map((p) => p.slice());
      bad[0][0] ^= 1;
      assert.equal(v.isValidInclusion(leaves[index], index, treeSize, bad, roots[treeSize]), false);
    }
    assert.throws(() => v.verifyInclusion(leaves[index], index, treeSize, [...path, path[0] ?? leaves[0]], roots[treeSize]), v.VerifyError);
  }
});

test('every consistency vector verifies, and fails against a wrong root', () => {
  assert.ok(vectors.consistency.length >= 100);
  for (const { first, second, proof } of vectors.consistency) {
    const path = proof.map(hx);
    v.verifyConsistency(first, second, roots[first], roots[second], path);
    if (first > 0 && first < second) {
      assert.throws(() => v.verifyConsistency(first, second, roots[first], roots[first], path), v.VerifyError);
    }
  }
});

test('decoded fields, metaHash (JCS) and signatures match the vectors', () => {
  const domain = v.computeDomainSeparator(vectors.eip712Domain.chainId, vectors.eip712Domain.verifyingContract);
  vectors.records.forEach((r, i) => {
    const d = vectors.decoded[i];
    const rec = v.decodeRecord(v.fromHex(r, 352));
    assert.equal(Number(rec.seq), d.seq);
    assert.equal(Number(rec.timestamp), d.timestamp);
    assert.equal(v.toHex(rec.subject), d.subject);
    assert.equal(v.toHex(rec.digest), d.digest);
    assert.equal(v.toHex(rec.submitter), d.submitter.toLowerCase());
    assert.equal(rec.v, d.v);
    const meta = d.meta === null ? null : JSON.parse(d.meta);
    assert.equal(v.toHex(v.computeMetaHash(meta)), d.metaHash);
    if (d.meta !== null) assert.equal(v.canonicalJson(meta), d.meta);
    const out = v.verifyRecordSignature(domain, v.fromHex(r, 352));
    assert.equal(out.signed, d.v !== 0);
    if (out.signed) assert.equal(out.signer, d.submitter.toLowerCase());
  });
});

test('a record whose signature does not recover to its submitter fails rule 2', () => {
  const domain = v.computeDomainSeparator(vectors.eip712Domain.chainId, vectors.eip712Domain.verifyingContract);
  const i = vectors.decoded.findIndex((d) => d.v !== 0);
  const rec = v.fromHex(vectors.records[i], 352);
  rec[130] ^= 1; // the digest word: the signature now covers other content
  assert.throws(() => v.verifyRecordSignature(domain, rec), /recovers to/);
  const other = v.computeDomainSeparator(1, vectors.eip712Domain.verifyingContract);
  assert.throws(() => v.verifyRecordSignature(other, v.fromHex(vectors.records[i], 352)), /not the submitter/);
});

// docs/spec.md §2.4: leaves are the single bytes 0..6.
test('spec §2.4 known answers', () => {
  const d = [0, 1, 2, 3, 4, 5, 6].map((i) => v.computeLeafHash(Uint8Array.of(i)));
  assert.equal(v.toHex(d[0]), '0x54a8c0ab653c15bfb48b47fd011ba2b9617af01cb45cab344acd57c924d56798');
  assert.equal(v.toHex(v.EMPTY_ROOT), '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  const root4 = hx('0x2b363874bce9f21cd14adf333f51df6a225bd1ed3997ab1e7123ade2c6653aec');
  const root7 = hx('0x07a69c1f746d92ace4eb1c7c5b746a8c4b425a566a29e9908509576de62e2fda');
  v.verifyInclusion(d[5], 5, 7, [d[4], d[6], root4], root7);
  const mth47 = hx('0x079859fb79d8f04d70cf8a3e22f77c159ff20fb6a9afbb041f49c28f7b783126');
  v.verifyConsistency(4, 7, root4, root7, [mth47]);
  v.verifyConsistency(0, 7, v.EMPTY_ROOT, root7, []);
});

// docs/spec.md §4.3: the worked EIP-712 example.
test('spec §4.3 worked example: metaHash, domain, digest, leaf hash, signer', () => {
  const meta = { model: 'm-7', latencyMs: 12, tags: ['a', 'b'] };
  assert.equal(v.canonicalJson(meta), '{"latencyMs":12,"model":"m-7","tags":["a","b"]}');
  assert.equal(v.toHex(v.computeMetaHash(meta)), '0x5389390fd833833c8aed057e2b116118ca12af96d56a70cdfc772d23346746ef');
  const domain = v.computeDomainSeparator(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
  assert.equal(v.toHex(domain), '0x2d752eb1a725e9a7d362002f8bfe0c8e69968ec8cb1fe4288d1fa9c6b4f49c51');
  const record = v.fromHex('0x00000000000000000000000000000000000000000000000000000000000000290000000000000000000000000000000000000000000000000000019adcc9bd7b696e666572656e63655f726563656970740000000000000000000000000000002188becbc1c5f0cbdd36dd4f0c597b90c98b6871a3ecf50108d2efcf9e1a740619a7f46deb88629b71ecdf869dc483b95294398d06123c6bf78321647ef143d45389390fd833833c8aed057e2b116118ca12af96d56a70cdfc772d23346746ef000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb922660000000000000000000000000000000000000000000000000000000000000007000000000000000000000000000000000000000000000000000000000000001cb2439994927075d8ecbc1943b22ca41b7a399863295f827a77b1b81df312463331e3b93fa1c8a45ee771a4e3ebd36118dbde6438c32ccf32eb3e2416522c7e9c', 352);
  assert.equal(v.toHex(v.computeEventDigest(domain, record)), '0xb5cea8ceda26784b46d42d273aeac4d61feaa39ab9f4f5a8480bc336ab629f8f');
  assert.equal(v.toHex(v.computeLeafHash(record)), '0xb26aa19269a4ddc067298423df4829f6fcd8bc3065a7da85797d20661c0dced1');
  const rec = v.decodeRecord(record);
  assert.equal(rec.kind, 'inference_receipt');
  assert.equal(rec.seq, 41n);
  assert.equal(rec.timestamp, 1764640800123n);
  assert.equal(v.verifyRecordSignature(domain, record).signer, '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266');
  const receipt = { firstSeq: 41, count: 1, leavesRoot: '0xb26aa19269a4ddc067298423df4829f6fcd8bc3065a7da85797d20661c0dced1', deadline: 1764641400 };
  assert.equal(v.toHex(v.computeReceiptDigest(domain, receipt)), '0xe3c7b1cdc34601a0f2c178fa8ea261532b6ad3e4b8acffc23cf2d9a977996ec0');
});

test('malformed input is told apart from a failed proof', () => {
  assert.throws(() => v.fromHex('0x12', 32), v.MalformedError);
  assert.throws(() => v.verifyInclusion(leaves[0], 0, 1, [new Uint8Array(31)], roots[1]), v.MalformedError);
  assert.throws(() => v.verifyInclusion(leaves[0], 1, 1, [], roots[1]), v.VerifyError);
});

// A fake L1 and server over a fake fetch: the whole procedure, and the step that fails.
function fakeNetwork({ status = 2, tamper = false } = {}) {
  const size = 7;
  const seq = 3;
  const record = vectors.records[seq];
  const incl = vectors.inclusion.find((x) => x.index === seq && x.treeSize === size);
  const word = (n) => BigInt(n).toString(16).padStart(64, '0');
  const cpData = '0x' + word(size) + vectors.roots[size].slice(2) + word(1000) + word(1120) + word(status);
  const decoded = vectors.decoded[seq];
  const handlers = {
    eth_chainId: () => '0x' + vectors.eip712Domain.chainId.toString(16),
    eth_getBlockByNumber: () => ({ timestamp: '0x' + (1100).toString(16) }),
    eth_call: ([{ data }]) => {
      const sel = data.slice(0, 10);
      if (sel === '0x6cdd45ae') return '0x' + (status === 2 ? word(0) : 'f'.repeat(64));
      if (sel === '0x1f618cd2') return '0x' + word(1);
      if (sel === '0xb8a24252') return cpData;
      throw new Error(`unexpected call ${sel}`);
    },
    attest_getEvent: () => ({ seq, meta: decoded.meta === null ? null : JSON.parse(decoded.meta), record }),
    attest_getProof: () => ({
      seq, record, leafHash: vectors.leafHashes[seq], treeSize: size, root: vectors.roots[size],
      proof: tamper ? incl.proof.map((p, i) => (i === 0 ? '0x' + '00'.repeat(32) : p)) : incl.proof,
    }),
  };
  return async (_url, init) => {
    const req = JSON.parse(init.body);
    const result = handlers[req.method](req.params);
    return { json: async () => ({ jsonrpc: '2.0', id: req.id, result }) };
  };
}

const args = { serverUrl: 'http://server', l1Url: 'http://l1', contract: vectors.eip712Domain.verifyingContract, seq: 3 };

test('verifyEvent passes every step against an honest server and a final checkpoint', async () => {
  const out = await v.verifyEvent({ ...args, fetchFn: fakeNetwork() });
  assert.deepEqual(out.steps.filter((s) => !s.ok), []);
  assert.equal(out.ok, true);
  assert.equal(out.final, true);
  assert.equal(out.bundle.format, 'attest-proof-bundle/1');
});

test('verifyEvent names the inclusion step when the proof is tampered', async () => {
  const out = await v.verifyEvent({ ...args, fetchFn: fakeNetwork({ tamper: true }) });
  assert.equal(out.ok, false);
  assert.equal(out.failedStep, 'inclusion');
  assert.match(out.steps.find((s) => s.id === 'inclusion').detail, /L1's checkpoint 0 root/);
});

test('verifyEvent refuses an event whose checkpoint was reverted', async () => {
  const out = await v.verifyEvent({ ...args, fetchFn: fakeNetwork({ status: 3 }) });
  assert.equal(out.ok, false);
  assert.equal(out.failedStep, 'l1');
  assert.match(out.steps[0].detail, /reverted/);
});

test('verifyEvent refuses a proof of another record than the event shown', async () => {
  const other = vectors.records[4];
  const shown = { seq: 3, meta: null, record: other };
  const out = await v.verifyEvent({ ...args, event: shown, fetchFn: fakeNetwork() });
  assert.equal(out.ok, false);
  assert.equal(out.failedStep, 'record');
  assert.match(out.steps.find((s) => s.id === 'record').detail, /another record/);
});

/** An unsigned 352-byte record (docs/spec.md §3) with the fields revocationStatus reads. */
function makeRecord({ seq, kind = 'attestation', subject = 1, digest = new Uint8Array(32), meta = null, submitter = 0x11 }) {
  const r = new Uint8Array(352);
  r[31] = seq;
  r.set(new TextEncoder().encode(kind), 64);
  r[127] = subject;
  r.set(digest, 128);
  r.set(v.computeMetaHash(meta), 160);
  r.fill(submitter, 204, 224);
  return r;
}

test('revocationStatus: a later revocation by the same submitter naming the leaf hash revokes', () => {
  const target = { record: makeRecord({ seq: 3 }), meta: null };
  const leaf = v.computeLeafHash(target.record);
  const revocation = (over = {}) => ({ record: makeRecord({ seq: 9, kind: 'revocation', digest: leaf, ...over }), meta: null });
  assert.equal(v.revocationStatus(target, revocation()), 'revokes');
  assert.equal(v.revocationStatus(target, revocation({ subject: 7 })), 'revokes'); // found by digest
  assert.equal(v.revocationStatus(target, revocation({ submitter: 0x22 })), null); // someone else
  assert.equal(v.revocationStatus(target, revocation({ seq: 2 })), null); // earlier in the log
  assert.equal(v.revocationStatus(target, revocation({ digest: new Uint8Array(32) })), null); // names another record
  assert.equal(v.revocationStatus(target, { record: makeRecord({ seq: 9, digest: leaf }), meta: null }), null); // not a revocation
});

test('revocationStatus: supersession needs the same subject and a meta the record commits to', () => {
  const target = { record: makeRecord({ seq: 3 }), meta: null };
  const named = { supersedes: v.toHex(v.computeLeafHash(target.record)), version: 2 };
  const newer = { record: makeRecord({ seq: 5, meta: named }), meta: named };
  assert.equal(v.revocationStatus(target, newer), 'supersedes');
  // A server attaching a `supersedes` meta the record does not hash to is not believed.
  assert.equal(v.revocationStatus(target, { record: makeRecord({ seq: 5 }), meta: named }), null);
  assert.equal(v.revocationStatus(target, { record: makeRecord({ seq: 5, subject: 2, meta: named }), meta: named }), null);
  assert.equal(v.revocationStatus(target, { record: makeRecord({ seq: 5, submitter: 0x22, meta: named }), meta: named }), null);
  const other = { supersedes: '0x' + 'ab'.repeat(32) };
  assert.equal(v.revocationStatus(target, { record: makeRecord({ seq: 5, meta: other }), meta: other }), null);
});
