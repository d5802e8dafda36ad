// The dead letters view: counts by stage and reason, a page of entries, replay and purge, the audit list.
import { api } from './api.js';
import { $, button, canAct, showError, td } from './ui.js';

const DLQ_PAGE = 200;
const ERROR_SHOWN = 300; // characters of an error shown in the entries table
let dlqAfter = ''; // the id the shown page starts after ('' = the first page); kept across tab switches
let drawnTotal; // the DLQ's length when the view was drawn (undefined: not drawn yet)
let drawnAt = 0; // when the server read it (server ms): samples taken before are not compared

/** How actions name an entry: `<shard>/<id>` in a sharded pipeline (each shard has its own DLQ), its id in an unsharded one. */
const ref = (e) => (e.shard === undefined ? e.id : `${e.shard}/${e.id}`);

/**
 * The live sample's DLQ length (app.js, from the SSE stream the page already has): how many dead
 * letters arrived or went since the view was drawn, with its Refresh button beside (the view had
 * never refreshed: new dead letters showed only after a tab switch, which lost the page). A sample
 * taken before the draw (`at`, server ms) is not compared: one read before a purge and arriving
 * after the redraw had said the purged ones were new.
 */
export function dlqCount(total, at) {
  if (drawnTotal === undefined || typeof total !== 'number' || at < drawnAt) return;
  const diff = total - drawnTotal;
  $('#dlq-new').textContent =
    diff > 0 ? `${diff} new dead letter(s) since drawn.` : diff < 0 ? `${-diff} dead letter(s) fewer since drawn (replayed or purged).` : '';
}

/** Above this many dead letters, "Replay all" asks first (as Purge always does). */
const REPLAY_CONFIRM_OVER = 50;
let running = false; // an action's request is out: a second click sends nothing

/**
 * Run a replay or purge (`what`: how many, for the progress line) and say what it did: a replay
 * that found nothing to do had looked like success. While it runs every action button of the view
 * is disabled and the status line says what is going on (a double click had sent two requests and
 * shown the second's "Replayed 0"; an 11 s replay showed nothing at all).
 */
async function dlqAction(kind, body, what, expected) {
  if (running) return;
  running = true;
  const buttons = [...document.querySelectorAll('#dlq button')].filter((b) => !b.disabled);
  for (const b of buttons) b.disabled = true;
  $('#dlq').setAttribute('aria-busy', 'true');
  $('#dlq-result').textContent = `${kind === 'purge' ? 'Purging' : 'Replaying'} ${what}…`;
  try {
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
    // Fewer than the page showed: others replayed or purged them since it was drawn (it had said a bare "Replayed 0." / "Purged 0").
    const done = kind === 'purge' ? r.purged : r.replayed.length + r.skipped.length;
    const gone = expected - done;
    const said =
      gone > 0 ? `${text.slice(0, -1)}; ${gone} of the ${expected} were no longer in the DLQ (replayed or purged by others since the page was drawn).` : text;
    await showDlq(dlqAfter); // draws the buttons afresh
    $('#dlq-result').textContent = said;
    return r;
  } catch (err) {
    $('#dlq-result').textContent = '';
    for (const b of buttons) b.disabled = false;
    throw err;
  } finally {
    running = false;
    $('#dlq').removeAttribute('aria-busy');
  }
}
const replayAll = (g, sel) =>
  g.count <= REPLAY_CONFIRM_OVER || confirm(`Replay ${g.count} dead letters of ${g.stage}/${g.reason}?`)
    ? dlqAction('replay', sel, `${g.count} dead letters`, g.count)
    : Promise.resolve();

async function showEntry(e) {
  const full = await api(`/console/api/dlq/${e.id}${e.shard === undefined ? '' : `?shard=${e.shard}`}`);
  $('#dlq-detail').hidden = false;
  $('#dlq-detail').textContent = JSON.stringify(full, null, 2);
  $('#dlq-detail').focus();
  $('#dlq-detail').scrollIntoView({ block: 'nearest' });
}

/** Draw the view at the page after `after` (by default the page shown last: a tab switch keeps it). */
export async function showDlq(after = dlqAfter) {
  // Set before the read: a first draw that failed (Redis away) left a Refresh that did nothing.
  $('#dlq-refresh').onclick = () => showDlq().catch(showError);
  // One entry more than the page shows: whether a next page (newer entries) exists (a full last page
  // had offered one, and it was empty).
  const query = `count=${DLQ_PAGE + 1}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
  const [d, audit] = await Promise.all([api(`/console/api/dlq?${query}`), api('/console/api/audit')]);
  const entries = d.entries.slice(0, DLQ_PAGE);
  dlqAfter = after;
  drawnTotal = d.total;
  drawnAt = d.at ?? 0;
  $('#dlq-new').textContent = '';
  // An action disables every button of the view while it runs; the ones drawn afresh come back
  // enabled, this one is not drawn again (it had stayed disabled after each replay or purge).
  $('#dlq-refresh').disabled = false;
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
        // Undecodable entries fail the same way again (the server skips them): no replay offered.
        g.reason === 'undecodable'
          ? Object.assign(document.createElement('span'), { className: 'muted', textContent: 'not replayable (does not decode)' })
          : button(`Replay all ${g.count}`, () => replayAll(g, sel), 'admin-only'),
        ' ',
        button(
          'Purge',
          () =>
            confirm(`Purge ${g.count} dead letters of ${g.stage}/${g.reason}?`)
              ? dlqAction('purge', sel, `${g.count} dead letters`, g.count)
              : Promise.resolve(),
          'danger admin-only',
        ),
      );
    tr.append(td(g.stage), td(g.reason), td(g.count, 'num'), act);
    groups.append(tr);
  }
  if (!d.groups.length) groups.append(emptyRow(4, 'No dead letters.'));
  const body = $('#dlq-entries tbody');
  body.replaceChildren();
  const selected = new Set();
  const sync = () => {
    $('#dlq-replay-selected').disabled = !canAct() || selected.size === 0;
    $('#dlq-purge-selected').disabled = !canAct() || selected.size === 0;
  };
  for (const e of entries) {
    const tr = document.createElement('tr');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.dataset.id = ref(e);
    box.setAttribute('aria-label', `select ${ref(e)}`);
    box.addEventListener('change', () => {
      if (box.checked) selected.add(ref(e));
      else selected.delete(ref(e));
      sync();
    });
    const cell = document.createElement('td');
    cell.append(box);
    const idCell = document.createElement('td');
    const link = document.createElement('a');
    link.href = '#dlq';
    link.textContent = ref(e);
    // An entry replayed or purged since the page was drawn answers 404: said on the page (it had been an uncaught error, nothing shown).
    link.addEventListener('click', (ev) => {
      ev.preventDefault();
      showEntry(e).catch(showError);
    });
    idCell.append(link);
    // A long error (up to 2,000 characters) is cut in the table; the whole one is in its tooltip and the entry's detail.
    const error = td(e.error && e.error.length > ERROR_SHOWN ? `${e.error.slice(0, ERROR_SHOWN)}…` : e.error);
    if (e.error) error.title = e.error;
    tr.append(cell, idCell, td(e.key), td(e.stage), td(e.reason), td(e.deliveries, 'num'), error);
    body.append(tr);
  }
  // An empty table says why (it had been its header alone).
  if (!entries.length) body.append(emptyRow(7, after ? 'No newer dead letters.' : 'No dead letters.'));
  $('#dlq-all').checked = false;
  $('#dlq-first').disabled = !after;
  $('#dlq-first').onclick = () => showDlq('').catch(showError);
  $('#dlq-older').disabled = d.entries.length <= DLQ_PAGE;
  $('#dlq-older').onclick = () => showDlq(ref(entries.at(-1))).catch(showError);
  $('#dlq-page').textContent = entries.length ? `${ref(entries[0])} … ${ref(entries.at(-1))}` : '';
  $('#dlq-all').onchange = (ev) => {
    for (const b of body.querySelectorAll('input[type=checkbox]')) {
      b.checked = ev.target.checked;
      b.dispatchEvent(new Event('change'));
    }
  };
  $('#dlq-replay-selected').onclick = () => dlqAction('replay', { ids: [...selected] }, `${selected.size} dead letter(s)`, selected.size).catch(showError);
  $('#dlq-purge-selected').onclick = () =>
    (confirm(`Purge ${selected.size} dead letters for good?`)
      ? dlqAction('purge', { ids: [...selected] }, `${selected.size} dead letter(s)`, selected.size)
      : Promise.resolve()
    ).catch(showError);
  sync();
  const list = $('#audit');
  list.replaceChildren(
    ...audit.actions.map((a) => {
      const li = document.createElement('li');
      li.textContent = `${new Date(a.at).toLocaleString()} · ${a.by} · ${a.action}${auditDetail(a)}`;
      return li;
    }),
  );
  if (!audit.actions.length)
    list.append(
      Object.assign(document.createElement('li'), {
        className: 'muted',
        textContent: 'No actions yet: replays, purges, review decisions, pauses and resumes are listed here, with who did them.',
      }),
    );
}

/** A table row of one muted cell across `columns`, saying why the table is empty. */
function emptyRow(columns, text) {
  const c = td(text, 'muted');
  c.colSpan = columns;
  const tr = document.createElement('tr');
  tr.append(c);
  return tr;
}

/**
 * What an audit entry did, after its action's name: the entries a replay or purge removed, a
 * review decision's product and category, the stages a pause or resume flagged (with the reason),
 * the stage a stage purge emptied, the id a revoke named,
 * the records a data-loss acknowledgement cleared. A pause had been listed as a bare `stage_pause`,
 * not saying which stage nor why.
 */
function auditDetail(a) {
  const parts = [];
  // Stopped part way: by an error (named), or by the server closing (no error: sent again, it goes on).
  if (a.action === 'stage_purge')
    parts.push(`${a.stage}${!a.stopped ? '' : a.error ? ` (stopped by an error: ${a.error})` : ' (stopped: the server was closing)'}`);
  if (a.replayed !== undefined) parts.push(`replayed ${a.replayed}`);
  if (a.purged !== undefined) parts.push(`purged ${a.purged}`);
  if (a.category) parts.push(`${a.key} → ${a.category}`);
  if (a.action === 'stage_pause') parts.push(`${(a.stages ?? []).join(', ')}${a.reason ? `: ${a.reason}` : ''}`);
  if (a.action === 'stage_resume') parts.push(a.stages?.length ? a.stages.join(', ') : `none (${a.target} was not paused)`);
  if (a.action === 'data_loss_ack') parts.push(`${(a.records ?? []).length} record(s)`);
  // A product revoke (the products view's Revoke or Revoke anyway, POST /v1/products/{id}/revoke): which id, whether it was marked (forced), why.
  if (a.action === 'product_revoke')
    parts.push(
      `${a.id}: ${a.outcome === 'ended' ? 'not revoked, its trip had ended' : `${a.outcome}${a.force ? ' (forced: its last trip had ended)' : ''}`}${a.reason ? `: ${a.reason}` : ''}`,
    );
  return parts.map((p) => ` · ${p}`).join('');
}
