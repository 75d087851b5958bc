"""`executive pipeline ...`: phased pipeline runs from the command line.

``init`` and ``schema`` work without a daemon; everything else talks to the
running daemon over JSON-RPC (``pipeline.*``).  ``run``, ``resume`` and
``validate`` follow the run live (phase, iteration, step, score against
threshold, elapsed time); Ctrl-C detaches and leaves the run going.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, cast

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from executive.api.client import Client
from executive.cli._common import EXIT_ERROR, EXIT_USAGE, console, fail, run_client
from executive.kernel.errors import ExecutiveError
from executive.pipeline.model import pipeline_schema
from executive.pipeline.template import write_template

app = typer.Typer(
    help="Phased pipelines: gates, rising thresholds, rework, checkpoints and resume.", no_args_is_help=True
)

_EVENT_TYPES = ["pipeline.run", "pipeline.phase", "pipeline.step", "pipeline.gate"]
_STOPPED = {"passed", "failed", "cancelled", "interrupted"}
_COLOURS = {
    "passed": "green",
    "ok": "green",
    "approved": "green",
    "failed": "red",
    "blocked": "red",
    "cancelled": "red",
    "not_improving": "red",
    "exhausted": "red",
    "below": "red",
    "rework": "yellow",
    "running": "cyan",
    "waiting_approval": "yellow",
    "interrupted": "yellow",
    "scoring": "cyan",
    "pending": "dim",
}


def _c(value: Any) -> str:
    v = "-" if value is None else str(value)
    colour = _COLOURS.get(v)
    return f"[{colour}]{v}[/]" if colour else v


def _secs(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}m"


# ----------------------------------------------------------------------------- live view
class _LiveView:
    """What the live display shows, folded from pipeline.* events."""

    def __init__(self, info: dict[str, Any], phases: list[str]) -> None:
        self.info = info
        self.rows: dict[str, dict[str, Any]] = {p: {"state": "pending"} for p in phases}
        self.current: dict[str, Any] = {}
        self.note = ""

    def apply(self, ev: dict[str, Any]) -> None:
        d = ev["data"]
        row = self.rows.setdefault(d.get("phase", ""), {"state": "pending"}) if "phase" in d else None
        if ev["type"] == "pipeline.run":
            self.info["state"] = d["to"]
            self.info["detail"] = d.get("detail")
        elif ev["type"] == "pipeline.phase" and row is not None:
            row["state"] = d["state"]
            self.current["phase"] = d["phase"]
            if d["state"] == "waiting_approval":
                self.note = f"waiting for approval: {d.get('hint')}"
            elif d["state"] == "approved":
                self.note = ""
        elif ev["type"] == "pipeline.step" and row is not None:
            row.update(iteration=d["iteration"], step=d["step"] if d["state"] == "started" else None, state="running")
            self.current.update(phase=d["phase"], step=d["step"] if d["state"] == "started" else None)
        elif ev["type"] == "pipeline.gate" and row is not None and d.get("gate") == "exit":
            row.update(
                iteration=d["iteration"], score=d["score"], threshold=d["threshold"], verdict=d["verdict"], step=None
            )

    def render(self) -> Group:
        elapsed = time.time() - float(self.info.get("created") or time.time())
        head = Text.from_markup(
            f"run [bold]{self.info['id']}[/] {self.info.get('name', '')} · {_c(self.info.get('state'))} "
            f"· elapsed {_secs(elapsed)}"
        )
        table = Table(box=None, header_style="bold")
        for col in ("PHASE", "STATE", "IT", "STEP", "SCORE / THRESHOLD", "VERDICT"):
            table.add_column(col)
        for name, row in self.rows.items():
            score = "-" if row.get("score") is None else f"{row['score']:g} / {row['threshold']:g}"
            table.add_row(
                name,
                _c(row["state"]),
                str(row.get("iteration") or "-"),
                row.get("step") or "",
                score,
                _c(row.get("verdict")),
            )
        parts: list[Any] = [head, table]
        if self.note:
            parts.append(Text(self.note, style="yellow"))
        return Group(*parts)


async def _follow(client: Client, run_id: int, cursor: int) -> dict[str, Any]:
    """Show the run live until it stops executing; returns the final run row."""
    await client.call("events.subscribe", types=_EVENT_TYPES, since_seq=cursor)
    info = await client.call("pipeline.info", run=run_id)
    status = await client.call("pipeline.status", run=run_id)
    view = _LiveView(info, [p["name"] for p in status["phases"]])
    for ph in status["phases"]:
        row = view.rows[ph["name"]]
        row["state"] = ph["state"]
        if ph["iterations"]:
            last = ph["iterations"][-1]
            row.update(
                iteration=last["iteration"], score=last["score"], threshold=last["threshold"], verdict=last["verdict"]
            )
    with Live(view.render(), console=console, refresh_per_second=4) as live:
        while view.info.get("state") not in _STOPPED:
            try:
                ev = await client.next_event(timeout=0.5)
            except TimeoutError:
                live.update(view.render())
                continue
            if ev["type"].startswith("pipeline.") and ev["data"].get("run") == run_id:
                view.apply(ev)
                live.update(view.render())
    if not console.is_terminal:
        console.print()  # off a terminal, Live prints its last frame without a line end
    return cast(dict[str, Any], await client.call("pipeline.info", run=run_id))


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
        info = await client.call(method, **params)
        if detach or as_json:
            return cast(dict[str, Any], info)
        return await _follow(client, info["id"], cursor)

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
    requirement: str = typer.Option("", "--requirement", "-r", help="What to build; steps see EXECUTIVE_REQUIREMENT."),
    workdir: Path | None = typer.Option(None, "--workdir", help="Override the file's workdir."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Print the run id and return."),
    as_json: bool = typer.Option(False, "--json", help="Print the run row as JSON and return."),
) -> None:
    """Run a pipeline, showing phase, iteration, step and score against threshold live."""
    params: dict[str, Any] = {"path": os.path.abspath(file), "requirement": requirement}
    if workdir is not None:
        params["workdir"] = os.path.abspath(workdir)
    _start_and_follow("pipeline.run", params, detach, as_json)


@app.command("resume")
def resume(
    run_id: int = typer.Argument(..., metavar="RUN"),
    rework_from: str | None = typer.Option(None, "--rework-from", help="PHASE/STEP or STEP: redo from its latest run."),
    detach: bool = typer.Option(False, "--detach", "-d"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Continue an interrupted or cancelled run (no finished step runs again), or redo from a step."""
    params: dict[str, Any] = {"run": run_id}
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
    """Score an existing project with the pipeline's exit gates; changes nothing unless --remediate."""
    params: dict[str, Any] = {"dir": os.path.abspath(directory), "remediate": remediate, "iteration": iteration}
    if file is not None:
        params["path"] = os.path.abspath(file)

    async def go(client: Client) -> dict[str, Any]:
        info = await client.call("pipeline.validate", **params)
        while True:
            waited = await client.call("pipeline.wait", run=info["id"], timeout=60)
            if not waited["timed_out"]:
                break
        return cast(dict[str, Any], await client.call("pipeline.status", run=info["id"]))

    status = run_client(go)
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        _print_status(status)
    if status["run"]["state"] != "passed":
        raise typer.Exit(EXIT_ERROR)


@app.command("status")
def status_cmd(
    run_id: int = typer.Argument(..., metavar="RUN"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Steps, verdicts, scores and durations by phase and iteration."""
    status = run_client(lambda c: c.call("pipeline.status", run=run_id))
    if as_json:
        print(json.dumps(status, indent=2))
        return
    _print_status(status)


def _print_status(status: dict[str, Any]) -> None:
    run = status["run"]
    console.print(
        f"run [bold]{run['id']}[/] {run['name']} ({run['mode']}) "
        f"· {_c(run['state'])} · {_secs(status['totals']['duration'])}"
        + (f"\n{run['detail']}" if run.get("detail") else "")
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
            failed = ", ".join(f"{c['name']} {c['score']:g}" for c in it["checks"] if c["failed"])
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
    for col in ("RUN", "NAME", "MODE", "STATE", "STARTED", "TIME", "DETAIL"):
        table.add_column(col, overflow="fold" if col == "DETAIL" else "ellipsis")
    for r in rows:
        took = (r.get("ended") or time.time()) - r["created"]
        table.add_row(
            str(r["id"]),
            r["name"],
            r["mode"],
            _c(r["state"]),
            time.strftime("%m-%d %H:%M:%S", time.localtime(r["created"])),
            _secs(took),
            (r.get("detail") or "")[:160],
        )
    console.print(table)


@app.command("approve")
def approve(
    run_id: int = typer.Argument(..., metavar="RUN"),
    phase: str = typer.Argument(..., help="The phase whose approval gate to release."),
    note: str = typer.Option("", "--note", help="Recorded with the approval."),
) -> None:
    """Release a phase's approval gate (durable: survives daemon restarts)."""
    out = run_client(lambda c: c.call("pipeline.approve", run=run_id, phase=phase, note=note))
    console.print(f"approved phase {out['phase']} of run {out['run']} (run is {out['state']})")


@app.command("cancel")
def cancel(run_id: int = typer.Argument(..., metavar="RUN")) -> None:
    """Cancel a run and its in-flight task; `resume` re-runs that step later."""
    out = run_client(lambda c: c.call("pipeline.cancel", run=run_id))
    console.print(f"run {out['id']} {_c(out['state'])}")


@app.command("report")
def report(
    run_id: int = typer.Argument(..., metavar="RUN"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: pipeline-run-RUN.html here."),
) -> None:
    """Write an HTML report with a chart of score against threshold per phase and iteration."""
    out = run_client(lambda c: c.call("pipeline.report", run=run_id))
    path = output or Path(f"pipeline-run-{run_id}.html")
    path.write_text(out["html"], encoding="utf-8")
    console.print(f"wrote {path}")
