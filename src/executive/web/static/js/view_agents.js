// Agent runs: the list; one run's conversation as it happens (messages, tool calls with inputs and
// results, errors and retries), cost and tokens, its diff; the patch ledger with a side-by-side
// diff and apply / rollback / commit behind a confirmation.

import { rpc } from "./rpc.js";
import { sideBySide, splitFiles } from "./diffview.js";
import { el, esc, fmtDur, fmtTime } from "./util.js";

export function agentsView(main) {
  main.append(el("h2", {}, "Agent runs"));
  const runs = el("div", { class: "card", id: "agent-runs" });
  const patches = el("div", { class: "card", id: "patch-list" });
  main.append(runs, el("h2", { style: "margin-top:16px" }, "Patch ledger"), patches);
  const render = async () => {
    try {
      const [rs, ps] = await Promise.all([rpc.call("agent.runs", { limit: 500 }), rpc.call("patch.list", { limit: 500 })]);
      runs.innerHTML = rs.length ? `<table class="plain"><thead><tr><th>task</th><th>agent</th><th>state</th><th>prompt</th><th>cost</th><th>tokens in/out</th><th>files</th><th>started</th></tr></thead><tbody>`
        + rs.slice().reverse().map((r) => `<tr><td><a href="#/agent/${r.task_id}">${r.task_id}</a></td><td>${esc(r.agent)}</td><td class="${r.ok === false ? "st-failed" : r.state === "done" ? "st-ended" : "st-running"}">${esc(r.state)}${r.ok === false ? " ✗" : ""}</td>`
          + `<td>${esc((r.prompt || "").slice(0, 120))}</td><td>${r.cost_usd != null ? `$${r.cost_usd.toFixed(4)}` : ""}</td><td>${r.tokens ? `${r.tokens.input ?? ""}/${r.tokens.output ?? ""}` : ""}</td><td>${(r.files || []).length}</td><td>${fmtTime(r.started)}</td></tr>`).join("") + "</tbody></table>"
        : '<p class="muted">No agent runs yet (<code>executive agent run</code>).</p>';
      patches.innerHTML = ps.length ? `<table class="plain"><thead><tr><th>#</th><th>title</th><th>state</th><th>workspace</th><th>files</th><th>updated</th></tr></thead><tbody>`
        + ps.slice().reverse().map((p) => `<tr><td><a href="#/patch/${p.id}">${p.id}</a></td><td>${esc(p.title || "")}</td><td>${esc(p.state)}</td><td class="mono">${esc(p.workspace)}</td><td>${(p.files || []).map((f) => `${esc(f.new_path || f.old_path)} +${f.added}/−${f.removed}`).join(", ")}</td><td>${fmtTime(p.updated)}</td></tr>`).join("") + "</tbody></table>"
        : '<p class="muted">No patches in the ledger.</p>';
    } catch (e) { runs.innerHTML = `<p class="err">${esc(e.message)}</p>`; }
  };
  render();
  let timer = null;
  const off = rpc.onEvents((evs) => {
    if (!evs.some((e) => !e.replayed && (e.type === "agent.result" || e.type.startsWith("patch") || (e.type === "task_state" && e.data.kind === "agent")))) return;
    clearTimeout(timer);
    timer = setTimeout(render, 300);
  });
  return () => { off(); clearTimeout(timer); };
}

function eventHtml(e) {
  const d = e.data || {};
  switch (e.type) {
    case "agent.session": return `<div class="msg"><div class="who">session ${esc(d.session_id || "")} · ${esc(d.model || "")}</div>${d.resumed_from ? `resumed from ${esc(d.resumed_from)}` : ""}</div>`;
    case "agent.message": return `<div class="msg ${d.role === "assistant" ? "assistant" : ""}"><div class="who">${esc(d.role)}</div>${esc(d.text)}</div>`;
    case "agent.tool_call": return `<div class="msg tool"><div class="who">tool call ${esc(d.name)} (${esc(d.id)})</div><pre>${esc(JSON.stringify(d.input, null, 1))}</pre></div>`;
    case "agent.tool_result": return `<div class="msg tool ${d.is_error ? "error" : ""}"><div class="who">tool result ${esc(d.id)}${d.is_error ? " — error" : ""}</div><pre>${esc(String(d.output ?? "").slice(0, 4000))}</pre></div>`;
    case "agent.result": return `<div class="msg ${d.ok ? "" : "error"}"><div class="who">result: ${d.ok ? "ok" : "failed"} ${esc(d.subtype || "")}</div>${esc(d.text || "")}${(d.errors || []).map((x) => `<div class="err">${esc(typeof x === "string" ? x : JSON.stringify(x))}</div>`).join("")}</div>`;
    default:
      if (e.type.startsWith("agent.")) return `<div class="msg ${/error|retry/.test(e.type) ? "error" : ""}"><div class="who">${esc(e.type)}</div>${esc(JSON.stringify(d))}</div>`;
      return "";
  }
}

export function agentView(main, idText) {
  const id = Number(idText);
  const title = el("h2", {}, `Agent run · task ${id}`);
  const facts = el("div", { class: "card", id: "agent-facts" });
  const conv = el("div", { class: "card conv", id: "agent-conv" });
  const diff = el("div", { class: "card", id: "agent-diff" });
  main.append(title, el("div", { class: "split" }, el("div", { class: "col" }, conv), el("div", { class: "col" }, facts, diff)));
  const seen = { n: 0 };
  const renderFacts = async () => {
    try {
      const r = await rpc.call("agent.wait", { task: id, timeout: 0 });
      const run = r.run || {};
      const t = run.tokens || {};
      facts.innerHTML = `<h3>Run</h3><dl class="kv"><dt>agent</dt><dd>${esc(run.agent || "")}</dd><dt>state</dt><dd>${esc(run.state || r.task?.state || "")}${run.ok === false ? ' <span class="err">failed</span>' : ""}</dd>`
        + `<dt>prompt</dt><dd>${esc(run.prompt || "")}</dd><dt>cwd</dt><dd class="mono">${esc(run.cwd || "")}</dd><dt>cost</dt><dd>${run.cost_usd != null ? `$${run.cost_usd.toFixed(4)}` : ""}</dd>`
        + `<dt>tokens</dt><dd>in ${t.input ?? "–"} · out ${t.output ?? "–"} · cache read ${t.cache_read ?? "–"} · write ${t.cache_write ?? "–"}</dd><dt>turns</dt><dd>${run.turns ?? ""}</dd>`
        + `<dt>took</dt><dd>${run.ended ? fmtDur(run.ended - run.started) : ""}</dd><dt>errors</dt><dd class="err">${(run.errors || []).map((x) => esc(typeof x === "string" ? x : JSON.stringify(x))).join("<br>")}</dd>`
        + `<dt>log</dt><dd><a href="#/task/${id}">task ${id}</a></dd></dl>`;
      const d = await rpc.call("agent.diff", { task: id });
      diff.innerHTML = `<h3>Diff (${(d.files || []).length} files)</h3>${d.diff ? sideBySide(d.diff) : '<p class="muted">No changes.</p>'}`;
    } catch (e) { facts.innerHTML = `<p class="err">${esc(e.message)}</p>`; }
  };
  const renderConv = async () => {
    try {
      const r = await rpc.call("agent.replay", { task: id });
      conv.innerHTML = "<h3>Conversation</h3>" + r.events.map(eventHtml).join("") + (r.truncated ? '<p class="muted">(truncated)</p>' : "");
      seen.n = r.events.length;
    } catch (e) { conv.innerHTML = `<p class="err">${esc(e.message)}</p>`; }
  };
  renderConv();
  renderFacts();
  let timer = null;
  const off = rpc.onEvents((evs) => {
    const mine = evs.filter((e) => e.pid === id && e.type.startsWith("agent.") && !e.replayed); // replayed: in agent.replay
    if (mine.length) conv.insertAdjacentHTML("beforeend", mine.map(eventHtml).join(""));
    if (evs.some((e) => e.pid === id && (e.type === "agent.result" || e.type === "task_state"))) {
      clearTimeout(timer);
      timer = setTimeout(renderFacts, 300);
    }
  });
  const offRe = rpc.onReconnect(() => { renderConv(); renderFacts(); });
  return () => { off(); offRe(); clearTimeout(timer); };
}

export function patchView(main, idText) {
  const id = Number(idText);
  const title = el("h2", { id: "patch-title" }, `Patch ${id}`);
  const facts = el("div", { class: "card" });
  const acts = el("div", { class: "toolbar" });
  const msg = el("div", { role: "alert" });
  const diff = el("div", { class: "card", id: "patch-diff" });
  main.append(title, facts, acts, msg, diff);
  const act = async (method, params, question) => {
    if (!confirm(question)) return;
    msg.textContent = "";
    msg.className = "";
    try {
      const r = await rpc.call(method, method === "patch.apply" ? params : { patch: id, ...params });
      msg.textContent = `${method}: ${r.state || "done"} ${r.reason || ""}`;
      msg.className = "ok";
      if (method === "patch.apply" && r.id !== id) { location.hash = `#/patch/${r.id}`; return; } // a new ledger entry
    } catch (e) { msg.textContent = `${method}: ${e.message}`; msg.className = "err"; }
    render();
  };
  const render = async () => {
    try {
      const p = await rpc.call("patch.show", { patch: id, text: true });
      title.textContent = `Patch ${id} · ${p.title || ""}`;
      facts.innerHTML = `<dl class="kv"><dt>state</dt><dd id="patch-state">${esc(p.state)}</dd><dt>reason</dt><dd>${esc(p.reason || "")}</dd><dt>workspace</dt><dd class="mono">${esc(p.workspace)}</dd>`
        + `<dt>source</dt><dd>${esc(p.source)}${p.agent_task ? ` · <a href="#/agent/${p.agent_task}">agent task ${p.agent_task}</a>` : ""}</dd><dt>commit</dt><dd class="mono">${esc(p.commit_id || "")}</dd>`
        + `<dt>history</dt><dd>${(p.transitions || []).map((t) => `${fmtTime(t.at)} ${esc(t.to)} — ${esc(t.reason || "")}`).join("<br>")}</dd></dl>`;
      acts.replaceChildren(
        el("button", { id: "patch-apply", disabled: p.state === "applied" || p.state === "committed", onclick: () => act("patch.apply", { diff: p.text, cwd: p.workspace }, `Apply this patch to ${p.workspace}?`) }, "Apply"),
        el("button", { id: "patch-rollback", class: "danger", disabled: p.state !== "applied", onclick: () => act("patch.rollback", {}, "Roll this patch back (restore the previous files)?") }, "Rollback"),
        el("button", { id: "patch-commit", disabled: p.state !== "applied", onclick: () => act("patch.commit", {}, "Commit this patch's paths?") }, "Commit"));
      diff.innerHTML = splitFiles(p.text || "").map((f) => `<h3 class="mono">${esc(f.name)}</h3>${sideBySide(f.body.join("\n"))}`).join("") || '<p class="muted">(no text)</p>';
    } catch (e) { facts.innerHTML = `<p class="err">${esc(e.message)}</p>`; }
  };
  render();
}
