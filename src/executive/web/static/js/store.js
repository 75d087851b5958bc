// Shared live state every view reads: the task table (kept current from task_state events),
// a ring of recent events, and per-second rates for the overview's sparklines.

import { rpc } from "./rpc.js";

const EVENT_RING = 20000; // events kept for the events view (older ones leave the page, not the daemon)
const TABLE_ROWS = 2000; // newest tasks loaded beside every live one (older ones: #/task/ID reads them by id)
const PAGE = 1000; // tasks per task.list page (the daemon's largest)
const RATE_SECONDS = 60;

class Store {
  constructor() {
    this.tasks = new Map(); // id -> task row (task.list summary, or task.info's whole row)
    this.older = null; // id below which older tasks exist that were not loaded (null: every task is loaded)
    this.version = 0; // bumped on every change of this.tasks
    this.events = []; // newest last, at most EVENT_RING
    this.eventsVersion = 0;
    this.rates = { events: [], output: [] }; // one sample per second, newest last
    this.listeners = new Set();
    this._lastTotals = { events: 0, outputBytes: 0 };
    this._needInfo = new Set();
    this._infoTimer = null;
    this.loaded = false;
    this._reloading = null; // task_state events seen while task.list is in flight (re-applied after it)
  }

  start() {
    rpc.onEvents((evs) => this._events(evs));
    rpc.onReconnect(() => this.reload());
    this.reload();
    setInterval(() => this._sampleRates(), 1000);
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  _changed(what) { for (const fn of this.listeners) fn(what); }

  /** Every live task and the newest TABLE_ROWS ones, a page at a time (never the whole history). */
  async _loadRows() {
    const rows = [];
    let params = { state: "live", limit: PAGE };
    for (;;) {
      const page = await rpc.call("task.list", params);
      rows.push(...page.tasks);
      if (page.next === null) break;
      params = { ...params, before_id: page.next };
    }
    params = { limit: PAGE };
    let loaded = 0;
    let older = null;
    for (;;) {
      const page = await rpc.call("task.list", params);
      rows.push(...page.tasks);
      loaded += page.tasks.length;
      older = page.next;
      if (page.next === null || loaded >= TABLE_ROWS) break;
      params = { limit: Math.min(PAGE, TABLE_ROWS - loaded), before_id: page.next };
    }
    return { rows, older };
  }

  async reload() {
    this._reloading = [];
    let got;
    try {
      got = await this._loadRows();
    } catch (e) {
      this._reloading = null;
      return; // the reconnect reloads
    }
    const fresh = new Map();
    for (const r of got.rows) fresh.set(r.id, r);
    this.tasks = fresh;
    this.older = got.older;
    // The snapshot may be older than events that arrived while it travelled: apply those again.
    for (const e of this._reloading) this._taskState(e);
    this._reloading = null;
    this.loaded = true;
    this.version++;
    this._changed("tasks");
  }

  _events(evs) {
    let tasksChanged = false;
    const ring = this.events;
    for (const e of evs) {
      ring.push(e);
      if (e.type === "task_state" && !e.replayed) {
        if (this._reloading) this._reloading.push(e);
        tasksChanged = this._taskState(e) || tasksChanged;
      }
    }
    if (ring.length > EVENT_RING) ring.splice(0, ring.length - EVENT_RING);
    this.eventsVersion++;
    if (tasksChanged) { this.version++; this._changed("tasks"); }
    this._changed("events");
  }

  _taskState(e) {
    const d = e.data || {};
    // An HSX program's own edge (ready, sleeping, waiting_mbx, ...: `from`/`to` are VM names);
    // the task's own edges (running, paused, ended) follow as their own task_state events.
    if (d.vm_to !== undefined) return false;
    let row = this.tasks.get(e.pid);
    if (!row) {
      row = {
        id: e.pid, name: d.name || String(e.pid), kind: d.kind || "process", argv: d.argv || [], state: d.to,
        created: e.ts, started: null, ended: null, exit_code: null, end_reason: null, meta: {}, pid: null,
      };
      this.tasks.set(e.pid, row);
    }
    row.state = d.to;
    if (d.to === "running" && !row.started) row.started = e.ts;
    if (d.to === "paused") row.pause_reason = d.reason;
    if (d.pid) row.pid = d.pid;
    if (d.to === "ended") {
      row.ended = e.ts;
      row.end_reason = d.reason;
      if (d.exit_code !== undefined) row.exit_code = d.exit_code;
      this._needInfo.add(e.pid); // exit code, signal and detail come from task.info
      this._scheduleInfo();
    }
    return true;
  }

  _scheduleInfo() {
    if (this._infoTimer) return;
    this._infoTimer = setTimeout(async () => {
      this._infoTimer = null;
      const ids = [...this._needInfo];
      this._needInfo.clear();
      try {
        if (ids.length > 20) { await this.reload(); return; }
        await Promise.all(ids.map(async (id) => {
          try { this.tasks.set(id, await rpc.call("task.info", { task: id })); } catch (e) { /* gone meanwhile */ }
        }));
        this.version++;
        this._changed("tasks");
      } catch (e) { /* the reconnect reloads */ }
    }, 300);
  }

  /** Refresh one task's row now (after an action) and return it. */
  async refresh(id) {
    const row = await rpc.call("task.info", { task: id });
    this.tasks.set(row.id, row);
    this.version++;
    this._changed("tasks");
    return row;
  }

  _sampleRates() {
    const t = rpc.stats;
    const ev = t.events - this._lastTotals.events;
    const out = t.outputBytes - this._lastTotals.outputBytes;
    this._lastTotals = { events: t.events, outputBytes: t.outputBytes };
    for (const [k, v] of [["events", ev], ["output", out]]) {
      this.rates[k].push(v);
      if (this.rates[k].length > RATE_SECONDS) this.rates[k].shift();
    }
    this._changed("rates");
  }
}

export const store = new Store();
