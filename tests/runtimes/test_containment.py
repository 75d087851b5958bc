"""Every process of a task is found and killed, whatever it does to its environment and session.

``sh -c '(env -i setsid sleep N &); sleep M'``: the grandchild leaves the process group and the
session, loses the marker variable, and is re-parented when its parent exits.  Cancelling the
task must kill it, through a cgroup per task where the host allows one, and through the daemon
as a child subreaper otherwise (forced here with ``EXECUTIVE_CONTAINMENT``).  Finding a task's
strays must not look at the host's other processes.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import psutil
import pytest

from executive.runtimes import containment as C
from executive.service.executive import Executive


def _cgroup_possible() -> bool:
    try:
        C.CgroupContainment.probe(f"probe{os.getpid()}")
        return True
    except OSError:
        return False


CGROUP = pytest.param("cgroup", marks=pytest.mark.skipif(not _cgroup_possible(), reason="no writable cgroup v2"))


def _alive(argv: list[str]) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["cmdline"] == argv and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p.pid)
    return found


async def _until(pred: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("mode", [CGROUP, "subreaper"])
async def test_cancel_kills_a_double_forked_env_scrubbed_setsid_grandchild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv(C.FORCE_ENV, mode)
    tag = f"3033.{random.randrange(10**6)}"
    stray = ["sleep", tag]
    ex = await Executive.open(tmp_path / "home")
    try:
        assert ex.containment.startswith("cgroup" if mode == "cgroup" else "child subreaper")
        row = await ex.task_run(["sh", "-c", f"(env -i setsid sleep {tag} &); sleep 3034"])
        await _until(lambda: _alive(stray))
        [pid] = _alive(stray)
        assert row["pid"] is not None and os.getsid(pid) != os.getsid(row["pid"])  # it really left the task's session
        ex.task_cancel(row["id"])
        done = await ex.task_wait(row["id"], timeout=20)
        assert done["end_reason"] == "cancelled"
        await _until(lambda: not _alive(stray))
    finally:
        await ex.aclose()
    assert not _alive(stray)
    if mode == "cgroup":  # the task's cgroup and the daemon's are removed once empty
        assert not ex.processes.containment.parent.exists()  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", [CGROUP, "subreaper"])
async def test_a_task_that_exits_leaves_no_stray_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv(C.FORCE_ENV, mode)
    tag = f"3035.{random.randrange(10**6)}"
    ex = await Executive.open(tmp_path / "home")
    try:
        row = await ex.task_run(["sh", "-c", f"(env -i setsid sleep {tag} > /dev/null 2>&1 &); exit 0"])
        done = await ex.task_wait(row["id"], timeout=20)
        assert done["exit_code"] == 0
        await _until(lambda: not _alive(["sleep", tag]))  # the stray reap after the end found it
    finally:
        await ex.aclose()


@pytest.mark.skipif(not _cgroup_possible(), reason="no writable cgroup v2")
async def test_cgroup_strays_are_found_without_reading_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a cgroup per task, neither psutil's process list nor /proc's directory is read."""
    monkeypatch.setenv(C.FORCE_ENV, "cgroup")
    tag = f"3036.{random.randrange(10**6)}"
    ex = await Executive.open(tmp_path / "home")
    real_listdir = os.listdir

    def no_proc_listing(path: Any = ".") -> list[str]:
        if str(path) == "/proc":
            raise AssertionError("the daemon listed /proc: a host scan")
        return real_listdir(path)

    def no_process_iter(*a: Any, **kw: Any) -> Any:
        raise AssertionError("the daemon iterated the host's processes")

    try:
        row = await ex.task_run(["sh", "-c", f"(env -i setsid sleep {tag} > /dev/null 2>&1 &); sleep 3037"])
        await _until(lambda: _alive(["sleep", tag]))
        monkeypatch.setattr(os, "listdir", no_proc_listing)
        monkeypatch.setattr(psutil, "process_iter", no_process_iter)
        ex.task_cancel(row["id"])
        assert (await ex.task_wait(row["id"], timeout=20))["end_reason"] == "cancelled"
        monkeypatch.undo()
        await _until(lambda: not _alive(["sleep", tag]))
    finally:
        monkeypatch.undo()
        await ex.aclose()


class _FakeHost(C.SubreaperContainment):
    """A host of 5,000 processes of which the daemon (pid 100) has a few descendants; counts the reads."""

    def __init__(self) -> None:
        super().__init__()
        self._me, self._sid, self._has_children_file = 100, 100, True
        # pid -> (ppid, pgid, sid, start, environ marker)
        self.table: dict[int, tuple[int, int, int, float, str | None]] = {
            pid: (1, pid, pid, 10.0, None) for pid in range(1000, 6000)
        }
        self.table.update(
            {
                200: (100, 200, 200, 50.0, "i:7"),  # task 7's leader (sh)
                201: (200, 200, 200, 51.0, "i:7"),  # its child, still in its group
                202: (100, 202, 202, 52.0, None),  # double-forked, setsid, env -i: re-parented to the daemon
                300: (100, 300, 300, 40.0, "i:8"),  # task 8's leader, started earlier
                150: (100, 100, 100, 5.0, None),  # a helper the daemon runs for itself (its own session)
            }
        )
        self.asked: set[int] = set()

    def children(self, pid: int) -> list[int]:
        self.asked.add(pid)
        return [p for p, row in self.table.items() if row[0] == pid]

    def stat(self, pid: int) -> tuple[int, int, int, float] | None:
        self.asked.add(pid)
        row = self.table.get(pid)
        return None if row is None else row[:4]

    def marker(self, pid: int) -> str | None:
        self.asked.add(pid)
        return self.table[pid][4]

    def reap(self, pid: int) -> None:
        raise AssertionError("nothing here has exited")


def test_subreaper_reads_only_the_daemons_descendants_and_attributes_orphans() -> None:
    host = _FakeHost()
    host.before_spawn("i:8")
    host.after_spawn("i:8", 300)
    # While tasks 8 and 7 both run, the scrubbed orphan 202 could be either's: it is nobody's yet.
    host.before_spawn("i:7")
    host.after_spawn("i:7", 200)
    host._seen.clear()
    assert host.members("i:7", 200) == [200, 201]
    assert host.members("i:8", 300) == [300]
    assert host.asked <= {100, 150, 200, 201, 202, 300}  # not one of the host's 5,000 processes
    # Task 8 ends: 202 started after task 7's leader, which is now the only candidate.
    host.release("i:8")
    del host.table[300]
    assert host.members("i:7", 200) == [200, 201, 202]
    assert 150 not in host.members("i:7", 200)  # the daemon's own helper is never a task's
    assert host.asked <= {100, 150, 200, 201, 202, 300}


MOUNTINFO = (
    "22 1 0:21 / / rw,relatime - ext4 /dev/root rw\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 {options}\n"
)


def test_the_cgroup2_mount_and_its_options_are_read_from_mountinfo() -> None:
    assert C.cgroup2_mount(MOUNTINFO.format(options="rw,nsdelegate")) == (
        "/sys/fs/cgroup/unified",
        {"rw", "nsdelegate"},
    )
    assert C.cgroup2_mount("22 1 0:21 / / rw,relatime - ext4 /dev/root rw\n") is None


def test_the_containment_line_says_how_to_lift_the_kernels_wait_where_it_applies(tmp_path: Path) -> None:
    """Without favordynmods, moving into a cgroup after a pause waits for an RCU grace period (measured ~10 ms)."""
    slow = C.CgroupContainment(tmp_path, "i", "/sys/fs/cgroup/unified", {"rw"}).describe()
    assert slow.startswith(f"cgroup v2 per task under {tmp_path}/executive-i;")
    assert "`mount -o remount,favordynmods /sys/fs/cgroup/unified`" in slow
    assert C.CgroupContainment(tmp_path, "i", "/sys/fs/cgroup", {"rw", "favordynmods"}).describe() == (
        f"cgroup v2 per task under {tmp_path}/executive-i"
    )
