"""The dashboard in headless Chromium: first paint of 2,000 tasks, the end of a 200 MB log, 10,000 events/s.

Three numbers, each next to a baseline measured in the same run and the same browser:

1. First contentful paint (and first table rows) of ``#/tasks`` with 2,000 tasks.  Baseline: a
   plain HTML page holding the same 2,000 rows as one ``<table>`` (what a page without virtual
   rendering would paint).
2. Time from opening a task page to its 200 MB log's last line on screen.  Baseline: one
   ``task.output`` call for the same last window from a Python client (the transport floor).
3. The longest main-thread block (PerformanceObserver ``longtask``) and the frames drawn while
   10,000 events/s arrive on the events page for 10 s.  Baseline: the same page idle.
   Targets: < 500 ms, < 1 s, no block > 100 ms.

Needs Debian's Chromium (``make browser``) and the ``playwright`` package (test extra).
"""

from __future__ import annotations

import asyncio
import html
import os
import sys
import time
from typing import Any

import _harness

CHROMIUM = os.environ.get("EXECUTIVE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
N_TASKS = 2000
EVENTS_PER_S = 10_000
EVENT_SECONDS = 10.0

BIG_LOG = (
    "import sys\n"
    "line = b'x' * 99 + b'\\n'\n"
    "block = line * 10000\n"
    "for _ in range(200):\n"
    "    sys.stdout.buffer.write(block)\n"
    "sys.stdout.buffer.write(b'THE VERY LAST LINE\\n')\n"
)

FCP_JS = """() => new Promise(resolve => {
  const done = () => {
    const e = performance.getEntriesByName('first-contentful-paint')[0];
    if (e) resolve(e.startTime); else setTimeout(done, 20);
  };
  done();
})"""

# Records performance.now() when a selector first matches (Playwright's own polling adds its latency).
SEEN_JS = """(() => {
  window.__seen = {};
  const watch = {rows: '#task-table .vrow[data-id]', last: '#log-stdout .ln:last-child'};
  new MutationObserver(() => {
    for (const [k, sel] of Object.entries(watch)) {
      if (window.__seen[k]) continue;
      const el = document.querySelector(sel);
      if (el && (k !== 'last' || el.textContent === 'THE VERY LAST LINE')) window.__seen[k] = performance.now();
    }
  }).observe(document, {subtree: true, childList: true});
})()"""

WATCH_JS = """() => {
  window.__bench = {longest: 0, longtasks: 0, frames: 0, t0: performance.now()};
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) {
      window.__bench.longtasks++;
      window.__bench.longest = Math.max(window.__bench.longest, e.duration);
    }
  }).observe({type: 'longtask', buffered: false});
  const tick = () => { window.__bench.frames++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


async def make_tasks(c: Any, n: int) -> None:
    """n finished process tasks (run in batches below the queue limit)."""
    made = 0
    while made < n:
        batch = min(200, n - made)
        rows = [await c.call("task.run", argv=["true"], name=f"bench-{made + i}") for i in range(batch)]
        for r in rows:
            await c.call("task.wait", task=r["id"], timeout=60)
        made += batch


async def signed_in_context(browser: Any, base: str, token: str) -> Any:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await ctx.new_page()
    await page.goto(base + "/login")
    await page.fill("#token", token)
    await page.click("#login-submit")
    await page.wait_for_selector("#conn[data-state=ok]")
    await page.close()
    return ctx


async def tasks_paint(ctx: Any, base: str) -> tuple[float, float]:
    page = await ctx.new_page()
    await page.add_init_script(SEEN_JS)
    await page.goto(base + "/#/tasks")
    fcp = await page.evaluate(FCP_JS)
    await page.wait_for_selector("#task-table .vrow[data-id]")
    rows = await page.evaluate("window.__seen.rows")
    await page.close()
    return float(fcp), float(rows)


async def plain_table_paint(ctx: Any, rows: list[dict[str, Any]]) -> float:
    body = "".join(
        f"<tr><td>{r['id']}</td><td>{r['state']}</td><td>{r['kind']}</td><td>{html.escape(r['name'])}</td>"
        f"<td>{html.escape(' '.join(r['argv'] or []))}</td><td>{r['exit_code']}</td></tr>"
        for r in rows
    )
    page = await ctx.new_page()
    await page.route(
        "**/plain", lambda route: route.fulfill(body=f"<!doctype html><table>{body}</table>", content_type="text/html")
    )
    await page.goto("http://127.0.0.1:1/plain")
    fcp = await page.evaluate(FCP_JS)
    await page.close()
    return float(fcp)


async def log_end(ctx: Any, base: str, task_id: int) -> float:
    page = await ctx.new_page()
    await page.add_init_script(SEEN_JS)
    await page.goto(base + "/#/overview")
    await page.wait_for_selector("#conn[data-state=ok]")
    t0 = await page.evaluate("performance.now()")
    await page.evaluate(f"location.hash = '#/task/{task_id}'")
    await page.locator("#log-stdout").get_by_text("THE VERY LAST LINE").wait_for(timeout=60000)
    t1 = await page.evaluate("window.__seen.last")
    await page.close()
    return float(t1 - t0)


async def events_flood(ctx: Any, base: str, c: Any, rate: int, seconds: float) -> dict[str, float]:
    page = await ctx.new_page()
    await page.goto(base + "/#/events")
    await page.wait_for_selector("#conn[data-state=ok]")
    await page.evaluate(WATCH_JS)
    tick = 0.1
    per_tick = int(rate * tick)
    start = time.perf_counter()
    sent = 0
    while time.perf_counter() - start < seconds:
        if per_tick:
            await c.call("bench.emit", count=per_tick, size=16, burst=per_tick)
            sent += per_tick
        next_at = start + (sent / rate if rate else time.perf_counter() - start + tick)
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()) if rate else tick)
    elapsed = time.perf_counter() - start
    await asyncio.sleep(0.5)  # let the last batch render
    out = await page.evaluate("() => ({...window.__bench, t: performance.now() - window.__bench.t0})")
    out["sent"] = sent
    out["rate"] = sent / elapsed if elapsed else 0.0
    await page.close()
    return out


async def main_async(d: _harness.BenchDaemon) -> None:
    from playwright.async_api import async_playwright

    base = f"http://{d.info['host']}:{d.info['port']}"
    c = await d.client()
    await make_tasks(c, N_TASKS)
    big = await c.call("task.run", argv=[sys.executable, "-c", BIG_LOG], name="big-log")
    await c.call("task.wait", task=big["id"], timeout=300)
    info = await c.call("task.info", task=big["id"])
    size = info["output_bytes"]["stdout"]
    t0 = time.perf_counter()
    await c.call("task.output", task=big["id"], offset=max(0, size - 256 * 1024), limit=256 * 1024)
    rpc_floor = (time.perf_counter() - t0) * 1000
    rows: list[dict[str, Any]] = []  # every task, a page at a time (the dashboard loads its pages the same way)
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = await c.call("task.list", **params)
        rows += page["tasks"]
        if page["next"] is None:
            break
        params["before_id"] = page["next"]

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = await signed_in_context(browser, base, d.token)
        plain = await plain_table_paint(ctx, rows)
        fcp, first_rows = await tasks_paint(ctx, base)
        end_ms = await log_end(ctx, base, big["id"])
        idle = await events_flood(ctx, base, c, 0, 3.0)
        flood = await events_flood(ctx, base, c, EVENTS_PER_S, EVENT_SECONDS)
        await browser.close()
    await c.close()

    met = {True: "met", False: "NOT met"}
    fps = flood["frames"] / (flood["t"] / 1000)
    idle_fps = idle["frames"] / (idle["t"] / 1000)
    lines = [
        f"tasks page, {len(rows):,} tasks: first contentful paint {fcp:.0f} ms, rows shown at {first_rows:.0f} ms",
        f"  baseline plain 2,000-row table: first contentful paint {plain:.0f} ms; ratio {fcp / plain:.2f}",
        f"  target < 500 ms: first paint {met[fcp < 500]}, rows {met[first_rows < 500]}",
        f"{size / 1e6:.0f} MB log: last line on screen {end_ms:.0f} ms after opening the task page",
        f"  baseline one task.output call for the last window from Python: {rpc_floor:.0f} ms; "
        f"ratio {end_ms / max(rpc_floor, 1):.1f}",
        f"  target < 1000 ms: {met[end_ms < 1000]}",
        f"{flood['rate']:,.0f} events/s for {EVENT_SECONDS:.0f} s on the events page: longest main-thread block "
        f"{flood['longest']:.0f} ms ({flood['longtasks']:.0f} tasks > 50 ms), {fps:.0f} frames/s",
        f"  baseline the same page idle: longest block {idle['longest']:.0f} ms, {idle_fps:.0f} frames/s",
        f"  target no block > 100 ms: {met[flood['longest'] <= 100]}",
    ]
    for line in lines:
        print(f"dashboard: {line}")


def main() -> None:
    if not os.path.exists(CHROMIUM):
        print(f"dashboard: skipped, no Chromium at {CHROMIUM} (make browser)")
        return
    with _harness.BenchDaemon() as d:
        asyncio.run(main_async(d))


if __name__ == "__main__":
    main()
