// The products view: one product's trip by id, and the recently stored products, filtered.
import { api } from './api.js';
import { $, showError, td } from './ui.js';
import { forceRevokeButton, forgetRevoke, revokeButton } from './revoke.js';

const note = (text) => $('#trace').replaceChildren(Object.assign(document.createElement('p'), { className: 'muted', textContent: text }));

async function trace(id) {
  if (!id) return note('Enter a product id.');
  const t = await api(`/console/api/products/${encodeURIComponent(id)}`);
  // The DLQ is searched from its newest entry, at most maxBulk of them: past that, "no dead letter" is
  // said only of those read (an older dead letter of the product had been denied outright).
  const dlq = t.deadLettersSearched;
  const older =
    dlq && !dlq.complete ? ` among the newest ${dlq.scanned} dead letters (older ones are not searched: the Dead letters tab pages through them all)` : '';
  // Nothing known: said in words (an empty table with the state "unknown" had been all).
  if (t.state === 'unknown' && !t.hops.length) {
    note(`No product ${id}: not stored, not among the newest entries of any stream, and no dead letter of it${older}. `);
    // It may wait deeper in a backlog than searched, or not be sent yet: a revoke marks it all the same.
    $('#trace p').append(t.tripEnded ? forceRevokeButton(id, trace, t.lastEnd) : revokeButton(id, trace, false));
    return;
  }
  const host = $('#trace');
  host.innerHTML =
    '<h2></h2><table class="hops"><thead><tr><th>stage</th><th>consumer</th><th>wait ms</th><th>batch ms</th><th>batch size</th><th>output</th></tr></thead><tbody></tbody></table>';
  host.querySelector('h2').innerHTML = `<span></span> · <span class="state ${t.state}">${t.state.replace('_', ' ')}</span>`;
  host.querySelector('h2 span').textContent = t.id;
  // Revoke while its trip has not ended (an ended one answers 409); after, Revoke anyway (force): a
  // version `pipeline produce` sent again has no queued status, so the id reads as ended while it waits.
  host.querySelector('h2').append(' ', t.tripEnded ? forceRevokeButton(t.id, trace, t.lastEnd) : revokeButton(t.id, trace));
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
  // A product no stage has handed on yet (its stage has no worker, or is behind) had an empty table;
  // one whose trip ended so (revoked or dead-lettered at its first stage) is waiting for nothing.
  if (!t.hops.length) {
    const text = t.tripEnded
      ? `No stage handed ${t.id} on.`
      : `No stage has handed ${t.id} on yet: its stage has not run it (no worker, or behind: see Workers).`;
    const none = td(text, 'muted');
    none.colSpan = 6;
    const tr = document.createElement('tr');
    tr.append(none);
    body.append(tr);
  }
  if (t.stored) host.append(Object.assign(document.createElement('pre'), { className: 'detail', textContent: `stored: ${JSON.stringify(t.stored, null, 1)}` }));
  for (const d of t.deadLetters)
    host.append(Object.assign(document.createElement('p'), { className: 'error', textContent: `dead letter ${d.id} at ${d.stage}: ${d.reason} (${d.error})` }));
  if (t.revoked) {
    const r = t.revoked;
    const text = `revoked at ${r.stage} by ${r.by}${r.reason ? `: ${r.reason}` : ''} (${new Date(r.at).toISOString()}); not processed further`;
    host.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: text }));
  }
  if (older) host.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: `Dead letters of ${id} searched${older}.` }));
}
export async function showProducts() {
  $('#find').onsubmit = (e) => {
    e.preventDefault();
    forgetRevoke();
    trace($('#find-id').value.trim()).catch(showError);
  };
  const load = async () => {
    const q = new URLSearchParams([...new FormData($('#filter'))].map(([k, v]) => [k, v.trim()]).filter(([, v]) => v !== ''));
    // Confidence is entered as the percentage the page shows (90, not 0.9); the API takes a fraction.
    for (const k of ['minConfidence', 'maxConfidence']) {
      if (!q.has(k)) continue;
      const pct = Number(q.get(k).replace('%', ''));
      if (!Number.isFinite(pct) || pct < 0 || pct > 100) return void ($('#recent-status').textContent = 'Confidence is a percentage from 0 to 100.');
      q.set(k, String(pct / 100));
    }
    const { products, scanned, completions } = await api(`/console/api/products?${q}`);
    // How far the search went: only the newest completions are read (a filter had found nothing, silently, beyond them).
    $('#recent-status').textContent = !completions
      ? 'No product stored yet: products are listed here as the store stage stores them.'
      : `${products.length} product(s); searched ${scanned < completions ? `the newest ${scanned} of ${completions}` : `all ${completions}`} completions` +
        (scanned < completions ? ' (older ones are not searched: find those by id).' : '.');
    const body = $('#recent tbody');
    body.replaceChildren();
    for (const p of products) {
      const tr = document.createElement('tr');
      const id = document.createElement('td');
      const a = Object.assign(document.createElement('a'), { href: '#products', textContent: p.id });
      a.addEventListener('click', (e) => {
        e.preventDefault();
        $('#find-id').value = p.id;
        forgetRevoke();
        trace(p.id).catch(showError);
      });
      id.append(a);
      tr.append(
        id,
        td(p.category),
        td(p.confidence === undefined ? null : `${(p.confidence * 100).toFixed(1)}%`, 'num'),
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
