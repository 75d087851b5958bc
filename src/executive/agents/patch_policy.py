"""Which patches may touch a workspace: paths that stay inside it, no binary unless allowed.

A patch is refused (the ledger records it ``quarantined``) when any path:

* is empty, contains NUL, or is absolute (``/etc/passwd``, ``C:\\x``);
* has a ``..`` component, or a ``.git`` component (the repository's own metadata);
* goes through a symlink — an existing directory on the way, or the file itself —
  whose real target is outside the workspace;
* creates or changes a symlink (mode 120000) whose target is absolute or leaves the workspace;
* is a submodule entry (mode 160000).

Binary changes (``Binary files … differ``, ``GIT binary patch``) are refused
unless the caller allows them.  All problems are collected, not just the first,
so one message says everything that is wrong.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from executive.agents.diffparse import FileDiff, Patch

__all__ = ["patch_problems"]


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _path_problems(rel: str, workspace: Path, real_root: str) -> list[str]:
    if not rel or "\0" in rel:
        return [f"{rel!r} is not a usable path"]
    if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        return [f"{rel} is an absolute path; patches may only use paths relative to the workspace"]
    parts = rel.replace("\\", "/").split("/")
    if ".." in parts:
        return [f"{rel} climbs out of the workspace with '..'"]
    if any(p.lower() == ".git" for p in parts):
        return [f"{rel} is inside a .git directory; patches may not touch repository metadata"]
    cur = workspace
    for i, part in enumerate(parts):
        if part in ("", "."):
            continue
        cur = cur / part
        if cur.is_symlink():
            target = os.path.realpath(cur)
            if not _inside(real_root, target):
                what = "is a symlink" if i == len(parts) - 1 else f"goes through the symlink {'/'.join(parts[: i + 1])}"
                return [f"{rel} {what} pointing outside the workspace ({target})"]
        elif not cur.exists():
            break
    return []


def _symlink_problem(fd: FileDiff) -> str | None:
    if fd.new_mode == "160000" or fd.old_mode == "160000":
        return f"{fd.new_path or fd.old_path} is a submodule entry; patches may not change submodules"
    if fd.new_mode != "120000" or fd.new_path is None:
        return None
    added = [line for h in fd.hunks for line in h.new_lines]
    target = added[-1] if added else ""
    if not target:
        return None
    if target.startswith("/"):
        return f"{fd.new_path} would become a symlink to the absolute path {target}"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(fd.new_path), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"{fd.new_path} would become a symlink to {target}, outside the workspace"
    return None


def patch_problems(patch: Patch, workspace: Path, *, allow_binary: bool) -> list[str]:
    """Everything that makes ``patch`` unsafe for ``workspace`` (empty list: it may be applied)."""
    real_root = os.path.realpath(workspace)
    problems: list[str] = []
    for fd in patch.files:
        for rel in fd.paths:
            problems += _path_problems(rel, workspace, real_root)
        sym = _symlink_problem(fd)
        if sym:
            problems.append(sym)
        if fd.binary and not allow_binary:
            problems.append(
                f"{fd.new_path or fd.old_path} is a binary change; allow binary patches explicitly to accept it"
            )
    return list(dict.fromkeys(problems))
