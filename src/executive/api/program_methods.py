"""``programs.*``: programs kept running under a restart policy, and the programs file.

Thin: each calls one method of the service (service/programs.py).  ``task.run`` with
``restart`` (api/methods.py) and ``task.restart`` (api/dashboard_methods.py) are the
other doors into the same service.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from executive.api.methods import CallContext
from executive.api.rpc import Method
from executive.service import results

__all__ = ["program_methods"]


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoParams(_P):
    pass


class ProgramRef(_P):
    name: str = Field(min_length=1, max_length=128)


class ProgramsReload(_P):
    path: str | None = Field(
        None, min_length=1, max_length=4096, description="the programs file to read (default: the one in force)"
    )


def program_methods() -> list[Method]:
    def list_(ctx: CallContext, p: NoParams) -> list[results.ProgramInfo]:
        return ctx.service.programs.list()

    async def start(ctx: CallContext, p: ProgramRef) -> results.ProgramInfo:
        return await ctx.service.programs.start(p.name)

    async def stop(ctx: CallContext, p: ProgramRef) -> results.ProgramInfo:
        return await ctx.service.programs.stop(p.name)

    async def reload(ctx: CallContext, p: ProgramsReload) -> results.ProgramsReloaded:
        return await ctx.service.programs.reload(p.path)

    return [
        Method("programs.list", NoParams, list[results.ProgramInfo], list_, "Every program: policy, state, runs."),
        Method("programs.start", ProgramRef, results.ProgramInfo, start, "Start a stopped, exited or fatal program."),
        Method("programs.stop", ProgramRef, results.ProgramInfo, stop, "Stop a program: cancel its run, no restart."),
        Method(
            "programs.reload",
            ProgramsReload,
            results.ProgramsReloaded,
            reload,
            "Re-read the programs file and apply only the differences (a bad file changes nothing).",
        ),
    ]
