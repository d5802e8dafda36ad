// The review queue: undecided items, each a form to confirm or correct.
import { api, HttpError } from './api.js';
import { $, ago, button, canAct, showError } from './ui.js';

// The page shown: the id it starts after ('' = the oldest).
let at = { after: '' };
const earlier = []; // the pages before it, for "Previous page"
let acked = ''; // what the last acknowledgement did, said after the view is drawn again

/** How actions name an item: `<shard>/<id>` in a sharded pipeline (each shard has its own review stream), its id in an unsharded one. */
const ref = (it) => (it.shard === undefined ? it.id : `${it.shard}/${it.id}`);
// The page as drawn: the undecided items before it (the server's count when it read the page), how
// many items it shows, the undecided total then and when (server ms), and how many of its items were
// decided or closed here since.
let drawn;

/**
 * "Items 1–50 of N undecided": N is the live count (the badge's) once a sample newer than the page
 * says it. The place is the server's count of undecided items before the page when it was read (it
 * had been the pages clicked through times 50: "Items 51–60 of 57" once others decided earlier items).
 */
function countText(total) {
  const { before, shown } = drawn;
  $('#review-count').textContent = shown
    ? before.complete
      ? `Items ${before.count + 1}–${before.count + shown} of ${total} undecided, oldest first.`
      : `${shown} items after more than ${before.count} older ones, of ${total} undecided, oldest first.`
    : total
      ? `No items on this page; ${total} undecided in all.`
      : '';
}

/**
 * The live sample's count of undecided items (app.js, from the SSE stream the page already has):
 * the page's "of N" follows it, and beside its Refresh button the view says how many were decided
 * or closed by others, or arrived, since it was drawn; its own decisions are not counted as others'.
 * (The view was never redrawn and said nothing: "of 38" beside a badge of 34, and other reviewers'
 * items left to be saved again.)
 */
export function reviewCount(open, at) {
  if (!drawn || typeof open !== 'number' || at < drawn.at) return;
  countText(open);
  const diff = open - (drawn.total - drawn.closed);
  $('#review-new').textContent =
    diff > 0 ? `${diff} new item(s) to review since drawn.` : diff < 0 ? `${-diff} item(s) decided or closed by others since drawn.` : '';
}

/** One of the page's items was decided (or found closed) here: not counted as another reviewer's. */
function closedHere(at) {
  drawn.closed++;
  if (at > drawn.at) drawn.at = at; // samples taken before it still count it as undecided
}

/** One page of undecided items (the server's 50, oldest first), with where it is among all of them. */
export async function showReview(after = at.after) {
  // Set before the read: a first draw that failed (Redis away) left a Refresh that did nothing.
  $('#review-refresh').onclick = () => showReview().catch(showError);
  const {
    items,
    categories,
    total,
    before,
    next,
    trimmed,
    gone,
    at: readAt,
  } = await api(`/console/api/review${after ? `?after=${encodeURIComponent(after)}` : ''}`);
  at = { after };
  if (!after) earlier.length = 0;
  drawn = { before, shown: items.length, total, at: readAt ?? 0, closed: 0 };
  countText(total);
  $('#review-new').textContent = '';
  showTrimmed(trimmed, gone);
  $('#review-first').disabled = !after;
  $('#review-first').onclick = () => showReview('').catch(showError);
  $('#review-previous').disabled = !earlier.length;
  $('#review-previous').onclick = () => {
    const p = earlier.pop();
    return showReview(p.after).catch(showError);
  };
  $('#review-next').disabled = !next;
  $('#review-next').onclick = () => {
    earlier.push(at);
    return showReview(next).catch(showError);
  };
  const host = $('#review-items');
  host.replaceChildren();
  if (!items.length) host.innerHTML = `<p class="muted">${total ? 'No newer items.' : 'Nothing to review.'}</p>`;
  for (const it of items) {
    const card = document.createElement('form');
    card.className = 'card';
    card.dataset.id = ref(it);
    card.dataset.key = it.key;
    const left = document.createElement('div');
    left.innerHTML = '<div class="title"></div><div class="muted meta"></div><div class="top"></div><div class="fields"></div>';
    left.querySelector('.title').textContent = it.title;
    left.querySelector('.meta').textContent =
      `${it.key}${it.shard === undefined ? '' : ` · shard ${it.shard}`} · sent by ${it.from} · ${new Date(it.producedAt).toLocaleString()}`;
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
      const save = button(
        'Save decision',
        async () => {
          const body = { category: select.value, fields: Object.fromEntries(['brand', 'mpn', 'gtin'].map((f) => [f, card.elements[f].value])) };
          let r;
          try {
            r = await api(`/console/api/review/${it.id}${it.shard === undefined ? '' : `?shard=${it.shard}`}`, { method: 'POST', body });
          } catch (err) {
            if (!(err instanceof HttpError && err.status === 409)) throw err;
            closedHere(err.body?.decision?.at ?? 0);
            return notApplied(card, right, it, body, err.body);
          }
          closedHere(r.label.reviewedAt);
          const done = Object.assign(document.createElement('p'), {
            textContent: `${it.key}: ${r.label.decision} → ${r.label.category}, sent to ${r.sentTo.map((s) => s.stream).join(', ')}`,
            tabIndex: -1,
          });
          done.setAttribute('role', 'status');
          card.replaceChildren(done);
          // The product's other items of that record were closed with the decision: no longer work.
          for (const c of r.closed ?? []) {
            const other = host.querySelector(`form[data-id="${ref(c)}"]`);
            if (other)
              other.replaceChildren(Object.assign(document.createElement('p'), { className: 'muted', textContent: `${c.key}: closed with this decision` }));
          }
          // Keyboard review goes on with the next open item: an item refused earlier keeps its picker,
          // disabled, and one decided here has none (a disabled picker had taken the focus, and lost it).
          // With no open item after this one the focus stays on the status line; it is read out either way.
          let after = card.nextElementSibling;
          while (after && !after.querySelector('select:enabled')) after = after.nextElementSibling;
          const next = after?.querySelector('select:enabled');
          (next ?? done).focus();
        },
        'admin-only',
      );
      right.append(save);
      // Enter on the category saves too, as in the other fields: the focus lands there after each
      // decision, and a select does not submit its form (Enter there had done nothing).
      select.addEventListener('keydown', (e) => {
        if (e.key !== 'Enter' || e.isComposing) return;
        e.preventDefault();
        save.click();
      });
    } else right.append(Object.assign(document.createElement('span'), { className: 'muted', textContent: 'read only' }));
    card.append(left, right);
    host.append(card);
  }
}

/**
 * A decision the server refused with 409 (another reviewer decided the item first, or the item was
 * closed: another item of the product decided, a newer record stored): said in the item's card,
 * with what this reviewer had chosen, and the form is closed. It had been a banner at the top of
 * the tab for 8 s, with the card left as it was, ready to be saved again.
 */
function notApplied(card, right, it, body, answer = {}) {
  const d = answer.decision;
  const who = d?.by ? ` by ${d.by}${d.at ? ` at ${new Date(d.at).toLocaleTimeString()}` : ''}` : '';
  const why =
    answer.error === 'superseded'
      ? `another item of ${it.key} was decided${who}; this one is closed`
      : answer.error === 'stale'
        ? `a newer record of ${it.key} is stored; this item is closed (decide the newer record's item)`
        : `${it.key} was decided${who || ' or closed elsewhere'} while this page was open`;
  const mine = [body.category, ...Object.values(body.fields).filter(Boolean)].join(', ');
  const p = Object.assign(document.createElement('p'), {
    className: 'error',
    textContent: `Not saved: ${why}. Your choice (${mine}) was not applied.`,
    tabIndex: -1,
  });
  p.setAttribute('role', 'status');
  for (const x of card.querySelectorAll('input, select')) x.disabled = true;
  card.classList.add('closed');
  right.replaceChildren(p);
  p.focus();
}

/**
 * Review items whose entries were trimmed (or deleted) while they waited: nothing is left to
 * review, so they are not in the pages; counted and listed here by id, and an admin acknowledges
 * them (acked, counted and audited by the server). Entries trimmed before they were listed are counted.
 */
function showTrimmed(trimmed, gone) {
  const box = $('#review-trimmed');
  const n = trimmed.count;
  box.hidden = !n && !gone.length && !trimmed.unlisted && !trimmed.acknowledged && !acked;
  const said = [];
  if (n)
    said.push(
      `${trimmed.complete ? n : `At least ${n}`} review item(s) whose entries were trimmed: nothing is left to review, and they are not counted as undecided. Acknowledge them to clear them.`,
    );
  if (gone.length) said.push(`${gone.length} item(s) of this page whose entries were deleted from the stream.`);
  if (!said.length) said.push('No review items whose entries were trimmed.');
  $('#review-trimmed-count').textContent = said.join(' ');
  const list = $('#review-trimmed-ids');
  list.replaceChildren(
    ...[...trimmed.items, ...gone].map((it) =>
      Object.assign(document.createElement('li'), { textContent: `${ref(it)} · delivered ${it.deliveries}× · last ${ago(it.idleMs)} ago` }),
    ),
  );
  if (n > trimmed.items.length) list.append(Object.assign(document.createElement('li'), { textContent: `… and ${n - trimmed.items.length} more` }));
  const acts = $('#review-trimmed-actions');
  acts.replaceChildren();
  const ack = (text, body) =>
    button(
      text,
      async () => {
        const r = await api('/console/api/review/trimmed/ack', { method: 'POST', body });
        acked = `Acknowledged ${r.acknowledged.length} item(s).`;
        await showReview();
      },
      'admin-only',
    );
  if (n && canAct()) acts.append(ack(`Acknowledge ${trimmed.complete ? n : `${n}+`} trimmed`, { all: true, until: trimmed.until }));
  if (gone.length && canAct()) acts.append(ack(`Acknowledge ${gone.length} deleted`, { ids: gone.map(ref) }));
  $('#review-trimmed-record').textContent =
    `${acked ? `${acked} ` : ''}So far ${trimmed.acknowledged} acknowledged; ${trimmed.unlisted} trimmed before the console listed them (gone unseen, counted).`;
  acked = '';
}
