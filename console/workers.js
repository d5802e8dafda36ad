// The workers view: consumers per stage with what they hold, and autoscaler/supervisor/watchdog events.
import { api } from './api.js';
import { td } from './app.js';
import { $, ago } from './ui.js';

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
