"""The node side of a remote task: one detached Ray actor per task, standard library only.

Why an actor per task: its lifetime *is* the task's (Ray places it by the
task's resources, its death is the node's or the task's, and its name —
``executive:<instance>:<task>`` — lets a restarted daemon find it again).
The class is shipped to the node by value (see ``ray_runtime.py``), so a node
needs Python and the same Ray, not executive.

Theory of operation
-------------------
``start`` spawns the argv in a new session (so it leads its own process
group) with ``EXECUTIVE_TASK=<marker>`` in its environment, like a local
task.  One thread per stream reads the pipe into a buffer that starts at the
last byte the daemon *acknowledged* (the bytes it has on disk).  The buffer
is the flow-control window: a reader thread stops reading while ``window``
bytes wait unacknowledged, so the producer blocks on its full pipe and a
node never buffers more than ``2 * window`` bytes for a task.

The daemon calls ``pull(want, ack, max_bytes, wait_s)``: ``ack`` frees the
bytes before it, ``want`` is where the daemon's log ends; the answer holds the
bytes from ``want`` on (at most ``max_bytes`` a stream), the EOF flags and the
exit status.  Because nothing after the last ack is dropped, a daemon that
restarts re-attaches and asks again from its log's size: no gap, no
duplicate.

Control reaches the whole tree — the leader, its descendants, its group and
every process carrying the marker (setsid strays) — found by scanning
``/proc``.  Cancel is SIGTERM+SIGCONT, a grace period, then SIGKILL, done here
so it completes even if the daemon goes away.  After the leader exits, strays
still holding the pipes get ``linger_s`` seconds, then are killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from typing import Any

__all__ = ["RemoteTask"]

MARKER_ENV = "EXECUTIVE_TASK"  # same variable as runtimes/process_os.py (kept literal: this module ships alone)
STREAMS = ("stdout", "stderr")
READ_BYTES = 256 * 1024


def _proc_table() -> list[tuple[int, int, int]]:
    """(pid, ppid, pgrp) of every process visible in /proc."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2 :].split()
        if len(rest) < 3 or rest[0] == b"Z":
            continue
        out.append((int(name), int(rest[1]), int(rest[2])))
    return out


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def process_tree(leader: int | None, marker: str) -> list[int]:
    """All live processes of a task: leader, descendants, its group, and marked strays."""
    table = _proc_table()
    me = os.getpid()
    pids: set[int] = set()
    if leader is not None:
        children: dict[int, list[int]] = {}
        for pid, ppid, _ in table:
            children.setdefault(ppid, []).append(pid)
        if any(pid == leader for pid, _, _ in table):
            stack = [leader]
            while stack:
                p = stack.pop()
                if p not in pids:
                    pids.add(p)
                    stack.extend(children.get(p, ()))
        pids.update(pid for pid, _, pgrp in table if pgrp == leader)
    tag = f"{MARKER_ENV}={marker}".encode()
    pids.update(pid for pid, _, _ in table if pid not in pids and pid != me and _has_marker(pid, tag))
    pids.discard(me)
    return sorted(pids)


def _signal_all(pids: list[int], sig: int) -> int:
    sent = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            sent += 1
        except (ProcessLookupError, PermissionError):
            continue
    return sent


class _Stream:
    """One pipe's unacknowledged bytes: ``buf`` holds the bytes from offset ``base`` on."""

    __slots__ = ("base", "buf", "eof")

    def __init__(self, base: int) -> None:
        self.base = base
        self.buf = bytearray()
        self.eof = False

    @property
    def end(self) -> int:
        return self.base + len(self.buf)


class RemoteTask:
    """Runs one task's process tree on this node and serves its output by offset (a threaded Ray actor)."""

    def __init__(
        self,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        *,
        stdin: bool,
        marker: str,
        window: int,
        linger_s: float,
        start_offsets: dict[str, int] | None = None,
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = dict(env)
        self.env[MARKER_ENV] = marker
        self.stdin = stdin
        self.marker = marker
        self.window = window
        self.linger_s = linger_s
        offsets = start_offsets or {}
        self.streams = {s: _Stream(offsets.get(s, 0)) for s in STREAMS}
        self.cond = threading.Condition()
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.stopping = False
        self.stdin_lock = threading.Lock()

    # ------------------------------------------------------------------ start
    def start(self) -> dict[str, Any]:
        """Spawn the process; returns ``{pid, node_id, host}`` or ``{error, errno}`` (the OS refused)."""
        import ray  # present wherever this actor runs

        node_id = ray.get_runtime_context().get_node_id()
        with self.cond:
            if self.proc is not None:
                return {"pid": self.proc.pid, "node_id": node_id, "host": socket.gethostname()}
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    close_fds=True,
                    bufsize=0,
                )
            except OSError as exc:
                why = f"could not start {self.argv[0]!r} on the node: {exc.strerror or exc}"
                return {"error": why, "errno": exc.errno}
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            threading.Thread(target=self._read, args=(name, pipe.fileno()), daemon=True).start()
        threading.Thread(target=self._wait_exit, daemon=True).start()
        return {"pid": self.proc.pid, "node_id": node_id, "host": socket.gethostname()}

    def _read(self, name: str, fd: int) -> None:
        st = self.streams[name]
        while True:
            with self.cond:
                while len(st.buf) >= self.window:  # flow control: wait for the daemon's ack
                    self.cond.wait()
            try:
                data = os.read(fd, READ_BYTES)
            except OSError:
                data = b""
            with self.cond:
                if data:
                    st.buf += data
                else:
                    st.eof = True
                self.cond.notify_all()
            if not data:
                os.close(fd)
                return

    def _wait_exit(self) -> None:
        assert self.proc is not None
        rc = self.proc.wait()
        with self.cond:
            self.returncode = rc
            self.cond.notify_all()
        deadline = time.monotonic() + self.linger_s
        with self.cond:
            while not all(s.eof for s in self.streams.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            pipes_open = not all(s.eof for s in self.streams.values())
        if pipes_open:  # descendants still hold the pipes: the task owns its tree, end it
            self._kill_tree()

    # ----------------------------------------------------------------- output
    def pull(self, want: dict[str, int], ack: dict[str, int], max_bytes: int, wait_s: float) -> dict[str, Any]:
        """Free the bytes before ``ack``; return the bytes from ``want`` on, EOFs and the exit status."""
        with self.cond:
            for name, st in self.streams.items():
                a = min(ack.get(name, st.base), st.end)
                if a > st.base:
                    del st.buf[: a - st.base]
                    st.base = a
            self.cond.notify_all()
            deadline = time.monotonic() + wait_s
            while True:
                ready = any(st.end > want.get(n, st.base) for n, st in self.streams.items())
                done = self.returncode is not None and all(st.eof for st in self.streams.values())
                left = deadline - time.monotonic()
                if ready or done or left <= 0:
                    break
                self.cond.wait(left)
            data: dict[str, bytes] = {}
            for name, st in self.streams.items():
                w = want.get(name, st.base)
                if w < st.base:
                    raise ValueError(f"{name}: bytes before offset {st.base} were acknowledged and freed; asked {w}")
                if st.end > w:
                    data[name] = bytes(st.buf[w - st.base : w - st.base + max_bytes])
            return {
                "data": data,
                "eof": {n: st.eof for n, st in self.streams.items()},
                "ends": {n: st.end for n, st in self.streams.items()},
                "returncode": self.returncode,
            }

    # ---------------------------------------------------------------- control
    def tree(self) -> list[int]:
        return process_tree(self.proc.pid if self.proc is not None else None, self.marker)

    def pause(self) -> int:
        return _signal_all(self.tree(), signal.SIGSTOP)

    def resume(self) -> int:
        return _signal_all(self.tree(), signal.SIGCONT)

    def terminate(self, grace: float) -> None:
        """SIGTERM (+SIGCONT) the tree, then SIGKILL what is left after ``grace`` seconds (returns at once)."""
        with self.cond:
            if self.stopping:
                return
            self.stopping = True
        pids = self.tree()
        _signal_all(pids, signal.SIGTERM)
        _signal_all(pids, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued

        def later() -> None:
            with self.cond:
                self.cond.wait_for(lambda: self.returncode is not None, grace)
            self._kill_tree()

        threading.Thread(target=later, daemon=True).start()

    def kill(self) -> None:
        self._kill_tree()

    def _kill_tree(self) -> None:
        for _ in range(100):
            pids = self.tree()
            if not pids:
                return
            _signal_all(pids, signal.SIGKILL)
            time.sleep(0.02)

    def write_stdin(self, data: bytes, eof: bool) -> int:
        """Write to the task's stdin (blocks while the pipe is full); raises if it has none or it is closed."""
        if self.proc is None or self.proc.stdin is None:
            raise ValueError("the task has no stdin; start it with stdin=true to write to it")
        with self.stdin_lock:
            if self.proc.stdin.closed:
                raise ValueError("the task's stdin is closed")
            try:
                if data:
                    self.proc.stdin.write(data)
                if eof:
                    self.proc.stdin.close()
            except BrokenPipeError as exc:
                raise ValueError("the task closed its stdin") from exc
        return len(data)

    def info(self) -> dict[str, Any]:
        return {
            "pid": self.proc.pid if self.proc is not None else None,
            "returncode": self.returncode,
            "ends": {n: st.end for n, st in self.streams.items()},
        }

    def reap(self) -> int:
        """The task ended: SIGTERM, then SIGKILL, whatever still carries its marker (then the actor is killed)."""
        pids = self.tree()
        if pids:
            _signal_all(pids, signal.SIGTERM)
            _signal_all(pids, signal.SIGCONT)
            time.sleep(0.2)
            self._kill_tree()
        return len(pids)
