"""A program's stdout/stderr mailboxes into its logs, with or without fan-out (spec hsx-executive §10.2).

Theory of operation
-------------------
Every program writes its output to ``svc:stdio.out``/``err`` (or the UART).  The
scheduler calls :func:`drain_stdio` whenever something is enqueued there, so the
logs (and the ``output`` events) always hold every byte at once.

* A plain descriptor (the default, mode RDWR) has one reader, the executive: each
  message is moved to the log and removed from the queue.
* A fan-out descriptor (HSX ``stdio_fanout``) may have other readers — programs
  that opened the target.  The log takes a *copy* of each new message (the task
  remembers the last seq it copied, ``VmTask.stdio_seen``) and the message stays
  queued until every other reader handle has passed it, as the mailbox fan-out
  rules say; with no other reader the queue empties at once.

:func:`rebind_stdio` switches a descriptor's mode.  Leaving fan-out drops what the
log already holds first, so no message is logged twice.
"""

from __future__ import annotations

from collections.abc import Callable

from executive.hsx.mailbox import MailboxManager
from executive.runtimes.vm_task import VmTask

__all__ = ["drain_stdio", "rebind_stdio"]

Write = Callable[[VmTask, str, bytes], None]  # (task, "stdout"|"stderr", bytes) -> its log


def drain_stdio(vt: VmTask, write: Write) -> None:
    """Copy every new stdout/stderr message of ``vt`` to its log; free what no reader still needs."""
    for key, stream in (("out", "stdout"), ("err", "stderr")):
        d = vt.stdio.get(key)
        if d is None:
            continue
        if not d.fanout:
            while d.queue:
                msg = d.queue.popleft()
                d.bytes_used -= msg.cost
                write(vt, stream, msg.data)
            continue
        seen = vt.stdio_seen.get(key, -1)
        for msg in d.queue:
            if msg.seq > seen:
                write(vt, stream, msg.data)
                seen = msg.seq
        vt.stdio_seen[key] = seen
        readers = [h.last_seq for h in d.handles if h.reader and h.tap is None and h.pid != vt.pid]
        low = min([seen, *readers])
        while d.queue and d.queue[0].seq <= low:
            d.bytes_used -= d.queue.popleft().cost


def rebind_stdio(mailboxes: MailboxManager, vt: VmTask, stream: str, mask: int, write: Write) -> bool:
    """Give one stdio descriptor (``in``, ``out`` or ``err``) of a live task the mode ``mask``.

    Returns:
        False when nothing changed (no such descriptor, the task has ended, or it had that mode).
    """
    d = vt.stdio.get(stream)
    if d is None or vt.finished or d.mode == mask:
        return False
    if d.fanout and stream in vt.stdio_seen:  # messages the log already holds must not be logged again
        while d.queue and d.queue[0].seq <= vt.stdio_seen[stream]:
            d.bytes_used -= d.queue.popleft().cost
    mailboxes.bind(vt.pid, f"svc:stdio.{stream}", 0, mask)
    if stream in ("out", "err"):
        vt.stdio_seen[stream] = d.next_seq - 1
        drain_stdio(vt, write)
    return True
