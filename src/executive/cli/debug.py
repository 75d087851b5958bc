"""`executive debug ID` (an interactive debugger prompt) and `executive trace export|import|set`.

The prompt talks to the running daemon over the wire like any other client
(cli/_common.run_client): it opens a session, attaches to the task (taking its control
lock and pausing it, spec hsx-executive §2.5), subscribes to the task's events, and maps
each command onto one or two ``debug.*``/``vm.*`` calls.  Events that arrive while a
command runs (watch updates, output) are printed before the next prompt; ``continue``
waits for the task to stop again (a breakpoint, BRK, its end) and Ctrl-C pauses it, as
in gdb.  Leaving detaches: the prompt's breakpoints and watches are removed and the task
is left paused (``quit --resume`` lets it run on).

Commands read from a pipe are echoed after the prompt, so a scripted session reads like
a typed one.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from executive.api.client import Client, RpcError
from executive.cli import _debug_view as view
from executive.cli._common import EXIT_USAGE, console, fail, run_client, task_ref

__all__ = ["DebugPrompt", "debug", "trace_app"]

trace_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="HSX trace buffers: set, export, import (hsx.trace/1)."
)
_EVENT_TYPES = ["debug_break", "watch_update", "task_state", "output"]
_IMPORT_CHUNK = 4000  # records per trace.import call (keeps each frame well under the frame limit)

Handler = Callable[["DebugPrompt", list[str]], Awaitable[None]]
_COMMANDS: dict[str, tuple[Handler, str, str]] = {}  # name -> (handler, usage, help)
_ALIASES = {"b": "break", "d": "delete", "s": "step", "si": "step", "n": "next", "c": "continue", "cont": "continue",
            "r": "regs", "x": "mem", "bt": "stack", "where": "state", "w": "watch", "q": "quit", "exit": "quit", "?": "help"}  # fmt: skip


def command(name: str, usage: str, text: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _COMMANDS[name] = (fn, usage, text)
        return fn

    return deco


class _Quit(Exception):
    def __init__(self, resume: bool) -> None:
        self.resume = resume


class DebugPrompt:
    """One debugging session on one task over one client connection."""

    def __init__(self, client: Client, task: int | str) -> None:
        self.client = client
        self.task = task
        self.pid: int = 0
        self.ended = False  # the task ended: nothing left to debug
        self.waiting = False  # `continue` is waiting for a stop: Ctrl-C pauses the task
        self.interrupted = asyncio.Event()

    def on_sigint(self) -> None:
        """Ctrl-C: pause the task while `continue` waits; at the prompt, say how to leave."""
        if self.waiting:
            self.interrupted.set()
        else:
            console.print("\n[dim](type quit to detach and leave)[/]")

    async def call(self, method: str, **params: Any) -> Any:
        return await self.client.call(method, task=self.pid, **params)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, pause: bool) -> None:
        await self.client.call("session.open", client="executive-debug")
        state = await self.client.call("debug.attach", task=self.task, pause=pause)
        self.pid = state["pid"]
        await self.client.call("events.subscribe", types=_EVENT_TYPES, tasks=[self.pid])
        info = await self.client.call("debug.sym.info", task=self.pid)
        syms = f"{info['count']} symbols from {info['path'] or 'a document'}" if info["loaded"] else "no symbols"
        console.print(f"attached to task [bold]{self.pid}[/] ({escape(syms)}); [dim]type help for commands[/]")
        console.print(view.stop_line(state))

    async def finish(self, resume: bool) -> None:
        if self.ended:
            return
        try:
            await self.client.call("debug.detach", task=self.pid, resume=resume)
            console.print(f"detached from task {self.pid}" + (" (running)" if resume else " (left paused)"))
        except RpcError as exc:
            console.print(f"[yellow]detach: {escape(exc.message)}[/]")

    def drain_events(self) -> None:
        for ev in self.client.take_events():
            self.show_event(ev)

    def show_event(self, ev: dict[str, Any]) -> None:
        line = view.event_line(ev)
        if line:
            console.print(line)
        if ev["type"] == "task_state" and ev["data"].get("to") == "ended":
            self.ended = True

    async def execute(self, line: str) -> None:
        """Run one command line; errors from the daemon are printed, not raised."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            console.print(f"[red]{escape(str(exc))}[/]")
            return
        if not words:
            return
        name = _ALIASES.get(words[0], words[0])
        entry = _COMMANDS.get(name)
        if entry is None:
            console.print(f"[red]unknown command {escape(words[0])!r}[/]; type help")
            return
        try:
            await entry[0](self, words[1:])
        except RpcError as exc:
            console.print(f"[red]{escape(exc.message)}[/]")
        except (ValueError, IndexError) as exc:
            console.print(f"[red]{escape(str(exc))}[/]  usage: {escape(entry[1])}")
        self.drain_events()

    async def show_stop(self, reason: str | None = None) -> None:
        console.print(view.stop_line(await self.call("debug.state"), reason))

    async def data_address(self, text: str) -> int:
        """A data address from a number or a variable name (``buf+4`` too)."""
        try:
            return int(text, 0)
        except ValueError:
            pass
        base, _, off = text.partition("+")
        sym = (await self.call("debug.sym.lookup", name=base))["symbol"]
        if sym is None:
            raise ValueError(f"no symbol named {base!r}")
        if sym["space"] != "data":
            raise ValueError(f"{base} is {sym['type']} in the code space; use disasm for code")
        return sym["address"] + (int(off, 0) if off else 0)


# ---------------------------------------------------------------------- commands
@command(
    "break", "break [LOCATION]", "set a breakpoint (address, symbol, symbol+off, file:line); list them without one"
)
async def _break(p: DebugPrompt, args: list[str]) -> None:
    if args:
        r = await p.call("debug.bp.add", where=args[0])
        bp = r["breakpoint"]
        word = "breakpoint" if r["added"] else "already set:"
        console.print(f"{word} [red]●[/] {view.address(bp['address'])} {view.where(bp.get('symbol'), None)}")
        return
    r = await p.call("debug.bp.list")
    if not r["details"]:
        console.print("[dim]no breakpoints[/]")
    for bp in r["details"]:
        console.print(
            f"[red]●[/] {view.address(bp['address'])} {view.where(bp.get('symbol'), None)}  [dim]hits {bp['hits']}[/]"
        )


@command("delete", "delete LOCATION|all", "delete a breakpoint, or all of them")
async def _delete(p: DebugPrompt, args: list[str]) -> None:
    if not args:
        raise ValueError("which breakpoint?")
    if args[0] == "all":
        r = await p.call("debug.bp.clear")
        console.print(f"deleted {r['removed']} breakpoint(s)")
    else:
        r = await p.call("debug.bp.remove", where=args[0])
        console.print(f"deleted breakpoint at {view.address(r['breakpoint']['address'])}")


@command("step", "step [N]", "execute N instructions (default 1), into calls")
async def _step(p: DebugPrompt, args: list[str]) -> None:
    r = await p.call("debug.step", steps=int(args[0], 0) if args else 1)
    _changed(r)
    await p.show_stop(r.get("debug_break", {}).get("reason"))


@command("next", "next", "step over a CALL (runs the whole call), else one instruction")
async def _next(p: DebugPrompt, args: list[str]) -> None:
    r = await p.call("debug.next")
    _changed(r)
    stop = r.get("stop")
    await p.show_stop(None if stop in ("returned", "stepped") else stop)


@command("continue", "continue", "resume and wait for the next stop (Ctrl-C pauses)")
async def _continue(p: DebugPrompt, args: list[str]) -> None:
    await p.call("vm.resume")
    p.interrupted.clear()
    p.waiting = True
    try:
        while True:
            ev_task = asyncio.ensure_future(p.client.next_event())
            int_task = asyncio.ensure_future(p.interrupted.wait())
            done, _ = await asyncio.wait({ev_task, int_task}, return_when=asyncio.FIRST_COMPLETED)
            for t in (ev_task, int_task):
                if t not in done:
                    t.cancel()
            if int_task in done:
                await p.call("vm.pause")
                await p.show_stop("interrupted")
                return
            ev = ev_task.result()
            p.show_event(ev)
            if p.ended:
                return
            if ev["type"] == "debug_break" or _paused(ev):
                p.drain_events()
                await p.show_stop()
                return
    finally:
        p.waiting = False


@command("pause", "pause", "pause a running task")
async def _pause(p: DebugPrompt, args: list[str]) -> None:
    await p.call("vm.pause")
    await p.show_stop("paused")


@command("regs", "regs", "registers; the ones changed since the last stop are highlighted")
async def _regs(p: DebugPrompt, args: list[str]) -> None:
    console.print(view.regs_table(await p.call("debug.state")))


@command("mem", "mem ADDRESS|VARIABLE [LENGTH]", "hex dump of data memory (default 64 bytes)")
async def _mem(p: DebugPrompt, args: list[str]) -> None:
    addr = await p.data_address(args[0])
    r = await p.call("vm.mem_read", addr=addr, length=int(args[1], 0) if len(args) > 1 else 64)
    console.print(view.hexdump(r["addr"], bytes.fromhex(r["data"])))


@command("disasm", "disasm [LOCATION] [COUNT]", "disassemble code (default: around the PC)")
async def _disasm(p: DebugPrompt, args: list[str]) -> None:
    params: dict[str, Any] = {"count": int(args[1], 0) if len(args) > 1 else 10}
    if args:
        params["addr"] = args[0]
    else:
        params["before"] = 3
    console.print(view.listing(await p.call("debug.disasm", **params)))


@command("stack", "stack [MAX]", "the call stack, innermost frame first")
async def _stack(p: DebugPrompt, args: list[str]) -> None:
    params = {"max_frames": int(args[0], 0)} if args else {}
    console.print(view.stack_table(await p.call("debug.stack", **params)))


@command(
    "watch", "watch [EXPR [LENGTH]]", "watch data (address, variable, var+off, *pointer); list watches without EXPR"
)
async def _watch(p: DebugPrompt, args: list[str]) -> None:
    if args:
        w = await p.call("debug.watch.add", expr=args[0], length=int(args[1]) if len(args) > 1 else 4)
        extra = f" ({escape(w['location'])})" if w.get("location") else ""
        console.print(
            f"watch [bold]{w['id']}[/] {escape(str(w['expr']))} at {view.address(w['address'])}{extra} = {view.watched(w['value'])}"
        )
        return
    r = await p.call("debug.watch.list")
    if not r["watches"]:
        console.print("[dim]no watches[/]")
    for w in r["watches"]:
        console.print(
            f"watch [bold]{w['id']}[/] {escape(str(w['expr']))} at {view.address(w['address'])} = {view.watched(w['value'])}"
        )


@command("unwatch", "unwatch ID", "remove a watch")
async def _unwatch(p: DebugPrompt, args: list[str]) -> None:
    w = await p.call("debug.watch.remove", id=int(args[0]))
    console.print(f"removed watch {w['id']}")


@command("trace", "trace [on|off|N]", "per-instruction tracing on/off, or show the newest N records (default 10)")
async def _trace(p: DebugPrompt, args: list[str]) -> None:
    if args and args[0] in ("on", "off"):
        r = await p.call("trace.set", enabled=args[0] == "on")
        console.print(f"trace {'on' if r['enabled'] else 'off'} (buffer {r['buffer_size']} records)")
        return
    r = await p.call("trace.records", limit=int(args[0], 0) if args else 10)
    for rec in r["records"]:
        changed = " ".join(rec.get("changed_regs") or [])
        console.print(
            f"[dim]#{rec['seq']}[/] {view.address(rec['pc'])} [dim]{rec['opcode']:08x}[/] → {view.address(rec.get('next_pc'))}  [yellow]{changed}[/]"
        )
    console.print(
        f"[dim]{r['returned']} of {r['count']} records (capacity {r['capacity']}, tracing {'on' if r['enabled'] else 'off'})[/]"
    )


@command("state", "state", "where the task is")
async def _state(p: DebugPrompt, args: list[str]) -> None:
    await p.show_stop()


@command("help", "help", "this list")
async def _help(p: DebugPrompt, args: list[str]) -> None:
    for _, usage, text in _COMMANDS.values():
        console.print(f"  [bold]{escape(usage):<34}[/] {escape(text)}")


@command("quit", "quit [--resume]", "detach (removing breakpoints and watches) and leave")
async def _quit(p: DebugPrompt, args: list[str]) -> None:
    raise _Quit(resume="--resume" in args)


def _paused(ev: dict[str, Any]) -> bool:
    """A ``task_state`` event saying the task just became paused (VM events carry ``vm_to``)."""
    d = ev["data"]
    return (
        ev["type"] == "task_state"
        and d.get("vm_to", d.get("to")) == "paused"
        and d.get("vm_from", d.get("from")) != "paused"
    )


def _changed(r: dict[str, Any]) -> None:
    if r.get("changed_regs"):
        console.print(f"[dim]changed:[/] [yellow]{' '.join(r['changed_regs'])}[/]")


# ---------------------------------------------------------------------- entry points
async def _lines(prompt: str) -> Any:
    """Command lines from the terminal (with line editing) or a pipe (echoed)."""
    tty = sys.stdin.isatty()
    while True:
        try:
            if tty:
                line = await asyncio.to_thread(input, prompt)
            else:
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line:
                    return
                line = line.rstrip("\n")
                console.print(f"{prompt}{escape(line)}", highlight=False)
        except EOFError:
            return
        yield line


def debug(
    task: str = typer.Argument(..., help="Task id or name of an HSX program."),
    no_pause: bool = typer.Option(False, "--no-pause", help="Attach without pausing the task."),
) -> None:
    """Debug an HSX program interactively: break, delete, step, next, continue, pause, regs, mem, disasm, stack, watch, quit."""

    async def go(client: Client) -> None:
        p = DebugPrompt(client, task_ref(task))
        await p.start(pause=not no_pause)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, p.on_sigint)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - no signals here
            pass
        resume = False
        try:
            async for line in _lines("(dbg) "):
                await p.execute(line)
                if p.ended:
                    return
        except _Quit as q:
            resume = q.resume
        await p.finish(resume)

    run_client(go)


@trace_app.command("set")
def trace_set(
    task: str = typer.Argument(..., help="Task id or name."), mode: str = typer.Argument(..., help="on or off")
) -> None:
    """Turn per-instruction tracing of a task on or off."""
    if mode not in ("on", "off"):
        raise fail("mode must be on or off", EXIT_USAGE)
    r = run_client(lambda c: c.call("trace.set", task=task_ref(task), enabled=mode == "on"))
    console.print(f"trace {'on' if r['enabled'] else 'off'} for task {r['pid']} (buffer {r['buffer_size']} records)")


@trace_app.command("export")
def trace_export(
    task: str = typer.Argument(..., help="Task id or name."),
    out: Path = typer.Option(..., "--output", "-o", help="File to write (hsx.trace/1 JSON)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the newest N records."),
) -> None:
    """Write a task's trace buffer to FILE as an hsx.trace/1 document."""
    params: dict[str, Any] = {"task": task_ref(task)}
    if limit is not None:
        params["limit"] = limit
    doc = run_client(lambda c: c.call("trace.export", **params))
    out.write_text(json.dumps({"format": doc["format"], "pid": doc["pid"], "records": doc["records"]}, indent=1) + "\n")
    console.print(f"wrote {doc['returned']} records of task {doc['pid']} to {out}")


@trace_app.command("import")
def trace_import(
    task: str = typer.Argument(..., help="Task id or name to load the records into."),
    file: Path = typer.Argument(..., help="An hsx.trace/1 document (or a JSON list of records)."),
    append: bool = typer.Option(False, "--append", help="Keep the records already in the buffer."),
) -> None:
    """Load hsx.trace/1 records from FILE into a task's trace buffer (validated by the daemon)."""
    try:
        doc = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}", EXIT_USAGE) from None
    records = doc.get("records") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise fail(f"{file} has no records list (expected {{'format': 'hsx.trace/1', 'records': [...]}})", EXIT_USAGE)

    async def go(client: Client) -> dict[str, Any]:
        out: dict[str, Any] = {"count": 0}
        for i in range(0, max(len(records), 1), _IMPORT_CHUNK):
            out = await client.call(
                "trace.import",
                task=task_ref(task),
                records=records[i : i + _IMPORT_CHUNK],
                replace=not append and i == 0,
            )
        return out

    r = run_client(go)
    console.print(f"imported {len(records)} records into task {r.get('pid', task)} (buffer holds {r['count']})")
