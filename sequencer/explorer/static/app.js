// The explorer's pages: a dashboard, search, and one view per event, subject, submitter,
// block and checkpoint, routed by the URL fragment (#/event/5). Data comes from this node's
// JSON-RPC endpoint (POST /); anything a verification relies on is read from L1 by this
// browser (verify.js) and recomputed here.
import {
  CHECKPOINT_STATUS, L1Reader, RpcError, VerifyError, computeLeafHash, decodeRecord, fromHex,
  revocationStatus, toHex, verifyCheckpointConsistency, verifyEvent,
} from './verify.js';

const main = document.getElementById('main');
const POLL_MS = 2000;
const L1_POLL_MS = 5000;
const PAGE = 20;

// --- small helpers -----------------------------------------------------------------------------

let rpcId = 0;
async function rpc(method, ...params) {
  const res = await fetch('/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new RpcError(body.error.code, body.error.message, body.error.data);
  return body.result;
}

/** Many calls in one JSON-RPC batch (one HTTP request); each entry a result or an RpcError. */
async function rpcBatch(calls) {
  if (calls.length === 0) return [];
  const first = rpcId + 1;
  const res = await fetch('/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(calls.map(([method, params]) => ({ jsonrpc: '2.0', id: ++rpcId, method, params }))),
  });
  const byId = new Map((await res.json()).map((a) => [a.id, a]));
  return calls.map((_, i) => {
    const a = byId.get(first + i);
    return a && !a.error ? a.result : new RpcError(a?.error?.code ?? 0, a?.error?.message ?? 'no answer');
  });
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const link = (href, text, cls) => h('a', { href, class: cls }, text);
const hex = (s) => h('span', { class: 'hex' }, s);
const short = (s) => (typeof s === 'string' && s.length > 20 ? `${s.slice(0, 10)}…${s.slice(-6)}` : String(s));
const fmtInt = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));

function fmtAgo(seconds) {
  const s = Math.round(Math.abs(seconds));
  const unit = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 129600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
  return seconds >= 0 ? `${unit} ago` : `in ${unit}`;
}

function fmtTime(ms) {
  const d = new Date(Number(ms));
  return `${d.toISOString().replace('T', ' ').replace('Z', ' UTC')} (${fmtAgo((Date.now() - Number(ms)) / 1000)})`;
}

function fmtCountdown(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function badge(status) {
  return h('span', { class: `badge ${status}` }, status);
}

function table(headers, rows) {
  return h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))
      : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'none'))),
  ));
}

function fields(pairs) {
  return h('div', { class: 'scroll' }, h('table', { class: 'fields' }, h('tbody', {},
    pairs.filter(Boolean).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))))));
}

function errorBox(e) {
  return h('p', { class: 'error' }, e instanceof Error ? e.message : String(e));
}

function eth(wei) {
  const s = BigInt(wei).toString().padStart(19, '0');
  return `${s.slice(0, -18)}.${s.slice(-18, -14)} ETH`;
}

// --- L1 settings: the visitor's choice, defaulting to what the node reports ----------------

const settings = { status: null, l1Url: null, contract: null };

function l1Reader() {
  return settings.l1Url && settings.contract ? new L1Reader(settings.l1Url, settings.contract) : null;
}

function showL1Settings() {
  document.getElementById('l1-url').value = settings.l1Url ?? '';
  document.getElementById('l1-contract').value = settings.contract ?? '';
  document.getElementById('l1-summary').textContent = settings.l1Url
    ? `${settings.l1Url} · contract ${short(settings.contract)}` : 'none attached (set one to verify)';
}

function loadL1Settings(status) {
  const l1 = status.l1;
  settings.l1Url = localStorage.getItem('attest.l1Url') || (l1 ? l1.rpc : null);
  settings.contract = localStorage.getItem('attest.contract') || (l1 ? l1.contract : status.eip712Domain.verifyingContract);
  showL1Settings();
}

document.getElementById('l1-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  settings.l1Url = document.getElementById('l1-url').value.trim();
  settings.contract = document.getElementById('l1-contract').value.trim();
  localStorage.setItem('attest.l1Url', settings.l1Url);
  localStorage.setItem('attest.contract', settings.contract);
  showL1Settings();
  route();
});
document.getElementById('l1-reset').addEventListener('click', () => {
  localStorage.removeItem('attest.l1Url');
  localStorage.removeItem('attest.contract');
  loadL1Settings(settings.status);
  route();
});
document.getElementById('search-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = document.getElementById('search-input').value.trim();
  if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
});

// --- views -------------------------------------------------------------------------------------

// Each view may register timers and streams; they are stopped when the route changes.
let timers = [];
let cleanups = [];
function every(ms, fn) {
  const tick = () => { if (document.visibilityState === 'visible') fn(); };
  timers.push(setInterval(tick, ms));
}

/** Rate (events/s) over the samples, per interval, for the chart; and the latest rate. */
function rates(samples) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i][0] - samples[i - 1][0]) / 1000;
    if (dt > 0) out.push([samples[i][0], (samples[i][1] - samples[i - 1][1]) / dt]);
  }
  return out;
}

function chart(samples) {
  const r = rates(samples);
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('id', 'chart');
  svg.setAttribute('viewBox', '0 0 600 120');
  svg.setAttribute('preserveAspectRatio', 'none');
  if (r.length > 1) {
    const t0 = r[0][0];
    const t1 = r[r.length - 1][0];
    const max = Math.max(1, ...r.map((x) => x[1]));
    const pts = r.map(([t, v]) => `${((t - t0) / Math.max(1, t1 - t0)) * 600},${115 - (v / max) * 110}`);
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.append(line);
    // The label sits outside the SVG, which is stretched to the page's width.
    return h('div', {}, h('div', { class: 'muted' }, `peak ${Math.round(max).toLocaleString('en-US')} events/s, `
      + `${new Date(t0).toISOString().slice(11, 19)}–${new Date(t1).toISOString().slice(11, 19)} UTC`), svg);
  }
  return svg;
}

async function viewDashboard() {
  let samples = [];
  let lastMs = 0;
  let l1Now = null;
  let l1Checked = 0;
  const root = h('div', {}, h('h1', {}, 'Dashboard'));
  const cards = h('div', { class: 'cards' });
  const chartBox = h('div', {});
  const blocksBox = h('div', {});
  const cpBox = h('div', {});
  const l1Box = h('div', {});
  const followersBox = h('div', {});
  root.append(cards, h('h2', {}, 'Ingest rate, last 10 minutes'), chartBox,
    h('div', { class: 'grid2' },
      h('section', {}, h('h2', {}, 'Latest blocks'), blocksBox),
      h('section', {}, h('h2', {}, 'Checkpoints'), cpBox)),
    l1Box, h('h2', {}, 'Followers seen'), followersBox);
  const mode = h('span', { id: 'live-mode', class: 'muted' }, 'connecting…');
  root.firstChild.append(' ', mode);
  main.replaceChildren(root);

  async function render(d) {
    const fresh = d.ingest.samples.filter((x) => x[0] > lastMs);
    samples = samples.concat(fresh).slice(-600);
    if (samples.length) lastMs = samples[samples.length - 1][0];
    const r = rates(samples.slice(-6));
    const rate = r.length ? r.reduce((a, x) => a + x[1], 0) / r.length : 0;
    const st = d.status;
    cards.replaceChildren(
      card('Tree size', fmtInt(st.treeSize), 'tree-size'),
      card('Ingest rate', `${Math.round(rate).toLocaleString('en-US')}/s`, 'ingest-rate'),
      card('Latest block', st.latestBlock ? fmtInt(st.latestBlock.number) : '—'),
      card('Checkpoint lag', st.checkpointLag === null ? 'no L1' : `${fmtInt(st.checkpointLag)} events`),
      card('This node', d.role),
    );
    chartBox.replaceChildren(chart(samples));
    blocksBox.replaceChildren(table(['block', 'events', 'sealed'], d.blocks.map((b) => [
      link(`#/block/${b.number}`, fmtInt(b.number)), `${fmtInt(b.start)}–${fmtInt(b.end - 1)}`, fmtAgo((Date.now() - b.timestamp) / 1000),
    ])));
    const now = l1Now ?? Date.now() / 1000;
    cpBox.replaceChildren(table(['checkpoint', 'size', 'status'], d.checkpoints.map((c) => [
      link(`#/checkpoint/${c.index}`, c.index), fmtInt(c.treeSize),
      h('span', {}, badge(c.status), c.status === 'pending' ? ` final in ${fmtCountdown(c.challengeEnds - now)}` : ''),
    ])));
    followersBox.replaceChildren(table(['follower', 'block', 'lag', 'last seen'], d.followers.map((f) => [
      hex(f.name), fmtInt(f.block), `${fmtInt(f.lagBlocks)} blocks`, `${f.lastSeenS} s ago`,
    ])));
    if (Date.now() - l1Checked > L1_POLL_MS) {
      l1Checked = Date.now();
      l1Now = await pollL1(l1Box).catch((e) => { l1Box.replaceChildren(h('h2', {}, 'L1'), errorBox(e)); return null; });
    }
  }
  const poll = async () => render(await rpc('explorer_dashboard', lastMs));
  function startPolling(why) {
    mode.textContent = `· polling every ${POLL_MS / 1000} s (${why})`;
    poll().catch((e) => main.append(errorBox(e)));
    every(POLL_MS, () => poll().catch(() => {}));
  }
  if (typeof EventSource !== 'function') {
    startPolling('no server-sent events in this browser');
    return;
  }
  // The node pushes one snapshot a second to every open dashboard (GET /explorer/live); if it
  // refuses the stream (too many open) or the stream fails for good, poll instead.
  const source = new EventSource('/explorer/live');
  cleanups.push(() => source.close());
  let rendering = Promise.resolve();
  source.addEventListener('dashboard', (ev) => {
    mode.textContent = '· live (server-sent events)';
    const d = JSON.parse(ev.data);
    rendering = rendering.then(() => render(d)).catch(() => {});
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      startPolling('the node refused a live stream');
    } else {
      mode.textContent = '· reconnecting…';
    }
  });
}

function card(label, value, id) {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value', id }, value));
}

/** Bond, frozen, open DA challenges and the fraud timeline, read from L1 by this browser. */
async function pollL1(box) {
  const l1 = l1Reader();
  if (!l1) {
    box.replaceChildren(h('h2', {}, 'L1'), h('p', { class: 'muted' }, 'No L1 endpoint set.'));
    return null;
  }
  const [now, bond, minBond, frozen, daCount, fraud, reverted] = await Promise.all([
    l1.now(), l1.bond(), l1.minBond(), l1.frozen(), l1.daChallengeCount(),
    l1.logs('FraudProven'), l1.logs('CheckpointsReverted'),
  ]);
  const das = [];
  for (let id = Math.max(0, daCount - 20); id < daCount; id++) das.push(l1.daChallenge(id));
  const open = (await Promise.all(das)).filter((c) => c.state === 'open');
  const events = [
    ...fraud.map((l) => ({ block: l.blockNumber, cls: 'fraud', text: `fraud proven against checkpoint ${BigInt(l.topics[1]) === (1n << 256n) - 1n ? '(none: receipt deadline)' : BigInt(l.topics[1])}, rule ${BigInt(l.topics[2])}, by ${short('0x' + l.topics[3].slice(26))}`, tx: l.transactionHash })),
    ...reverted.map((l) => ({ block: l.blockNumber, cls: 'reverted', text: `checkpoints ${BigInt(l.topics[1])}–${BigInt(toHex(l.data.slice(0, 32)))} reverted`, tx: l.transactionHash })),
  ].sort((a, b) => a.block - b.block);
  box.replaceChildren(...[
    h('h2', {}, 'L1 (read by this browser)'),
    h('div', { class: 'cards' },
      card('Sequencer bond', eth(bond)),
      card('Frozen', frozen ? 'yes' : 'no', 'l1-frozen'),
      card('Open DA challenges', String(open.length)),
      card('L1 time', new Date(now * 1000).toISOString().slice(11, 19) + ' UTC'),
    ),
    bond < minBond ? h('p', { class: 'error' }, `bond below the minimum (${eth(minBond)}): no commits`) : null,
    open.length ? table(['challenge', 'checkpoint', 'range', 'answer due'], open.map((c) => [
      c.id, link(`#/checkpoint/${c.checkpointIndex}`, c.checkpointIndex), `${c.start}–${c.end - 1}`, fmtCountdown(c.deadline - now),
    ])) : null,
    h('h2', {}, 'Fraud proofs and reverts'),
    events.length ? h('ul', { class: 'timeline', id: 'timeline' }, events.map((e) => h('li', { class: e.cls },
      `L1 block ${e.block}: ${e.text} `, hex(short(e.tx))))) : h('p', { class: 'muted', id: 'timeline' }, 'none: no fraud proven'),
  ].filter(Boolean));
  return now;
}

async function eventRows(seqs) {
  const events = await rpcBatch(seqs.map((s) => ['attest_getEvent', [s]]));
  return events.map((e, i) => {
    if (e instanceof Error) return [seqs[i], h('span', { class: 'error' }, e.message), '', ''];
    const rec = decodeRecord(fromHex(e.record, 352)); // what the bytes say, not the JSON
    return [link(`#/event/${seqs[i]}`, fmtInt(seqs[i])), rec.kind,
      new Date(Number(rec.timestamp)).toISOString().replace('T', ' ').slice(0, 19), hex(short(toHex(rec.digest)))];
  });
}

/** A paged list of seqs: `fetchPage(after)` answers {seqs, next}. */
async function pagedEvents(title, fetchPage, id) {
  const box = h('section', { id }, h('h2', {}, title));
  const list = h('div', {});
  const pager = h('div', { class: 'pager' });
  box.append(list, pager);
  const history = [null];
  async function show(i) {
    const page = await fetchPage(history[i]);
    list.replaceChildren(table(['seq', 'kind', 'time (UTC)', 'digest'], await eventRows(page.seqs)));
    history[i + 1] = page.next;
    pager.replaceChildren(
      i > 0 ? h('button', { onclick: () => show(i - 1) }, '← previous') : '',
      h('span', { class: 'muted' }, `page ${i + 1}`),
      page.next !== null ? h('button', { onclick: () => show(i + 1) }, 'next →') : '',
    );
    return page;
  }
  const first = await show(0);
  return { box, empty: first.seqs.length === 0 };
}

async function viewSearch(q) {
  main.replaceChildren(h('h1', {}, `Search: ${q}`));
  document.getElementById('search-input').value = q;
  const out = h('div', {});
  main.append(out);
  if (/^\d+$/.test(q)) {
    const n = Number(q);
    const [ev, blk, cp] = await rpcBatch([['attest_getEvent', [n]], ['attest_getBlock', [n]], ['attest_getCheckpoint', [n]]]);
    const rows = [];
    if (!(ev instanceof Error)) rows.push(['event', link(`#/event/${n}`, `event ${n}`), `${ev.kind}, ${hex(short(ev.digest)).textContent}`]);
    if (!(blk instanceof Error)) rows.push(['block', link(`#/block/${n}`, `block ${n}`), `${blk.count} events`]);
    if (!(cp instanceof Error) && cp) rows.push(['checkpoint', link(`#/checkpoint/${n}`, `checkpoint ${n}`), `size ${fmtInt(cp.treeSize)}, ${cp.status}`]);
    out.append(table(['what', 'link', ''], rows));
    return;
  }
  if (/^0x[0-9a-fA-F]{64}$/.test(q)) {
    const key = q.toLowerCase();
    // A 32-byte hash may be a leaf hash (H(0x00 || record)), a digest or a subject: ask all three.
    const byLeaf = await pagedEvents('The event with this leaf hash', (after) => rpc('attest_findByLeafHash', key, { after, limit: PAGE }), 'by-leaf-hash');
    const byDigest = await pagedEvents('Events with this digest (a revocation\'s digest is the leaf hash it revokes)', (after) => rpc('attest_findByDigest', key, { after, limit: PAGE }), 'by-digest');
    const bySubject = await pagedEvents('Events about this subject', (after) => rpc('attest_findBySubject', key, { after, limit: PAGE }), 'by-subject');
    out.append(...[byLeaf, byDigest, bySubject].filter((x) => !x.empty).map((x) => x.box));
    if (byLeaf.empty && byDigest.empty && bySubject.empty) out.append(h('p', { id: 'no-match' }, 'No event has this leaf hash, digest or subject on this node.'));
    if (!bySubject.empty) out.append(h('p', {}, link(`#/subject/${key}`, 'Timeline of this subject →')));
    return;
  }
  if (/^0x[0-9a-fA-F]{40}$/.test(q)) {
    location.hash = `#/submitter/${q.toLowerCase()}`;
    return;
  }
  out.append(h('p', {}, 'Search by seq, block number or checkpoint index (a number), leaf hash, digest or subject (0x + 64 hex digits), or submitter (0x + 40 hex digits).'));
}

async function viewEvent(seqText) {
  const seq = Number(seqText);
  const [ev, receipt, status, cpList] = await rpcBatch([['attest_getEvent', [seq]], ['explorer_receipt', [seq]],
    ['attest_status', []], ['explorer_checkpoints', [null, 100]]]);
  if (ev instanceof Error) throw ev;
  // Every field shown is decoded here from the record's bytes, not taken from the server's
  // JSON: the verification below proves these bytes (and refuses a proof of other bytes).
  const rec = decodeRecord(fromHex(ev.record, 352));
  const subject = toHex(rec.subject);
  const digest = toHex(rec.digest);
  const submitter = toHex(rec.submitter);
  const signature = rec.signed ? toHex(new Uint8Array([...rec.r, ...rec.s, rec.v])) : null;
  const verifyBox = h('section', { id: 'verify' });
  const revocationBox = h('section', { id: 'revocation' });
  const kindNote = rec.wellFormed ? '' : ' (not well formed)';
  // A forced record (v = 1) came through the L1 inbox, not the sequencer's door (docs/spec.md §7.3).
  const forcedNote = rec.forced ? h('p', { id: 'forced-note' }, badge('forced'),
    ` Posted to the L1 inbox as entry ${rec.nonce} by `, hex(submitter),
    ': the sequencer had to log it before its deadline. ', link('#/inbox', 'Inbox →')) : null;
  main.replaceChildren(
    h('h1', {}, `Event ${fmtInt(seq)}`),
    forcedNote,
    revocationBox,
    fields([
      ['kind', `${rec.kind}${kindNote}`],
      ['subject', h('span', {}, hex(subject), ' ', link(`#/subject/${subject}`, 'timeline'))],
      ['digest', h('span', {}, hex(digest), ' ', link(`#/search/${digest}`, 'same digest'))],
      ['meta', ev.meta === null ? h('span', { class: 'muted' }, 'none') : h('pre', {}, JSON.stringify(ev.meta, null, 2))],
      ['metaHash', hex(toHex(rec.metaHash))],
      ['submitter', h('span', {}, hex(submitter), ' ', link(`#/submitter/${submitter}`, 'other events'))],
      ['nonce', rec.nonce.toString()],
      ['signature', rec.forced ? h('span', { class: 'muted' }, 'none: a forced record, judged against the L1 inbox (verification below)')
        : signature ? hex(signature) : h('span', { class: 'muted' }, 'unsigned (vouched for by a bearer token)')],
      ['timestamp', fmtTime(Number(rec.timestamp))],
      ['block', ev.block === null ? 'open (not sealed yet)' : link(`#/block/${ev.block}`, `block ${ev.block}`)],
      ['leaf hash', hex(ev.leafHash)],
      ['checkpoint', checkpointCell(seq, cpList instanceof Error ? [] : cpList.checkpoints)],
      ['receipt', receipt instanceof Error || receipt === null
        ? h('span', { class: 'muted' }, 'not kept by this node')
        : h('span', {}, `events ${receipt.firstSeq}–${receipt.firstSeq + receipt.count - 1}, deadline ${fmtTime(receipt.deadline * 1000)}, signed by `, hex(receipt.sequencer))],
      ['record', h('details', {}, h('summary', {}, '352 bytes'), h('pre', {}, ev.record))],
    ]),
    verifyBox,
  );
  renderVerify(verifyBox, seq, status, ev);
  renderRevocations(revocationBox, seq, ev).catch((e) => revocationBox.replaceChildren(errorBox(e)));
}

/** Whether a later record revokes or supersedes this one (docs/spec.md §13): candidates are
 * listed by the node (revocations by digest = this leaf hash, newer versions among the later
 * records of the subject), and each is judged here from its record bytes and meta. */
async function renderRevocations(box, seq, ev) {
  const record = fromHex(ev.record, 352);
  const leaf = toHex(computeLeafHash(record));
  const subject = toHex(decodeRecord(record).subject);
  const status = h('p', { id: 'revocation-status' }, 'Looking for revocations and newer versions…');
  box.replaceChildren(status);
  const [byDigest, bySubject] = await rpcBatch([
    ['attest_findByDigest', [leaf, { after: seq, limit: 100 }]],
    ['attest_findBySubject', [subject, { after: seq, limit: 100 }]],
  ]);
  const seqs = [...new Set([byDigest, bySubject].flatMap((p) => (p instanceof Error ? [] : p.seqs)))].sort((a, b) => a - b);
  const events = await rpcBatch(seqs.map((s) => ['attest_getEvent', [s]]));
  const found = [];
  for (const e of events) {
    if (e instanceof Error) continue;
    const verdict = revocationStatus({ record, meta: ev.meta }, { record: fromHex(e.record, 352), meta: e.meta });
    if (verdict) found.push([verdict, e]);
  }
  const revoked = found.filter(([v]) => v === 'revokes');
  const superseded = found.filter(([v]) => v === 'supersedes');
  const caveat = h('span', { class: 'muted' }, ' Found by this node\'s listing: a node can leave a revocation out, so absence is only as good as the nodes asked (docs/spec.md §13). Verify the revocation itself on its own page.');
  const line = ([v, e]) => h('li', {}, v === 'revokes' ? 'revoked by ' : 'superseded by ', link(`#/event/${e.seq}`, `event ${e.seq}`),
    ` (${fmtTime(e.timestamp)})`, e.meta && e.meta.reason ? `: “${e.meta.reason}”` : '');
  if (revoked.length || superseded.length) {
    const what = revoked.length ? 'revoked' : 'superseded';
    status.dataset.status = what;
    status.className = what;
    status.replaceChildren(badge(what), ` This attestation was ${what} by its own submitter.`, caveat);
    box.append(h('ul', { id: 'revoked-by' }, [...revoked, ...superseded].map(line)));
  } else {
    status.dataset.status = 'none';
    const more = !(bySubject instanceof Error) && bySubject.next !== null ? ' (only the next 100 records of its subject were read for newer versions)' : '';
    status.replaceChildren(`Not revoked or superseded as far as this node lists${more}.`, caveat);
  }
}

/** The checkpoints covering `seq` as this node recorded them: the first live one, and a
 * reverted one that covered it first (the verification below reads L1 itself). */
function checkpointCell(seq, checkpoints) {
  const covering = checkpoints.filter((c) => c.treeSize > seq).sort((a, b) => a.index - b.index);
  if (!covering.length) return h('span', { class: 'muted' }, 'none yet (not checkpointed on L1)');
  const live = covering.find((c) => c.status !== 'reverted');
  const parts = [];
  if (covering[0].status === 'reverted') {
    parts.push(link(`#/checkpoint/${covering[0].index}`, `checkpoint ${covering[0].index}`), ' ', badge('reverted'), ' ');
  }
  if (live) parts.push(link(`#/checkpoint/${live.index}`, `checkpoint ${live.index}`), ' ', badge(live.status));
  return h('span', {}, parts, h('span', { class: 'muted' }, ' (as this node recorded it)'));
}

function renderVerify(box, seq, status, event) {
  const steps = h('ol', { class: 'steps', id: 'verify-steps' });
  const verdict = h('div', { class: 'verdict', id: 'verdict' });
  const download = h('div', {});
  const button = h('button', { class: 'primary', id: 'verify-button' }, 'Verify in this browser');
  box.replaceChildren(h('h2', {}, 'Verify in this browser'),
    h('p', { class: 'muted' }, 'Reads the checkpoint from the L1 endpoint above, recomputes the leaf hash from the record bytes, checks the inclusion proof against L1\'s root, the EIP-712 signature and the checkpoint status.'),
    button, verdict, steps, download);
  button.addEventListener('click', async () => {
    const l1 = l1Reader();
    if (!l1) {
      verdict.replaceChildren(h('span', { class: 'fail' }, 'No L1 endpoint set: open "L1" above.'));
      return;
    }
    button.disabled = true;
    steps.replaceChildren();
    verdict.textContent = 'Verifying…';
    const items = new Map();
    const result = await verifyEvent({
      serverUrl: '/', l1Url: settings.l1Url, contract: settings.contract, seq, event,
      onStep: (s) => {
        const li = items.get(s.id) ?? h('li', { 'data-step': s.id });
        items.set(s.id, li);
        li.className = s.ok ? 'pass' : 'fail';
        li.replaceChildren(`${s.ok ? '✓' : '✗'} ${s.title}`, h('span', { class: 'detail' }, s.detail));
        steps.append(li);
      },
    }).catch((e) => ({ ok: false, error: e }));
    button.disabled = false;
    if (result.error) {
      verdict.replaceChildren(h('span', { class: 'fail' }, `✗ Not verified: ${result.error.message}`));
      return;
    }
    const failed = result.steps.find((s) => s.ok === false);
    if (result.ok) {
      verdict.replaceChildren(h('span', { class: result.final ? 'pass' : 'pending' },
        result.final ? `✓ Verified against final checkpoint ${result.checkpoint.index} on L1`
          : `✓ Verified against pending checkpoint ${result.checkpoint.index} (not final yet)`));
      const blob = new Blob([JSON.stringify(result.bundle, null, 2) + '\n'], { type: 'application/json' });
      download.replaceChildren(h('a', { href: URL.createObjectURL(blob), download: `attest-proof-${seq}.json`, id: 'bundle-link' },
        'Download the proof bundle'), h('span', { class: 'muted' }, ' (attest verify --bundle FILE checks it offline)'));
    } else {
      verdict.replaceChildren(h('span', { class: 'fail' }, `✗ Not verified: step "${failed.title}" failed: ${failed.detail}`));
    }
    verdict.dataset.ok = String(result.ok);
    verdict.dataset.failedStep = result.failedStep ?? '';
  });
  if (status && !(status instanceof Error) && settings.l1Url) button.click();
}

async function viewSubject(subject) {
  main.replaceChildren(h('h1', {}, 'Subject ', hex(subject)));
  const [cpList] = await rpcBatch([['explorer_checkpoints', [null, 100]]]);
  const cps = cpList instanceof Error ? [] : cpList.checkpoints;
  const statusOf = (seq) => {
    // The server's view of the checkpoint that first covered seq (verify an event for L1's).
    const covering = cps.filter((c) => c.treeSize > seq).sort((a, b) => a.index - b.index);
    const live = covering.find((c) => c.status !== 'reverted');
    if (covering.length && covering[0].status === 'reverted') return 'reverted';
    return live ? live.status : 'not checkpointed';
  };
  const box = h('ol', { class: 'timeline', id: 'subject-timeline' });
  const pager = h('div', { class: 'pager' });
  main.append(h('p', { class: 'muted' }, 'Every event about this subject, oldest first; statuses as this node knows them (verify an event to check L1 itself).'), box, pager);
  async function more(after) {
    const page = await rpc('attest_findBySubject', subject, { after, limit: PAGE });
    const events = await rpcBatch(page.seqs.map((s) => ['attest_getEvent', [s]]));
    for (const e of events) {
      if (e instanceof Error) continue;
      const st = statusOf(e.seq);
      box.append(h('li', { class: st }, h('div', {}, link(`#/event/${e.seq}`, `event ${e.seq}`), ` · ${e.kind} · `, badge(st)),
        h('div', { class: 'muted' }, fmtTime(e.timestamp)), h('div', {}, 'digest ', hex(short(e.digest))),
        e.meta ? h('pre', {}, JSON.stringify(e.meta)) : ''));
    }
    pager.replaceChildren(page.next !== null ? h('button', { onclick: () => more(page.next) }, 'more') : '');
  }
  await more(null);
}

async function viewSubmitter(address) {
  main.replaceChildren(h('h1', {}, 'Submitter ', hex(address)));
  const signed = await pagedEvents('Signed events, by nonce', (after) => rpc('explorer_findBySubmitter', address, { after, limit: PAGE }), 'by-submitter');
  const unsigned = await pagedEvents('Unsigned events vouched for by a bearer token of this address, by seq', (after) => rpc('explorer_findUnsignedBySubmitter', address, { after, limit: PAGE }), 'by-submitter-unsigned');
  main.append(signed.box, unsigned.box, h('p', { class: 'muted' },
    'An unsigned event carries the address the sequencer bound to the token that sent it: the sequencer vouches for it, no key of this address signed it.'));
}

async function viewBlock(nText) {
  const n = Number(nText);
  const b = await rpc('attest_getBlock', n, true);
  main.replaceChildren(
    h('h1', {}, `Block ${fmtInt(n)}`),
    h('div', { class: 'pager' }, n > 0 ? link(`#/block/${n - 1}`, '← previous') : '', link(`#/block/${n + 1}`, 'next →')),
    fields([
      ['block hash', hex(b.blockHash)],
      ['parent hash', n > 0 ? h('span', {}, hex(b.parentHash)) : hex(b.parentHash)],
      ['events', `${fmtInt(b.start)}–${fmtInt(b.end - 1)} (${b.count})`],
      ['log root', hex(b.logRoot)],
      ['sealed', fmtTime(b.timestamp)],
    ]),
    h('h2', {}, 'Events'),
    table(['seq', 'kind', 'submitter', 'digest'], b.events.map((e) => [
      link(`#/event/${e.seq}`, fmtInt(e.seq)), e.kind, link(`#/submitter/${e.submitter}`, short(e.submitter)), hex(short(e.digest)),
    ])),
  );
}

async function viewBlocks(beforeText) {
  const page = await rpc('explorer_blocks', beforeText ? Number(beforeText) : null, PAGE);
  main.replaceChildren(h('h1', {}, 'Blocks'),
    table(['block', 'events', 'log root', 'sealed'], page.blocks.map((b) => [
      link(`#/block/${b.number}`, fmtInt(b.number)), `${fmtInt(b.start)}–${fmtInt(b.end - 1)}`, hex(short(b.logRoot)), fmtAgo((Date.now() - b.timestamp) / 1000),
    ])),
    h('div', { class: 'pager' }, page.next !== null ? link(`#/blocks/${page.next}`, 'older →') : ''));
}

async function viewCheckpoints(beforeText) {
  const page = await rpc('explorer_checkpoints', beforeText ? Number(beforeText) : null, PAGE);
  main.replaceChildren(h('h1', {}, 'Checkpoints'),
    table(['checkpoint', 'size', 'root', 'committed', 'status'], page.checkpoints.map((c) => [
      link(`#/checkpoint/${c.index}`, c.index), fmtInt(c.treeSize), hex(short(c.root)), fmtTime(c.committedAt * 1000), badge(c.status),
    ])),
    h('div', { class: 'pager' }, page.next !== null ? link(`#/checkpoints/${page.next}`, 'older →') : ''));
}

/** The kind's name from its 32-byte word (ASCII, zero-padded; docs/spec.md §3). */
function kindText(word) {
  return [...fromHex(word, 32, 'kind')].filter((c) => c !== 0).map((c) => String.fromCharCode(c)).join('');
}

/** The L1 forced-inclusion inbox (docs/spec.md §7.3) as the sequencer follows it, with L1's
 * counts read by this browser: each entry posted, included at a seq (its event), or overdue. */
async function viewInbox(beforeText) {
  const before = beforeText ? Number(beforeText) : null;
  const status = (e, now) => (e.status === 'included'
    ? h('span', {}, badge('included'), ' at seq ', link(`#/event/${e.seq}`, fmtInt(e.seq)))
    : h('span', {}, badge(e.status), ` deadline ${fmtTime(e.deadline * 1000)}`, e.status === 'overdue' && now >= e.deadline ? ': the sequencer can no longer commit without it' : ''));
  const listBox = h('section', { id: 'inbox-list' });
  const l1Box = h('section', { id: 'inbox-l1' });
  main.replaceChildren(h('h1', {}, 'Forced-inclusion inbox'), listBox, l1Box);
  const render = async () => {
    const page = await rpc('explorer_inbox', before, PAGE);
    if (!page.available) {
      listBox.replaceChildren(h('p', { class: 'muted', id: 'inbox-none' },
        'This node follows no L1 inbox: only a sequencer with an L1 attached does. The inbox itself is on L1.'));
      return;
    }
    const now = Date.now() / 1000;
    listBox.replaceChildren(
      h('p', {}, `${fmtInt(page.count)} event${page.count === 1 ? '' : 's'} posted to the L1 inbox, as this sequencer follows it. Each must be logged, in inbox order, before its deadline; past it L1 refuses every commit that does not prove it included.`),
      table(['entry', 'posted', 'poster', 'kind', 'digest', 'status'], page.entries.map((e) => [
        e.index, fmtTime(e.postedAt * 1000), link(`#/submitter/${e.poster}`, short(e.poster)), kindText(e.kind),
        hex(short(e.digest)), h('span', { class: 'inbox-status', id: `inbox-${e.index}` }, status(e, now)),
      ])),
      h('div', { class: 'pager' }, page.next !== null ? link(`#/inbox/${page.next}`, 'older →') : ''));
    const l1 = l1Reader();
    if (!l1) return;
    const [count, included] = await Promise.all([l1.inboxCount(), l1.forcedIncluded()]);
    l1Box.replaceChildren(h('h2', {}, 'On L1, read by this browser'), fields([
      ['entries posted', h('span', { id: 'l1-inbox-count' }, fmtInt(count))],
      ['included by the latest live checkpoint', h('span', { id: 'l1-forced-included' }, fmtInt(included))],
    ]));
  };
  await render();
  every(POLL_MS, () => render().catch(() => {}));
}

async function viewCheckpoint(indexText) {
  const index = Number(indexText);
  const server = await rpc('attest_getCheckpoint', index).catch(() => null);
  const l1Box = h('section', { id: 'checkpoint-l1' });
  main.replaceChildren(
    h('h1', {}, `Checkpoint ${index}`),
    h('div', { class: 'pager' }, index > 0 ? link(`#/checkpoint/${index - 1}`, '← previous') : '', link(`#/checkpoint/${index + 1}`, 'next →')),
    h('h2', {}, 'As this node recorded it'),
    server ? fields([
      ['tree size', fmtInt(server.treeSize)], ['root', hex(server.root)], ['committed', fmtTime(server.committedAt * 1000)],
      ['challenge ends', fmtTime(server.challengeEnds * 1000)], ['status', badge(server.status)],
      ['L1 transaction', server.l1Tx ? hex(server.l1Tx) : h('span', { class: 'muted' }, 'unknown')],
    ]) : h('p', { class: 'muted' }, 'This node has no record of it.'),
    l1Box,
  );
  const l1 = l1Reader();
  if (!l1) {
    l1Box.append(h('p', { class: 'muted' }, 'No L1 endpoint set.'));
    return;
  }
  l1Box.append(h('h2', {}, 'On L1, read by this browser'));
  const render = async () => {
    const [cp, now] = await Promise.all([l1.checkpoint(index), l1.now()]);
    const status = CHECKPOINT_STATUS[cp.status] ?? 'unknown';
    const rows = [
      ['status', h('span', { id: 'l1-status' }, badge(status), status === 'pending' ? ` final in ${fmtCountdown(cp.challengeEnds - now)} unless a fraud proof reverts it` : '')],
      ['tree size', fmtInt(cp.size)], ['root', hex(toHex(cp.root))],
      ['challenge ends', cp.challengeEnds ? fmtTime(cp.challengeEnds * 1000) : '—'],
    ];
    if (server && (server.treeSize !== cp.size || server.root !== toHex(cp.root) || server.status !== status)) {
      rows.push(['agreement', h('span', { class: 'fail', id: 'disagreement' },
        `this node's record (${server.status}, size ${fmtInt(server.treeSize)}) differs from L1: L1 is the source of truth`)]);
    }
    const table_ = fields(rows);
    const old = l1Box.querySelector('.l1-fields');
    table_.classList.add('l1-fields');
    if (old) old.replaceWith(table_); else l1Box.append(table_);
    if (status === 'reverted') {
      const note = l1Box.querySelector('#reverted-note') ?? h('p', { class: 'fail', id: 'reverted-note' });
      note.textContent = `Reverted by a fraud proof: events ${cp.size > 0 ? 'in it' : ''} that no later live checkpoint covers are not verifiable against L1.`;
      l1Box.append(note);
    }
    return cp;
  };
  const cp = await render();
  if (cp.status === 0) return;
  const cons = h('p', { id: 'consistency' }, 'Checking consistency with the previous checkpoint…');
  l1Box.append(h('h2', {}, 'Consistency with the previous live checkpoint'), cons);
  verifyCheckpointConsistency({ serverUrl: '/', l1Url: settings.l1Url, contract: settings.contract, index })
    .then((r) => { cons.className = 'pass'; cons.textContent = `✓ ${r.detail}`; })
    .catch((e) => { cons.className = 'fail'; cons.textContent = `✗ ${e instanceof VerifyError ? e.message : `${e.name}: ${e.message}`}`; });
  every(L1_POLL_MS, () => render().catch(() => {}));
}

// --- routing -----------------------------------------------------------------------------------

const ROUTES = [
  [/^#?\/?$/, viewDashboard],
  [/^#\/search\/(.+)$/, (q) => viewSearch(decodeURIComponent(q))],
  [/^#\/event\/(\d+)$/, viewEvent],
  [/^#\/subject\/(0x[0-9a-fA-F]{64})$/, viewSubject],
  [/^#\/submitter\/(0x[0-9a-fA-F]{40})$/, viewSubmitter],
  [/^#\/block\/(\d+)$/, viewBlock],
  [/^#\/blocks(?:\/(\d+))?$/, viewBlocks],
  [/^#\/checkpoint\/(\d+)$/, viewCheckpoint],
  [/^#\/checkpoints(?:\/(\d+))?$/, viewCheckpoints],
  [/^#\/inbox(?:\/(\d+))?$/, viewInbox],
];

async function route() {
  for (const t of timers) clearInterval(t);
  timers = [];
  for (const c of cleanups) c();
  cleanups = [];
  const hash = location.hash || '#/';
  for (const [re, view] of ROUTES) {
    const m = hash.match(re);
    if (m) {
      main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
      try {
        await view(...m.slice(1));
      } catch (e) {
        main.replaceChildren(h('h1', {}, 'Not found'), errorBox(e));
      }
      return;
    }
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `No page ${hash}`));
}

async function start() {
  try {
    settings.status = await rpc('attest_status');
    loadL1Settings(settings.status);
  } catch (e) {
    main.replaceChildren(errorBox(e));
    return;
  }
  window.addEventListener('hashchange', route);
  await route();
}

start();
