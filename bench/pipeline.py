"""Pipeline benchmark: checkpoint write latency, and the per-step cost of a pipeline.

1. Checkpoint writes: one durable (synchronous=FULL, IMMEDIATE) transaction per
   step start and per step end, measured directly on the store and through the
   daemon's writer thread (what a running pipeline pays).  Target: median < 10 ms.
2. Per-step overhead: the same N trivial commands run (a) directly with
   asyncio subprocesses, (b) as daemon tasks one after another, and (c) as the
   steps of one pipeline phase (checkpoints, events, a one-check exit gate).
   Printed as milliseconds per step and as ratios against (a), all in this run.

Both parts run ``--rounds`` times (the sides alternating, the per-step runs rotating
their order), each round giving one sample per side: the median write latency, the
milliseconds per step.

Run: ``.venv/bin/python bench/pipeline.py [--rounds N] [--steps N] [--writes N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

import _harness

from executive.pipeline import checkpoints as cp
from executive.service import Executive
from executive.store.sqlite import SqliteStore as Store


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


def bench_checkpoints_direct(home: Path, writes: int, round_: int) -> list[float]:
    store = Store(home / f"direct-{round_}.db")
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
    run = await ex.pipelines.run(text=text, workdir=cwd, requirement="benchmark: trivial steps")
    info = await ex.pipelines.wait(run["id"], timeout=600)
    elapsed = time.perf_counter() - t0
    assert info["state"] == "passed", info
    return elapsed


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1e3:.2f} ms, p95 {xs[int(len(xs) * 0.95) - 1] * 1e3:.2f} ms"


async def checkpoints(bench: _harness.Bench, ex: Executive, home: Path, writes: int) -> None:
    rounds = iter(range(bench.rounds))
    p95s: list[str] = []

    async def writer() -> float:
        xs = await bench_checkpoints_writer(ex, writes)
        p95s.append(_ms(xs))
        return statistics.median(xs) * 1e3

    async def direct() -> float:
        return statistics.median(bench_checkpoints_direct(home, writes, next(rounds))) * 1e3

    xs, ys = await _harness.interleave_async(bench.rounds, writer, direct)
    bench.record(
        f"checkpoint write, durable (synchronous=FULL), {writes} writes per round",
        "median write latency",
        "ms",
        "through the daemon's writer thread",
        xs,
        "direct on the store",
        ys,
        better="lower",
        note=f"target: median < 10 ms; writer thread per round: {'; '.join(p95s)}",
    )


async def steps(bench: _harness.Bench, ex: Executive, tmp: str, n: int) -> None:
    argv = ["true"]
    await run_direct(argv, 3, tmp)  # warm up
    sides = {
        "direct": lambda: run_direct(argv, n, tmp),
        "tasks": lambda: run_tasks(ex, argv, n, tmp),
        "pipeline": lambda: run_pipeline(ex, argv, n, tmp),
    }
    per: dict[str, list[float]] = {k: [] for k in sides}
    order = list(sides)
    for r in range(bench.rounds):
        for k in order[r % 3 :] + order[: r % 3]:  # rotate so drift hits every side alike
            per[k].append(await sides[k]() / n * 1e3)
    for k, label in (("tasks", "daemon tasks one after another"), ("pipeline", "steps of one pipeline phase")):
        over = statistics.median(per[k]) - statistics.median(per["direct"])
        bench.record(
            f"{n} x `true` as {label}",
            "time per step",
            "ms",
            label,
            per[k],
            "direct asyncio subprocesses",
            per["direct"],
            better="lower",
            note=f"{over:.2f} ms per step over direct (medians)" + (" incl. one exit gate" if k == "pipeline" else ""),
        )


async def run(bench: _harness.Bench) -> None:
    args = bench.args
    _quiet()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-", dir=args.dir) as tmp:
        home = Path(tmp)
        ex = await Executive.open(home / "home")
        try:
            await checkpoints(bench, ex, home, args.writes)
            await steps(bench, ex, tmp, args.steps)
        finally:
            await ex.aclose()


def main() -> None:
    def options(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--steps", type=int, default=40, help="commands per measurement")
        ap.add_argument("--writes", type=int, default=400, help="checkpoint writes per measurement")
        ap.add_argument(
            "--dir",
            default=None,
            help="where the database goes (default: the system temp dir; fsync cost depends on it)",
        )

    with _harness.Bench("pipeline", __doc__.splitlines()[0], options=options) as bench:
        asyncio.run(run(bench))


if __name__ == "__main__":
    main()
