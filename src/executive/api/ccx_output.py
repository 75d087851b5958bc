"""Log bytes to cc_executor ``process.output`` params, and its output heuristics, sans-I/O (spec §2.2, §3).

Theory of operation
-------------------
The session reads a task's logs by byte offset and feeds each slice to the
:class:`LineFramer` of that stream, which answers the ``process.output``
params to send and how many bytes it consumed; the session advances its
offset by exactly that much, so a line that is not complete yet is simply
read again next time (nothing is held here but a counter).

The reference sends one notification per line, which caps it at ≈20 000
lines/s (spec §3).  We send *whole lines* batched up to ``piece_bytes``
(64 KiB) per notification: a client that joins the ``data`` fields — the
bundled ``execute_command`` does exactly that — gets the same text, and
short lines no longer cost a frame each.  A line longer than ``piece_bytes``
is cut into pieces, as the reference does: ``chunk_index`` counts from 0,
``truncated`` is true on every piece but the line's last, ``total_chunks``
is the number of pieces when the line's end was already read (always on
the last piece), else null.  Cuts never split a UTF-8 sequence; bytes that
are not UTF-8 are replaced by U+FFFD in ``data`` (the log keeps them exact:
``executive logs``).

:class:`OutputSignals` reproduces the reference's heuristic notifications
(``task.early_completion``, ``error.token_limit_exceeded``,
``error.rate_limit_exceeded``) over stdout, each at most once per process,
with its token-limit patterns matched as the regular expressions they are
(the reference tests them as substrings, so only "truncated" ever matched).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["PIECE_BYTES", "LineFramer", "OutputSignals", "utf8_boundary"]

PIECE_BYTES = 64 * 1024  # the reference's MAX_CHUNK_SIZE; a frame stays far below clients' 1 MiB default

COMPLETION_MARKERS = (
    "Task completed successfully",
    "I've completed",
    "I have completed",
    "The task is complete",
    "Process complete",
    "Done!",
    "Finished!",
    "Operation complete",
    "All done",
)
_MARKERS_LOWER = tuple(m.lower() for m in COMPLETION_MARKERS)
_FILE_CREATED = re.compile(
    r"(?:Created?|Wrote|Generated?|Saved?)\s+(?:file|script|program):\s*([^\s]+(?:\.[a-zA-Z]+)?)"
)
_TOKEN_LIMIT = re.compile(r"token.*limit|context.*window|maximum.*length|too.*long|truncated", re.IGNORECASE)
# Every marker and pattern contains one of these characters (complete->p, done->d/!, token->k, window->w,
# length/long->g, truncated->u, "file:"->":", Claude->C, 429->4); text with none of them cannot match.
_NOT_KEY_CHARS = bytes(range(256)).translate(None, b"pP!dDkKwWgGuU:C4")
_TOKEN_WORDS = ("token", "context", "maximum", "too", "truncated")  # literals each _TOKEN_LIMIT branch needs
_FILE_WORDS = ("Create", "Wrote", "Generate", "Save")  # ... and each _FILE_CREATED branch
_TOKEN_NUMBER = re.compile(r"(\d+)(?:\s+(?:output\s+)?token|token|context)")
_MAXIMUM_NUMBER = re.compile(r"maximum.*?(\d+)")
_RESET_AT = re.compile(r"resets at (\d+)")
_DEFAULT_TOKEN_LIMIT = 32000


def utf8_boundary(buf: bytes, end: int) -> int:
    """The largest cut <= end (and > 0 when end > 0) that does not split a UTF-8 sequence."""
    i = end
    while i > 0 and end - i < 3 and (buf[i - 1] & 0xC0) == 0x80:
        i -= 1
    if i == 0:
        return end
    lead = buf[i - 1]
    need = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
    if end - (i - 1) >= need:
        return end
    return i - 1


def _params(stream: str, raw: bytes, truncated: bool, index: int | None, total: int | None) -> dict[str, Any]:
    return {
        "type": stream,
        "data": raw.decode("utf-8", "replace"),
        "truncated": truncated,
        "chunk_index": index,
        "total_chunks": total,
    }


class LineFramer:
    """Cuts one stream's bytes into ``process.output`` params (see the module docstring)."""

    def __init__(self, stream: str, piece_bytes: int = PIECE_BYTES) -> None:
        self.stream = stream
        self.piece_bytes = piece_bytes
        self.line_pieces = 0  # pieces already sent of the (long) line in progress; 0 = at a line start

    def feed(self, data: bytes, *, final: bool) -> tuple[list[dict[str, Any]], int]:
        """Frame ``data`` (the log from the consumed offset on).

        Args:
            data: bytes read from the log at the offset this framer consumed up to.
            final: no byte will ever follow ``data`` in this log (the task ended
                and ``data`` reaches the end): an unterminated last line is sent.

        Returns:
            The params to send, in order, and how many bytes of ``data`` they cover;
            the caller reads again from ``offset + consumed`` next time.
        """
        out: list[dict[str, Any]] = []
        piece = self.piece_bytes
        pos, n = 0, len(data)
        while pos < n:
            if self.line_pieces == 0:
                window = min(pos + piece, n)
                nl = data.rfind(b"\n", pos, window)
                if nl >= 0:  # whole lines, as many as fit in one piece
                    out.append(_params(self.stream, data[pos : nl + 1], False, None, None))
                    pos = nl + 1
                    continue
                if n - pos < piece:  # an unterminated short line: wait for its end unless none will come
                    if final:
                        out.append(_params(self.stream, data[pos:], False, None, None))
                        pos = n
                    break
            new = self._long_line(data, pos, final, out)
            if new == pos:
                break  # the rest of a long line is shorter than a piece and its end is not read yet: wait
            pos = new
        return out, pos

    def _long_line(self, data: bytes, pos: int, final: bool, out: list[dict[str, Any]]) -> int:
        """Send the pieces of the line starting (or continuing) at ``pos``; return the new position."""
        piece = self.piece_bytes
        n = len(data)
        nl = data.find(b"\n", pos)
        end = nl + 1 if nl >= 0 else (n if final else -1)
        if end < 0:  # the line's end is not read yet: send one full piece, total unknown
            if n - pos < piece:
                return pos
            cut = utf8_boundary(data, pos + piece)
            out.append(_params(self.stream, data[pos:cut], True, self.line_pieces, None))
            self.line_pieces += 1
            return cut
        cuts = []
        at = pos
        while end - at > piece:
            at = utf8_boundary(data, at + piece)
            cuts.append(at)
        cuts.append(end)
        total = self.line_pieces + len(cuts)
        start = pos
        for i, cut in enumerate(cuts):
            last = i == len(cuts) - 1
            out.append(_params(self.stream, data[start:cut], not last, self.line_pieces, total))
            self.line_pieces += 1
            start = cut
        self.line_pieces = 0
        return end


def _line_at(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return text[start : end if end >= 0 else len(text)].strip()


class OutputSignals:
    """The reference's stdout heuristics; :meth:`scan` answers ``(method, params)`` notifications to send."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.completion_marker: str | None = None
        self.early_completion_time: float | None = None  # seconds after the start
        self._early = False
        self._token = False
        self._rate = False

    def scan(self, text: str, elapsed: float) -> list[tuple[str, dict[str, Any]]]:
        """Check one stdout ``data`` text; ``elapsed`` is the seconds since the process started."""
        out: list[tuple[str, dict[str, Any]]] = []
        if (self._early and self._token and self._rate) or not text.encode().translate(None, _NOT_KEY_CHARS):
            return out  # one C pass: no character every pattern needs is there (a flood of `yes` costs ~60 us/64 KiB)
        lower = text.lower()
        if not self._early:
            self._scan_completion(text, lower, elapsed, out)
        # The regex costs ~2 ms per 64 KiB; its literal words cost microseconds: run it only when one is there.
        if not self._token and any(word in lower for word in _TOKEN_WORDS):
            m = _TOKEN_LIMIT.search(text)
            if m:
                self._token = True
                line = _line_at(text, m.start())
                num = _TOKEN_NUMBER.search(line) or _MAXIMUM_NUMBER.search(line)
                limit = int(num.group(1)) if num else _DEFAULT_TOKEN_LIMIT
                out.append(
                    (
                        "error.token_limit_exceeded",
                        {
                            "session_id": self.session_id,
                            "error_type": "token_limit",
                            "limit": limit,
                            "message": f"Output exceeded {limit} token limit",
                            "suggestion": "Retry with a more concise prompt or specify word/token limits",
                            "error_text": line,
                            "recoverable": True,
                        },
                    )
                )
        if not self._rate:
            self._scan_rate(text, out)
        return out

    def _scan_completion(self, text: str, lower: str, elapsed: float, out: list[tuple[str, dict[str, Any]]]) -> None:
        hits = [(lower.find(m), i) for i, m in enumerate(_MARKERS_LOWER)]
        found = [(at, i) for at, i in hits if at >= 0]
        if found:
            at, i = min(found)
            self._early = True
            self.completion_marker = COMPLETION_MARKERS[i]
            self.early_completion_time = elapsed
            params: dict[str, Any] = {"session_id": self.session_id, "marker": COMPLETION_MARKERS[i]}
            params.update(elapsed_time=elapsed, output_line=_line_at(text, at))
            out.append(("task.early_completion", params))
            return
        if not any(word in text for word in _FILE_WORDS):
            return
        m = _FILE_CREATED.search(text)
        if m:
            self._early = True
            self.early_completion_time = elapsed
            out.append(
                (
                    "task.early_completion",
                    {
                        "session_id": self.session_id,
                        "type": "file_created",
                        "file_path": m.group(1),
                        "elapsed_time": elapsed,
                        "output_line": _line_at(text, m.start()),
                    },
                )
            )

    def _scan_rate(self, text: str, out: list[tuple[str, dict[str, Any]]]) -> None:
        at = text.find("Claude AI usage limit reached")
        if at >= 0:
            self._rate = True
            line = _line_at(text, at)
            reset = _RESET_AT.search(line)
            out.append(
                (
                    "error.rate_limit_exceeded",
                    {
                        "session_id": self.session_id,
                        "error_type": "usage_limit",
                        "message": "Claude AI usage limit reached",
                        "reset_timestamp": int(reset.group(1)) if reset else None,
                        "error_text": line,
                        "recoverable": False,
                    },
                )
            )
            return
        at = text.find("429")
        while at >= 0:
            line = _line_at(text, at)
            low = line.lower()
            if "rate limit" in low or "too many requests" in low:
                self._rate = True
                out.append(
                    (
                        "error.rate_limit_exceeded",
                        {
                            "session_id": self.session_id,
                            "error_type": "rate_limit_429",
                            "message": "HTTP 429 Too Many Requests",
                            "error_text": line,
                            "recoverable": True,
                            "retry_after": 60,
                        },
                    )
                )
                return
            at = text.find("429", at + 3)
