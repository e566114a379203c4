// The peer's page: every control runs a command line over the link, and draws the
// results and events of the --json contract. The parts live in their own modules:
// chat (everyone and private conversations), people (who is online), share, store
// and transfers; this one logs in and out, searches, runs typed commands and hands
// each event to the part that draws it.
import { $, el, append, size, word } from '/dom.js';
import { Link } from '/link.js';
import { notify } from '/notify.js';
import { session, run } from '/act.js';
import { initChat, chatEvent, openConversation } from '/chat.js';
import { initPeople, people, refreshUsers } from '/people.js';
import { initShare, refreshShare, refreshShared } from '/share.js';
import { initStore, refreshStore, upload } from '/store.js';
import { drawProgress, forgetIds, saveLink, startTransfer } from '/transfers.js';

function setMe(user) {
  session.me = user;
  $('who').textContent = user ? `logged in as ${user}` : 'not logged in';
  $('login-form').hidden = !!user;
  $('logged-in').hidden = !user;
}

function loggedIn(user) {
  setMe(user);
  refreshUsers();
  refreshShared();
  refreshStore();
}

function loggedOut(why, kind = 'error') {
  setMe(null);
  people.clear();
  if (why) notify(why, kind);
}

// Fetch `name` from `holder` with a row that follows it to the end.
function fetchFile(name, holder) {
  const line = `fetch --from ${word(holder)} -- ${word(name)}`;
  startTransfer(line, name, `from ${holder}:`, {
    where: $('search-answer'),
    done: (r) => {
      refreshShare();
      const file = r.path.split('/').pop();
      return { text: `fetched ${name} from ${r.from} (${size(r.bytes)}, verified)`, actions: [saveLink(file)] };
    },
    again: () => fetchFile(name, holder),
  });
}

// Whoever the client is logged in as (after a reconnect, or when the page opens).
async function syncStatus() {
  const status = await run('status');
  if (status && status.ok && status.user) loggedIn(status.user);
}

function onEvent(e) {
  chatEvent(e);
  switch (e.event) {
    case 'join': people.add(e.user); break;
    case 'joins': refreshUsers(); break;
    case 'leave': people.remove(e.user); break;
    case 'upload': refreshStore(); break;
    case 'kicked': loggedOut(`kicked: ${e.reason || e.message || ''}`); break;
    case 'disconnected': loggedOut(`disconnected from the hub: ${e.reason || e.message || ''}`); break;
    case 'logged_out': loggedOut(e.message || 'logged out', 'info'); break;
    case 'reconnected': notify('reconnected to the hub', 'ok'); syncStatus(); break;
    case 'progress': drawProgress(e); break;
    default: break;
  }
}

session.link = new Link({
  onEvent,
  onState: async (up) => {
    $('link').textContent = up ? 'connected' : 'reconnecting…';
    $('link').className = `pill ${up ? 'on' : 'off'}`;
    if (!up) return;
    forgetIds();
    await refreshShare();
    syncStatus();
  },
});

initChat();
initPeople({ openConversation });
initShare({ upload: (name) => upload(name) });
initStore();

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const action = ev.submitter ? ev.submitter.value : 'login';
  const user = form.user.value.trim();
  const password = form.password.value;
  form.password.value = '';
  const where = $('login-answer');
  let r = await run(`${action} ${word(user)} ${word(password)}`, where);
  if (r && r.ok && action === 'register') r = await run(`login ${word(user)} ${word(password)}`, where);
  if (r && r.ok) loggedIn(user);
});

$('logout').addEventListener('click', async () => {
  await run('logout');
  loggedOut(null);
});

$('search-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await run(`search ${ev.target.text.value}`, $('search-answer'));
  if (!r || !r.ok) return;
  const rows = r.files.slice(0, 300).map((f) => el('li', {},
    el('span', { class: 'grow' }, `${f.name} `,
      el('span', { class: 'muted' }, `${size(f.size)} from ${f.owners.join(', ')}`)),
    ...f.owners.filter((o) => o !== session.me).slice(0, 4).map((o) => el('button', {
      onclick: () => fetchFile(f.name, o),
    }, `Fetch from ${o}`))));
  if (!rows.length) rows.push(el('li', { class: 'muted' }, 'nothing found'));
  $('hits').replaceChildren(...rows);
});

$('command-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const line = ev.target.line.value;
  ev.target.line.value = '';
  const r = await run(line, $('command-answer'));
  if (r && r.detail) r.detail.forEach((d) => append($('results'), el('li', { class: 'muted' }, d)));
});
