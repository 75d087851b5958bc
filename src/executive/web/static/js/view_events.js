// The live event stream: filter by type and task, pause the view; survives reconnects because the
// connection re-subscribes with since_seq (rpc.js) and the ring in store.js never holds a seq twice.

import { store } from "./store.js";
import { el, esc, fmtTime, frameThrottle } from "./util.js";

const ROW_H = 22;

export function eventsView(main) {
  main.className = "fill";
  const typeIn = el("input", { id: "ev-type", placeholder: "type (e.g. task_state)", "aria-label": "Event type", list: "ev-types" });
  const types = el("datalist", { id: "ev-types" });
  const taskIn = el("input", { id: "ev-task", placeholder: "task id", size: 8, "aria-label": "Task id", inputmode: "numeric" });
  const pause = el("button", { id: "ev-pause", "aria-pressed": "false" }, "Pause view");
  const count = el("span", { class: "muted", id: "ev-count" });
  const box = el("div", { class: "vtable evlist", id: "ev-list", tabindex: "0", role: "log", "aria-label": "Events" });
  box.style.setProperty("--cols-narrow", "60px 110px 40px 1fr");
  const body = el("div", { class: "vbody" });
  const win = el("div", { class: "vwin" });
  body.append(win);
  box.append(body);
  main.append(el("h2", {}, "Events"), el("div", { class: "toolbar" }, typeIn, types, taskIn, pause, count), box);

  let paused = false;
  let rows = [];
  let follow = true;
  const rebuild = () => {
    const t = typeIn.value.trim();
    const id = taskIn.value.trim() === "" ? null : Number(taskIn.value.trim());
    rows = store.events.filter((e) => (!t || e.type === t || e.type.startsWith(t)) && (id === null || e.pid === id));
    const seen = new Set(store.events.slice(-2000).map((e) => e.type));
    if (seen.size !== types.children.length) types.replaceChildren(...[...seen].sort().map((s) => el("option", { value: s })));
    count.textContent = `${rows.length} events shown · last seq ${store.events.length ? store.events[store.events.length - 1].seq : "—"}`;
  };
  const paint = () => {
    if (!paused) rebuild();
    body.style.height = `${rows.length * ROW_H}px`;
    if (follow && !paused) box.scrollTop = box.scrollHeight;
    const first = Math.max(0, Math.floor(box.scrollTop / ROW_H) - 5);
    const n = Math.ceil(box.clientHeight / ROW_H) + 10;
    win.style.transform = `translateY(${first * ROW_H}px)`;
    win.innerHTML = rows.slice(first, first + n).map((e) => {
      const data = e.type === "output" ? `${e.data.stream} @${e.data.offset}: ${(e.data.data ?? "[binary]").slice(0, 160)}` : JSON.stringify(e.data);
      return `<div class="vrow" data-seq="${e.seq}"><span>${e.seq}</span><span title="${fmtTime(e.ts)}">${esc(e.type)}</span><span>${e.pid ?? ""}</span><span title="${esc(data.slice(0, 2000))}">${esc(data.slice(0, 400))}</span></div>`;
    }).join("");
  };
  const repaint = frameThrottle(paint);
  box.addEventListener("scroll", () => { follow = box.scrollTop + box.clientHeight >= box.scrollHeight - ROW_H; repaint(); }, { passive: true });
  pause.addEventListener("click", () => { paused = !paused; pause.setAttribute("aria-pressed", String(paused)); pause.textContent = paused ? "Resume view" : "Pause view"; repaint(); });
  for (const i of [typeIn, taskIn]) i.addEventListener("input", repaint);
  const off = store.onChange((what) => { if (what === "events") repaint(); });
  paint();
  return off;
}
