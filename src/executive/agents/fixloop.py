"""The fix loop: run the tests, let an agent fix them, keep what helps, roll back what does not.

Theory of operation
-------------------
One fix run (:meth:`FixLoops.start`) is an asyncio task on the daemon:

1. **baseline** — the test command runs on the real tree (an ordinary task);
   green means there is nothing to do.
2. **regression test** (``regression=True``) — the agent is first asked, in a
   throw-away mirror worktree, for a test that reproduces the failure.  Its diff
   goes through the patch engine onto the real tree; the test command plus the
   new test files must then *fail* (else the test reproduces nothing: it is
   rolled back and the agent asked again).
3. **attempts** — each iteration: a fresh mirror worktree, the agent gets the
   failing output (tail) and edits there; its patch is the worktree diff (or a
   fenced diff in its final message when it edited nothing).  The patch is
   validated and applied through the ledger, the tests re-run on the real tree,
   and the patch is **kept** if failures went down — and, with a regression
   test, only if that test now passes — else **rolled back** to the exact prior
   tree.  A kept patch that makes the suite green is marked ``verified``.
4. it stops when green or after ``max_iterations`` attempts (the regression
   attempts count).  Without any kept fix, a regression test it added is rolled
   back too: the tree is left as it was found unless something improved.

Test runs get ``PYTHONDONTWRITEBYTECODE=1``: CPython validates a cached ``.pyc``
by the source's mtime in whole seconds and its size, so bytecode written by one
run could hide a same-size fix applied within the same second.

Every attempt is a row in ``fix_attempts``: iteration, kind, agent task, patch,
failures before/after, test task, outcome, duration and cost.  ``fix`` events
on the bus (pid null, ``data.run``) narrate progress for ``executive fix``.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import structlog

from executive.agents.adapters import AgentRequest, get_adapter
from executive.agents.commands import CommandOutcome, run_command, split_command
from executive.agents.diffparse import parse_patch
from executive.agents.errors import (
    FixRunNotFoundError,
    PatchInvalidError,
    PatchRefusedError,
)
from executive.agents.host import AgentsHost
from executive.agents.states import FIX_RUN_TABLE, FixRunEvent, FixRunState
from executive.agents.testresults import count_failures, count_passed
from executive.kernel.errors import BadParamsError, ExecutiveError, LimitError
from executive.kernel.transitions import next_state
from executive.runtimes.ray_placement import parse_placement
from executive.store.interface import FixStore
from executive.store.records import FixAttemptRow, FixRunRow, FixStatisticsRows

if TYPE_CHECKING:
    from executive.agents.service import AgentService

__all__ = ["FixLoops", "FixParams", "extract_diff"]

log = structlog.get_logger("executive.fixloop")
_FENCE = re.compile(r"```(?:diff|patch)[^\n]*\n(.*?)```", re.S)
# Python's .pyc cache trusts (source mtime in whole seconds, size): a same-size fix applied within the
# second of the previous test run would be judged on stale bytecode.  The loop's own runs write none.
_TEST_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}


@dataclasses.dataclass(slots=True)
class FixParams:
    cwd: str
    test_cmd: str | list[str]
    agent: str
    max_iterations: int = 5
    regression: bool = False
    bin: str | None = None
    model: str | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    args: list[str] = dataclasses.field(default_factory=list)
    agent_timeout: float | None = None
    commit: bool = False
    permissions: str | None = "edit"  # the agent edits inside its mirror of the workspace, nothing else
    agent_idle_timeout: float | None = None  # None: the daemon's default; 0: never
    placement: dict[str, Any] | None = None  # where each agent run goes (task.run's); the tests run here


@dataclasses.dataclass(slots=True)
class _Tests:
    failures: int
    outcome: CommandOutcome
    passed: int | None = None  # from the runner's summary; None when unknown

    @property
    def green(self) -> bool:
        return self.outcome.ok


def extract_diff(text: str) -> str | None:
    """The last fenced ```diff block of an agent's message that parses as a patch."""
    blocks: list[str] = _FENCE.findall(text or "")
    for block in reversed(blocks):
        try:
            parse_patch(block)
        except PatchInvalidError:
            continue
        return block
    return None


def _end_state(run_id: int, event: FixRunEvent) -> FixRunState:
    """Where ``event`` takes a run that is RUNNING (a fix run moves once, out of RUNNING)."""
    state = FixRunState.RUNNING
    return next_state(
        FIX_RUN_TABLE,
        state,
        event,
        machine="fix_run",
        subject=f"fix run {run_id}",
        data={"run": run_id, "state": state.value, "event": event.value},
    )


def _statistics(rows: FixStatisticsRows) -> dict[str, Any]:
    """The fix loop's statistics from the store's raw counts."""
    by_state: dict[str, int] = {}
    by_agent: dict[str, dict[str, int]] = {}
    for state, agent, n in rows["runs"]:
        by_state[state] = by_state.get(state, 0) + n
        a = by_agent.setdefault(agent, {"runs": 0, "green": 0, "attempts": 0, "kept": 0})
        a["runs"] += n
        if state == FixRunState.GREEN.value:
            a["green"] += n
    outcomes: dict[str, int] = {}
    for outcome, kind, agent, n in rows["attempts"]:
        outcomes[outcome] = outcomes.get(outcome, 0) + n
        if kind == "fix":
            by_agent.setdefault(agent, {"runs": 0, "green": 0, "attempts": 0, "kept": 0})["attempts"] += n
            if outcome == "kept":
                by_agent[agent]["kept"] += n
    total = sum(by_state.values())
    finished = total - by_state.get(FixRunState.RUNNING.value, 0)
    fixes = rows["fix_attempts"]
    kept = rows["fix_attempts_kept"]
    avg_s = rows["attempt_avg_s"]
    return {
        "runs": total,
        "runs_by_state": by_state,
        "success_rate": round(by_state.get(FixRunState.GREEN.value, 0) / finished, 3) if finished else None,
        "attempts": rows["attempt_count"],
        "attempts_by_outcome": outcomes,
        "fix_attempts": fixes,
        "fix_attempts_kept": kept,
        "attempt_success_rate": round(kept / fixes, 3) if fixes else None,
        "avg_attempt_s": round(avg_s, 3) if avg_s is not None else None,
        "cost_usd": round(rows["attempt_cost_usd"], 6),
        "by_agent": by_agent,
    }


def _update_run(store: FixStore, run_id: int, fields: dict[str, Any]) -> None:
    store.fix_run_update(run_id, fields)


def _mark_interrupted(store: FixStore) -> int:
    new = _end_state(0, FixRunEvent.INTERRUPT)  # RUNNING -> CANCELLED, for every run a dead daemon left running
    ended = {"state": new.value, "detail": "the daemon stopped during the run", "ended": time.time()}
    return store.fix_runs_end_running(ended, FixRunState.RUNNING.value)


def _with_attempts(store: FixStore, runs: list[FixRunRow]) -> list[dict[str, Any]]:
    """Runs as dicts, each with its attempts (oldest first)."""
    out = []
    for r in runs:
        d: dict[str, Any] = dict(r)
        d["attempts"] = [dict(a) for a in store.fix_attempts(r["id"])]
        out.append(d)
    return out


def _get_run(store: FixStore, run_id: int) -> list[dict[str, Any]]:
    row = store.fix_run_get(run_id)
    return _with_attempts(store, [row]) if row is not None else []


def _list_runs(store: FixStore, limit: int) -> list[dict[str, Any]]:
    return _with_attempts(store, store.fix_runs(limit))


class FixLoops:
    """Starts, follows and summarises fix runs."""

    def __init__(self, ex: AgentsHost, agents: AgentService) -> None:
        self.ex = ex
        self.agents = agents
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._live_tasks: dict[int, set[int]] = {}  # run id -> agent/test task ids running now

    async def open(self) -> None:
        await self.ex.store.call(_mark_interrupted)

    async def aclose(self) -> None:
        for t in list(self._tasks.values()):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=15)

    # --- control -----------------------------------------------------------------------
    async def start(self, p: FixParams, *, session_id: str | None = None) -> dict[str, Any]:
        """Check the request and start the loop in the background; returns the run row.

        Raises:
            AgentUnknownError, NotARepositoryError, BadParamsError, LimitError.
        """
        lim = self.ex.limits
        get_adapter(p.agent).check_permissions(
            AgentRequest(agent=p.agent, prompt="", cwd=p.cwd, permissions=p.permissions), conflicts=()
        )
        if not (1 <= p.max_iterations <= lim.fix_max_iterations):
            raise LimitError(
                f"max_iterations must be 1..{lim.fix_max_iterations}", data={"limit": lim.fix_max_iterations}
            )
        if sum(1 for t in self._tasks.values() if not t.done()) >= lim.max_fix_runs:
            raise LimitError(
                f"{lim.max_fix_runs} fix loops are running; wait for one to end", data={"limit": lim.max_fix_runs}
            )
        p.placement = parse_placement(p.placement)  # malformed: refused before the loop starts
        p.cwd = os.path.abspath(p.cwd)
        workspace = await self.agents.git.toplevel(p.cwd)
        await self.agents.git.head(workspace)
        argv = split_command(p.test_cmd)
        fix_run: FixRunRow = {
            "cwd": p.cwd,
            "test_argv": argv,
            "agent": p.agent,
            "max_iterations": p.max_iterations,
            "regression": p.regression,
            "state": FixRunState.RUNNING.value,
            "started": time.time(),
        }
        run_id = await self.ex.store.call(lambda s: s.fix_run_insert(fix_run))
        task = asyncio.ensure_future(self._main(run_id, p, argv, workspace, session_id))
        self._tasks[run_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(run_id, None))
        return await self.get(run_id)

    async def cancel(self, run_id: int) -> dict[str, Any]:
        """Stop a running loop: its current agent or test task is cancelled, an unjudged patch rolled back."""
        await self.get(run_id)
        for tid in list(self._live_tasks.get(run_id, ())):
            try:
                self.ex.task_cancel(tid)
            except ExecutiveError:  # it ended meanwhile: nothing left to cancel
                continue
        task = self._tasks.get(run_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=30)
        return await self.get(run_id)

    async def wait(self, run_id: int, *, timeout: float | None = None) -> dict[str, Any]:
        await self.get(run_id)
        task = self._tasks.get(run_id)
        limit = self.ex.limits.max_wait_s
        t = limit if timeout is None else timeout
        if not (0 <= t <= limit):
            raise BadParamsError(f"timeout must be 0..{limit} seconds")
        timed_out = False
        if task is not None and not task.done():
            done, _ = await asyncio.wait([task], timeout=t)
            timed_out = not done
        out = await self.get(run_id)
        out["timed_out"] = timed_out
        return out

    async def get(self, run_id: int) -> dict[str, Any]:
        rows = await self.ex.store.call(_get_run, int(run_id))
        if not rows:
            raise FixRunNotFoundError(run_id)
        return rows[0]

    async def list(self, *, limit: int = 20) -> list[dict[str, Any]]:
        return await self.ex.store.call(_list_runs, limit)

    async def stats(self) -> dict[str, Any]:
        out = _statistics(await self.ex.store.call(lambda s: s.fix_statistics()))
        out["recent"] = [
            {
                k: r[k]
                for k in (
                    "id",
                    "agent",
                    "state",
                    "failures_before",
                    "failures_after",
                    "iterations",
                    "cost_usd",
                    "started",
                    "ended",
                )
            }
            for r in await self.list(limit=10)
        ]
        return out

    # --- the loop ----------------------------------------------------------------------
    def _event(self, run_id: int, phase: str, **data: Any) -> None:
        self.ex.bus.publish("fix", None, {"run": run_id, "phase": phase, **data})

    async def _tests(
        self, run_id: int, argv: builtins.list[str], cwd: str, label: str, session_id: str | None
    ) -> _Tests:
        live = self._live_tasks.setdefault(run_id, set())
        started: list[int] = []

        def on_start(tid: int) -> None:
            started.append(tid)
            live.add(tid)

        try:
            out = await run_command(
                self.ex,
                argv,
                cwd=cwd,
                name=f"fix-{run_id}-{label}",
                session_id=session_id,
                tail_bytes=self.ex.limits.fix_output_tail_bytes,
                meta={"fix_run": run_id, "purpose": label},
                on_start=on_start,
                env=_TEST_ENV,
            )
        finally:
            live.difference_update(started)
        code = out.exit_code if out.end_reason == "exited" else 1
        return _Tests(count_failures(out.output, code), out, count_passed(out.output, code))

    async def _main(
        self, run_id: int, p: FixParams, argv: builtins.list[str], workspace: Path, session_id: str | None
    ) -> None:
        event, detail = FixRunEvent.FAIL, ""
        pending: list[int] = []  # applied patches not judged yet (rolled back if we are cancelled)
        try:
            event, detail = await self._loop(run_id, p, argv, workspace, session_id, pending)
        except asyncio.CancelledError:
            event, detail = FixRunEvent.CANCEL, "cancelled on request"
            raise
        except ExecutiveError as exc:
            event, detail = FixRunEvent.FAIL, exc.message
        except Exception as exc:  # a bug: record it truthfully, keep the daemon alive
            log.exception("fix_loop_crashed", run=run_id)
            event, detail = FixRunEvent.FAIL, f"internal error: {exc!r}"
        finally:
            for pid in pending:
                try:
                    await asyncio.shield(
                        self.agents.patches.rollback(
                            pid, reason=f"fix run {run_id} ended before judging it", force=True
                        )
                    )
                except ExecutiveError as exc:  # keep going: the other patches still need their rollback
                    log.error("fix_rollback_failed", run=run_id, patch=pid, error=exc.message)
            state = _end_state(run_id, event).value  # RUNNING -> GREEN/IMPROVED/UNCHANGED/FAILED/CANCELLED
            await asyncio.shield(
                self.ex.store.call(_update_run, run_id, {"state": state, "detail": detail[:2000], "ended": time.time()})
            )
            self._event(run_id, "done", state=state, detail=detail[:500])
            self._live_tasks.pop(run_id, None)

    async def _loop(
        self,
        run_id: int,
        p: FixParams,
        argv: builtins.list[str],
        workspace: Path,
        session_id: str | None,
        pending: builtins.list[int],
    ) -> tuple[FixRunEvent, str]:
        tests = await self._tests(run_id, argv, p.cwd, "baseline", session_id)
        before = tests.failures
        await self.ex.store.call(_update_run, run_id, {"failures_before": before, "failures_after": before})
        self._event(run_id, "baseline", failures=before, task=tests.outcome.task)
        if tests.green:
            return FixRunEvent.GREEN, "the tests already pass"
        current, iteration, cost = tests, 0, 0.0
        regression: dict[str, Any] | None = None
        kept_any = False
        if p.regression:
            while iteration < p.max_iterations and regression is None:
                iteration += 1
                regression, current, spent = await self._regression_attempt(
                    run_id, iteration, p, argv, workspace, current, session_id, pending
                )
                cost += spent
                await self.ex.store.call(
                    _update_run, run_id, {"iterations": iteration, "cost_usd": cost, "failures_after": current.failures}
                )
            if regression is None:
                return FixRunEvent.FAIL, f"no regression test reproduced the failure in {iteration} attempt(s)"
            await self.ex.store.call(_update_run, run_id, {"regression_patch": regression["patch"]})
        while iteration < p.max_iterations and not current.green:
            iteration += 1
            kept, current, spent = await self._fix_attempt(
                run_id, iteration, p, argv, workspace, current, regression, session_id, pending
            )
            kept_any = kept_any or kept
            cost += spent
            await self.ex.store.call(
                _update_run, run_id, {"iterations": iteration, "cost_usd": cost, "failures_after": current.failures}
            )
        if regression is not None and not kept_any:
            await self.agents.patches.rollback(
                regression["patch"],
                reason=f"fix run {run_id}: no fix was kept, removing its regression test",
                force=True,
            )
            current = await self._tests(run_id, argv, p.cwd, "final", session_id)
            await self.ex.store.call(_update_run, run_id, {"failures_after": current.failures})
        if current.green:
            return FixRunEvent.GREEN, f"green after {iteration} attempt(s)"
        if current.failures < before:
            return FixRunEvent.IMPROVED, f"failures {before} -> {current.failures} after {iteration} attempt(s)"
        return FixRunEvent.UNCHANGED, f"still {current.failures} failure(s) after {iteration} attempt(s)"

    async def _agent_patch(
        self, run_id: int, p: FixParams, workspace: Path, prompt: str, session_id: str | None
    ) -> tuple[str | None, dict[str, Any], int | None]:
        """Run the agent in a fresh mirror; returns (patch text, result, agent task id)."""
        async with self.agents.worktrees.open_worktree(str(workspace), purpose="fix") as wt:
            sub = os.path.relpath(p.cwd, workspace)
            req = AgentRequest(
                agent=p.agent,
                prompt=prompt,
                cwd=os.path.normpath(os.path.join(wt.path, sub)),
                bin=p.bin,
                model=p.model,
                env=dict(p.env),
                args=list(p.args),
                permissions=p.permissions,
            )
            task = await self.agents.runs.run(
                req,
                name=f"fix-{run_id}-agent",
                timeout=p.agent_timeout,
                session_id=session_id,
                idle_timeout=p.agent_idle_timeout,
                placement=p.placement,
            )
            tid = int(task["id"])
            self._live_tasks.setdefault(run_id, set()).add(tid)
            while (done := await self.agents.runs.wait(tid))["timed_out"]:
                pass
            self._live_tasks[run_id].discard(tid)
            result = done["result"] or {}
            diff = (await self.agents.runs.diff(tid))["diff"] or extract_diff(result.get("text") or "")
            return diff or None, result, tid

    async def _record(self, run_id: int, row: dict[str, Any]) -> None:
        attempt = cast(FixAttemptRow, row)
        await self.ex.store.call(lambda s: s.fix_attempt_insert(attempt))
        self._event(
            run_id,
            "attempt",
            **{
                k: row.get(k)
                for k in (
                    "iteration",
                    "kind",
                    "outcome",
                    "failures_before",
                    "failures_after",
                    "patch_id",
                    "agent_task",
                    "detail",
                )
            },
        )

    async def _submit(
        self, run_id: int, diff: str, workspace: Path, agent_task: int | None, session_id: str | None
    ) -> tuple[dict[str, Any] | None, str]:
        try:
            rec = await self.agents.patches.submit(
                diff, cwd=str(workspace), source="fix", fix_run=run_id, agent_task=agent_task, session_id=session_id
            )
        except (PatchRefusedError, PatchInvalidError) as exc:
            return None, exc.message
        return rec, rec.get("reason") or ""

    def _tail(self, tests: _Tests) -> str:
        lim = self.ex.limits.fix_output_tail_bytes
        text = tests.outcome.output
        return text[-lim:]

    async def _regression_attempt(
        self,
        run_id: int,
        iteration: int,
        p: FixParams,
        argv: builtins.list[str],
        workspace: Path,
        current: _Tests,
        session_id: str | None,
        pending: builtins.list[int],
    ) -> tuple[dict[str, Any] | None, _Tests, float]:
        """Ask for a reproducing test; returns (the kept regression test or None, the test state, cost)."""
        t0 = time.time()
        prompt = (
            f"The test command `{' '.join(argv)}` fails. Write a regression test that reproduces this failure: "
            "add a test that fails now because of the bug and will pass once it is fixed. "
            "Do not fix the bug itself.\n\n"
            f"Failing output (tail):\n```\n{self._tail(current)}\n```\n"
        )
        diff, result, agent_task = await self._agent_patch(run_id, p, workspace, prompt, session_id)
        row = {
            "run_id": run_id,
            "iteration": iteration,
            "kind": "regression",
            "agent_task": agent_task,
            "failures_before": current.failures,
            "cost_usd": result.get("cost_usd"),
            "at": t0,
        }
        found: dict[str, Any] | None = None
        if diff is None:
            row.update(
                outcome="no_patch" if result.get("ok") else "agent_failed",
                detail=", ".join(result.get("errors") or []) or "the agent changed nothing",
            )
        else:
            rec, why = await self._submit(run_id, diff, workspace, agent_task, session_id)
            if rec is None or rec["state"] != "applied":
                row.update(outcome="apply_failed", patch_id=rec["id"] if rec else None, detail=why)
            else:
                pending.append(rec["id"])
                files = [str(workspace / (f["new_path"] or f["old_path"])) for f in rec["files"] if f["new_path"]]
                check = await self._tests(run_id, argv + files, p.cwd, f"regression-{iteration}", session_id)
                row.update(patch_id=rec["id"], test_task=check.outcome.task, test_exit=check.outcome.exit_code)
                if check.green:
                    await self.agents.patches.rollback(
                        rec["id"], reason="the regression test passes before any fix: it reproduces nothing"
                    )
                    row.update(
                        outcome="not_reproduced",
                        failures_after=current.failures,
                        detail="the new test passes on the unfixed code",
                    )
                else:
                    current = await self._tests(run_id, argv, p.cwd, f"after-regression-{iteration}", session_id)
                    found = {"patch": rec["id"], "files": files}
                    row.update(
                        outcome="kept",
                        failures_after=current.failures,
                        detail=f"regression test reproduces the failure: {', '.join(files)}",
                    )
                pending.remove(rec["id"])
        row["duration_s"] = time.time() - t0
        await self._record(run_id, row)
        return found, current, float(result.get("cost_usd") or 0.0)

    async def _fix_attempt(
        self,
        run_id: int,
        iteration: int,
        p: FixParams,
        argv: builtins.list[str],
        workspace: Path,
        current: _Tests,
        regression: dict[str, Any] | None,
        session_id: str | None,
        pending: builtins.list[int],
    ) -> tuple[bool, _Tests, float]:
        """One fix attempt; returns (kept, the test state afterwards, cost)."""
        t0 = time.time()
        extra = ""
        if regression:
            files = ", ".join(os.path.relpath(f, workspace) for f in regression["files"])
            extra = f" The regression test in {files} must pass too."
        prompt = (
            f"The test command `{' '.join(argv)}` fails ({current.failures} failure(s)). "
            f"Fix the code so the tests pass; do not weaken or delete tests.{extra}\n\n"
            f"Failing output (tail):\n```\n{self._tail(current)}\n```\n"
        )
        diff, result, agent_task = await self._agent_patch(run_id, p, workspace, prompt, session_id)
        row = {
            "run_id": run_id,
            "iteration": iteration,
            "kind": "fix",
            "agent_task": agent_task,
            "failures_before": current.failures,
            "cost_usd": result.get("cost_usd"),
            "at": t0,
        }
        kept = False
        if diff is None:
            row.update(
                outcome="no_patch" if result.get("ok") else "agent_failed",
                failures_after=current.failures,
                detail=", ".join(result.get("errors") or []) or "the agent changed nothing",
            )
        else:
            rec, why = await self._submit(run_id, diff, workspace, agent_task, session_id)
            if rec is None or rec["state"] != "applied":
                row.update(
                    outcome="apply_failed",
                    patch_id=rec["id"] if rec else None,
                    failures_after=current.failures,
                    detail=why,
                )
            else:
                pid = rec["id"]
                pending.append(pid)
                after = await self._tests(run_id, argv, p.cwd, f"attempt-{iteration}", session_id)
                reg_ok, reg_note = True, ""
                if regression:
                    reg = await self._tests(
                        run_id, argv + regression["files"], p.cwd, f"attempt-{iteration}-regression", session_id
                    )
                    reg_ok = reg.green
                    reg_note = "; the regression test passes" if reg_ok else "; the regression test still fails"
                row.update(
                    patch_id=pid,
                    test_task=after.outcome.task,
                    test_exit=after.outcome.exit_code,
                    failures_after=after.failures,
                )
                # Fewer failures only count when no passing test was lost with them (a patch that breaks collection
                # turns "2 failed, 1 passed" into "1 error": fewer failures, nothing passes).
                lost = after.passed is not None and current.passed is not None and after.passed < current.passed
                better = after.green or (after.failures < current.failures and not lost)
                if better and reg_ok:
                    note = f"failures {current.failures} -> {after.failures}{reg_note}"
                    if after.green:
                        await self.agents.patches.mark_verified(
                            pid, f"fix run {run_id}: the test command passes ({after.outcome.describe()}){reg_note}"
                        )
                        if p.commit:
                            await self.agents.patches.commit(
                                pid,
                                message=(
                                    f"fix: make `{' '.join(argv)[:60]}` pass\n\n"
                                    f"executive fix run {run_id}, attempt {iteration}"
                                ),
                            )
                    row.update(outcome="kept", detail=note)
                    current, kept = after, True
                else:
                    fewer = after.failures < current.failures
                    worse = (
                        f", but passing tests {current.passed} -> {after.passed}" if fewer and lost else ", not fewer"
                    )
                    reason = (
                        f"fix run {run_id}: failures {current.failures} -> {after.failures}"
                        + ("" if better else worse)
                        + reg_note
                    )
                    await self.agents.patches.rollback(pid, reason=reason)
                    row.update(outcome="rolled_back", detail=reason)
                pending.remove(pid)
        row["duration_s"] = time.time() - t0
        await self._record(run_id, row)
        return kept, current, float(result.get("cost_usd") or 0.0)
