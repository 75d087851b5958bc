"""MB/s of a 200 MB producer through the daemon (JSON events, binary frames, `executive run`) vs a plain pipe.

The producer is ``yes LINE | head -c 200000000`` with 2-byte lines (``yes``: "y\\n") and
1 KiB lines; every side's sha256 must equal that of the bytes the command produces
(computed here independently).  Sides, each round in rotating order:

* pipe: ``sh -c 'PRODUCER | sha256sum'`` -- the baseline every ratio is taken against;
* json: the producer runs as a task and one client (this process) follows its output with
  the CLI's own follower (cli/_follow.py: JSON ``events`` notifications in offset order, gaps
  re-read from the log by offset) and hashes what it writes;
* binary: the same with ``events.subscribe {output: "binary"}`` (raw bytes in binary frames)
  and gaps re-read as binary slices (``task.output {output: "binary"}``);
* cli: ``sh -c 'executive run -- PRODUCER | sha256sum'`` (start-up of the CLI included: what a
  user waits for); on this machine the CLI copies the task's log files to its stdout with
  sendfile (cli/local_logs.py);
* cli-frames: the same with ``EXECUTIVE_LOCAL_LOGS=0``: the output comes as binary frames over
  the connection (what a CLI on another machine gets).

Targets (issue 20): binary >= 0.8x of the pipe for both line lengths; cli >= 0.8x.
The daemon's peak RSS growth is recorded for the JSON and binary sides (target < 64 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import _harness
import psutil
from _rpc_stream import follow_task_stdout

TOTAL = 200_000_000
LINES = {"2-byte lines": b"y", "1 KiB lines": b"x" * 1023}  # the line without its newline
SIDES = ("pipe", "json", "binary", "cli", "cli-frames")


def producer(line: bytes) -> str:
    return f"yes '{line.decode()}' | head -c {TOTAL}"


def produced(line: bytes) -> _harness.Digest:
    """What the producer writes, built here without running it."""
    d = _harness.Digest()
    block = (line + b"\n") * max(1, (1 << 20) // (len(line) + 1))
    while d.size + len(block) <= TOTAL:
        d.update(block)
    d.update(block[: TOTAL - d.size])
    return d


def _sha256sum(what: str, command: str, expect: _harness.Digest, env: dict[str, str] | None = None) -> float:
    """Run ``command | sha256sum`` in a shell; its digest must be ``expect``'s; returns MB/s."""
    t0 = time.perf_counter()
    out = subprocess.run(
        ["sh", "-c", f"{command} | sha256sum"], capture_output=True, check=True, env=env, timeout=600
    ).stdout
    elapsed = time.perf_counter() - t0
    digest = out.split()[0].decode()
    if digest != expect.hexdigest():
        raise _harness.ContentMismatch(f"{what}: sha256sum printed {digest}, the producer makes {expect!r}")
    return TOTAL / elapsed / 1e6


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)


async def daemon_round(
    d: _harness.BenchDaemon, line: bytes, output: str, expect: _harness.Digest, rss: list[float], filled: list[int]
) -> float:
    c = await d.client()
    assert d.proc is not None
    sampler = RssSampler(d.proc.pid)
    sampler.start()
    t0 = time.perf_counter()
    got, from_log = await follow_task_stdout(c, ["sh", "-c", producer(line)], output=output)
    elapsed = time.perf_counter() - t0
    sampler.stop = True
    sampler.join()
    await c.close()
    _harness.verify(f"executive task -> client ({output})", expect, got)
    drop_logs(d)
    rss.append((sampler.peak - sampler.base) / 2**20)
    filled.append(from_log)
    return TOTAL / elapsed / 1e6


def drop_logs(d: _harness.BenchDaemon) -> None:
    """Delete the logs of the ended rounds' tasks: 200 MB per round would pile up gigabytes of dirty pages,
    and the kernel's writeback of them would slow the later rounds' log writes (not the pipe's)."""
    for task_dir in (d.home / "tasks").glob("*"):
        shutil.rmtree(task_dir, ignore_errors=True)


def rotate(rounds: int, sides: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Every side once per round; the order rotates round by round, so drift hits all sides alike."""
    names = list(sides)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            out[n].append(sides[n]())
    return out


def _met(ratios: list[float], target: float) -> str:
    return f"target >= {target}x of the pipe: {'met' if statistics.median(ratios) >= target else 'NOT met'}"


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--sides",
        default=",".join(SIDES[1:]),
        help="daemon sides to measure against the pipe, comma-separated (default: json,binary,cli,cli-frames)",
    )


def run_case(
    bench: _harness.Bench, d: _harness.BenchDaemon, wanted: set[str], case: str, line: bytes, cli_env: dict[str, str]
) -> None:
    """All wanted sides of one line length, interleaved, recorded against the same rounds of the pipe."""
    expect = produced(line)
    cmd = producer(line)
    cli = f"{sys.executable} -m executive run --"
    rss: dict[str, list[float]] = {"json": [], "binary": []}
    filled: dict[str, list[int]] = {"json": [], "binary": []}

    def cli_round(env: dict[str, str]) -> float:
        rate = _sha256sum("executive run", f"{cli} sh -c '{cmd}'", expect, env)
        drop_logs(d)
        return rate

    sides: dict[str, Callable[[], float]] = {
        "pipe": lambda: _sha256sum("plain pipe", cmd, expect),
        "json": lambda: asyncio.run(daemon_round(d, line, "json", expect, rss["json"], filled["json"])),
        "binary": lambda: asyncio.run(daemon_round(d, line, "binary", expect, rss["binary"], filled["binary"])),
        "cli": lambda: cli_round(cli_env),
        "cli-frames": lambda: cli_round({**cli_env, "EXECUTIVE_LOCAL_LOGS": "0"}),
    }
    samples = rotate(bench.rounds, {k: v for k, v in sides.items() if k in wanted})
    pipe = samples["pipe"]
    for side, label, target in (
        ("json", "executive /rpc, JSON events", None),
        ("binary", "executive /rpc, binary frames", 0.8),
        ("cli", "executive run CMD | sha256sum", 0.8),
        ("cli-frames", "the same, output over the connection", None),
    ):
        if side not in samples:
            continue
        note = _met(_harness.ratios(samples[side], pipe), target) if target else ""
        if side in filled:
            note += f"{'; ' if note else ''}bytes read back from the log after drops: {filled[side]}"
        bench.record(
            f"200 MB task, {case}",
            f"throughput ({side})",
            "MB/s",
            label,
            samples[side],
            "CMD | sha256sum (plain pipe)",
            pipe,
            verified="sha256",
            note=note,
        )
    for side in ("json", "binary"):
        if side in samples:
            bench.record(
                f"200 MB task, {case}",
                f"daemon peak RSS growth ({side})",
                "MiB",
                "executive daemon",
                rss[side],
                better="lower",
                note=f"target < 64 MiB: {'met' if statistics.median(rss[side]) < 64 else 'NOT met'}",
            )


def main() -> None:
    with _harness.Bench("stream", __doc__.splitlines()[0], options=_options) as bench:
        wanted = {"pipe", *bench.args.sides.split(",")}
        if not wanted <= set(SIDES):
            raise SystemExit(f"--sides: choose from {', '.join(SIDES[1:])}")
        with _harness.BenchDaemon() as d:
            cli_env = dict(os.environ, EXECUTIVE_HOME=str(d.home), PYTHONPATH=str(_harness.ROOT / "src"))
            for case, line in LINES.items():
                run_case(bench, d, wanted, case, line, cli_env)


if __name__ == "__main__":
    main()
