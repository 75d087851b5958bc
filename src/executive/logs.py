"""Structured logs: one JSON object per line on stderr (structlog).

Every line carries ``event`` and ``ts``; lines caused by a request carry its
``request_id`` and ``method`` (bound in the dispatcher through contextvars).
A line that cannot be written is dropped, and so are the ones after it: when the
reader of a piped stderr goes away (``executive serve 2>&1 | head``, a log
collector that died) the daemon's work goes on instead of failing in every call
that logs, and ``daemon.health`` says why its log stopped (:func:`log_dropped`).
"""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging", "log_dropped"]


class _LogSink:
    """stderr for log lines; after the first write that fails, lines are dropped."""

    def __init__(self) -> None:
        self.lost: BaseException | None = None  # why lines are being dropped

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                return sys.stderr.write(text)
            except (OSError, ValueError) as exc:  # EPIPE, EIO, ENOSPC; ValueError: stderr closed
                self.lost = exc
        return len(text)

    def flush(self) -> None:
        if self.lost is None:
            try:
                sys.stderr.flush()
            except (OSError, ValueError) as exc:
                self.lost = exc


_sink: _LogSink | None = None  # the sink of the last configure_logging()


def log_dropped() -> str | None:
    """Why this process's log lines are being dropped (its stderr failed), None while they are written."""
    lost = _sink.lost if _sink is not None else None
    return None if lost is None else f"{type(lost).__name__}: {lost}"


def configure_logging(*, level: str = "info", json: bool = True) -> None:
    global _sink
    lvl = getattr(logging, level.upper(), logging.INFO)
    renderer = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    _sink = _LogSink()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", key="ts"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=_sink),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
