"""JSON-RPC ``pipeline.*``: thin handlers onto ``Executive.pipelines`` (service/pipelines.py).

Runs are identified by integer ids.  Long work never blocks a reply:
``pipeline.run`` returns as soon as the run is checkpointed and started;
follow it with ``events.subscribe`` (types ``pipeline.run``, ``pipeline.phase``,
``pipeline.step``, ``pipeline.gate``) or ``pipeline.wait``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from executive.api.rpc import Method
from executive.service import results
from executive.service.pipelines import PipelinesService

__all__ = ["pipeline_methods"]


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A run id, or the session name its `run` gave it (letters first, so never all digits).
Run = Annotated[int, Field(ge=1, le=2**63 - 1)] | Annotated[str, StringConstraints(min_length=1, max_length=64)]
_RUN_DOC = "the run id, or its session name (pipeline.run's session)"


class PipelineRun(_P):
    path: str | None = Field(
        None, max_length=4096, description="absolute path of the pipeline file on the daemon's host"
    )
    text: str | None = Field(None, description="the pipeline file's content (then workdir is required)")
    requirement: str = Field(
        "",
        description="what the run should build (required: not empty, not only spaces); steps see it as "
        "EXECUTIVE_REQUIREMENT",
    )
    workdir: str | None = Field(None, max_length=4096, description="overrides the file's workdir")
    session: str | None = Field(
        None,
        max_length=1024,  # the engine allows 64 characters and says so; this only bounds the input
        description="a unique name for the run (letters, digits, _ . -; starts with a letter): every pipeline.* "
        "method then takes it in place of the run id",
    )
    max_phase_iterations: int | None = Field(
        None, ge=1, description="overrides every phase's max_iterations (at most pipeline_max_iterations)"
    )
    threshold_schedule: list[float] | None = Field(
        None,
        max_length=64,
        description="thresholds (0-100, increasing) per iteration, for every phase, replacing the file's; "
        "the last repeats; no more entries than a phase can iterate",
    )


class PipelineValidate(_P):
    dir: str = Field(max_length=4096, description="the project directory to score")
    path: str | None = Field(None, max_length=4096, description="pipeline file; default DIR/pipeline.yaml")
    remediate: bool = Field(False, description="run the rework steps of the checks that fail")
    iteration: int = Field(1, ge=1, description="score against this iteration's threshold")


class RunRef(_P):
    run: Run = Field(description=_RUN_DOC)


class PipelineResume(_P):
    run: Run = Field(description=_RUN_DOC)
    rework_from: str | None = Field(
        None, max_length=200, description="PHASE/STEP or STEP: forget checkpoints from its latest run on"
    )


class PipelineApprove(_P):
    run: Run = Field(description=_RUN_DOC)
    phase: str = Field(max_length=64)
    note: str = Field("", max_length=4096)


class PipelineWait(_P):
    run: Run = Field(description=_RUN_DOC)
    timeout: float = Field(60.0, ge=0, le=3600)


class PipelineList(_P):
    limit: int = Field(100, ge=1, le=10000)
    state: Literal["pending", "running", "waiting_approval", "interrupted", "passed", "failed", "cancelled"] | None = (
        None
    )


class NoParams(_P):
    pass


def _engine(ctx: Any) -> PipelinesService:
    pipelines: PipelinesService = ctx.service.pipelines
    return pipelines


def pipeline_methods() -> list[Method]:
    """pipeline.run, validate, status, info, metrics, progress, list, wait, resume, approve, cancel, report, schema."""
    return [
        Method(
            "pipeline.run",
            PipelineRun,
            results.PipelineRun,
            lambda c, p: _engine(c).run(
                path=p.path,
                text=p.text,
                requirement=p.requirement,
                workdir=p.workdir,
                session=p.session,
                max_phase_iterations=p.max_phase_iterations,
                threshold_schedule=p.threshold_schedule,
            ),
            "Start a pipeline run; returns the run row at once.",
        ),
        Method(
            "pipeline.validate",
            PipelineValidate,
            results.PipelineRun,
            lambda c, p: _engine(c).validate(p.dir, path=p.path, remediate=p.remediate, iteration=p.iteration),
            "Score an existing project with the exit gates (changes nothing unless remediate).",
        ),
        Method(
            "pipeline.status",
            RunRef,
            results.PipelineStatus,
            lambda c, p: _engine(c).status(p.run),
            "Steps, verdicts, scores and durations by phase and iteration.",
        ),
        Method(
            "pipeline.info",
            RunRef,
            results.PipelineRun,
            lambda c, p: _engine(c).info(p.run),
            "The run row and its live position.",
        ),
        Method(
            "pipeline.metrics",
            RunRef,
            results.PipelineMetrics,
            lambda c, p: _engine(c).metrics(p.run),
            "Per phase, iteration, step, gate and check: scores, thresholds, durations, pass/fail, as one table.",
        ),
        Method(
            "pipeline.progress",
            RunRef,
            results.PipelineProgress,
            lambda c, p: _engine(c).progress(p.run),
            "Units done and planned, and the ETA from the durations of earlier steps and runs.",
        ),
        Method(
            "pipeline.list",
            PipelineList,
            list[results.PipelineRunSummary],
            lambda c, p: _engine(c).list_runs(limit=p.limit, state=p.state),
            "Runs, oldest first.",
        ),
        Method(
            "pipeline.wait",
            PipelineWait,
            results.PipelineWaitResult,
            lambda c, p: _engine(c).wait(p.run, timeout=p.timeout),
            "Wait until the run stops executing (ended, interrupted, or waiting for approval).",
        ),
        Method(
            "pipeline.resume",
            PipelineResume,
            results.PipelineRun,
            lambda c, p: _engine(c).resume(p.run, rework_from=p.rework_from),
            "Continue an interrupted run, or restart a stopped one from a step.",
        ),
        Method(
            "pipeline.approve",
            PipelineApprove,
            results.PipelineApproval,
            lambda c, p: _engine(c).approve(p.run, p.phase, p.note),
            "Release a phase's approval gate.",
        ),
        Method(
            "pipeline.cancel",
            RunRef,
            results.PipelineRun,
            lambda c, p: _engine(c).cancel(p.run),
            "Cancel a run and its in-flight task.",
        ),
        Method(
            "pipeline.report",
            RunRef,
            results.PipelineReport,
            lambda c, p: _engine(c).report(p.run),
            "The run's HTML report as {html}.",
        ),
        Method(
            "pipeline.schema",
            NoParams,
            dict[str, Any],
            lambda c, p: _engine(c).schema(),
            "The JSON Schema of pipeline files.",
        ),
    ]
