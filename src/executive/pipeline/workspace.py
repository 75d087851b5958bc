"""The run's working directory: safe paths, globs, and the "diff so far" for rework prompts.

Paths in a pipeline file are relative to the working directory and may not
leave it (``model.RelPath`` refuses ``..`` and absolute paths; :func:`inside`
also refuses symlinks that point outside).  The diff is read-only: ``git diff``
when the directory is in a git work tree, otherwise the files changed since
the run started (by mtime) — enough for an agent to see what it already did.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

__all__ = ["diff_so_far", "inside", "matches"]

_WALK_LIMIT = 20000  # files looked at when there is no git


def inside(workdir: str | Path, rel: str) -> Path | None:
    """``workdir/rel`` resolved, or None if it resolves outside ``workdir``."""
    root = Path(workdir).resolve()
    target = (root / rel).resolve()
    return target if target == root or root in target.parents else None


def matches(workdir: str | Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` (a path or a glob) inside ``workdir``."""
    root = Path(workdir)
    if any(ch in pattern for ch in "*?["):
        found = [p for p in root.glob(pattern) if inside(root, str(p.relative_to(root))) is not None]
        return sorted(found)
    p = inside(root, pattern)
    return [p] if p is not None and p.exists() else []


async def _git(workdir: str, *args: str, limit: int) -> tuple[int, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            workdir,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return 127, ""
    assert proc.stdout is not None
    try:
        # At most limit+1 bytes (one over says "cut"): a huge diff is never held whole.
        out = await asyncio.wait_for(_read_at_most(proc.stdout, limit + 1), 30)
    except TimeoutError:
        out = None
    if proc.returncode is None and (out is None or len(out) > limit):
        try:
            proc.kill()  # timed out, or more output than we keep: stop git instead of draining it
        except ProcessLookupError:
            pass
    await proc.wait()
    if out is None:
        return 124, ""
    return proc.returncode or 0, out.decode("utf-8", "replace")


async def _read_at_most(stream: asyncio.StreamReader, n: int) -> bytes:
    try:
        return await stream.readexactly(n)
    except asyncio.IncompleteReadError as exc:  # EOF first: all of it
        return exc.partial


async def diff_so_far(workdir: str, since: float, max_bytes: int) -> str:
    """What changed in ``workdir``: git diff plus untracked files, or files modified after ``since``."""
    code, inside_tree = await _git(workdir, "rev-parse", "--is-inside-work-tree", limit=64)
    if code == 0 and inside_tree.strip() == "true":
        _, untracked = await _git(workdir, "ls-files", "--others", "--exclude-standard", limit=max_bytes)
        _, diff = await _git(workdir, "diff", "HEAD", limit=max_bytes)
        text = diff + ("".join(f"new file: {line}\n" for line in untracked.splitlines()))
        return _cut(text or "(no changes)", max_bytes)
    changed = await asyncio.to_thread(_changed_since, workdir, since)
    if not changed:
        return "(no files changed since the run started; not a git work tree)"
    return _cut(
        "files changed since the run started (not a git work tree):\n" + "".join(f"  {c}\n" for c in changed), max_bytes
    )


def _changed_since(workdir: str, since: float) -> list[str]:
    out: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(workdir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("node_modules", "__pycache__"))
        for name in sorted(filenames):
            seen += 1
            if seen > _WALK_LIMIT:
                out.append(f"... stopped after {_WALK_LIMIT} files")
                return out
            path = os.path.join(dirpath, name)
            try:
                if os.stat(path).st_mtime >= since:
                    out.append(os.path.relpath(path, workdir))
            except OSError:
                continue
    return out


def _cut(text: str, max_bytes: int) -> str:
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", "ignore") + "\n[... diff cut at the pipeline_diff_bytes limit ...]"
