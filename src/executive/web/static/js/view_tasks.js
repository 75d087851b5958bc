// The task table: live, filterable, sortable, virtualised (only the visible rows are in the DOM,
// so 2,000 tasks scroll smoothly), with pause/resume/cancel/kill/restart and a run-command form.

import { rpc } from "./rpc.js";
import { store } from "./store.js";
import { el, esc, fmtBytes, fmtDur, fmtTime, frameThrottle, splitArgs, stateClass, toast, typing } from "./util.js";

const ROW_H = 30;
const COLS = "48px 76px 60px minmax(80px,1fr) minmax(100px,2fr) 70px 70px 96px 46px 66px 262px";
const COLS_NARROW = "30px 58px minmax(50px,1fr) 196px";
const COLUMNS = [
  ["id", "#", (t) => t.id],
  ["state", "state", (t) => t.state],
  ["kind", "kind", (t) => t.kind, "wide"],
  ["name", "name", (t) => t.name],
  ["command", "command", (t) => (t.argv || []).join(" "), "wide"],
  ["started", "started", (t) => t.started || 0, "wide"],
  ["duration", "duration", (t) => duration(t), "wide"],
  ["exit", "exit / reason", (t) => `${t.end_reason || ""}${t.exit_code ?? ""}`, "wide"],
  ["cpu", "CPU", (t) => stats.get(t.id)?.cpu_percent ?? -1, "wide"],
  ["rss", "RSS", (t) => stats.get(t.id)?.rss ?? -1, "wide"],
];
const ACTIONS = {
  pause: (t) => ["running", "starting"].includes(t.state),
  resume: (t) => t.state === "paused",
  cancel: (t) => t.state !== "ended",
  kill: (t) => t.state !== "ended",
  restart: (t) => t.kind === "process",
};

const stats = new Map(); // task id -> {cpu_percent, rss, procs}
const rowErrors = new Map(); // task id -> message of the last failed action (shown inline)
let sortKey = "id";
let sortDir = -1;

function duration(t) {
  if (!t.started) return 0;
  return (t.ended || Date.now() / 1000) - t.started;
}

export async function taskAction(act, id) {
  const method = act === "restart" ? "task.restart" : `task.${act}`;
  try {
    const r = await rpc.call(method, { task: id });
    rowErrors.delete(id);
    if (act === "restart") { toast(`restarted as task ${r.id} (${r.name})`); }
    await store.refresh(act === "restart" ? r.id : id);
    return r;
  } catch (e) {
    rowErrors.set(id, `${act}: ${e.message}`);
    setTimeout(() => { rowErrors.delete(id); store._changed("tasks"); }, 8000);
    store._changed("tasks");
    throw e;
  }
}

export function tasksView(main) {
  main.className = "fill";
  const filterText = el("input", { type: "search", placeholder: "filter name or command ( / )", class: "grow", id: "task-filter", "aria-label": "Filter tasks" });
  const stateSel = el("select", { id: "task-state", "aria-label": "State" },
    ...["", "queued", "running", "paused", "stopping", "ended", "failed"].map((s) => el("option", { value: s }, s || "any state")));
  const kindSel = el("select", { id: "task-kind", "aria-label": "Kind" },
    ...["", "process", "agent", "vm"].map((s) => el("option", { value: s }, s || "any kind")));
  const count = el("span", { class: "muted", id: "task-count" });
  const cmd = el("input", { id: "run-cmd", placeholder: "command to run, e.g. sh -c 'echo hi'", class: "grow", "aria-label": "Command", required: true });
  const name = el("input", { id: "run-name", placeholder: "name (optional)", size: 12, "aria-label": "Name" });
  const cwd = el("input", { id: "run-cwd", placeholder: "cwd (optional)", size: 14, "aria-label": "Working directory" });
  const runMsg = el("span", { id: "run-msg", role: "status" });
  const form = el("form", { class: "toolbar", id: "run-form" }, el("strong", {}, "Run"), cmd, name, cwd, el("button", { class: "primary", type: "submit" }, "Start"), runMsg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    runMsg.textContent = "";
    runMsg.className = "";
    try {
      const argv = splitArgs(cmd.value.trim());
      if (!argv.length) throw new Error("enter a command");
      const params = { argv };
      if (name.value.trim()) params.name = name.value.trim();
      if (cwd.value.trim()) params.cwd = cwd.value.trim();
      const r = await rpc.call("task.run", params);
      runMsg.innerHTML = `started <a href="#/task/${r.id}">task ${r.id} (${esc(r.name)})</a>`;
      runMsg.className = "ok";
      cmd.value = "";
      await store.refresh(r.id);
    } catch (e) {
      runMsg.textContent = e.message;
      runMsg.className = "err";
    }
  });

  const box = el("div", { class: "vtable", id: "task-table", tabindex: "0", role: "grid", "aria-label": "Tasks" });
  box.style.setProperty("--cols", COLS);
  box.style.setProperty("--cols-narrow", COLS_NARROW);
  const head = el("div", { class: "vrow head", role: "row" });
  for (const [key, label, , wide] of COLUMNS) {
    const b = el("button", { "data-sort": key, class: wide || "" }, label);
    head.append(el("span", { class: wide || "", role: "columnheader" }, b));
  }
  head.append(el("span", { role: "columnheader" }, "actions"));
  const body = el("div", { class: "vbody" });
  const win = el("div", { class: "vwin" });
  body.append(win);
  box.append(head, body);
  main.append(el("h2", {}, "Tasks"), form, el("div", { class: "toolbar" }, filterText, stateSel, kindSel, count), box);

  let rows = [];
  let selected = -1;
  let builtVersion = -1;
  const rebuild = () => {
    const q = filterText.value.trim().toLowerCase();
    const st = stateSel.value;
    const kd = kindSel.value;
    const out = [];
    for (const t of store.tasks.values()) {
      if (st === "failed" ? stateClass(t) !== "st-failed" : st && t.state !== st) continue;
      if (kd && t.kind !== kd) continue;
      if (q && !(t.name.toLowerCase().includes(q) || (t.argv || []).join(" ").toLowerCase().includes(q) || String(t.id) === q)) continue;
      out.push(t);
    }
    const col = COLUMNS.find((c) => c[0] === sortKey);
    const get = col[2];
    out.sort((a, b) => {
      const x = get(a);
      const y = get(b);
      return (x < y ? -1 : x > y ? 1 : a.id - b.id) * sortDir;
    });
    rows = out;
    count.textContent = `${rows.length} of ${store.tasks.size} tasks`
      + (store.older !== null ? ` (the newest and the live ones; older tasks open by id: #/task/ID)` : "");
    for (const b of head.querySelectorAll("button[data-sort]")) {
      b.textContent = COLUMNS.find((c) => c[0] === b.dataset.sort)[1] + (b.dataset.sort === sortKey ? (sortDir > 0 ? " ▲" : " ▼") : "");
      b.parentElement.setAttribute("aria-sort", b.dataset.sort === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    }
  };
  const rowHtml = (t, i) => {
    const s = stats.get(t.id);
    const err = rowErrors.get(t.id);
    const acts = Object.entries(ACTIONS).map(([a, ok]) => `<button data-act="${a}" data-id="${t.id}" ${ok(t) ? "" : "disabled"} title="${a} task ${t.id}"${a === "restart" ? ' class="wide"' : ""}>${a}</button>`).join("");
    const exit = err ? `<span class="rowerr" title="${esc(err)}">${esc(err)}</span>` : esc(`${t.end_reason || ""} ${t.exit_code ?? ""}`.trim());
    return `<div class="vrow${i === selected ? " sel" : ""}" role="row" data-id="${t.id}" data-state="${esc(t.state)}" data-name="${esc(t.name)}">`
      + `<span>${t.id}</span><span class="${stateClass(t)} state">${esc(t.state)}${t.state === "paused" && t.pause_reason ? "" : ""}</span><span class="wide">${esc(t.kind)}</span>`
      + `<a href="#/task/${t.id}" title="${esc(t.name)}">${esc(t.name)}</a><span class="wide mono" title="${esc((t.argv || []).join(" "))}">${esc((t.argv || []).join(" "))}</span>`
      + `<span class="wide">${fmtTime(t.started)}</span><span class="wide">${fmtDur(duration(t))}</span><span class="wide exit">${exit}</span>`
      + `<span class="wide">${s ? s.cpu_percent.toFixed(0) + "%" : ""}</span><span class="wide">${s ? fmtBytes(s.rss) : ""}</span>`
      + `<span class="acts">${acts}</span></div>`;
  };
  const paint = () => {
    if (builtVersion !== store.version) { rebuild(); builtVersion = store.version; }
    body.style.height = `${rows.length * ROW_H}px`;
    const top = Math.max(0, box.scrollTop - ROW_H);
    const first = Math.max(0, Math.floor(top / ROW_H) - 5);
    const visible = Math.ceil(box.clientHeight / ROW_H) + 10;
    const slice = rows.slice(first, first + visible);
    win.style.transform = `translateY(${first * ROW_H}px)`;
    const focused = win.contains(document.activeElement) ? document.activeElement : null;
    win.innerHTML = slice.map((t, k) => rowHtml(t, first + k)).join("");
    if (focused) {
      // Rows are redrawn, not patched: put keyboard focus back on the same control of the same task.
      const again = focused.dataset.act
        ? win.querySelector(`button[data-act="${focused.dataset.act}"][data-id="${focused.dataset.id}"]`)
        : win.querySelector(`a[href="${focused.getAttribute("href")}"]`);
      if (again && !again.disabled) again.focus();
    }
  };
  const repaint = frameThrottle(paint);
  const rebuildAndPaint = () => { builtVersion = -1; repaint(); };

  box.addEventListener("scroll", repaint, { passive: true });
  head.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-sort]");
    if (!b) return;
    if (sortKey === b.dataset.sort) sortDir = -sortDir; else { sortKey = b.dataset.sort; sortDir = sortKey === "id" || sortKey === "started" ? -1 : 1; }
    rebuildAndPaint();
  });
  win.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    b.disabled = true;
    try { await taskAction(b.dataset.act, Number(b.dataset.id)); } catch (e) { /* shown in the row */ }
    repaint();
  });
  for (const c of [filterText, stateSel, kindSel]) c.addEventListener("input", rebuildAndPaint);
  const keys = (ev) => {
    if (ev.key === "/" && !typing(ev)) { filterText.focus(); ev.preventDefault(); return; }
    if (typing(ev) || !box.contains(document.activeElement) && document.activeElement !== document.body) return;
    if (ev.key === "j" || ev.key === "ArrowDown") selected = Math.min(rows.length - 1, selected + 1);
    else if (ev.key === "k" || ev.key === "ArrowUp") selected = Math.max(0, selected - 1);
    else if (ev.key === "Enter" && rows[selected]) { location.hash = `#/task/${rows[selected].id}`; return; }
    else return;
    ev.preventDefault();
    const y = selected * ROW_H;
    if (y < box.scrollTop) box.scrollTop = y;
    else if (y + 2 * ROW_H > box.scrollTop + box.clientHeight) box.scrollTop = y + 2 * ROW_H - box.clientHeight;
    repaint();
  };
  document.addEventListener("keydown", keys);
  const off = store.onChange((what) => { if (what === "tasks") repaint(); });
  const poll = async () => {
    try {
      const r = await rpc.call("task.stats", {});
      stats.clear();
      for (const [k, v] of Object.entries(r.tasks)) stats.set(Number(k), v);
      repaint();
    } catch (e) { /* reconnecting */ }
  };
  poll();
  const timer = setInterval(poll, 2000);
  const tick = setInterval(repaint, 1000); // durations of running tasks
  const ro = new ResizeObserver(repaint);
  ro.observe(box);
  paint();
  return () => { off(); clearInterval(timer); clearInterval(tick); ro.disconnect(); document.removeEventListener("keydown", keys); };
}
