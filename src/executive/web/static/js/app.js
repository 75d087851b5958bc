// The dashboard shell: hash routes, theme, connection badge, global keys.

import { rpc } from "./rpc.js";
import { store } from "./store.js";
import { typing } from "./util.js";
import { overviewView } from "./view_overview.js";
import { tasksView } from "./view_tasks.js";
import { taskView } from "./view_task.js";
import { eventsView } from "./view_events.js";
import { hsxListView, hsxView } from "./view_hsx.js";
import { pipelinesView, pipelineView } from "./view_pipelines.js";
import { agentsView, agentView, patchView } from "./view_agents.js";

const ROUTES = [
  [/^\/overview$/, overviewView, "overview"],
  [/^\/tasks$/, tasksView, "tasks"],
  [/^\/task\/(\d+)$/, taskView, "tasks"],
  [/^\/events$/, eventsView, "events"],
  [/^\/hsx$/, hsxListView, "hsx"],
  [/^\/hsx\/(\d+)$/, hsxView, "hsx"],
  [/^\/pipelines$/, pipelinesView, "pipelines"],
  [/^\/pipeline\/(\d+)$/, pipelineView, "pipelines"],
  [/^\/agents$/, agentsView, "agents"],
  [/^\/agent\/([\w.-]+)$/, agentView, "agents"],
  [/^\/patch\/(\d+)$/, patchView, "agents"],
];

let unmount = null;

function route() {
  const path = (location.hash || "#/overview").slice(1);
  const main = document.getElementById("main");
  if (unmount) { try { unmount(); } catch (e) { console.error(e); } unmount = null; }
  main.replaceChildren();
  main.className = "";
  for (const [re, view, section] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === `#/${section}`);
    unmount = view(main, ...m.slice(1)) || null;
    return;
  }
  location.hash = "#/overview";
}

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("executive.theme", theme);
}

function init() {
  const saved = localStorage.getItem("executive.theme");
  setTheme(saved || (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark"));
  document.getElementById("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
  const conn = document.getElementById("conn");
  rpc.onStatus((s, detail) => { conn.className = `conn ${s}`; conn.textContent = detail; conn.dataset.state = s; });
  document.addEventListener("keydown", (ev) => {
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "d") { document.getElementById("theme").click(); return; }
    const link = document.querySelector(`#nav a[data-key="${ev.key}"]`);
    if (link && !ev.defaultPrevented) { location.hash = link.getAttribute("href"); ev.preventDefault(); }
  });
  window.addEventListener("hashchange", route);
  rpc.start();
  store.start();
  route();
}

init();
