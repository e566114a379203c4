// The chat: a view for everyone (chat, join and leave notices, announcements, the
// history replayed at login) and one per private conversation, as tabs (arrow keys
// move between them), each with its unread count; the box below says to whom it
// sends — `say` to everyone, `msg` in a conversation (or `/msg user text` anywhere).
import { $, el, append, coalesced, word } from '/dom.js';
import { session, run, answer } from '/act.js';
import { failure } from '/notify.js';

// Private conversations kept at once; opening one more closes the quietest.
const CONVERSATIONS_MAX = 30;
const EVERYONE = '';
const views = new Map();
let current = EVERYONE;
let serial = 0;

function viewOf(key) {
  let v = views.get(key);
  if (v) return v;
  serial += 1;
  const label = key === EVERYONE ? 'Everyone' : key;
  const tab = el('button', { role: 'tab', id: `chat-tab-${serial}`, 'aria-controls': `chat-view-${serial}`,
    'aria-selected': 'false', tabindex: '-1', class: 'tab', onclick: () => show(key) });
  const feed = key === EVERYONE ? $('feed') : el('ol', { class: 'feed', 'aria-live': 'polite' });
  feed.setAttribute('aria-label', key === EVERYONE ? 'chat with everyone' : `conversation with ${key}`);
  const panel = el('div', { role: 'tabpanel', id: `chat-view-${serial}`, 'aria-labelledby': `chat-tab-${serial}` }, feed);
  panel.hidden = true;
  $('chat-views').append(panel);
  $('chat-tabs').append(tab);
  v = { key, label, tab, panel, feed, unread: 0, last: Date.now() };
  views.set(key, v);
  if (views.size > CONVERSATIONS_MAX + 1) closeQuietest();
  drawTabs();
  return v;
}

function closeQuietest() {
  const quiet = [...views.values()].filter((v) => v.key !== EVERYONE && v.key !== current)
    .sort((a, b) => a.last - b.last)[0];
  if (quiet) close(quiet.key);
}

function close(key) {
  const v = views.get(key);
  if (!v || key === EVERYONE) return;
  v.tab.remove();
  v.panel.remove();
  views.delete(key);
  if (current === key) show(EVERYONE);
}

// The tabs' labels and unread counts, redrawn once a frame.
const drawTabs = coalesced(() => {
  for (const v of views.values()) {
    const badge = v.unread ? [' ', el('span', { class: 'badge' }, v.unread > 999 ? '999+' : String(v.unread),
      el('span', { class: 'sr' }, ' unread'))] : [];
    v.tab.replaceChildren(v.label, ...badge);
  }
});

// Show the view of `key` (EVERYONE or a user), its unread count cleared.
export function show(key, focus = false) {
  const v = viewOf(key);
  current = key;
  for (const w of views.values()) {
    const on = w === v;
    w.tab.setAttribute('aria-selected', String(on));
    w.tab.tabIndex = on ? 0 : -1;
    w.panel.hidden = !on;
  }
  v.unread = 0;
  v.feed.scrollTop = v.feed.scrollHeight;
  drawTabs();
  $('chat-to').textContent = key === EVERYONE ? 'Say to everyone' : `Say to ${key}`;
  $('chat-close').hidden = key === EVERYONE;
  $('chat-close').setAttribute('aria-label', `Close the conversation with ${key}`);
  answer($('chat-answer'), '');
  if (focus) $('chat-form').text.focus();
}

// Open (or go to) the private conversation with `user`.
export function openConversation(user) {
  show(user, true);
}

// A line in the view of `key`; counted as unread unless that view is shown.
export function line(key, text, kind = 'chat') {
  const v = viewOf(key);
  v.last = Date.now();
  append(v.feed, el('li', { class: kind }, text));
  if (key !== current) {
    v.unread += 1;
    drawTabs();
  }
}

// Send the box's text to the current view's people (or as `/msg user text`).
async function send(ev) {
  ev.preventDefault();
  const box = ev.target.text;
  const text = box.value;
  const m = text.match(/^\/msg\s+(\S+)\s+(.+)$/);
  const to = m ? m[1] : current;
  const body = m ? m[2] : text;
  if (m) show(to);
  const r = await run(to === EVERYONE ? `say ${body}` : `msg ${word(to)} ${body}`, $('chat-answer'));
  if (r && r.ok) {
    line(to, `<${session.me}> ${body}`, to === EVERYONE ? 'chat mine' : 'private mine');
    box.value = '';
  } else if (r) {
    line(to, `not delivered: ${failure(r)}`, 'error');
  }
}

// Left and right arrows (Home, End) move between the tabs, as a tab list does.
function arrows(ev) {
  const tabs = [...views.values()].map((v) => v.key);
  const at = tabs.indexOf(current);
  const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: tabs.length - 1 }[ev.key];
  if (to === undefined) return;
  ev.preventDefault();
  const key = tabs[(to + tabs.length) % tabs.length];
  show(key);
  views.get(key).tab.focus();
}

export function initChat() {
  show(EVERYONE);
  $('chat-form').addEventListener('submit', send);
  $('chat-tabs').addEventListener('keydown', arrows);
  $('chat-close').addEventListener('click', () => close(current));
}

// Every event the chat draws.
export function chatEvent(e) {
  switch (e.event) {
    case 'chat': line(EVERYONE, `<${e.from}> ${e.text}`, e.history ? 'history' : 'chat'); break;
    case 'private': line(e.from, `<${e.from}> ${e.text}`, 'private'); break;
    case 'join': line(EVERYONE, `${e.user} joined (${e.online} online)`, 'muted'); break;
    case 'joins': line(EVERYONE, `${e.count} users joined (${e.online} online)`, 'muted'); break;
    case 'leave': line(EVERYONE, `${e.user} left (${e.online} online)`, 'muted'); break;
    case 'announce': line(EVERYONE, `hub: ${e.text}`, 'announce'); break;
    case 'upload': line(EVERYONE, `${e.user} uploaded ${e.name} to the store`, 'muted'); break;
    default: break;
  }
}

export { EVERYONE };
