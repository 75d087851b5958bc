"""A task's output: append-only logs first, then live ``output`` events by byte offset.

Shared by process tasks (pipes) and VM tasks (stdio mailboxes, UART), so both
look the same to clients: ``$EXECUTIVE_HOME/tasks/<id>/{stdout,stderr}.log``
and events ``{stream, offset, data | data_b64}`` where ``offset`` is the byte
offset of the data in that log.  Data is split into slices of at most
``chunk_bytes`` on UTF-8 boundaries (an incomplete trailing sequence waits for
the next append).  Each event keeps its slice as bytes (kernel/events.py
``OutputEvent``): JSON clients get text, or base64 for bytes that are not UTF-8;
binary-output clients get the bytes as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from executive.kernel.events import EventBus
from executive.paths import make_private_dir
from executive.runtimes.logwriter import LogWriter, StreamLog

__all__ = ["STREAMS", "TaskOutput", "utf8_cut"]

STREAMS = ("stdout", "stderr")


def utf8_cut(buf: bytes, end: int) -> int:
    """Largest cut <= end that does not split a UTF-8 sequence (looks back at most 3 bytes)."""
    if end >= len(buf):
        end = len(buf)
    i = end
    # Walk back over continuation bytes to the lead byte of the last sequence.
    while i > 0 and end - i < 4 and (buf[i - 1] & 0xC0) == 0x80:
        i -= 1
    if i == 0 or end - i >= 4:
        return end
    lead = buf[i - 1]
    need = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
    have = end - (i - 1)
    return end if have >= need else i - 1


class TaskOutput:
    """The two logs of one task and the events that mirror them."""

    def __init__(
        self,
        task_id: int,
        task_dir: Path,
        *,
        writer: LogWriter,
        bus: EventBus,
        chunk_bytes: int,
        on_progress: Callable[[], None] | None = None,
        fresh: bool = True,
    ) -> None:
        """``fresh``: a new task (its logs are created at their first byte, logwriter.py); False for a
        task that may have logs already (re-attached after a restart), which go on from their sizes."""
        if not fresh:
            make_private_dir(task_dir)
        self.task_id = task_id
        self.writer = writer
        self.bus = bus
        self.chunk_bytes = chunk_bytes
        self.logs = {s: StreamLog(task_dir / f"{s}.log", fresh=fresh) for s in STREAMS}
        for lg in self.logs.values():
            lg.on_progress = on_progress

    @property
    def total(self) -> int:
        return sum(lg.size for lg in self.logs.values())

    @property
    def pending(self) -> int:
        """Bytes accepted but not yet in the files."""
        return sum(lg.pending for lg in self.logs.values())

    def sizes(self) -> dict[str, int]:
        return {s: lg.size for s, lg in self.logs.items()}

    def append(self, stream: str, data: bytes) -> None:
        """Accept ``data``: the log first (the truth), then events for every complete slice."""
        lg = self.logs[stream]
        start = lg.size - len(lg.tail)
        self.writer.append(lg, data)
        self._publish(stream, lg, lg.tail + data, start, final=False)

    def finish(self, stream: str) -> None:
        """No more data on ``stream``: publish whatever incomplete tail is left."""
        lg = self.logs[stream]
        if lg.tail:
            self._publish(stream, lg, lg.tail, lg.size - len(lg.tail), final=True)

    def close(self) -> None:
        """Close the files once everything appended is written."""
        for lg in self.logs.values():
            self.writer.close(lg)

    def _publish(self, stream: str, lg: StreamLog, buf: bytes, offset: int, *, final: bool) -> None:
        bus = self.bus
        step = self.chunk_bytes
        pos = 0
        n = len(buf)
        while pos < n:
            end = min(pos + step, n)
            cut = end if final else utf8_cut(buf, end)
            if cut <= pos:  # only an incomplete sequence is left: wait for more bytes
                break
            bus.publish_output(self.task_id, stream, offset + pos, buf[pos:cut])  # JSON made only if asked for
            pos = cut
        lg.tail = buf[pos:]
