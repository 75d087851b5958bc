"""Every git command the agents layer runs, behind one object.

The worktree manager, the patch engine and the runner never spawn git
themselves; they call :class:`Git`.  Each call is an argv (never a shell
string) with a timeout, run with a scrubbed environment:

* ``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE`` … of the daemon are dropped,
  so a daemon started from inside a git hook cannot aim us at another repo;
* ``core.hooksPath=/dev/null`` — checkouts and commits we make run no user hooks;
* ``LC_ALL=C`` — messages we match are in English; ``GIT_TERMINAL_PROMPT=0``.

These are internal operations, not user tasks, so they do not go through the
allow-list; user commands (tests, verification) always run as tasks.

Snapshots: :meth:`Git.snapshot_tree` records the *whole* working state —
tracked changes and untracked files, minus ignored ones — as a tree object,
using a private index file (a copy of the real one, so unchanged files are not
re-hashed; copied with its mtime, which git's racy-clean detection reads).
The user's index is never touched.  Two snapshots diffed with
:meth:`Git.diff_trees` give exactly what a run changed, even in a tree that
was already dirty before it started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from executive.agents.errors import GitError, NotARepositoryError

__all__ = ["EMPTY_TREE", "Git", "GitResult"]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the well-known id of git's empty tree
_SCRUB = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
)
_IDENTITY = {
    "GIT_AUTHOR_NAME": "executive",
    "GIT_AUTHOR_EMAIL": "executive@localhost",
    "GIT_COMMITTER_NAME": "executive",
    "GIT_COMMITTER_EMAIL": "executive@localhost",
}


@dataclasses.dataclass(frozen=True, slots=True)
class GitResult:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape").strip()

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


class Git:
    """Runs git for the agents layer.

    Args:
        exe: the git executable.
        timeout: seconds one command may take (``Limits.git_timeout_s``).
        tmp_dir: where private index files live (outside every repository).
    """

    def __init__(self, *, exe: str = "git", timeout: float = 300.0, tmp_dir: Path | None = None) -> None:
        self.exe = exe
        self.timeout = timeout
        self.tmp_dir = tmp_dir

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
        if extra:
            env.update(extra)
        return env

    async def run(
        self,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike[str],
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> GitResult:
        """Run ``git <args>`` in ``cwd``.

        Raises:
            GitError: exit code != 0 (with ``check``), the timeout, or git missing.
        """
        argv = [self.exe, "-c", "core.hooksPath=/dev/null", "-c", "core.quotepath=off", *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(cwd),
                env=self._env(env),
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise GitError(
                f"cannot run git ({exc.strerror or exc}); install git or put it on the daemon's PATH"
            ) from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise GitError(
                f"git {' '.join(args[:3])} took longer than {self.timeout:g}s and was killed",
                data={"args": list(args[:8])},
            ) from None
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        res = GitResult(proc.returncode or 0, out, err)
        if check and res.returncode != 0:
            raise GitError(
                f"git {' '.join(args[:3])} failed ({res.returncode}): {res.err[-500:] or res.out[-500:]}",
                data={"args": list(args[:8]), "exit_code": res.returncode, "stderr": res.err[-2000:]},
            )
        return res

    # --- repository facts ----------------------------------------------------------
    async def toplevel(self, path: str | os.PathLike[str]) -> Path:
        """The root of the work tree that contains ``path``.

        Raises:
            NotARepositoryError: ``path`` is not a directory inside a git work tree.
        """
        if not os.path.isdir(path):
            raise NotARepositoryError(f"{path} is not a directory", data={"cwd": str(path)})
        res = await self.run(["rev-parse", "--show-toplevel"], cwd=path, check=False)
        if res.returncode != 0 or not res.out:
            raise NotARepositoryError(
                f"{path} is not inside a git work tree; run `git init` and commit once, or pick another --cwd",
                data={"cwd": str(path)},
            )
        return Path(res.out).resolve()

    async def head(self, repo: Path) -> str:
        """The commit id of HEAD.

        Raises:
            NotARepositoryError: the repository has no commit yet.
        """
        res = await self.run(["rev-parse", "--verify", "-q", "HEAD^{commit}"], cwd=repo, check=False)
        if res.returncode != 0:
            raise NotARepositoryError(
                f"the repository {repo} has no commit yet; commit once so there is a base to work from",
                data={"repo": str(repo)},
            )
        return res.out

    async def git_path(self, repo: Path, name: str) -> Path:
        res = await self.run(["rev-parse", "--git-path", name], cwd=repo)
        p = Path(res.out)
        return p if p.is_absolute() else (repo / p)

    async def has_identity(self, repo: Path) -> bool:
        res = await self.run(["var", "GIT_COMMITTER_IDENT"], cwd=repo, check=False)
        return res.returncode == 0

    async def identity_env(self, repo: Path) -> dict[str, str]:
        """Author/committer variables to use when the repository has no identity configured."""
        return {} if await self.has_identity(repo) else dict(_IDENTITY)

    # --- snapshots -------------------------------------------------------------------
    async def snapshot_tree(self, repo: Path) -> str:
        """A tree object of the working state (tracked + untracked, not ignored); the real index is untouched."""
        fd, tmp = tempfile.mkstemp(prefix="executive-index-", dir=self.tmp_dir)
        os.close(fd)
        try:
            real = await self.git_path(repo, "index")
            if real.exists():
                # copy2 keeps the index's mtime: git's racy-clean check compares each entry's mtime with
                # the index file's own, so a fresh mtime on the copy would hide a same-size edit made in
                # the second the real index was written (copyfile made fix attempts look like no_changes).
                shutil.copy2(real, tmp)
            else:
                os.unlink(tmp)
            env = {"GIT_INDEX_FILE": tmp}
            await self.run(["add", "-A", "--", "."], cwd=repo, env=env)
            return (await self.run(["write-tree"], cwd=repo, env=env)).out
        finally:
            for p in (tmp, tmp + ".lock"):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    async def diff_trees(self, repo: Path, a: str, b: str) -> str:
        """The binary-safe patch from tree ``a`` to tree ``b`` (paths relative to the repository root)."""
        if a == b:
            return ""
        res = await self.run(
            ["diff-tree", "-r", "-p", "--binary", "--no-color", "--no-ext-diff", "--find-renames", a, b], cwd=repo
        )
        return res.stdout.decode("utf-8", "surrogateescape")

    async def changed_paths(self, repo: Path, a: str, b: str) -> list[str]:
        if a == b:
            return []
        res = await self.run(["diff-tree", "-r", "--name-only", "-z", "--no-renames", a, b], cwd=repo)
        return [p for p in res.stdout.decode("utf-8", "surrogateescape").split("\0") if p]

    async def tree_of(self, repo: Path, rev: str) -> str:
        return (await self.run(["rev-parse", f"{rev}^{{tree}}"], cwd=repo)).out

    async def commit_tree(self, repo: Path, tree: str, parent: str, message: str) -> str:
        """Create a commit object (no hooks, no index) and return its id."""
        env = await self.identity_env(repo)
        res = await self.run(["commit-tree", tree, "-p", parent, "-F", "-"], cwd=repo, input=message.encode(), env=env)
        return res.out
