// Running command lines for the page's controls: every result is logged under
// Command with its status, and a failure is also shown where the person acted (the
// answer line under that control), with its message and status.
import { $, el, append } from '/dom.js';
import { failure } from '/notify.js';

// What the modules share: the link, who is logged in, the share dir's absolute path.
export const session = { link: null, me: null, shareDir: null };

// Log a result under Command (and its `detail` lines, for commands typed there).
export function logResult(r) {
  const text = r.ok ? `${r.command} (${r.status}): ${r.message}` : failure(r);
  append($('results'), el('li', { class: r.ok ? 'ok' : 'error' }, text));
  return r;
}

// Put `text` on the answer line `where` (none: nothing to show).
export function answer(where, text, kind = 'error') {
  if (!where) return;
  where.textContent = text;
  where.className = `answer ${kind}`;
}

// Run `line`; its result, or null if the link is down. A failure is shown on `where`,
// a success clears it.
export async function run(line, where = null) {
  try {
    const r = logResult(await session.link.run(line));
    answer(where, r.ok ? '' : failure(r), r.ok ? 'ok' : 'error');
    return r;
  } catch (e) {
    append($('results'), el('li', { class: 'error' }, e.message));
    answer(where, e.message);
    return null;
  }
}

// `name` in the share dir as an absolute path (the store commands take paths from
// the client's working directory).
export function inShare(name) {
  return `${session.shareDir.replace(/\/$/, '')}/${name}`;
}
