"""`executive top`'s screen loop: redraw in place on a terminal (q quits), plain repeated tables elsewhere."""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable
from typing import Any

from executive.cli._term import terminal_width

__all__ = ["run_top"]

_HOME_CLEAR = "\x1b[H\x1b[J"
_ALT_ON, _ALT_OFF = "\x1b[?1049h\x1b[?25l", "\x1b[?25h\x1b[?1049l"


def _wait_for_quit(fd: int | None, seconds: float) -> bool:
    """Sleep ``seconds``, or less when q is typed on ``fd``; True when the user quit."""
    if fd is None:
        select.select([], [], [], seconds)
        return False
    ready, _, _ = select.select([fd], [], [], seconds)
    if not ready:
        return False
    key = os.read(fd, 32)
    return not key or b"q" in key.lower() or b"\x03" in key


def run_top(client: Any, frame: Callable[[Any, int | None], list[str]], interval: float, iterations: int) -> int:
    """Show ``frame(client, width)`` every ``interval`` seconds, ``iterations`` times (0: until quit)."""
    try:
        return _loop(client, frame, interval, iterations)
    except KeyboardInterrupt:  # Ctrl-C is how one leaves top
        return 0


def _loop(client: Any, frame: Callable[[Any, int | None], list[str]], interval: float, iterations: int) -> int:
    out = sys.stdout
    interactive = out.isatty()
    if not interactive:
        n = 0
        while True:
            out.write("\n".join(frame(client, None)) + "\n\n")
            out.flush()
            n += 1
            if iterations and n >= iterations:
                return 0
            _wait_for_quit(None, interval)
    import termios
    import tty

    fd: int | None = sys.stdin.fileno() if sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    try:
        if fd is not None:
            tty.setcbreak(fd)
        out.write(_ALT_ON)
        n = 0
        while True:
            height = os.get_terminal_size(out.fileno()).lines or int(os.environ.get("LINES") or 24)
            lines = frame(client, terminal_width(out))[: max(1, height - 1)]
            out.write(_HOME_CLEAR + "\n".join(lines) + "\n(q quits)")
            out.flush()
            n += 1
            if (iterations and n >= iterations) or _wait_for_quit(fd, interval):
                return 0
    finally:
        out.write(_ALT_OFF)
        out.flush()
        if fd is not None and saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
