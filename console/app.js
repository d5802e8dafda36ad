// The console page: sign-in, tabs, the live pipeline view. Other views: dlq.js, review.js, products.js, workers.js.
import { api, events, token, HttpError } from './api.js';
import { drawGraph, sparkline } from './graph.js';
import { showDlq, dlqCount } from './dlq.js';
import { showReview, reviewCount } from './review.js';
import { showProducts } from './products.js';
import { showWorkers } from './workers.js';
import { showDataLoss } from './data-loss.js';
import { showWriteRefusal } from './write-refusal.js';
import { $, onUnauthorized, showError, state, td } from './ui.js';

const views = { pipeline: () => {}, dlq: showDlq, review: showReview, products: showProducts, workers: showWorkers };
// A tab of the page: `in` would take every name an object has (`#constructor` had shown no tab at all).
const isView = (name) => Object.hasOwn(views, name);

function selectTab(name) {
  for (const b of document.querySelectorAll('#tabs button')) {
    b.classList.toggle('active', b.dataset.tab === name);
    b.setAttribute('aria-selected', String(b.dataset.tab === name));
  }
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== name;
  location.hash = name;
  Promise.resolve(views[name]?.()).catch(showError);
}

function signIn(message = '') {
  // One live stream per page: the old one had gone on after each new sign-in.
  state.stopEvents?.();
  state.stopEvents = undefined;
  clearTimeout(state.retry);
  token.clear();
  $('#login').hidden = false;
  $('main').hidden = true;
  $('#login-error').textContent = message;
}

function onSample(sample) {
  $('#sampled-at').textContent = new Date(sample.at).toLocaleTimeString();
  $('#sampled-at').dataset.at = sample.at;
  showWriteRefusal(sample);
  showDataLoss(sample);
  // Another sink's products are not counted (as `pipeline status` says): not 0.
  $('#stored').textContent = sample.stored ?? `in the ${sample.sink} sink`;
  $('#dlq-total').textContent = sample.dlq;
  // A sharded pipeline's figures are sums: each shard's own in the tooltip.
  $('#dlq-total').title = sample.shards ? sample.shards.map((sh) => `shard ${sh.shard}: ${sh.dlq}`).join(' · ') : '';
  $('#dlq-badge').textContent = sample.dlq || '';
  // Records that ended revoked (all time) and the revoke marks still kept (limits.revokeTtlMs), as `pipeline status` shows them.
  $('#revoked-total').textContent = sample.revoked;
  $('#revoke-marks').textContent = sample.revokeMarks;
  const perShard = (f) => (sample.shards ? sample.shards.map((sh) => `shard ${sh.shard}: ${f(sh)}`).join(' · ') : '');
  $('#revoked-total').title = perShard((sh) => sh.revoked);
  $('#revoke-marks').title = perShard((sh) => sh.revokeMarks);
  dlqCount(sample.dlq, sample.at);
  // Entries not decided yet, not the stream's length (decided ones stay in the stream).
  const review = sample.terminal.find((t) => t.stream === 'review');
  $('#review-badge').textContent = (review?.open ?? review?.length) || '';
  reviewCount(review?.open, sample.at);
  showNothingYet(sample).catch(showError);
  state.updateGraph?.(sample);
  const body = $('#stages tbody');
  body.replaceChildren();
  for (const s of sample.stages) {
    const h = state.history.get(s.stage) ?? [];
    if (h.at(-1)?.at !== sample.at) h.push({ at: sample.at, lag: s.lag, outRate: s.outRate });
    while (h.length && h[0].at < sample.at - state.historyMs) h.shift();
    state.history.set(s.stage, h);
    const tr = document.createElement('tr');
    tr.dataset.stage = s.stage;
    const lag = td(s.lag, 'num lag');
    const pending = td(s.pending, 'num');
    if (sample.shards) {
      const of = (f) => sample.shards.map((sh) => `shard ${sh.shard}: ${f(sh.stages.find((x) => x.stage === s.stage) ?? {}) ?? '?'}`).join(' · ');
      lag.title = of((x) => x.lag);
      pending.title = of((x) => x.pending);
    }
    tr.append(
      td(s.stage),
      lag,
      pending,
      // A stage run fused in another's batch may have no consumer of its own: said, not a bare 0 that looks dead.
      td(s.consumers === 0 && state.fusedIn?.has(s.stage) ? `0 · runs fused in ${state.fusedIn.get(s.stage)}` : s.consumers, 'num'),
      td(s.inRate, 'num in'),
      td(s.outRate, 'num out'),
      td(s.p50Ms, 'num'),
      td(s.p99Ms, 'num'),
      td(s.batchMean, 'num'),
      td(s.redelivered, 'num'),
      td(s.deadLetters, 'num'),
    );
    const chart = document.createElement('td');
    chart.append(sparkline(h));
    tr.append(chart);
    body.append(tr);
  }
}

/**
 * Nothing of this pipeline in Redis yet: said above the graph, with the pipelines this Redis does
 * hold (asked once), so all zeros read as "not started" or "wrong PIPELINE", not as a stalled pipeline.
 */
async function showNothingYet(sample) {
  const p = $('#nothing-yet');
  p.hidden = !sample.nothingYet;
  if (!sample.nothingYet) return;
  // Asked once; a failed ask (Redis away) is asked again with the next sample.
  state.pipelines ??= api('/console/api/pipelines').catch((err) => {
    state.pipelines = undefined;
    throw err;
  });
  const { pipeline, others } = await state.pipelines;
  p.textContent =
    `Nothing of pipeline "${pipeline}" in this Redis yet: no record produced, no worker started, no dead letter or stored product. ` +
    'Start its workers (pipeline up) and produce records (pipeline produce, or the API)' +
    (others.length ? `; this Redis holds the pipelines ${others.join(', ')}: set PIPELINE (or the config's "pipeline") if you meant one of them.` : '.');
}

/** Sign in with the stored token and draw the page; while the server or Redis does not answer, say so and try again. */
async function start() {
  clearTimeout(state.retry);
  try {
    await begin();
  } catch (err) {
    if (err instanceof HttpError && (err.status === 401 || err.status === 403))
      return signIn(err.status === 403 ? `This token may not read the console (${err.message}).` : token.get() ? 'That token was not accepted.' : '');
    $('#live-state').textContent = `unreachable (${err.message}); retrying`;
    showError(err);
    state.retry = setTimeout(() => start().catch(showError), RETRY_MS);
  }
}
const RETRY_MS = 3000;

async function begin() {
  state.me = await api('/console/api/me');
  $('#login').hidden = true;
  $('main').hidden = false;
  document.body.classList.toggle('read-only', !state.me.canAct);
  $('#who').textContent = `${state.me.name} · ${state.me.canAct ? 'admin' : 'read only'}`;
  const graph = await api('/console/api/graph');
  $('#pipeline-name').textContent = graph.pipeline;
  state.updateGraph = drawGraph($('#graph'), graph);
  state.fusedIn = new Map(graph.edges.filter((e) => e.fused).map((e) => [e.to, graph.nodes.find((n) => n.id === e.to)?.process]));
  // What the charts draw of each sample only (`chart`): the whole samples of an hour are about 1.5 MB.
  const hist = await api('/console/api/history?chart=true');
  state.historyMs = 3600000;
  // Each sign-in reads the history afresh: appended to the last one's, every chart ran back to the left.
  state.history = new Map();
  for (const sample of hist.samples) {
    for (const s of sample.stages) {
      const h = state.history.get(s.stage) ?? [];
      h.push({ at: sample.at, lag: s.lag, outRate: s.outRate });
      state.history.set(s.stage, h);
    }
  }
  state.stopEvents?.();
  state.stopEvents = events(
    '/console/api/events',
    (name, data) => {
      if (name === 'sample') {
        $('#live-state').textContent = 'live';
        onSample(data);
      } else if (name === 'stale') $('#live-state').textContent = `stale: sampling failed (${data.error})`;
    },
    (s) => ($('#live-state').textContent = s),
  );
  selectTab(isView(location.hash.slice(1)) ? location.hash.slice(1) : 'pipeline');
}

onUnauthorized(signIn);

document.addEventListener('DOMContentLoaded', () => {
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => selectTab(b.dataset.tab));
  // The tab list's arrow keys (WAI-ARIA tabs pattern): move to the tab beside and open it.
  $('#tabs').addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const tabs = [...document.querySelectorAll('#tabs button')];
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    const next = tabs[(at + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    selectTab(next.dataset.tab);
  });
  $('#login').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('#token').value.trim();
    if (!t) return void ($('#login-error').textContent = 'Enter a token.');
    token.set(t);
    start().catch(showError);
  });
  // Back and forward move between tabs (the hash changed, the view had not).
  window.addEventListener('hashchange', () => {
    const name = location.hash.slice(1);
    if (isView(name) && $(`#${name}`)?.hidden) selectTab(name);
  });
  start().catch(showError);
});
