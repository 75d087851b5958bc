"""`executive debug ID` (an interactive debugger prompt) and `executive trace export|import|set`.

The prompt talks to the running daemon over the wire like any other client
(cli/_common.run_client): it opens a session, attaches to the task (taking its control
lock and pausing it, spec hsx-executive §2.5), subscribes to the task's events, and maps
each command onto one or two ``debug.*``/``vm.*`` calls.  Events that arrive while a
command runs (watch updates, output) are printed before the next prompt; ``continue``
waits for the task to stop again (a breakpoint, BRK, its end) and Ctrl-C pauses it, as
in gdb.  Leaving detaches: the prompt's breakpoints and watches are removed and the task
is left paused (``quit --resume`` lets it run on).

On a terminal the prompt edits lines, keeps a history across runs and completes commands
and symbols (cli/_debug_input.py); Enter on an empty line repeats ``step``/``next``; gdb
habits work (``info registers``, ``info breakpoints``, ``bt``, ``x/8x ADDR``, ``p EXPR``,
``finish``).  Commands read from a pipe are echoed after the prompt, so a scripted session
reads like a typed one.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import typer
from rich.markup import escape

from executive.api.client import Client, RpcError
from executive.cli import _debug_view as view
from executive.cli._common import EXIT_USAGE, console, fail, home, run_client, task_ref
from executive.cli._debug_input import HISTORY_FILE, DebugCompleter, command_lines

__all__ = ["DebugPrompt", "debug", "trace_app"]

trace_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="HSX trace buffers: set, export, import (hsx.trace/1)."
)
_EVENT_TYPES = ["debug_break", "watch_update", "task_state", "output"]
_IMPORT_CHUNK = 4000  # records per trace.import call (keeps each frame well under the frame limit)

Handler = Callable[["DebugPrompt", list[str]], Awaitable[None]]
_COMMANDS: dict[str, tuple[Handler, str, str]] = {}  # name -> (handler, usage, help)
_ALIASES = {"b": "break", "d": "delete", "s": "step", "si": "step", "n": "next", "ni": "next", "c": "continue",
            "cont": "continue", "r": "regs", "x": "mem", "bt": "stack", "backtrace": "stack", "where": "state",
            "w": "watch", "q": "quit", "exit": "quit", "?": "help", "p": "print", "i": "info",
            "fin": "finish"}  # fmt: skip
_REPEATABLE = ("step", "next")  # Enter on an empty line runs the last of these again
_INFO_TOPICS = {"registers": "regs", "breakpoints": "break", "watchpoints": "watch", "watches": "watch",
                "stack": "stack", "frame": "state", "symbols": "symbols"}  # fmt: skip
_EXAMINE = re.compile(r"^x/(\d*)([xdu]?)([bhw]?)([xdu]?)$")  # gdb's x/NFU (format and unit in either order)
_MAX_COMPLETION_SYMBOLS = 5000  # symbol names fetched for Tab completion
_EXAMINE_MAX = 1024  # units one x/N shows


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
        self.repeat: str | None = None  # the step/next line an empty line repeats
        self.symbol_names: list[str] = []  # for Tab completion

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
        if info["loaded"]:
            await self._load_symbol_names()

    async def _load_symbol_names(self) -> None:
        offset: int | None = 0
        while offset is not None and len(self.symbol_names) < _MAX_COMPLETION_SYMBOLS:
            page = await self.call("debug.sym.list", offset=offset)
            self.symbol_names += [s["name"] for s in page["symbols"]]
            offset = page["next_offset"]

    def completer(self) -> DebugCompleter:
        """Tab completion: commands first, then ``info`` topics or symbol names."""
        names = [*_COMMANDS, *_ALIASES]

        def topics(first: str) -> list[str]:
            cmd = _ALIASES.get(first, first)
            return list(_INFO_TOPICS) if cmd == "info" else self.symbol_names

        return DebugCompleter(names, topics)

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
        """Run one command line; errors from the daemon are printed, not raised.

        An empty line repeats the last ``step``/``next`` (as in gdb).
        """
        if not line.strip() and self.repeat is not None:
            line = self.repeat
        try:
            words = shlex.split(line)
        except ValueError as exc:
            console.print(f"[red]{escape(str(exc))}[/]")
            return
        if not words:
            return
        if _EXAMINE.match(words[0]):  # x/8x ADDR: the format rides on the command word
            words = ["examine", words[0][2:], *words[1:]]
        name = _ALIASES.get(words[0], words[0])
        self.repeat = line if name in _REPEATABLE else None
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
        return cast(int, sym["address"]) + (int(off, 0) if off else 0)


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
            f"watch [bold]{w['id']}[/] {escape(str(w['expr']))} "
            f"at {view.address(w['address'])}{extra} = {view.watched(w['value'])}"
        )
        return
    r = await p.call("debug.watch.list")
    if not r["watches"]:
        console.print("[dim]no watches[/]")
    for w in r["watches"]:
        console.print(
            f"watch [bold]{w['id']}[/] {escape(str(w['expr']))} "
            f"at {view.address(w['address'])} = {view.watched(w['value'])}"
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
            f"[dim]#{rec['seq']}[/] {view.address(rec['pc'])} [dim]{rec['opcode']:08x}[/] "
            f"→ {view.address(rec.get('next_pc'))}  [yellow]{changed}[/]"
        )
    console.print(
        f"[dim]{r['returned']} of {r['count']} records (capacity {r['capacity']}, "
        f"tracing {'on' if r['enabled'] else 'off'})[/]"
    )


@command("finish", "finish", "run until the current function returns to its caller")
async def _finish(p: DebugPrompt, args: list[str]) -> None:
    r = await p.call("debug.finish")
    _changed(r)
    stop = r.get("stop")
    if stop == "returned":
        console.print(f"returned; R0 = {_number(r['regs'][0])}")
    await p.show_stop(None if stop == "returned" else stop)


@command("print", "print EXPR", "value of a register (R1, PC, SP), number, variable, name+off or *ADDRESS")
async def _print(p: DebugPrompt, args: list[str]) -> None:
    if not args:
        raise ValueError("print what?")
    v = await p.call("debug.eval", expr=" ".join(args))
    text = f"[bold]{escape(v['expr'])}[/] = "
    if v["kind"] == "code":
        console.print(text + f"{view.address(v['value'])} {view.where(v.get('symbol'), None)}  [dim](code)[/]")
        return
    where = ""
    if "address" in v:
        where = f"  [dim]{v['size']} bytes at[/] {view.address(v['address'])}"
    console.print(text + _number(v["value"], v.get("size", 4)) + where)


@command("examine", "x/NFU ADDRESS", "N units (U: b h w) of data memory in format F (x hex, d signed, u unsigned)")
async def _examine(p: DebugPrompt, args: list[str]) -> None:
    m = _EXAMINE.match("x/" + args[0])
    if m is None or len(args) < 2:
        raise ValueError("examine what? e.g. x/8x 0x4000, x/4w buf, x/16xb R1")
    count = int(m[1] or 1)
    fmt = m[2] or m[4] or "x"
    unit = {"b": 1, "h": 2, "w": 4}[m[3] or "w"]
    if not 1 <= count <= _EXAMINE_MAX:
        raise ValueError(f"count must be 1..{_EXAMINE_MAX}")
    v = await p.call("debug.eval", expr=" ".join(args[1:]))
    addr = (v["address"] if v["kind"] == "variable" else v["value"]) & 0xFFFF
    length = min(count * unit, 0x10000 - addr)
    data = bytes.fromhex((await p.call("vm.mem_read", addr=addr, length=length))["data"])
    per_line = 4 if unit == 4 else 8
    for i in range(0, len(data) // unit, per_line):
        cells = []
        for k in range(i, min(i + per_line, len(data) // unit)):
            n = int.from_bytes(data[k * unit : (k + 1) * unit], "little")
            if fmt == "x":
                cells.append(f"0x{n:0{2 * unit}x}")
            elif fmt == "d":
                cells.append(str(n - (1 << (8 * unit)) if n >> (8 * unit - 1) else n))
            else:
                cells.append(str(n))
        console.print(f"{view.address(addr + i * unit)}:  " + "  ".join(cells), highlight=False)


@command("info", "info registers|breakpoints|watchpoints|stack|frame|symbols", "gdb's info (also: i r, i b)")
async def _info(p: DebugPrompt, args: list[str]) -> None:
    topic = args[0] if args else ""
    full = next((t for t in _INFO_TOPICS if topic and t.startswith(topic)), None)
    if full is None:
        raise ValueError(f"info {topic!r}? one of {', '.join(_INFO_TOPICS)}")
    target = _INFO_TOPICS[full]
    if target == "symbols":
        for name in p.symbol_names:
            console.print(f"  [green]{escape(name)}[/]")
        if not p.symbol_names:
            console.print("[dim]no symbols loaded[/]")
        return
    if target == "state":
        await p.show_stop()
        return
    await _COMMANDS[target][0](p, [])


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
    return bool(
        ev["type"] == "task_state"
        and d.get("vm_to", d.get("to")) == "paused"
        and d.get("vm_from", d.get("from")) != "paused"
    )


def _number(value: int, size: int = 4) -> str:
    """``120 (0x00000078)``; negative two's complement shown too: ``4294967295 (-1, 0xFFFFFFFF)``."""
    bits = 8 * size
    signed = value - (1 << bits) if value >> (bits - 1) & 1 else value
    hexv = f"0x{value:0{2 * size}X}"
    return f"{value} ({signed}, {hexv})" if signed != value else f"{value} ({hexv})"


def _ended(state: dict[str, Any]) -> bool:
    """The task can run no more instructions (returned, exited, killed or faulted)."""
    return state["state"] in ("returned", "terminated") or state.get("fault") is not None


def _changed(r: dict[str, Any]) -> None:
    if r.get("changed_regs"):
        console.print(f"[dim]changed:[/] [yellow]{' '.join(r['changed_regs'])}[/]")


# ---------------------------------------------------------------------- entry points
def debug(
    task: str = typer.Argument(..., help="Task id or name of an HSX program."),
    no_pause: bool = typer.Option(False, "--no-pause", help="Attach without pausing the task."),
) -> None:
    """Debug an HSX program interactively: break, step, next, finish, continue, p, x, info, bt, watch, quit."""

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
            async for line in command_lines("(dbg) ", home() / HISTORY_FILE, p.completer()):
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
    """Turn per-instruction tracing of a task on or off (on before it runs: an ended task records nothing)."""
    if mode not in ("on", "off"):
        raise fail("mode must be on or off", EXIT_USAGE)

    async def go(client: Client) -> dict[str, Any]:
        if mode == "on":
            state = await client.call("debug.state", task=task_ref(task))
            if _ended(state):
                raise fail(
                    f"task {state['pid']} has ended, so tracing it now records nothing; turn tracing on before it "
                    "runs (executive load --paused FILE, executive trace set ID on, then executive resume ID)"
                )
        r: dict[str, Any] = await client.call("trace.set", task=task_ref(task), enabled=mode == "on")
        return r

    r = run_client(go)
    console.print(f"trace {'on' if r['enabled'] else 'off'} for task {r['pid']} (buffer {r['buffer_size']} records)")


@trace_app.command("export")
def trace_export(
    task: str = typer.Argument(..., help="Task id or name."),
    out: Path = typer.Option(..., "--output", "-o", help="File to write (hsx.trace/1 JSON)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the newest N records."),
) -> None:
    """Write a task's trace buffer to FILE as an hsx.trace/1 document (fails when it holds no records)."""
    params: dict[str, Any] = {"task": task_ref(task)}
    if limit is not None:
        params["limit"] = limit
    doc = run_client(lambda c: c.call("trace.export", **params))
    if not doc["returned"]:
        raise fail(
            f"task {doc['pid']} has no trace records, so nothing was written to {out}; tracing was off while it ran "
            f"— turn it on first (executive trace set {doc['pid']} on) and run or step the task"
        )
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
