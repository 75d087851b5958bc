"""The `executive debug` prompt as a user drives it: gdb-style commands (fed through a pipe),
and line editing, history, completion and Ctrl-C on a real terminal (a pty)."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from executive.api.client import Client

from .conftest import RECURSE

GDB_SCRIPT = """\
break rec_base
continue
info breakpoints
i r
bt
p R1
p SP
p *R15
x/2x R15
x/4xb SP
finish
step

p rec_base
p nosuch
info nonsense
x/0x 0
quit
"""


async def test_gdb_style_commands(daemon: Any, client: Client, e2e: Any, program: Callable[..., Path]) -> None:
    pid = (await client.call("vm.load", path=str(program(RECURSE, "rec")), paused=True))["pid"]
    r = await e2e.run_cli(daemon.home, "debug", str(pid), input=GDB_SCRIPT.encode())
    assert r.rc == 0, r.err
    out = r.out
    assert "(dbg) info breakpoints\n● 0x004C rec_base  hits 1" in out
    assert re.search(r"\(dbg\) i r\n R0 +0x00000000", out) and re.search(r"depth +5", out)
    assert out.count("rec+0x28") >= 4 and "main+0x10" in out  # bt
    assert "R1 = 0 (0x00000000)" in out and "SP = 65468 (0x0000FFBC)" in out
    assert "*R15 = 0 (0x00000000)  4 bytes at 0xFFBC" in out  # rec(0) saved R12 (0) at the SP
    assert "0xFFBC:  0x00000000  0x0000ffcc" in out  # x/2x: the saved R12, then rec(1)'s FP
    assert "0xFFBC:  0x00  0x00  0x00  0x00" in out  # x/4xb
    # finish: rec(0) returns 0 into rec(1) right after its CALL
    assert "returned; R0 = 0 (0x00000000)\n■  0x0040  rec+0x28" in out
    # step, then Enter on an empty line steps again
    assert "(dbg) step\nchanged: R1\n■  0x0044  rec+0x2c" in out
    assert "(dbg) \nchanged: R0 PSW\n■  0x0048  rec+0x30" in out
    assert "rec_base = 0x004C rec_base  (code)" in out
    assert "no symbol named 'nosuch'" in out and "info 'nonsense'? one of registers" in out
    assert "count must be 1..1024" in out
    assert out.rstrip().endswith(f"detached from task {pid} (left paused)")


async def test_trace_export_of_an_untraced_task_fails_and_writes_nothing(
    daemon: Any, client: Client, e2e: Any, program: Callable[..., Path], tmp_path: Path
) -> None:
    await client.call("events.subscribe", types=["task_state"])
    pid = (await client.call("vm.load", path=str(program(RECURSE, "rec"))))["pid"]
    await e2e.until_ended(client, pid)
    out = tmp_path / "t.json"
    r = await e2e.run_cli(daemon.home, "trace", "export", str(pid), "-o", str(out))
    assert r.rc == 1 and f"task {pid} has no trace records" in r.err and not out.exists()
    r = await e2e.run_cli(daemon.home, "trace", "set", str(pid), "on")
    assert r.rc == 1 and "has ended, so tracing it now records nothing" in r.err
    assert (await client.call("debug.state", task=pid))["tracing"] is False  # refused: nothing changed


# -- a real terminal ----------------------------------------------------------------------------

SPIN = """
.entry main
.export main
main:
    LDI R1, 0
    LDI R2, 1
spin_loop:
    ADD R1, R1, R2
    JMP spin_loop
"""

EXECUTIVE_BIN = str(Path(sys.executable).with_name("executive"))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


class Terminal:
    """`executive ARGS` on a pty: keys in, screen text (escape sequences stripped) out."""

    def __init__(self, home: Path, *args: str) -> None:
        env = dict(os.environ, EXECUTIVE_HOME=str(home), NO_COLOR="1", TERM="xterm", COLUMNS="160",
                   LINES="50", PROMPT_TOOLKIT_NO_CPR="1")  # fmt: skip
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child: the CLI, with the pty as its controlling terminal
            os.execve(EXECUTIVE_BIN, [EXECUTIVE_BIN, *args], env)
        os.set_blocking(self.fd, False)  # reads never hold up the daemon serving in this event loop
        self.raw = ""

    def _read(self) -> None:
        try:
            self.raw += os.read(self.fd, 65536).decode(errors="replace")
        except OSError:  # nothing to read yet (or the child has gone)
            pass

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw)

    async def expect(self, needle: str, after: int = 0, timeout: float = 30.0) -> int:
        """Wait until ``needle`` shows at or after text offset ``after``; returns the offset after it."""
        deadline = time.monotonic() + timeout
        while True:
            at = self.text.find(needle, after)
            if at >= 0:
                return at + len(needle)
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not on screen; screen:\n{self.text[after:]}")
            await asyncio.to_thread(self._wait_readable)
            self._read()

    def _wait_readable(self) -> None:
        select.select([self.fd], [], [], 0.2)

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    async def wait_exit(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read()
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._read()
                return os.waitstatus_to_exitcode(status)
            await asyncio.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"CLI did not exit; screen:\n{self.text}")

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


async def _state(client: Client, pid: int) -> str:
    return str((await client.call("debug.state", task=pid))["state"])


async def test_terminal_editing_history_completion_and_ctrl_c(
    daemon: Any, client: Client, program: Callable[..., Path]
) -> None:
    pid = (await client.call("vm.load", path=str(program(SPIN, "spin")), paused=True))["pid"]
    term = Terminal(daemon.home, "debug", str(pid))
    try:
        at = await term.expect("(dbg)")
        term.send("break spin_l\t")  # Tab completes the symbol
        await term.expect("spin_loop", at)
        term.send("\r")
        at = await term.expect("breakpoint ● 0x0008 spin_loop", at)
        term.send("delete all\r")
        at = await term.expect("deleted 1 breakpoint(s)", at)
        term.send("step\r")
        at = await term.expect("0x0004  main+0x4", at)
        term.send("\r")  # Enter repeats the step
        at = await term.expect("0x0008  spin_loop", at)
        term.send("\x1b[A\r")  # Up recalls `step`
        at = await term.expect("0x000C  spin_loop+0x4", at)
        term.send("inf\t")  # commands complete, and info topics
        await term.expect("info", at)
        term.send(" reg\t")
        await term.expect("registers", at)
        term.send("\r")
        at = await term.expect("R1  0x00000001", at)
        term.send("\x03")  # Ctrl-C at the prompt: a hint and a fresh prompt, the CLI stays
        at = await term.expect("(type quit to detach and leave)", at)
        term.send("continue\r")
        for _ in range(200):
            if await _state(client, pid) != "paused":
                break
            await asyncio.sleep(0.05)
        term.send("\x03")  # Ctrl-C while `continue` waits: the task is paused, the prompt returns
        at = await term.expect("[interrupted]", at)
        at = await term.expect("(dbg)", at)
        assert await _state(client, pid) == "paused"
        term.send("\x03")  # and once more at the prompt
        at = await term.expect("(type quit to detach and leave)", at)
        term.send("quit\r")
        await term.expect(f"detached from task {pid} (left paused)", at)
        assert await term.wait_exit() == 0
        assert "Traceback" not in term.text
    finally:
        term.close()
    history = (daemon.home / "debug_history").read_text()
    assert "+step" in history and "+continue" in history and "+quit" in history

    # the history persists: a new session recalls the last command of the previous one
    term = Terminal(daemon.home, "debug", str(pid))
    try:
        at = await term.expect("(dbg)")
        term.send("\x1b[A\r")  # Up: `quit`
        await term.expect(f"detached from task {pid} (left paused)", at)
        assert await term.wait_exit() == 0
    finally:
        term.close()
