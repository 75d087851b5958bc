"""Pipeline benchmark: checkpoint write latency, and the per-step cost of a pipeline.

1. Checkpoint writes: one durable (synchronous=FULL, IMMEDIATE) transaction per
   step start and per step end, measured directly on the store and through the
   daemon's writer thread (what a running pipeline pays).  Target: median < 10 ms.
2. Per-step overhead: the same N trivial commands run (a) directly with
   asyncio subprocesses, (b) as daemon tasks one after another, and (c) as the
   steps of one pipeline phase (checkpoints, events, a one-check exit gate).
   Printed as milliseconds per step and as ratios against (a), all in this run.

Run: ``.venv/bin/python bench/pipeline.py [--steps N] [--writes N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from executive.pipeline import checkpoints as cp  # noqa: E402
from executive.service import Executive  # noqa: E402
from executive.store.sqlite import SqliteStore as Store  # noqa: E402


def _quiet() -> None:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _run_row(workdir: str) -> dict[str, object]:
    return {
        "name": "bench",
        "mode": "run",
        "source": "",
        "content": "name: bench",
        "content_sha": "0",
        "requirement": "",
        "workdir": workdir,
        "thresholds": {},
        "options": {},
        "state": "running",
    }


def bench_checkpoints_direct(home: Path, writes: int) -> list[float]:
    store = Store(home / "direct.db")
    run_id = cp.create_run(store, _run_row(str(home)))
    out = []
    for seq in range(1, writes // 2 + 1):
        op = {"kind": "step", "name": f"step:p:1:s{seq}", "phase": "p", "iteration": 1, "step": f"s{seq}"}
        t0 = time.perf_counter()
        cp.op_start(store, run_id, seq, op)
        t1 = time.perf_counter()
        cp.op_end(store, run_id, seq, "step", "ok", {"status": "ok", "tasks": [seq], "duration": 0.01})
        t2 = time.perf_counter()
        out += [t1 - t0, t2 - t1]
    store.close()
    return out


async def bench_checkpoints_writer(ex: Executive, writes: int) -> list[float]:
    run_id = await ex.store.call(cp.create_run, _run_row(str(ex.home)))
    out = []
    for seq in range(1, writes // 2 + 1):
        op = {"kind": "step", "name": f"step:p:1:s{seq}", "phase": "p", "iteration": 1, "step": f"s{seq}"}
        t0 = time.perf_counter()
        await ex.store.call(cp.op_start, run_id, seq, op)
        t1 = time.perf_counter()
        await ex.store.call(cp.op_end, run_id, seq, "step", "ok", {"status": "ok"})
        t2 = time.perf_counter()
        out += [t1 - t0, t2 - t1]
    return out


async def run_direct(argv: list[str], n: int, cwd: str) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        await proc.communicate()
    return time.perf_counter() - t0


async def run_tasks(ex: Executive, argv: list[str], n: int, cwd: str) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        task = await ex.task_run(argv, cwd=cwd)
        await ex.task_wait(task["id"])
    return time.perf_counter() - t0


async def run_pipeline(ex: Executive, argv: list[str], n: int, cwd: str) -> float:
    steps = "".join(f"      - {{name: s{i}, command: [{', '.join(argv)}]}}\n" for i in range(n))
    text = (
        "name: bench\nphases:\n  - name: p\n    steps:\n"
        + steps
        + "    checks:\n      - {name: here, kind: files_exist, paths: [.], owners: [s0]}\n"
    )
    t0 = time.perf_counter()
    run = await ex.pipelines.run(text=text, workdir=cwd)
    info = await ex.pipelines.wait(run["id"], timeout=600)
    elapsed = time.perf_counter() - t0
    assert info["state"] == "passed", info
    return elapsed


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1e3:.2f} ms, p95 {xs[int(len(xs) * 0.95) - 1] * 1e3:.2f} ms"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="commands per measurement")
    ap.add_argument("--writes", type=int, default=400, help="checkpoint writes per measurement")
    ap.add_argument(
        "--dir", default=None, help="where the database goes (default: the system temp dir; fsync cost depends on it)"
    )
    args = ap.parse_args()
    _quiet()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-", dir=args.dir) as tmp:
        home = Path(tmp)
        direct = bench_checkpoints_direct(home, args.writes)
        ex = await Executive.open(home / "home")
        try:
            via_writer = await bench_checkpoints_writer(ex, args.writes)
            print(
                f"checkpoint write, durable (synchronous=FULL), direct on the store: {_ms(direct)}  ({len(direct)} writes)"
            )
            print(
                f"checkpoint write, through the daemon's writer thread:            {_ms(via_writer)}  (target: median < 10 ms)"
            )
            argv = ["true"]
            n = args.steps
            await run_direct(argv, 3, tmp)  # warm up
            t_direct = await run_direct(argv, n, tmp)
            t_tasks = await run_tasks(ex, argv, n, tmp)
            t_pipe = await run_pipeline(ex, argv, n, tmp)
            per = {k: v / n * 1e3 for k, v in (("direct", t_direct), ("tasks", t_tasks), ("pipeline", t_pipe))}
            print(
                f"{n} steps of `true`, per step: direct {per['direct']:.2f} ms · daemon tasks {per['tasks']:.2f} ms · "
                f"pipeline {per['pipeline']:.2f} ms (incl. one exit gate)"
            )
            print(
                f"ratio against direct: daemon tasks {t_tasks / t_direct:.2f}x · pipeline {t_pipe / t_direct:.2f}x; "
                f"pipeline overhead per step: {per['pipeline'] - per['direct']:.2f} ms over direct, "
                f"{per['pipeline'] - per['tasks']:.2f} ms over bare tasks"
            )
        finally:
            await ex.aclose()


if __name__ == "__main__":
    asyncio.run(main())
