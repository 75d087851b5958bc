// Overview: counts by state and kind, running and queued tasks, recent failures, live rates, uptime, limits.

import { rpc } from "./rpc.js";
import { store } from "./store.js";
import { sparkline } from "./svg.js";
import { el, esc, fmtBytes, fmtDur, fmtTime, frameThrottle, isFailure, stateClass } from "./util.js";

export function overviewView(main) {
  main.append(el("h2", {}, "Overview"));
  const grid = el("div", { class: "grid" });
  const counts = el("div", { class: "card", id: "ov-counts" });
  const rates = el("div", { class: "card", id: "ov-rates" });
  const daemon = el("div", { class: "card", id: "ov-daemon" });
  grid.append(counts, rates, daemon);
  const lists = el("div", { class: "grid" });
  const running = el("div", { class: "card", id: "ov-running" });
  const failures = el("div", { class: "card", id: "ov-failures" });
  lists.append(running, failures);
  main.append(grid, el("div", { style: "height:12px" }), lists);

  const link = (t) => `<a href="#/task/${t.id}">${esc(t.name)}</a>`;
  const render = () => {
    const byState = {};
    const byKind = {};
    const live = [];
    const failed = [];
    for (const t of store.tasks.values()) {
      byState[t.state] = (byState[t.state] || 0) + 1;
      byKind[t.kind] = (byKind[t.kind] || 0) + 1;
      if (t.state !== "ended") live.push(t);
      else if (isFailure(t)) failed.push(t);
    }
    const pills = (o) => Object.entries(o).sort().map(([k, v]) => `<span class="pill st-${esc(k)}">${esc(k)} <b>${v}</b></span>`).join(" ") || '<span class="muted">none</span>';
    const loaded = store.older !== null ? '<p class="muted">the live and the newest tasks; older ones are in the store</p>' : "";
    counts.innerHTML = `<h3>Tasks</h3><div class="big">${store.tasks.size}${store.older !== null ? "+" : ""}</div>${loaded}`
      + `<p>By state</p><div class="pills" id="ov-by-state">${pills(byState)}</div><p>By kind</p><div class="pills">${pills(byKind)}</div>`;
    live.sort((a, b) => a.id - b.id);
    const runningRows = live.filter((t) => t.state !== "queued");
    const queued = live.filter((t) => t.state === "queued");
    const row = (t) => `<tr><td>${t.id}</td><td>${link(t)}</td><td class="${stateClass(t)}">${esc(t.state)}</td><td>${t.started ? fmtDur(Date.now() / 1000 - t.started) : ""}</td></tr>`;
    running.innerHTML = `<h3>Running (${runningRows.length}) and queued (${queued.length})</h3>`
      + `<table class="plain"><tbody>${runningRows.slice(0, 12).map(row).join("")}${queued.slice(0, 6).map(row).join("")}</tbody></table>`
      + (live.length > 18 ? `<p><a href="#/tasks">all ${live.length} live tasks…</a></p>` : "")
      + (live.length ? "" : '<p class="muted">Nothing is running.</p>');
    failed.sort((a, b) => (b.ended || 0) - (a.ended || 0));
    failures.innerHTML = `<h3>Recent failures</h3>`
      + (failed.length ? `<table class="plain"><tbody>${failed.slice(0, 10).map((t) => `<tr><td>${link(t)}</td><td class="st-failed">${esc(t.end_reason || "")} ${t.exit_code ?? ""}</td><td class="muted">${fmtTime(t.ended)}</td></tr>`).join("")}</tbody></table>` : '<p class="muted">No failed tasks.</p>');
  };
  const renderRates = () => {
    const ev = store.rates.events;
    const out = store.rates.output;
    const last = (a) => (a.length ? a[a.length - 1] : 0);
    rates.innerHTML = `<h3>Live</h3><div>events/s <b id="ov-evs">${last(ev)}</b></div>${sparkline(ev, { label: "events per second, last minute" })}`
      + `<div>output <b>${(last(out) / 1e6).toFixed(2)} MB/s</b></div>${sparkline(out.map((v) => v / 1e6), { label: "output MB per second, last minute" })}`;
  };
  const renderDaemon = async () => {
    try {
      const [h, lim] = await Promise.all([rpc.call("daemon.health"), rpc.call("daemon.limits")]);
      daemon.innerHTML = `<h3>Daemon</h3><dl class="kv"><dt>uptime</dt><dd id="ov-uptime">${fmtDur(h.uptime_s)}</dd>`
        + `<dt>live tasks</dt><dd>${h.tasks_live} of ${lim.max_running} running slots</dd><dt>queued</dt><dd>${h.tasks_queued} (max ${lim.max_queued})</dd>`
        + `<dt>sessions</dt><dd>${h.sessions} (max ${lim.max_sessions ?? "?"})</dd><dt>subscriptions</dt><dd>${h.subscriptions} (max ${lim.max_subscriptions ?? "?"})</dd>`
        + `<dt>output quota</dt><dd>${fmtBytes(lim.output_quota_bytes)} per task</dd><dt>last seq</dt><dd>${h.last_seq}</dd>`
        + (h.log_dropped ? `<dt>log</dt><dd class="err" id="ov-log">dropped (${esc(h.log_dropped)}): its stderr went away</dd>` : "")
        + `</dl>`;
    } catch (e) {
      daemon.innerHTML = `<h3>Daemon</h3><p class="err">${esc(e.message)}</p>`;
    }
  };
  const throttled = frameThrottle(render);
  const off = store.onChange((what) => { if (what === "tasks") throttled(); if (what === "rates") renderRates(); });
  render();
  renderRates();
  renderDaemon();
  const timer = setInterval(() => { renderDaemon(); render(); }, 5000);
  return () => { off(); clearInterval(timer); };
}
