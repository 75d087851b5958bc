"""Plain terminal output for the quick commands: tables that never wrap, colour only where it belongs.

Rules (README "Terminal output"): on a terminal a table is fitted to its width, the
column that gives way is cut with "…", every line is one row; into a pipe or a file
nothing is cut or wrapped, so ``grep`` sees whole rows.  Newlines inside a cell are
shown as "⏎" (a row never spans two lines).  Colour only on a terminal, never with
``NO_COLOR`` set or ``TERM=dumb``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["Cell", "clean", "colour", "cut", "render_table", "terminal_width", "use_colour"]

NEWLINE = "⏎"
ELLIPSIS = "…"

_CODES = {
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "dim": "2",
    "bold": "1",
}
PREFIX_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red")

Cell = str | tuple[str, str]  # text, or (text, colour name)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width(stream: TextIO = sys.stdout) -> int | None:
    """The width to fit output to, or None when ``stream`` is not a terminal (nothing is cut then)."""
    if not _isatty(stream):
        return None
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError):
        return 80


def use_colour(stream: TextIO = sys.stdout) -> bool:
    return _isatty(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def colour(text: str, name: str, on: bool) -> str:
    code = _CODES.get(name)
    return f"\x1b[{code}m{text}\x1b[0m" if on and code else text


def clean(text: str) -> str:
    """One line: newlines become "⏎", tabs a space, other control characters "?"."""
    text = text.replace("\r\n", NEWLINE).replace("\n", NEWLINE).replace("\t", " ")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "?" for c in text)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, ending with "…" when something was cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def _text(cell: Cell) -> str:
    return clean(cell if isinstance(cell, str) else cell[0])


def render_table(
    columns: Sequence[str], rows: Sequence[Sequence[Cell]], *, width: int | None, colours: bool, gap: int = 2
) -> list[str]:
    """The lines of a borderless table with a bold header.

    The last column gives way first on a narrow terminal (cut with "…", at least 10
    characters kept); if the other columns alone are wider than ``width``, each
    line is cut at ``width``.  ``width=None`` cuts nothing.
    """
    texts = [[_text(c) for c in row] for row in rows]
    natural = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(columns)]
    widths = list(natural)
    if width is not None:
        fixed = sum(natural[:-1]) + gap * (len(columns) - 1)
        widths[-1] = max(min(natural[-1], width - fixed), min(10, natural[-1]))
    lines = []
    for row_cells, row in [(None, list(columns)), *zip(rows, texts, strict=True)]:
        parts = []
        for i, text in enumerate(row):
            last = i == len(row) - 1
            shown = cut(text, widths[i])
            padded = shown if last else shown.ljust(widths[i])
            if row_cells is None:
                parts.append(colour(padded, "bold", colours))
            else:
                cell = row_cells[i]
                parts.append(colour(padded, cell[1], colours) if isinstance(cell, tuple) else padded)
        line = (" " * gap).join(parts).rstrip()
        if width is not None and sum(widths) + gap * (len(widths) - 1) > width:
            plain = (" " * gap).join(cut(t, w).ljust(w) for t, w in zip(row, widths, strict=True)).rstrip()
            line = colour(cut(plain, width), "bold", colours) if row_cells is None else cut(plain, width)
        lines.append(line)
    return lines
