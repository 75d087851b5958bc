"""Result shapes of ``Executive.pipelines`` (pipeline/engine.py, pipeline/status.py).

Plain-dict TypedDicts (core.py says why).  A run's ``thresholds`` and ``options``
and a phase's per-iteration steps and checks are described one level deep; the
pipeline file's own JSON Schema is ``pipeline.schema``.
"""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

__all__ = [
    "PipelineApproval",
    "PipelineMetrics",
    "PipelineProgress",
    "PipelineReport",
    "PipelineRun",
    "PipelineRunSummary",
    "PipelineStatus",
    "PipelineWaitResult",
]


class PipelineLive(TypedDict):
    """Where an attached run is now."""

    phase: str | None
    iteration: int | None
    step: str | None
    score: float | None
    threshold: float | None
    task: NotRequired[int | None]


class PipelineRunSummary(TypedDict):
    """A run in ``pipeline.list`` (without its thresholds and options)."""

    id: int
    name: str
    session: str | None
    mode: str
    source: str | None
    requirement: str
    workdir: str
    state: str
    detail: str | None
    created: float
    updated: float
    ended: float | None
    active: bool


class PipelineRun(PipelineRunSummary):
    """A run row with its live position (null unless attached to this daemon)."""

    content_sha: str
    thresholds: dict[str, list[float]]
    options: dict[str, Any]
    live: PipelineLive | None


class PipelineWaitResult(PipelineRun):
    timed_out: bool


class PipelineApproval(TypedDict):
    run: int
    phase: str
    approved: float
    note: str
    state: str


class StepStatus(TypedDict):
    step: str
    status: str
    starts: int
    attempts: int | None
    tasks: list[int]
    exit_code: int | None
    duration: float | None
    detail: str | None
    kind: str | None


class CheckStatus(TypedDict):
    name: str
    kind: str
    score: float
    weight: float
    detail: str | None
    tasks: list[int]
    owners: list[str]
    failed: bool


class IterationStatus(TypedDict):
    iteration: int
    steps: list[StepStatus]
    checks: list[CheckStatus]
    score: float | None
    threshold: float | None
    verdict: str | None
    previous: float | None
    timed_out_steps: list[str]  # required steps whose latest run timed out: the gate could not pass


class PhaseStatus(TypedDict):
    name: str
    description: str
    thresholds: list[float]
    entry: dict[str, Any] | None
    approval: dict[str, Any] | None
    approval_required: bool
    approved: dict[str, Any] | None
    iterations: list[IterationStatus]
    state: str


class StatusRun(TypedDict):
    id: int
    name: str
    session: str | None
    mode: str
    state: str
    detail: str | None
    requirement: str
    workdir: str
    source: str | None
    content_sha: str
    created: float
    updated: float
    ended: float | None
    options: dict[str, Any]
    active: bool
    live: PipelineLive | None


class StatusTotals(TypedDict):
    steps_run: int
    gates: int
    duration: float


class PipelineStatus(TypedDict):
    run: StatusRun
    phases: list[PhaseStatus]
    totals: StatusTotals


class PipelineReport(TypedDict):
    run: int
    html: str


class MetricsRun(TypedDict):
    """The run a metrics table belongs to."""

    run: int
    session: str | None
    pipeline: str
    name: str
    mode: str
    state: str
    requirement: str
    created: float
    ended: float | None
    duration_s: float
    steps_run: int
    gates: int


class MetricsRow(TypedDict):
    """One row of ``pipeline.metrics`` (pipeline/metrics.py says what each kind means)."""

    run: int
    session: str | None
    pipeline: str
    phase: str
    iteration: int | None
    kind: str  # entry | approval | step | gate | check | phase
    name: str
    status: str | None
    passed: bool | None
    score: float | None
    threshold: float | None
    weight: float | None
    duration_s: float | None
    attempts: int | None
    exit_code: int | None
    started: float | None
    ended: float | None


class PipelineMetrics(TypedDict):
    run: MetricsRun
    columns: list[str]  # the order of a CSV export's columns (the keys of every row)
    rows: list[MetricsRow]


class ProgressUnit(TypedDict):
    phase: str
    iteration: int
    kind: str
    step: str | None


class PipelineProgress(TypedDict):
    """Units (entry gates, steps, exit gates) done and planned, and the estimated time left."""

    run: int
    state: str
    done: int
    total: int
    eta: float | None  # seconds; null until some duration is known
    elapsed: float
    measured: int  # durations the estimate rests on
    history_runs: int  # earlier runs of this pipeline among them
    current: ProgressUnit | None
