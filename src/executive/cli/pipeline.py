"""`executive pipeline ...`: phased pipeline runs from the command line.

``init`` and ``schema`` work without a daemon; everything else talks to the
running daemon over JSON-RPC (``pipeline.*``).  ``run`` and ``resume`` follow
the run live (pipeline_follow.py: phase, iteration, step, score against
threshold, a progress bar with an ETA); Ctrl-C detaches and leaves the run
going.  Wherever a command takes RUN, the session name given at ``run
--session NAME`` works as well as the id.  The daemon checks every input (the
requirement, the session name, the schedule), so each client gets the same
answer and a refused run leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from executive.api.client import Client
from executive.cli._common import EXIT_ERROR, EXIT_USAGE, console, fail, run_client
from executive.cli.pipeline_follow import colour as _c
from executive.cli.pipeline_follow import follow_run
from executive.cli.pipeline_follow import secs as _secs
from executive.kernel.errors import ExecutiveError
from executive.pipeline.model import pipeline_schema
from executive.pipeline.template import write_template

app = typer.Typer(
    help="Phased pipelines: gates, rising thresholds, rework, checkpoints and resume.", no_args_is_help=True
)


def _ref(run: str) -> int | str:
    """A RUN argument: a run id, or the session name given at `run --session NAME`."""
    return int(run) if run.isdigit() else run


def _schedule(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise fail(
            f"--threshold-schedule takes percentages separated by commas, e.g. 60,75,85; got {text!r}", EXIT_USAGE
        ) from None


def _finish(info: dict[str, Any]) -> None:
    state = info["state"]
    console.print(f"run {info['id']} {_c(state)}" + (f": {info['detail']}" if info.get("detail") else ""))
    if state != "passed":
        console.print(
            f"details: executive pipeline status {info['id']}   report: executive pipeline report {info['id']}"
        )
        raise typer.Exit(EXIT_ERROR)


def _start_and_follow(method: str, params: dict[str, Any], detach: bool, as_json: bool) -> None:
    async def go(client: Client) -> dict[str, Any]:
        cursor = (await client.call("daemon.health"))["last_seq"]
        info: dict[str, Any] = await client.call(method, **params)
        if detach or as_json:
            return info
        schedule = info["options"].get("threshold_schedule")
        if schedule:
            console.print(
                "thresholds per iteration, for every phase: "
                + " → ".join(f"{t:g}" for t in schedule)
                + " (the last repeats)",
                soft_wrap=True,
            )
        return await follow_run(client, info["id"], cursor)

    try:
        info = run_client(go)
    except KeyboardInterrupt:
        console.print("\ndetached; the run continues in the daemon (`executive pipeline status RUN`)")
        return
    if as_json:
        print(json.dumps(info, indent=2))
        return
    if detach:
        console.print(
            f"run {info['id']} started ({info['state']}); follow it with `executive pipeline status {info['id']}`"
        )
        return
    _finish(info)


# ----------------------------------------------------------------------------- commands
@app.command("init")
def init(
    target: Path = typer.Argument(Path("."), help="Directory (gets pipeline.yaml) or file to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write the default five-phase pipeline (requirements, design, implementation, testing, deployment)."""
    try:
        path = write_template(target, force=force)
    except ExecutiveError as exc:
        raise fail(exc.message, EXIT_USAGE) from None
    console.print(f"wrote {path}")
    console.print(f'run it: executive pipeline run {path} --requirement "a command that greets people"')


@app.command("schema")
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Print the JSON Schema of pipeline files."""
    text = json.dumps(pipeline_schema(), indent=2)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")
        console.print(f"wrote {output}")


@app.command("run")
def run(
    file: Path = typer.Argument(..., help="The pipeline file (YAML)."),
    requirement: str = typer.Option(
        "", "--requirement", "-r", help="What to build (required, not empty); steps see EXECUTIVE_REQUIREMENT."
    ),
    workdir: Path | None = typer.Option(None, "--workdir", help="Override the file's workdir."),
    session: str | None = typer.Option(
        None,
        "--session",
        "-s",
        help="Name the run (unique; letters, digits, _ . -, starting with a letter); "
        "resume, status, report and metrics then take the name.",
    ),
    max_phase_iterations: int | None = typer.Option(
        None, "--max-phase-iterations", help="Iterations per phase, overriding the file's max_iterations."
    ),
    threshold_schedule: str | None = typer.Option(
        None,
        "--threshold-schedule",
        help="Thresholds per iteration, e.g. 60,75,85: one per iteration (not per phase), used by every "
        "phase, increasing, 0-100; the last repeats.",
    ),
    detach: bool = typer.Option(False, "--detach", "-d", help="Print the run id and return."),
    as_json: bool = typer.Option(False, "--json", help="Print the run row as JSON and return."),
) -> None:
    """Run a pipeline, showing phase, iteration, step, score against threshold and a progress bar with an ETA."""
    params: dict[str, Any] = {"path": os.path.abspath(file), "requirement": requirement}
    if workdir is not None:
        params["workdir"] = os.path.abspath(workdir)
    if session is not None:
        params["session"] = session
    if max_phase_iterations is not None:
        params["max_phase_iterations"] = max_phase_iterations
    if threshold_schedule is not None:
        params["threshold_schedule"] = _schedule(threshold_schedule)
    _start_and_follow("pipeline.run", params, detach, as_json)


_RUN = typer.Argument(..., metavar="RUN", help="The run id, or its session name.")


@app.command("resume")
def resume(
    run_id: str = _RUN,
    rework_from: str | None = typer.Option(None, "--rework-from", help="PHASE/STEP or STEP: redo from its latest run."),
    detach: bool = typer.Option(False, "--detach", "-d"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Continue an interrupted or cancelled run (no finished step runs again), or redo from a step."""
    params: dict[str, Any] = {"run": _ref(run_id)}
    if rework_from:
        params["rework_from"] = rework_from
    _start_and_follow("pipeline.resume", params, detach, as_json)


@app.command("validate")
def validate(
    directory: Path = typer.Argument(..., metavar="DIR", help="The project to score."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Pipeline file (default DIR/pipeline.yaml)."),
    remediate: bool = typer.Option(False, "--remediate", help="Run the rework steps of the checks that fail."),
    iteration: int = typer.Option(1, "--iteration", help="Score against this iteration's threshold."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Score an existing project with the pipeline's exit gates; --remediate also runs the rework steps, which write."""
    params: dict[str, Any] = {"dir": os.path.abspath(directory), "remediate": remediate, "iteration": iteration}
    if file is not None:
        params["path"] = os.path.abspath(file)

    async def go(client: Client) -> dict[str, Any]:
        info = await client.call("pipeline.validate", **params)
        while True:
            waited = await client.call("pipeline.wait", run=info["id"], timeout=60)
            if not waited["timed_out"]:
                break
        status: dict[str, Any] = await client.call("pipeline.status", run=info["id"])
        return status

    status = run_client(go)
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        _print_status(status)
    if status["run"]["state"] != "passed":
        raise typer.Exit(EXIT_ERROR)


@app.command("status")
def status_cmd(
    run_id: str = _RUN,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Steps, verdicts, scores and durations by phase and iteration."""
    status = run_client(lambda c: c.call("pipeline.status", run=_ref(run_id)))
    if as_json:
        print(json.dumps(status, indent=2))
        return
    _print_status(status)


def _print_status(status: dict[str, Any]) -> None:
    run = status["run"]
    session = f" (session {run['session']})" if run.get("session") else ""
    console.print(
        f"run [bold]{run['id']}[/]{session} {run['name']} ({run['mode']}) · {_c(run['state'])} · "
        f"{_secs(status['totals']['duration'])}" + (f"\n{run['detail']}" if run.get("detail") else "")
    )
    table = Table(box=None, header_style="bold")
    for col in ("PHASE", "IT", "STEPS", "SCORE", "THRESHOLD", "VERDICT", "FAILED CHECKS"):
        table.add_column(col, overflow="fold")
    for ph in status["phases"]:
        if not ph["iterations"]:
            extra = ""
            if ph.get("entry") and ph["entry"]["problems"]:
                extra = "; ".join(ph["entry"]["problems"])
            table.add_row(ph["name"], "-", _c(ph["state"]), "-", "-", "-", extra)
            continue
        for it in ph["iterations"]:
            steps = (
                ", ".join(
                    f"{s['step']} {_c(s['status'])} {_secs(s.get('duration'))}"
                    + (f" (x{s['starts']})" if s["starts"] > 1 else "")
                    for s in it["steps"]
                )
                or "[dim](none)[/]"
            )
            failed = ", ".join(
                [f"{c['name']} {c['score']:g}" for c in it["checks"] if c["failed"]]
                + [f"{name} timed out" for name in it.get("timed_out_steps") or []]
            )
            score = "-" if it["score"] is None else f"{it['score']:g}"
            threshold = "-" if it["threshold"] is None else f"{it['threshold']:g}"
            table.add_row(ph["name"], str(it["iteration"]), steps, score, threshold, _c(it["verdict"]), failed)
    console.print(table)


@app.command("list")
def list_cmd(
    state: str | None = typer.Option(None, "--state", help="Only runs in this state."),
    limit: int = typer.Option(50, "--limit", help="The newest N runs."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Pipeline runs, oldest first."""
    params: dict[str, Any] = {"limit": limit}
    if state:
        params["state"] = state
    rows = run_client(lambda c: c.call("pipeline.list", **params))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print(
            "no pipeline runs; start one with `executive pipeline init` and `executive pipeline run pipeline.yaml`"
        )
        return
    table = Table(box=None, header_style="bold")
    for col in ("RUN", "NAME", "SESSION", "MODE", "STATE", "STARTED", "TIME", "DETAIL"):
        table.add_column(col, overflow="fold" if col == "DETAIL" else "ellipsis")
    for r in rows:
        took = (r.get("ended") or time.time()) - r["created"]
        table.add_row(
            str(r["id"]),
            r["name"],
            r.get("session") or "-",
            r["mode"],
            _c(r["state"]),
            time.strftime("%m-%d %H:%M:%S", time.localtime(r["created"])),
            _secs(took),
            (r.get("detail") or "")[:160],
        )
    console.print(table)


@app.command("approve")
def approve(
    run_id: str = _RUN,
    phase: str = typer.Argument(..., help="The phase whose approval gate to release."),
    note: str = typer.Option("", "--note", help="Recorded with the approval."),
) -> None:
    """Release a phase's approval gate (durable: survives daemon restarts)."""
    out = run_client(lambda c: c.call("pipeline.approve", run=_ref(run_id), phase=phase, note=note))
    console.print(f"approved phase {out['phase']} of run {out['run']} (run is {out['state']})")


@app.command("cancel")
def cancel(run_id: str = _RUN) -> None:
    """Cancel a run and its in-flight task; `resume` re-runs that step later."""
    out = run_client(lambda c: c.call("pipeline.cancel", run=_ref(run_id)))
    console.print(f"run {out['id']} {_c(out['state'])}")


@app.command("report")
def report(
    run_id: str = _RUN,
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: pipeline-run-RUN.html here."),
) -> None:
    """Write an HTML report with a chart of score against threshold per phase and iteration."""
    out = run_client(lambda c: c.call("pipeline.report", run=_ref(run_id)))
    path = output or Path(f"pipeline-run-{out['run']}.html")
    path.write_text(out["html"], encoding="utf-8")
    console.print(f"wrote {path}")


@app.command("metrics")
def metrics(
    run_id: str = _RUN,
    fmt: str = typer.Option("json", "--format", "-f", help="json ({run, columns, rows}) or csv (RFC 4180)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Per phase, iteration, step, gate and check: scores, thresholds, durations and pass/fail."""
    if fmt not in ("json", "csv"):
        raise fail(f"--format must be json or csv, got {fmt!r}", EXIT_USAGE)
    out = run_client(lambda c: c.call("pipeline.metrics", run=_ref(run_id)))
    text = json.dumps(out, indent=2) + "\n" if fmt == "json" else metrics_csv(out["columns"], out["rows"])
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8", newline="")
    console.print(f"wrote {output}")


def metrics_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """RFC 4180: a header row, CRLF line ends, fields quoted when they hold a comma, quote or line break.

    ``None`` is an empty field and booleans are ``true``/``false``, as spreadsheets and pandas read them.
    """

    def cell(v: Any) -> Any:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return v

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([cell(r.get(c)) for c in columns])
    return buf.getvalue()
