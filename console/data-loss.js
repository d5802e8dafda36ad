// The red banner of a data loss the workers recorded (Redis restarted empty, a failover that lost writes:
// lib/ops/data-loss.ts), on every tab while a record exists; the admin's Acknowledge clears it (POST /v1/data-loss/ack).
import { api } from './api.js';
import { $, button } from './ui.js';

const SIGNS = {
  group_vanished: 'its consumer group vanished',
  marker_gone: 'the data-loss marker was gone',
  marker_changed: 'the data-loss marker had changed',
  unrecorded: 'details not recorded',
};
/** What docs/reliability.md ("Redis restarts") says to do. */
const TODO =
  'Records produced, in flight or stored before then may be gone: re-produce them (pipeline produce of the same input, or submit them again; ' +
  'a product id is stored once), run Redis with appendonly yes, then acknowledge.';

// Samples taken before the acknowledgement (server time) still carry the record: not shown again.
let ackedAt = 0;
let shown = '';

/** One record as a sentence: what, when, seen by which stage and consumer, on which stream and shard. */
export const lossText = (r) =>
  `Redis lost data: ${SIGNS[r.what] ?? r.what} (${r.stream}), ${new Date(r.at).toLocaleString()} (${new Date(r.at).toISOString()}), ` +
  `seen by ${r.stage || '?'}/${r.consumer || '?'} on ${r.tag}${r.reports > 1 ? `, ${r.reports} reports` : ''}.`;

async function acknowledge(records) {
  const tags = records.map((r) => r.tag).join(', ');
  if (!confirm(`Acknowledge the data loss of ${tags}? Re-produce what was lost first: the banner goes for every operator.`)) return;
  const done = await api('/v1/data-loss/ack', { method: 'POST' });
  ackedAt = done.at;
  draw([]);
}

function draw(records) {
  const key = JSON.stringify(records.map((r) => [r.tag, r.at, r.reports]));
  if (key === shown) return;
  shown = key;
  const banner = $('#data-loss');
  banner.hidden = records.length === 0;
  banner.replaceChildren();
  if (!records.length) return;
  for (const r of records) {
    const p = document.createElement('p');
    p.className = 'data-loss-record';
    p.textContent = lossText(r);
    banner.append(p);
  }
  const todo = document.createElement('p');
  todo.textContent = TODO;
  todo.append(
    ' ',
    button('Acknowledge', () => acknowledge(records), 'danger admin-only data-loss-ack'),
  );
  banner.append(todo);
}

/** A live sample (lib/console/sampler.ts `dataLost`): the banner while a record exists. */
export function showDataLoss(sample) {
  draw(sample.at < ackedAt ? [] : (sample.dataLost ?? []));
}
