// My share: the share dir's files and folders (GET /share), each file with Publish
// (under an optional name) and Save, each entry with "To store" (an upload into the
// hub's store); files dropped or chosen go into the share dir (PUT /share/<name>);
// what I publish, with Unpublish.
import { $, el, size, word } from '/dom.js';
import { notify } from '/notify.js';
import { session, run } from '/act.js';
import { saveLink } from '/transfers.js';

// Rows the share list draws at most (the endpoint lists up to 10,000).
const SHOWN_MAX = 300;
let uploadToStore = () => {};

// `upload(name)` is what a row's "To store" does.
export function initShare({ upload }) {
  uploadToStore = upload;
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
  $('publish-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const { path, name } = ev.target;
    const line = `publish ${word(path.value)}${name.value ? ` ${word(name.value)}` : ''}`;
    const r = await run(line, $('publish-answer'));
    if (r && r.ok) {
      path.value = '';
      name.value = '';
      refreshShared();
      refreshShare();
    }
  });
}

function fileRow(f) {
  const where = el('span', { class: 'answer', role: 'status' });
  const toStore = el('button', { class: 'secondary', 'aria-label': `Upload ${f.name} to the hub's store`,
    onclick: () => uploadToStore(f.name) }, 'To store');
  if (f.kind === 'dir') {
    return el('li', {}, el('span', { class: 'grow' }, `${f.name}/ `, el('span', { class: 'muted' }, 'folder')),
      toStore);
  }
  const as = el('input', { placeholder: 'publish as…', 'aria-label': `publish ${f.name} as` });
  const publish = el('button', { 'aria-label': `Publish ${f.name}`, onclick: async () => {
    const r = await run(`publish ${word(f.name)}${as.value ? ` ${word(as.value)}` : ''}`, where);
    if (r && r.ok) { refreshShare(); refreshShared(); }
  } }, 'Publish');
  return el('li', {},
    el('span', { class: 'grow' }, `${f.name} `, el('span', { class: 'muted' }, size(f.size))),
    ...(f.published ? [el('span', { class: 'muted' }, 'published')] : [as, publish]),
    saveLink(f.name), toStore, where);
}

// Read the share dir again and redraw its list (and the upload form's suggestions).
export async function refreshShare() {
  let listing;
  try {
    const res = await fetch('/share', { credentials: 'same-origin' });
    if (!res.ok) {
      notify(`the share could not be listed: ${(await res.text()).trim()} (${res.status})`, 'error');
      return;
    }
    listing = await res.json();
  } catch (e) {
    return;
  }
  session.shareDir = listing.dir;
  const { files } = listing;
  const rows = files.slice(0, SHOWN_MAX).map(fileRow);
  if (files.length > SHOWN_MAX) {
    rows.push(el('li', { class: 'muted' }, `and ${files.length - SHOWN_MAX} more`));
  }
  $('share-files').replaceChildren(...rows);
  $('share-names').replaceChildren(...files.slice(0, SHOWN_MAX).map((f) => el('option', { value: f.name })));
}

// Put files the person dropped or chose into the share dir (PUT /share/<name>).
async function addFiles(list) {
  for (const file of list) {
    try {
      const res = await fetch(`/share/${encodeURIComponent(file.name)}`,
        { method: 'PUT', body: file, credentials: 'same-origin' });
      const text = (await res.text()).trim();
      if (res.ok) notify(`added ${file.name} (${size(file.size)}) to the share`, 'ok');
      else notify(`could not add ${file.name}: ${text} (${res.status})`, 'error');
    } catch (e) {
      notify(`could not add ${file.name}: ${e.message}`, 'error');
    }
  }
  refreshShare();
}

// What I publish, each with Unpublish.
export async function refreshShared() {
  const r = await run('shared');
  if (!r || !r.ok) return;
  $('published').replaceChildren(...r.files.slice(0, SHOWN_MAX).map((f) => el('li', {},
    el('span', { class: 'grow' }, `${f.name} `, el('span', { class: 'muted' }, size(f.size))),
    el('button', { class: 'secondary', 'aria-label': `Unpublish ${f.name}`, onclick: async () => {
      await run(`unpublish ${word(f.name)}`, $('publish-answer'));
      refreshShared();
      refreshShare();
    } }, 'Unpublish'))));
}
