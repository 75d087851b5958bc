"""Source files: between the names a `.sym` line table uses and the paths an editor opens.

A `.sym` names files as its producer wrote them: the assembler run by the adapter writes
absolute paths, a C toolchain may write ``prog.c`` relative to its build directory (and
a ``directory`` beside it).  VS Code sends and opens absolute paths.  :class:`SourceMap`
maps each line-table name to an absolute path (relative names resolve against the
program's directory) and back, falling back to the base name when an editor path is not
known exactly — the daemon's own file:line look-up accepts base names the same way.

:func:`nearest_line` moves a breakpoint from a line without code (a comment, a blank
line, a declaration) to the next line that has code, or the last one before it.
"""

from __future__ import annotations

import os

__all__ = ["SourceMap", "nearest_line"]


class SourceMap:
    """Line-table file names of one program ↔ absolute editor paths."""

    def __init__(self, sym_files: list[str], base_dir: str) -> None:
        self._to_path: dict[str, str] = {}
        for name in sym_files:
            path = name if os.path.isabs(name) else os.path.join(base_dir, name)
            self._to_path[name] = os.path.normpath(path)
        self._to_name = {path: name for name, path in self._to_path.items()}

    def path_of(self, sym_file: str | None) -> str | None:
        """The absolute path an editor can open for a line-table file name."""
        if sym_file is None:
            return None
        return self._to_path.get(sym_file) or sym_file

    def name_of(self, path: str) -> str:
        """The line-table name of an editor path (exact, then by base name, else the path)."""
        norm = os.path.normpath(path)
        if norm in self._to_name:
            return self._to_name[norm]
        base = os.path.basename(norm)
        same = [n for n in self._to_path if os.path.basename(n) == base]
        return same[0] if len(same) == 1 else path

    def source(self, sym_file: str | None) -> dict[str, str] | None:
        """A DAP ``Source`` for a line-table file name."""
        path = self.path_of(sym_file)
        if path is None:
            return None
        return {"name": os.path.basename(path), "path": path}


def nearest_line(lines: dict[int, list[int]], wanted: int) -> int | None:
    """The line a breakpoint on ``wanted`` binds to: itself if it has code, else the next
    line with code, else the last line with code before it; None when the file has none."""
    if wanted in lines:
        return wanted
    after = [n for n in lines if n > wanted]
    if after:
        return min(after)
    before = [n for n in lines if n < wanted]
    return max(before) if before else None
