"""Phased pipeline runs as the service offers them: ``Executive.pipelines``.

One typed method per ``pipeline.*`` operation over the engine (pipeline/engine.py),
which creates, drives, checkpoints and resumes runs.  Long work never blocks a
reply: ``run`` returns once the run is checkpointed and started.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from executive.pipeline.engine import PipelineEngine
from executive.pipeline.model import pipeline_schema
from executive.service.results import (
    PipelineApproval,
    PipelineMetrics,
    PipelineProgress,
    PipelineReport,
    PipelineRun,
    PipelineRunSummary,
    PipelineStatus,
    PipelineWaitResult,
)

__all__ = ["PipelinesService", "RunRef"]

RunRef = int | str  # a run id, or the session name given at `run --session NAME`


class PipelinesService:
    """Start, score, follow, resume, approve, cancel and report pipeline runs."""

    def __init__(self, engine: PipelineEngine) -> None:
        self.engine = engine

    async def open(self) -> None:
        """Daemon start: interrupted runs wait for ``resume``; approval waits re-attach."""
        await self.engine.start()

    async def aclose(self) -> None:
        """Daemon stop: executing runs become ``interrupted`` (approval waits stay durable)."""
        await self.engine.aclose()

    @property
    def launcher(self) -> Any:
        """How agent steps start agents (default: the daemon's agents layer); tests and embedders swap it."""
        return self.engine.launcher

    @launcher.setter
    def launcher(self, value: Any) -> None:
        self.engine.launcher = value

    async def run(
        self,
        *,
        path: str | None = None,
        text: str | None = None,
        requirement: str = "",
        workdir: str | None = None,
        session: str | None = None,
        max_phase_iterations: int | None = None,
        threshold_schedule: Sequence[float] | None = None,
    ) -> PipelineRun:
        """Start a run of a pipeline file (``path``) or its ``text``; the run row at once.

        ``requirement`` must not be empty; ``session`` names the run (unique) so that
        every method here also takes that name where it takes a run id.
        """
        out = await self.engine.run(
            path=path,
            text=text,
            requirement=requirement,
            workdir=workdir,
            session=session,
            max_phase_iterations=max_phase_iterations,
            threshold_schedule=threshold_schedule,
        )
        return cast(PipelineRun, out)

    async def validate(
        self, directory: str, *, path: str | None = None, remediate: bool = False, iteration: int = 1
    ) -> PipelineRun:
        """Score an existing project with the exit gates (``remediate``: rework what fails)."""
        out = await self.engine.validate(directory, path=path, remediate=remediate, iteration=iteration)
        return cast(PipelineRun, out)

    async def status(self, run: RunRef) -> PipelineStatus:
        """Steps, verdicts, scores and durations by phase and iteration."""
        return cast(PipelineStatus, await self.engine.status(await self.engine.resolve(run)))

    async def info(self, run: RunRef) -> PipelineRun:
        return cast(PipelineRun, await self.engine.info(await self.engine.resolve(run)))

    async def metrics(self, run: RunRef) -> PipelineMetrics:
        """Per phase, iteration, step, gate and check: scores, thresholds, durations, pass/fail (one flat table)."""
        return cast(PipelineMetrics, await self.engine.metrics(await self.engine.resolve(run)))

    async def progress(self, run: RunRef) -> PipelineProgress:
        """Units done and planned, and the ETA from the durations of earlier steps and runs."""
        return cast(PipelineProgress, await self.engine.progress(await self.engine.resolve(run)))

    async def list_runs(self, *, limit: int = 100, state: str | None = None) -> list[PipelineRunSummary]:
        return cast(list[PipelineRunSummary], await self.engine.list_runs(limit=limit, state=state))

    async def wait(self, run: RunRef, *, timeout: float) -> PipelineWaitResult:
        """Wait until the run stops executing (ended, interrupted, or waiting for approval)."""
        return cast(PipelineWaitResult, await self.engine.wait(await self.engine.resolve(run), timeout=timeout))

    async def resume(self, run: RunRef, *, rework_from: str | None = None) -> PipelineRun:
        return cast(PipelineRun, await self.engine.resume(await self.engine.resolve(run), rework_from=rework_from))

    async def approve(self, run: RunRef, phase: str, note: str = "") -> PipelineApproval:
        return cast(PipelineApproval, await self.engine.approve(await self.engine.resolve(run), phase, note))

    async def cancel(self, run: RunRef) -> PipelineRun:
        return cast(PipelineRun, await self.engine.cancel(await self.engine.resolve(run)))

    async def report(self, run: RunRef) -> PipelineReport:
        """The run's HTML report."""
        run_id = await self.engine.resolve(run)
        return {"run": run_id, "html": await self.engine.report(run_id)}

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of pipeline files."""
        return pipeline_schema()
