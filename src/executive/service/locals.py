"""Source-level look-ups of ``Executive.debug``: locals of a frame and a file's line map.

An object the debugger service owns (``Executive.debug.source``), kept apart because it answers
source-level questions a front end (the DAP adapter, an editor) asks, on top of the
address-level services: which local variables are live in a stack frame and what they
hold (``symbols.locals``, hsx-executive.md §11.1, §8.9), and which lines of a source file
have code (to move a breakpoint from a comment or blank line to the next line with code).
The logic lives in debugger/locals.py and debugger/symbols.py; this resolves the task and
the frame and shapes the replies.
"""

from __future__ import annotations

from typing import Any, Protocol

from executive.debugger.locals import read_local
from executive.debugger.task import TaskDebug
from executive.kernel.errors import BadParamsError
from executive.service.results import FrameLocals, SourceFiles, SourceLines, StackReply

__all__ = ["SourceService", "SourceTasks"]


class SourceTasks(Protocol):
    """What the source service needs from the debugger service: task state and the stack walk."""

    def state_of(self, ref: int | str) -> TaskDebug: ...

    def stack(self, ref: int | str, max_frames: int | None = None) -> StackReply: ...


class SourceService:
    """``locals`` and ``sym_lines`` of HSX tasks."""

    def __init__(self, tasks: SourceTasks) -> None:
        self._tasks = tasks

    def locals(self, ref: int | str, frame: int = 0) -> FrameLocals:
        """The local variables live at the PC of one stack frame, with their values.

        Stack locals are read at ``FP + offset`` of that frame; register locals only in
        frame 0 (outer frames' registers are not saved where the debugger can see them, so
        those carry ``error``).  A task without ``symbols.locals`` answers an empty list.

        Args:
            frame: 0 is the innermost frame (as :meth:`stack` numbers them).

        Raises:
            BadParamsError: ``frame`` is negative or deeper than the stack.
        """
        st = self._tasks.state_of(ref)
        if frame < 0:
            raise BadParamsError(f"frame must be >= 0, got {frame}")
        walk = self._tasks.stack(st.pid, frame + 1)
        frames = walk["frames"]
        if frame >= len(frames):
            raise BadParamsError(
                f"task {st.pid} has {len(frames)} frame(s) here; frame {frame} does not exist (see debug.stack)",
                data={"frames": len(frames)},
            )
        f = frames[frame]
        cpu = st.vt.cpu
        symbols = st.symbols
        out: list[dict[str, Any]] = []
        if symbols is not None:

            def data_symbol(name: str) -> int | None:
                sym = symbols.lookup(name)
                return sym.address if sym is not None and sym.space == "data" else None

            for var, loc in symbols.locals.at(f["pc"]):
                out.append(
                    read_local(
                        var,
                        loc,
                        regs=list(cpu.regs) if frame == 0 else None,
                        fp=f["fp"],
                        read=lambda a, n: bytes(cpu.mem[a : a + n]),
                        resolve_symbol=data_symbol,
                    )
                )
        return {
            "pid": st.pid,
            "frame": frame,
            "pc": f["pc"],
            "fp": f["fp"],
            "function": f.get("func_name"),
            "loaded": symbols is not None,
            "locals": out,
        }

    def sym_lines(self, ref: int | str, file: str | None = None) -> SourceFiles | SourceLines:
        """The lines of ``file`` that have code, each with its instruction addresses; with no
        ``file``, the source files the line table names and the PCs of compiler-generated
        instructions (``source_kind: "compiler"``, which source-level steps pass over)."""
        st = self._tasks.state_of(ref)
        symbols = st.symbols
        if file is None:
            return {
                "pid": st.pid,
                "loaded": symbols is not None,
                "files": symbols.files() if symbols else [],
                "generated": sorted(symbols.generated) if symbols else [],
            }
        table = symbols.lines_of(file) if symbols else {}
        return {
            "pid": st.pid,
            "loaded": symbols is not None,
            "file": file,
            "lines": [{"line": line, "addresses": addrs} for line, addrs in table.items()],
        }
