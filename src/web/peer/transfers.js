// The Transfers list: one row per fetch, store upload or store download this page
// started, found by the id of its command (what its `progress` events carry) — a bar,
// the rate and time left, Cancel while it runs; when it ends, a notification and the
// row's outcome (a Save link, Resume, or the error with its status).
import { $, el, size, word } from '/dom.js';
import { notify, failure } from '/notify.js';
import { session, logResult, run, answer } from '/act.js';

// Rows the list keeps; older ones leave.
const ROWS_MAX = 50;
const rows = new Map();

// A new connection numbers its commands from 1 again: the rows stay, their ids go.
export function forgetIds() {
  rows.clear();
}

function transferRow(id, name, what) {
  let t = rows.get(id);
  if (t) return t;
  const bar = el('progress', { max: '1', value: '0', 'aria-label': `progress of ${name}` });
  const text = el('span', { class: 'muted' }, 'starting…');
  const actions = el('span', { class: 'row' });
  const row = el('li', { class: 'transfer', 'data-name': name },
    el('span', { class: 'grow' }, `${what} `, el('strong', {}, name), ' ', text), bar, actions);
  const list = $('transfers');
  list.prepend(row);
  while (list.children.length > ROWS_MAX) list.lastChild.remove();
  t = { row, bar, text, actions, name };
  rows.set(id, t);
  return t;
}

// A `progress` event: move the bar of its command's row.
export function drawProgress(e) {
  const t = transferRow(e.id, e.name, e.direction === 'upload' ? 'upload of' : 'download of');
  t.bar.max = String(Math.max(e.size, 1));
  t.bar.value = String(e.bytes);
  const pct = e.size ? Math.floor((e.bytes * 100) / e.size) : 100;
  const eta = e.eta_s == null ? '' : `, ${e.eta_s} s left`;
  t.text.textContent = `${pct}% · ${size(e.bytes)} of ${size(e.size)} · ${size(e.rate)}/s${eta}`;
}

// A link that saves `name` of the share dir through the browser.
export function saveLink(name) {
  return el('a', { href: `/share/${encodeURIComponent(name)}`, download: name,
    'aria-label': `Save ${name}` }, 'Save');
}

// Start the transfer command `line` of `name` under a row titled `what`. When it
// succeeds, `done(r)` gives the notification's text and the row's actions; when it
// fails, the error shows on the row, on `where` and as a notification, and `again`
// (if given) is offered as Resume.
export function startTransfer(line, name, what, { where = null, done, again = null }) {
  const { id, done: result } = session.link.start(line);
  if (id === null) {
    result.catch((e) => { answer(where, e.message); notify(e.message, 'error'); });
    return;
  }
  answer(where, '');
  const t = transferRow(id, name, what);
  t.actions.replaceChildren(el('button', { class: 'secondary', 'aria-label': `Cancel ${name}`,
    onclick: () => run(`cancel ${word(name)}`) }, 'Cancel'));
  result.then((r) => {
    logResult(r);
    if (r.ok) {
      const { text, actions } = done(r);
      t.bar.max = '1';
      t.bar.value = '1';
      t.text.textContent = `done · ${size(r.bytes)}, verified`;
      t.row.classList.add('ok');
      t.actions.replaceChildren(...actions);
      notify(text, 'ok');
      return;
    }
    t.text.textContent = failure(r);
    t.row.classList.add('error');
    answer(where, failure(r));
    notify(failure(r), 'error');
    t.actions.replaceChildren(...(again ? [el('button', { 'aria-label': `Resume ${name}`,
      onclick: () => { t.row.remove(); rows.delete(id); again(); } }, 'Resume')] : []));
  }, (e) => {
    t.text.textContent = e.message;
    t.row.classList.add('error');
    notify(`${name}: ${e.message}`, 'error');
  });
}
