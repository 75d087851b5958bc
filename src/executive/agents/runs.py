"""Agent runs: an adapter's argv as an ``agent`` task, its stdout parsed live into normalized events.

Theory of operation
-------------------
:meth:`AgentRuns.run` builds the argv with the adapter, optionally makes a
worktree, snapshots the git working state (so the diff the run leaves can be
told apart from changes that were there before), and starts an ordinary
supervised task with ``kind=agent`` — so pause, resume, cancel, the tree kill,
live output and offset replay are the process runtime's, unchanged.

A follower coroutine per run reads the task's stdout *as it is written*: it
subscribes to the task's ``output`` events (replaying from the bus cursor
taken before the task started), checks each event's log offset against the
next byte it expects, fills any gap from the log with ``task.output``, and
feeds the bytes to the adapter's parser.  The normalized events that come out
are published on the bus with ``pid`` = the task id.  When the task ends the
follower reads the log to its end, takes the second git snapshot, lets the
parser decide the result, publishes ``agent.result`` and stores the run.

Stderr is fed to the parser too (a few CLIs print refusals only there).  A
run that makes no *progress* — no normalized event other than a warning — for
its idle timeout is stopped with end reason ``idle_timeout``: a CLI that hangs
on a dead endpoint, or prints only ``Reconnecting...`` forever, still ends,
and its last error is in the result.

The stdout log stays the truth: :meth:`AgentRuns.replay` re-parses it with a
fresh parser and returns the same events long after the bus forgot them.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import orjson
import structlog

from executive.agents import events as ev
from executive.agents.adapters import (
    ADAPTERS,
    Adapter,
    AgentRequest,
    RunEnd,
    StreamParser,
    get_adapter,
)
from executive.agents.adapters.base import unique
from executive.agents.errors import (
    AgentNotUsableError,
    AgentRunNotFoundError,
    NotARepositoryError,
)
from executive.agents.events import AgentEvent, clip
from executive.agents.git import Git
from executive.agents.host import AgentsHost
from executive.agents.states import AGENT_RUN_TABLE, AgentRunEvent, AgentRunState
from executive.agents.worktrees import Worktree, Worktrees
from executive.kernel.errors import (
    BadParamsError,
    ExecutiveError,
    LimitError,
    NotFoundError,
)
from executive.kernel.tasks import TaskKind, TaskState
from executive.kernel.transitions import next_state
from executive.store.records import AgentRunRow

__all__ = ["AgentRuns"]

log = structlog.get_logger("executive.agents")
_RESULTS_IN_MEMORY = 1000


def _move(task_id: int, state: AgentRunState, event: AgentRunEvent) -> AgentRunState:
    """Look one agent-run edge up in AGENT_RUN_TABLE (a miss raises; the caller writes nothing)."""
    return next_state(
        AGENT_RUN_TABLE,
        state,
        event,
        machine="agent_run",
        subject=f"the agent run of task {task_id}",
        data={"task": task_id, "state": state.value, "event": event.value},
    )


def _lost_fields() -> dict[str, Any]:
    """What a run a dead daemon left running becomes: RUNNING -> LOST, not ok."""
    lost = _move(0, AgentRunState.RUNNING, AgentRunEvent.LOST)
    return {"state": lost.value, "ok": False, "errors": ["lost"]}
_NOT_SILENT = (TaskState.QUEUED, TaskState.STARTING, TaskState.PAUSED)  # states whose time the idle timeout skips


class AgentRuns:
    """Starts agent tasks and turns their output into normalized events."""

    def __init__(self, ex: AgentsHost, git: Git, worktrees: Worktrees) -> None:
        self.ex = ex
        self.git = git
        self.worktrees = worktrees
        self._done: dict[int, asyncio.Event] = {}  # task id -> set when its result is stored
        self._results: collections.OrderedDict[int, dict[str, Any]] = collections.OrderedDict()
        self._followers: set[asyncio.Task[None]] = set()
        self._states: dict[int, AgentRunState] = {}  # task id -> state of a run this daemon follows
        self._progress: dict[int, float] = {}  # task id -> monotonic time of its last non-warning event
        self._idle_ended: dict[int, str] = {}  # task id -> why the runner stopped it for silence

    def _advance(self, tid: int, event: AgentRunEvent) -> str:
        """Move a followed run along one edge; returns the state value to store."""
        new = _move(tid, self._states.get(tid, AgentRunState.RUNNING), event)
        self._states[tid] = new
        return new.value

    async def open(self) -> None:
        n = await self.ex.store.call(lambda s: s.agent_runs_end_running(_lost_fields(), AgentRunState.RUNNING.value))
        if n:
            log.info("agent_runs_lost", count=n)

    async def aclose(self) -> None:
        """Daemon stop: the tasks are being cancelled; let followers record their results."""
        if self._followers:
            await asyncio.wait(list(self._followers), timeout=10)
        for t in list(self._followers):
            t.cancel()

    # --- configuration -------------------------------------------------------------
    async def check(self, *, agent: str | None = None, bin: str | None = None) -> list[dict[str, Any]]:
        """Which adapters are usable, and for each problem what to do about it."""
        names = [agent] if agent else list(ADAPTERS)
        return list(await asyncio.gather(*(self._check_one(get_adapter(n), bin if agent else None) for n in names)))

    async def _check_one(self, adapter: Adapter, bin: str | None) -> dict[str, Any]:
        problems: list[str] = []
        out: dict[str, Any] = {
            "agent": adapter.name,
            "capabilities": adapter.capabilities.to_dict(),
            "binary": None,
            "version": None,
        }
        try:
            exe = adapter.resolve_bin(bin, os.environ.get("PATH"))
        except BadParamsError as exc:
            exe = None
            problems.append(exc.message)
        else:
            if exe is None:
                problems.append(
                    f"{bin or adapter.default_bin!r} not found on the daemon's PATH; install it or pass --bin PATH"
                )
        if exe:
            out["binary"] = exe
            version, problem = await self._version(adapter, exe)
            out["version"] = version
            if problem:
                problems.append(problem)
            elif adapter.version_status(version) == "older":
                lo, hi = adapter.tested_versions or ("?", "?")
                problems.append(
                    f"{adapter.name} {version} is older than the oldest tested version {lo}; "
                    f"upgrade it (`make agents` installs {hi} into .tools/)"
                )
            if self.ex.allow_list is not None:
                sample = adapter.build_argv(AgentRequest(agent=adapter.name, prompt="hello", cwd="."), exe)
                try:
                    self.ex.allow_list.check(exe, sample)
                except ExecutiveError as exc:
                    problems.append(exc.message)
        out["version_status"] = adapter.version_status(out["version"])
        tested = adapter.tested_versions
        out["tested_range"] = (tested[0] if tested[0] == tested[1] else f"{tested[0]}-{tested[1]}") if tested else None
        ok_auth, how = adapter.auth_status(dict(os.environ), Path.home())
        out["auth"] = how
        if not ok_auth:
            problems.append(f"no credentials found ({how}); set one in the daemon's environment")
        out["problems"] = problems
        out["usable"] = not problems
        return out

    async def _version(self, adapter: Adapter, exe: str) -> tuple[str | None, str | None]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *adapter.version_argv(exe),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            return None, f"{exe} cannot be started: {exc.strerror or exc}"
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.ex.limits.agent_version_timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None, f"`{exe} --version` did not answer within {self.ex.limits.agent_version_timeout_s:g}s"
        text = out.decode("utf-8", "replace")
        version = adapter.parse_version(text)
        if proc.returncode != 0:
            return version, f"`{exe} --version` exited with {proc.returncode}: {text.strip()[:200]}"
        if version is None:
            return None, f"`{exe} --version` printed no version ({text.strip()[:100]!r}); is it really {adapter.name}?"
        return version, None

    # --- runs ----------------------------------------------------------------------
    async def run(
        self,
        req: AgentRequest,
        *,
        worktree: bool = False,
        name: str | None = None,
        timeout: float | None = None,
        session_id: str | None = None,
        idle_timeout: float | None = None,
    ) -> dict[str, Any]:
        """Start an agent run; returns the task row plus ``agent`` and ``worktree``.

        ``idle_timeout``: seconds without progress before the run is stopped (None: the
        ``agent_idle_timeout_s`` limit; 0: never).

        Raises:
            AgentUnknownError, AgentNotUsableError, BadParamsError, NotARepositoryError (``worktree``
            outside a repository), LimitError, NotAllowedError (allow-list).
        """
        adapter = get_adapter(req.agent)
        lim = self.ex.limits
        if len(req.prompt.encode()) > lim.agent_prompt_bytes:
            raise LimitError(
                f"the prompt for {adapter.name} has {len(req.prompt.encode())} bytes; the limit is "
                f"{lim.agent_prompt_bytes} (it travels in the CLI's argv): shorten it, or put the details in a "
                "file in the work tree and ask the agent to read it",
                data={"limit": lim.agent_prompt_bytes, "agent": adapter.name},
            )
        idle = lim.agent_idle_timeout_s if idle_timeout is None else idle_timeout
        if not (0 <= idle <= 30 * 24 * 3600):
            raise BadParamsError(f"idle_timeout must be 0 (off) to 30 days in seconds, got {idle}")
        if not req.prompt.strip():
            raise BadParamsError("the prompt is empty; say what the agent should do")
        req.cwd = os.path.abspath(req.cwd)
        if not os.path.isdir(req.cwd):
            raise BadParamsError(f"cwd {req.cwd!r} is not a directory", data={"cwd": req.cwd})
        exe = adapter.resolve_bin(req.bin, os.environ.get("PATH"))
        if exe is None:
            raise AgentNotUsableError(
                f"{req.bin or adapter.default_bin!r} not found; install {adapter.name} or pass --bin PATH (`executive agent check` explains)",
                data={"agent": adapter.name, "bin": req.bin},
            )
        argv = adapter.build_argv(req, exe)
        env = adapter.child_env(dict(os.environ), req.env)
        env["EXECUTIVE_AGENT_PROMPT"] = req.prompt if len(req.prompt) < 64 * 1024 else ""
        wt: Worktree | None = None
        cwd = req.cwd
        pre_tree: str | None = None
        repo: Path | None = None
        if worktree:
            wt = await self.worktrees.create(req.cwd, purpose="agent", branch=True)
            cwd = wt.path
        try:
            try:
                repo = await self.git.toplevel(cwd)
                pre_tree = await self.git.tree_of(Path(cwd), "HEAD") if wt else await self.git.snapshot_tree(repo)
            except NotARepositoryError:
                repo = None
            cursor = self.ex.bus.last_seq
            meta = {"agent": adapter.name, "resume": req.resume, "worktree": wt.id if wt else None}
            task = await self.ex.task_run(
                argv,
                name=name or f"agent-{adapter.name}",
                cwd=cwd,
                env=env,
                timeout=timeout,
                session_id=session_id,
                kind=TaskKind.AGENT,
                meta=meta,
            )
        except BaseException:
            if wt is not None:
                self.worktrees.release(wt)
                await asyncio.shield(self.worktrees.remove(wt.id, reason="the agent task could not start"))
            raise
        tid = int(task["id"])
        if wt is not None:
            await self.worktrees.attach(wt, tid)
            self.worktrees.release(wt)
        now = time.time()
        row: AgentRunRow = {
            "task_id": tid,
            "agent": adapter.name,
            "cwd": cwd,
            "prompt": clip(req.prompt, 4096)[0],
            "worktree_id": wt.id if wt else None,
            "resume_id": req.resume,
            "state": AgentRunState.RUNNING.value,
            "pre_tree": pre_tree,
            "started": now,
        }
        await self.ex.store.call(lambda s: s.agent_run_insert(row))
        self._done[tid] = asyncio.Event()
        self._states[tid] = AgentRunState.RUNNING
        parser = adapter.parser(req, max_line=lim.agent_line_bytes, max_text=lim.agent_event_text_bytes)
        follower = asyncio.ensure_future(self._follow(tid, parser, cursor, repo, pre_tree, wt, idle or None))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        return {**task, "agent": adapter.name, "worktree": wt.to_dict() if wt else None}

    def _publish(self, tid: int, events: list[AgentEvent]) -> None:
        for e in events:
            self.ex.bus.publish(e.type, tid, e.data, size=len(orjson.dumps(e.data, default=str)))
            if e.type != ev.WARNING:
                self._progress[tid] = time.monotonic()

    async def _follow(
        self,
        tid: int,
        parser: StreamParser,
        cursor: int,
        repo: Path | None,
        pre_tree: str | None,
        wt: Worktree | None,
        idle: float | None,
    ) -> None:
        self._progress[tid] = time.monotonic()
        try:
            await self._pump(tid, parser, cursor, idle)
            await self._finish(tid, parser, repo, pre_tree, wt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("agent_follow_failed", task=tid)
            await self._fail(tid, parser, exc)
        finally:
            self._states.pop(tid, None)
            self._progress.pop(tid, None)
            self._idle_ended.pop(tid, None)
            done = self._done.get(tid)
            if done is not None:
                done.set()

    async def _fail(self, tid: int, parser: StreamParser, exc: Exception) -> None:
        """Following the run broke: still publish one failed ``agent.result`` and close the run's row.

        Without this a client waiting for the result (``agent run``) waits forever and the run stays ``running``.
        """
        result: dict[str, Any] | None = None
        if not parser.finished:
            try:
                events = parser.finish(RunEnd(exit_code=None, end_reason="failed"))
                result = events[-1].data
                self._publish(tid, events[:-1])
            except Exception:
                log.exception("agent_parser_finish_failed", task=tid)
        detail = f"{type(exc).__name__}: {exc}"[:500]
        if result is None:
            result = {
                "ok": False,
                "errors": ["internal_error"],
                "text": "",
                "text_truncated": False,
                "cost_usd": None,
                "tokens": {},
                "turns": None,
                "session_id": None,
            }
        result["ok"] = False
        result["errors"] = unique([*(result.get("errors") or []), "internal_error"])
        result["internal_error"] = detail
        result["task"] = tid
        self._publish(tid, [AgentEvent(ev.RESULT, result)])
        self._results[tid] = result
        try:
            failed = {
                "state": self._advance(tid, AgentRunEvent.FOLLOW_FAILED),  # RUNNING -> DONE
                "ok": False,
                "errors": result["errors"],
                "text": result.get("text"),
                "result": result,
                "ended": time.time(),
            }
            await self.ex.store.call(lambda s: s.agent_run_update(tid, failed))
        except Exception:
            log.exception("agent_run_store_failed", task=tid)

    async def _pump(self, tid: int, parser: StreamParser, cursor: int, idle: float | None) -> None:
        """Feed stdout to the parser, in log order, until the task has ended and the log is read."""
        sub = self.ex.subscribe(types=["output", "task_state", "warning"], tasks=[tid], since_seq=cursor)
        wake = asyncio.Event()
        sub.notify = wake.set
        pos = 0  # next stdout byte the parser expects
        ended = False
        try:
            while not ended:
                wake.clear()
                batch = sub.drain(4096, 8 * 1024 * 1024)
                if not batch:
                    if idle is None or tid in self._idle_ended:
                        await wake.wait()
                        continue
                    left = self._progress.get(tid, time.monotonic()) + idle - time.monotonic()
                    if self.ex.tasks.get(tid).state in _NOT_SILENT:
                        self._progress[tid], left = time.monotonic(), idle  # queued or paused time is not silence
                    if left <= 0:
                        self._stop_idle(tid, parser, idle)
                        continue
                    try:
                        await asyncio.wait_for(wake.wait(), left)
                    except TimeoutError:
                        pass
                    continue
                for e in batch:
                    if e.type == "output" and e.data.get("stream") == "stderr":
                        chunk = (
                            e.data["data"].encode("utf-8") if "data" in e.data else base64.b64decode(e.data["data_b64"])
                        )
                        self._publish(tid, parser.feed_stderr(chunk))
                    elif e.type == "output" and e.data.get("stream") == "stdout":
                        off = e.data["offset"]
                        chunk = (
                            e.data["data"].encode("utf-8") if "data" in e.data else base64.b64decode(e.data["data_b64"])
                        )
                        if off > pos:  # events were dropped or evicted: read the gap from the log
                            pos = await self._fill(tid, parser, pos, off)
                        end = off + len(chunk)
                        if end <= pos:  # already fed (replay overlap)
                            continue
                        self._publish(tid, parser.feed(chunk[pos - off :] if off < pos else chunk))
                        pos = end
                    elif e.type == "warning":
                        pos = await self._fill(tid, parser, pos, None)
                    elif e.type == "task_state" and e.data.get("to") == "ended":
                        ended = True
            await self._fill(tid, parser, pos, None)
        finally:
            self.ex.bus.unsubscribe(sub.id)

    def _stop_idle(self, tid: int, parser: StreamParser, idle: float) -> None:
        """No progress for ``idle`` seconds: stop the task with end reason ``idle_timeout``."""
        last = parser.last_error
        detail = f"no progress for {idle:g}s" + (f"; last error: {last}" if last else "")
        self._idle_ended[tid] = detail
        self._publish(tid, [AgentEvent(ev.WARNING, {"reason": "idle_timeout", "detail": detail})])
        try:
            self.ex.task_end_idle(tid)
        except ExecutiveError:
            pass  # it ended on its own meanwhile

    async def _fill(self, tid: int, parser: StreamParser, pos: int, upto: int | None) -> int:
        """Feed the log from ``pos`` up to ``upto`` (None: its current end); returns the new position."""
        while upto is None or pos < upto:
            want = (
                self.ex.limits.output_read_bytes if upto is None else min(upto - pos, self.ex.limits.output_read_bytes)
            )
            r = await self.ex.task_output(tid, stream="stdout", offset=pos, limit=want)
            chunk = r["data"].encode("utf-8") if "data" in r else base64.b64decode(r["data_b64"])
            if not chunk:
                break
            self._publish(tid, parser.feed(chunk))
            pos += len(chunk)
        return pos

    async def _finish(
        self, tid: int, parser: StreamParser, repo: Path | None, pre_tree: str | None, wt: Worktree | None
    ) -> None:
        task = self.ex.tasks.get(tid)
        lim = self.ex.limits
        diff: str | None = None
        files: list[str] = []
        post_tree: str | None = None
        commit: str | None = None
        git_error: str | None = None
        if repo is not None and pre_tree is not None:
            try:
                where = Path(wt.path) if wt else repo
                post_tree = await self.git.snapshot_tree(where)
                files = await self.git.changed_paths(where, pre_tree, post_tree)
                diff = await self.git.diff_trees(where, pre_tree, post_tree)
                if wt is not None:
                    commit = await self.worktrees.commit_all(wt, f"executive: agent run (task {tid})")
            except ExecutiveError as exc:
                git_error = exc.message
        idle_detail = self._idle_ended.get(tid)
        end = RunEnd(
            exit_code=task.exit_code,
            signal=task.signal,
            end_reason="idle_timeout" if idle_detail else task.end_reason.value if task.end_reason else "exited",
            diff=diff,
            files_changed=tuple(files),
            detail=idle_detail,
        )
        events = parser.finish(end)
        result = events[-1].data
        result["task"] = tid
        result["diff_bytes"] = len(diff.encode("utf-8", "surrogateescape")) if diff is not None else None
        result["files_changed"] = files[:200]
        if git_error:
            result["git_error"] = git_error
        if wt is not None:
            result["worktree"] = {"id": wt.id, "path": wt.path, "branch": wt.branch, "commit": commit}
        self._publish(tid, events)
        stored_diff = diff if diff is not None and len(diff) <= lim.patch_bytes else None
        fields = {
            "state": self._advance(tid, AgentRunEvent.FINISH),  # RUNNING -> DONE
            "ok": bool(result["ok"]),
            "errors": result.get("errors", []),
            "text": result.get("text"),
            "cost_usd": result.get("cost_usd"),
            "tokens": result.get("tokens") or {},
            "turns": result.get("turns"),
            "session_id": result.get("session_id"),
            "result": result,
            "post_tree": post_tree,
            "diff": stored_diff,
            "diff_bytes": result["diff_bytes"],
            "files": files,
            "commit_id": commit,
            "ended": time.time(),
        }
        await self.ex.store.call(lambda s: s.agent_run_update(tid, fields))
        task.meta.update({"ok": bool(result["ok"]), "session_id": result.get("session_id")})
        self.ex.persist(task)
        self._results[tid] = result
        while len(self._results) > _RESULTS_IN_MEMORY:
            self._results.popitem(last=False)
        log.info("agent_run_done", task=tid, ok=result["ok"], errors=result.get("errors"))

    # --- queries -------------------------------------------------------------------
    async def get(self, ref: int | str) -> dict[str, Any]:
        """The stored run of task ``ref`` (id or name)."""
        try:
            tid = self.ex.tasks.get(ref).id
        except NotFoundError:
            if not (isinstance(ref, int) or str(ref).isdigit()):
                raise AgentRunNotFoundError(ref) from None
            tid = int(ref)
        row = await self.ex.store.call(lambda s: s.agent_run_get(tid))
        if row is None:
            raise AgentRunNotFoundError(ref)
        return dict(row)

    async def wait(self, ref: int | str, *, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the run's result is recorded; returns ``{task, run, result, timed_out}``."""
        run = await self.get(ref)
        tid = run["task_id"]
        limit = self.ex.limits.max_wait_s
        t = limit if timeout is None else timeout
        if not (0 <= t <= limit):
            raise BadParamsError(f"timeout must be 0..{limit} seconds")
        done = self._done.get(tid)
        timed_out = False
        if done is not None and not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), t)
            except TimeoutError:
                timed_out = True
        if not timed_out:
            self._done.pop(tid, None)
            run = await self.get(tid)
        result = self._results.get(tid) or run.get("result")
        return {
            "task": self.ex.task_info(tid) if self._known(tid) else None,
            "run": _public(run),
            "result": result,
            "timed_out": timed_out,
        }

    def _known(self, tid: int) -> bool:
        try:
            self.ex.tasks.get(tid)
            return True
        except NotFoundError:
            return False

    async def list(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return [_public(dict(r)) for r in await self.ex.store.call(lambda s: s.agent_runs(limit))]

    async def diff(self, ref: int | str) -> dict[str, Any]:
        run = await self.get(ref)
        return {
            "task": run["task_id"],
            "diff": run.get("diff"),
            "diff_bytes": run.get("diff_bytes"),
            "files": run.get("files") or [],
        }

    async def replay(self, ref: int | str, *, limit: int | None = None) -> dict[str, Any]:
        """Re-parse the run's stdout log: the normalized events, as they were published (``agent.result`` last)."""
        run = await self.get(ref)
        tid = run["task_id"]
        task = self.ex.tasks.get(tid)
        if task.state is not TaskState.ENDED:
            raise BadParamsError(
                f"task {tid} is still {task.state.value}; follow it live (events), or replay once it ended"
            )
        cap = self.ex.limits.agent_replay_events
        n = cap if limit is None else limit
        if not (0 < n <= cap):
            raise LimitError(f"limit must be 1..{cap} events", data={"limit": cap})
        adapter = get_adapter(run["agent"])
        req = AgentRequest(
            agent=run["agent"], prompt=run.get("prompt") or "", cwd=run["cwd"], resume=run.get("resume_id")
        )
        parser = adapter.parser(
            req, max_line=self.ex.limits.agent_line_bytes, max_text=self.ex.limits.agent_event_text_bytes
        )
        out: list[dict[str, Any]] = []
        pos = 0
        while True:
            r = await self.ex.task_output(tid, stream="stdout", offset=pos)
            chunk = r["data"].encode("utf-8") if "data" in r else base64.b64decode(r["data_b64"])
            if not chunk:
                break
            out += [e.to_dict() for e in parser.feed(chunk)]
            pos += len(chunk)
        pos = 0
        while True:  # stderr after stdout: only the refusals some CLIs print there matter, not their order
            r = await self.ex.task_output(tid, stream="stderr", offset=pos)
            chunk = r["data"].encode("utf-8") if "data" in r else base64.b64decode(r["data_b64"])
            if not chunk:
                break
            out += [e.to_dict() for e in parser.feed_stderr(chunk)]
            pos += len(chunk)
        stored = run.get("result") or {}
        end = RunEnd(
            exit_code=task.exit_code,
            signal=task.signal,
            end_reason=task.end_reason.value if task.end_reason else "exited",
            diff=run.get("diff"),
            files_changed=tuple(run.get("files") or ()),
            detail=stored.get("idle_detail"),
        )
        if stored.get("end_reason") == "idle_timeout":
            end = dataclasses.replace(end, end_reason="idle_timeout")
        out += [e.to_dict() for e in parser.finish(end)]
        truncated = len(out) > n
        if truncated:  # keep the result: it is what a replay is usually for
            out = out[: n - 1] + [out[-1]]
        return {"task": tid, "events": out, "truncated": truncated}


def _public(run: dict[str, Any]) -> dict[str, Any]:
    """A run row without the bulky columns (the diff has its own call)."""
    return {k: v for k, v in run.items() if k not in ("diff", "result")}
