// The console page: sign-in, tabs, the live pipeline view. Other views are in views.js.
import { api, events, token, HttpError } from './api.js';
import { drawGraph, sparkline } from './graph.js';
import { showDlq, showReview, showProducts, showWorkers } from './views.js';

const $ = (s) => document.querySelector(s);
export const state = { me: null, history: new Map(), historyMs: 3600000 };
const views = { pipeline: () => {}, dlq: showDlq, review: showReview, products: showProducts, workers: showWorkers };

function td(text, cls) {
  const c = document.createElement('td');
  c.textContent = text === null || text === undefined ? '–' : String(text);
  if (cls) c.className = cls;
  return c;
}
export { td };

function selectTab(name) {
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== name;
  location.hash = name;
  Promise.resolve(views[name]?.()).catch(showError);
}

export function showError(err) {
  if (err instanceof HttpError && err.status === 401) return signIn('That token was not accepted.');
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = err.message;
  document.querySelector('.tab:not([hidden])')?.prepend(p);
  setTimeout(() => p.remove(), 8000);
}

function signIn(message = '') {
  token.clear();
  $('#login').hidden = false;
  $('main').hidden = true;
  $('#login-error').textContent = message;
}

function onSample(sample) {
  $('#sampled-at').textContent = new Date(sample.at).toLocaleTimeString();
  $('#stored').textContent = sample.stored;
  $('#dlq-total').textContent = sample.dlq;
  $('#dlq-badge').textContent = sample.dlq || '';
  const review = sample.terminal.find((t) => t.stream === 'review');
  $('#review-badge').textContent = review?.length || '';
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
    tr.append(
      td(s.stage),
      td(s.lag, 'num lag'),
      td(s.pending, 'num'),
      td(s.consumers, 'num'),
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

async function start() {
  try {
    state.me = await api('/console/api/me');
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) return signIn(token.get() ? 'That token was not accepted.' : '');
    throw err;
  }
  $('#login').hidden = true;
  $('main').hidden = false;
  document.body.classList.toggle('read-only', !state.me.canAct);
  $('#who').textContent = `${state.me.name} · ${state.me.canAct ? 'admin' : 'read only'}`;
  const graph = await api('/console/api/graph');
  $('#pipeline-name').textContent = graph.pipeline;
  state.updateGraph = drawGraph($('#graph'), graph);
  const hist = await api('/console/api/history');
  state.historyMs = 3600000;
  for (const sample of hist.samples) {
    for (const s of sample.stages) {
      const h = state.history.get(s.stage) ?? [];
      h.push({ at: sample.at, lag: s.lag, outRate: s.outRate });
      state.history.set(s.stage, h);
    }
  }
  events(
    '/console/api/events',
    (name, data) => name === 'sample' && onSample(data),
    (s) => ($('#live-state').textContent = s),
  );
  selectTab(location.hash.slice(1) in views ? location.hash.slice(1) : 'pipeline');
}

document.addEventListener('DOMContentLoaded', () => {
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => selectTab(b.dataset.tab));
  $('#login').addEventListener('submit', (e) => {
    e.preventDefault();
    token.set($('#token').value.trim());
    start().catch(showError);
  });
  start().catch(showError);
});
