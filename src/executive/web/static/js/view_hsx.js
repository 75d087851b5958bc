// HSX programs: the list (state, PC) and a debugger panel for one program: registers (changes
// highlighted), disassembly around the PC with symbols and source lines (click a line to toggle a
// breakpoint), step / next / continue / pause, the stack, a memory hex view, watches, the mailbox
// snapshot and the program's console output.

import { LogView } from "./logview.js";
import { rpc } from "./rpc.js";
import { store } from "./store.js";
import { el, esc, frameThrottle, hex, stateClass, typing } from "./util.js";

export function hsxListView(main) {
  main.append(el("h2", {}, "HSX programs"));
  const path = el("input", { id: "vm-path", placeholder: "path to a .hxe file on the daemon's machine", class: "grow", "aria-label": "HXE path" });
  const paused = el("input", { type: "checkbox", id: "vm-paused", checked: true });
  const msg = el("span", { role: "status" });
  const form = el("form", { class: "toolbar" }, el("strong", {}, "Load"), path, el("label", {}, paused, " paused"), el("button", { class: "primary", type: "submit" }, "Load"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await rpc.call("vm.load", { path: path.value.trim(), paused: paused.checked });
      location.hash = `#/hsx/${r.pid}`;
    } catch (e) { msg.textContent = e.message; msg.className = "err"; }
  });
  const table = el("div", { class: "card", id: "vm-list" });
  main.append(form, table);
  const render = async () => {
    let ps = { tasks: [] };
    try { ps = await rpc.call("vm.ps"); } catch (e) { /* reconnecting */ }
    const live = new Map(ps.tasks.map((t) => [t.pid, t]));
    const rows = [...store.tasks.values()].filter((t) => t.kind === "vm").sort((a, b) => b.id - a.id);
    table.innerHTML = rows.length ? `<table class="plain"><thead><tr><th>#</th><th>name</th><th>state</th><th>PC</th><th>steps</th><th>image</th></tr></thead><tbody>`
      + rows.map((t) => {
        const v = live.get(t.id);
        return `<tr><td>${t.id}</td><td><a href="#/hsx/${t.id}">${esc(t.name)}</a></td><td class="${stateClass(t)}">${esc(v ? v.vm_state : t.state)}${t.pause_reason ? ` (${esc(t.pause_reason)})` : ""}</td>`
          + `<td class="mono">${v ? hex(v.pc) : ""}</td><td>${v ? v.accounted_steps : ""}</td><td class="mono">${esc(t.image || "")}</td></tr>`;
      }).join("") + "</tbody></table>" : '<p class="muted">No HSX programs. Load one above or with <code>executive load</code>.</p>';
  };
  const throttled = frameThrottle(render);
  const off = store.onChange((w) => { if (w === "tasks") throttled(); });
  render();
  const timer = setInterval(render, 2000);
  return () => { off(); clearInterval(timer); };
}

export function hsxView(main, idText) {
  const id = Number(idText);
  const title = el("h2", { id: "hsx-title" }, `HSX program ${id}`);
  const err = el("div", { class: "err", id: "hsx-error", role: "alert" });
  const btn = (label, key, handler, idAttr) => el("button", { id: idAttr, title: `${label} (${key})`, onclick: handler }, label);
  const controls = el("div", { class: "toolbar", id: "hsx-controls" },
    btn("Step", "s", () => act("debug.step", { task: id, steps: 1 }), "dbg-step"),
    btn("Next", "n", () => act("debug.next", { task: id }), "dbg-next"),
    btn("Continue", "c", () => act("vm.resume", { task: id }), "dbg-continue"),
    btn("Pause", "z", () => act("vm.pause", { task: id }), "dbg-pause"),
    btn("Finish", "u", () => act("debug.finish", { task: id }), "dbg-finish"),
    el("span", { class: "pill", id: "hsx-state" }), el("span", { class: "mono", id: "hsx-pc" }));
  const regs = el("div", { class: "regs", id: "hsx-regs" });
  const disasm = el("div", { class: "disasm", id: "hsx-disasm", role: "listbox", "aria-label": "Disassembly; click or press Enter on a line to toggle a breakpoint" });
  const stack = el("div", { id: "hsx-stack" });
  const bps = el("div", { id: "hsx-bps", class: "mono" });
  const addr = el("input", { id: "mem-addr", value: "SP", size: 12, "aria-label": "Memory address (number, 0x…, register or symbol)" });
  const memOut = el("div", { class: "hex", id: "hsx-mem" });
  const watchIn = el("input", { id: "watch-expr", placeholder: "variable or address", size: 14, "aria-label": "Watch expression" });
  const watches = el("div", { id: "hsx-watches", class: "mono" });
  const mail = el("div", { id: "hsx-mailbox", class: "scroll", style: "max-height: 200px" });
  const consoleHolder = el("div", { class: "col", style: "height: 180px" });
  const codeAt = el("input", { id: "disasm-addr", placeholder: "symbol or 0x address", size: 16, "aria-label": "Show code at (symbol or address)" });
  const codeForm = el("form", { class: "toolbar" }, el("label", { for: "disasm-addr" }, "Code at"), codeAt, el("button", { type: "submit" }, "Show"),
    el("button", { type: "button", id: "disasm-pc", onclick: () => { disasmAt = null; codeAt.value = ""; refresh(); } }, "PC"));
  codeForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = codeAt.value.trim();
    disasmAt = v === "" ? null : /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : v;
    refresh();
  });
  const memForm = el("form", { class: "toolbar" }, el("label", { for: "mem-addr" }, "Address"), addr, el("button", { type: "submit" }, "Show"));
  memForm.addEventListener("submit", (ev) => { ev.preventDefault(); loadMem(); });
  const watchForm = el("form", { class: "toolbar" }, watchIn, el("button", { type: "submit" }, "Watch"));
  watchForm.addEventListener("submit", (ev) => { ev.preventDefault(); act("debug.watch.add", { task: id, expr: /^\d+$/.test(watchIn.value) ? Number(watchIn.value) : watchIn.value.trim() }).then(() => { watchIn.value = ""; }); });
  const card = (h, ...kids) => el("div", { class: "card" }, el("h3", {}, h), ...kids);
  main.append(title, controls, err, el("div", { class: "dbg" },
    el("div", { class: "col" }, card("Disassembly", codeForm, disasm), card("Console", consoleHolder), card("Memory", memForm, memOut)),
    el("div", { class: "col" }, card("Registers", regs), card("Stack", stack), card("Breakpoints", bps), card("Watches", watchForm, watches), card("Mailboxes", mail))));

  let disasmAt = null; // null: follow the PC; else the address or symbol the person asked for
  let prevRegs = null;
  let lastRegs = null;
  let state = null;
  const consoleView = new LogView(id, "stdout");
  consoleHolder.append(consoleView.root);
  consoleView.openEnd().catch(() => {});

  async function act(method, params) {
    err.textContent = "";
    if (/step|next|finish|resume|pause/.test(method)) disasmAt = null; // after running, show where it stopped
    try {
      await rpc.call(method, params);
    } catch (e) {
      err.textContent = `${method}: ${e.message}`;
    }
    await refresh();
  }

  const regName = (i) => (i < 16 ? `R${i}` : ["PC", "SP", "PSW"][i - 16]);
  const renderRegs = (s) => {
    const vals = [...s.regs, s.pc, s.sp, s.psw];
    if (lastRegs && lastRegs.join() !== vals.join()) prevRegs = lastRegs;
    lastRegs = vals;
    const changed = new Set((s.changed_regs || []).map((r) => (typeof r === "number" ? regName(r) : String(r).toUpperCase())));
    regs.innerHTML = vals.map((v, i) => {
      const name = regName(i);
      const ch = changed.has(name) || (prevRegs && prevRegs[i] !== v);
      return `<span class="${ch ? "changed" : ""}" data-reg="${name}" title="${v}">${name} ${hex(v, 8)}</span>`;
    }).join("");
  };
  const renderDisasm = (d) => {
    let html = "";
    let lastLine = null;
    for (const ins of d.instructions) {
      if (ins.label && ins.symbol_offset === 0) html += `<div class="sym">${esc(ins.label)}:</div>`;
      const where = ins.file ? `${ins.file}:${ins.line}` : "";
      if (where && where !== lastLine) html += `<div class="src">${esc(where)}</div>`;
      lastLine = where;
      html += `<div class="dl${ins.is_pc ? " pc" : ""}" role="option" tabindex="0" data-addr="${ins.pc}" aria-selected="${ins.is_pc}" title="click: toggle breakpoint at ${hex(ins.pc)}">`
        + `<span class="bp">${ins.breakpoint ? "●" : ""}</span><span>${hex(ins.pc)}</span><span>${ins.is_pc ? "▶ " : "  "}${esc(ins.text)}${ins.comment ? ` <span class="muted">; ${esc(ins.comment)}</span>` : ""}</span></div>`;
    }
    disasm.innerHTML = html;
  };
  const toggleBp = async (addrNum) => {
    const has = state && (state.breakpoints || []).includes(addrNum);
    await act(has ? "debug.bp.remove" : "debug.bp.add", { task: id, where: addrNum });
  };
  disasm.addEventListener("click", (ev) => { const d = ev.target.closest(".dl"); if (d) toggleBp(Number(d.dataset.addr)); });
  disasm.addEventListener("keydown", (ev) => {
    const d = ev.target.closest(".dl");
    if (!d) return;
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggleBp(Number(d.dataset.addr)); }
    else if (ev.key === "ArrowDown" && d.nextElementSibling) { (d.nextElementSibling.closest(".dl") || d.nextElementSibling.nextElementSibling)?.focus(); ev.preventDefault(); }
    else if (ev.key === "ArrowUp" && d.previousElementSibling) { d.previousElementSibling.focus(); ev.preventDefault(); }
  });

  async function loadMem() {
    try {
      let a = addr.value.trim();
      let n;
      if (/^0x[0-9a-f]+$/i.test(a)) n = parseInt(a, 16);
      else if (/^\d+$/.test(a)) n = Number(a);
      else {
        const r = await rpc.call("debug.eval", { task: id, expr: a });
        n = typeof r.value === "number" ? r.value : (r.address ?? parseInt(r.value, 16));
      }
      const r = await rpc.call("vm.mem_read", { task: id, addr: n & ~15, length: 256 });
      const bytes = r.data.match(/../g) || [];
      let out = "";
      for (let i = 0; i < bytes.length; i += 16) {
        const row = bytes.slice(i, i + 16);
        const ascii = row.map((b) => { const c = parseInt(b, 16); return c >= 32 && c < 127 ? String.fromCharCode(c) : "."; }).join("");
        out += `${hex(r.addr + i)}  ${row.join(" ").padEnd(47)}  ${esc(ascii)}\n`;
      }
      memOut.innerHTML = out;
    } catch (e) { memOut.textContent = e.message; }
  }

  async function refresh() {
    try {
      const [s, d, st, w, bl, mb] = await Promise.all([
        rpc.call("debug.state", { task: id }),
        rpc.call("debug.disasm", disasmAt === null ? { task: id, count: 24, before: 6 } : { task: id, addr: disasmAt, count: 24, before: 4 }),
        rpc.call("debug.stack", { task: id }).catch((e) => ({ frames: [], errors: [e.message] })),
        rpc.call("debug.watch.list", { task: id }),
        rpc.call("debug.bp.list", { task: id }),
        rpc.call("mailbox.snapshot"),
      ]);
      state = s;
      const row = store.tasks.get(id);
      title.textContent = `HSX program ${id}${row ? ` · ${row.name}` : ""}`;
      const stEl = controls.querySelector("#hsx-state");
      stEl.textContent = `${s.state}${s.pause_reason ? ` (${s.pause_reason})` : ""}`;
      stEl.dataset.state = s.state;
      stEl.className = `pill st-${s.state}`;
      controls.querySelector("#hsx-pc").textContent = `PC ${hex(s.pc)} ${s.symbol || ""}${s.line ? ` · ${s.line.file}:${s.line.line}` : ""} · ${s.steps} steps`;
      renderRegs(s);
      renderDisasm(d);
      stack.innerHTML = `<table class="plain"><tbody>${st.frames.map((f) => `<tr><td>#${f.index}</td><td class="mono">${hex(f.pc)}</td><td>${esc(f.func_name || f.symbol || "?")}${f.func_offset ? `+${f.func_offset}` : ""}</td><td class="muted">${esc(f.file ? `${f.file}:${f.line}` : "")}</td></tr>`).join("")}</tbody></table>${(st.errors || []).map((e) => `<div class="muted">${esc(e)}</div>`).join("")}`;
      bps.innerHTML = (bl.details || []).map((b) => `<div>● ${hex(b.address)} ${esc(b.symbol || b.where || "")} · hits ${b.hits} <button data-bp="${b.address}">delete</button></div>`).join("") || '<span class="muted">none — click a disassembly line</span>';
      watches.innerHTML = (w.watches || []).map((x) => `<div>${esc(x.expr)} @ ${hex(x.address)} = ${esc(x.value)} <button data-watch="${x.id}">remove</button></div>`).join("") || '<span class="muted">none</span>';
      const mine = (mb.descriptors || []).filter((m) => m.owner_pid === id || (m.waiters || []).some((x) => x.pid === id));
      mail.innerHTML = `<table class="plain"><thead><tr><th>target</th><th>owner</th><th>used</th><th>queue</th><th>waiters</th></tr></thead><tbody>${(mine.length ? mine : mb.descriptors || []).map((m) => `<tr><td class="mono">${esc(m.target)}</td><td>${m.owner_pid}</td><td>${m.bytes_used}/${m.capacity}</td><td>${m.queue_depth}</td><td>${(m.waiters || []).length}</td></tr>`).join("")}</tbody></table>`;
      err.textContent = s.fault ? `fault: ${JSON.stringify(s.fault)}` : "";
      if (!memOut.textContent) loadMem();
    } catch (e) {
      err.textContent = e.message;
    }
  }
  bps.addEventListener("click", (ev) => { const b = ev.target.closest("button[data-bp]"); if (b) act("debug.bp.remove", { task: id, where: Number(b.dataset.bp) }); });
  watches.addEventListener("click", (ev) => { const b = ev.target.closest("button[data-watch]"); if (b) act("debug.watch.remove", { task: id, id: Number(b.dataset.watch) }); });

  // A running program can emit thousands of events a second: refresh at most every 250 ms, one at a time.
  let busy = false;
  let again = false;
  let last = 0;
  const soon = () => {
    if (busy) { again = true; return; }
    busy = true;
    const wait = Math.max(0, 250 - (performance.now() - last));
    setTimeout(async () => {
      try { await refresh(); } finally {
        last = performance.now();
        busy = false;
        if (again) { again = false; soon(); }
      }
    }, wait);
  };
  const offEv = rpc.onEvents((evs) => {
    for (const e of evs) {
      if (e.pid !== id) continue;
      if (e.type === "output") consoleView.live(e);
      else soon();
    }
  });
  const offRe = rpc.onReconnect(() => { refresh(); consoleView.resume(); });
  const keys = (ev) => {
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const map = { s: "#dbg-step", n: "#dbg-next", c: "#dbg-continue", z: "#dbg-pause", u: "#dbg-finish" };
    if (map[ev.key]) { controls.querySelector(map[ev.key]).click(); ev.preventDefault(); }
  };
  document.addEventListener("keydown", keys);
  refresh();
  return () => { offEv(); offRe(); document.removeEventListener("keydown", keys); };
}
