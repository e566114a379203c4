// What both pages draw with: a node by id, a new element with its attributes,
// handlers and children, a redraw coalesced to once a frame, and bounded feeds that
// take a burst of lines in one go and keep their newest in view.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// `draw` runs once at the next frame however often this is called before it. A page
// in the background gets no frames, so a timer stands in after 250 ms: the lists
// stay bounded and current either way.
export function coalesced(draw) {
  let armed = false;
  const run = () => {
    if (!armed) return;
    armed = false;
    draw();
  };
  return () => {
    if (armed) return;
    armed = true;
    requestAnimationFrame(run);
    setTimeout(run, 250);
  };
}

// Lines a feed keeps: a busy chat cannot grow the page without bound.
export const FEED_MAX = 500;

const waiting = new Map();
const flushFeeds = coalesced(() => {
  for (const [list, items] of waiting) {
    const follow = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(...items);
    let extra = list.children.length - FEED_MAX;
    while (extra > 0) { list.firstChild.remove(); extra -= 1; }
    if (follow) list.scrollTop = list.scrollHeight;
  }
  waiting.clear();
});

// Add `item` to the end of `list` at the next frame (a burst costs one layout); a
// reader scrolled back up is left where they are.
export function append(list, item) {
  let items = waiting.get(list);
  if (!items) { items = []; waiting.set(list, items); }
  items.push(item);
  if (items.length > FEED_MAX) items.splice(0, items.length - FEED_MAX);
  flushFeeds();
}

// A word of a command line as the prompt reads it: quoted when it holds blanks,
// quotes or backslashes (which the prompt would take as escapes), or is empty.
export function word(text) {
  return text === '' || /[\s"\\]/.test(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : text;
}

// Sizes as people read them.
export function size(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return i ? `${n.toFixed(1)} ${units[i]}` : `${n} B`;
}
