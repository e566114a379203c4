// The operator's page: stats tiles, who is online (ping, kick, ban), a live feed of
// the hub's events, discover, announce, the store, and any console command.
import { $, el, append, size } from '/dom.js';
import { Link } from '/link.js';

async function run(line) {
  try {
    const r = await link.run(line);
    append($('results'), el('li', { class: r.ok ? 'ok' : 'error' }, `${r.command}: ${r.message}`));
    return r;
  } catch (e) {
    append($('results'), el('li', { class: 'error' }, e.message));
    return null;
  }
}

const TILES = [
  ['users_online', 'users online'], ['connections', 'connections'], ['accounts', 'accounts'],
  ['published_files', 'published files'], ['lookups', 'lookups'], ['chat_messages', 'chat messages'],
  ['store_entries', 'store entries'], ['store_bytes', 'store bytes'],
];

// Lookups are too many to list one by one: the feed says how many came between two
// refreshes of the tiles.
let lookupsSeen = null;

function noteLookups(total) {
  if (lookupsSeen !== null && total > lookupsSeen) {
    const n = total - lookupsSeen;
    append($('feed'), el('li', { class: 'muted' },
      `${new Date().toLocaleTimeString()}  ${n} fetch lookup${n === 1 ? '' : 's'} since the last count`));
  }
  lookupsSeen = total;
}

async function refreshStats() {
  const r = await link.run('stats').catch(() => null);
  if (!r || !r.ok) return;
  noteLookups(r.lookups);
  $('who').textContent = r.fingerprint ? `key ${r.fingerprint.slice(0, 23)}…` : '';
  $('tiles').replaceChildren(...TILES.map(([key, label]) => el('div', { class: 'tile' },
    el('dt', {}, label), el('dd', {}, key === 'store_bytes' ? size(r[key]) : String(r[key])))));
}

async function refreshUsers() {
  const r = await link.run('users').catch(() => null);
  if (!r || !r.ok) return;
  $('online-count').textContent = `(${r.peers.length})`;
  $('users').replaceChildren(...r.peers.slice(0, 300).map((p) => el('li', {},
    el('span', { class: 'grow' }, `${p.user} `, el('span', { class: 'muted' }, p.addr)),
    el('button', { class: 'secondary', onclick: () => ping(p.user) }, 'Ping'),
    el('button', { class: 'secondary', onclick: async () => {
      await run(`kick ${p.user}`);
      refreshUsers();
    } }, `Kick ${p.user}`),
    el('button', { class: 'danger', onclick: async () => {
      const minutes = $('ban-minutes').value.trim();
      await run(`ban ${p.user}${minutes ? ` ${minutes}` : ''}`);
      refreshUsers();
    } }, 'Ban'))));
}

async function refreshStore() {
  const r = await run('store');
  if (!r || !r.ok) return;
  $('entries').replaceChildren(...r.entries.slice(0, 300).map((e) => el('li', {},
    el('span', { class: 'grow' }, `${e.name} `, el('span', { class: 'muted' }, `${e.owner}, ${size(e.bytes)}`)),
    el('button', { class: 'danger', onclick: async () => {
      await run(`rm ${e.name}`);
      refreshStore();
    } }, 'Remove'))));
}

async function ping(user) {
  $('ping-answer').textContent = `pinging ${user}…`;
  const r = await run(`ping ${user}`);
  if (r) $('ping-answer').textContent = r.ok ? `${user}: round trip ${r.rtt_ms.toFixed(2)} ms` : r.message;
}

// A feed line for an event, from its fields.
function describe(e) {
  switch (e.event) {
    case 'connect': return `connection from ${e.addr}`;
    case 'login': return `${e.user} logged in${e.resumed ? ' (resumed)' : ''}`;
    case 'publish': return `${e.user} published ${e.name}`;
    case 'leave': return `${e.user || 'a connection'} left`;
    case 'upload': return `${e.user} uploaded ${e.name} to the store`;
    default: {
      const fields = Object.entries(e).filter(([k]) => k !== 'type' && k !== 'event');
      return `${e.event} ${fields.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`;
    }
  }
}

let refreshSoon = null;
// An upload was announced since the last redraw: the store list is redrawn too.
let storeChanged = false;
function onEvent(e) {
  append($('feed'), el('li', {}, `${new Date().toLocaleTimeString()}  ${describe(e)}`));
  // Presence and counts changed: redraw them once the burst is over.
  if (e.event === 'upload') storeChanged = true;
  clearTimeout(refreshSoon);
  refreshSoon = setTimeout(() => {
    refreshUsers();
    refreshStats();
    if (storeChanged) { storeChanged = false; refreshStore(); }
  }, 200);
}

const link = new Link({
  onEvent,
  onState: (up) => {
    $('link').textContent = up ? 'connected' : 'reconnecting…';
    $('link').className = `pill ${up ? 'on' : 'off'}`;
    if (up) { refreshStats(); refreshUsers(); refreshStore(); }
  },
});
setInterval(refreshStats, 5000);

$('discover-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await run(`discover ${ev.target.user.value.trim()}`);
  if (!r || !r.ok) return;
  $('discovered').replaceChildren(...r.files.slice(0, 300).map((f) =>
    el('li', {}, `${f.name} `, el('span', { class: 'muted' }, size(f.size)))));
});

$('ping-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  ping(ev.target.user.value.trim());
});

$('say-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await run(`say ${ev.target.text.value}`);
  if (r && r.ok) ev.target.text.value = '';
});

$('store-refresh').addEventListener('click', refreshStore);

$('command-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const line = ev.target.line.value;
  ev.target.line.value = '';
  await run(line);
});
