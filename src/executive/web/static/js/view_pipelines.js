// Pipelines: the runs list, and one run: phase timeline (entry gate → steps → exit gate, one row
// per iteration), each gate's checks with weights and scores, the score-versus-threshold chart,
// approve / cancel / resume, links to each step's task.  Live: re-read on every pipeline event.

import { rpc } from "./rpc.js";
import { scoreChart } from "./svg.js";
import { el, esc, fmtDur, fmtTime } from "./util.js";

export function pipelinesView(main) {
  main.append(el("h2", {}, "Pipelines"));
  const path = el("input", { id: "pl-path", placeholder: "pipeline.yaml path on the daemon's machine", class: "grow", "aria-label": "Pipeline file" });
  const req = el("input", { id: "pl-req", placeholder: "requirement", class: "grow", "aria-label": "Requirement" });
  const msg = el("span", { role: "status" });
  const form = el("form", { class: "toolbar" }, el("strong", {}, "Run"), path, req, el("button", { class: "primary", type: "submit" }, "Start"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await rpc.call("pipeline.run", { path: path.value.trim(), requirement: req.value });
      location.hash = `#/pipeline/${r.id}`;
    } catch (e) { msg.textContent = e.message; msg.className = "err"; }
  });
  const list = el("div", { class: "card", id: "pl-list" });
  main.append(form, list);
  const render = async () => {
    try {
      const runs = await rpc.call("pipeline.list", { limit: 200 });
      list.innerHTML = runs.length ? `<table class="plain"><thead><tr><th>#</th><th>name</th><th>state</th><th>requirement</th><th>started</th><th>detail</th></tr></thead><tbody>`
        + runs.slice().reverse().map((r) => `<tr><td>${r.id}</td><td><a href="#/pipeline/${r.id}">${esc(r.name)}</a></td><td class="st-${r.state === "failed" ? "failed" : r.active ? "running" : "ended"}">${esc(r.state)}${r.active ? " ●" : ""}</td>`
          + `<td>${esc(r.requirement || "")}</td><td>${fmtTime(r.created)}</td><td class="muted">${esc(r.detail || "")}</td></tr>`).join("") + "</tbody></table>"
        : '<p class="muted">No pipeline runs yet. Start one above or with <code>executive pipeline run</code>.</p>';
    } catch (e) { list.innerHTML = `<p class="err">${esc(e.message)}</p>`; }
  };
  render();
  let timer = null;
  const off = rpc.onEvents((evs) => {
    if (!evs.some((e) => e.type.startsWith("pipeline.") && !e.replayed)) return;
    clearTimeout(timer);
    timer = setTimeout(render, 300);
  });
  return () => { off(); clearTimeout(timer); };
}

const stepCls = (s) => (s === "ok" || s === "passed" ? "pass" : s === "running" || s === "started" || s === "scoring" ? "run" : s ? "fail" : "");

export function pipelineView(main, idText) {
  const id = Number(idText);
  const title = el("h2", { id: "pl-title" }, `Pipeline run ${id}`);
  const head = el("div", { class: "card", id: "pl-head" });
  const acts = el("div", { class: "toolbar", id: "pl-actions" });
  const actMsg = el("span", { class: "err", role: "alert" });
  const timeline = el("div", { class: "card" }, el("h3", {}, "Phases"), el("div", { class: "timeline", id: "pl-timeline" }));
  const chart = el("div", { class: "card", id: "pl-chart" });
  const gates = el("div", { class: "card", id: "pl-gates" });
  main.append(title, head, acts, actMsg, el("div", { style: "height:10px" }), chart, el("div", { style: "height:10px" }), timeline, el("div", { style: "height:10px" }), gates);

  const act = async (method, params, confirmText) => {
    if (confirmText && !confirm(confirmText)) return;
    actMsg.textContent = "";
    try { await rpc.call(method, { run: id, ...params }); } catch (e) { actMsg.textContent = `${method}: ${e.message}`; }
    render();
  };
  const render = async () => {
    let s;
    try { s = await rpc.call("pipeline.status", { run: id }); } catch (e) { head.innerHTML = `<p class="err">${esc(e.message)}</p>`; return; }
    const run = s.run;
    title.textContent = `Pipeline run ${id} · ${run.name}`;
    head.innerHTML = `<dl class="kv"><dt>state</dt><dd id="pl-state">${esc(run.state)}${run.active ? " (running here)" : ""}</dd><dt>detail</dt><dd>${esc(run.detail || "")}</dd>`
      + `<dt>requirement</dt><dd>${esc(run.requirement || "")}</dd><dt>workdir</dt><dd class="mono">${esc(run.workdir || "")}</dd>`
      + `<dt>started</dt><dd>${fmtTime(run.created)}</dd>${run.ended ? `<dt>took</dt><dd>${fmtDur(run.ended - run.created)}</dd>` : ""}</dl>`;
    const waiting = s.phases.filter((p) => p.approval_required && !p.approved);
    acts.replaceChildren(
      ...waiting.map((p) => el("button", { class: "primary", "data-approve": p.name, onclick: () => act("pipeline.approve", { phase: p.name }, `Approve phase “${p.name}”?`) }, `Approve ${p.name}`)),
      el("button", { id: "pl-cancel", disabled: !run.active, onclick: () => act("pipeline.cancel", {}, "Cancel this pipeline run?") }, "Cancel"),
      el("button", { id: "pl-resume", disabled: run.active || run.state === "passed", onclick: () => act("pipeline.resume", {}, "Resume this run (finished steps are not re-run)?") }, "Resume"));
    const tl = timeline.querySelector("#pl-timeline");
    let rows = "";
    const series = [];
    for (const ph of s.phases) {
      const entry = ph.entry ? `<span class="tl-cell ${stepCls(ph.entry.status)}" title="${esc((ph.entry.problems || []).join("; "))}">entry gate: ${esc(ph.entry.status)}</span>` : "";
      const appr = ph.approval_required ? `<span class="tl-cell ${ph.approved ? "pass" : "run"}">approval: ${ph.approved ? "given" : "waiting"}</span>` : "";
      const its = ph.iterations.length ? ph.iterations : [{ iteration: "–", steps: [], checks: [] }];
      its.forEach((it, k) => {
        const steps = it.steps.map((st) => `<span class="tl-cell ${stepCls(st.status)}">${st.tasks && st.tasks.length ? st.tasks.map((t) => `<a href="#/task/${t}">${esc(st.step)}</a>`).join(" ") : esc(st.step)} · ${esc(st.status)}${st.duration ? ` ${fmtDur(st.duration)}` : ""}</span>`).join("");
        const gate = it.verdict ? `<span class="tl-cell ${stepCls(it.verdict)}">exit gate: ${it.score !== null ? it.score.toFixed(1) : "…"} / ${it.threshold ?? "?"} ${esc(it.verdict)}</span>` : "";
        rows += `<div class="tl-row" data-phase="${esc(ph.name)}"><div><b>${k === 0 ? esc(ph.name) : ""}</b> <span class="muted">#${it.iteration}${k > 0 ? " rework" : ""}</span> ${k === 0 ? `<span class="pill st-${ph.state === "failed" ? "failed" : ph.state === "passed" ? "ended" : "running"}">${esc(ph.state)}</span>` : ""}</div>`
          + `<div class="tl-cells">${k === 0 ? entry + appr : ""}${steps}${gate}</div></div>`;
      });
      const pts = ph.iterations.filter((it) => it.score !== null && it.score !== undefined).map((it) => ({ iteration: it.iteration, score: it.score, threshold: it.threshold, passed: it.verdict === "passed" }));
      if (pts.length) series.push({ phase: ph.name, points: pts });
    }
    tl.innerHTML = rows;
    chart.innerHTML = `<h3>Score vs threshold</h3>${series.length ? scoreChart(series) : '<p class="muted">No gate has been scored yet.</p>'}`;
    gates.innerHTML = "<h3>Exit gate checks</h3>" + s.phases.flatMap((ph) => ph.iterations.filter((it) => it.checks.length).map((it) => {
      const total = it.checks.reduce((a, c) => a + (c.weight || 0), 0) || 1;
      return `<h4>${esc(ph.name)} #${it.iteration}: ${it.score?.toFixed(1) ?? "…"} / ${it.threshold} — ${esc(it.verdict || "")}</h4><table class="plain gate-checks"><thead><tr><th>check</th><th>kind</th><th>weight</th><th>score</th><th>contributes</th><th>detail</th></tr></thead><tbody>`
        + it.checks.map((c) => `<tr class="${c.failed ? "err" : ""}"><td>${esc(c.name)}</td><td>${esc(c.kind)}</td><td>${c.weight}</td><td class="check-score">${c.score?.toFixed(1) ?? ""}</td><td>${((c.score || 0) * (c.weight || 0) / total).toFixed(1)}</td><td>${esc(c.detail || "")}${(c.tasks || []).map((t) => ` <a href="#/task/${t}">task ${t}</a>`).join("")}</td></tr>`).join("")
        + "</tbody></table>";
    })).join("");
  };
  let timer = null;
  const soon = () => { if (!timer) timer = setTimeout(() => { timer = null; render(); }, 300); };
  const off = rpc.onEvents((evs) => { if (evs.some((e) => e.type.startsWith("pipeline.") && (!e.data || e.data.run === id || e.data.run === undefined))) soon(); });
  const offRe = rpc.onReconnect(render);
  render();
  return () => { off(); offRe(); clearTimeout(timer); };
}
