// A terminal-like view of one stream of a task's log that only ever holds a window of it.
//
// The window [start, end) is a byte range of the log, starting at a line boundary.  Opening
// fetches the last CHUNK bytes (task.output by offset), so a 200 MB log opens as fast as a
// small one; scrolling near the top fetches the CHUNK before `start`, near the bottom the CHUNK
// after `end`; the window is trimmed at the far side to stay under MAX_WINDOW.  In follow mode,
// output events whose offset equals `end` are appended; an event past `end` (events dropped by
// the daemon for a slow client, or a reconnect) makes the view read the gap with task.output, and
// one before `end` is a duplicate and is ignored.  So nothing shows twice and nothing is missed.

import { ansiLine, newState, stripAnsi } from "./ansi.js";
import { rpc } from "./rpc.js";
import { byteLen, el, esc, fmtBytes, frameThrottle, payloadText } from "./util.js";

const CHUNK = 256 * 1024; // bytes fetched per scroll step
const FIRST = 64 * 1024; // bytes fetched on opening: more than a screen, little to render
const MAX_WINDOW = 2 * 1024 * 1024;
const SEARCH_STEP = 4 * 1024 * 1024; // bytes read per task.output call while searching
const SEARCH_BUDGET = 64 * 1024 * 1024; // bytes scanned per "find next" press

export class LogView {
  constructor(taskId, stream, { onStatus = () => {} } = {}) {
    this.task = taskId;
    this.stream = stream;
    this.onStatus = onStatus;
    this.lines = []; // [{t: text, b: bytes incl. newline, open: no newline yet}]
    this.start = 0;
    this.end = 0;
    this.size = 0; // log size as last known
    this.follow = true;
    this.loading = false;
    this.query = "";
    this.match = null; // {line, col} of the current search hit
    this.searchFrom = null; // byte offset where the next "find next" scan continues
    this.pendingLive = []; // output events waiting for the next frame
    this.root = el("div", { class: `log ${stream}`, tabindex: "0", role: "log", "aria-label": `${stream} of task ${taskId}`, id: `log-${stream}` });
    this.topEdge = el("div", { class: "edge" });
    this.body = el("div", { class: "lines" });
    this.bottomEdge = el("div", { class: "edge" });
    this.root.append(this.topEdge, this.body, this.bottomEdge);
    this.root.addEventListener("scroll", () => this._scrolled(), { passive: true });
    this._flushLive = frameThrottle(() => this._applyLive());
  }

  _status() {
    this.topEdge.textContent = this.start === 0 ? "— start of log —" : `↑ ${fmtBytes(this.start)} earlier (scroll up to load)`;
    this.bottomEdge.textContent = this.end < this.size ? `↓ ${fmtBytes(this.size - this.end)} more (scroll down to load)` : "";
    this.onStatus({ start: this.start, end: this.end, size: this.size, follow: this.follow });
  }

  async _read(offset, limit) {
    const r = await rpc.call("task.output", { task: this.task, stream: this.stream, offset, limit });
    this.size = Math.max(this.size, r.size);
    return { text: payloadText(r), next: r.next_offset, size: r.size, eof: r.eof };
  }

  /** Split text read at `offset` into line records; returns [lines, bytes dropped at the front]. */
  _split(text, dropFirstPartial) {
    let dropped = 0;
    if (dropFirstPartial) {
      const nl = text.indexOf("\n");
      if (nl < 0) return [[], byteLen(text)];
      dropped = byteLen(text.slice(0, nl + 1));
      text = text.slice(nl + 1);
    }
    const parts = text.split("\n");
    const out = [];
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      if (last && parts[i] === "") break;
      out.push({ t: parts[i], b: byteLen(parts[i]) + (last ? 0 : 1), open: last });
    }
    return [out, dropped];
  }

  /** Show the end of the log; ``knownSize`` (from a task.info the caller already has) saves a call. */
  async openEnd(knownSize) {
    let size = knownSize;
    if (size === undefined) {
      const info = await rpc.call("task.info", { task: this.task });
      size = (info.output_bytes || {})[this.stream] || 0;
    }
    this.size = size;
    await this.openAt(Math.max(0, size - FIRST), true, FIRST);
  }

  async openAt(offset, toBottom = false, length = CHUNK) {
    this.loading = true;
    try {
      const r = await this._read(offset, length);
      const [lines, dropped] = this._split(r.text, offset > 0);
      this.lines = lines;
      this.start = offset + dropped;
      this.end = r.next;
      this._render();
      if (toBottom) this.root.scrollTop = this.root.scrollHeight;
      else this.root.scrollTop = 0;
    } finally {
      this._loaded();
    }
    this._status();
  }

  /** A read by offset finished: live events that waited for it may apply now (their offsets decide). */
  _loaded() {
    this.loading = false;
    if (this.pendingLive.length) this._flushLive();
  }

  async jumpStart() { this.setFollow(false); await this.openAt(0); }
  async jumpEnd() { await this.openEnd(); this.root.scrollTop = this.root.scrollHeight; }

  setFollow(on) {
    this.follow = on;
    if (on && this.end < this.size) this.jumpEnd();
    else if (on) this.root.scrollTop = this.root.scrollHeight;
    this._status();
  }

  async _prev() {
    if (this.start === 0 || this.loading) return;
    this.loading = true;
    try {
      const from = Math.max(0, this.start - CHUNK);
      const r = await this._read(from, this.start - from);
      const [lines] = this._split(r.text, from > 0);
      const added = lines.reduce((a, l) => a + l.b, 0);
      const before = this.root.scrollHeight;
      this.lines = lines.concat(this.lines);
      this.start -= added;
      this._trim("end");
      this._render();
      this.root.scrollTop += this.root.scrollHeight - before;
    } finally {
      this._loaded();
    }
    this._status();
  }

  async _next() {
    if (this.loading || this.end >= this.size) return;
    this.loading = true;
    try {
      const r = await this._read(this.end, CHUNK);
      this._appendText(r.text, r.next);
      this._trim("start");
      this._render();
    } finally {
      this._loaded();
    }
    this._status();
  }

  /** Append text that starts at this.end and ends at byte offset `next`. */
  _appendText(text, next) {
    if (!text) return;
    const last = this.lines[this.lines.length - 1];
    if (last && last.open) {
      this.lines.pop();
      text = last.t + text;
    }
    const [lines] = this._split(text, false);
    this.lines.push(...lines);
    this.end = next;
  }

  _trim(side) {
    let bytes = this.end - this.start;
    if (bytes <= MAX_WINDOW) return 0;
    let n = 0;
    if (side === "start") {
      while (bytes > MAX_WINDOW && n < this.lines.length - 1) { bytes -= this.lines[n].b; n++; }
      const removed = this.lines.splice(0, n);
      this.start += removed.reduce((a, l) => a + l.b, 0);
    } else {
      let k = this.lines.length;
      while (bytes > MAX_WINDOW && k > 1) { k--; bytes -= this.lines[k].b; }
      const removed = this.lines.splice(k);
      this.end -= removed.reduce((a, l) => a + l.b, 0);
    }
    return n;
  }

  _lineHtml(line, st, idx) {
    if (this.query) {
      const plain = stripAnsi(line.t);
      const lower = plain.toLowerCase();
      const q = this.query.toLowerCase();
      if (lower.includes(q)) {
        let out = "";
        let pos = 0;
        let i;
        while ((i = lower.indexOf(q, pos)) >= 0) {
          const cur = this.match && this.match.line === idx && this.match.col === i;
          out += esc(plain.slice(pos, i)) + `<mark${cur ? ' class="cur"' : ""}>${esc(plain.slice(i, i + q.length))}</mark>`;
          pos = i + q.length;
        }
        ansiLine(line.t, st); // keep the colour state moving
        return out + esc(plain.slice(pos));
      }
    }
    return ansiLine(line.t, st);
  }

  _render() {
    const st = newState();
    let html = "";
    for (let i = 0; i < this.lines.length; i++) html += `<div class="ln">${this._lineHtml(this.lines[i], st, i)}</div>`;
    this.body.innerHTML = html;
    this._status();
  }

  _scrolled() {
    const r = this.root;
    const nearBottom = r.scrollTop + r.clientHeight >= r.scrollHeight - 4;
    if (r.scrollTop < 300 && this.start > 0) this._prev();
    if (r.scrollTop + r.clientHeight > r.scrollHeight - 300 && this.end < this.size) this._next();
    if (this.follow && !nearBottom && !this._autoScroll) { this.follow = false; this._status(); }
    this._autoScroll = false;
  }

  /** An output event of this task; queued and applied once per frame. */
  live(ev) {
    if (ev.data.stream !== this.stream) return;
    this.pendingLive.push(ev.data);
    this._flushLive();
  }

  async _applyLive() {
    // Never append while a read by offset is in flight: it would land after these bytes and repeat them.
    if (this.loading) return; // _loaded() flushes again
    const batch = this.pendingLive;
    this.pendingLive = [];
    let gap = false;
    let appended = false;
    for (const d of batch) {
      const text = payloadText(d);
      const n = d.data_b64 !== undefined ? atob(d.data_b64).length : byteLen(text);
      const evEnd = d.offset + n;
      this.size = Math.max(this.size, evEnd);
      if (evEnd <= this.end) continue; // already shown (replayed after a reconnect)
      if (d.offset !== this.end) { gap = true; continue; } // missed bytes before it: read them by offset
      if (!this.follow && this.end - this.start >= MAX_WINDOW) continue; // scrolled back: loaded on scroll
      this._appendText(text, evEnd);
      appended = true;
    }
    if (appended) {
      const trimmed = this.follow ? this._trim("start") : 0;
      this._renderTail(trimmed);
    }
    if (gap && this.follow) await this._catchUp();
    this._status();
  }

  _renderTail(trimmed) {
    // Cheap path: re-render only the lines that changed (the open last line and new ones).
    const kids = this.body.children;
    for (let i = 0; i < trimmed && this.body.firstChild; i++) this.body.firstChild.remove();
    if (this.query) { this._render(); this._pin(); return; }
    let keep = Math.min(kids.length, this.lines.length);
    if (keep > 0) { kids[keep - 1].remove(); keep--; } // the previously open line may have grown
    while (kids.length > keep) kids[kids.length - 1].remove();
    const st = newState();
    // ANSI state at the first re-rendered line: replay the escapes of the lines before it (cheap: no HTML kept).
    for (let i = Math.max(0, keep - 200); i < keep; i++) ansiLine(this.lines[i].t, st);
    let html = "";
    for (let i = keep; i < this.lines.length; i++) html += `<div class="ln">${this._lineHtml(this.lines[i], st, i)}</div>`;
    this.body.insertAdjacentHTML("beforeend", html);
    this._pin();
  }

  _pin() {
    if (this.follow) { this._autoScroll = true; this.root.scrollTop = this.root.scrollHeight; }
  }

  async _catchUp() {
    if (this.loading) return;
    while (this.end < this.size) {
      const before = this.end;
      await this._next();
      if (this.end === before) break;
    }
    this._pin();
  }

  /** After a reconnect: read whatever arrived while disconnected (by offset, so no duplicates). */
  async resume() {
    const info = await rpc.call("task.info", { task: this.task });
    this.size = (info.output_bytes || {})[this.stream] || 0;
    if (this.follow) await this._catchUp();
    this._status();
  }

  setQuery(q) {
    this.query = q;
    this.match = null;
    this.searchFrom = null;
    this._render();
  }

  /** Find the next hit after the current one; reads ahead through the log by offset when needed. */
  async findNext() {
    const q = this.query.toLowerCase();
    if (!q) return "enter text to search";
    const from = this.match ? this.match : { line: 0, col: -1 };
    for (let i = from.line; i < this.lines.length; i++) {
      const hay = stripAnsi(this.lines[i].t).toLowerCase();
      const col = hay.indexOf(q, i === from.line ? from.col + 1 : 0);
      if (col >= 0) { this._show(i, col); return ""; }
    }
    // Not in the window: scan forward through the log.
    this.setFollow(false);
    let pos = this.searchFrom ?? this.end;
    const stop = pos + SEARCH_BUDGET;
    let carry = "";
    while (pos < this.size && pos < stop) {
      const r = await this._read(pos, SEARCH_STEP);
      const text = carry + r.text;
      const idx = stripAnsi(text).toLowerCase().indexOf(q);
      if (idx >= 0 && text.indexOf("\x1b") < 0) {
        const hit = pos - byteLen(carry) + byteLen(text.slice(0, idx));
        await this.openAt(Math.max(0, hit - 1024));
        this.searchFrom = null;
        return this.findNext();
      }
      if (idx >= 0) { // escapes in the text: let the window search place the hit exactly
        await this.openAt(pos);
        return this.findNext();
      }
      carry = r.text.slice(-Math.max(0, q.length - 1));
      if (r.next === pos) break;
      pos = r.next;
    }
    this.searchFrom = pos < this.size ? pos : null;
    return pos < this.size ? `not found in the next ${fmtBytes(SEARCH_BUDGET)}; press again to go on` : "no more matches";
  }

  _show(line, col) {
    this.match = { line, col };
    this._render();
    const node = this.body.children[line];
    if (node) node.scrollIntoView({ block: "center" });
  }
}
