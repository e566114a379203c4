// Notifications: a few toasts in a live region (#toasts) that a screen reader reads
// out, each dismissable; successes leave by themselves, errors stay until dismissed.
import { $, el } from '/dom.js';

const SHOWN_MAX = 5;
const STAYS_MS = 8000;

// Show `text` (`kind`: ok, error or info); returns the toast.
export function notify(text, kind = 'info') {
  const region = $('toasts');
  const close = el('button', { class: 'secondary', 'aria-label': `Dismiss: ${text}` }, '×');
  const toast = el('div', { class: `toast ${kind}` }, el('span', { class: 'grow' }, text), close);
  close.addEventListener('click', () => toast.remove());
  region.append(toast);
  while (region.children.length > SHOWN_MAX) region.firstChild.remove();
  if (kind !== 'error') setTimeout(() => toast.remove(), STAYS_MS);
  return toast;
}

// A failed command's result as a person reads it: its message and status.
export function failure(r) {
  return `${r.command}: ${r.message} (${r.status})`;
}
