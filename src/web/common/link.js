// The page's one WebSocket: command lines out, the --json contract's objects in.
// Each command's result comes back with the id this connection gave it.

export class Link {
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.pending = new Map();
    this.next = 0;
    this.open();
  }

  open() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.next = 0;
    this.ws.onopen = () => this.onState(true);
    this.ws.onmessage = (m) => this.receive(JSON.parse(m.data));
    this.ws.onclose = () => {
      for (const [, p] of this.pending) p.reject(new Error('the connection to peerhub closed'));
      this.pending.clear();
      this.onState(false);
      setTimeout(() => this.open(), 1000);
    };
  }

  receive(msg) {
    if (msg.type === 'result' && this.pending.has(msg.id)) {
      this.pending.get(msg.id).resolve(msg);
      this.pending.delete(msg.id);
    } else if (msg.type === 'event') {
      this.onEvent(msg);
    }
  }

  // Send a command line: its id on this connection (what its result and its
  // progress events carry) and a promise of its result object.
  start(line) {
    if (this.ws.readyState !== WebSocket.OPEN) {
      return { id: null, done: Promise.reject(new Error('not connected to peerhub')) };
    }
    this.next += 1;
    const id = this.next;
    const done = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.ws.send(line);
    return { id, done };
  }

  // Run a command line; resolves with its result object.
  run(line) {
    return this.start(line).done;
  }
}
