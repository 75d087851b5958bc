"""Wall time of the everyday commands: `executive ps`, `status X`, `logs -n 20 X` against `python -c pass`.

A (each case): the `executive` console script of this venv, as a user types it, against a
daemon in its own process that runs one task with 200 lines of output.  B (same run): a bare
interpreter start, ``python -c pass``, of the same venv.  With supervisor installed
(``pip install supervisor``), ``supervisorctl status`` against a supervisord of one program is
measured against the same baseline, and ``executive status X`` against ``supervisorctl status X``;
otherwise those cases are skipped.  Every command's output is checked (the task's row, its
status, the exact last 20 lines by sha256).  Default 20 rounds (``--rounds``; ``BENCH_ROUNDS``).
Target: under 150 ms and under 5x ``python -c pass``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BENCH_ROUNDS", "20")

import _harness

BIN = Path(sys.executable).with_name("executive")
LINES = 200


def _timed(argv: list[str], env: dict[str, str], check: str | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0 or (check is not None and check not in out.stdout):
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stdout[-300:]}{out.stderr[-300:]}")
    return elapsed, out.stdout


async def _start_task(d: _harness.BenchDaemon) -> None:
    c = await d.client()
    try:
        t = await c.call("task.run", argv=["sh", "-c", f"seq 1 {LINES}; sleep 3600"], name="bench-task")
        deadline = time.time() + 30
        while (await c.call("task.info", task=t["id"]))["output_bytes"]["stdout"] < len(_expected_all()):
            if time.time() > deadline:
                raise RuntimeError("the benchmark task did not print its lines")
            await asyncio.sleep(0.05)
    finally:
        await c.close()


def _expected_all() -> bytes:
    return b"".join(b"%d\n" % i for i in range(1, LINES + 1))


def _supervisord(tmp: Path) -> tuple[subprocess.Popen[bytes], Path] | None:
    """A supervisord with one program on a unix socket in ``tmp``, or None when supervisor is not installed."""
    supervisord = Path(sys.executable).with_name("supervisord")
    if not supervisord.exists() and shutil.which("supervisord") is None:
        return None
    conf = tmp / "supervisord.conf"
    sock = tmp / "supervisor.sock"
    conf.write_text(
        f"[unix_http_server]\nfile={sock}\n\n"
        f"[supervisord]\nlogfile={tmp / 'supervisord.log'}\npidfile={tmp / 'supervisord.pid'}\nnodaemon=true\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"[supervisorctl]\nserverurl=unix://{sock}\n\n"
        f"[program:bench-task]\ncommand=sh -c 'seq 1 {LINES}; sleep 3600'\n"
    )
    exe = str(supervisord) if supervisord.exists() else "supervisord"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, conf


def main() -> None:
    with _harness.Bench("cli", __doc__.splitlines()[0]) as bench, _harness.BenchDaemon() as d:
        asyncio.run(_start_task(d))
        env = dict(os.environ, EXECUTIVE_HOME=str(d.home), PYTHONPATH=str(_harness.ROOT / "src"), NO_COLOR="1")
        tail = b"".join(b"%d\n" % i for i in range(LINES - 19, LINES + 1))

        def baseline() -> float:
            return _timed([sys.executable, "-c", "pass"], env)[0]

        def ps() -> float:
            return _timed([str(BIN), "ps"], env, "bench-task")[0]

        def status() -> float:
            return _timed([str(BIN), "status", "bench-task"], env, "state:   running")[0]

        def logs() -> float:
            elapsed, out = _timed([str(BIN), "logs", "-n", "20", "bench-task"], env)
            produced, received = _harness.Digest(), _harness.Digest()
            produced.update(tail)
            received.update(out.encode())
            _harness.verify("logs -n 20", produced, received)
            return elapsed

        for case, fn in (("executive ps", ps), ("executive status X", status), ("executive logs -n 20 X", logs)):
            fn(), baseline()  # warm the page cache once
            a, b = _harness.interleave(bench.rounds, fn, baseline)
            bench.record(case, "wall time", "s", case, a, "python -c pass", b, better="lower")

        with tempfile.TemporaryDirectory(prefix="executive-bench-sv-") as tmp:
            started = _supervisord(Path(tmp))
            if started is None:
                print("cli: supervisor is not installed (pip install supervisor): supervisorctl cases skipped")
                return
            proc, conf = started
            try:
                ctl = str(Path(sys.executable).with_name("supervisorctl"))
                ctl = ctl if Path(ctl).exists() else "supervisorctl"

                def sv_status() -> float:
                    return _timed([ctl, "-c", str(conf), "status", "bench-task"], env, "RUNNING")[0]

                deadline = time.time() + 30
                while True:
                    try:
                        sv_status()
                        break
                    except RuntimeError:
                        if time.time() > deadline:
                            raise
                        time.sleep(0.2)
                a, b = _harness.interleave(bench.rounds, sv_status, baseline)
                case = "supervisorctl status X"
                bench.record(case, "wall time", "s", "supervisorctl status", a, "python -c pass", b, better="lower")
                a, b = _harness.interleave(bench.rounds, status, sv_status)
                bench.record(
                    "executive status X vs supervisorctl",
                    "wall time",
                    "s",
                    "executive status X",
                    a,
                    "supervisorctl status X",
                    b,
                    better="lower",
                )
            finally:
                proc.terminate()
                proc.wait(15)


if __name__ == "__main__":
    main()
