"""`executive logs`: a task's whole output, its last N lines, followed live, or every task's interleaved.

Output events carry byte offsets into each task's logs; :class:`SyncFollower` keeps the
next expected offset per (task, stream), fills a gap (a dropped event) from the log with
``task.output`` and trims an overlap, so what is printed always equals the log, as
cli/_follow.py does for the asynchronous `run`.  Followed output arrives as binary frames
(api/output_frames.py): the bytes go to stdout as they came from the task's pipe.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Callable
from typing import Any

from executive.api.output_frames import event_bytes
from executive.cli import exit_codes
from executive.cli._output import write_out
from executive.cli._term import PREFIX_COLOURS, colour, use_colour
from executive.cli.quick import QuickError, with_client
from executive.cli.quick_tasks import live_tasks, task_ref

__all__ = ["SliceReader", "SyncFollower", "add_logs", "subscribe_output", "tail"]

DEFAULT_TAIL = 10  # lines `logs -f` and `logs --all` start with, as tail(1)
MAX_LINES = 1_000_000
_BLOCK = 256 * 1024
_MAX_TAIL_BYTES = 16 * 1024 * 1024  # -n never reads more than this from the end of a log
_FILL_LIMIT = 4 * 1024 * 1024
_FILL_DEPTH = 2  # task.output slices on their way at once (the daemon builds two at a time per connection)
CATCH_UP_S = 0.2  # after a drop warning, this long without events: catch up from the logs

Sink = Callable[[int, str, bytes | memoryview], None]
_INVALID_PARAMS = -32602  # kernel/errors.py ErrorCode.INVALID_PARAMS


def _refuses_output(exc: Any) -> bool:
    """Whether an error is a daemon older than binary output refusing the ``output`` parameter."""
    return bool(exc.code == _INVALID_PARAMS and "output" in exc.message + str(exc.data))


def subscribe_output(client: Any, **params: Any) -> bool:
    """``events.subscribe`` with output as binary frames (as JSON from a daemon older than that option).

    Returns whether the daemon took binary frames.
    """
    from executive.api.rpc_errors import RpcError

    try:
        client.call("events.subscribe", output="binary", **params)
    except RpcError as exc:
        if not _refuses_output(exc):
            raise
        client.call("events.subscribe", **params)
        return False
    return True


class SliceReader:
    """``task.output`` calls that ask for the bytes in a binary frame (as JSON from a daemon older than that).

    :meth:`begin` sends a request and :meth:`end` collects it, so a follower keeps the next
    slice on its way while it writes the last one.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.binary: bool | None = None  # unknown until the first slice (or the subscription) tells

    def __call__(self, **params: Any) -> tuple[dict[str, Any], bytes | memoryview]:
        """The reply of one ``task.output`` call and the slice's bytes."""
        if self.binary is not False:
            from executive.api.rpc_errors import RpcError

            try:
                r = self.client.call("task.output", output="binary", **params)
            except RpcError as exc:
                if not _refuses_output(exc):
                    raise
                self.binary = False
            else:
                self.binary = True
                return r, event_bytes(r)
        r = self.client.call("task.output", **params)
        return r, event_bytes(r)

    def begin(self, **params: Any) -> Any:
        """Ask for one slice; returns a handle for :meth:`end`."""
        if self.binary is None:  # the first call says whether binary slices work: not sent ahead
            return self(**params)
        if self.binary:
            params["output"] = "binary"
        return self.client.send_request("task.output", **params)

    def end(self, handle: Any) -> tuple[dict[str, Any], bytes | memoryview]:
        """The reply and bytes of a slice asked for with :meth:`begin`."""
        if isinstance(handle, tuple):
            return handle
        r = self.client.wait_reply(handle)
        return r, event_bytes(r)


def tail(read: SliceReader, task: int, stream: str, size: int, lines: int) -> tuple[int, bytes]:
    """Where the last ``lines`` lines of the first ``size`` bytes of a log start, and those bytes."""
    if lines <= 0 or size <= 0:
        return size, b""
    want = _BLOCK
    while True:
        start = max(0, size - want)
        data = b""
        at = start
        while at < size:
            r, piece = read(task=task, stream=stream, offset=at, limit=min(size - at, _FILL_LIMIT))
            if not piece:
                break
            data += piece
            at = r["next_offset"]
        body = data[:-1] if data.endswith(b"\n") else data  # a final newline ends the last line, it starts none
        count = body.count(b"\n")
        if count >= lines:
            cut = len(body)
            for _ in range(lines):
                cut = body.rindex(b"\n", 0, cut)
            return start + cut + 1, data[cut + 1 :]
        if start == 0 or want >= _MAX_TAIL_BYTES:
            return start, data
        want *= 4


def _readable(fd: int | None) -> bool:
    if fd is None:
        return False
    import select

    return bool(select.select([fd], [], [], 0)[0])


class SyncFollower:
    """Prints the logs of one or more tasks from chosen offsets on, without gaps or duplicates."""

    def __init__(self, client: Any, sink: Sink) -> None:
        self.client = client
        self.read = SliceReader(client)
        self.sink = sink
        self.next: dict[tuple[int, str], int] = {}
        self.behind = False  # a drop warning came: gaps are filled as output shows them, or after a quiet spell

    def next_event(self, wake: int | None = None) -> dict[str, Any] | None:
        """The next event of the client; None after catching up from the log (see below).

        After a drop warning the next output event of each stream shows exactly where its gap
        is (:meth:`on_output` fills it); reading every log to its end at once would fetch
        bytes whose events are still on their way and then throw those away.  If no event
        comes for ``CATCH_UP_S`` (the output stopped right after the drop), every stream is
        caught up from the log.  ``wake``: a descriptor that ends the wait early (None is returned).
        """
        ev: dict[str, Any] | None = self.client.next_event(CATCH_UP_S if self.behind else None, wake)
        if ev is None:
            if self.behind and not _readable(wake):
                self.behind = False
                self.catch_up()
            return None
        if ev["type"] == "warning":
            self.behind = True
        return ev

    def fill(self, task: int, stream: str, upto: int | None = None) -> None:
        """Print the log of (task, stream) from our offset up to ``upto`` (None: to its current end).

        Up to ``_FILL_DEPTH`` slices are asked for at once: the daemon reads the next one
        while this writes the last (the daemon serves two at a time per connection).
        """
        key = (task, stream)
        while True:
            start = self.next[key]
            self._fill_pass(task, stream, upto)
            if upto is None or self.next[key] >= upto or self.next[key] == start:
                return

    def _fill_pass(self, task: int, stream: str, upto: int | None) -> None:
        """Read ahead from our offset until a slice comes back short (the end of the log) or ``upto``."""
        key = (task, stream)
        end = upto  # None: the log's size, which the first reply tells
        asked = self.next[key]
        pending: collections.deque[tuple[Any, int]] = collections.deque()  # (handle, end of the slice asked for)
        done = False
        while True:
            while not done and len(pending) < _FILL_DEPTH and (asked < end if end is not None else not pending):
                limit = _FILL_LIMIT if end is None else min(end - asked, _FILL_LIMIT)
                pending.append((self.read.begin(task=task, stream=stream, offset=asked, limit=limit), asked + limit))
                asked += limit
            if not pending:
                return
            handle, slice_end = pending.popleft()
            r, data = self.read.end(handle)
            if done:
                continue  # asked for before an earlier slice came back short: collected, not printed
            if upto is None:
                end = r["size"]  # to the end of what the log holds now
            if data:
                self.sink(task, stream, data)
                self.next[key] = r["next_offset"]
            if r["next_offset"] < slice_end:
                done = True  # the log ends here (for now): the slices after it are empty

    def start(self, info: dict[str, Any], stream: str, args: argparse.Namespace, default_tail: int | None) -> None:
        """Begin ``stream`` of a task at --offset, at 0 (--from-start), or at its last N lines (printed here)."""
        key = (int(info["id"]), stream)
        lines = args.lines if args.lines is not None else default_tail
        if args.offset is not None or args.from_start or lines is None:
            self.next[key] = int(args.offset or 0)
            self.fill(*key)
            return
        size = (info.get("output_bytes") or {}).get(stream, 0)
        at, data = tail(self.read, key[0], stream, size, lines)
        if data:
            self.sink(key[0], stream, data)
        self.next[key] = at + len(data)

    def on_output(self, task: int, data: dict[str, Any]) -> None:
        key = (task, data["stream"])
        if key not in self.next:
            return
        off = data["offset"]
        chunk = event_bytes(data)
        if off > self.next[key]:
            self.fill(task, key[1], off)
        if off + len(chunk) <= self.next[key]:
            return
        skip = self.next[key] - off
        self.sink(task, key[1], chunk[skip:] if skip > 0 else chunk)
        self.next[key] = off + len(chunk)

    def catch_up(self, task: int | None = None) -> None:
        for t, s in list(self.next):
            if task is None or t == task:
                self.fill(t, s)


def add_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", nargs="?", help="Task id or name (not with --all).")
    p.add_argument("-f", "--follow", action="store_true", help="Keep printing new output (until the task ends).")
    p.add_argument(
        "-n",
        "--lines",
        type=int,
        metavar="N",
        help=f"Only the last N lines of each stream (-f and --all start with the last {DEFAULT_TAIL}).",
    )
    p.add_argument("--from-start", action="store_true", help="With -f or --all: replay the whole log first.")
    p.add_argument("--offset", type=int, help="Start at this byte offset (one task).")
    p.add_argument(
        "--stream", choices=("stdout", "stderr", "both"), default="both", help="Which stream (default both)."
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="Every task's output, each line prefixed with its task's name ('|' stdout, '!' stderr).",
    )
    p.set_defaults(run=_logs)


def _check(args: argparse.Namespace) -> None:
    if args.all and args.task:
        raise QuickError("give a task or --all, not both", exit_codes.USAGE)
    if not args.all and not args.task:
        raise QuickError("`executive logs` needs a task id or name (or --all)", exit_codes.USAGE)
    if args.lines is not None and not 0 <= args.lines <= MAX_LINES:
        raise QuickError(f"-n must be between 0 and {MAX_LINES:,}", exit_codes.USAGE)
    if args.offset is not None and args.offset < 0:
        raise QuickError("--offset must be >= 0", exit_codes.USAGE)
    if args.offset is not None and (args.lines is not None or args.from_start or args.all):
        raise QuickError("--offset starts at a byte; it goes with neither -n, --from-start nor --all", exit_codes.USAGE)
    if args.from_start and args.lines is not None:
        raise QuickError("--from-start replays everything; it does not go with -n", exit_codes.USAGE)


def _logs(args: argparse.Namespace) -> int:
    _check(args)
    streams = ("stdout", "stderr") if args.stream == "both" else (args.stream,)
    if args.all:
        return with_client(args.home, lambda client: _all(client, args, streams))

    def go(client: Any) -> int:
        # The cursor is taken before task.info, so an end in between is replayed.
        cursor = client.call("daemon.health")["last_seq"] if args.follow else 0
        info = client.call("task.info", task=task_ref(args.task))
        tid = info["id"]
        follower = SyncFollower(client, lambda _t, s, data: write_out(s, data))
        following = args.follow and info["state"] != "ended"
        if following:
            follower.read.binary = subscribe_output(
                client, tasks=[tid], types=["output", "task_state"], since_seq=cursor
            )
        for s in streams:
            follower.start(info, s, args, DEFAULT_TAIL if args.follow else None)
        while following:
            ev = follower.next_event()
            if ev is None:
                continue
            if ev["type"] == "output" and ev["pid"] == tid:
                follower.on_output(tid, ev["data"])
            elif ev["type"] == "task_state" and ev["pid"] == tid and ev["data"].get("to") == "ended":
                follower.catch_up()
                break
        return 0

    return with_client(args.home, go)


class _Prefixer:
    """Writes whole lines with a coloured ``name |`` prefix; keeps a partial last line until it ends."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.partial: dict[tuple[int, str], bytes] = {}
        self.colours = use_colour(sys.stdout)
        self.width = 0

    def prefix(self, task: int, stream: str) -> bytes:
        name = self.names.get(task, str(task))[:24]
        self.width = max(self.width, len(name))
        tag = f"{name:<{self.width}} {'|' if stream == 'stdout' else '!'} "
        return colour(tag, PREFIX_COLOURS[task % len(PREFIX_COLOURS)], self.colours).encode()

    def __call__(self, task: int, stream: str, chunk: bytes | memoryview) -> None:
        key = (task, stream)
        data = self.partial.pop(key, b"") + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        if rest:
            self.partial[key] = rest
        if lines:
            tag = self.prefix(task, stream)
            write_out("stdout", b"".join(tag + line + b"\n" for line in lines))

    def flush(self, task: int | None = None) -> None:
        for key in [k for k in self.partial if task is None or k[0] == task]:
            write_out("stdout", self.prefix(*key) + self.partial.pop(key) + b"\n")


def _all(client: Any, args: argparse.Namespace, streams: tuple[str, ...]) -> int:
    cursor = client.call("daemon.health")["last_seq"]
    rows = live_tasks(client)  # every live task and, without -f, the newest 20 ended ones (one page)
    if not args.follow:
        rows += client.call("task.list", state="ended", limit=20)["tasks"]
        rows.sort(key=lambda t: t["id"])
    else:
        subscribe_output(client, types=["output", "task_state"], since_seq=cursor)
    names = {t["id"]: t["name"] for t in rows}
    sink = _Prefixer(names)
    follower = SyncFollower(client, sink)
    for t in rows:
        info = client.call("task.info", task=t["id"])
        for s in streams:
            follower.start(info, s, args, DEFAULT_TAIL)
        sink.flush(t["id"])
    while args.follow:
        ev = follower.next_event()
        if ev is None:
            continue
        tid = ev.get("pid")
        if ev["type"] == "output" and tid is not None:
            if tid not in names:  # a task started after we began: all of its output is new
                names[tid] = client.call("task.info", task=tid)["name"]
                for s in streams:
                    follower.next[(tid, s)] = 0
            follower.on_output(tid, ev["data"])
        elif ev["type"] == "task_state" and tid in names and ev["data"].get("to") == "ended":
            follower.catch_up(tid)
            sink.flush(tid)
    return 0
