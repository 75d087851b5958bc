"""Program output of a session of several tasks, line by line, each line tagged with its task.

Theory of operation
-------------------
The debug console is one stream; with several tasks writing to it, a reader must see
which task wrote what.  DAP's ``output`` event has no field for a thread (``group``
folds lines, ``source`` names a file), so each line starts with the task's tag,
``[pong 4] ``.  Output arrives in chunks that need not end at a line end, so
:class:`TaggedLines` keeps the incomplete last line of each task and stream until its end
arrives, the task stops or ends (:meth:`TaggedLines.flush`, so what it wrote before a
breakpoint is on screen when the editor shows the stop), or it grows past
:data:`MAX_PARTIAL` characters.  Lines of two tasks therefore never interleave within a
line.  An unfinished line shown early is ended there (a tag only makes sense at the start
of a line); the rest of it, when it comes, is a line of its own.  The exact bytes stay in
the task's log (``executive logs``).  A session of one task passes its output through
untouched (_core.py): there is nothing to tell apart.
"""

from __future__ import annotations

__all__ = ["MAX_PARTIAL", "TaggedLines"]

MAX_PARTIAL = 4096  # characters of an unfinished line kept per task and stream before it is shown anyway


class TaggedLines:
    """Per task and stream: complete lines out, each with the task's tag; the rest kept."""

    def __init__(self) -> None:
        self._partial: dict[tuple[int, str], str] = {}  # (pid, stream) -> text after the last line end

    def feed(self, pid: int, stream: str, text: str, tag: str) -> str:
        """The lines ``text`` completes for the task's ``stream``, tagged ("" when none is complete)."""
        key = (pid, stream)
        *lines, rest = (self._partial.pop(key, "") + text).split("\n")  # at \n only: a \r stays in its line
        if len(rest) > MAX_PARTIAL:
            lines.append(rest)
        elif rest:
            self._partial[key] = rest
        return "".join(f"{tag}{line}\n" for line in lines)

    def flush(self, pid: int, tag: str) -> list[tuple[str, str]]:
        """The task's unfinished lines, tagged and ended, as (stream, text); no longer kept."""
        return [(key[1], f"{tag}{self._partial.pop(key)}\n") for key in [k for k in self._partial if k[0] == pid]]
