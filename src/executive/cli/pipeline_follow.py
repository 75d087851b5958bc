"""Following a pipeline run: a live table with a progress bar and ETA on a terminal, progress lines elsewhere.

The view folds ``pipeline.*`` events into one row per phase.  After every step,
gate or phase event it asks the daemon for ``pipeline.progress`` (units done
and planned, the ETA from the durations of earlier steps and runs); between
events the ETA counts down locally.

On a terminal a ``rich`` Live display redraws the table and a bar under it.
Off a terminal (a pipe, a CI log) a redrawn display is noise, so each event is
one plain line, ``[ 3/14] build it1 · compile ok 2.1s · ETA 40s``, and the
table is printed once at the end.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from executive.api.client import Client
from executive.cli._common import console

__all__ = ["STOPPED", "colour", "follow_run", "secs"]

EVENT_TYPES = ["pipeline.run", "pipeline.phase", "pipeline.step", "pipeline.gate"]
STOPPED = {"passed", "failed", "cancelled", "interrupted"}
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


def colour(value: Any) -> str:
    v = "-" if value is None else str(value)
    c = _COLOURS.get(v)
    return f"[{c}]{v}[/]" if c else v


def secs(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}m"


class _Progress:
    """The last ``pipeline.progress`` reply and when it came, so the ETA can count down between replies."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.at = time.monotonic()

    def eta(self) -> float | None:
        eta = self.reply.get("eta")
        return None if eta is None else max(0.0, float(eta) - (time.monotonic() - self.at))

    def eta_text(self) -> str:
        eta = self.eta()
        if eta is None:
            return "ETA unknown (no step has finished yet)"
        return f"ETA {secs(eta)}" + (
            f" (from {self.reply['history_runs']} earlier runs)" if self.reply["history_runs"] else ""
        )

    def counter(self) -> str:
        width = len(str(self.reply["total"]))
        return f"[{self.reply['done']:>{width}}/{self.reply['total']}]"


class _LiveView:
    """What the live display shows, folded from pipeline.* events."""

    def __init__(self, info: dict[str, Any], phases: list[str], progress: _Progress) -> None:
        self.info = info
        self.rows: dict[str, dict[str, Any]] = {p: {"state": "pending"} for p in phases}
        self.progress = progress
        self.note = ""

    def apply(self, ev: dict[str, Any]) -> str | None:
        """Fold one event in; returns the plain progress line it makes (None: no line)."""
        d = ev["data"]
        row = self.rows.setdefault(d.get("phase", ""), {"state": "pending"}) if "phase" in d else None
        if ev["type"] == "pipeline.run":
            self.info["state"] = d["to"]
            self.info["detail"] = d.get("detail")
            return None
        if ev["type"] == "pipeline.phase" and row is not None:
            row["state"] = d["state"]
            if d["state"] == "waiting_approval":
                self.note = f"waiting for approval: {d.get('hint')}"
                return f"{d['phase']} waits for approval: {d.get('hint')}"
            if d["state"] == "approved":
                self.note = ""
            if d["state"] == "blocked":
                return f"{d['phase']} blocked: {'; '.join(d.get('problems') or [])}"
            return None
        if ev["type"] == "pipeline.step" and row is not None:
            started = d["state"] == "started"
            row.update(iteration=d["iteration"], step=d["step"] if started else None, state="running")
            where = f"{d['phase']} it{d['iteration']} · {d['step']}"
            if started:
                return f"{where} started" + (" (rework)" if d.get("rework") else "")
            return f"{where} {d.get('status')} {secs(d.get('duration'))}" + (
                f": {d['detail']}" if d.get("detail") and d.get("status") != "ok" else ""
            )
        if ev["type"] == "pipeline.gate" and row is not None and d.get("gate") == "exit":
            row.update(
                iteration=d["iteration"], score=d["score"], threshold=d["threshold"], verdict=d["verdict"], step=None
            )
            timed_out = d.get("timed_out_steps") or []
            return f"{d['phase']} it{d['iteration']} · exit gate {d['score']:g} / {d['threshold']:g} {d['verdict']}" + (
                f" (required step {', '.join(timed_out)} timed out)" if timed_out else ""
            )
        return None

    def table(self) -> Table:
        table = Table(box=None, header_style="bold")
        for col in ("PHASE", "STATE", "IT", "STEP", "SCORE / THRESHOLD", "VERDICT"):
            table.add_column(col)
        for name, row in self.rows.items():
            score = "-" if row.get("score") is None else f"{row['score']:g} / {row['threshold']:g}"
            table.add_row(
                name,
                colour(row["state"]),
                str(row.get("iteration") or "-"),
                row.get("step") or "",
                score,
                colour(row.get("verdict")),
            )
        return table

    def head(self) -> Text:
        elapsed = time.time() - float(self.info.get("created") or time.time())
        session = f" (session {self.info['session']})" if self.info.get("session") else ""
        return Text.from_markup(
            f"run [bold]{self.info['id']}[/]{session} {self.info.get('name', '')} · "
            f"{colour(self.info.get('state'))} · elapsed {secs(elapsed)}"
        )

    def bar(self) -> Table:
        p = self.progress.reply
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=32)
        grid.add_column()
        grid.add_row(
            ProgressBar(total=max(1, p["total"]), completed=p["done"], width=32),
            f"{p['done']}/{p['total']} steps · {self.progress.eta_text()}",
        )
        return grid

    def render(self) -> Group:
        parts: list[Any] = [self.head(), self.table(), self.bar()]
        if self.note:
            parts.append(Text(self.note, style="yellow"))
        return Group(*parts)


async def _view(client: Client, run_id: int) -> _LiveView:
    info = await client.call("pipeline.info", run=run_id)
    status = await client.call("pipeline.status", run=run_id)
    progress = _Progress(await client.call("pipeline.progress", run=run_id))
    view = _LiveView(info, [p["name"] for p in status["phases"]], progress)
    for ph in status["phases"]:
        row = view.rows[ph["name"]]
        row["state"] = ph["state"]
        if ph["iterations"]:
            last = ph["iterations"][-1]
            row.update(
                iteration=last["iteration"], score=last["score"], threshold=last["threshold"], verdict=last["verdict"]
            )
    return view


async def follow_run(client: Client, run_id: int, cursor: int) -> dict[str, Any]:
    """Show the run until it stops executing; returns the final run row.

    ``cursor`` is the bus position before the run started, so no event of it is missed.
    """
    await client.call("events.subscribe", types=EVENT_TYPES, since_seq=cursor)
    view = await _view(client, run_id)

    async def next_line() -> tuple[bool, str | None]:
        """Wait for this run's next event; (saw one, its progress line)."""
        try:
            ev = await client.next_event(timeout=0.5)
        except TimeoutError:
            return False, None
        if not (ev["type"].startswith("pipeline.") and ev["data"].get("run") == run_id):
            return False, None
        line = view.apply(ev)
        if ev["type"] != "pipeline.run":
            view.progress = _Progress(await client.call("pipeline.progress", run=run_id))
        return True, line

    if console.is_terminal:
        with Live(view.render(), console=console, refresh_per_second=4) as live:
            while view.info.get("state") not in STOPPED:
                await next_line()
                live.update(view.render())
    else:
        p = view.progress
        console.print(
            f"{view.head().plain} · {p.reply['done']}/{p.reply['total']} steps · {p.eta_text()}", soft_wrap=True
        )
        while view.info.get("state") not in STOPPED:
            seen, line = await next_line()
            if seen and line:
                console.print(
                    f"{view.progress.counter()} {line} · {view.progress.eta_text()}", soft_wrap=True, markup=False
                )
        console.print(view.table())
    final: dict[str, Any] = await client.call("pipeline.info", run=run_id)
    return final
