"""The patch engine: parse, refuse, validate in a mirror, verify, apply atomically, roll back, commit.

Theory of operation
-------------------
:meth:`PatchEngine.submit` takes a unified diff for a workspace (the top of a
git work tree) and walks it through the ledger (``agents/ledger.py``):

1. **parse** (``diffparse``) — malformed text is an error and never enters the ledger;
2. **policy** (``patch_policy``) — unsafe paths or an unallowed binary change:
   ``created -> quarantined`` and :class:`PatchRefusedError`;
3. **validate** — ``git apply --check`` in a throw-away worktree that mirrors the
   working tree: ``-> validated`` or ``-> apply_failed``;
4. **verify** (optional) — the patch is applied in that same mirror and the
   verification command runs there as a task; failure: ``-> quarantined``, and
   the real tree was never touched;
5. **apply** — under the workspace lock: snapshot every touched path (bytes and
   mode, see ``filestate``) into the ledger, then ``git apply`` (which checks
   every hunk before writing).  If it fails the snapshot is restored and the
   patch is ``apply_failed``; else ``applied`` (and ``verified`` when step 4 ran);
6. **commit** (optional) — only the patch's paths: a private index made from
   HEAD, ``git add`` of exactly those paths, ``commit-tree`` and a
   compare-and-swap ``update-ref``.  Other staged or modified files stay as they
   were; the user's index is only refreshed for the committed paths.

:meth:`PatchEngine.rollback` restores the exact pre-apply state of every touched
path — content, permission bits, symlinks; files the patch created are removed
with the directories it created — after checking that the files are still what
the patch left (else :class:`PatchDivergedError`, unless forced).  :meth:`PatchEngine.commit`
makes the same check, so edits made after the apply are not committed as part of the patch.

Rejected alternative: applying with ``git apply --index`` and committing with
``git commit`` — that sweeps whatever else is staged into the commit.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import structlog

from executive.agents import filestate, ledger
from executive.agents.commands import run_command, split_command
from executive.agents.diffparse import Patch, parse_patch
from executive.agents.errors import (
    PatchDivergedError,
    PatchRefusedError,
    PatchTransitionError,
)
from executive.agents.git import Git
from executive.agents.host import AgentsHost
from executive.agents.ledger import PatchEvent, PatchState
from executive.agents.patch_policy import patch_problems
from executive.agents.worktrees import Worktrees
from executive.kernel.errors import ErrorCode, LimitError, NotAllowedError, ServerError
from executive.store.interface import PatchStore
from executive.store.records import PatchFileRow

__all__ = ["PatchEngine"]

log = structlog.get_logger("executive.patches")


# --- per-path snapshots <-> the store's patch_files records ------------------------------------
def _pre_rows(states: list[filestate.FileState]) -> list[PatchFileRow]:
    return [
        {
            "path": st.path,
            "pre_exists": st.exists,
            "pre_mode": st.mode,
            "pre_content": st.content,
            "pre_sha": st.sha,
            "created_dirs": list(st.created_dirs),
        }
        for st in states
    ]


def _post_rows(states: list[filestate.FileState]) -> list[PatchFileRow]:
    return [{"path": st.path, "post_exists": st.exists, "post_mode": st.mode, "post_sha": st.sha} for st in states]


def _load_files(store: PatchStore, patch_id: int) -> list[tuple[filestate.FileState, str | None]]:
    out = []
    for r in store.patch_files(patch_id):
        st = filestate.FileState(
            r["path"], r["pre_exists"], r.get("pre_mode"), r.get("pre_content"), tuple(r.get("created_dirs", ()))
        )
        out.append((st, r.get("post_sha")))
    return out


class PatchEngine:
    """Validates, applies, verifies, commits and rolls back patches, recording each step."""

    def __init__(self, ex: AgentsHost, git: Git, worktrees: Worktrees) -> None:
        self.ex = ex
        self.git = git
        self.worktrees = worktrees
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, workspace: Path) -> asyncio.Lock:
        return self._locks.setdefault(str(workspace), asyncio.Lock())

    # --- submit --------------------------------------------------------------------
    async def submit(
        self,
        text: str,
        *,
        cwd: str,
        source: str = "api",
        title: str | None = None,
        verify: str | list[str] | None = None,
        allow_binary: bool = False,
        apply: bool = True,
        commit: bool = False,
        message: str | None = None,
        agent_task: int | None = None,
        fix_run: int | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Record, check, validate, optionally verify, apply and commit one patch; returns its ledger entry.

        Conflicts and failed verification are outcomes (the returned ``state`` says which).

        Raises:
            PatchInvalidError: not a unified diff (nothing is recorded).
            PatchRefusedError: unsafe paths or a binary change not allowed (recorded as quarantined).
            NotARepositoryError, LimitError, NotAllowedError (the verification command).
        """
        lim = self.ex.limits
        size = len(text.encode("utf-8", "surrogateescape"))
        if size > lim.patch_bytes:
            raise LimitError(
                f"the patch has {size} bytes; the limit is {lim.patch_bytes}", data={"limit": lim.patch_bytes}
            )
        workspace = await self.git.toplevel(cwd)
        await self.git.head(workspace)
        verify_argv = split_command(verify) if verify else None
        patch = parse_patch(text, max_files=lim.patch_files)
        pid = await self.ex.store.call(
            ledger.create,
            {
                "workspace": str(workspace),
                "source": source,
                "title": title or _title(patch),
                "text": text,
                "files": [f.to_dict() for f in patch.files],
                "strip": patch.strip,
                "binary": int(patch.binary),
                "verify_argv": verify_argv,
                "agent_task": agent_task,
                "fix_run": fix_run,
            },
            f"submitted ({source}): {len(patch.files)} file(s)",
        )
        problems = await asyncio.to_thread(patch_problems, patch, workspace, allow_binary=allow_binary)
        if problems:
            await self._move(pid, PatchEvent.REFUSED, "refused: " + "; ".join(problems))
            raise PatchRefusedError(
                f"patch {pid} refused: " + "; ".join(problems),
                data={"patch": pid, "problems": problems},
            )
        verified_reason = await self._validate(pid, patch, text, workspace, verify_argv, session_id)
        rec = await self.get(pid)
        if rec["state"] != PatchState.VALIDATED.value or not apply:
            return rec
        async with self._lock(workspace):
            applied = await self._apply(pid, patch, text, workspace)
        if applied and verified_reason:
            await self._move(pid, PatchEvent.VERIFIED, verified_reason)
        if applied and commit:
            await self.commit(pid, message=message)
        return await self.get(pid)

    async def _validate(
        self,
        pid: int,
        patch: Patch,
        text: str,
        workspace: Path,
        verify_argv: list[str] | None,
        session_id: str | None,
    ) -> str | None:
        """``git apply --check`` (and the verification) in a mirror; returns the verified reason, if verified."""
        async with self.worktrees.open_worktree(str(workspace), purpose="validate") as wt:
            res = await self._git_apply(Path(wt.path), patch, text, check=True)
            if res is not None:
                await self._move(
                    pid, PatchEvent.CHECK_FAILED, f"git apply --check failed in a mirror of the working tree: {res}"
                )
                return None
            await self._move(
                pid,
                PatchEvent.VALIDATED,
                f"git apply --check passed in a mirror of the working tree (worktree {wt.id})",
            )
            if not verify_argv:
                return None
            res = await self._git_apply(Path(wt.path), patch, text, check=False)
            if res is not None:  # pragma: no cover - the check just passed on the same tree
                await self._move(
                    pid, PatchEvent.VERIFY_FAILED, f"could not apply in the mirror for verification: {res}"
                )
                return None
            out = await run_command(
                self.ex,
                verify_argv,
                cwd=wt.path,
                name=f"patch-{pid}-verify",
                session_id=session_id,
                meta={"patch": pid, "purpose": "verify"},
            )
            fields = {"verify_task": out.task, "verify_exit": out.exit_code}
            if not out.ok:
                await self._move(
                    pid,
                    PatchEvent.VERIFY_FAILED,
                    f"verification `{shlex.join(verify_argv)[:200]}` failed ({out.describe()}); "
                    "the real tree was not touched",
                    fields,
                )
                return None
            await self.ex.store.call(lambda s: s.patch_update(pid, fields))
            return (
                f"verification `{shlex.join(verify_argv)[:200]}` passed ({out.describe()}) "
                "in a mirror of the tree before apply"
            )

    async def _git_apply(self, where: Path, patch: Patch, text: str, *, check: bool) -> str | None:
        """Run git apply; returns None on success, else git's message."""
        args = ["apply", f"-p{patch.strip}", "--binary", "--whitespace=nowarn"]
        if check:
            args.append("--check")
        res = await self.git.run([*args, "-"], cwd=where, input=text.encode("utf-8", "surrogateescape"), check=False)
        if res.returncode == 0:
            return None
        lines = [ln for ln in res.err.splitlines() if ln.startswith(("error:", "fatal:"))] or res.err.splitlines()
        return " ".join(lines)[-1000:] or f"git apply exited {res.returncode}"

    async def _apply(self, pid: int, patch: Patch, text: str, workspace: Path) -> bool:
        """Snapshot, apply to the real tree, record post-state; restores the snapshot if git apply fails."""
        paths = patch.paths
        pre = await asyncio.to_thread(lambda: [filestate.capture(workspace, p) for p in paths])
        total = sum(len(s.content or b"") for s in pre)
        if total > self.ex.limits.patch_snapshot_bytes:
            await self._move(
                pid,
                PatchEvent.APPLY_FAILED,
                f"the touched files hold {total} bytes; "
                f"the rollback snapshot limit is {self.ex.limits.patch_snapshot_bytes}",
            )
            return False
        dirs = [p for p in pre if p.exists and p.content is None]
        if dirs:
            await self._move(pid, PatchEvent.APPLY_FAILED, f"{dirs[0].path} is a directory in the working tree")
            return False
        pre_rows = _pre_rows(pre)
        await self.ex.store.call(lambda s: s.patch_files_save_pre(pid, pre_rows))
        err = await self._git_apply(workspace, patch, text, check=True)
        if err is None:
            err = await self._git_apply(workspace, patch, text, check=False)
            if err is not None:  # git apply is all-or-nothing, but a crash or full disk is not: put every byte back
                await asyncio.to_thread(filestate.restore_all, workspace, pre)
        if err is not None:
            await self._move(pid, PatchEvent.APPLY_FAILED, f"git apply failed on {workspace}: {err}")
            return False
        post = await asyncio.to_thread(lambda: [filestate.capture(workspace, p) for p in paths])
        post_rows = _post_rows(post)
        await self.ex.store.call(lambda s: s.patch_files_save_post(pid, post_rows))
        await self._move(pid, PatchEvent.APPLIED, f"applied to {workspace}: {len(patch.files)} file(s)")
        log.info("patch_applied", patch=pid, workspace=str(workspace))
        return True

    # --- after apply -------------------------------------------------------------------
    async def mark_verified(self, pid: int, reason: str) -> dict[str, Any]:
        """Record that checks run on the real tree passed (used by the fix loop)."""
        await self._move(pid, PatchEvent.VERIFIED, reason)
        return await self.get(pid)

    async def rollback(
        self, pid: int, *, reason: str = "rolled back on request", force: bool = False
    ) -> dict[str, Any]:
        """Restore the exact pre-apply state of every path the patch touched.

        Raises:
            PatchTransitionError: the patch is not applied or verified.
            PatchDivergedError: a touched file changed since the apply (pass ``force`` to overwrite it anyway).
        """
        rec = await self.get(pid)
        self._require(rec, PatchEvent.ROLLED_BACK)
        workspace = Path(rec["workspace"])
        async with self._lock(workspace):
            rec = await self.get(pid)
            self._require(rec, PatchEvent.ROLLED_BACK)
            files = await self.ex.store.call(_load_files, pid)
            diverged = await self._diverged(
                pid,
                workspace,
                files,
                force,
                "rolling back would lose those edits. Save them, then roll back with --force",
            )
            # Removals first (deepest paths first), so a directory the patch created is empty when its turn comes.
            order = sorted((st for st, _ in files), key=lambda s: (s.exists, -s.path.count("/")))
            try:
                await asyncio.to_thread(filestate.check_restorable, workspace, order)
            except PermissionError as exc:
                raise NotAllowedError(
                    f"patch {pid}: {exc}; remove that link, then roll back again", data={"patch": pid}
                ) from exc
            await asyncio.to_thread(filestate.restore_all, workspace, order)
            after = await asyncio.to_thread(
                lambda: {st.path: filestate.capture(workspace, st.path).sha for st, _ in files}
            )
            wrong = [st.path for st, _ in files if after[st.path] != st.sha]
            if wrong:
                raise ServerError(
                    f"patch {pid}: could not restore {', '.join(wrong[:10])} exactly; check the disk and retry",
                    code=ErrorCode.SERVER_ERROR,
                    data={"patch": pid, "paths": wrong},
                )
            note = f"{reason}; restored {len(files)} path(s) exactly" + (
                f" (overwrote later edits to {', '.join(diverged[:10])})" if diverged else ""
            )
            await self._move(pid, PatchEvent.ROLLED_BACK, note)
        log.info("patch_rolled_back", patch=pid)
        return await self.get(pid)

    async def _diverged(self, pid: int, workspace: Path, files: list[Any], force: bool, consequence: str) -> list[str]:
        """Paths that changed since the apply; unless ``force``, any such path is an error naming them."""
        now = await asyncio.to_thread(lambda: {st.path: filestate.capture(workspace, st.path).sha for st, _ in files})
        diverged = [st.path for st, post in files if now[st.path] != post]
        if diverged and not force:
            raise PatchDivergedError(
                f"patch {pid}: {', '.join(diverged[:10])} changed after the patch was applied; {consequence}",
                data={"patch": pid, "diverged": diverged},
            )
        return diverged

    async def commit(self, pid: int, *, message: str | None = None, force: bool = False) -> dict[str, Any]:
        """Commit exactly the paths the patch touched, on the workspace's HEAD.

        Raises:
            PatchTransitionError: the patch is not applied or verified.
            PatchDivergedError: a touched file changed since the apply (pass ``force`` to commit it as it is now).
            GitError: HEAD moved during the commit (retry), or git failed.
        """
        rec = await self.get(pid)
        self._require(rec, PatchEvent.COMMITTED)
        workspace = Path(rec["workspace"])
        paths = list(dict.fromkeys(p for f in rec["files"] for p in (f["old_path"], f["new_path"]) if p))
        async with self._lock(workspace):
            rec = await self.get(pid)
            self._require(rec, PatchEvent.COMMITTED)
            files = await self.ex.store.call(_load_files, pid)
            diverged = await self._diverged(
                pid,
                workspace,
                files,
                force,
                "committing would include those edits. Undo them, or commit with --force to include them",
            )
            head = await self.git.head(workspace)
            fd, index = tempfile.mkstemp(prefix="executive-commit-index-", dir=self.git.tmp_dir)
            os.close(fd)
            os.unlink(index)
            env = {"GIT_INDEX_FILE": index}
            try:
                await self.git.run(["read-tree", head], cwd=workspace, env=env)
                in_head = set(
                    filter(
                        None,
                        (
                            await self.git.run(
                                ["--literal-pathspecs", "ls-files", "-z", "--", *paths], cwd=workspace, env=env
                            )
                        ).out.split("\0"),
                    )
                )
                present = [p for p in paths if os.path.lexists(workspace / p) or p in in_head]
                if present:
                    await self.git.run(["--literal-pathspecs", "add", "-A", "--", *present], cwd=workspace, env=env)
                tree = (await self.git.run(["write-tree"], cwd=workspace, env=env)).out
            finally:
                for p in (index, index + ".lock"):
                    if os.path.exists(p):
                        os.unlink(p)
            if tree == await self.git.tree_of(workspace, head):
                raise PatchTransitionError(
                    f"patch {pid}: its changes are already in HEAD; nothing to commit",
                    data={"patch": pid, "state": rec["state"]},
                )
            msg = message or f"{rec['title']}\n\nexecutive patch {pid} ({rec['source']})"
            commit = await self.git.commit_tree(workspace, tree, head, msg)
            await self.git.run(["update-ref", "-m", f"executive: patch {pid}", "HEAD", commit, head], cwd=workspace)
            # Refresh the user's index for the committed paths only; other staged entries stay staged.
            await self.git.run(["--literal-pathspecs", "reset", "-q", "HEAD", "--", *paths], cwd=workspace, check=False)
            note = f"committed as {commit[:12]} with only its {len(paths)} path(s)" + (
                f" (including later edits to {', '.join(diverged[:10])})" if diverged else ""
            )
            await self._move(pid, PatchEvent.COMMITTED, note, {"commit_id": commit})
        return await self.get(pid)

    # --- ledger access ---------------------------------------------------------------------
    async def get(self, pid: int, *, with_text: bool = True) -> dict[str, Any]:
        return await self.ex.store.call(ledger.get, int(pid), with_text=with_text)

    async def list(
        self, *, state: str | None = None, workspace: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return await self.ex.store.call(ledger.list_patches, state=state, workspace=workspace, limit=limit)

    async def _move(self, pid: int, event: PatchEvent, reason: str, fields: dict[str, Any] | None = None) -> None:
        new = await self.ex.store.call(ledger.transition, pid, event, reason, fields)
        self.ex.bus.publish(
            "patch", None, {"patch": pid, "event": event.value, "state": new.value, "reason": reason[:500]}
        )

    @staticmethod
    def _require(rec: dict[str, Any], event: PatchEvent) -> None:
        state = PatchState(rec["state"])
        if event not in ledger.TRANSITIONS[state]:
            allowed = ", ".join(e.value for e in ledger.TRANSITIONS[state]) or "nothing (its state is final)"
            raise PatchTransitionError(
                f"patch {rec['id']} is {state.value}: it cannot be {event.value} "
                f"(from {state.value} it can only be {allowed})",
                data={"patch": rec["id"], "state": state.value, "event": event.value},
            )


def _title(patch: Patch) -> str:
    names = [f.new_path or f.old_path or "?" for f in patch.files]
    head = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"patch {head}"
