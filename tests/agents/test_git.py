"""Git.snapshot_tree sees every edit, also the racy-git case (same size, same second as the index write)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from executive.agents.git import Git

from .conftest import git, make_repo


def _set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 1_000_000_000, seconds * 1_000_000_000))


def test_snapshot_sees_same_size_edit_made_in_the_index_write_second(tmp_path: Path) -> None:
    """An edit that keeps size and mtime of the index entry is only visible through git's racy-clean check.

    Git treats an entry as "racily clean" (and compares content) when the file's mtime is not older
    than the index file's own mtime. The private index copy must keep the real index's mtime, or the
    check compares against the copy time and the edit is missed. The clock is pinned with utime so the
    case is deterministic; ctime cannot be set, so the repository ignores it (core.trustctime=false).
    """
    repo = make_repo(tmp_path / "repo", {"calc.py": "x = 1\n"})
    git(repo, "config", "core.trustctime", "false")
    second = int(os.stat(repo / ".git" / "index").st_mtime) - 100
    _set_mtime(repo / "calc.py", second)
    git(repo, "add", "calc.py")  # the index entry now records mtime == second
    base_tree = git(repo, "write-tree").strip()

    (repo / "calc.py").write_text("x = 2\n")  # same size, in place
    _set_mtime(repo / "calc.py", second)  # ... and in the same second as the entry
    _set_mtime(repo / ".git" / "index", second)  # ... which is the second the index was written

    snap = asyncio.run(Git(tmp_dir=tmp_path).snapshot_tree(repo))

    assert snap != base_tree
    assert git(repo, "cat-file", "-p", f"{snap}:calc.py") == "x = 2\n"
    # the user's index is untouched: it still holds the old blob
    assert git(repo, "show", ":calc.py") == "x = 1\n"
