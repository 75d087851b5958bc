"""Starting a DAP session: ``launch`` one program or several, ``attach`` to one task or
several, and ``configurationDone``.

A mixin of :class:`~executive.dap.session.DapSession`.  ``launch`` takes ``program`` (one
image) or ``programs`` (up to :data:`~executive.dap.threads.MAX_THREADS`, each a path or
``{"program", "args", "stdin", "name", "symbols"}``); ``attach`` takes ``task`` or
``tasks`` (ids or names).  Everything the editor sent is checked before anything happens
on the daemon — both keys given, an empty or too long list, a missing file, an
assembler error, an unknown, repeated or ended task — so a refused request changes
nothing.  What the daemon itself refuses half-way (a load over its limits, a task locked
by another session) is undone: the tasks loaded so far are killed, the ones attached so
far detached as they were.

Launched tasks are loaded paused and locked to this session, then resumed together at
``configurationDone`` in the order given, so breakpoints set during configuration are in
place before any instruction runs.  Each task is one thread; a ``thread`` event
(``started``) announces each after ``initialized``, so the editor lists them even while
none has stopped.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path
from typing import Any

from executive.api.client import RpcError
from executive.dap._core import STOP_REASONS, SessionCore
from executive.dap.protocol import DapError
from executive.dap.sources import SourceMap
from executive.dap.threads import MAX_THREADS, TaskThread
from executive.dap.variables import Inspector

__all__ = ["LaunchRequests"]

_EVENT_TYPES = ["task_state", "debug_break", "output"]
_MAX_STDIN = 1024 * 1024  # bytes of launch stdin, per program
_PROGRAM_KEYS = ("program", "args", "stdin", "name", "symbols")  # what a `programs` entry may hold
_ENDED_STATES = ("returned", "exited", "faulted", "killed")  # vm_state of a task that has ended


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramSpec:
    """One program of a launch, checked."""

    path: Path  # the .hxe or .mvasm, absolute
    name: str | None  # task name on the daemon (None: from the image)
    symbols: str | None  # a .sym to use instead of the one beside the image
    stdin: bytes  # sent to its stdin before it starts


class LaunchRequests(SessionCore):
    """``launch``, ``attach``, ``configurationDone``."""

    async def _open_session(self) -> None:
        if not self._session_opened:
            await self._call("session.open", client="executive-dap")
            self._session_opened = True

    def _new_thread(self, pid: int, name: str, *, launched: bool) -> TaskThread:
        thread = TaskThread(pid, name, len(self.threads), launched, Inspector(self.rpc, pid, self.handles))
        self.threads.add(thread)
        return thread

    async def _launch(self, args: dict[str, Any]) -> dict[str, Any] | None:
        if len(self.threads):
            raise DapError("this session already debugs a program; start another debug session")
        cwd_arg = args.get("cwd")
        specs = _program_specs(args, cwd_arg if isinstance(cwd_arg, str) else self._cwd)
        images = []
        for spec in specs:  # every build before any load: an assembler error loads nothing
            image = spec.path
            if spec.path.suffix.lower() == ".mvasm":
                built = self._builder(spec.path)
                image = built.image
                for warning in built.warnings:
                    self._output(f"{warning}\n")
            images.append(image)
        await self._open_session()
        try:
            for spec, image in zip(specs, images, strict=True):
                params: dict[str, Any] = {"path": str(image), "paused": True, "lock": True}
                if spec.name:
                    params["name"] = spec.name
                loaded = await self._call("vm.load", **params)
                thread = self._new_thread(loaded["pid"], loaded["name"], launched=True)
                for warning in loaded.get("warnings", []):
                    self._output(f"hsx: {warning}\n")
                if spec.symbols:
                    await self._call("debug.sym.load", task=thread.pid, path=spec.symbols)
            await self._prepare([str(spec.path.parent) for spec in specs])
            for thread, spec in zip(self.threads, specs, strict=True):
                if spec.stdin:
                    await self._call("mailbox.send", task=thread.pid, data_b64=base64.b64encode(spec.stdin).decode())
        except (DapError, RpcError):  # a refused launch leaves nothing behind on the daemon
            for thread in self.threads:
                try:
                    await self._call("vm.kill", task=thread.pid)
                except RpcError:
                    pass  # ended already
            self.threads.clear()
            raise
        self._stop_on_entry = bool(args.get("stopOnEntry", False))
        self._announce()
        return None

    async def _attach(self, args: dict[str, Any]) -> dict[str, Any] | None:
        if len(self.threads):
            raise DapError("this session already debugs a program; start another debug session")
        refs = _task_refs(args)
        await self._open_session()
        infos = [await self._call("vm.info", task=ref) for ref in refs]  # unknown tasks fail here, before any attach
        seen: dict[int, Any] = {}
        for ref, info in zip(refs, infos, strict=True):
            pid = info["pid"]
            if pid in seen:
                raise DapError(f'"tasks" names task {pid} twice (as {seen[pid]!r} and {ref!r})')
            seen[pid] = ref
            if info.get("vm_state") in _ENDED_STATES:
                raise DapError(f"task {pid} has ended ({info['vm_state']}); nothing to attach to")
        attached: list[tuple[int, bool]] = []
        try:
            for info in infos:
                was_paused = info.get("vm_state") == "paused"
                state = await self._call("debug.attach", task=info["pid"], pause=True)
                attached.append((state["pid"], was_paused))
                thread = self._new_thread(
                    state["pid"], (info.get("task") or {}).get("name") or str(state["pid"]), launched=False
                )
                thread.was_paused = was_paused
            bases = [info.get("program") or info.get("path") for info in infos]
            await self._prepare([str(Path(b).parent) if isinstance(b, str) else self._cwd for b in bases])
        except (DapError, RpcError):  # leave every task as it was
            for pid, was_paused in attached:
                try:
                    await self._call("debug.detach", task=pid, resume=not was_paused)
                except RpcError:
                    pass  # ended meanwhile
            self.threads.clear()
            raise
        self._stop_on_entry = bool(args.get("stopOnEntry", False))
        self._announce()
        return None

    async def _prepare(self, base_dirs: list[str]) -> None:
        """Subscribe to the tasks' events and learn each one's source files."""
        await self._call("events.subscribe", types=_EVENT_TYPES, tasks=[t.pid for t in self.threads])
        for thread, base_dir in zip(self.threads, base_dirs, strict=True):
            thread.inspector.tag_memory = self.threads.several
            files = await self._call("debug.sym.lines", task=thread.pid)
            thread.sources = SourceMap(files["files"], base_dir)
            thread.generated = frozenset(files.get("generated", []))
            thread.has_lines = bool(files["files"])

    def _announce(self) -> None:
        """After the launch/attach response: ``initialized``, then one ``thread started`` per task."""
        self._event("initialized", later=True)
        for thread in self.threads:
            self._event("thread", {"reason": "started", "threadId": thread.pid}, later=True)

    async def _configuration_done(self, args: dict[str, Any]) -> None:
        self._require_task()
        if self._stop_on_entry:
            for thread in self.threads:  # every task is paused: one event says so for all
                thread.stopped = True
            self._stopped(next(iter(self.threads)), "entry", later=True)
            return None
        for thread in self.threads:
            if thread.launched:
                # a breakpoint on the very first instruction: resuming would step over it
                pc = (await self._call("debug.state", task=thread.pid))["pc"]
                stopping = [s for s in self.book.at(thread.pid, pc) if await self._wants_stop(s, thread)]
                if stopping:
                    reason = STOP_REASONS.get(stopping[0].kind, "breakpoint")
                    self._stopped(thread, reason, later=True, hit=[s.id for s in stopping])
                else:
                    await self._call("vm.resume", task=thread.pid)
            elif thread.was_paused:
                self._stopped(thread, "pause", later=True, description="the task was paused when the debugger attached")
            else:
                await self._call("vm.resume", task=thread.pid)
        return None


def _given(args: dict[str, Any], key: str) -> bool:
    return args.get(key) is not None


def _program_specs(args: dict[str, Any], cwd: str) -> list[ProgramSpec]:
    """The programs a launch names, checked (files exist, sizes within limits).

    Raises:
        DapError: what is wrong, and how to write it instead.
    """
    if _given(args, "program") and _given(args, "programs"):
        raise DapError('launch takes "program" (one program) or "programs" (several), not both')
    if not _given(args, "programs"):
        program = args.get("program")
        if not isinstance(program, str) or not program:
            raise DapError(
                'launch needs "program": the path of an .hxe image or an .mvasm source '
                '(or "programs": a list of them, debugged together)'
            )
        name = args.get("name") if isinstance(args.get("name"), str) and args["name"] else None
        symbols = args["symbols"] if isinstance(args.get("symbols"), str) else None
        # one program: the daemon's load says what is wrong with the file (a refused load leaves nothing)
        return [ProgramSpec(_resolve(program, cwd), name, symbols, _stdin_of(args, "launch"))]
    items = args["programs"]
    if not isinstance(items, list) or not items:
        raise DapError(
            '"programs" is a non-empty list of .hxe/.mvasm paths, or of objects '
            '{"program": path, "args": [...], "stdin": text, "name": task name, "symbols": .sym}'
        )
    if len(items) > MAX_THREADS:
        raise DapError(
            f'"programs" names {len(items)} programs; one debug session runs at most {MAX_THREADS} '
            "(start another session for the rest)"
        )
    for key in ("args", "stdin", "symbols"):
        if _given(args, key):
            raise DapError(
                f'"{key}" belongs to one program: with "programs", give it per program, '
                f'e.g. {{"program": "ping.mvasm", "{key}": ...}}'
            )
    return [_program_item(item, i, cwd) for i, item in enumerate(items)]


def _program_item(item: Any, i: int, cwd: str) -> ProgramSpec:
    where = f"programs[{i}]"
    if isinstance(item, str):
        item = {"program": item}
    if not isinstance(item, dict):
        raise DapError(f'{where} is a path or an object {{"program": path, ...}}, not {type(item).__name__}')
    unknown = sorted(set(item) - set(_PROGRAM_KEYS))
    if unknown:
        raise DapError(f"{where} has unknown keys {unknown}; an entry may hold {list(_PROGRAM_KEYS)}")
    program = item.get("program")
    if not isinstance(program, str) or not program:
        raise DapError(f'{where} needs "program": the path of an .hxe image or an .mvasm source')
    for key in ("name", "symbols"):
        if item.get(key) is not None and not (isinstance(item[key], str) and item[key]):
            raise DapError(f'{where}: "{key}" is a non-empty string')
    path = _resolve(program, cwd)
    if not path.is_file():  # checked before the first load, so a missing later program loads none
        raise DapError(f"{where}: cannot read {path}: no such file")
    return ProgramSpec(path, item.get("name"), item.get("symbols"), _stdin_of(item, where))


def _resolve(program: str, cwd: str) -> Path:
    path = Path(os.path.expanduser(program))
    return (Path(cwd) / path if not path.is_absolute() else path).resolve()


def _stdin_of(args: dict[str, Any], where: str) -> bytes:
    """A program's stdin from ``stdin`` (text) and/or ``args`` (one line, space-separated)."""
    parts = []
    argv = args.get("args")
    if argv is not None and not isinstance(argv, list):
        raise DapError(f'{where}: "args" is a list of strings')
    if argv:
        parts.append(" ".join(str(a) for a in argv) + "\n")
    stdin = args.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        raise DapError(f'{where}: "stdin" is text')
    if stdin:
        parts.append(stdin)
    data = "".join(parts).encode()
    if len(data) > _MAX_STDIN:
        raise DapError(f"{where}: stdin and args are {len(data)} bytes; the limit is {_MAX_STDIN}")
    return data


def _task_refs(args: dict[str, Any]) -> list[int | str]:
    """The tasks an attach names (``task``/``pid`` or ``tasks``), checked.

    Raises:
        DapError: neither or both given, an empty or too long list, an id that is no id.
    """
    one = args.get("task", args.get("pid"))
    many = args.get("tasks")
    if one is not None and many is not None:
        raise DapError('attach takes "task" (one task) or "tasks" (several), not both')
    if many is None:
        ref = _task_ref(one)
        if ref is None:
            raise DapError(
                'attach needs "task": the id or name of an HSX task on the daemon (see `executive ps`), '
                'or "tasks": a list of them'
            )
        return [ref]
    if not isinstance(many, list) or not many:
        raise DapError('"tasks" is a non-empty list of HSX task ids or names (see `executive ps`)')
    if len(many) > MAX_THREADS:
        raise DapError(f'"tasks" names {len(many)} tasks; one debug session attaches to at most {MAX_THREADS}')
    refs = []
    for i, item in enumerate(many):
        ref = _task_ref(item)
        if ref is None:
            raise DapError(f"tasks[{i}] is {item!r}; give the id or name of an HSX task")
        refs.append(ref)
    return refs


def _task_ref(ref: Any) -> int | str | None:
    if isinstance(ref, str) and ref.isdigit():
        ref = int(ref)
    if not isinstance(ref, int | str) or isinstance(ref, bool) or ref == "":
        return None
    return ref
