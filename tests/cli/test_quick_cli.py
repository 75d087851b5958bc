"""The quick commands (ps, status, logs, top, cancel/stop --all, completion) as a user runs them:
the console script in a subprocess against a real daemon, real processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client

PY = sys.executable
EXECUTIVE_BIN = str(Path(sys.executable).with_name("executive"))
_HEAVY = (
    "executive.hsx",
    "executive.pipeline",
    "executive.agents",
    "typer",
    "rich",
    "asyncio",
    "pydantic",
    "websockets",
)


def _modules_loaded_by(home: Path, *args: str) -> tuple[int, set[str]]:
    """Run the `executive` entry point with ARGS in a fresh interpreter; its exit code and sys.modules."""
    code = (
        "import sys, json\n"
        f"sys.argv = ['executive', *{list(args)!r}]\n"
        "from executive.cli.main import app\n"
        "try:\n    app()\nexcept SystemExit as e:\n    rc = e.code\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps({'rc': rc, 'modules': sorted(sys.modules)}) + '\\n')\n"
    )
    env = dict(os.environ, EXECUTIVE_HOME=str(home), NO_COLOR="1")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    line = [x for x in out.stderr.splitlines() if x.startswith("MODULES ")][-1]
    got = json.loads(line[len("MODULES ") :])
    return int(got["rc"] or 0), set(got["modules"])


async def _start(client: Client, name: str, script: str) -> int:
    t = await client.call("task.run", argv=["sh", "-c", script], name=name)
    return int(t["id"])


async def _output_size(client: Client, tid: int, at_least: int) -> bool:
    return (await client.call("task.info", task=tid))["output_bytes"]["stdout"] >= at_least


async def test_ps_and_status_load_no_heavy_layer(daemon: Any, client: Client) -> None:
    await _start(client, "sleeper", "sleep 1000")
    for args in (("ps",), ("status", "sleeper"), ("logs", "-n", "5", "sleeper"), ("pause", "nosuch")):
        rc, modules = await asyncio.to_thread(_modules_loaded_by, daemon.home, *args)
        assert rc in (0, 4), (args, rc)
        heavy = sorted(m for m in modules if m.split(".")[0] in _HEAVY or m.startswith(_HEAVY))
        assert heavy == [], f"`executive {' '.join(args)}` imported {heavy}"


async def test_run_in_the_foreground_loads_no_heavy_layer(daemon: Any) -> None:
    # `executive run CMD | consumer` is a pipe stage: its start-up is paid on every run (cli/quick_run.py).
    for args in (
        ("run", "--", "true"),
        ("run", "-n", "x", "--env=A=1", "--timeout", "5", "true"),
        ("run", "-d", "--", "true"),
    ):
        rc, modules = await asyncio.to_thread(_modules_loaded_by, daemon.home, *args)
        assert rc == 0, args
        heavy = sorted(m for m in modules if m.split(".")[0] in _HEAVY or m.startswith(_HEAVY))
        assert heavy == [], f"`executive {' '.join(args)}` imported {heavy}"


async def test_run_loads_only_its_own_command(daemon: Any) -> None:
    rc, modules = await asyncio.to_thread(_modules_loaded_by, daemon.home, "run", "--", "true")
    assert rc == 0
    layers = ("executive.hsx", "executive.pipeline", "executive.agents", "executive.debugger", "prompt_toolkit")
    assert sorted(m for m in modules if m.startswith(layers)) == []


async def test_ps_filters_and_cpu_memory(daemon: Any, client: Client, e2e: Any) -> None:
    a = await _start(client, "build-web", "echo hi; sleep 1000")
    b = await _start(client, "build-api", "sleep 1000")
    c = await _start(client, "lint", "exit 0")
    await client.call("task.wait", task=c, timeout=20)
    await client.call("task.pause", task=b)

    r = await e2e.run_cli(daemon.home, "ps", "--name", "build-*")
    names = [line.split()[1] for line in r.out.splitlines()[1:]]
    assert r.rc == 0 and names == ["build-web", "build-api"]
    r = await e2e.run_cli(daemon.home, "ps", "--state", "ended")
    assert [line.split()[1] for line in r.out.splitlines()[1:]] == ["lint"]
    r = await e2e.run_cli(daemon.home, "ps", "--state", "running", "--state", "paused", "--kind", "process")
    assert sorted(line.split()[1] for line in r.out.splitlines()[1:]) == ["build-api", "build-web"]
    r = await e2e.run_cli(daemon.home, "ps", "--kind", "vm")
    assert r.rc == 0 and r.out == "no tasks match the filters\n"
    r = await e2e.run_cli(daemon.home, "ps", "--state", "sleeping")
    assert r.rc == 2 and "invalid choice" in r.err

    r = await e2e.run_cli(daemon.home, "ps", "--json", "--name", "build-web")
    [row] = json.loads(r.out)
    assert row["id"] == a and row["rss"] > 0 and row["cpu_percent"] >= 0.0
    header, *rows = (await e2e.run_cli(daemon.home, "ps")).out.splitlines()
    assert header.split() == ["ID", "NAME", "KIND", "STATE", "PID", "STARTED", "TIME", "CPU%", "RSS", "COMMAND"]
    [lint] = [x for x in rows if x.split()[1] == "lint"]
    assert lint.split()[3:5] == ["exited", "(0)"] and lint.split()[8:10] == [
        "-",
        "-",
    ]  # an ended task has no CPU or memory
    [web] = [x for x in rows if x.split()[1] == "build-web"]
    assert web.split()[8].endswith(("K", "M"))


async def test_status_of_one_task_and_of_the_live_ones(daemon: Any, client: Client, e2e: Any, tmp_path: Path) -> None:
    tid = await _start(client, "worker", "echo started; sleep 1000")
    await e2e.wait_for(lambda: _output_size(client, tid, 8), timeout=20)
    r = await e2e.run_cli(daemon.home, "status", "worker")
    fields = dict(line.split(":", 1) for line in r.out.splitlines())
    assert r.rc == 0 and fields["task"].strip() == f"{tid} (worker)"
    assert fields["state"].strip() == "running" and fields["command"].strip() == "sh -c 'echo started; sleep 1000'"
    assert "RSS" in fields["memory"] and "stdout 8B" in fields["output"]
    r = await e2e.run_cli(daemon.home, "status", str(tid), "--json")
    assert json.loads(r.out)["name"] == "worker"
    r = await e2e.run_cli(daemon.home, "status")
    assert [line.split()[1] for line in r.out.splitlines()[1:]] == ["worker"]


async def test_not_found_is_one_exit_code_for_every_command(daemon: Any, e2e: Any) -> None:
    for args in (
        ["status", "nosuch"],
        ["logs", "nosuch"],
        ["pause", "77"],
        ["cancel", "nosuch"],
        ["patch", "show", "999"],
    ):
        r = await e2e.run_cli(daemon.home, *args)
        assert r.rc == 4, (args, r)
        assert r.err.startswith("error: ") and "Traceback" not in r.err
    r = await e2e.run_cli(daemon.home, "logs")
    assert r.rc == 2 and "needs a task" in r.err
    r = await e2e.run_cli(daemon.home, "--version")
    assert r.rc == 0 and r.out.startswith("executive ") and r.out.split()[1][0].isdigit()


async def test_logs_last_lines_and_follow_from_the_tail(daemon: Any, client: Client, e2e: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    tid = await _start(client, "counter", f"seq 1 5000; while [ ! -e {gate} ]; do sleep 0.02; done; seq 5001 5003")
    await e2e.wait_for(lambda: _output_size(client, tid, len(b"".join(b"%d\n" % i for i in range(1, 5001)))), 20)
    r = await e2e.run_cli(daemon.home, "logs", "-n", "3", "counter")
    assert r.rc == 0 and r.out == "4998\n4999\n5000\n"
    r = await e2e.run_cli(daemon.home, "logs", "-n", "0", "counter")
    assert r.rc == 0 and r.out == ""
    r = await e2e.run_cli(daemon.home, "logs", "-n", "-1", "counter")
    assert r.rc == 2

    proc = await e2e.start_cli(daemon.home, "logs", "-f", "counter")  # the last 10 lines, then live
    assert proc.stdout is not None
    first = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(10)]
    assert first == [f"{i}\n" for i in range(4991, 5001)]
    gate.touch()
    rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0 and rest == b"5001\n5002\n5003\n"


async def test_logs_all_interleaves_with_name_prefixes(daemon: Any, client: Client, e2e: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    a = await _start(client, "alpha", f"echo a1; while [ ! -e {gate} ]; do sleep 0.02; done; echo a2")
    b = await _start(client, "beta", "echo b1; echo b-err >&2; sleep 1000")
    await e2e.wait_for(lambda: _output_size(client, a, 3), timeout=20)
    await e2e.wait_for(lambda: _output_size(client, b, 3), timeout=20)
    await e2e.wait_for(lambda: _has_stderr(client, b), timeout=20)
    r = await e2e.run_cli(daemon.home, "logs", "--all")
    assert r.rc == 0 and r.out.splitlines() == ["alpha | a1", "beta  | b1", "beta  ! b-err"]
    assert "\x1b[" not in r.out  # no colour into a pipe

    proc = await e2e.start_cli(daemon.home, "logs", "--all", "-f")
    assert proc.stdout is not None
    seen = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(3)]
    assert sorted(seen) == ["alpha | a1\n", "beta  ! b-err\n", "beta  | b1\n"]
    c = await _start(client, "gamma", "echo c1")
    gate.touch()
    more = {(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(2)}
    assert more == {"alpha | a2\n", "gamma | c1\n"}
    await client.call("task.wait", task=c, timeout=20)
    proc.terminate()
    await asyncio.wait_for(proc.wait(), 20)


async def _has_stderr(client: Client, tid: int) -> bool:
    return (await client.call("task.info", task=tid))["output_bytes"]["stderr"] > 0


async def test_cancel_all_asks_unless_yes(daemon: Any, client: Client, e2e: Any) -> None:
    ids = [await _start(client, f"svc-{i}", "sleep 1000") for i in range(3)]
    r = await e2e.run_cli(daemon.home, "stop", "--all")  # no terminal to ask on: refused, nothing changed
    assert r.rc == 2 and "--yes" in r.err
    assert {(await client.call("task.info", task=i))["state"] for i in ids} == {"running"}
    r = await e2e.run_cli(daemon.home, "cancel", "--all", "svc-1")
    assert r.rc == 2 and "not both" in r.err
    r = await e2e.run_cli(daemon.home, "stop", "--all", "--yes")
    lines = r.out.splitlines()
    assert r.rc == 0 and len(lines) == 3
    assert all(
        line.startswith(f"cancelling task {i} (svc-{n}): ") for n, (i, line) in enumerate(zip(ids, lines, strict=True))
    )
    for i in ids:
        assert (await client.call("task.wait", task=i, timeout=20))["end_reason"] == "cancelled"
    r = await e2e.run_cli(daemon.home, "cancel", "--all", "--yes")
    assert r.rc == 0 and r.out == "no live tasks\n"


async def test_output_into_a_pipe_has_whole_rows_and_no_blank_lines(daemon: Any, client: Client, e2e: Any) -> None:
    long_cmd = "echo one\necho two\n" + "x" * 300 + "\nsleep 1000"
    tid = await _start(client, "multi-line", long_cmd)
    r = await e2e.run_cli(daemon.home, "ps")
    lines = r.out.splitlines()
    assert len(lines) == 2 and all(line.strip() for line in lines)  # header + one row: no blank or extra rows
    assert lines[1].endswith("sh -c echo one⏎echo two⏎" + "x" * 300 + "⏎sleep 1000")  # nothing cut into a pipe
    r = await e2e.run_cli(daemon.home, "top", "--iterations", "2", "--interval", "0.2")
    rows = [line for line in r.out.splitlines() if line.split()[:2] == [str(tid), "multi-line"]]
    assert r.rc == 0 and r.out.count("executive top") == 2 and len(rows) == 2, r.out


def test_completion_scripts_are_valid_and_complete_task_names(tmp_path: Path) -> None:
    r = subprocess.run([EXECUTIVE_BIN, "completion", "bash"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    script = tmp_path / "c.bash"
    script.write_text(r.stdout)
    # A fake `executive` first on PATH stands in for `executive ps --names` (the daemon's task names).
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "executive").write_text("#!/bin/sh\n[ \"$1 $2\" = 'ps --names' ] && printf 'web\\nworker\\n'\n")
    (fake / "executive").chmod(0o755)
    probe = (
        f"source {script}; "
        'COMP_WORDS=(executive logs w); COMP_CWORD=2; _executive_complete; echo "${COMPREPLY[*]}"; '
        "COMP_WORDS=(executive hsx ''); COMP_CWORD=2; _executive_complete; echo \"${COMPREPLY[*]}\"; "
        'COMP_WORDS=(executive ps --st); COMP_CWORD=2; _executive_complete; echo "${COMPREPLY[*]}"'
    )
    out = subprocess.run(
        ["bash", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}"),
    )
    tasks, hsx, opts = out.stdout.splitlines()
    assert tasks.split() == ["web", "worker"]
    assert {"run", "asm", "disasm", "info"} <= set(hsx.split())
    assert opts.split() == ["--state"]
    for shell, check in (("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])):
        r = subprocess.run([EXECUTIVE_BIN, "completion", shell], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "executive" in r.stdout
        if shutil.which(check[0]) is None:
            continue
        path = tmp_path / f"c.{shell}"
        path.write_text(r.stdout)
        assert subprocess.run([*check, str(path)], capture_output=True, timeout=60).returncode == 0


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (None, ["ID  NAME  COMMAND", "1   a     echo one⏎echo two"]),
        (27, ["ID  NAME  COMMAND", "1   a     echo one⏎echo two"]),
        (20, ["ID  NAME  COMMAND", "1   a     echo one⏎…"]),
    ],
)
def test_tables_cut_with_an_ellipsis_only_on_a_terminal(width: int | None, expected: list[str]) -> None:
    from executive.cli._term import render_table

    assert (
        render_table(["ID", "NAME", "COMMAND"], [["1", "a", "echo one\necho two"]], width=width, colours=False)
        == expected
    )
