// The dead letters view: counts by stage and reason, a page of entries, replay and purge, the audit list.
import { api } from './api.js';
import { td, showError } from './app.js';
import { $, button, canAct } from './ui.js';

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
async function showEntry(id) {
  const full = await api(`/console/api/dlq/${id}`);
  $('#dlq-detail').hidden = false;
  $('#dlq-detail').textContent = JSON.stringify(full, null, 2);
  $('#dlq-detail').focus();
  $('#dlq-detail').scrollIntoView({ block: 'nearest' });
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
    // An entry replayed or purged since the page was drawn answers 404: said on the page (it had been an uncaught error, nothing shown).
    link.addEventListener('click', (ev) => {
      ev.preventDefault();
      showEntry(e.id).catch(showError);
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
