"""MCP tools for the agent work loop and pipelines: agents, patches, the fix loop, pipeline runs and gates.

Each tool calls one or two ``agent.*``, ``patch.*`` or ``pipeline.*`` methods
(api/agent_methods.py, api/pipeline_methods.py); the input models derive from
those methods' params models.  Waiting tools wait in short slices and send
progress notifications between them (see ``wait_in_slices``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from executive.api.agent_methods import AgentRef, AgentRun, FixStart, PatchApply, PatchRollback
from executive.api.mcp_schemas import AgentRunOutput, FixStatusOutput, method_output, output_schema
from executive.api.mcp_toolkit import (
    Hints,
    McpArgs,
    ToolAnswer,
    ToolCall,
    ToolSpec,
    as_json_text,
    derive,
    rpc_params,
    wait_in_slices,
)
from executive.api.pipeline_methods import PipelineApprove, PipelineResume, PipelineRun, RunRef

__all__ = ["work_tools"]

_WAIT = (float, Field(0.0, ge=0, le=3600, description="seconds to wait for the end; 0 answers at once"))

RunAgent = derive(
    "RunAgent",
    AgentRun,
    describe={
        "agent": "which coding-agent CLI runs the prompt",
        "prompt": "the task for the agent",
        "cwd": "the repository (absolute path) the agent works in",
        "worktree": "run in a fresh git worktree of cwd, so the main tree stays untouched",
        "timeout": "seconds after which the agent task is cancelled",
    },
    wait=(float, Field(0.0, ge=0, le=3600, description="seconds to wait for its result; 0 returns at once")),
)
AgentResult = derive("AgentResult", AgentRef, describe={"task": "the agent task id"}, timeout=_WAIT)
AgentDiff = derive("AgentDiff", AgentRef, describe={"task": "the agent task id"})
ApplyPatch = derive(
    "ApplyPatch",
    PatchApply,
    describe={
        "diff": "a unified diff (git diff format), paths relative to the repository",
        "cwd": "the repository (absolute path)",
        "verify": ("a command (argv list or string) run in a mirror with the patch applied; kept only if it passes"),
        "apply": "false: validate (and verify) only, change nothing",
        "commit": "commit the patch's paths after applying",
    },
)
RollbackPatch = derive("RollbackPatch", PatchRollback, describe={"patch": "the patch id from apply_patch"})
FixLoop = derive(
    "FixLoop",
    FixStart,
    describe={
        "cwd": "the repository (absolute path)",
        "test_cmd": "the test command, e.g. 'pytest -q' (split like a shell would; no shell runs it)",
        "agent": "which coding-agent CLI proposes the fixes",
        "max_iterations": "most agent attempts",
    },
)


class FixStatus(McpArgs):
    run: int = Field(description="the fix run id from run_fix_loop")
    timeout: float = Field(0.0, ge=0, le=3600, description="seconds to wait for the end; 0 answers at once")


RunPipeline = derive("RunPipeline", PipelineRun)
PipelineStatus = derive("PipelineStatus", RunRef, describe={"run": "the pipeline run id"})
ApproveGate = derive(
    "ApproveGate", PipelineApprove, describe={"phase": "the phase whose approval gate to release", "note": "why"}
)
ResumePipeline = derive("ResumePipeline", PipelineResume)


def _agent_text(result: dict[str, Any]) -> str:
    run = result.get("run") or {}
    if result.get("timed_out") or result.get("result") is None:
        return f"agent task {run.get('task_id')} has no result yet; call agent_result with a timeout to wait"
    res = result["result"]
    verdict = "succeeded" if res.get("ok") else f"failed ({'; '.join(str(e) for e in res.get('errors') or [])})"
    return f"agent task {run.get('task_id')} {verdict}: {res.get('text') or ''}".strip()


async def _agent_wait(call: ToolCall, task: int | str, timeout: float) -> dict[str, Any]:
    if timeout <= 0:
        answer: dict[str, Any] = await call.call("agent.wait", {"task": task, "timeout": 0})
        return answer
    answer, _ = await wait_in_slices(
        call,
        "agent.wait",
        {"task": task},
        timeout,
        lambda r: not r["timed_out"],
        lambda r: f"agent task {task} is still working",
    )
    return dict(answer)


async def _run_agent(call: ToolCall, args: Any) -> ToolAnswer:
    row = await call.call("agent.run", rpc_params(args, AgentRun))
    out = {**row, "result": None, "waited": bool(args.wait)}
    if not args.wait:
        return ToolAnswer(out, f"agent task {row['id']} started; call agent_result with task={row['id']} to wait")
    res = await _agent_wait(call, row["id"], args.wait)
    out["result"] = res.get("result")
    out["timed_out"] = res.get("timed_out")
    return ToolAnswer(out, _agent_text(res))


async def _agent_result(call: ToolCall, args: Any) -> ToolAnswer:
    res = await _agent_wait(call, args.task, args.timeout)
    return ToolAnswer(res, _agent_text(res))


async def _agent_diff(call: ToolCall, args: Any) -> ToolAnswer:
    out = await call.call("agent.diff", {"task": args.task})
    files = ", ".join(str(f) for f in out.get("files") or []) or "no files"
    return ToolAnswer(out, f"{files}\n{out.get('diff') or '(no diff)'}")


def _passthrough(method: str, base: type, say: str) -> Any:
    async def run(call: ToolCall, args: Any) -> ToolAnswer:
        out = await call.call(method, rpc_params(args, base))
        state = out.get("state") if isinstance(out, dict) else None
        return ToolAnswer(out, f"{say}: {out.get('id', '')} {state or ''}".strip() + "\n" + _compact(out))

    return run


def _compact(out: Any) -> str:
    return as_json_text(out)


async def _fix_status(call: ToolCall, args: Any) -> ToolAnswer:
    if args.timeout <= 0:
        out = await call.call("agent.fix_show", {"run": args.run})
    else:
        answer, _ = await wait_in_slices(
            call,
            "agent.fix_wait",
            {"run": args.run},
            args.timeout,
            lambda r: not r.get("timed_out"),
            lambda r: f"fix run {args.run}: {len(r.get('attempts') or [])} attempts so far",
        )
        out = answer
    return ToolAnswer(out, f"fix run {out.get('id')} is {out.get('state')}\n{_compact(out)}")


def work_tools() -> list[ToolSpec]:
    write = Hints(read_only=False, destructive=False, idempotent=False)
    ro = Hints(read_only=True, destructive=False, idempotent=True)
    return [
        ToolSpec(
            "run_agent",
            "Run a coding agent",
            "Start a coding-agent CLI (Claude Code, Codex, Aider, or a configured command) on a prompt in a "
            "repository, as a supervised agent task; optionally in its own git worktree. Returns the task at "
            "once (or waits up to `wait` seconds for the result). Then agent_result for its outcome and "
            "agent_diff for the changes it left.",
            RunAgent,
            output_schema(AgentRunOutput),
            Hints(read_only=False, destructive=True, idempotent=False, open_world=True),
            _run_agent,
        ),
        ToolSpec(
            "agent_result",
            "Agent result",
            "The normalized result of an agent run (status, final text, cost, session id); waits up to `timeout` "
            "seconds with progress notifications. result is null while the agent still works.",
            AgentResult,
            method_output("agent.wait"),
            ro,
            _agent_result,
        ),
        ToolSpec(
            "agent_diff",
            "Agent diff",
            "The unified diff an agent run left in its work tree, and the files it changed.",
            AgentDiff,
            method_output("agent.diff"),
            ro,
            _agent_diff,
        ),
        ToolSpec(
            "apply_patch",
            "Apply a patch",
            "Apply a unified diff to a git repository through the patch engine: validated in a mirror first "
            "(paths may not leave the repository), optionally verified by a command, recorded in a ledger so "
            "rollback_patch restores the exact previous tree. A conflict is an outcome (state), not an error.",
            ApplyPatch,
            method_output("patch.apply"),
            Hints(read_only=False, destructive=True, idempotent=False),
            _passthrough("patch.apply", PatchApply, "patch"),
        ),
        ToolSpec(
            "rollback_patch",
            "Roll back a patch",
            "Restore the tree exactly as it was before an applied patch (refused if the files changed since, "
            "unless force).",
            RollbackPatch,
            method_output("patch.rollback"),
            Hints(read_only=False, destructive=True, idempotent=True),
            _passthrough("patch.rollback", PatchRollback, "patch"),
        ),
        ToolSpec(
            "run_fix_loop",
            "Run the fix loop",
            "Start the fix loop on a repository: run the tests; while they fail, ask the coding agent for a fix, "
            "apply it as a patch, re-run the tests, keep it if they pass better and roll it back if not, up to "
            "max_iterations. Returns the fix run at once; follow it with fix_loop_status.",
            FixLoop,
            method_output("agent.fix"),
            Hints(read_only=False, destructive=True, idempotent=False, open_world=True),
            _passthrough("agent.fix", FixStart, "fix run"),
        ),
        ToolSpec(
            "fix_loop_status",
            "Fix loop status",
            "A fix run with every attempt (agent, patch, test outcome); waits up to `timeout` seconds for it to end.",
            FixStatus,
            output_schema(FixStatusOutput),
            ro,
            _fix_status,
        ),
        ToolSpec(
            "run_pipeline",
            "Run a pipeline",
            "Start a phased pipeline run from a pipeline file (path) or its text: steps run as tasks, phases end "
            "in gates with thresholds and rework, approval gates wait for approve_gate. Returns the run at once; "
            "follow it with pipeline_status (or read the pipeline://{run}/report resource).",
            RunPipeline,
            method_output("pipeline.run"),
            Hints(read_only=False, destructive=True, idempotent=False, open_world=True),
            _passthrough("pipeline.run", PipelineRun, "pipeline run"),
        ),
        ToolSpec(
            "pipeline_status",
            "Pipeline status",
            "Steps, gate verdicts, scores and durations of a pipeline run, by phase and iteration.",
            PipelineStatus,
            method_output("pipeline.status"),
            ro,
            _passthrough("pipeline.status", RunRef, "pipeline run"),
        ),
        ToolSpec(
            "approve_gate",
            "Approve a gate",
            "Release the approval gate of a phase of a pipeline run that waits for approval; the run continues.",
            ApproveGate,
            method_output("pipeline.approve"),
            write,
            _passthrough("pipeline.approve", PipelineApprove, "pipeline run"),
        ),
        ToolSpec(
            "resume_pipeline",
            "Resume a pipeline",
            "Continue an interrupted pipeline run from its checkpoints, or restart a stopped one from a step "
            "(rework_from).",
            ResumePipeline,
            method_output("pipeline.resume"),
            write,
            _passthrough("pipeline.resume", PipelineResume, "pipeline run"),
        ),
    ]
