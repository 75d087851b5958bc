"""`executive run [OPTIONS] -- CMD` on the quick path: the standard library and the small blocking client.

``executive run CMD | consumer`` is a pipe stage: the 0.2 s the typer app takes to load
(typer, rich, asyncio, websockets) is paid before the task starts, on every run.  This
module runs the common form with what the quick commands use (api/sync_client.py,
cli/quick_logs.py): output arrives as binary frames and its bytes go to stdout/stderr
as they came, gaps are re-read by offset, and the exit code is the task's.  With the
daemon on this machine the output is copied from the task's log files instead
(cli/local_logs.py) and only state events come over the connection.

It takes only ``--name/-n``, ``--cwd``, ``--env/-e``, ``--timeout``, ``--idle-timeout``,
``--quota`` and ``--detach/-d``, written as ``--opt VALUE``, ``--opt=VALUE`` or ``-n VALUE``.
Anything else (``--stdin``, a restart policy, a placement, ``--help``, a value it cannot
read), or a daemon that serves wss:// (the blocking client speaks no TLS), returns None
from :func:`main` and the typer command (cli/tasks.py ``run``) handles the whole command
line, with its own messages: the two accept the same syntax and behave the same, so this
is a faster road to the same place, not a second command.

Ctrl-C cancels the task (a second one kills it), as in cli/tasks.py; the signal only
wakes the wait (a wakeup descriptor), the request is sent from the loop.  If our own
stdout or stderr goes away (``| head``), the task is cancelled: nothing reads its output
any more.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from executive.cli import exit_codes

__all__ = ["main", "parse"]

_VALUED = {
    "--name": "name",
    "-n": "name",
    "--cwd": "cwd",
    "--env": "env",
    "-e": "env",
    "--timeout": "timeout",
    "--idle-timeout": "idle_timeout",
    "--quota": "quota",
}
_FLAGS = {"--detach": "detach", "-d": "detach"}


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The options and command of ``run``'s arguments, or None when the typer command must handle them.

    Like the typer command (``allow_interspersed_args`` off), options come first and the
    command starts at ``--`` or at the first argument that is not an option.
    """
    opts: dict[str, Any] = {"env": [], "detach": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS and not eq:
            opts[_FLAGS[name]] = True
            i += 1
            continue
        key = _VALUED.get(name)
        if key is None:
            return None  # --stdin, --restart, --help, -nNAME, ...: the typer command's
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        i += 1
        if key == "env":
            opts["env"].append(value)
        else:
            opts[key] = value
    cmd = argv[i:]
    if not cmd:
        return None
    try:
        return _checked(opts, cmd)
    except ValueError:
        return None  # a value the typer command reports in its own words


def _checked(opts: dict[str, Any], cmd: list[str]) -> dict[str, Any]:
    from executive.cli._quota_text import parse_size

    params: dict[str, Any] = {"argv": cmd, "cwd": os.path.abspath(opts.get("cwd") or os.getcwd()), "stdin": False}
    if "name" in opts:
        params["name"] = opts["name"]
    for key in ("timeout", "idle_timeout"):
        if key in opts:
            params[key] = float(opts[key])
    if "quota" in opts:
        params["quota"] = parse_size(opts["quota"])
    env: dict[str, str] = {}
    for item in opts["env"]:
        if "=" not in item or item.startswith("="):
            raise ValueError(item)
        k, v = item.split("=", 1)
        env[k] = v
    if env:
        params["env"] = env
    return {"params": params, "detach": opts["detach"]}


def main(argv: list[str], *, home: str | None = None) -> int | None:
    """Run ``executive run ARGV``; its exit code, or None when the typer command must run it instead."""
    parsed = parse(argv)
    if parsed is None:
        return None
    url = _daemon_url(home)
    if url is not None and not url.startswith("ws://"):
        return None  # the blocking client speaks no TLS: wss:// is the typer command's
    from executive.cli.local_logs import local_logs_allowed
    from executive.cli.quick import QuickError, home_dir, say_error, with_client

    logs = home_dir(home) / "tasks" if url is not None and local_logs_allowed(url) else None
    try:
        return with_client(home, lambda client: _run(client, parsed["params"], parsed["detach"], logs))
    except QuickError as exc:
        say_error(exc.message)
        return exc.code
    except KeyboardInterrupt:  # before the task was followed (Ctrl-C is handled while following)
        return exit_codes.TASK_CANCELLED


def _daemon_url(home: str | None) -> str | None:
    """The address in the daemon file of ``home``; None when no daemon runs (with_client says so, in its words)."""
    from executive.api.daemon_file import DaemonNotRunning, read_daemon_file
    from executive.cli.quick import home_dir

    try:
        info = read_daemon_file(home_dir(home))
    except DaemonNotRunning:
        return None
    return str(info.get("url", ""))


class _Interrupts:
    """SIGINT while following: counted, and a byte on a pipe that wakes the wait for events."""

    def __init__(self) -> None:
        self.count = 0
        self.acted = 0
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self._old_wakeup = signal.set_wakeup_fd(self.write_fd)
        self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.count += 1

    def drain(self) -> None:
        os.set_blocking(self.read_fd, False)
        try:
            while os.read(self.read_fd, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        signal.signal(signal.SIGINT, self._old_handler)
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.read_fd)
        os.close(self.write_fd)


def _run(client: Any, params: dict[str, Any], detach: bool, logs: Path | None) -> int:
    """Start the task, write its output as it comes, return its exit code.

    ``logs``: the daemon's task directory when it is on this machine (cli/local_logs.py): the
    output is then copied from the log files and only state events come over the connection.
    """
    from executive.cli._output import write_out
    from executive.cli._quota_text import print_notice
    from executive.cli.quick_logs import SyncFollower, subscribe_output

    cursor = client.call("daemon.health")["last_seq"]  # before task.run: its first events are replayed
    tid = client.call("task.run", **params)["id"]
    if detach:
        sys.stdout.write(f"{tid}\n")
        return exit_codes.OK
    follower = SyncFollower(client, lambda _t, stream, data: write_out(stream, data))
    follower.next[(tid, "stdout")] = follower.next[(tid, "stderr")] = 0
    local = _local_logs(logs, tid)
    if local is None:
        follower.read.binary = subscribe_output(
            client, tasks=[tid], types=["output", "task_state", "quota"], since_seq=cursor
        )
    else:
        client.call("events.subscribe", tasks=[tid], types=["task_state", "quota"], since_seq=cursor)
    interrupts = _Interrupts()
    try:
        if local is not None:
            end = _follow_local(client, local, follower, tid, interrupts, print_notice)
        else:
            end = _follow(client, follower, tid, interrupts, print_notice)
    except BrokenPipeError:  # our reader went away (`| head`): nothing takes the task's output any more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _send(client, "task.cancel", tid)
        return exit_codes.TASK_CANCELLED
    finally:
        interrupts.close()
        if local is not None:
            local.close()
    if end.get("reason") != "exited":
        detail = end.get("detail") or ""
        sys.stderr.write(f"[executive] task {tid} {end.get('reason')}{': ' + detail if detail else ''}\n")
    return exit_codes.for_task_end(end)


def _local_logs(logs: Path | None, tid: int) -> Any:
    """A :class:`LocalLogs` for the task's log files, or None to take output over the connection."""
    if logs is None:
        return None
    from executive.cli.local_logs import LocalLogs

    try:
        return LocalLogs(logs / str(tid))
    except OSError:  # no inotify (its limits reached, a seccomp profile): the connection works everywhere
        return None


def _on_interrupts(client: Any, tid: int, interrupts: _Interrupts) -> None:
    """Ctrl-C cancels the task, a second one kills it."""
    if interrupts.count > interrupts.acted:
        interrupts.drain()
        interrupts.acted = interrupts.count
        first = interrupts.acted == 1
        sys.stderr.write(f"\n[executive] {'cancelling' if first else 'killing'} task {tid}…\n")
        sys.stderr.flush()
        _send(client, "task.cancel" if first else "task.kill", tid)


def _follow(client: Any, follower: Any, tid: int, interrupts: _Interrupts, on_quota: Any) -> dict[str, Any]:
    """Write the task's output from its output events until it ends; returns its ended event's data."""
    while True:
        ev = follower.next_event(interrupts.read_fd)
        _on_interrupts(client, tid, interrupts)
        if ev is None:
            continue
        if ev["type"] == "output" and ev["pid"] == tid:
            follower.on_output(tid, ev["data"])
        elif ev["type"] == "quota" and ev["pid"] == tid:
            on_quota(tid, ev["data"])
        elif ev["type"] == "task_state" and ev["pid"] == tid and ev["data"].get("to") == "ended":
            follower.catch_up(tid)
            return dict(ev["data"])


def _follow_local(
    client: Any, local: Any, follower: Any, tid: int, interrupts: _Interrupts, on_quota: Any
) -> dict[str, Any]:
    """Copy the task's logs as they grow until it ends (its logs are complete by then); returns its ended event's data.

    If a log cannot be read here after all, its output events are subscribed to from now on
    and the follower over the connection goes on from the offsets reached (a gap is re-read).
    """
    local.pump()
    while local.failed is None:
        ev = client.next_event(None, (interrupts.read_fd, local.fileno()))
        _on_interrupts(client, tid, interrupts)
        local.pump()
        if ev is None:
            continue
        if ev["type"] == "quota" and ev["pid"] == tid:
            on_quota(tid, ev["data"])
        elif ev["type"] == "task_state" and ev["pid"] == tid and ev["data"].get("to") == "ended":
            end = dict(ev["data"])
            local.stop_watching()
            local.pump()  # the logs are complete once the task is reported ended
            if local.failed is not None or any(local.next[s] < int(end.get(f"{s}_bytes") or 0) for s in local.next):
                _take_over(follower, local, tid)  # what this machine did not show us (another mount?) comes over
                follower.catch_up(tid)
            return end
    _take_over(follower, local, tid)
    from executive.cli.quick_logs import subscribe_output

    follower.read.binary = subscribe_output(client, tasks=[tid], types=["output"])
    follower.catch_up(tid)
    return _follow(client, follower, tid, interrupts, on_quota)


def _take_over(follower: Any, local: Any, tid: int) -> None:
    for stream, at in local.next.items():
        follower.next[(tid, stream)] = at


def _send(client: Any, method: str, tid: int) -> None:
    """Cancel or kill the task; a task that has already ended is not this command's error, any other refusal
    is said on stderr (a lost connection goes up to :func:`with_client`, which says so)."""
    from executive.api.rpc_errors import RpcError
    from executive.kernel.errors import ErrorCode

    try:
        client.call(method, task=tid)
    except RpcError as exc:
        if exc.code != ErrorCode.INVALID_TRANSITION:
            sys.stderr.write(f"[executive] could not {method.split('.')[-1]} task {tid}: {exc.message}\n")
            sys.stderr.flush()
