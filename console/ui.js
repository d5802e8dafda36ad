// Helpers the views share: a query, action buttons, the role, durations.
import { showError, state } from './app.js';

export const $ = (s) => document.querySelector(s);
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
