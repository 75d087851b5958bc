"""Process tasks on a two-node local Ray cluster against the same tasks on this machine.

The benchmark starts its own cluster (``ray start --head`` with 1 CPU, plus a second node with
1 CPU and the resource ``node_b``, small object stores) and stops it at the end.  Both sides
run through one in-process :class:`~executive.service.Executive` each (same event loop, same
code path up to the runtime), so the difference is the runtime: local processes against Ray
actors pumping output back by offset.

(a) wall time of ``--tasks`` tasks that each burn one CPU-second, placed ``{"on": "ray"}``
    (one CPU each) on the two one-CPU nodes, against a local daemon limited to one running
    task (a one-CPU runtime); target: a speed-up (B/A) of >= 1.8x.
(b) MB/s of one task writing ``--mb`` MB to stdout into the daemon's log, on node_b against a
    local task; the log is sha256-checked against what the task wrote; target >= 0.5x.
(c) latency from ``task.cancel`` to the task's end, the whole tree gone (a setsid grandchild
    included), for a task on node_b against a local one.

Without Ray (``make cluster`` installs it) it prints ``skipped`` and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _harness
import psutil

BURN = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass\n"
# The same bytes on both sides: 64 KiB blocks derived from their index.
WRITE = (
    "import hashlib, sys\nout = sys.stdout.buffer\n"
    "for i in range({blocks}):\n    out.write(hashlib.sha256(str(i).encode()).digest() * 2048)\n"
)
# A tree with a setsid grandchild; it names its three processes in the file given as $1.
TREE = (
    'sleep 300 & echo $! > "$1.tmp"; setsid sleep 300 & echo $! >> "$1.tmp"; '
    'echo $$ >> "$1.tmp"; mv "$1.tmp" "$1"; wait'
)
ON_B = {"on": "ray", "resources": {"node_b": 1}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """A head with 1 CPU and node_b with 1 CPU, on 127.0.0.1, in a private temp dir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="exb", dir="/tmp"))  # Ray's socket paths must stay short
        self.address = f"127.0.0.1:{_free_port()}"
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
        exe = Path(sys.executable).with_name("ray")
        self.cli = str(exe) if exe.exists() else (shutil.which("ray") or "ray")

    def _ray(self, *args: str) -> None:
        out = subprocess.run([self.cli, *args], env=self.env, capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args[:2])} failed: {out.stderr[-1500:]}")

    def __enter__(self) -> LocalCluster:
        small = ["--num-cpus", "1", "--object-store-memory", "80000000", "--disable-usage-stats"]
        port = self.address.rsplit(":", 1)[1]
        self._ray(
            "start", "--head", "--port", port, "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
            "--temp-dir", str(self.root), *small,
        )  # fmt: skip
        self._ray(
            "start", "--address", self.address, "--node-ip-address", "127.0.0.1",
            "--resources", json.dumps({"node_b": 1}), *small,
        )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            import ray

            ray.shutdown()
        finally:
            subprocess.run([self.cli, "stop", "--force"], env=self.env, capture_output=True, timeout=180)
            shutil.rmtree(self.root, ignore_errors=True)


async def _all_end(ex: Any, ids: list[int]) -> None:
    for tid in ids:
        end = await ex.task_wait(tid, timeout=600)
        if end["end_reason"] != "exited" or end["exit_code"] != 0:
            raise RuntimeError(f"task {tid} ended {end['end_reason']} ({end.get('end_detail', '')})")


async def burn(ex: Any, n: int, placement: dict[str, Any] | None) -> float:
    """Wall seconds for ``n`` one-CPU-second tasks to start and end."""
    t0 = time.perf_counter()
    rows = await asyncio.gather(*(ex.task_run([sys.executable, "-c", BURN], placement=placement) for _ in range(n)))
    await _all_end(ex, [r["id"] for r in rows])
    return time.perf_counter() - t0


async def stream(ex: Any, home: Path, mb: int, placement: dict[str, Any] | None, want: _harness.Digest) -> float:
    """MB/s of one task's stdout into the daemon's log (sha256-checked)."""
    blocks = mb * 16
    t0 = time.perf_counter()
    t = await ex.task_run([sys.executable, "-c", WRITE.format(blocks=blocks)], placement=placement)
    await _all_end(ex, [t["id"]])
    took = time.perf_counter() - t0
    got = _harness.Digest()
    with open(home / "tasks" / str(t["id"]) / "stdout.log", "rb") as f:
        while chunk := f.read(1 << 20):
            got.update(chunk)
    _harness.verify(f"{mb} MB through the daemon's log", want, got)
    return blocks * 65536 / 1e6 / took


def _alive(pids: list[int]) -> list[int]:
    """The pids still running (a zombie has ended: only its parent's wait is missing)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            continue
    return out


async def cancel_latency(ex: Any, placement: dict[str, Any] | None, work: Path) -> float:
    """Seconds from task.cancel to the task's end with every process of its tree gone.

    The tree names its processes in a file: a task on node_b runs under that node's worker,
    whose containment this process cannot see (both nodes share this machine's pids).
    """
    pid_file = work / f"tree-{time.monotonic_ns()}"
    t = await ex.task_run(["sh", "-c", TREE, "tree", str(pid_file)], placement=placement)
    tid = t["id"]
    deadline = time.monotonic() + 120
    while not pid_file.exists():  # sh, sleep and the setsid sleep all run
        if time.monotonic() > deadline:
            raise RuntimeError(f"task {tid}'s tree never started")
        await asyncio.sleep(0.02)
    pids = [int(x) for x in pid_file.read_text().split()]
    t0 = time.perf_counter()
    ex.task_cancel(tid)
    end = await ex.task_wait(tid, timeout=120)
    while _alive(pids):
        await asyncio.sleep(0.005)
    took = time.perf_counter() - t0
    if end["end_reason"] != "cancelled":
        raise RuntimeError(f"task {tid} ended {end['end_reason']}, not cancelled")
    return took


async def run(bench: _harness.Bench, address: str, work: Path) -> None:
    from executive.kernel.limits import DEFAULT_LIMITS
    from executive.logs import configure_logging
    from executive.service import Executive

    configure_logging(level="warning")

    one_cpu = dataclasses.replace(DEFAULT_LIMITS, max_running=1)
    remote = await Executive.open(work / "ray", ray_address=address)
    local = await Executive.open(work / "local", limits=one_cpu)
    here = await Executive.open(work / "here")
    try:
        n = bench.args.tasks
        await burn(remote, 2, {"on": "ray"})  # warm: actor workers started on both nodes
        xs, ys = await _harness.interleave_async(
            bench.rounds, lambda: burn(remote, n, {"on": "ray"}), lambda: burn(local, n, None)
        )
        speedup = statistics.median(ys) / statistics.median(xs)
        bench.record(
            f"{n} one-CPU-second tasks",
            "wall time",
            "s",
            "2 one-CPU Ray nodes",
            xs,
            "1 local CPU slot",
            ys,
            better="lower",
            note=f"speed-up {speedup:.2f}x (target >= 1.8x: {'met' if speedup >= 1.8 else 'NOT met'})",
        )

        mb = bench.args.mb
        want = _harness.Digest()
        for i in range(mb * 16):
            want.update(hashlib.sha256(str(i).encode()).digest() * 2048)
        xs, ys = await _harness.interleave_async(
            bench.rounds,
            lambda: stream(remote, work / "ray", mb, ON_B, want),
            lambda: stream(here, work / "here", mb, None, want),
        )
        ratio = statistics.median(_harness.ratios(xs, ys))
        bench.record(
            f"{mb} MB of one task's stdout into the log",
            "throughput",
            "MB/s",
            "task on node_b",
            xs,
            "local task",
            ys,
            verified="sha256",
            note=f"target >= 0.5x local: {'met' if ratio >= 0.5 else 'NOT met'}",
        )

        xs, ys = await _harness.interleave_async(
            bench.rounds, lambda: cancel_latency(remote, ON_B, work), lambda: cancel_latency(here, None, work)
        )
        bench.record(
            "cancel of a tree with a setsid grandchild",
            "latency to the end, tree gone",
            "s",
            "task on node_b",
            xs,
            "local task",
            ys,
            better="lower",
        )
    finally:
        for ex in (remote, local, here):
            await ex.aclose()


def main() -> None:
    def options(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--tasks", type=int, default=16, help="one-CPU-second tasks per round (default 16)")
        ap.add_argument("--mb", type=int, default=50, help="MB one task writes in (b) (default 50)")

    try:
        import ray  # noqa: F401
    except ImportError:
        print("cluster: skipped, Ray is not installed (make cluster installs the [cluster] extra)")
        return
    with _harness.Bench("cluster", __doc__.splitlines()[0], options=options) as bench:
        work = Path(tempfile.mkdtemp(prefix="executive-bench-cluster-"))
        try:
            with LocalCluster() as cluster:
                asyncio.run(run(bench, cluster.address, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
