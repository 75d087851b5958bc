// Small DOM and formatting helpers shared by every view.

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape text for use inside HTML (element content or a quoted attribute). */
export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
}

/** Create an element: el("button", {class: "x", onclick: f}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "html") node.innerHTML = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v < 10 && i ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}

export function fmtDur(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function fmtTime(ts) {
  if (!ts) return "";
  const d = new Date(ts * 1000);
  const today = new Date();
  const t = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === today.toDateString() ? t : `${d.toISOString().slice(0, 10)} ${t}`;
}

export function hex(n, width = 4) {
  return "0x" + (n >>> 0).toString(16).toUpperCase().padStart(width, "0");
}

const utf8 = new TextEncoder();
/** Length in UTF-8 bytes (log offsets are byte offsets). */
export function byteLen(s) {
  let n = s.length;
  // Fast path: pure ASCII strings are the common case for logs.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return utf8.encode(s).length;
  return n;
}

/** Decode a task.output / output-event payload to text. */
export function payloadText(p) {
  if (p.data !== undefined) return p.data;
  if (p.data_b64 !== undefined) {
    const bin = atob(p.data_b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  }
  return "";
}

/** Byte length of a payload (exact even for data_b64). */
export function payloadBytes(p) {
  if (p.data_b64 !== undefined) return atob(p.data_b64).length;
  return byteLen(p.data || "");
}

/** Split a command line into argv: whitespace separates, '…' and "…" quote, \ escapes. */
export function splitArgs(line) {
  const out = [];
  let cur = "";
  let quote = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') { quote = c; has = true; }
    else if (c === "\\" && i + 1 < line.length) { cur += line[++i]; has = true; }
    else if (/\s/.test(c)) { if (has || cur) out.push(cur); cur = ""; has = false; }
    else cur += c;
  }
  if (quote) throw new Error(`unclosed ${quote} quote`);
  if (has || cur) out.push(cur);
  return out;
}

export function toast(message, ms = 6000) {
  const box = document.getElementById("toast");
  if (!box) return;
  const d = el("div", {}, message);
  box.append(d);
  setTimeout(() => d.remove(), ms);
}

/** Run fn at most once per animation frame (or per 100 ms while the tab is hidden). */
export function frameThrottle(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    const run = () => { queued = false; fn(); };
    if (document.hidden) setTimeout(run, 100);
    else requestAnimationFrame(run);
  };
}

/** True when a key event comes from a text field (then single-letter shortcuts stay off). */
export function typing(ev) {
  const t = ev.target;
  return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}

export function stateClass(row) {
  if (row.state === "ended" && row.end_reason && row.end_reason !== "exited") return "st-failed";
  if (row.state === "ended" && row.exit_code) return "st-failed";
  return `st-${row.state}`;
}

export function isFailure(row) {
  return row.state === "ended" && ((row.exit_code !== null && row.exit_code !== 0) || (row.end_reason && row.end_reason !== "exited"));
}
