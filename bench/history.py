"""Calls that should not grow with history: health, task.list, `executive ps` and start-up at 10k / 100k tasks.

A: a daemon whose store holds N finished tasks (``--sizes``, default 10,000 and 100,000).
B (same run): a daemon on an empty store (0 tasks).  Measured, sides alternating round by
round:

* ``daemon.health`` round trip (median of ``--calls`` calls per round),
* one ``task.list`` call with default parameters (median of 10 per round; reply size noted),
  against the empty daemon and, since an empty daemon's reply is an empty page that no full
  page can match, also against a daemon holding exactly one default page of tasks (the same
  page; what this isolates is the cost of the history behind it),
* ``executive ps`` as a user runs it (a new process, wall time until it exits 0),
* daemon start-up: spawn to daemon.json written (store open, restore, port bound), and
  the daemon's RSS right then.

The history is made realistic and fast: a few real tasks are run once by an
:class:`Executive` to get true rows, log rows and log files, then cloned N times through
the store layer (one transaction) with a log directory per task, as the daemon leaves
them.  Each home is built once and reused for every measurement of the run (``--keep DIR``
keeps it for later runs too: 100,000 log directories take minutes on a slow disk).
Targets: health and a page of task.list within 1.2x of empty, start-up < 1.5 s, RSS < 150 MiB
at 100,000 tasks (for task.list the target is judged against the one-page daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _harness
import orjson
import psutil

from executive.api.client import Client
from executive.logs import configure_logging
from executive.service import Executive
from executive.service.task_history import DEFAULT_PAGE
from executive.store.sqlite import SqliteStore

TEMPLATE_COMMANDS = [
    ["sh", "-c", "echo compiling module 1 of 3; echo 'warning: unused variable' >&2"],
    ["true"],
    ["sh", "-c", "printf 'FAILED test_parse\\n'; exit 3"],
    ["sh", "-c", "seq 1 20"],
]
DAY = 86400.0


async def _template_tasks(home: Path) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """Real finished tasks: their rows and log contents, from a scratch daemon service."""
    ex = await Executive.open(home)
    try:
        for argv in TEMPLATE_COMMANDS:
            t = await ex.task_run(argv, cwd=str(home))
            await ex.task_wait(t["id"])
    finally:
        await ex.aclose()
    store = SqliteStore(home / "executive.db")
    try:
        out = []
        for row in store.load_tasks(len(TEMPLATE_COMMANDS)):
            logs = {  # a stream that printed nothing has no file (runtimes/logwriter.py): it reads as empty
                r["stream"]: Path(r["path"]).read_bytes() if Path(r["path"]).exists() else b""
                for r in store.query("SELECT stream, path FROM task_logs WHERE task_id=?", (row["id"],))
            }
            out.append((dict(row), logs))
        return out
    finally:
        store.close()


async def _init_home(home: Path) -> None:
    """Schema and layout as the daemon makes them."""
    ex = await Executive.open(home)
    await ex.aclose()


def build_home(home: Path, n: int, templates: list[tuple[dict[str, Any], dict[str, bytes]]]) -> float:
    """A state directory whose store holds ``n`` finished tasks; returns the seconds it took."""
    t0 = time.perf_counter()
    asyncio.run(_init_home(home))
    store = SqliteStore(home / "executive.db")
    tasks_dir = home / "tasks"
    start = time.time() - 30 * DAY
    try:
        with store.transaction() as c:
            for i in range(1, n + 1):
                row, logs = templates[i % len(templates)]
                created = start + i * (30 * DAY / max(n, 1))
                took = (row["ended"] or row["started"] or row["created"]) - row["created"]
                clone = dict(row, id=i, name=f"{row['kind']}-{i}", created=created, started=created + 0.01)
                clone.update(ended=created + took, pid=1000 + i % 60000, pid_start=None)
                spec = clone.pop("spec", None)  # load_tasks joins it in; it lives in its own table
                store.insert(c, "tasks", clone)
                if spec:
                    store.insert(c, "task_specs", {"task_id": i, "spec": spec})
                d = tasks_dir / str(i)
                d.mkdir(parents=True, exist_ok=True)
                for stream, data in logs.items():
                    path = d / f"{stream}.log"
                    if data:  # as the daemon leaves them: no file for a stream that printed nothing
                        path.write_bytes(data)
                    store.insert(c, "task_logs", {"task_id": i, "stream": stream, "path": str(path), "size": len(data)})
    finally:
        store.close()
    return time.perf_counter() - t0


async def _median_ms(c: Client, method: str, n: int) -> tuple[float, Any]:
    times = []
    reply: Any = None
    for _ in range(n):
        t0 = time.perf_counter()
        reply = await c.call(method)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, reply


def ps_seconds(home: Path, expect_rows: bool) -> float:
    """Wall time of `executive ps` against the daemon of ``home``; it must succeed."""
    env = dict(os.environ, EXECUTIVE_HOME=str(home), PYTHONPATH=str(_harness.ROOT / "src"))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "executive", "ps"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0 or ("no tasks" in out.stdout) == expect_rows:
        raise RuntimeError(f"executive ps on {home} failed ({out.returncode}): {out.stdout[-300:]}{out.stderr[-300:]}")
    return elapsed


def startup(home: Path, rss: list[float]) -> float:
    with _harness.BenchDaemon(home=home) as d:
        assert d.proc is not None
        rss.append(psutil.Process(d.proc.pid).memory_info().rss / 2**20)
        return d.started_in


async def _compare(
    bench: _harness.Bench,
    case: str,
    method: str,
    per_round: int,
    a: Client,
    a_label: str,
    b: Client,
    b_label: str,
    target: bool = True,
) -> float:
    """Interleaved medians of ``method`` on two daemons; records them and returns the median ratio.

    ``target``: judge the ratio against the 1.2x target (False: the comparison is shown for scale only).
    """
    await _median_ms(a, method, 5)
    await _median_ms(b, method, 5)
    sizes: dict[Client, int] = {}

    async def on(c: Client) -> float:
        ms, reply = await _median_ms(c, method, per_round)
        sizes[c] = len(orjson.dumps(reply))
        return ms

    xs, ys = await _harness.interleave_async(bench.rounds, lambda: on(a), lambda: on(b))
    ratio = statistics.median(_harness.ratios(xs, ys))
    if target:
        note = f"target within 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}"
    else:
        note = "for scale only (no full page can match an empty one): the target is judged on the same page, next"
    if method == "task.list":
        note += f"; reply {sizes[a]:,} B on A, {sizes[b]:,} B on B"
    bench.record(case, "call time", "ms", a_label, xs, b_label, ys, better="lower", note=note)
    return ratio


async def calls(
    bench: _harness.Bench,
    n: int,
    full: _harness.BenchDaemon,
    empty: _harness.BenchDaemon,
    one_page: _harness.BenchDaemon,
) -> None:
    a, b, p = await full.client(), await empty.client(), await one_page.client()
    k = bench.args.calls
    label = f"daemon with {n:,} tasks"
    try:
        await _compare(
            bench, f"{n:,} finished tasks: daemon.health, median of {k} calls per round", "daemon.health", k,
            a, label, b, "daemon with 0 tasks",
        )  # fmt: skip
        await _compare(
            bench, f"{n:,} finished tasks: task.list (a default page), median of 10 calls per round", "task.list", 10,
            a, label, b, "daemon with 0 tasks (an empty page)", target=False,
        )  # fmt: skip
        await _compare(
            bench,
            f"{n:,} finished tasks: task.list (a default page) against the same page on a daemon holding only it",
            "task.list", 10, a, label, p, f"daemon with {DEFAULT_PAGE} tasks",
        )  # fmt: skip
    finally:
        await a.close()
        await b.close()
        await p.close()


def measure(bench: _harness.Bench, n: int, home: Path, empty: Path, one_page: Path) -> None:
    rss_a: list[float] = []
    rss_b: list[float] = []
    xs, ys = _harness.interleave(bench.rounds, lambda: startup(home, rss_a), lambda: startup(empty, rss_b))
    bench.record(
        f"{n:,} finished tasks: daemon start-up (spawn to daemon.json)",
        "start-up time",
        "s",
        f"{n:,} tasks",
        xs,
        "0 tasks",
        ys,
        better="lower",
        note=f"target < 1.5 s: {'met' if statistics.median(xs) < 1.5 else 'NOT met'}",
    )
    bench.record(
        f"{n:,} finished tasks: daemon RSS after start-up",
        "RSS",
        "MiB",
        f"{n:,} tasks",
        rss_a,
        "0 tasks",
        rss_b,
        better="lower",
        note=f"target < 150 MiB: {'met' if statistics.median(rss_a) < 150 else 'NOT met'}",
    )
    with (
        _harness.BenchDaemon(home=home) as full,
        _harness.BenchDaemon(home=empty) as bare,
        _harness.BenchDaemon(home=one_page) as page,
    ):
        asyncio.run(calls(bench, n, full, bare, page))
        ps_seconds(home, True)  # warm the interpreter's file cache for both
        xs, ys = _harness.interleave(bench.rounds, lambda: ps_seconds(home, True), lambda: ps_seconds(empty, False))
    bench.record(
        f"{n:,} finished tasks: `executive ps` (a new CLI process)",
        "wall time",
        "s",
        f"{n:,} tasks",
        xs,
        "0 tasks",
        ys,
        better="lower",
    )


def main() -> None:
    def options(ap: argparse.ArgumentParser) -> None:
        ap.add_argument(
            "--sizes", default="10000,100000", help="finished tasks per history, comma-separated (default 10000,100000)"
        )
        ap.add_argument("--calls", type=int, default=300, help="daemon.health calls per round and side (default 300)")
        ap.add_argument(
            "--keep",
            type=Path,
            default=None,
            help="build the histories in this directory once and reuse them on later runs (default: a temp dir)",
        )

    with _harness.Bench("history", __doc__.splitlines()[0], options=options) as bench:
        sizes = [int(s) for s in bench.args.sizes.split(",") if s.strip()]
        configure_logging(level="warning")
        with tempfile.TemporaryDirectory(prefix="executive-bench-history-") as tmp:
            root = Path(bench.args.keep or tmp)
            templates = asyncio.run(_template_tasks(Path(tmp) / "template"))
            empty = root / "empty"
            shutil.rmtree(empty, ignore_errors=True)
            build_home(empty, 0, templates)
            one_page = root / "one-page"
            shutil.rmtree(one_page, ignore_errors=True)
            build_home(one_page, DEFAULT_PAGE, templates)
            for n in sizes:
                home = root / f"home-{n}"
                marker = home / "bench-history.json"
                if bench.args.keep and marker.exists() and orjson.loads(marker.read_bytes()).get("tasks") == n:
                    print(f"history: reusing the home with {n:,} finished tasks in {home}", flush=True)
                else:
                    shutil.rmtree(home, ignore_errors=True)
                    took = build_home(home, n, templates)
                    marker.write_bytes(orjson.dumps({"tasks": n}))
                    print(f"history: built a home with {n:,} finished tasks in {took:.1f} s", flush=True)
                measure(bench, n, home, empty, one_page)
                if not bench.args.keep:
                    shutil.rmtree(home)


if __name__ == "__main__":
    main()
