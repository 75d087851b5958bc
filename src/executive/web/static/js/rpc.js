// The page's one connection: JSON-RPC 2.0 over the /rpc WebSocket (the sign-in cookie authenticates it).
//
// Reconnects after a drop or a daemon restart (backoff 0.25 s .. 5 s), asking /auth/check first so a
// replaced token sends the person back to the login page.  Events are kept in order by seq: the
// subscription is re-made with since_seq = the last seq seen, and anything at or below it is ignored,
// so a reconnect shows no duplicates.  A daemon restart (seq starts again) is detected through
// daemon.health's uptime and announced to the views, which then reload what they show.

const CALL_TIMEOUT_MS = 60000;
const REPLAY_EVENTS = 2000; // on first load, recent history replayed from the bus (since_seq) for the events views

export class Rpc {
  constructor() {
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.connected = false;
    this.lastSeq = 0; // highest event seq delivered to listeners
    this.daemonStarted = null; // wall-clock start of the daemon we talk to (to notice restarts)
    this.backoff = 250;
    this.waiters = []; // calls made while disconnected wait here
    this.eventListeners = new Set(); // fn(events[]) per flush
    this.statusListeners = new Set(); // fn(status, detail)
    this.reconnectListeners = new Set(); // fn({restarted})
    this.queue = []; // events waiting for the next flush
    this.flushQueued = false;
    this.subscription = null;
    this.health = null;
    this.replayUntil = 0; // events up to this seq are history replayed at first load, not live traffic
    this.stats = { events: 0, outputBytes: 0 }; // running totals, sampled by the overview
  }

  start() { this._connect(); }

  onEvents(fn) { this.eventListeners.add(fn); return () => this.eventListeners.delete(fn); }
  onStatus(fn) { this.statusListeners.add(fn); return () => this.statusListeners.delete(fn); }
  onReconnect(fn) { this.reconnectListeners.add(fn); return () => this.reconnectListeners.delete(fn); }

  _status(s, detail = "") { for (const fn of this.statusListeners) fn(s, detail); }

  _connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/rpc`);
    } catch (e) {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    this._status("wait", "connecting…");
    ws.onopen = () => this._opened(ws);
    ws.onmessage = (m) => this._message(m.data);
    ws.onclose = (ev) => this._closed(ws, ev);
  }

  async _opened(ws) {
    const first = this.daemonStarted === null;
    try {
      this.connected = true;
      await this._rawCall("session.open", { client: "dashboard" });
      const health = await this._rawCall("daemon.health", {});
      this.health = health;
      const started = Date.now() / 1000 - health.uptime_s;
      const restarted = !first && Math.abs(started - this.daemonStarted) > 2;
      this.daemonStarted = started;
      // A restarted daemon continues the seq numbering (its lease is stored); a new home starts again.
      if (health.last_seq < this.lastSeq) this.lastSeq = 0;
      if (this.lastSeq === 0) {
        this.lastSeq = Math.max(0, health.last_seq - REPLAY_EVENTS);
        this.replayUntil = health.last_seq;
      }
      const sub = await this._rawCall("events.subscribe", { since_seq: this.lastSeq });
      this.subscription = sub.subscription;
      this.backoff = 250;
      this._status("ok", "live");
      const waiting = this.waiters.splice(0);
      for (const w of waiting) w();
      if (!first) for (const fn of this.reconnectListeners) fn({ restarted });
    } catch (e) {
      if (e && e.code === 1001) { location.href = "/login?error=expired"; return; }
      ws.close();
    }
  }

  _closed(ws, ev) {
    if (ws !== this.ws) return;
    this.connected = false;
    this.subscription = null;
    for (const [, p] of this.pending) { clearTimeout(p.timer); p.reject(new RpcError(-1, "connection lost; retrying")); }
    this.pending.clear();
    this._status("bad", "disconnected — reconnecting…");
    this._scheduleReconnect();
  }

  async _scheduleReconnect() {
    const delay = this.backoff;
    this.backoff = Math.min(5000, this.backoff * 2);
    await new Promise((r) => setTimeout(r, delay));
    try {
      const r = await fetch("/auth/check", { cache: "no-store", credentials: "same-origin" });
      if (r.status === 401) { location.href = "/login?error=expired"; return; }
    } catch (e) {
      // daemon not up yet: try again later
      this._scheduleReconnect();
      return;
    }
    this._connect();
  }

  _message(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (Array.isArray(msg)) { for (const m of msg) this._reply(m); return; }
    if (msg.method === "events") { this._events(msg.params); return; }
    this._reply(msg);
  }

  _reply(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
    else p.resolve(msg.result);
  }

  _events(params) {
    const evs = params.events || [];
    for (const e of evs) {
      if (e.seq <= this.lastSeq) continue; // replayed after a reconnect: already shown
      this.lastSeq = e.seq;
      e.replayed = e.seq <= this.replayUntil;
      if (!e.replayed) this.stats.events++;
      if (!e.replayed && e.type === "output" && e.data) {
        this.stats.outputBytes += e.data.data !== undefined ? e.data.data.length : Math.floor((e.data.data_b64 || "").length * 3 / 4);
      }
      this.queue.push(e);
    }
    if (this.queue.length && !this.flushQueued) {
      this.flushQueued = true;
      const run = () => this._flush();
      if (document.hidden) setTimeout(run, 100); else requestAnimationFrame(run);
    }
  }

  /** Deliver every queued event once per frame: data is never dropped, rendering is batched. */
  _flush() {
    this.flushQueued = false;
    const batch = this.queue;
    this.queue = [];
    for (const fn of this.eventListeners) {
      try { fn(batch); } catch (e) { console.error(e); }
    }
  }

  _rawCall(method, params) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new RpcError(-1, "connection lost; retrying"));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(-2, `${method}: no answer within ${CALL_TIMEOUT_MS / 1000} s`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  /** Call a method; waits for the connection when it is down. Rejects with RpcError. */
  async call(method, params = {}) {
    if (!this.connected || !this.subscription) await new Promise((r) => this.waiters.push(r));
    return this._rawCall(method, params);
  }
}

export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

export const rpc = new Rpc();
