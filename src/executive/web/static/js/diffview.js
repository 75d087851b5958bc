// A unified diff shown side by side: removed lines left, added lines right, context on both.

import { esc } from "./util.js";

/** HTML of a side-by-side view of a unified diff (git or plain). */
export function sideBySide(diffText) {
  const rows = [];
  let dels = [];
  let adds = [];
  const flush = () => {
    const n = Math.max(dels.length, adds.length);
    for (let i = 0; i < n; i++) {
      rows.push(`<div class="${i < dels.length ? "del" : ""}">${i < dels.length ? esc(dels[i]) : ""}</div><div class="${i < adds.length ? "add" : ""}">${i < adds.length ? esc(adds[i]) : ""}</div>`);
    }
    dels = [];
    adds = [];
  };
  for (const line of diffText.split("\n")) {
    if (line.startsWith("+++ ") || line.startsWith("diff --git") || line.startsWith("index ")) continue;
    if (line.startsWith("--- ")) { flush(); continue; }
    if (line.startsWith("@@")) { flush(); rows.push(`<div class="file">${esc(line)}</div>`); continue; }
    if (line.startsWith("-")) dels.push(line.slice(1));
    else if (line.startsWith("+")) adds.push(line.slice(1));
    else { flush(); const t = esc(line.slice(1)); rows.push(`<div>${t}</div><div>${t}</div>`); }
  }
  flush();
  return `<div class="sbs">${rows.join("")}</div>`;
}

/** File headers (old -> new path) of a unified diff, for a per-file split. */
export function splitFiles(diffText) {
  const files = [];
  let cur = null;
  for (const line of diffText.split("\n")) {
    if (line.startsWith("diff --git") || (line.startsWith("--- ") && (!cur || cur.body.some((l) => l.startsWith("@@"))))) {
      cur = { name: "", body: [] };
      files.push(cur);
    }
    if (!cur) { cur = { name: "", body: [] }; files.push(cur); }
    if (line.startsWith("+++ ")) cur.name = line.slice(4).replace(/^b\//, "");
    if (line.startsWith("--- ") && !cur.name) cur.name = line.slice(4).replace(/^a\//, "");
    cur.body.push(line);
  }
  return files.filter((f) => f.body.some((l) => l.startsWith("@@")));
}
