"""Where a task's processes live, so every one of them is found and killed, whatever it does.

A process can leave its parent (double fork), its process group and session (``setsid``) and
its environment (``env -i``); none of that may let it outlive its task.  Two mechanisms, the
best one the host allows, chosen once at start-up (``executive serve`` logs which):

* **cgroup v2** (:class:`CgroupContainment`): every task gets its own cgroup
  ``<daemon's cgroup>/executive-<instance>/<task id>``.  A child is *born* in it: the daemon
  moves itself into the task's cgroup for the instant of the fork (the fork and exec are
  synchronous in the event loop's spawn; the daemon moves back as soon as the spawn returns, and
  never kills or lists a cgroup it is in).  Members are read from ``cgroup.procs`` and killed with
  ``cgroup.kill``: no process escapes, and nothing else on the host is looked at.  The cgroups of
  a crashed daemon are still there at restart, so its orphans are found too.
* **child subreaper** (:class:`SubreaperContainment`, ``PR_SET_CHILD_SUBREAPER``): an orphaned
  descendant is re-parented to the daemon instead of PID 1, so the daemon's own descendants are
  every process any task started.  A process is a task's when it descends from the task's leader,
  shares its process group or session, carries its marker, or was seen under the leader before;
  an orphan none of that names belongs to the only live task that was running when it started
  (if several were, it is left until one remains).  Only the daemon's descendants are read
  (``/proc/PID/task/TID/children``; where the kernel lacks that file, a parent map from
  ``/proc/*/stat``, never an environment scan).

``EXECUTIVE_CONTAINMENT=cgroup|subreaper`` forces one (tests use it to run the fallback).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import signal
from collections.abc import Iterable
from pathlib import Path

import structlog

__all__ = ["CgroupContainment", "Containment", "SubreaperContainment", "detect"]

log = structlog.get_logger("executive.process")
FORCE_ENV = "EXECUTIVE_CONTAINMENT"
PR_SET_CHILD_SUBREAPER = 36
MARKER_ENV = "EXECUTIVE_TASK"  # the same variable process_os.py sets (kept here to stay below it)


class Containment:
    """The interface: what the process runtime asks of a containment."""

    name = "none"
    cheap = False  # members() is quick enough to run on the event loop

    def describe(self) -> str:
        return self.name

    def before_spawn(self, unit: str) -> None:
        """The next fork starts a process of ``unit`` (a task)."""

    def after_spawn(self, unit: str, pid: int | None) -> None:
        """The spawn of ``unit`` returned (``pid`` is its leader, None if it failed)."""

    def members(self, unit: str, leader: int | None) -> list[int]:
        """Every live process of ``unit`` (never the daemon itself)."""
        raise NotImplementedError

    def kill(self, unit: str, pids: Iterable[int]) -> None:
        """SIGKILL every process of ``unit`` (``pids`` are the members just listed)."""
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def release(self, unit: str) -> bool:
        """``unit`` has ended and its processes are gone: forget it.  False if some are still there."""
        return True

    def release_if_empty(self, unit: str) -> bool:
        """Release ``unit`` if that alone proves it has no process left (True); False: list its members first."""
        return False

    def close(self) -> None:
        """Daemon stop."""


# --------------------------------------------------------------------------- cgroup v2
def cgroup2_mount(mountinfo: str) -> tuple[str, set[str]] | None:
    """The cgroup v2 mount point in ``/proc/self/mountinfo`` text and its super options, or None."""
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = right.split(" ")
        if fields[0] == "cgroup2":
            return left.split(" ")[4], set(fields[2].split(",")) if len(fields) > 2 else set()
    return None


def _cgroup2_base() -> tuple[Path, str, set[str]] | None:
    """The daemon's own cgroup v2 directory, the hierarchy's mount point and its options; None without one."""
    try:
        with open("/proc/self/mountinfo") as f:
            found = cgroup2_mount(f.read())
        with open("/proc/self/cgroup") as f:
            own = next((ln.strip()[3:] for ln in f if ln.startswith("0::")), None)
    except OSError:
        return None
    if found is None or own is None:
        return None
    base = Path(found[0]) / own.lstrip("/")
    return (base, found[0], found[1]) if (base / "cgroup.procs").exists() else None


def _write(path: Path | str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class CgroupContainment(Containment):
    """One cgroup v2 per task under ``<base>/executive-<instance>``."""

    name = "cgroup"
    cheap = True  # members() reads one small file

    def __init__(
        self,
        base: Path,
        instance: str,
        mount: str,
        mount_options: set[str] | frozenset[str],
    ) -> None:
        """``base``: the daemon's own cgroup; ``mount``, ``mount_options``: its hierarchy's (:meth:`probe`)."""
        self.base = base
        self.mount = mount
        self.mount_options = mount_options
        self.parent = base / f"executive-{instance}"
        self._parent = str(self.parent)
        self._inside: str | None = None  # the unit whose cgroup the daemon is in (during a spawn)
        self._going_home = False  # a move back to the daemon's cgroup is scheduled
        self._me = str(os.getpid())

    @classmethod
    def probe(cls, instance: str) -> CgroupContainment:
        """Raise OSError unless this daemon can make a cgroup and move a process into it."""
        found = _cgroup2_base()
        if found is None:
            raise OSError(errno.ENOENT, "no cgroup v2 hierarchy mounted")
        self = cls(found[0], instance, found[1], found[2])
        probe = f"probe-{os.getpid()}"
        self._enter(probe)
        self._leave()
        os.rmdir(self.parent / probe)
        with contextlib.suppress(OSError):
            os.rmdir(self.parent)  # made again at the first spawn
        return self

    def describe(self) -> str:
        text = f"cgroup v2 per task under {self.parent}"
        if "favordynmods" not in self.mount_options:
            text += (
                "; the first task after a pause waits ~10 ms for the kernel to let the daemon change cgroups"
                " (an RCU grace period); the cgroup2 mount option favordynmods removes that wait"
                f" (`mount -o remount,favordynmods {self.mount}`, kernel 6.0+)"
            )
        return text

    def _dir(self, unit: str) -> str:
        # A unit is a task's marker, "<instance>:<task id>".  (A str: a Path costs more than the syscall it names.)
        return f"{self._parent}/{unit.rsplit(':', 1)[-1]}"

    def _enter(self, unit: str) -> None:
        d = self._dir(unit)
        try:
            os.mkdir(d)
        except FileNotFoundError:
            self.parent.mkdir(exist_ok=True)
            os.makedirs(d, exist_ok=True)
        except FileExistsError:
            pass
        _write(f"{d}/cgroup.procs", self._me)
        self._inside = unit

    def _leave(self) -> None:
        _write(self.base / "cgroup.procs", self._me)
        self._inside = None

    def before_spawn(self, unit: str) -> None:
        self._enter(unit)  # the child forked now is born in the task's cgroup

    def after_spawn(self, unit: str, pid: int | None) -> None:
        # Back home at the end of this loop turn, not at once: spawns in a burst then cost one
        # cgroup write each instead of two (a migration is the expensive part of a spawn here).
        if self._inside is not None and not self._going_home:
            self._going_home = True
            try:
                asyncio.get_running_loop().call_soon(self._home)
            except RuntimeError:  # no loop (a direct call): go now
                self._home()

    def _home(self) -> None:
        self._going_home = False
        if self._inside is not None:
            self._leave()

    def members(self, unit: str, leader: int | None) -> list[int]:
        # (May run in a worker thread: it never moves the daemon; the daemon's own pid is left out.)
        try:
            with open(f"{self._dir(unit)}/cgroup.procs") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        return sorted(int(p) for p in text.split() if p != self._me)

    def kill(self, unit: str, pids: Iterable[int]) -> None:
        if self._inside == unit:
            self._leave()  # never kill the cgroup the daemon is in
        try:
            _write(f"{self._dir(unit)}/cgroup.kill", "1")
        except FileNotFoundError:
            return
        except OSError:  # a kernel before 5.14 has no cgroup.kill: signal the members one by one
            super().kill(unit, pids)

    def release_if_empty(self, unit: str) -> bool:
        return self.release(unit)  # rmdir fails (EBUSY) while the cgroup has a member, even a zombie

    def release(self, unit: str) -> bool:
        try:
            os.rmdir(self._dir(unit))
        except FileNotFoundError:
            return True
        except OSError:  # EBUSY: members (or zombies not yet reaped) remain
            return False
        return True

    def close(self) -> None:
        """Daemon stop: back home, and remove the empty cgroups (a release that found members still exiting)."""
        if self._inside is not None:
            self._leave()
        with contextlib.suppress(OSError):
            for child in os.scandir(self.parent):
                if child.is_dir(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.rmdir(child.path)
            os.rmdir(self.parent)


# --------------------------------------------------------------------------- child subreaper
class SubreaperContainment(Containment):
    """The daemon as a child subreaper; a task's processes are found among the daemon's descendants."""

    name = "subreaper"

    def __init__(self) -> None:
        self._me = os.getpid()
        self._leaders: dict[str, int] = {}  # unit -> leader pid (while the unit is live)
        self._started: dict[str, float] = {}  # unit -> its leader's start time (clock ticks since boot)
        self._seen: dict[int, str] = {}  # pid -> unit it was found under
        self._has_children_file: bool | None = None
        self._spawning = 0  # spawns in flight: a new leader may not be registered yet
        self._sid = os.getsid(0)  # the daemon's session: a task's processes are never in it
        self._zombies: set[int] = set()  # exited children of ours outside the daemon's session, seen by stat()

    @classmethod
    def enable(cls) -> SubreaperContainment:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")
        return cls()

    def describe(self) -> str:
        how = "/proc children lists" if self._children_file() else "a /proc parent map (no children file)"
        return f"child subreaper (PR_SET_CHILD_SUBREAPER): a task's processes are the daemon's descendants, via {how}"

    # --- the OS reads (a test fakes these) ---
    def _children_file(self) -> bool:
        if self._has_children_file is None:
            self._has_children_file = os.path.exists(f"/proc/{self._me}/task/{self._me}/children")
        return self._has_children_file

    def children(self, pid: int) -> list[int]:
        """Direct children of ``pid``."""
        out: list[int] = []
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out.extend(int(p) for p in f.read().split())
        except OSError:
            return out
        return out

    def descendants_of_daemon(self) -> list[int]:
        """Every descendant of the daemon (breadth first)."""
        if self._children_file():
            found: list[int] = []
            todo = [self._me]
            while todo:
                kids = self.children(todo.pop())
                found.extend(kids)
                todo.extend(kids)
            return found
        parents: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (st := self.stat(int(name))) is not None:
                parents.setdefault(st[0], []).append(int(name))
        found, todo = [], [self._me]
        while todo:
            kids = parents.get(todo.pop(), [])
            found.extend(kids)
            todo.extend(kids)
        return found

    def stat(self, pid: int) -> tuple[int, int, int, float] | None:
        """(ppid, pgid, sid, start time) of ``pid``, None if it is gone or a zombie."""
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            return None
        fields = raw[raw.rfind(b")") + 2 :].split()
        if fields[0] == b"Z":
            if int(fields[1]) == self._me and int(fields[3]) != self._sid:
                self._zombies.add(pid)
            return None
        return int(fields[1]), int(fields[2]), int(fields[3]), float(fields[19])

    def marker(self, pid: int) -> str | None:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            return None
        for item in env.split(b"\0"):
            if item.startswith(MARKER_ENV.encode() + b"="):
                return item.split(b"=", 1)[1].decode(errors="replace")
        return None

    def reap(self, pid: int) -> None:
        """Collect an exited orphan (never a leader: the event loop waits for those)."""
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)

    # --- the containment ---
    def before_spawn(self, unit: str) -> None:
        self._spawning += 1

    def after_spawn(self, unit: str, pid: int | None) -> None:
        if pid is not None:
            self._leaders[unit] = pid  # registered before the spawn counts as done (see _reapable)
            st = self.stat(pid)
            self._started[unit] = st[3] if st is not None else 0.0
        self._spawning -= 1

    def _owner(self, pid: int, info: tuple[int, int, int, float], parent_unit: str | None) -> str | None:
        if parent_unit is not None:
            return parent_unit
        if pid in self._seen:
            return self._seen[pid]
        _ppid, pgid, sid, start = info
        if sid == self._sid:
            return None  # the daemon's own helpers (git and the like), never a task's
        for unit, leader in list(self._leaders.items()):  # (snapshots: this may run in a worker thread)
            if pgid == leader or sid == leader:
                return unit
        mark = self.marker(pid)
        if mark is not None and mark in self._leaders:
            return mark
        candidates = [u for u, t in list(self._started.items()) if t <= start]
        return candidates[0] if len(candidates) == 1 else None

    def _walk(self) -> dict[int, str | None]:
        """Each descendant of the daemon -> the unit it belongs to (None: not known yet)."""
        owner: dict[int, str | None] = {}
        by_leader = {leader: unit for unit, leader in list(self._leaders.items())}
        for pid in self.descendants_of_daemon():
            info = self.stat(pid)
            if info is None:
                continue
            if pid in by_leader:
                owner[pid] = by_leader[pid]
                continue
            inherited = owner.get(info[0]) if info[0] != self._me else None
            unit = self._owner(pid, info, inherited)
            owner[pid] = unit
            if unit is not None:
                self._seen[pid] = unit
        return owner

    def members(self, unit: str, leader: int | None) -> list[int]:
        owner = self._walk()
        # Orphans that have exited are collected (never a leader: the event loop waits for those).
        zombies, self._zombies = self._zombies, set()
        if not self._spawning:
            for pid in zombies - set(list(self._leaders.values())):
                self.reap(pid)
        return sorted(p for p, u in owner.items() if u == unit)

    def release(self, unit: str) -> bool:
        self._leaders.pop(unit, None)
        self._started.pop(unit, None)
        for pid in [p for p, u in list(self._seen.items()) if u == unit]:
            self._seen.pop(pid, None)
        return True


def detect(instance: str, force: str | None = None) -> Containment:
    """The best containment this daemon can have (``force``, or ``$EXECUTIVE_CONTAINMENT``, picks one)."""
    want = force or os.environ.get(FORCE_ENV) or "auto"
    if want not in ("auto", "cgroup", "subreaper"):
        raise ValueError(f"{FORCE_ENV} must be cgroup or subreaper, got {want!r}")
    if want in ("auto", "cgroup"):
        try:
            return CgroupContainment.probe(instance)
        except OSError as exc:
            if want == "cgroup":
                raise
            log.info("containment_no_cgroup", reason=str(exc))
    return SubreaperContainment.enable()
