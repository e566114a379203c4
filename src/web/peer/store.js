// The hub's store on the peer's page: its entries (`store`), each with Download into
// the share dir (under an optional other name; an existing destination is refused
// with 409, shown on that row) and, for my own, Remove; an upload of a file or folder
// of the share dir (`upload`, optionally `--replace`). Both transfers run in the
// Transfers list with their progress and end in a notification.
import { $, el, size, word, coalesced } from '/dom.js';
import { session, run, answer, inShare } from '/act.js';
import { startTransfer, saveLink } from '/transfers.js';
import { refreshShare } from '/share.js';

// Entries the list draws at most.
const SHOWN_MAX = 300;

function files(n) {
  return `${n} file${n === 1 ? '' : 's'}`;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : '';
}

// Upload `path` of the share dir as `name` (default: its own), replacing my entry if
// `replace`; errors show on `where`.
export function upload(path, name = '', replace = false, where = $('store-answer')) {
  if (!session.shareDir) {
    answer(where, 'the share dir is not known yet: refresh the share');
    return;
  }
  const stored = name || path.split('/').filter(Boolean).pop();
  const line = `upload${replace ? ' --replace' : ''} -- ${word(inShare(path))}${name ? ` ${word(name)}` : ''}`;
  startTransfer(line, stored, 'upload to the store of', {
    where,
    done: (r) => {
      refreshStore();
      return { text: `uploaded ${r.name} to the hub's store (${files(r.files)}, ${size(r.bytes)})`, actions: [] };
    },
  });
}

// Download the entry `e` into the share dir as `as` (default: its name).
function download(e, as, where) {
  const dest = as || e.name;
  const line = `download -- ${word(e.name)} ${word(inShare(dest))}`;
  startTransfer(line, e.name, 'download from the store of', {
    where,
    done: (r) => {
      refreshShare();
      const text = `downloaded ${r.name} into the share as ${dest} (${files(r.files)}, ${size(r.bytes)}), verified`;
      return { text, actions: e.kind === 'file' && !dest.includes('/') ? [saveLink(dest)] : [] };
    },
  });
}

function entryRow(e) {
  const where = el('span', { class: 'answer', role: 'status' });
  const as = el('input', { placeholder: 'into my share as…', 'aria-label': `download ${e.name} into my share as` });
  const mine = e.owner === session.me;
  return el('li', { class: 'entry' },
    el('span', { class: 'grow' }, `${e.name}${e.kind === 'dir' ? '/' : ''} `,
      el('span', { class: 'muted' }, `${e.owner} · ${files(e.files)} · ${size(e.bytes)} · ${when(e.time)}`)),
    as,
    el('button', { 'aria-label': `Download ${e.name}`, onclick: () => download(e, as.value.trim(), where) }, 'Download'),
    ...(mine ? [el('button', { class: 'secondary', 'aria-label': `Remove ${e.name} from the store`, onclick: async () => {
      const r = await run(`rm ${word(e.name)}`, where);
      if (r && r.ok) refreshStore();
    } }, 'Remove')] : []),
    where);
}

let refreshing = false;
let again = false;

async function listStore() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  const r = await run('store', $('store-answer'));
  refreshing = false;
  if (r && r.ok) {
    const rows = r.entries.slice(0, SHOWN_MAX).map(entryRow);
    const more = r.entries.length - SHOWN_MAX;
    if (more > 0 || r.truncated) rows.push(el('li', { class: 'muted' }, more > 0 ? `and ${more} more` : 'and more'));
    if (!rows.length) rows.push(el('li', { class: 'muted' }, 'the store is empty'));
    $('entries').replaceChildren(...rows);
    $('store-usage').textContent = `you use ${size(r.used)}${r.quota ? ` of ${size(r.quota)}` : ''}`;
  }
  if (again) { again = false; listStore(); }
}

// List the store again: once for a burst of calls (uploads announced by everyone).
export const refreshStore = coalesced(listStore);

export function initStore() {
  $('store-refresh').addEventListener('click', refreshStore);
  $('upload-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const { path, name, replace } = ev.target;
    upload(path.value.trim(), name.value.trim(), replace.checked);
    path.value = '';
    name.value = '';
    replace.checked = false;
  });
}
