// The products view's Revoke: the admin's POST /v1/products/{id}/revoke (audited), as Flower's
// task page revokes a task. It asks why and confirms, says the answer (marked, with the cut-off; or
// the end the trip had reached), then follows the id's status until its trip ends. An id whose last
// trip ended gets Revoke anyway instead: the same POST with `force`, as `pipeline revoke --force`.
import { api, HttpError } from './api.js';
import { $, button } from './ui.js';

/**
 * Following the status after a revoke: each read of GET /v1/products/{id} after the first long-polls
 * `waitMs` (the server caps it at its maxWaitMs), and `pollMs` passes between reads (an id with no
 * status yet, 404, is answered at once: records `pipeline produce` sends have none before their end).
 */
export const FOLLOW = { waitMs: 25_000, pollMs: 2_000 };

const FINAL = new Set(['stored', 'review', 'dead_lettered', 'revoked']);

// Each user's trace of a product (Find, a row of the list) stops the follow of the one before.
let generation = 0;

/** Stop following the last revoke and clear its line (a new product is traced). */
export function forgetRevoke() {
  generation++;
  const said = $('#revoke-result');
  said.textContent = '';
  said.classList.remove('error');
}

const say = (text, error = false) => {
  const said = $('#revoke-result');
  said.textContent = text;
  said.classList.toggle('error', error);
};

/** An error as the operator needs it: the HTTP status and the server's message, or that no answer came. */
const describe = (err) => (err instanceof HttpError ? `HTTP ${err.status}: ${err.message}` : `no answer from the server (${err.message})`);

/** Where an id stands, from GET /v1/products/{id} (null: no status yet). */
const where = (s) => (s ? `${s.status.replace('_', ' ')}${s.stage ? ` at ${s.stage}` : s.after ? ` after ${s.after}` : ''}` : 'no status yet');

/**
 * The Revoke button of product `id` (admin only: hidden for a read-only token); `redraw(id)` draws
 * its trace again once the answer or its end is known. `known` false: nothing of it was found.
 */
export const revokeButton = (id, redraw, known = true) => button('Revoke', () => revoke(id, redraw, known), 'danger admin-only product-revoke');

/**
 * The Revoke anyway button of product `id` whose last trip ended `ended` (stored, review, ...): a
 * version `pipeline produce` sent again since has no `queued` status, so the id reads as ended while
 * that version waits in a stream. Admin only, as Revoke.
 */
export const forceRevokeButton = (id, redraw, ended) =>
  button('Revoke anyway', () => revoke(id, redraw, true, ended), 'danger admin-only product-revoke-force');

async function revoke(id, redraw, known, ended) {
  const force = ended !== undefined;
  const reason = prompt(
    (force
      ? `The last trip of ${id} ended ${ended.replace('_', ' ')}. Revoke it anyway (force, as pipeline revoke --force)? ` +
        'That trip stays as it ended (a stored product stays stored); a version of it sent again since (pipeline produce writes no queued status, so it shows as ended) ' +
        'is acked unprocessed by the next stage that reads it and ends revoked; one sent after now is processed. '
      : `Revoke ${id}? ` +
        (known ? '' : 'Nothing of it is found here (it may wait deeper in a backlog than the trace searches, or not be sent yet). ') +
        'Every version of it sent before now is acked unprocessed by the next stage that reads it and ends revoked; one sent after is processed. ') +
      'One already in a stage’s hands finishes there. Cancel revokes nothing. Reason (optional):',
    '',
  );
  if (reason === null) return;
  forgetRevoke();
  const gen = generation;
  say(`Revoking ${id}…`);
  let marked;
  // Forced: the end it has now is the last trip's; only another one (status or time) is the end of what was revoked.
  const before = force ? await statusOf(id).catch(() => null) : null;
  const body = { ...(reason.trim() ? { reason: reason.trim() } : {}), ...(force ? { force: true } : {}) };
  try {
    marked = await api(`/v1/products/${encodeURIComponent(id)}/revoke`, { method: 'POST', body });
  } catch (err) {
    if (err instanceof HttpError && err.status === 409) {
      say(
        `${id} was not revoked: its trip had ended ${err.body?.status ?? '(status not said)'}; nothing changed. ` +
          'A version sent again with pipeline produce (which writes no queued status) is revoked with Revoke anyway.',
      );
      return redraw(id);
    }
    if (err instanceof HttpError && err.status === 401) throw err; // back to sign-in
    // No answer: the request may have reached the server or not.
    say(
      `Revoke of ${id} failed: ${describe(err)}.${err instanceof HttpError ? '' : ' Whether it was marked is not known: Recent actions (Dead letters view) lists it (product_revoke) if it was; Revoke again if not.'}`,
      true,
    );
    return;
  }
  const was = marked.was === 'unknown' ? 'it had no status yet' : `it was ${marked.was.replace('_', ' ')}`;
  const head = force
    ? `Revoked ${id} anyway (its last trip ended ${(marked.was === 'unknown' ? ended : marked.was).replace('_', ' ')}): versions sent up to input entry ${marked.cutoff} end revoked at the next stage that reads them.`
    : `Revoked ${id} (${was}): versions sent up to input entry ${marked.cutoff} end revoked at the next stage that reads them.`;
  say(`${head} Following its status…`);
  await follow(id, gen, head, redraw, before);
}

/** GET /v1/products/{id}, null for an id without a status (404). */
async function statusOf(id, waitMs = 0) {
  try {
    return await api(`/v1/products/${encodeURIComponent(id)}${waitMs ? `?wait_ms=${waitMs}` : ''}`);
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) return null;
    throw err;
  }
}

/** An end other than `before` (a forced revoke's last trip: the same status and time is that trip's, not a new one). */
const newEnd = (s, before) => s && FINAL.has(s.status) && !(before && before.status === s.status && before.at === s.at);

/**
 * Read the id's status until its trip ends (then draw its trace again) or another product is traced:
 * at once first (where it stands is said now), then long polls. `before`: a forced revoke's status
 * then, whose end is not waited for (a long poll of an ended id answers at once: `pollMs` apart).
 */
async function follow(id, gen, head, redraw, before, o = FOLLOW) {
  for (let wait = 0; ; wait = o.waitMs) {
    let s;
    try {
      s = await statusOf(id, wait);
    } catch (err) {
      if (gen !== generation) return;
      say(`${head} Following its status stopped: ${describe(err)}. Find it again to see where it is.`, true);
      if (err instanceof HttpError && err.status === 401) throw err;
      return;
    }
    if (gen !== generation) return;
    if (before && s && FINAL.has(s.status) && !newEnd(s, before)) {
      say(`${head} Now ${where(s)} (its last trip); a version sent again ends when the next stage reads it (none sent: nothing more happens).`);
      await new Promise((r) => setTimeout(r, o.pollMs));
      continue;
    }
    if (newEnd(s, before)) {
      await redraw(id);
      // A record already in a stage's hands finishes there (the store's included): said, not hidden.
      const how = s.status === 'revoked' ? '' : ': it was in a stage’s hands already, which finished it (a revoke is best effort)';
      return say(`${head} It ended ${where(s)}${how}.`, s.status !== 'revoked');
    }
    say(`${head} Now ${where(s)}; it ends when the next stage reads it (a paused stage holds it until resumed).`);
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}
