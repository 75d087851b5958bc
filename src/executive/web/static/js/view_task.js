// One task: its facts and actions, the process tree's CPU/RSS, its log (stdout and stderr tabs,
// follow, search, jump to start/end, download) and its events.

import { LogView } from "./logview.js";
import { rpc } from "./rpc.js";
import { store } from "./store.js";
import { taskAction } from "./view_tasks.js";
import { el, esc, fmtBytes, fmtDur, fmtTime, stateClass, typing } from "./util.js";

export function taskView(main, idText) {
  const id = Number(idText);
  main.className = "fill";
  const title = el("h2", { id: "task-title" }, `Task ${id}`);
  const facts = el("dl", { class: "kv", id: "task-facts" });
  const actions = el("div", { class: "toolbar", id: "task-actions" });
  const actErr = el("span", { class: "err", id: "task-action-error", role: "alert" });
  const tree = el("div", { id: "task-tree", class: "muted" });
  const evList = el("div", { class: "scroll mono", id: "task-events", style: "max-height: 260px; font-size: 12px; overflow-wrap: anywhere" });

  const tabs = el("div", { class: "tabs", role: "tablist" });
  const logHolder = el("div", { class: "col", style: "flex:1; min-height:0" });
  const status = el("span", { class: "muted", id: "log-status" });
  const followBtn = el("button", { id: "log-follow", "aria-pressed": "true", title: "Follow new output (f)" }, "Follow");
  const search = el("input", { type: "search", id: "log-search", placeholder: "search log ( / , Enter = next)", "aria-label": "Search the log" });
  const searchMsg = el("span", { class: "muted", id: "log-search-msg" });
  const download = el("a", { id: "log-download", href: `/download/${id}/stdout`, download: "" }, "Download");
  const bar = el("div", { class: "logbar" },
    el("button", { id: "log-start", title: "Jump to start (Home / g)" }, "⤒ Start"),
    el("button", { id: "log-end", title: "Jump to end (End / G)" }, "⤓ End"),
    followBtn, search, searchMsg, el("span", { class: "spacer" }), status, download);

  const left = el("div", { class: "col" }, tabs, bar, logHolder);
  const right = el("div", { class: "col scroll" },
    el("div", { class: "card" }, facts, actions, actErr),
    el("div", { class: "card" }, el("h3", {}, "Process tree"), tree),
    el("div", { class: "card" }, el("h3", {}, "Events"), evList));
  main.append(title, el("div", { class: "split" }, left, right));

  let view = null;
  let row = null;
  const views = {};
  const showStream = async (stream) => {
    for (const b of tabs.children) b.setAttribute("aria-selected", String(b.dataset.stream === stream));
    if (!views[stream]) {
      views[stream] = new LogView(id, stream, {
        onStatus: (s) => {
          if (view !== views[stream]) return;
          status.textContent = `bytes ${s.start.toLocaleString()}–${s.end.toLocaleString()} of ${s.size.toLocaleString()}`;
          followBtn.setAttribute("aria-pressed", String(s.follow));
          followBtn.classList.toggle("primary", s.follow);
        },
      });
      const known = row && row.output_bytes ? row.output_bytes[stream] : undefined;
      views[stream].openEnd(known).catch((e) => { status.textContent = e.message; });
    }
    view = views[stream];
    logHolder.replaceChildren(view.root);
    download.href = `/download/${id}/${stream}`;
    view._status();
  };
  for (const s of ["stdout", "stderr"]) {
    const b = el("button", { role: "tab", "data-stream": s, id: `tab-${s}` }, s);
    b.addEventListener("click", () => showStream(s));
    tabs.append(b);
  }

  const renderFacts = () => {
    if (!row) return;
    title.innerHTML = `Task ${row.id} · ${esc(row.name)} <span class="pill ${stateClass(row)}" id="task-state">${esc(row.state)}</span>`;
    const bytes = row.output_bytes || {};
    facts.innerHTML = [
      ["kind", row.kind], ["command", (row.argv || []).join(" ")], ["cwd", row.cwd || ""], ["pid", row.pid ?? ""],
      ["created", fmtTime(row.created)], ["started", fmtTime(row.started)],
      ["duration", row.started ? fmtDur((row.ended || Date.now() / 1000) - row.started) : ""],
      ["ended", row.ended ? `${fmtTime(row.ended)} — ${row.end_reason || ""}${row.exit_code !== null && row.exit_code !== undefined ? ` (exit ${row.exit_code})` : ""}${row.end_detail ? `: ${row.end_detail}` : ""}` : ""],
      ["paused by", row.pause_reason || ""],
      ["output", `stdout ${fmtBytes(bytes.stdout || 0)}, stderr ${fmtBytes(bytes.stderr || 0)}`],
    ].filter(([, v]) => v !== "").map(([k, v]) => `<dt>${k}</dt><dd${k === "command" ? ' class="mono"' : ""}>${esc(v)}</dd>`).join("");
    const allowed = { pause: ["running", "starting"].includes(row.state), resume: row.state === "paused", cancel: row.state !== "ended", kill: row.state !== "ended", restart: row.kind === "process" };
    if (!actions.children.length) {
      // Built once and then only enabled/disabled, so keyboard focus stays on a button across refreshes.
      actions.replaceChildren(...Object.keys(allowed).map((a) => el("button", { "data-act": a, onclick: async () => {
        actErr.textContent = "";
        try {
          const r = await taskAction(a, id);
          if (a === "restart") location.hash = `#/task/${r.id}`;
          else await load();
        } catch (e) { actErr.textContent = `${a}: ${e.message}`; }
      } }, a)));
    }
    for (const b of actions.children) b.disabled = !allowed[b.dataset.act];
  };
  const load = async () => {
    try {
      row = await rpc.call("task.info", { task: id });
      renderFacts();
    } catch (e) {
      title.textContent = `Task ${id}`;
      facts.innerHTML = `<p class="err">${esc(e.message)}</p>`;
    }
  };
  const renderEvents = () => {
    const mine = store.events.filter((e) => e.pid === id && e.type !== "output").slice(-200);
    evList.innerHTML = mine.map((e) => `<div>${e.seq} ${fmtTime(e.ts)} <b>${esc(e.type)}</b> ${esc(JSON.stringify(e.data)).slice(0, 300)}</div>`).join("") || '<span class="muted">No events since this page was opened.</span>';
    evList.scrollTop = evList.scrollHeight;
  };
  const pollTree = async () => {
    if (!row || row.state === "ended") { tree.textContent = row ? "the task has ended" : ""; return; }
    try {
      const r = await rpc.call("task.stats", { tasks: [id], processes: true });
      const s = r.tasks[String(id)];
      tree.innerHTML = s ? `<b>${s.procs}</b> processes · CPU <b>${s.cpu_percent.toFixed(1)}%</b> · RSS <b>${fmtBytes(s.rss)}</b>`
        + `<table class="plain" id="task-procs"><thead><tr><th>pid</th><th>parent</th><th>name</th><th>CPU</th><th>RSS</th></tr></thead><tbody>`
        + (s.processes || []).map((p) => `<tr><td>${p.pid}</td><td>${p.ppid}</td><td>${esc(p.name)}</td><td>${p.cpu_percent.toFixed(1)}%</td><td>${fmtBytes(p.rss)}</td></tr>`).join("")
        + "</tbody></table>" : "no processes";
    } catch (e) { tree.textContent = e.message; }
  };

  const offEvents = rpc.onEvents((evs) => {
    let changed = false;
    for (const e of evs) {
      if (e.pid !== id) continue;
      if (e.type === "output") { views[e.data.stream]?.live(e); continue; }
      changed = true;
    }
    if (changed) { renderEvents(); load(); }
  });
  const offRe = rpc.onReconnect(async () => { await load(); for (const v of Object.values(views)) v.resume(); });

  bar.querySelector("#log-start").addEventListener("click", () => view.jumpStart());
  bar.querySelector("#log-end").addEventListener("click", () => view.jumpEnd());
  followBtn.addEventListener("click", () => view.setFollow(!view.follow));
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { view.setQuery(search.value); searchMsg.textContent = ""; }, 200);
  });
  search.addEventListener("keydown", async (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    if (view.query !== search.value) view.setQuery(search.value);
    searchMsg.textContent = "searching…";
    searchMsg.textContent = await view.findNext();
  });
  const keys = (ev) => {
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/") { search.focus(); ev.preventDefault(); }
    else if (ev.key === "g" || ev.key === "Home") { view.jumpStart(); ev.preventDefault(); }
    else if (ev.key === "G" || ev.key === "End") { view.jumpEnd(); ev.preventDefault(); }
    else if (ev.key === "f") { view.setFollow(!view.follow); ev.preventDefault(); }
  };
  document.addEventListener("keydown", keys);

  load().then(() => { showStream("stdout"); renderEvents(); pollTree(); });
  const timer = setInterval(() => { pollTree(); if (row && row.state !== "ended") load(); else renderFacts(); }, 2000);
  return () => { offEvents(); offRe(); clearInterval(timer); document.removeEventListener("keydown", keys); };
}
