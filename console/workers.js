// The workers view: consumers per stage with what they hold, and autoscaler/supervisor/watchdog events.
import { api } from './api.js';
import { $, ago, button, showError, td } from './ui.js';

/** What a consumer's batch waits for (its marker's `outage`: PostgreSQL down, Redis full), as `pipeline status` says it: a growing lag with its reason. */
const outageText = (o) =>
  o?.dependency ? ` · waits ${o.since ? ago(Math.max(0, Date.now() - o.since)) + ' ' : ''}for ${o.dependency}${o.error ? `: ${o.error}` : ''}` : '';

const progressText = (w) => `${w.phase ?? ''} · processed ${w.processed ?? '?'} · progress ${w.progressAt ? ago(Date.now() - w.progressAt) + ' ago' : '?'}`;

/**
 * A consumer's liveness record; `alive` false: its alive key lapsed (the process was killed or is frozen) while
 * the record, kept for blockMs + stallTimeoutMs after its last progress, would read as a live worker's.
 */
const watchdogText = (w, alive = true) => {
  if (!w) return 'no liveness marker (stopped, stalled or gone)';
  if (!alive) return `gone: no heartbeat (killed or frozen); what it holds is handed to the stage's other consumers · last: ${progressText(w)}`;
  return `${progressText(w)}${outageText(w.outage)}`;
};

/** The heading of a stage: a stage run fused in another's batch says so (with no consumer of its own it had looked dead). */
function heading(s) {
  const fused = s.fusedAfter.length ? `runs fused in ${s.process} (in the batches of ${s.fusedAfter.join(', ')})` : '';
  if (!s.consumers.length && fused) return `${s.stage} · ${fused}`;
  return `${s.stage} · ${s.consumers.length} consumer(s)${fused ? ` · also ${fused}` : ''}`;
}

/** A paused stage (`pipeline pause`, the Pause button): who paused it, how long ago, why. */
const pausedText = (p) => `PAUSED by ${p.by} ${ago(Math.max(0, Date.now() - p.at))} ago${p.reason ? `: ${p.reason}` : ''}`;

/**
 * Pause (asking why; Cancel pauses nothing) or resume a stage through the API's admin routes
 * (POST /v1/stages/:stage/pause|resume, audited), then draw the view again.
 */
async function pauseOrResume(stage, paused) {
  const path = `/v1/stages/${encodeURIComponent(stage)}/${paused ? 'resume' : 'pause'}`;
  if (paused) await api(path, { method: 'POST' });
  else {
    const reason = prompt(`Pause ${stage}? Its workers finish the batch in hand and then process nothing until resumed. Reason (optional):`, '');
    if (reason === null) return;
    await api(path, { method: 'POST', body: reason.trim() ? { reason: reason.trim() } : {} });
  }
  await showWorkers();
}

/**
 * Purge a stage's waiting entries through the admin's route (POST /v1/stages/:stage/purge, audited):
 * a dry run first, whose count the confirmation shows; the purge is sent the dry run's `until` and
 * that count, so records taken after the confirmation, and more than it said, are never purged.
 */
async function purgeWaiting(stage) {
  const path = `/v1/stages/${encodeURIComponent(stage)}/purge`;
  const said = $('#workers-result');
  const dry = await api(path, { method: 'POST', body: { dryRun: true } });
  if (dry.waiting === 0) {
    said.textContent = `Nothing waits for ${stage}: nothing purged.`;
    return;
  }
  const ok = confirm(
    `Purge ${stage}? The ${dry.waiting} entries waiting for it (read by no worker yet) go to the dead letters with reason purged; ` +
      'Replay in the Dead letters view puts them back. Entries a worker holds, and records taken after this, stay.' +
      // Redis could not tell the lag: only the entries counted are purged (the dry run's `until` stops at the last counted on each shard), the rest wait for another Purge.
      (dry.atLeast ? ` More may wait: Redis cannot tell how many; only these ${dry.waiting} are purged.` : ''),
  );
  if (!ok) return;
  said.textContent = `Purging ${stage}…`;
  const done = await api(path, { method: 'POST', body: { until: dry.until, count: dry.waiting } });
  said.textContent = `Purged ${stage}: ${done.purged} entries dead-lettered (reason purged).`;
  await showWorkers();
}

/**
 * Draw the view. It is not redrawn by itself (each draw reads the newest 2,000 log lines): it says
 * when it was drawn, and its Refresh button draws it again (idle times and "progress … ago" had
 * stood still with nothing saying so, a worker another operator stopped or started since unseen).
 */
export async function showWorkers() {
  // Set before the read: a first draw that failed (Redis away) left a Refresh that did nothing.
  $('#workers-refresh').onclick = () => showWorkers().catch(showError);
  const [w, flags] = await Promise.all([api('/console/api/workers'), api('/v1/stages')]);
  const pausedOf = new Map(flags.stages.map((x) => [x.stage, x.paused]));
  $('#workers-drawn').textContent = `As of ${new Date().toLocaleTimeString()}; not redrawn by itself.`;
  const host = $('#worker-stages');
  host.replaceChildren();
  for (const s of w.stages) {
    const h = document.createElement('h2');
    h.textContent = heading(s);
    h.dataset.stage = s.stage;
    // Paused or not, with the admin's button to change it (hidden for a read-only token).
    const p = pausedOf.get(s.stage);
    if (p) {
      const tag = document.createElement('span');
      tag.className = 'paused';
      tag.textContent = ` · ${pausedText(p)}`;
      h.append(tag);
    }
    h.append(
      ' ',
      button(p ? 'Resume' : 'Pause', () => pauseOrResume(s.stage, !!p), 'admin-only stage-pause'),
      ' ',
      button('Purge', () => purgeWaiting(s.stage), 'danger admin-only stage-purge'),
    );
    const table = document.createElement('table');
    table.innerHTML =
      '<thead><tr><th>consumer</th><th>idle</th><th>holds</th><th>oldest held (id · age · deliveries)</th><th>watchdog</th></tr></thead><tbody></tbody>';
    for (const c of s.consumers) {
      const tr = document.createElement('tr');
      tr.append(
        td(c.shard === undefined ? c.name : `${c.name} · shard ${c.shard}`),
        td(ago(c.idleMs)),
        td(c.pending, 'num'),
        td(c.holds.map((x) => `${x.id} · ${ago(x.idleMs)} · ${x.deliveries}`).join('; ') || '–'),
        td(watchdogText(c.watchdog, c.alive)),
      );
      table.tBodies[0].append(tr);
    }
    // Fused with no consumer of its own: its watchdog markers under its process's consumers.
    for (const m of s.markers) {
      const tr = document.createElement('tr');
      tr.append(td(`${m.consumer}${m.shard === undefined ? '' : ` · shard ${m.shard}`} (fused)`), td(null), td(null), td(null), td(watchdogText(m.watchdog)));
      table.tBodies[0].append(tr);
    }
    if (!s.consumers.length && !s.markers.length) {
      const why = s.fusedAfter.length ? `No liveness marker of ${s.stage} in ${s.process}'s consumers.` : 'No consumer (no worker has read this stage).';
      table.tBodies[0].innerHTML = '<tr><td colspan="5" class="muted"></td></tr>';
      table.tBodies[0].querySelector('td').textContent = why;
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
  if (!w.events.length) {
    // Said as it is: the stream's real key, and whether it is empty or only holds other lines (a literal {p} and "turn logs.stream on" had been said either way).
    const text = w.logs.scanned
      ? `No autoscaler, supervisor or watchdog events among the newest ${w.logs.scanned} lines of ${w.logs.key}.`
      : `${w.logs.key} is empty: workers write their log lines there with logs.stream on (or env LOG_STREAM=1); autoscaler and watchdog events show here.`;
    body.innerHTML = '<tr><td colspan="4" class="muted"></td></tr>';
    body.querySelector('td').textContent = text;
  }
}
