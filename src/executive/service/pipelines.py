"""Phased pipeline runs as the service offers them: ``Executive.pipelines``.

One typed method per ``pipeline.*`` operation over the engine (pipeline/engine.py),
which creates, drives, checkpoints and resumes runs.  Long work never blocks a
reply: ``run`` returns once the run is checkpointed and started.
"""

from __future__ import annotations

from typing import Any, cast

from executive.pipeline.engine import PipelineEngine
from executive.pipeline.model import pipeline_schema
from executive.service.results import (
    PipelineApproval,
    PipelineReport,
    PipelineRun,
    PipelineRunSummary,
    PipelineStatus,
    PipelineWaitResult,
)

__all__ = ["PipelinesService"]


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
        self, *, path: str | None = None, text: str | None = None, requirement: str = "", workdir: str | None = None
    ) -> PipelineRun:
        """Start a run of a pipeline file (``path``) or its ``text``; the run row at once."""
        return cast(PipelineRun, await self.engine.run(path=path, text=text, requirement=requirement, workdir=workdir))

    async def validate(
        self, directory: str, *, path: str | None = None, remediate: bool = False, iteration: int = 1
    ) -> PipelineRun:
        """Score an existing project with the exit gates (``remediate``: rework what fails)."""
        out = await self.engine.validate(directory, path=path, remediate=remediate, iteration=iteration)
        return cast(PipelineRun, out)

    async def status(self, run_id: int) -> PipelineStatus:
        """Steps, verdicts, scores and durations by phase and iteration."""
        return cast(PipelineStatus, await self.engine.status(run_id))

    async def info(self, run_id: int) -> PipelineRun:
        return cast(PipelineRun, await self.engine.info(run_id))

    async def list_runs(self, *, limit: int = 100, state: str | None = None) -> list[PipelineRunSummary]:
        return cast(list[PipelineRunSummary], await self.engine.list_runs(limit=limit, state=state))

    async def wait(self, run_id: int, *, timeout: float) -> PipelineWaitResult:
        """Wait until the run stops executing (ended, interrupted, or waiting for approval)."""
        return cast(PipelineWaitResult, await self.engine.wait(run_id, timeout=timeout))

    async def resume(self, run_id: int, *, rework_from: str | None = None) -> PipelineRun:
        return cast(PipelineRun, await self.engine.resume(run_id, rework_from=rework_from))

    async def approve(self, run_id: int, phase: str, note: str = "") -> PipelineApproval:
        return cast(PipelineApproval, await self.engine.approve(run_id, phase, note))

    async def cancel(self, run_id: int) -> PipelineRun:
        return cast(PipelineRun, await self.engine.cancel(run_id))

    async def report(self, run_id: int) -> PipelineReport:
        """The run's HTML report."""
        return {"run": run_id, "html": await self.engine.report(run_id)}

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of pipeline files."""
        return pipeline_schema()
