"""Parse unified diffs (git and plain) into files and hunks, checking every count.

Theory of operation
-------------------
A patch is a preamble (ignored: commit messages, agent chatter) followed by
file sections.  A section starts with ``diff --git a/X b/Y`` (git) or directly
with ``--- X`` / ``+++ Y`` (plain ``diff -u``).  Git sections may carry
extended headers — ``old mode``/``new mode``, ``new file mode``,
``deleted file mode``, ``rename from/to``, ``copy from/to``,
``similarity index``, ``index`` — and either hunks, or a binary marker
(``Binary files … differ`` or a ``GIT binary patch`` block).

A hunk ``@@ -a,b +c,d @@`` must hold exactly ``b`` old lines (context and
``-``) and ``d`` new lines (context and ``+``); ``\\ No newline at end of
file`` counts for neither.  A short or overlong hunk, hunks out of order, a
``---`` without ``+++``, or a new file whose hunk does not start at ``-0,0``
are errors that name the 1-based line.  The parser does not apply anything:
``git apply`` does, after the engine has checked the paths
(``agents/patches.py``).

Paths: git quotes unusual names C-style (``"a/t\\303\\251st"``); they are
unquoted.  The ``a/``/``b/`` prefixes are stripped when every path has them
(``strip = 1``), otherwise paths are taken as written (``strip = 0``) and
``git apply -p0`` is used; a patch that mixes both is refused.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from executive.agents.errors import PatchInvalidError

__all__ = ["DEV_NULL", "FileDiff", "Hunk", "Patch", "parse_patch"]

DEV_NULL = "/dev/null"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_MODE = re.compile(r"^[0-7]{6}$")
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


@dataclasses.dataclass(slots=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    added: int = 0
    removed: int = 0
    line: int = 0  # 1-based line of the @@ header in the patch
    new_lines: list[str] = dataclasses.field(default_factory=list)  # context and added lines (symlink targets, checks)


@dataclasses.dataclass(slots=True)
class FileDiff:
    old_path: str | None  # None: /dev/null (a new file)
    new_path: str | None  # None: /dev/null (a deleted file)
    status: str = "modified"  # modified | added | deleted | renamed | copied | mode
    old_mode: str | None = None
    new_mode: str | None = None
    similarity: int | None = None
    binary: bool = False
    hunks: list[Hunk] = dataclasses.field(default_factory=list)
    line: int = 0  # 1-based line where the section starts

    @property
    def paths(self) -> list[str]:
        """Every path this section touches (old and new, without duplicates)."""
        return list(dict.fromkeys(p for p in (self.old_path, self.new_path) if p is not None))

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        return sum(h.removed for h in self.hunks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_path": self.old_path,
            "new_path": self.new_path,
            "status": self.status,
            "old_mode": self.old_mode,
            "new_mode": self.new_mode,
            "binary": self.binary,
            "hunks": len(self.hunks),
            "added": self.added,
            "removed": self.removed,
        }


@dataclasses.dataclass(slots=True)
class Patch:
    files: list[FileDiff]
    strip: int  # the -p level for git apply (1: a/ b/ prefixes, 0: plain paths)

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(p for f in self.files for p in f.paths))

    @property
    def binary(self) -> bool:
        return any(f.binary for f in self.files)


def unquote(path: str) -> str:
    """Undo git's C-style quoting (``"a/x\\303\\251"`` -> ``a/xé``); unquoted paths pass through."""
    if len(path) < 2 or not (path.startswith('"') and path.endswith('"')):
        return path
    body = path[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif len(body) >= i + 4 and all(c in "01234567" for c in body[i + 1 : i + 4]):
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            raise ValueError(f"bad escape in quoted path {path!r}")
    return out.decode("utf-8", "surrogateescape")


def _split_git_header(rest: str) -> tuple[str, str] | None:
    """``a/X b/Y`` of a ``diff --git`` line; for unquoted names with spaces, the split where X == Y."""
    if rest.startswith('"'):
        end = _closing_quote(rest)
        first, tail = rest[: end + 1], rest[end + 2 :]
        return unquote(first), unquote(tail)
    if rest.endswith('"'):
        start = rest.rfind(' "')
        return rest[:start], unquote(rest[start + 1 :])
    parts = rest.split(" ")
    for i in range(1, len(parts)):
        a, b = " ".join(parts[:i]), " ".join(parts[i:])
        if a[2:] == b[2:]:
            return a, b
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def _closing_quote(s: str) -> int:
    i = 1
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == '"':
            return i
        i += 1
    raise ValueError("unterminated quoted path")


def _file_header_path(value: str) -> str:
    """The path of a ``---``/``+++`` line: unquoted, without a trailing tab + timestamp (plain diff)."""
    if value.startswith('"'):
        return unquote(value)
    return value.split("\t", 1)[0].rstrip("\r")


class _Parser:
    def __init__(self, text: str, max_files: int) -> None:
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.max_files = max_files
        self.i = 0
        self.files: list[FileDiff] = []
        self.prefixed: set[bool] = set()  # whether each header path carried a/ or b/

    def fail(self, message: str, line: int | None = None) -> PatchInvalidError:
        return PatchInvalidError(message, line=line if line is not None else self.i + 1)

    def parse(self) -> Patch:
        n = len(self.lines)
        while self.i < n:
            line = self.lines[self.i]
            if line.startswith("diff --git "):
                self._git_section()
            elif line.startswith("--- ") and self.i + 1 < n and self.lines[self.i + 1].startswith("+++ "):
                self._plain_section()
            elif line.startswith("@@ ") and self.files:
                raise self.fail("a hunk outside a file section (its counts do not match the previous hunk?)")
            else:
                self.i += 1  # preamble or trailing chatter
        if not self.files:
            raise PatchInvalidError("no file changes found (expected `diff --git` or `---`/`+++` headers)", line=None)
        if len(self.prefixed) > 1:
            raise PatchInvalidError(
                "some paths have a/ b/ prefixes and some do not; produce the patch with one tool", line=None
            )
        return Patch(self.files, strip=1 if self.prefixed == {True} or not self.prefixed else 0)

    def _new_file(self, fd: FileDiff) -> None:
        if len(self.files) >= self.max_files:
            raise self.fail(f"the patch touches more than {self.max_files} files (the limit)")
        self.files.append(fd)

    def _strip(self, path: str, prefix: str) -> str:
        if path == DEV_NULL:
            return path
        has = path.startswith(prefix)
        self.prefixed.add(has)
        return path[len(prefix) :] if has else path

    def _git_section(self) -> None:
        start = self.i + 1
        try:
            pair = _split_git_header(self.lines[self.i][len("diff --git ") :])
        except ValueError as exc:
            raise self.fail(str(exc)) from None
        # Unquoted names with spaces that differ (a rename) are ambiguous here; `rename from/to` settles them.
        fd = (
            FileDiff(None, None, line=start)
            if pair is None
            else FileDiff(self._strip(pair[0], "a/"), self._strip(pair[1], "b/"), line=start)
        )
        self._new_file(fd)
        self.i += 1
        self._git_headers(fd)
        if fd.old_path is None and fd.new_path is None:
            raise PatchInvalidError("cannot read the paths of this `diff --git` section", line=start)

    def _git_headers(self, fd: FileDiff) -> None:
        n = len(self.lines)
        while self.i < n:
            line = self.lines[self.i].rstrip("\r")
            if line.startswith("old mode "):
                fd.old_mode = self._mode(line[9:])
            elif line.startswith("new mode "):
                fd.new_mode = self._mode(line[9:])
                fd.status = "mode" if fd.status == "modified" else fd.status
            elif line.startswith("new file mode "):
                fd.new_mode, fd.status, fd.old_path = self._mode(line[14:]), "added", None
            elif line.startswith("deleted file mode "):
                fd.old_mode, fd.status, fd.new_path = self._mode(line[18:]), "deleted", None
            elif line.startswith(("rename from ", "copy from ")):
                fd.old_path = self._unq(line.split(" ", 2)[2])
                fd.status = "renamed" if line.startswith("rename") else "copied"
            elif line.startswith(("rename to ", "copy to ")):
                fd.new_path = self._unq(line.split(" ", 2)[2])
            elif line.startswith(("similarity index ", "dissimilarity index ")):
                value = line.rsplit(" ", 1)[1].rstrip("%")
                if not value.isdigit():
                    raise self.fail(f"{line[:80]!r} has no percentage (expected e.g. `similarity index 90%`)")
                fd.similarity = int(value)
            elif line.startswith("index "):
                parts = line.split()
                if len(parts) == 3:
                    fd.old_mode = fd.old_mode or self._mode(parts[2])
            elif line.startswith("Binary files ") and line.endswith(" differ"):
                fd.binary = True
            elif line == "GIT binary patch":
                fd.binary = True
                self._skip_binary_block()
                continue
            elif line.startswith("--- "):
                if self.i + 1 >= n or not self.lines[self.i + 1].startswith("+++ "):
                    raise self.fail("a `---` line must be followed by a `+++` line")
                old = self._strip(_file_header_path(line[4:]), "a/")
                new = self._strip(_file_header_path(self.lines[self.i + 1][4:]), "b/")
                if old != DEV_NULL and fd.status not in ("renamed", "copied"):
                    fd.old_path = old
                if new != DEV_NULL and fd.status not in ("renamed", "copied"):
                    fd.new_path = new
                self.i += 2
                self._hunks(fd)
                return
            elif line.startswith("diff --git ") or line.startswith("@@ "):
                if line.startswith("@@ "):
                    raise self.fail("a hunk without `---`/`+++` file headers")
                return
            else:
                return  # end of this section's headers (a pure rename/mode change has no hunks)
            self.i += 1

    def _plain_section(self) -> None:
        start = self.i + 1
        old = _file_header_path(self.lines[self.i][4:])
        new = _file_header_path(self.lines[self.i + 1][4:])
        if old == DEV_NULL and new == DEV_NULL:
            raise self.fail("both sides are /dev/null")
        fd = FileDiff(
            None if old == DEV_NULL else self._strip(old, "a/"),
            None if new == DEV_NULL else self._strip(new, "b/"),
            line=start,
        )
        fd.status = "added" if fd.old_path is None else "deleted" if fd.new_path is None else "modified"
        if fd.status == "modified" and fd.old_path != fd.new_path:
            # A plain diff cannot rename: `diff -u f.orig f` patches ONE file, which git apply picks like this —
            # the +++ name, unless the --- name is a shorter prefix of it (`--- f` / `+++ f.new` patches f).
            old_p, new_p = fd.old_path or "", fd.new_path or ""
            name = old_p if len(old_p) < len(new_p) and new_p.startswith(old_p) else new_p
            fd.old_path = fd.new_path = name
        self._new_file(fd)
        self.i += 2
        self._hunks(fd)

    def _unq(self, value: str) -> str:
        try:
            return unquote(value)
        except ValueError as exc:
            raise self.fail(str(exc)) from None

    def _mode(self, value: str) -> str:
        value = value.strip()
        if not _MODE.match(value):
            raise self.fail(f"{value!r} is not a file mode (six octal digits, e.g. 100644)")
        return value

    def _skip_binary_block(self) -> None:
        self.i += 1
        n = len(self.lines)
        while self.i < n and not self.lines[self.i].startswith("diff --git "):
            self.i += 1

    def _hunks(self, fd: FileDiff) -> None:
        n = len(self.lines)
        last_end = 0
        while self.i < n and self.lines[self.i].startswith("@@"):
            header = self.lines[self.i].rstrip("\r")
            m = _HUNK.match(header)
            if not m:
                raise self.fail(f"malformed hunk header {header[:80]!r} (expected `@@ -a,b +c,d @@`)")
            h = Hunk(int(m.group(1)), int(m.group(2) or 1), int(m.group(3)), int(m.group(4) or 1), line=self.i + 1)
            if fd.status == "added" and (h.old_start, h.old_count) != (0, 0):
                raise self.fail(f"a new file's hunk must start with -0,0, not -{h.old_start},{h.old_count}")
            if fd.status == "deleted" and (h.new_start, h.new_count) != (0, 0):
                raise self.fail(f"a deleted file's hunk must end with +0,0, not +{h.new_start},{h.new_count}")
            if h.old_start < last_end:
                raise self.fail(
                    f"hunks overlap or are out of order (this one starts at old line {h.old_start},"
                    f" the previous ended at {last_end})"
                )
            self.i += 1
            self._hunk_body(h)
            last_end = h.old_start + h.old_count
            fd.hunks.append(h)
        if not fd.hunks and not fd.binary and fd.status in ("modified",):
            raise PatchInvalidError(
                f"the section for {fd.new_path or fd.old_path} has file headers but no hunks", line=fd.line
            )

    def _hunk_body(self, h: Hunk) -> None:
        old_left, new_left = h.old_count, h.new_count
        n = len(self.lines)
        while old_left > 0 or new_left > 0:
            if self.i >= n:
                raise self.fail(
                    f"the hunk at line {h.line} ends early: {old_left} old and {new_left} new lines missing",
                    line=h.line,
                )
            line = self.lines[self.i]
            tag = line[:1]
            if tag == " " or line == "" or line == "\r":
                old_left -= 1
                new_left -= 1
                h.new_lines.append(line[1:])
            elif tag == "-":
                old_left -= 1
                h.removed += 1
            elif tag == "+":
                new_left -= 1
                h.added += 1
                h.new_lines.append(line[1:])
            elif tag == "\\":
                pass  # "\ No newline at end of file"
            else:
                raise self.fail(
                    f"the hunk at line {h.line} says -{h.old_start},{h.old_count} +{h.new_start},{h.new_count} "
                    f"but {old_left} old / {new_left} new lines are still missing here"
                )
            if old_left < 0 or new_left < 0:
                raise self.fail(
                    f"the hunk at line {h.line} has more lines than its header -{h.old_count} +{h.new_count} says"
                )
            self.i += 1
        while self.i < n and self.lines[self.i].startswith("\\"):
            self.i += 1
        if self.i < n:
            nxt = self.lines[self.i]
            starts_section = nxt.startswith("--- ") and self.i + 1 < n and self.lines[self.i + 1].startswith("+++ ")
            if (
                nxt[:1] in ("+", "-") and not starts_section and nxt.rstrip("\r") != "-- "
            ):  # "-- " opens a mail signature
                raise self.fail(
                    f"the hunk at line {h.line} has more lines than its header -{h.old_start},{h.old_count} "
                    f"+{h.new_start},{h.new_count} says"
                )


def parse_patch(text: str, *, max_files: int = 2000) -> Patch:
    """Parse ``text`` into a :class:`Patch`.

    Raises:
        PatchInvalidError: malformed; ``data.line`` is the 1-based line of the problem.
    """
    if "\0" in text:
        raise PatchInvalidError("the text contains NUL bytes (binary content must use `GIT binary patch`)", line=None)
    return _Parser(text, max_files).parse()
