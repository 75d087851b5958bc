"""Entry and exit gates: what each check measures, scored 0-100.

The same code scores a run's exit gates and ``executive pipeline validate``;
it runs commands only through a :class:`CommandRunner`, so every command a
gate runs is a daemon task (visible in ``ps``, logged, cancellable) and this
module never spawns anything itself.  Check results are plain dicts so they go
into checkpoints and onto the wire unchanged::

    {name, kind, weight, owners, pass_score, score, detail, tasks}

A check that cannot be measured (no test summary in the output, a missing JSON
key, an agent that gave no score) scores 0 with a detail that says what was
expected, so the gate fails loudly instead of passing by accident.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from executive.pipeline import scoring
from executive.pipeline.model import (
    AgentRef,
    Check,
    CommandCheck,
    CoverageCheck,
    FilesExistCheck,
    JsonScoreCheck,
    Phase,
    RubricCheck,
    TestRatioCheck,
)
from executive.pipeline.prompts import DEFAULT_RUBRIC_PROMPT, render
from executive.pipeline.workspace import inside, matches

__all__ = ["CommandResult", "CommandRunner", "GateContext", "evaluate_entry_gate", "evaluate_exit_gate", "score_check"]

_DETAIL_CHARS = 500


@dataclasses.dataclass(slots=True)
class CommandResult:
    exit_code: int | None  # None when it did not exit by itself
    end_reason: str  # the task's end_reason, or "failed" when it could not start
    stdout: str  # the tail of stdout (pipeline_check_output_bytes)
    stderr: str  # the tail of stderr
    task_id: int | None
    error: str | None = None  # why it could not start
    retryable: bool = True  # False when starting it again would fail the same way
    verdict: bool | None = None  # an agent run's own success verdict (overrides the exit code)
    note: str = ""  # why an agent run was not ok
    text: str = ""  # an agent's final message

    @property
    def ok(self) -> bool:
        if self.verdict is not None:
            return self.verdict and self.end_reason == "exited"
        return self.end_reason == "exited" and self.exit_code == 0

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.note:
            return self.note
        if self.end_reason != "exited":
            return f"task {self.task_id} {self.end_reason}"
        last = (self.stderr.strip() or self.stdout.strip()).splitlines()[-1:] or [""]
        return f"exit {self.exit_code}" + (f": {last[0][:200]}" if last[0] else "")


class CommandRunner(Protocol):
    async def command(self, argv: list[str], *, label: str, timeout: float) -> CommandResult:
        """Run ``argv`` in the working directory as a task and wait for it."""
        ...

    async def agent(self, agent: AgentRef, prompt: str, *, label: str, timeout: float) -> CommandResult:
        """Run an agent headless on ``prompt`` as a task and wait for it."""
        ...


@dataclasses.dataclass(slots=True)
class GateContext:
    workdir: str
    values: Mapping[str, object]  # prompt placeholders (requirement, phase, ...)
    prompt_bytes: int
    report_bytes: int  # the largest coverage report read


def _result(check: Check, score: float, detail: str, tasks: list[int]) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "weight": check.weight,
        "owners": list(check.owners),
        "pass_score": check.pass_score,
        "score": round(scoring.clamp(score), 2),
        "detail": detail[:_DETAIL_CHARS],
        "tasks": tasks,
    }


async def score_check(check: Check, runner: CommandRunner, ctx: GateContext) -> dict[str, Any]:
    """Measure one check; never raises for a failing project, only for a broken runner."""
    label = f"gate.{check.name}"
    if isinstance(check, FilesExistCheck):
        missing = await asyncio.to_thread(_missing, ctx.workdir, check.paths, check.non_empty)  # globs walk the tree
        present = len(check.paths) - len(missing)
        detail = (
            "all present" if not missing else f"missing{' or empty' if check.non_empty else ''}: {', '.join(missing)}"
        )
        return _result(check, 100.0 * present / len(check.paths), detail, [])
    if isinstance(check, CommandCheck):
        res = await runner.command(list(check.command), label=label, timeout=check.timeout_s)
        return _result(check, 100.0 if res.ok else 0.0, "exit 0" if res.ok else res.describe(), _tasks(res))
    if isinstance(check, TestRatioCheck):
        res = await runner.command(list(check.command), label=label, timeout=check.timeout_s)
        counts = scoring.parse_test_summary(res.stdout + "\n" + res.stderr, check.format)
        if res.error or counts is None:
            why = (
                res.error
                or f"no test summary found ({check.format}); "
                "print e.g. '3 passed, 1 failed' or JSON "
                '{"passed": 3, "failed": 1}'
            )
            return _result(check, 0.0, why, _tasks(res))
        passed, bad = counts
        total = passed + bad
        return _result(check, 100.0 * passed / total if total else 0.0, f"{passed} passed, {bad} failed", _tasks(res))
    if isinstance(check, CoverageCheck):
        return await _coverage(check, runner, ctx, label)
    if isinstance(check, JsonScoreCheck):
        res = await runner.command(list(check.command), label=label, timeout=check.timeout_s)
        obj = scoring.json_from_output(res.stdout)
        if obj is None:
            return _result(check, 0.0, res.error or f"no JSON in stdout ({res.describe()})", _tasks(res))
        try:
            value = scoring.lookup(obj, check.key)
        except KeyError as exc:
            return _result(check, 0.0, f"key {exc.args[0]!r} not found in the command's JSON output", _tasks(res))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _result(check, 0.0, f"{check.key} is {json.dumps(value)[:80]}, not a number", _tasks(res))
        return _result(check, 100.0 * value / check.scale, f"{check.key} = {value} (of {check.scale:g})", _tasks(res))
    if isinstance(check, RubricCheck):
        values = dict(ctx.values, rubric=check.rubric)
        prompt = render(check.prompt or DEFAULT_RUBRIC_PROMPT, values, max_bytes=ctx.prompt_bytes)
        res = await runner.agent(check.agent, prompt, label=label, timeout=check.timeout_s)
        score = scoring.parse_rubric_score(res.text) if res.text else None
        if score is None:
            score = scoring.parse_rubric_score(res.stdout)
        if score is None:
            return _result(
                check, 0.0, res.error or f'no {{"score": n}} in the agent\'s output ({res.describe()})', _tasks(res)
            )
        return _result(check, score, f"agent scored {score:g}", _tasks(res))
    raise TypeError(f"unknown check kind {type(check).__name__}")


async def _coverage(check: CoverageCheck, runner: CommandRunner, ctx: GateContext, label: str) -> dict[str, Any]:
    tasks: list[int] = []
    text = ""
    if check.command is not None:
        res = await runner.command(list(check.command), label=label, timeout=check.timeout_s)
        tasks = _tasks(res)
        if res.error:
            return _result(check, 0.0, res.error, tasks)
        text = res.stdout + "\n" + res.stderr
    percent: float | None = None
    if check.report is not None:
        percent, problem = await asyncio.to_thread(_read_report, ctx.workdir, check.report, ctx.report_bytes)
        if problem is not None:
            return _result(check, 0.0, problem, tasks)
    else:
        percent = scoring.parse_coverage_text(text)
    if percent is None:
        return _result(check, 0.0, "no coverage total found (a 'TOTAL ... NN%' line or totals.percent_covered)", tasks)
    return _result(check, 100.0 * percent / check.target, f"coverage {percent:g}% (target {check.target:g}%)", tasks)


def _missing(workdir: str, patterns: list[str], non_empty: bool) -> list[str]:
    """The patterns that match no file (no non-empty file with ``non_empty``); blocking, run in a thread."""
    missing = []
    for pattern in patterns:
        found = matches(workdir, pattern)
        if non_empty:
            found = [p for p in found if p.is_file() and p.stat().st_size > 0]
        if not found:
            missing.append(pattern)
    return missing


def _read_report(workdir: str, report: str, limit: int) -> tuple[float | None, str | None]:
    """``(percent, None)`` from a coverage.py JSON report, or ``(None, why not)``; blocking, run in a thread."""
    path = inside(workdir, report)
    if path is None or not path.is_file():
        return None, f"coverage report {report} not found in the working directory"
    if path.stat().st_size > limit:
        return None, f"coverage report {report} is larger than {limit} bytes"
    try:
        return scoring.coverage_from_report(json.loads(Path(path).read_text(encoding="utf-8"))), None
    except (ValueError, OSError, RecursionError) as exc:
        return None, f"coverage report {report} is not coverage.py JSON: {exc}"


def _tasks(res: CommandResult) -> list[int]:
    return [res.task_id] if res.task_id is not None else []


async def evaluate_exit_gate(phase: Phase, runner: CommandRunner, ctx: GateContext) -> list[dict[str, Any]]:
    """Score every check of the phase's exit gate, in file order."""
    return [await score_check(check, runner, ctx) for check in phase.checks]


async def evaluate_entry_gate(
    phase: Phase, earlier: list[str], passed: list[str], runner: CommandRunner, ctx: GateContext
) -> dict[str, Any]:
    """Check the phase's entry gate: earlier phases passed, files present, commands succeed.

    Returns ``{ok, problems, tasks}``; approval is not checked here (it is a durable wait of its own).
    """
    problems: list[str] = []
    tasks: list[int] = []
    required = earlier if phase.entry.requires is None else list(phase.entry.requires)
    for name in required:
        if name not in passed:
            problems.append(f"phase {name!r} has not passed")
    for pattern in await asyncio.to_thread(_missing, ctx.workdir, phase.entry.files, False):
        problems.append(f"required file {pattern} is missing")
    for i, argv in enumerate(phase.entry.commands):
        res = await runner.command(list(argv), label=f"entry.{i + 1}", timeout=phase.entry.timeout_s)
        tasks += _tasks(res)
        if not res.ok:
            problems.append(f"entry command {' '.join(argv)[:120]!r} failed: {res.describe()}")
    return {"ok": not problems, "problems": problems, "tasks": tasks}
