// Who is online: a set kept by `join`/`leave` events and `users` results, drawn at
// most once a frame and at most SHOWN_MAX names (matching the filter box), with
// "and N more" — a hub of thousands costs the page a short list. Each name opens a
// private conversation with that user.
import { $, el, coalesced } from '/dom.js';
import { session, run } from '/act.js';

const SHOWN_MAX = 100;
const online = new Set();
let open = () => {};

const draw = coalesced(() => {
  const filter = $('people-filter').value.trim().toLowerCase();
  const names = [...online].filter((u) => !filter || u.toLowerCase().includes(filter)).sort();
  const rows = names.slice(0, SHOWN_MAX).map((u) => el('li', {},
    u === session.me
      ? el('span', {}, u, el('span', { class: 'muted' }, ' (you)'))
      : el('button', { class: 'link', 'aria-label': `Chat with ${u}`, onclick: () => open(u) }, u)));
  if (names.length > SHOWN_MAX) rows.push(el('li', { class: 'muted more' }, `and ${names.length - SHOWN_MAX} more`));
  $('users').replaceChildren(...rows);
  $('online-count').textContent = online.size ? `(${online.size})` : '';
});

// `openConversation(user)` is what a click on a name does.
export function initPeople({ openConversation }) {
  open = openConversation;
  $('people-filter').addEventListener('input', draw);
}

export const people = {
  add(user) { online.add(user); draw(); },
  remove(user) { online.delete(user); draw(); },
  clear() { online.clear(); draw(); },
  has(user) { return online.has(user); },
};

let asking = false;
let askAgain = false;

// Ask the hub who is online (`users`); calls during a request make one more after it.
export async function refreshUsers() {
  if (asking) { askAgain = true; return; }
  asking = true;
  const r = await run('users');
  asking = false;
  if (r && r.ok) {
    online.clear();
    r.users.forEach((u) => online.add(u));
    draw();
  }
  if (askAgain) { askAgain = false; refreshUsers(); }
}
