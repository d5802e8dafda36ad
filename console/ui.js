// What the page and its views share: the page's state, a query, table cells, errors, action buttons,
// the role, durations. It imports no view and not app.js, so the views and the page import it
// without a loop.
import { HttpError } from './api.js';

export const state = { me: null, history: new Map(), historyMs: 3600000 };
export const $ = (s) => document.querySelector(s);

export function td(text, cls) {
  const c = document.createElement('td');
  c.textContent = text === null || text === undefined ? '–' : String(text);
  if (cls) c.className = cls;
  return c;
}

// What a 401 does (app.js: back to the sign-in form), set by the page.
let unauthorized = () => {};
export const onUnauthorized = (fn) => (unauthorized = fn);

export function showError(err) {
  if (err instanceof HttpError && err.status === 401) return unauthorized('That token was not accepted.');
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = err.message;
  document.querySelector('.tab:not([hidden])')?.prepend(p);
  setTimeout(() => p.remove(), 8000);
}

export const button = (text, onClick, cls = '') => {
  const b = document.createElement('button');
  b.textContent = text;
  if (cls) b.className = cls;
  // Disabled while its action runs: a double click sends one request.
  b.addEventListener('click', (e) => {
    e.preventDefault();
    if (b.disabled) return;
    b.disabled = true;
    onClick()
      .catch(showError)
      .finally(() => (b.disabled = false));
  });
  return b;
};
export const canAct = () => !!state.me?.canAct;
export const ago = (ms) => (ms < 1000 ? `${ms} ms` : ms < 120000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60000)} min`);
