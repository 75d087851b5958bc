// ANSI SGR (colours, bold, italic, underline) to HTML, one line at a time, carrying the state
// from line to line as a terminal does.  Other escape sequences (cursor moves, titles) are removed.

import { esc } from "./util.js";

// CSI ... final byte, OSC ... BEL/ST, and two-byte escapes.
const ESC_RE = /\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

export function newState() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };
}

function colour(n) {
  if (n < 16) return `var(--a${n})`;
  if (n < 232) {
    const i = n - 16;
    const v = [0, 95, 135, 175, 215, 255];
    return `rgb(${v[Math.floor(i / 36)]},${v[Math.floor(i / 6) % 6]},${v[i % 6]})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

function applySgr(st, params) {
  const p = params === "" ? [0] : params.split(/[;:]/).map((x) => (x === "" ? 0 : parseInt(x, 10)));
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) Object.assign(st, newState());
    else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = true;
    else if (c === 7) st.inverse = true;
    else if (c === 22) { st.bold = false; st.dim = false; }
    else if (c === 23) st.italic = false;
    else if (c === 24) st.underline = false;
    else if (c === 27) st.inverse = false;
    else if (c >= 30 && c <= 37) st.fg = colour(c - 30);
    else if (c === 39) st.fg = null;
    else if (c >= 40 && c <= 47) st.bg = colour(c - 40);
    else if (c === 49) st.bg = null;
    else if (c >= 90 && c <= 97) st.fg = colour(c - 90 + 8);
    else if (c >= 100 && c <= 107) st.bg = colour(c - 100 + 8);
    else if (c === 38 || c === 48) {
      let value = null;
      if (p[i + 1] === 5 && i + 2 < p.length) { value = colour(p[i + 2] & 255); i += 2; }
      else if (p[i + 1] === 2 && i + 4 < p.length) { value = `rgb(${p[i + 2] & 255},${p[i + 3] & 255},${p[i + 4] & 255})`; i += 4; }
      if (c === 38) st.fg = value; else st.bg = value;
    }
  }
}

function open(st) {
  if (!st.fg && !st.bg && !st.bold && !st.dim && !st.italic && !st.underline && !st.inverse) return "";
  const cls = [st.bold && "ab", st.dim && "ad", st.italic && "ai", st.underline && "au"].filter(Boolean).join(" ");
  let fg = st.fg;
  let bg = st.bg;
  if (st.inverse) { fg = st.bg || "var(--log-bg)"; bg = st.fg || "var(--fg)"; }
  const style = [fg && `color:${fg}`, bg && `background:${bg}`].filter(Boolean).join(";");
  return `<span${cls ? ` class="${cls}"` : ""}${style ? ` style="${style}"` : ""}>`;
}

/** HTML of one line (no newline); ``st`` is updated in place for the next line. */
export function ansiLine(line, st) {
  if (line.indexOf("\x1b") < 0) {
    const o = open(st);
    return o ? o + esc(line) + "</span>" : esc(line);
  }
  let out = open(st);
  let inSpan = out !== "";
  let last = 0;
  ESC_RE.lastIndex = 0;
  let m;
  while ((m = ESC_RE.exec(line))) {
    out += esc(line.slice(last, m.index));
    last = ESC_RE.lastIndex;
    if (m[2] === "m") {
      if (inSpan) out += "</span>";
      applySgr(st, m[1]);
      const o = open(st);
      out += o;
      inSpan = o !== "";
    }
  }
  out += esc(line.slice(last));
  if (inSpan) out += "</span>";
  return out;
}

/** The line's text without escape sequences (for search). */
export function stripAnsi(line) {
  return line.indexOf("\x1b") < 0 ? line : line.replace(ESC_RE, "");
}
