// What both pages draw with: a node by id, a new element with its attributes,
// handlers and children, and a bounded list that keeps its newest items in view.

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

// Lines a feed keeps: a busy chat cannot grow the page without bound.
const FEED_MAX = 500;

export function append(list, item) {
  list.append(item);
  while (list.children.length > FEED_MAX) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}
