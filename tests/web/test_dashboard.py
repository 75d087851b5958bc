"""The dashboard in a real browser (Debian's Chromium through Playwright): sign-in, live output,
table actions, a 200 MB log, a pipeline run page, the HSX debugger, reconnects.

Each test saves a screenshot (build/screenshots/; `make screenshots` refreshes the README's).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.async_api import expect
from websockets.asyncio.client import connect

from executive.pipeline.template import write_template

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


async def test_sign_in_refusal_and_cookie_origin(daemon: Any, open_dashboard: Any) -> None:
    dash = await open_dashboard(daemon.info, daemon.token)
    page = dash.page
    # Without the cookie the page itself redirects to the login form.
    await page.goto(dash.base + "/")
    assert page.url.endswith("/login")
    await page.fill("#token", "not-the-token")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-message.error")
    assert "not this daemon's token" in await page.inner_text("#login-message")
    await dash.shot("login-refused")
    # Nothing but the login page and static assets answers without the cookie.
    for path in ("/auth/check", "/download/1/stdout"):
        r = await page.request.get(dash.base + path)
        assert r.status == 401, path
    assert (await page.request.get(dash.base + "/static/app.css")).status == 200
    dash.errors.clear()  # the refused sign-in answered 401, which the console reports
    await dash.sign_in()
    assert await page.inner_text("#conn") == "live"
    assert not dash.errors, dash.errors
    # The cookie works on /rpc only from a page of this host: another Origin gets no access.
    cookie = f"executive_token={daemon.token}"
    url = daemon.url
    host = f"http://{daemon.info['host']}:{daemon.info['port']}"
    for origin, allowed in (("http://evil.example", False), (host, True)):
        async with connect(url, additional_headers={"Cookie": cookie, "Origin": origin}) as ws:
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "daemon.health"}))
            reply = orjson.loads(await ws.recv())
            assert ("result" in reply) is allowed, (origin, reply)
            if not allowed:
                assert reply["error"]["code"] == 1001


async def test_running_task_output_appears_live(daemon: Any, client: Any, open_dashboard: Any) -> None:
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    script = (
        "printf 'plain line\\n\\033[31mred line\\033[0m\\n'; echo 'to stderr' >&2; "
        "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo tick $i; sleep 0.05; done"
    )
    task = await client.call("task.run", argv=["sh", "-c", script], name="ticker")
    await dash.go(f"#/task/{task['id']}")
    log = dash.page.locator("#log-stdout")
    await log.get_by_text("tick 20", exact=True).wait_for(timeout=20000)
    # Later output keeps arriving while the page stays open (follow mode).
    await log.get_by_text("tick 40", exact=True).wait_for(timeout=20000)
    red = log.locator("span", has_text="red line")
    assert "color" in (await red.get_attribute("style") or "")
    texts = await log.locator(".ln").all_inner_texts()
    ticks = [t for t in texts if t.startswith("tick ")]
    assert len(ticks) == len(set(ticks)), "a line was shown twice"
    # Search marks the hits in the window.
    await dash.page.fill("#log-search", "tick 7")
    await dash.page.press("#log-search", "Enter")
    await log.locator("mark.cur", has_text="tick 7").wait_for()
    # The process tree: the shell and its sleep, with CPU and RSS.
    await dash.page.locator("#task-procs td", has_text="sleep").first.wait_for(timeout=10000)
    await dash.shot("task-live-output")
    await dash.page.click("#tab-stderr")
    await dash.page.locator("#log-stderr").get_by_text("to stderr").wait_for()
    assert not dash.errors, dash.errors
    await client.call("task.kill", task=task["id"])


async def test_a_dropped_connection_resumes_the_log_without_gaps_or_duplicates(
    daemon: Any, client: Any, open_dashboard: Any
) -> None:
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    task = await client.call(
        "task.run", argv=["sh", "-c", "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo tick $i; sleep 0.02; done"]
    )
    await dash.go(f"#/task/{task['id']}")
    log = dash.page.locator("#log-stdout")
    await log.get_by_text("tick 10", exact=True).wait_for(timeout=20000)
    # Drop the socket and stay away for two seconds while the task keeps writing.
    await dash.page.evaluate("() => import('/static/js/rpc.js').then(m => { m.rpc.backoff = 2000; m.rpc.ws.close(); })")
    await dash.page.wait_for_selector("#conn[data-state=bad]")
    await dash.page.wait_for_selector("#conn[data-state=ok]", timeout=20000)
    await client.call("task.wait", task=task["id"], timeout=60)
    await log.get_by_text("tick 300", exact=True).wait_for(timeout=20000)
    ticks = [t for t in await log.locator(".ln").all_inner_texts() if t.startswith("tick ")]
    assert ticks == [f"tick {i}" for i in range(1, 301)]
    await dash.shot("log-after-reconnect")
    assert not dash.errors, dash.errors


async def test_pause_and_resume_from_the_table(daemon: Any, client: Any, open_dashboard: Any) -> None:
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    tasks = [await client.call("task.run", argv=["sleep", "60"], name=f"sleeper-{i}") for i in range(3)]
    target = tasks[1]["id"]
    await dash.go("#/tasks")
    row = dash.page.locator(f'#task-table .vrow[data-id="{target}"]')
    await row.wait_for()
    await row.locator('button[data-act="pause"]').click()
    await dash.page.locator(f'#task-table .vrow[data-id="{target}"][data-state="paused"]').wait_for(timeout=10000)
    assert (await client.call("task.info", task=target))["state"] == "paused"
    await dash.shot("tasks-paused")
    await row.locator('button[data-act="resume"]').click()
    await dash.page.locator(f'#task-table .vrow[data-id="{target}"][data-state="running"]').wait_for(timeout=10000)
    assert (await client.call("task.info", task=target))["state"] == "running"
    # An action the daemon refuses shows its error in the row; nothing else changes.
    await client.call("task.kill", task=tasks[0]["id"])
    await client.call("task.wait", task=tasks[0]["id"], timeout=10)
    await dash.page.evaluate(
        "id => import('/static/js/view_tasks.js').then(m => m.taskAction('pause', id).catch(() => {}))", tasks[0]["id"]
    )
    err = dash.page.locator(f'#task-table .vrow[data-id="{tasks[0]["id"]}"] .rowerr')
    await err.wait_for(timeout=10000)
    assert "cannot pause" in await err.inner_text()
    assert not dash.errors, dash.errors
    for t in tasks[1:]:
        await client.call("task.kill", task=t["id"])


async def test_a_200mb_log_opens_at_its_last_line(daemon: Any, client: Any, open_dashboard: Any) -> None:
    code = (
        "import sys\n"
        "line = b'x' * 99 + b'\\n'\n"
        "block = line * 10000\n"
        "for _ in range(200):\n"
        "    sys.stdout.buffer.write(block)\n"
        "sys.stdout.buffer.write(b'THE VERY LAST LINE\\n')\n"
    )
    task = await client.call("task.run", argv=[sys.executable, "-c", code], name="big")
    done = await client.call("task.wait", task=task["id"], timeout=120)
    assert done["exit_code"] == 0
    info = await client.call("task.info", task=task["id"])
    assert info["output_bytes"]["stdout"] > 200_000_000
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    await dash.go(f"#/task/{task['id']}")
    last = dash.page.locator("#log-stdout").get_by_text("THE VERY LAST LINE")
    await last.wait_for(timeout=30000)
    assert await last.is_visible()
    box = await last.bounding_box()
    log_box = await dash.page.locator("#log-stdout").bounding_box()
    assert box is not None and log_box is not None
    assert log_box["y"] <= box["y"] <= log_box["y"] + log_box["height"], "the last line is not scrolled into view"
    # Only a window of the log is in the page, not 200 MB.
    lines = await dash.page.locator("#log-stdout .ln").count()
    assert 0 < lines < 30000
    status = await dash.page.inner_text("#log-status")
    assert status.endswith(f"of {info['output_bytes']['stdout']:,}")
    await dash.shot("task-200mb-log")

    # Scrolling up reads the window before, by offset: the first byte shown moves back.
    def first_byte(text: str) -> int:
        return int(text.split("–")[0].split()[-1].replace(",", ""))

    shown = first_byte(status)
    await dash.page.locator("#log-stdout").evaluate("el => { el.scrollTop = 0; }")
    for _ in range(100):
        if first_byte(await dash.page.inner_text("#log-status")) < shown:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("scrolling to the top did not load the earlier window")
    # Jumping to the start reads the first window by offset.
    await dash.page.click("#log-start")
    await dash.page.locator("#log-stdout .edge", has_text="start of log").wait_for()
    assert not dash.errors, dash.errors


async def test_pipeline_run_page_shows_phases_scores_and_chart(
    daemon: Any, client: Any, open_dashboard: Any, tmp_path: Path
) -> None:
    path = write_template(tmp_path / "demo")
    run = await client.call("pipeline.run", path=str(path), requirement="a command that greets people")
    await client.call("pipeline.wait", run=run["id"], timeout=120)
    status = await client.call("pipeline.status", run=run["id"])
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    await dash.go(f"#/pipeline/{run['id']}")
    page = dash.page
    await page.locator("#pl-timeline .tl-row").first.wait_for()
    phases = [p["name"] for p in status["phases"]]
    shown = await page.locator("#pl-timeline .tl-row").evaluate_all("rows => rows.map(r => r.dataset.phase)")
    assert sorted(set(shown)) == sorted(phases)
    # Each gate check with its weight and score.
    first = status["phases"][0]["iterations"][0]["checks"][0]
    row = page.locator("#pl-gates tr", has_text=first["name"]).first
    cells = await row.locator("td").all_inner_texts()
    assert cells[2] == f"{first['weight']:g}" and cells[3] == f"{first['score']:.1f}"
    # The chart: one point per scored iteration, labels that do not overlap.
    scored = sum(1 for p in status["phases"] for it in p["iterations"] if it["score"] is not None)
    assert await page.locator("#pl-chart svg circle").count() == scored
    boxes = await page.locator("#pl-chart svg text.plabel").evaluate_all(
        "ts => ts.map(t => { const b = t.getBBox(); return [b.x, b.y, b.width, b.height]; })"
    )
    assert len(boxes) == scored
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
            assert not overlap, (a, b)
    await dash.shot("pipeline-starter")
    assert not dash.errors, dash.errors


REWORK_PIPELINE = """
name: rework
phases:
  - name: build
    steps:
      - name: make
        command: [sh, -c, "if [ -e first ]; then touch second; else touch first; fi"]
    checks:
      - {name: first_made, kind: command, command: [test, -e, first], weight: 1, owners: [make]}
      - {name: second_made, kind: command, command: [test, -e, second], weight: 1, owners: [make]}
  - name: ship
    entry:
      approval: true
    steps:
      - {name: package, command: [sh, -c, "echo shipped > shipped.txt"]}
    checks:
      - {name: shipped, kind: files_exist, paths: [shipped.txt], owners: [package]}
"""


async def test_pipeline_rework_rows_chart_and_approval_from_the_page(
    daemon: Any, client: Any, open_dashboard: Any, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "pipeline.yaml").write_text(REWORK_PIPELINE)
    run = await client.call("pipeline.run", path=str(work / "pipeline.yaml"), requirement="ship it")
    for _ in range(200):
        if (await client.call("pipeline.info", run=run["id"]))["state"] == "waiting_approval":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the run did not reach its approval gate")
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    await dash.go(f"#/pipeline/{run['id']}")
    page = dash.page
    # The first gate scores 50 (below 60), the rework iteration 100: two rows and two points.
    await page.locator('#pl-timeline .tl-row[data-phase="build"]').nth(1).wait_for()
    assert "rework" in await page.locator('#pl-timeline .tl-row[data-phase="build"]').nth(1).inner_text()
    scores = await page.locator("#pl-gates h4").all_inner_texts()
    assert scores[0].startswith("build #1: 50.0 / 60") and scores[1].startswith("build #2: 100.0 / 75")
    assert await page.locator("#pl-chart svg circle.dot-fail").count() == 1
    assert await page.locator("#pl-chart svg circle.dot-pass").count() == 1
    await dash.shot("pipeline-run")
    questions: list[str] = []

    async def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await page.click('button[data-approve="ship"]')
    await page.locator("#pl-state", has_text="passed").wait_for(timeout=30000)
    assert questions == ["Approve phase “ship”?"]
    assert (work / "shipped.txt").read_text() == "shipped\n"
    assert await page.locator("#pl-chart svg circle").count() == 3
    await dash.shot("pipeline-approved")
    assert not dash.errors, dash.errors


async def test_hsx_breakpoint_toggle_and_continue_stops_there(
    daemon: Any, client: Any, open_dashboard: Any, tmp_path: Path
) -> None:
    hxe = tmp_path / "fact.hxe"
    subprocess.run(
        [sys.executable, "-m", "executive", "hsx", "asm", str(ROOT / "examples" / "fact.mvasm"), "-o", str(hxe)],
        check=True,
        capture_output=True,
    )
    loaded = await client.call("vm.load", path=str(hxe), paused=True)
    pid = loaded["pid"]
    target = (await client.call("debug.sym.lookup", task=pid, name="fact_done"))["symbol"]["address"]
    dash = await open_dashboard(daemon.info, daemon.token)
    await dash.sign_in()
    await dash.go(f"#/hsx/{pid}")
    page = dash.page
    await page.locator("#hsx-disasm .dl.pc").wait_for()
    # fact_done lies below the code around the PC: show the code at the symbol, then click its line.
    await page.fill("#disasm-addr", "fact_done")
    await page.press("#disasm-addr", "Enter")
    line = page.locator(f'#hsx-disasm .dl[data-addr="{target}"]')
    await line.click()
    await page.locator(f'#hsx-disasm .dl[data-addr="{target}"] .bp', has_text="●").wait_for()
    assert (await client.call("debug.bp.list", task=pid))["breakpoints"] == [target]
    await page.click("#dbg-continue")
    await page.locator(f'#hsx-disasm .dl.pc[data-addr="{target}"]').wait_for(timeout=15000)
    assert "debug_break" in await page.inner_text("#hsx-state")
    state = await client.call("debug.state", task=pid)
    assert state["pc"] == target and state["state"] == "paused"
    assert await page.locator("#hsx-regs .changed").count() > 0
    await dash.shot("hsx-debugger")
    assert not dash.errors, dash.errors


async def test_overview_on_a_desktop_and_on_a_phone_in_the_light_theme(
    daemon: Any, client: Any, open_dashboard: Any
) -> None:
    for i in range(3):
        await client.call("task.run", argv=["sh", "-c", f"echo {i}; exit {i}"], name=f"quick-{i}")
    await client.call("task.run", argv=["sleep", "30"], name="long")
    await client.call("task.run", argv=["sh", "-c", "while :; do echo busy; sleep 0.01; done"], name="chatty")
    desk = await open_dashboard(daemon.info, daemon.token)
    await desk.sign_in()
    # The sparklines draw once two one-second samples have been taken; wait for a few more.
    await expect(desk.page.locator("#ov-rates svg.sparkline path.spark[d^=M]")).to_have_count(2, timeout=20000)
    await desk.page.wait_for_timeout(4000)
    by_state = await desk.page.inner_text("#ov-by-state")
    assert "ended 3" in by_state and "running 2" in by_state
    await desk.shot("overview")
    await desk.go("#/events")
    await desk.page.locator("#ev-list .vrow").first.wait_for()
    await desk.page.fill("#ev-type", "task_state")
    await desk.page.locator("#ev-list .vrow", has_text="quick-2").first.wait_for()
    assert set(await desk.page.locator("#ev-list .vrow span:nth-child(2)").all_inner_texts()) == {"task_state"}
    await desk.shot("events")
    assert not desk.errors, desk.errors
    dash = await open_dashboard(daemon.info, daemon.token, width=390, height=844, theme="light")
    await dash.sign_in()
    await dash.page.locator("#ov-failures a", has_text="quick-2").wait_for(timeout=10000)
    assert await dash.page.evaluate("document.documentElement.dataset.theme") == "light"
    width = await dash.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    await dash.shot("overview-phone-light")
    await dash.go("#/tasks")
    await dash.page.locator("#task-table .vrow[data-id]").first.wait_for()
    await dash.shot("tasks-phone-light")
    assert not dash.errors, dash.errors


async def test_reconnects_after_the_daemon_restarts(daemon_process: Any, open_dashboard: Any, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = daemon_process(extra=["--port", str(port)])
    info = proc.start()
    token = (proc.home / "token").read_text().strip()
    dash = await open_dashboard(info, token)
    await dash.sign_in()
    c = await proc.client()
    first = await c.call("task.run", argv=["sh", "-c", "echo before-restart"], name="before")
    await c.close()
    await dash.go("#/events")
    await dash.page.locator("#ev-list .vrow", has_text="stdout @0: before-restart").wait_for(timeout=10000)
    proc.stop()
    await dash.page.wait_for_selector("#conn[data-state=bad]", timeout=20000)
    await dash.shot("reconnecting")
    info = proc.start()
    await dash.page.wait_for_selector("#conn[data-state=ok]", timeout=30000)
    c = await proc.client()
    second = await c.call("task.run", argv=["sh", "-c", "echo after-restart"], name="after")
    await c.close()
    await dash.page.locator("#ev-list .vrow", has_text="stdout @0: after-restart").wait_for(timeout=15000)
    seqs = await dash.page.evaluate(
        "import('/static/js/store.js').then(m => m.store.events.map(e => e.seq + ':' + e.type + ':' + e.pid))"
    )
    assert len(seqs) == len(set(seqs)), "an event was delivered twice"
    await dash.go("#/tasks")
    await dash.page.locator(f'#task-table .vrow[data-id="{second["id"]}"]').wait_for(timeout=10000)
    await dash.page.locator(f'#task-table .vrow[data-id="{first["id"]}"]').wait_for(timeout=10000)
    await dash.shot("reconnected")
    # A replaced token signs the page out: back to the login page, saying why.
    proc.stop()
    (proc.home / "token").write_text("a-brand-new-token-nobody-has\n")
    (proc.home / "token").chmod(0o600)
    proc.start()
    await dash.page.wait_for_url("**/login?error=expired", timeout=30000)
    assert "no longer valid" in await dash.page.inner_text("#login-message")
    await asyncio.sleep(0)
