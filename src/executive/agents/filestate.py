"""Exact snapshots of individual paths, for rolling a patch back.

A :class:`FileState` records one path as it is on disk: absent, a regular file
(bytes and permission bits) or a symlink (its target).  For an absent path it
also records which of its parent directories are absent, so a rollback can
remove the directories the patch created and nothing else.

:func:`restore` writes a state back atomically per path (temporary file in the
same directory, then ``os.replace``), so a crash mid-rollback leaves each file
either old or new, never half-written.  Directories are never snapshotted: a
patch that would turn a directory into a file fails in ``git apply`` first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["FileState", "capture", "fingerprint", "restore", "restore_all"]


@dataclasses.dataclass(frozen=True, slots=True)
class FileState:
    path: str  # relative to the workspace
    exists: bool
    mode: int | None = None  # st_mode (type + permission bits)
    content: bytes | None = None  # file bytes, or the symlink target
    created_dirs: tuple[str, ...] = ()  # absent parents (relative), deepest first

    @property
    def is_link(self) -> bool:
        return self.mode is not None and stat.S_ISLNK(self.mode)

    @property
    def sha(self) -> str:
        return fingerprint(self.exists, self.mode, self.content)


def fingerprint(exists: bool, mode: int | None, content: bytes | None) -> str:
    """A digest of what matters for equality: existence, kind + permission bits, bytes."""
    h = hashlib.sha256()
    if not exists:
        h.update(b"absent")
    else:
        kind = "link" if mode is not None and stat.S_ISLNK(mode) else "file"
        h.update(f"{kind}:{(mode or 0) & 0o7777:o}:".encode())
        h.update(content or b"")
    return h.hexdigest()


def capture(workspace: Path, rel: str) -> FileState:
    """The current state of ``workspace/rel``."""
    target = workspace / rel
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        missing = []
        parent = Path(rel).parent
        while str(parent) not in ("", ".") and not (workspace / parent).exists():
            missing.append(str(parent))
            parent = parent.parent
        return FileState(rel, False, created_dirs=tuple(missing))
    if stat.S_ISLNK(st.st_mode):
        return FileState(rel, True, st.st_mode, os.fsencode(os.readlink(target)))
    if stat.S_ISDIR(st.st_mode):
        return FileState(rel, True, st.st_mode, None)
    return FileState(rel, True, st.st_mode, target.read_bytes())


def _check_inside(workspace: Path, target: Path) -> None:
    """Refuse to touch ``target`` if its directory now resolves outside the workspace.

    Between apply and rollback the tree may change: a directory the patch removed can come
    back as a symlink to somewhere else, and following it would write outside the workspace.
    """
    root = os.path.realpath(workspace)
    parent = target.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    real = os.path.realpath(parent)
    if real != root and not real.startswith(root + os.sep):
        raise PermissionError(f"refusing to restore {target}: {parent} now leads outside the workspace ({real})")


def check_restorable(workspace: Path, states: list[FileState]) -> None:
    """Check every path of a rollback before touching any (a refusal changes nothing)."""
    for st in states:
        _check_inside(workspace, workspace / st.path)


def restore_all(workspace: Path, states: list[FileState]) -> None:
    """Restore every state in order (one call for a worker thread)."""
    for st in states:
        restore(workspace, st)


def restore(workspace: Path, state: FileState) -> None:
    """Make ``workspace/state.path`` exactly ``state`` again (never outside the workspace)."""
    target = workspace / state.path
    _check_inside(workspace, target)
    if not state.exists:
        if os.path.lexists(target) and not target.is_dir():
            os.unlink(target)
        for d in state.created_dirs:  # deepest first; only directories the patch created, and only if empty
            try:
                os.rmdir(workspace / d)
            except OSError:
                break
        return
    if state.mode is not None and stat.S_ISDIR(state.mode):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if state.is_link:
        tmp = target.parent / f".executive-restore-{os.getpid()}-{target.name}"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.fsdecode(state.content or b""), tmp)
        os.replace(tmp, target)
        return
    fd, tmp_name = tempfile.mkstemp(prefix=".executive-restore-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(state.content or b"")
            f.flush()
            os.fchmod(f.fileno(), (state.mode or 0o644) & 0o7777)
        if target.is_dir() and not target.is_symlink():
            raise IsADirectoryError(f"{target} is now a directory; cannot restore the file")
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
