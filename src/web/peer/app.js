// The peer's page: every control runs a command line over the link, and draws the
// results and events of the --json contract.
import { $, el, append } from '/dom.js';
import { Link } from '/link.js';

const online = new Set();
let me = null;

// A line that contains spaces is quoted as the prompt reads it.
function word(text) {
  return /[\s"]/.test(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : text;
}

function note(text, kind = 'info') {
  append($('feed'), el('li', { class: kind }, text));
}

function showResult(r) {
  const text = `${r.command}: ${r.message}`;
  append($('results'), el('li', { class: r.ok ? 'ok' : 'error' }, text));
  return r;
}

async function run(line) {
  try {
    return showResult(await link.run(line));
  } catch (e) {
    append($('results'), el('li', { class: 'error' }, e.message));
    return null;
  }
}

// Sizes and rates as people read them.
function size(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return i ? `${n.toFixed(1)} ${units[i]}` : `${n} B`;
}

// One row per transfer this page knows of, by the id of its command: a bar, the
// rate and time left, Cancel while it runs and Resume once it stopped.
const transfers = new Map();

function transferRow(id, name, what) {
  let t = transfers.get(id);
  if (t) return t;
  const bar = el('progress', { max: '1', value: '0', 'aria-label': `progress of ${name}` });
  const text = el('span', { class: 'muted' }, 'starting…');
  const actions = el('span', { class: 'row' });
  const row = el('li', { class: 'transfer', 'data-name': name },
    el('span', { class: 'grow' }, `${what} `, el('strong', {}, name), ' ', text), bar, actions);
  $('transfers').prepend(row);
  while ($('transfers').children.length > 50) $('transfers').lastChild.remove();
  t = { row, bar, text, actions, name };
  transfers.set(id, t);
  return t;
}

function drawProgress(e) {
  const t = transferRow(e.id, e.name, e.direction === 'upload' ? 'upload of' : 'download of');
  t.bar.max = String(Math.max(e.size, 1));
  t.bar.value = String(e.bytes);
  const pct = e.size ? Math.floor((e.bytes * 100) / e.size) : 100;
  const eta = e.eta_s == null ? '' : `, ${e.eta_s} s left`;
  t.text.textContent = `${pct}% · ${size(e.bytes)} of ${size(e.size)} · ${size(e.rate)}/s${eta}`;
}

// Fetch `name` (from `holder`, if given) with a row that follows it to the end.
function fetchFile(name, holder) {
  const line = `fetch ${word(name)}${holder ? ` --from ${word(holder)}` : ''}`;
  const { id, done } = link.start(line);
  if (id === null) {
    done.catch((e) => append($('results'), el('li', { class: 'error' }, e.message)));
    return;
  }
  const t = transferRow(id, name, holder ? `from ${holder}:` : 'fetch of');
  t.actions.replaceChildren(el('button', { class: 'secondary', onclick: () => run(`cancel ${word(name)}`) }, 'Cancel'));
  done.then((r) => {
    showResult(r);
    if (r.ok) {
      t.bar.max = '1';
      t.bar.value = '1';
      t.text.textContent = `done · ${size(r.bytes)}, verified`;
      t.row.classList.add('ok');
      t.actions.replaceChildren(saveLink(r.path.split('/').pop()));
      note(`fetched ${name} from ${r.from} (${r.bytes} bytes, verified)`, 'ok');
      refreshShare();
    } else {
      t.text.textContent = r.message;
      t.row.classList.add('error');
      t.actions.replaceChildren(el('button', { onclick: () => {
        t.row.remove();
        transfers.delete(id);
        fetchFile(name, holder);
      } }, 'Resume'));
    }
  }, (e) => { t.text.textContent = e.message; });
}

function drawUsers() {
  const list = $('users');
  list.replaceChildren(...[...online].sort().slice(0, 200).map((u) =>
    el('li', {}, el('span', {}, u), u === me ? el('span', { class: 'muted' }, ' (you)') : '')));
  $('online-count').textContent = online.size ? `(${online.size})` : '';
}

function setMe(user) {
  me = user;
  $('who').textContent = user ? `logged in as ${user}` : 'not logged in';
  $('login-form').hidden = !!user;
  $('logged-in').hidden = !user;
}

async function refreshUsers() {
  const r = await run('users');
  if (r && r.ok) {
    online.clear();
    r.users.forEach((u) => online.add(u));
    drawUsers();
  }
}

// The share dir's files (GET /share), each with Publish (under an optional name) or
// its state, and Save to download it through the browser.
async function refreshShare() {
  let files;
  try {
    const res = await fetch('/share', { credentials: 'same-origin' });
    if (!res.ok) return;
    ({ files } = await res.json());
  } catch (e) {
    return;
  }
  $('share-files').replaceChildren(...files.slice(0, 500).map((f) => {
    const as = el('input', { placeholder: 'publish as…', 'aria-label': `publish ${f.name} as` });
    const publish = el('button', { 'aria-label': `Publish ${f.name}`, onclick: async () => {
      const r = await run(`publish ${word(f.name)}${as.value ? ` ${word(as.value)}` : ''}`);
      if (r && r.ok) { refreshShare(); refreshShared(); }
    } }, 'Publish');
    return el('li', {},
      el('span', { class: 'grow' }, `${f.name} `, el('span', { class: 'muted' }, size(f.size))),
      ...(f.published ? [el('span', { class: 'muted' }, 'published')] : [as, publish]),
      saveLink(f.name));
  }));
}

function saveLink(name) {
  return el('a', { href: `/share/${encodeURIComponent(name)}`, download: name,
    'aria-label': `Save ${name}` }, 'Save');
}

// Put files the person dropped or chose into the share dir (PUT /share/<name>).
async function addFiles(list) {
  for (const file of list) {
    try {
      const res = await fetch(`/share/${encodeURIComponent(file.name)}`,
        { method: 'PUT', body: file, credentials: 'same-origin' });
      const text = (await res.text()).trim();
      if (res.ok) note(`added ${file.name} (${size(file.size)}) to the share`, 'ok');
      else note(`could not add ${file.name}: ${text}`, 'error');
    } catch (e) {
      note(`could not add ${file.name}: ${e.message}`, 'error');
    }
  }
  refreshShare();
}

async function refreshShared() {
  const r = await run('shared');
  if (!r || !r.ok) return;
  $('published').replaceChildren(...r.files.map((f) => el('li', {},
    el('span', { class: 'grow' }, `${f.name} `, el('span', { class: 'muted' }, `${f.size} bytes`)),
    el('button', { class: 'secondary', onclick: async () => {
      await run(`unpublish ${word(f.name)}`);
      refreshShared();
      refreshShare();
    } }, 'Unpublish'))));
}

function onEvent(e) {
  switch (e.event) {
    case 'chat': note(`<${e.from}> ${e.text}`, e.history ? 'muted' : 'chat'); break;
    case 'private': note(`[${e.from} → you] ${e.text}`, 'private'); break;
    case 'join': online.add(e.user); drawUsers(); note(`${e.user} joined`, 'muted'); break;
    case 'joins': refreshUsers(); note(`${e.count} users joined`, 'muted'); break;
    case 'leave': online.delete(e.user); drawUsers(); note(`${e.user} left`, 'muted'); break;
    case 'announce': note(`hub: ${e.text}`, 'announce'); break;
    case 'kicked': case 'disconnected': case 'logged_out':
      setMe(null); online.clear(); drawUsers(); note(e.message || e.event, 'error'); break;
    case 'reconnected': refreshUsers(); break;
    case 'progress': drawProgress(e); break;
    default: break;
  }
}

const link = new Link({
  onEvent,
  onState: async (up) => {
    $('link').textContent = up ? 'connected' : 'reconnecting…';
    $('link').className = `pill ${up ? 'on' : 'off'}`;
    if (!up) return;
    const status = await run('status');
    if (status && status.ok && status.user) {
      setMe(status.user);
      refreshUsers();
      refreshShared();
    }
    refreshShare();
  },
});

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const action = ev.submitter ? ev.submitter.value : 'login';
  const user = form.user.value.trim();
  const password = form.password.value;
  form.password.value = '';
  let r = await run(`${action} ${word(user)} ${word(password)}`);
  if (r && r.ok && action === 'register') r = await run(`login ${word(user)} ${word(password)}`);
  if (r && r.ok) {
    setMe(user);
    refreshUsers();
    refreshShared();
  }
});

$('share-refresh').addEventListener('click', () => refreshShare());
$('add-files').addEventListener('change', (ev) => {
  addFiles([...ev.target.files]);
  ev.target.value = '';
});
const drop = $('drop');
drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  addFiles([...ev.dataTransfer.files]);
});

$('logout').addEventListener('click', async () => {
  await run('logout');
  setMe(null);
  online.clear();
  drawUsers();
});

$('chat-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = ev.target.text.value;
  const m = text.match(/^\/msg\s+(\S+)\s+(.+)$/);
  const r = await run(m ? `msg ${m[1]} ${m[2]}` : `say ${text}`);
  if (r && r.ok) {
    note(m ? `[you → ${m[1]}] ${m[2]}` : `<${me}> ${text}`, m ? 'private' : 'chat');
    ev.target.text.value = '';
  }
});

$('publish-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const { path, name } = ev.target;
  const line = `publish ${word(path.value)}${name.value ? ` ${word(name.value)}` : ''}`;
  const r = await run(line);
  if (r && r.ok) {
    path.value = '';
    name.value = '';
    refreshShared();
    refreshShare();
  }
});

$('search-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await run(`search ${ev.target.text.value}`);
  if (!r || !r.ok) return;
  $('hits').replaceChildren(...r.files.map((f) => el('li', {},
    el('span', { class: 'grow' }, `${f.name} `,
      el('span', { class: 'muted' }, `${f.size} bytes from ${f.owners.join(', ')}`)),
    ...f.owners.filter((o) => o !== me).slice(0, 4).map((o) => el('button', {
      onclick: () => fetchFile(f.name, o),
    }, `Fetch from ${o}`)))));
});

$('command-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const line = ev.target.line.value;
  ev.target.line.value = '';
  const r = await run(line);
  if (r && r.detail) r.detail.forEach((d) => append($('results'), el('li', { class: 'muted' }, d)));
});
