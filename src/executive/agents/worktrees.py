"""Git worktrees for agent runs, patch validation and fix attempts.

Theory of operation
-------------------
A worktree is a second checkout of a repository sharing its object store, made
under ``$EXECUTIVE_HOME/worktrees/<id>``.  It starts as a *mirror* of the
repository's working state, not just of HEAD: the dirty state (tracked changes
and untracked files, minus ignored ones) is snapshotted as a tree and checked
out, then recorded as a ``baseline`` commit.  So an agent sees what the user
sees, ``git apply --check`` in a mirror says whether a patch applies to the
real tree, and "what did the agent change" is ``diff(baseline, now)``.

Purposes: ``agent`` worktrees get a branch ``executive/agent-<id>`` and are
kept after the run (its changes are committed on that branch, so removing the
directory later loses nothing); ``validate`` and ``fix`` worktrees are
detached throw-aways, removed by :meth:`Worktrees.open_worktree` when the
operation ends, and at daemon start if a crash left one behind.

A worktree is *in use* while an operation holds it (an in-memory count) or
while the task attached to it is live.  :meth:`Worktrees.remove` refuses an
in-use worktree; :meth:`Worktrees.stale` lists the ones nothing uses, and
:meth:`Worktrees.prune` removes them.  Operations on one repository are
serialised (``git worktree`` edits shared metadata).
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import dataclasses
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from executive.agents.errors import WorktreeBusyError, WorktreeNotFoundError
from executive.agents.git import Git
from executive.agents.host import AgentsHost
from executive.agents.states import WORKTREE_TABLE, WorktreeEvent, WorktreeState
from executive.kernel.errors import LimitError, NotFoundError
from executive.kernel.transitions import next_state
from executive.paths import make_private_dir
from executive.store.interface import AgentStore

__all__ = ["PURPOSES", "Worktree", "Worktrees"]

log = structlog.get_logger("executive.worktrees")

PURPOSES = ("agent", "validate", "fix")
EPHEMERAL = ("validate", "fix")  # removed when their operation ends; never outlive a daemon


@dataclasses.dataclass(slots=True)
class Worktree:
    id: int
    repo: str
    path: str
    branch: str | None
    purpose: str
    state: str  # a WorktreeState value: creating | ready | removed (changed only by move())
    task_id: int | None
    base_commit: str | None
    baseline: str | None  # commit that mirrors the repository's working state at creation
    created: float
    removed: float | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def move(self, event: WorktreeEvent) -> str:
        """Take one edge of WORKTREE_TABLE and return the new state's value (a miss raises; nothing changes)."""
        state = WorktreeState(self.state)
        new = next_state(
            WORKTREE_TABLE,
            state,
            event,
            machine="worktree",
            subject=f"worktree {self.id}",
            data={"worktree": self.id, "state": state.value, "event": event.value},
        )
        self.state = new.value
        return self.state


def _alive(store: AgentStore) -> list[Worktree]:
    return [Worktree(**r) for r in store.worktrees(include_removed=False, removed_state=WorktreeState.REMOVED.value)]


def _all(store: AgentStore) -> list[Worktree]:
    return [Worktree(**r) for r in store.worktrees(include_removed=True, removed_state=WorktreeState.REMOVED.value)]


class Worktrees:
    """Creates, tracks and removes the daemon's git worktrees."""

    def __init__(self, ex: AgentsHost, git: Git) -> None:
        self.ex = ex
        self.git = git
        self.root = ex.home / "worktrees"
        self._holds: collections.Counter[int] = collections.Counter()  # wt id -> operations holding it
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, repo: Path) -> asyncio.Lock:
        return self._locks.setdefault(str(repo), asyncio.Lock())

    async def open(self) -> None:
        """Daemon start: throw-away worktrees a crash left behind go now (nothing can be using them)."""
        make_private_dir(self.root)
        for wt in await self.ex.store.call(_alive):
            if wt.purpose in EPHEMERAL or wt.state == WorktreeState.CREATING.value:
                await self._remove(wt, "left over from a previous daemon")

    # --- queries -------------------------------------------------------------------
    async def get(self, wt_id: int) -> Worktree:
        row = await self.ex.store.call(lambda s: s.worktree_get(int(wt_id)))
        if row is None:
            raise WorktreeNotFoundError(wt_id)
        return Worktree(**row)

    async def list(self, *, include_removed: bool = False) -> list[dict[str, Any]]:
        rows = await self.ex.store.call(_all if include_removed else _alive)
        return [self._describe(wt) for wt in rows]

    def _describe(self, wt: Worktree) -> dict[str, Any]:
        d = wt.to_dict()
        d["in_use"] = self.user_of(wt)
        d["exists"] = Path(wt.path).is_dir() if wt.path else False
        return d

    def user_of(self, wt: Worktree) -> str | None:
        """Who uses the worktree now (for messages), or None when nothing does."""
        if self._holds[wt.id] > 0:
            return "an operation in progress"
        if wt.task_id is not None:
            try:
                task = self.ex.tasks.get(wt.task_id)
            except NotFoundError:
                return None
            if task.is_live:
                return f"task {task.id} ({task.state.value})"
        return None

    async def stale(self) -> builtins.list[dict[str, Any]]:
        """Worktrees nothing uses any more, with the reason each is stale."""
        out = []
        for wt in await self.ex.store.call(_alive):
            if self.user_of(wt) is not None:
                continue
            d = self._describe(wt)
            if not d["exists"]:
                d["stale_reason"] = "its directory is gone"
            elif wt.task_id is not None:
                d["stale_reason"] = f"task {wt.task_id} has ended"
            else:
                d["stale_reason"] = "no task or operation uses it"
            out.append(d)
        return out

    # --- lifecycle -----------------------------------------------------------------
    async def create(self, cwd: str, *, purpose: str, branch: bool) -> Worktree:
        """Make a worktree mirroring the working state of the repository around ``cwd``.

        It is held until :meth:`release`.

        Raises:
            NotARepositoryError: ``cwd`` is not in a git work tree with a commit.
            LimitError: ``Limits.max_worktrees`` are alive; prune some.
        """
        if purpose not in PURPOSES:
            raise ValueError(purpose)
        repo = await self.git.toplevel(cwd)
        head = await self.git.head(repo)
        alive = await self.ex.store.call(_alive)
        cap = self.ex.limits.max_worktrees
        if len(alive) >= cap:
            raise LimitError(
                f"{len(alive)} worktrees exist; the limit is {cap}. "
                "Remove unused ones with `executive agent worktrees --prune`",
                data={"limit": cap},
            )
        now = time.time()
        wt_id = await self.ex.store.call(lambda s: s.worktree_insert(str(repo), purpose, "creating", head, now))
        self._holds[wt_id] += 1
        path = self.root / str(wt_id)
        name = f"executive/{purpose}-{wt_id}" if branch else None
        wt = Worktree(
            wt_id, str(repo), str(path), name, purpose, WorktreeState.CREATING.value, None, head, None, time.time()
        )
        try:
            async with self._lock(repo):
                make_private_dir(self.root)
                snapshot = await self.git.snapshot_tree(repo)
                args = ["worktree", "add", "--quiet"] + (["-b", name] if name else ["--detach"]) + [str(path), head]
                await self.git.run(args, cwd=repo)
            baseline = head
            if snapshot != await self.git.tree_of(repo, head):
                await self.git.run(["read-tree", "--reset", "-u", snapshot], cwd=path)
                baseline = await self.git.commit_tree(
                    path, snapshot, head, f"executive: baseline of {repo} (its uncommitted changes)"
                )
                await self.git.run(["update-ref", "HEAD", baseline], cwd=path)
                await self.git.run(["read-tree", "HEAD"], cwd=path)
            wt.baseline = baseline
            state = wt.move(WorktreeEvent.CREATED)  # CREATING -> READY
            ready = {"path": str(path), "branch": name, "state": state, "baseline": baseline}
            await self.ex.store.call(lambda s: s.worktree_update(wt_id, ready))
        except BaseException:
            self._holds[wt_id] -= 1
            await asyncio.shield(self._remove(wt, "creation failed"))
            raise
        log.info("worktree_created", worktree=wt_id, repo=str(repo), purpose=purpose, branch=name)
        return wt

    async def attach(self, wt: Worktree, task_id: int) -> None:
        """Record that ``task_id`` works in ``wt`` (it stays in use while the task is live)."""
        wt.task_id = task_id
        await self.ex.store.call(lambda s: s.worktree_update(wt.id, {"task_id": task_id}))

    def release(self, wt: Worktree) -> None:
        """Drop the hold taken by :meth:`create`."""
        if self._holds[wt.id] > 0:
            self._holds[wt.id] -= 1
        if self._holds[wt.id] == 0:
            del self._holds[wt.id]

    @contextlib.asynccontextmanager
    async def open_worktree(self, cwd: str, *, purpose: str) -> AsyncIterator[Worktree]:
        """A throw-away detached worktree, removed when the block exits (even on error or cancel)."""
        wt = await self.create(cwd, purpose=purpose, branch=False)
        try:
            yield wt
        finally:
            self.release(wt)
            await asyncio.shield(self._remove(wt, "operation finished"))

    async def commit_all(self, wt: Worktree, message: str) -> str | None:
        """Commit everything in the worktree on its HEAD (no hooks); returns the commit, None if clean."""
        path = Path(wt.path)
        tree = await self.git.snapshot_tree(path)
        head = (await self.git.run(["rev-parse", "HEAD"], cwd=path)).out
        if tree == await self.git.tree_of(path, head):
            return None
        commit = await self.git.commit_tree(path, tree, head, message)
        await self.git.run(["update-ref", "HEAD", commit, head], cwd=path)
        await self.git.run(["read-tree", "HEAD"], cwd=path)
        return commit

    async def remove(self, wt_id: int, *, reason: str = "removed on request") -> dict[str, Any]:
        """Remove a worktree's directory (an ``agent`` branch and its commits stay).

        Raises:
            WorktreeNotFoundError: unknown id.
            WorktreeBusyError: a live task or an operation uses it.
        """
        wt = await self.get(wt_id)
        if wt.state == WorktreeState.REMOVED.value:
            return self._describe(wt)
        user = self.user_of(wt)
        if user is not None:
            raise WorktreeBusyError(
                f"worktree {wt.id} is in use by {user}; wait for it to end or cancel it, then remove the worktree",
                data={"worktree": wt.id, "in_use": user},
            )
        await self._remove(wt, reason)
        return self._describe(wt)

    async def prune(self, *, older_than: float = 0.0) -> builtins.list[dict[str, Any]]:
        """Remove every stale worktree created more than ``older_than`` seconds ago; returns what was removed."""
        now = time.time()
        removed = []
        for d in await self.stale():
            if now - d["created"] < older_than:
                continue
            wt = await self.get(d["id"])
            if self.user_of(wt) is None:  # re-check: an await passed
                await self._remove(wt, f"pruned: {d['stale_reason']}")
                removed.append(self._describe(wt))
        return removed

    async def _remove(self, wt: Worktree, reason: str) -> None:
        if wt.state == WorktreeState.REMOVED.value:
            return  # already gone (idempotent: a leftover may be removed twice)
        repo = Path(wt.repo)
        async with self._lock(repo):
            if wt.path and repo.is_dir():
                await self.git.run(["worktree", "remove", "--force", "--force", wt.path], cwd=repo, check=False)
            if wt.path and Path(wt.path).exists():
                await asyncio.to_thread(shutil.rmtree, wt.path, True)
            if repo.is_dir():
                await self.git.run(["worktree", "prune"], cwd=repo, check=False)
                if wt.branch and wt.purpose in EPHEMERAL:
                    await self.git.run(["branch", "-D", wt.branch], cwd=repo, check=False)
        state = wt.move(WorktreeEvent.REMOVE)  # CREATING/READY -> REMOVED
        wt.removed = time.time()
        wt.detail = reason
        removed = {"state": state, "removed": wt.removed, "detail": reason}
        await self.ex.store.call(lambda s: s.worktree_update(wt.id, removed))
        log.info("worktree_removed", worktree=wt.id, reason=reason)
