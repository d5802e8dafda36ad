// Dead letters, review queue, products and workers: each view reads its JSON and draws a table.
import { api } from './api.js';
import { state, td, showError } from './app.js';

const $ = (s) => document.querySelector(s);
const button = (text, onClick, cls = '') => {
  const b = document.createElement('button');
  b.textContent = text;
  if (cls) b.className = cls;
  b.addEventListener('click', (e) => {
    e.preventDefault();
    onClick().catch(showError);
  });
  return b;
};
const canAct = () => !!state.me?.canAct;
const ago = (ms) => (ms < 1000 ? `${ms} ms` : ms < 120000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60000)} min`);

// ---- Dead letters
const DLQ_PAGE = 200;
let dlqAfter = ''; // the id the shown page starts after ('' = the first page)

/** Run a replay or purge and say what it did: a replay that found nothing to do had looked like success. */
async function dlqAction(kind, body) {
  const r = await api(`/console/api/dlq/${kind}`, { method: 'POST', body });
  const text =
    kind === 'purge'
      ? `Purged ${r.purged} dead letter(s).`
      : `Replayed ${r.replayed.length}` +
        (r.skipped.length
          ? `; skipped ${r.skipped.length} (${r.skipped
              .slice(0, 5)
              .map((s) => `${s.id}: ${s.why}`)
              .join('; ')}${r.skipped.length > 5 ? '; …' : ''})`
          : '') +
        '.';
  await showDlq(dlqAfter);
  $('#dlq-result').textContent = text;
  return r;
}
export async function showDlq(after = '') {
  const query = `count=${DLQ_PAGE}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
  const [d, audit] = await Promise.all([api(`/console/api/dlq?${query}`), api('/console/api/audit')]);
  dlqAfter = after;
  $('#dlq-result').textContent = '';
  $('#dlq-counted').hidden = d.counted >= d.total;
  $('#dlq-counted').textContent = `Counted over the oldest ${d.counted} of ${d.total} dead letters; a group's actions take those only.`;
  const groups = $('#dlq-groups tbody');
  groups.replaceChildren();
  for (const g of d.groups) {
    const tr = document.createElement('tr');
    const act = document.createElement('td');
    // `until`: the action takes only the dead letters counted here, not those arrived since.
    const sel = { stage: g.stage, reason: g.reason, until: g.newest };
    if (canAct())
      act.append(
        button(`Replay all ${g.count}`, () => dlqAction('replay', sel), 'admin-only'),
        ' ',
        button(
          'Purge',
          () => (confirm(`Purge ${g.count} dead letters of ${g.stage}/${g.reason}?`) ? dlqAction('purge', sel) : Promise.resolve()),
          'danger admin-only',
        ),
      );
    tr.append(td(g.stage), td(g.reason), td(g.count, 'num'), act);
    groups.append(tr);
  }
  if (!d.groups.length) groups.innerHTML = '<tr><td colspan="4" class="muted">No dead letters.</td></tr>';
  const body = $('#dlq-entries tbody');
  body.replaceChildren();
  const selected = new Set();
  const sync = () => {
    $('#dlq-replay-selected').disabled = !canAct() || selected.size === 0;
    $('#dlq-purge-selected').disabled = !canAct() || selected.size === 0;
  };
  for (const e of d.entries) {
    const tr = document.createElement('tr');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.dataset.id = e.id;
    box.setAttribute('aria-label', `select ${e.id}`);
    box.addEventListener('change', () => {
      if (box.checked) selected.add(e.id);
      else selected.delete(e.id);
      sync();
    });
    const cell = document.createElement('td');
    cell.append(box);
    const idCell = document.createElement('td');
    const link = document.createElement('a');
    link.href = '#dlq';
    link.textContent = e.id;
    link.addEventListener('click', async (ev) => {
      ev.preventDefault();
      const full = await api(`/console/api/dlq/${e.id}`);
      $('#dlq-detail').hidden = false;
      $('#dlq-detail').textContent = JSON.stringify(full, null, 2);
      $('#dlq-detail').focus();
      $('#dlq-detail').scrollIntoView({ block: 'nearest' });
    });
    idCell.append(link);
    tr.append(cell, idCell, td(e.key), td(e.stage), td(e.reason), td(e.deliveries, 'num'), td(e.error));
    body.append(tr);
  }
  $('#dlq-all').checked = false;
  $('#dlq-first').disabled = !after;
  $('#dlq-first').onclick = () => showDlq('').catch(showError);
  $('#dlq-older').disabled = d.entries.length < DLQ_PAGE;
  $('#dlq-older').onclick = () => showDlq(d.entries.at(-1).id).catch(showError);
  $('#dlq-page').textContent = d.entries.length ? `${d.entries[0].id} … ${d.entries.at(-1).id}` : '';
  $('#dlq-all').onchange = (ev) => {
    for (const b of body.querySelectorAll('input[type=checkbox]')) {
      b.checked = ev.target.checked;
      b.dispatchEvent(new Event('change'));
    }
  };
  $('#dlq-replay-selected').onclick = () => dlqAction('replay', { ids: [...selected] }).catch(showError);
  $('#dlq-purge-selected').onclick = () =>
    (confirm(`Purge ${selected.size} dead letters for good?`) ? dlqAction('purge', { ids: [...selected] }) : Promise.resolve()).catch(showError);
  sync();
  const list = $('#audit');
  list.replaceChildren(
    ...audit.actions.map((a) => {
      const li = document.createElement('li');
      li.textContent = `${new Date(a.at).toLocaleString()} · ${a.by} · ${a.action}${a.replayed !== undefined ? ` · replayed ${a.replayed}` : ''}${a.purged !== undefined ? ` · purged ${a.purged}` : ''}${a.category ? ` · ${a.key} → ${a.category}` : ''}`;
      return li;
    }),
  );
}

// ---- Review queue
export async function showReview() {
  const { items, categories } = await api('/console/api/review');
  const host = $('#review-items');
  host.replaceChildren();
  if (!items.length) host.innerHTML = '<p class="muted">Nothing to review.</p>';
  for (const it of items) {
    const card = document.createElement('form');
    card.className = 'card';
    card.dataset.id = it.id;
    card.dataset.key = it.key;
    const left = document.createElement('div');
    left.innerHTML = '<div class="title"></div><div class="muted meta"></div><div class="top"></div><div class="fields"></div>';
    left.querySelector('.title').textContent = it.title;
    left.querySelector('.meta').textContent = `${it.key} · sent by ${it.from} · ${new Date(it.producedAt).toLocaleString()}`;
    left.querySelector('.top').append(
      ...it.top.map((t) => {
        const s = document.createElement('span');
        s.textContent = `${t.category} ${(t.confidence * 100).toFixed(1)}%`;
        return s;
      }),
    );
    const select = document.createElement('select');
    select.name = 'category';
    for (const c of new Set([...(it.category ? [it.category] : []), ...it.top.map((t) => t.category), ...categories]))
      select.append(new Option(c, c, false, c === it.category));
    const catLabel = document.createElement('label');
    catLabel.append('category ', select);
    const fields = left.querySelector('.fields');
    fields.append(catLabel);
    for (const f of ['brand', 'mpn', 'gtin']) {
      const l = document.createElement('label');
      const i = document.createElement('input');
      i.name = f;
      i.size = 14;
      i.value = it.fields[f] ?? '';
      l.append(`${f} `, i);
      fields.append(l);
    }
    for (const x of fields.querySelectorAll('input, select')) x.disabled = !canAct();
    const right = document.createElement('div');
    if (canAct()) {
      right.append(
        button(
          'Save decision',
          async () => {
            const body = { category: select.value, fields: Object.fromEntries(['brand', 'mpn', 'gtin'].map((f) => [f, card.elements[f].value])) };
            const r = await api(`/console/api/review/${it.id}`, { method: 'POST', body });
            const done = Object.assign(document.createElement('p'), {
              textContent: `${it.key}: ${r.label.decision} → ${r.label.category}, sent to ${r.sentTo.map((s) => s.stream).join(', ')}`,
              tabIndex: -1,
            });
            done.setAttribute('role', 'status');
            card.replaceChildren(done);
            // Keyboard review goes on with the next item; the status line is read out either way.
            const next = card.nextElementSibling?.querySelector('select');
            (next ?? done).focus();
          },
          'admin-only',
        ),
      );
    } else right.append(Object.assign(document.createElement('span'), { className: 'muted', textContent: 'read only' }));
    card.append(left, right);
    host.append(card);
  }
}

// ---- Products
async function trace(id) {
  const t = await api(`/console/api/products/${encodeURIComponent(id)}`);
  const host = $('#trace');
  host.innerHTML =
    '<h2></h2><table class="hops"><thead><tr><th>stage</th><th>consumer</th><th>wait ms</th><th>batch ms</th><th>batch size</th><th>output</th></tr></thead><tbody></tbody></table>';
  host.querySelector('h2').innerHTML = `<span></span> · <span class="state ${t.state}">${t.state.replace('_', ' ')}</span>`;
  host.querySelector('h2 span').textContent = t.id;
  const body = host.querySelector('tbody');
  for (const h of t.hops) {
    const tr = document.createElement('tr');
    const out = document.createElement('td');
    const pre = document.createElement('pre');
    pre.className = 'detail';
    const o = { ...(t.outputs[h.stage] ?? {}) };
    delete o.entities;
    pre.textContent = JSON.stringify(o);
    out.append(pre);
    tr.append(td(h.stage), td(h.consumer), td(h.waitMs, 'num'), td(h.batchMs, 'num'), td(h.batch, 'num'), out);
    body.append(tr);
  }
  if (t.stored) host.append(Object.assign(document.createElement('pre'), { className: 'detail', textContent: `stored: ${JSON.stringify(t.stored, null, 1)}` }));
  for (const d of t.deadLetters)
    host.append(Object.assign(document.createElement('p'), { className: 'error', textContent: `dead letter ${d.id} at ${d.stage}: ${d.reason} (${d.error})` }));
}
export async function showProducts() {
  $('#find').onsubmit = (e) => {
    e.preventDefault();
    trace($('#find-id').value.trim()).catch(showError);
  };
  const load = async () => {
    const q = new URLSearchParams([...new FormData($('#filter'))].filter(([, v]) => v !== ''));
    const { products } = await api(`/console/api/products?${q}`);
    const body = $('#recent tbody');
    body.replaceChildren();
    for (const p of products) {
      const tr = document.createElement('tr');
      const id = document.createElement('td');
      const a = Object.assign(document.createElement('a'), { href: '#products', textContent: p.id });
      a.addEventListener('click', (e) => {
        e.preventDefault();
        $('#find-id').value = p.id;
        trace(p.id).catch(showError);
      });
      id.append(a);
      tr.append(
        id,
        td(p.category),
        td(p.confidence, 'num'),
        td(p.brand),
        td(p.mpn),
        td(p.route.join(' → ')),
        td(p.reviewedBy),
        td(p.storedAt ? new Date(p.storedAt).toLocaleTimeString() : null),
      );
      body.append(tr);
    }
  };
  $('#filter').onsubmit = (e) => {
    e.preventDefault();
    load().catch(showError);
  };
  await load();
}

// ---- Workers
export async function showWorkers() {
  const w = await api('/console/api/workers');
  const host = $('#worker-stages');
  host.replaceChildren();
  for (const s of w.stages) {
    const h = document.createElement('h2');
    h.textContent = `${s.stage} · ${s.consumers.length} consumer(s)`;
    const table = document.createElement('table');
    table.innerHTML =
      '<thead><tr><th>consumer</th><th>idle</th><th>holds</th><th>oldest held (id · age · deliveries)</th><th>watchdog</th></tr></thead><tbody></tbody>';
    for (const c of s.consumers) {
      const tr = document.createElement('tr');
      const wd = c.watchdog
        ? `${c.watchdog.phase ?? ''} · processed ${c.watchdog.processed ?? '?'} · progress ${c.watchdog.progressAt ? ago(Date.now() - c.watchdog.progressAt) + ' ago' : '?'}`
        : 'no liveness marker (stopped, stalled or gone)';
      tr.append(
        td(c.name),
        td(ago(c.idleMs)),
        td(c.pending, 'num'),
        td(c.holds.map((x) => `${x.id} · ${ago(x.idleMs)} · ${x.deliveries}`).join('; ') || '–'),
        td(wd),
      );
      table.tBodies[0].append(tr);
    }
    host.append(h, table);
  }
  const body = $('#worker-events tbody');
  body.replaceChildren();
  for (const e of w.events) {
    const { ts, event, stage, level: _l, ...rest } = e;
    const tr = document.createElement('tr');
    tr.append(td(ts ? new Date(ts).toLocaleTimeString() : ''), td(event), td(stage), td(JSON.stringify(rest)));
    body.append(tr);
  }
  if (!w.events.length)
    body.innerHTML =
      '<tr><td colspan="4" class="muted">No events in {p}:logs (run workers with logs.stream on to see autoscaler and watchdog events).</td></tr>';
}
