"""Reassemble lines from output chunks, of any length, without a fixed buffer cap.

Output reaches an adapter in chunks cut wherever the pipe or the log reader
cut them, so one JSON line may span many chunks and one chunk may hold many
lines.  :class:`LineAssembler` keeps the pieces of the unfinished line in a
list (joined once, when its newline arrives: no quadratic re-copying) and
hands out complete lines.

The vendor SDKs cap a line at 1 MiB and abort the run beyond it; here the cap
is ``Limits.agent_line_bytes`` (64 MiB by default) and a longer line is not
fatal: its bytes are dropped as they arrive (memory stays bounded) and a
:class:`LongLine` marker with its size takes its place, so the parser can warn
and carry on.  At the end, :meth:`LineAssembler.finish` returns the bytes of a
last line that never got its newline (the stream was cut mid-line).
"""

from __future__ import annotations

import dataclasses

__all__ = ["LineAssembler", "LongLine"]


@dataclasses.dataclass(frozen=True, slots=True)
class LongLine:
    """Stands in for a line longer than the limit; ``size`` counts its bytes (without the newline)."""

    size: int


class LineAssembler:
    """Incremental splitter on ``b"\\n"``; ``\\r\\n`` endings lose their ``\\r`` too."""

    __slots__ = ("_overflow", "_parts", "_pending", "max_line")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._parts: list[bytes] = []  # pieces of the unfinished line
        self._pending = 0  # bytes in _parts, or bytes seen of an overlong line
        self._overflow = False  # the unfinished line already exceeded max_line (its bytes are dropped)

    def feed(self, chunk: bytes) -> list[bytes | LongLine]:
        """Add a chunk; return the lines it completed (without their line ending)."""
        if not chunk:
            return []
        pieces = chunk.split(b"\n")
        out: list[bytes | LongLine] = []
        if len(pieces) == 1:
            self._add(chunk)
            return out
        # The first piece finishes the pending line.
        self._add(pieces[0])
        out.append(self._take())
        for piece in pieces[1:-1]:
            if len(piece) > self.max_line:
                out.append(LongLine(len(piece.rstrip(b"\r"))))
            else:
                out.append(piece[:-1] if piece.endswith(b"\r") else piece)
        self._add(pieces[-1])
        return out

    def _add(self, piece: bytes) -> None:
        if not piece:
            return
        self._pending += len(piece)
        if self._overflow:
            return
        if self._pending > self.max_line:
            self._overflow = True
            self._parts.clear()
            return
        self._parts.append(piece)

    def _take(self) -> bytes | LongLine:
        if self._overflow:
            size = self._pending
            self._reset()
            return LongLine(size)
        line = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._reset()
        return line[:-1] if line.endswith(b"\r") else line

    def _reset(self) -> None:
        self._parts = []
        self._pending = 0
        self._overflow = False

    @property
    def pending_bytes(self) -> int:
        """Bytes of the unfinished line seen so far."""
        return self._pending

    def finish(self) -> bytes | LongLine | None:
        """End of stream: the unterminated last line (None when the stream ended on a newline)."""
        if self._pending == 0:
            return None
        return self._take()
