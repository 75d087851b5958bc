"""MCP prompts: short playbooks that show a model how to use the executive's tools well."""

from __future__ import annotations

import dataclasses

import mcp_types as types

__all__ = ["PROMPTS", "PromptError", "list_prompts", "render_prompt"]


class PromptError(Exception):
    """An unknown prompt or a missing argument; the message names it."""


@dataclasses.dataclass(frozen=True, slots=True)
class PromptSpec:
    name: str
    title: str
    description: str
    arguments: tuple[tuple[str, str, bool], ...]  # (name, description, required)
    template: str


PROMPTS: dict[str, PromptSpec] = {
    p.name: p
    for p in (
        PromptSpec(
            "fix_failing_tests",
            "Run the tests and fix the failures",
            "Run a repository's test suite under the executive and fix what fails with the fix loop.",
            (
                ("cwd", "the repository, an absolute path", True),
                ("test_cmd", "the test command, e.g. 'pytest -q'", True),
                ("agent", "the coding agent for fixes: claude, codex, aider or command (default claude)", False),
            ),
            "Work in the repository {cwd}.\n"
            "1. Run the tests with run_command (argv from `{test_cmd}`, cwd={cwd}, wait=false), then wait_task "
            "until it ends. If they pass, say so and stop.\n"
            "2. Read the failures with read_output (last_lines=200 on stdout, then stderr); do not re-run the "
            "suite to see them again: the output is kept.\n"
            "3. Start run_fix_loop with cwd={cwd}, test_cmd=`{test_cmd}`, agent={agent}; follow it with "
            "fix_loop_status (timeout=600) until its state is no longer running.\n"
            "4. Report each attempt (patch, test outcome). Patches that did not help were rolled back already; "
            "rollback_patch undoes a kept one if the user asks.",
        ),
        PromptSpec(
            "run_long_command",
            "Run a long command and follow it",
            "Start a long-running command in the background and follow it without flooding the context.",
            (("command", "the command line to run, e.g. 'make -j4 all'", True),),
            "Run `{command}` with run_command (as an argv list; wait=false; set timeout or idle_timeout if it "
            "could hang). Then loop: wait_task with timeout=120 (progress arrives meanwhile), and after each "
            "wait read only the new output with read_output from the previous next_offset (or last_lines=50 "
            "for a summary). When it ends, report the exit code and the lines that matter. To stop it: "
            "cancel_task (the whole process tree ends).",
        ),
        PromptSpec(
            "debug_hsx_program",
            "Debug an HSX program",
            "Load an HSX program paused, break at a symbol, and inspect it.",
            (
                ("path", "the HXE image, an absolute path (its .sym beside it)", True),
                ("symbol", "where to stop: a symbol, address or file:line", True),
            ),
            "Load {path} with hsx_load (paused=true). Set a breakpoint at {symbol} with hsx_set_breakpoint, "
            "then hsx_continue. At the stop, look at hsx_registers, hsx_stack and hsx_disassemble; step with "
            "hsx_step (mode=over skips calls). Read data with hsx_memory. Explain what the program computes "
            "at that point, citing registers and source lines.",
        ),
    )
}


def list_prompts() -> list[types.Prompt]:
    return [
        types.Prompt(
            name=p.name,
            title=p.title,
            description=p.description,
            arguments=[types.PromptArgument(name=n, description=d, required=r) for n, d, r in p.arguments],
        )
        for p in PROMPTS.values()
    ]


def render_prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
    spec = PROMPTS.get(name)
    if spec is None:
        raise PromptError(f"unknown prompt {name!r}; the prompts are {', '.join(PROMPTS)}")
    args = dict(arguments or {})
    missing = [n for n, _, required in spec.arguments if required and not args.get(n)]
    if missing:
        raise PromptError(f"prompt {name} needs the argument(s) {', '.join(missing)}")
    args.setdefault("agent", "claude")
    text = spec.template.format(**{n: args.get(n, "") for n, _, _ in spec.arguments} | {"agent": args["agent"]})
    return types.GetPromptResult(
        description=spec.description,
        messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))],
    )
