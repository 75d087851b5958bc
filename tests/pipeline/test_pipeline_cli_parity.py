"""Issue 18 item 6: the phased executor's pipeline flags, through the CLI against a real daemon.

`--session NAME` (resume, show, report and metrics by name), `--max-phase-iterations`,
`--threshold-schedule`, the refused empty requirement, a timed-out required step,
malformed files that list every problem, `pipeline metrics --format json|csv`, and the
progress lines (off a terminal) and bar (on one) with an ETA.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from executive.api.client import Client
from executive.cli.pipeline import metrics_csv

TWO_PHASES = """
name: parity
phases:
  - name: build
    steps:
      - {name: make, command: [sh, -c, "echo make >> side.txt"]}
    checks:
      - {name: side, kind: files_exist, paths: [side.txt], owners: [make]}
  - name: deploy
    entry: {approval: true}
    steps:
      - {name: ship, command: [sh, -c, "echo ship >> side.txt"]}
    checks:
      - {name: side, kind: files_exist, paths: [side.txt], owners: [ship]}
"""

# One check scores 50 (one of two files present) on every iteration.
HALF = """
name: half
phases:
  - name: build
    steps:
      - {name: make, command: [sh, -c, "echo make >> side.txt; touch one"]}
    checks:
      - {name: files, kind: files_exist, paths: [one, two], owners: [make]}
"""


def _home(daemon: object) -> Path:
    return daemon.home  # type: ignore[attr-defined,no-any-return]


async def _runs(client: Client) -> list[dict[str, Any]]:
    return list(await client.call("pipeline.list"))


async def test_a_named_session_is_resumed_shown_reported_and_exported_by_name(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path, tmp_path: Path
) -> None:
    home = _home(daemon)
    pl.write(work / "p.yaml", TWO_PHASES)
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "ship it", "--session", "nightly", "-d")
    assert r.rc == 0, r.err
    waiting = await pl.finish(client, "nightly")
    assert (waiting["id"], waiting["state"], waiting["session"]) == (1, "waiting_approval", "nightly")

    r = await e2e.run_cli(home, "pipeline", "cancel", "nightly")
    assert r.rc == 0 and "cancelled" in r.out, r.err
    r = await e2e.run_cli(home, "pipeline", "resume", "nightly", "-d")
    assert r.rc == 0, r.err
    assert (await pl.finish(client, "nightly"))["state"] == "waiting_approval"
    r = await e2e.run_cli(home, "pipeline", "approve", "nightly", "deploy")
    assert r.rc == 0 and "approved phase deploy of run 1" in r.out, r.err
    assert (await pl.finish(client, 1))["state"] == "passed"
    assert pl.lines(work / "side.txt") == ["make", "ship"]  # the resume re-ran nothing that had finished

    r = await e2e.run_cli(home, "pipeline", "status", "nightly")
    assert r.rc == 0 and "run 1 (session nightly) parity (run) · passed" in r.out, r.out
    r = await e2e.run_cli(home, "pipeline", "list")
    assert re.search(r"^\s*1\s+parity\s+nightly\s+run\s+passed", r.out, re.M), r.out
    r = await e2e.run_cli(home, "pipeline", "report", "nightly", "-o", str(tmp_path / "r.html"))
    assert r.rc == 0 and "<svg" in (tmp_path / "r.html").read_text()

    # Names are unique and validated; a refused run leaves nothing behind.
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "again", "--session", "nightly")
    assert r.rc == 2 and "session 'nightly' is run 1 already" in r.err and "pipeline resume nightly" in r.err
    for bad in ("9lives", "has space", "x" * 65, "semi;colon"):
        r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "again", "--session", bad)
        assert r.rc == 2 and "not valid" in r.err, (bad, r.err)
    r = await e2e.run_cli(home, "pipeline", "status", "weekly")
    assert r.rc == 4 and "no pipeline run named 'weekly'" in r.err
    assert [run["id"] for run in await _runs(client)] == [1]


async def test_an_empty_or_oversized_requirement_is_refused_and_starts_nothing(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path
) -> None:
    home = _home(daemon)
    pl.write(work / "p.yaml", TWO_PHASES)
    for args in ([], ["-r", ""], ["-r", "  \t\n "]):
        r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), *args)
        assert r.rc == 2 and "the requirement is empty" in r.err and "--requirement" in r.err, (args, r.err)
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "x" * (64 * 1024 + 1))
    assert r.rc == 2 and "pipeline_requirement_bytes" in r.err, r.err
    assert await _runs(client) == [] and not (work / "side.txt").exists()
    ps = (await client.call("task.list", after_id=0))["tasks"]
    assert ps == [] or all("pipeline" not in (t.get("meta") or {}) for t in ps)


async def test_threshold_schedule_replaces_the_files_thresholds_for_every_iteration(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path
) -> None:
    home = _home(daemon)
    pl.write(work / "p.yaml", HALF)
    # The file's 60 % would fail a score of 50; the schedule's 40 passes it.
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "half", "--threshold-schedule", "40,45")
    assert r.rc == 0, r.out + r.err
    assert "thresholds per iteration, for every phase: 40 → 45 (the last repeats)" in r.out
    status = json.loads((await e2e.run_cli(home, "pipeline", "status", "1", "--json")).out)
    [build] = status["phases"]
    assert build["thresholds"] == [40, 45]
    assert [(it["score"], it["threshold"], it["verdict"]) for it in build["iterations"]] == [(50, 40, "passed")]

    bad = {
        "60,50": "must increase",
        "60,60": "must increase",
        "60,120": "not a percentage",
        "-5": "not a percentage",
        "60,70,80,90,95": "a phase runs at most 4 iterations",
        "60,x": "percentages separated by commas",
    }
    for schedule, phrase in bad.items():
        r = await e2e.run_cli(
            home, "pipeline", "run", str(work / "p.yaml"), "-r", "x", "--threshold-schedule", schedule
        )
        assert r.rc == 2 and phrase in r.err, (schedule, r.err)
    # With more iterations allowed, the longer schedule is accepted (it is per iteration, not per phase).
    r = await e2e.run_cli(
        home, "pipeline", "run", str(work / "p.yaml"), "-r", "x", "-d",
        "--max-phase-iterations", "5", "--threshold-schedule", "60,70,80,90,95",
    )  # fmt: skip
    assert r.rc == 0, r.err
    assert (await client.call("pipeline.info", run=2))["thresholds"] == {"build": [60, 70, 80, 90, 95]}
    await pl.finish(client, 2)
    assert len(await _runs(client)) == 2  # the refused ones left no run


async def test_max_phase_iterations_caps_every_phase(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path
) -> None:
    home = _home(daemon)
    pl.write(
        work / "p.yaml", HALF.replace("name: half", "name: half\ndefaults: {max_iterations: 4, min_improvement: 0}")
    )
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "x", "--max-phase-iterations", "2")
    assert r.rc == 1 and "phase build stopped (exhausted)" in r.out, r.out + r.err
    status = json.loads((await e2e.run_cli(home, "pipeline", "status", "1", "--json")).out)
    its = status["phases"][0]["iterations"]
    assert [(it["iteration"], it["verdict"]) for it in its] == [(1, "rework"), (2, "exhausted")]
    assert pl.lines(work / "side.txt") == ["make", "make"]
    for n in ("0", "51"):
        r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "x", "--max-phase-iterations", n)
        assert r.rc == 2 and "max_phase_iterations" in r.err.replace("-", "_"), (n, r.err)
    assert len(await _runs(client)) == 1


async def test_a_required_step_that_times_out_fails_its_phase_though_the_checks_pass(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path
) -> None:
    home = _home(daemon)
    (work / "present.txt").write_text("already here\n")
    pl.write(
        work / "p.yaml",
        """
        name: slow
        phases:
          - name: build
            steps:
              - {name: slow, command: [sleep, "30"], timeout_s: 0.5}
            checks:
              - {name: present, kind: files_exist, paths: [present.txt], owners: [slow]}
        """,
    )
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "x", "--max-phase-iterations", "2")
    assert r.rc == 1, r.out + r.err
    assert (
        "run 1 failed: phase build stopped (not_improving): score 100 against threshold 75; "
        "required step slow timed out" in r.out
    )
    assert "(required step slow timed out)" in r.out  # the progress line of the gate says why it did not pass
    status = json.loads((await e2e.run_cli(home, "pipeline", "status", "1", "--json")).out)
    its = status["phases"][0]["iterations"]
    assert [(it["score"], it["verdict"], it["timed_out_steps"]) for it in its] == [
        (100, "rework", ["slow"]),
        (100, "not_improving", ["slow"]),
    ]
    assert [s["status"] for it in its for s in it["steps"]] == ["failed", "failed"]  # re-run by rework, timed out again
    r = await e2e.run_cli(home, "pipeline", "status", "1")
    assert "slow timed out" in r.out


async def test_a_malformed_file_lists_every_problem_with_its_path(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path
) -> None:
    home = _home(daemon)
    (work / "bad.yaml").write_text("phases: 3\n")
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "bad.yaml"), "-r", "x")
    assert r.rc == 2
    assert f"{work / 'bad.yaml'}: name: required" in r.err and f"{work / 'bad.yaml'}: phases: must be a list" in r.err
    pl.write(
        work / "worse.yaml",
        """
        name: worse
        phases:
          - name: a
            steps: [{name: s, command: [true], timeout_s: 0, retries: 99}]
            checks: [{name: c, kind: command, command: [true], owners: [s], wieght: 2}]
          - steps: []
            checks: 7
        """,
    )
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "worse.yaml"), "-r", "x")
    assert r.rc == 2
    problems = [line.split(": ", 2)[1] for line in r.err.replace("error: ", "").splitlines() if ": " in line]
    assert problems == [
        "phases[0].steps[0].timeout_s",
        "phases[0].steps[0].retries",
        "phases[0].checks[0].wieght",
        "phases[1].name",
        "phases[1].steps",
        "phases[1].checks",
    ], r.err
    assert await _runs(client) == []


async def test_metrics_as_json_and_rfc4180_csv(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path, tmp_path: Path
) -> None:
    home = _home(daemon)
    pl.write(work / "p.yaml", HALF.replace("name: half", "name: half\ndefaults: {max_iterations: 2}"))
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "x", "--session", "m1")
    assert r.rc == 1, r.out + r.err

    r = await e2e.run_cli(home, "pipeline", "metrics", "m1", "--format", "json")
    assert r.rc == 0, r.err
    data = json.loads(r.out)
    assert data["run"]["run"] == 1 and data["run"]["session"] == "m1" and data["run"]["state"] == "failed"
    rows = data["rows"]
    assert all(list(row) == data["columns"] for row in rows)
    shape = [
        (row["kind"], row["iteration"], row["name"], row["status"], row["passed"], row["score"], row["threshold"])
        for row in rows
    ]
    assert shape == [
        ("step", 1, "make", "ok", True, None, None),
        ("gate", 1, "exit", "rework", False, 50, 60),
        ("check", 1, "files", "failed", False, 50, 60),
        ("step", 2, "make", "ok", True, None, None),
        ("gate", 2, "exit", "not_improving", False, 50, 75),
        ("check", 2, "files", "failed", False, 50, 75),
        ("phase", 2, "build", "failed", False, 50, 75),
    ]
    assert all(row["duration_s"] is not None and row["duration_s"] >= 0 for row in rows if row["kind"] != "check")
    assert rows[0]["attempts"] == 1 and rows[0]["exit_code"] == 0

    r = await e2e.run_cli(home, "pipeline", "metrics", "1", "--format", "csv")
    assert r.rc == 0, r.err
    assert r.out.endswith("\r\n") and "\n" not in r.out.replace("\r\n", "")
    table = list(csv.reader(io.StringIO(r.out, newline="")))
    assert table[0] == data["columns"] and len(table) == 1 + len(rows)
    by_col = [dict(zip(table[0], line, strict=True)) for line in table[1:]]
    assert [(c["kind"], c["status"], c["passed"], c["score"]) for c in by_col[:2]] == [
        ("step", "ok", "true", ""),
        ("gate", "rework", "false", "50.0"),
    ]
    out = tmp_path / "m.csv"
    r = await e2e.run_cli(home, "pipeline", "metrics", "m1", "--format", "csv", "-o", str(out))
    assert (
        r.rc == 0
        and out.read_bytes().decode() == (await e2e.run_cli(home, "pipeline", "metrics", "m1", "-f", "csv")).out
    )
    r = await e2e.run_cli(home, "pipeline", "metrics", "m1", "--format", "xml")
    assert r.rc == 2 and "json or csv" in r.err


def test_csv_fields_are_quoted_as_rfc4180_says() -> None:
    text = metrics_csv(["a", "b", "c", "d"], [{"a": 'say "hi"', "b": "x,y", "c": "two\nlines", "d": None}])
    assert text == 'a,b,c,d\r\n"say ""hi""","x,y","two\nlines",\r\n'


async def test_progress_lines_off_a_terminal_and_an_eta_from_earlier_runs(
    e2e: SimpleNamespace, daemon: object, client: Client, pl: SimpleNamespace, work: Path
) -> None:
    home = _home(daemon)
    pl.write(work / "p.yaml", TWO_PHASES.replace("    entry: {approval: true}\n", ""))
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "first")
    assert r.rc == 0, r.out + r.err
    assert "earlier runs" not in r.out  # the first run's ETA rests on its own finished steps only
    lines = [ln for ln in r.out.splitlines() if re.match(r"^\[\s*\d+/4\] ", ln)]
    assert any(" build it1 · make ok " in ln for ln in lines) and any(
        "deploy it1 · exit gate 100 / 60 passed" in ln for ln in lines
    )
    assert all(" · ETA " in ln for ln in lines), lines
    assert "\x1b[" not in r.out  # no redrawn display in a pipe

    # The second run of the same pipeline knows its ETA before any of its steps ran.
    run = await client.call("pipeline.run", path=str(work / "p.yaml"), requirement="second")
    progress = await client.call("pipeline.progress", run=run["id"])
    assert progress["history_runs"] == 1 and progress["eta"] is not None and progress["total"] == 4
    done = await pl.finish(client, run["id"])
    assert done["state"] == "passed"
    final = await client.call("pipeline.progress", run=run["id"])
    assert (final["done"], final["total"], final["eta"]) == (4, 4, 0)
    r = await e2e.run_cli(home, "pipeline", "run", str(work / "p.yaml"), "-r", "third")
    assert "(from 2 earlier runs)" in r.out.splitlines()[0], r.out


async def test_a_progress_bar_with_an_eta_on_a_terminal(
    daemon: object, client: Client, pl: SimpleNamespace, work: Path
) -> None:
    home = _home(daemon)
    pl.write(work / "p.yaml", TWO_PHASES.replace("    entry: {approval: true}\n", ""))
    master, slave = pty.openpty()
    env = dict(os.environ, EXECUTIVE_HOME=str(home), COLUMNS="120", TERM="xterm")
    env.pop("NO_COLOR", None)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("executive")), "pipeline", "run", str(work / "p.yaml"), "-r", "on a tty",
        stdin=asyncio.subprocess.DEVNULL, stdout=slave, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    os.close(slave)

    def read_all() -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                return b"".join(chunks)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    raw = (await asyncio.to_thread(read_all)).decode(errors="replace")
    os.close(master)
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert await proc.wait() == 0, out
    assert "\x1b[" in raw  # a redrawn display, not progress lines
    assert "━" in out and re.search(r"\d/4 steps · ETA", out), out[-2000:]
    assert "run 1 passed" in out


def test_the_eta_comes_from_earlier_durations_and_is_unknown_without_any() -> None:
    from executive.pipeline.model import parse_pipeline
    from executive.pipeline.progress import estimate_progress
    from executive.pipeline.states import RunMode

    pipeline = parse_pipeline(TWO_PHASES)
    fresh = estimate_progress(pipeline, RunMode.RUN, [], [], ended=False, now=100.0)
    assert (fresh["done"], fresh["total"], fresh["eta"]) == (0, 4, None)
    history = [
        {"kind": "step", "phase": "build", "step": "make", "duration": 10.0},
        {"kind": "gate", "phase": "build", "step": None, "duration": 2.0},
        {"kind": "step", "phase": "deploy", "step": "ship", "duration": 30.0},
        {"kind": "gate", "phase": "deploy", "step": None, "duration": 4.0},
    ]
    assert estimate_progress(pipeline, RunMode.RUN, [], history, ended=False, now=100.0)["eta"] == 46.0
    # make has run 4 s of its expected 10; the rest is 6 + 2 + 30 + 4.
    running = [
        {
            "kind": "step",
            "phase": "build",
            "iteration": 1,
            "step": "make",
            "status": "running",
            "started": 96.0,
            "ended": None,
            "output": None,
        }
    ]
    p = estimate_progress(pipeline, RunMode.RUN, running, history, ended=False, now=100.0)
    assert (p["done"], p["total"], p["eta"], p["current"]["step"]) == (0, 4, 42.0, "make")
    # Without history, a finished step's own duration stands in for the units of its kind.
    done = [
        {
            "kind": "step",
            "phase": "build",
            "iteration": 1,
            "step": "make",
            "status": "ok",
            "started": 90.0,
            "ended": 95.0,
            "output": {},
        }
    ]
    p = estimate_progress(pipeline, RunMode.RUN, done, [], ended=False, now=100.0)
    assert (p["done"], p["total"], p["eta"]) == (
        1,
        4,
        15.0,
    )  # build gate, ship, deploy gate: 5 s each, the one measured
