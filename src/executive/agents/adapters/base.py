"""The adapter contract: argv from a request, configuration checks, output parsing.

Theory of operation
-------------------
An :class:`Adapter` knows one coding-agent CLI (spec/agent-clis.md).  It is
sans-I/O: it *builds* the argv of a run from an :class:`AgentRequest`, *names*
the command and environment a configuration check needs, and *parses* output
bytes into normalized :class:`~executive.agents.events.AgentEvent` objects.
The runner (``agents/runs.py``) does the I/O: it starts the argv as an
``agent`` task, feeds the task's stdout to the adapter's :class:`StreamParser`
chunk by chunk as the log grows, and publishes what comes out.

A parser is a small machine: ``feed(chunk)`` any number of times, then
``finish(end)`` once with how the process ended (:class:`RunEnd`); ``finish``
always yields exactly one ``agent.result``.  Success is never the exit code
alone — these CLIs exit 0 on API errors and permission denials — so every
adapter decides ``ok`` from the exit code, the end reason *and* the result
fields it saw, and lists the reasons in ``errors`` when it is not ok.

Rejected alternative: parse in the CLI process that requested the run — then a
run would have no normalized events once that client disconnects, and replay
after the fact would differ from the live view.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from executive.agents import events as ev
from executive.agents.events import AgentEvent, clip
from executive.agents.lines import LineAssembler, LongLine
from executive.kernel.errors import BadParamsError

__all__ = [
    "PERMISSIONS",
    "SESSION_ID_RE",
    "Adapter",
    "AgentRequest",
    "Capabilities",
    "JsonLineParser",
    "RunEnd",
    "StreamParser",
    "end_errors",
    "unique",
]

#: The one user-facing permission option, mapped per CLI by each adapter (README "Permissions").
PERMISSIONS = ("read-only", "edit", "full")

# Session ids go into argv; a strict shape means a dash-leading id can never inject a flag.
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclasses.dataclass(slots=True)
class AgentRequest:
    """What one agent run should do; fields an adapter cannot honour are refused, not ignored."""

    agent: str
    prompt: str
    cwd: str
    bin: str | None = None  # the CLI's executable (default: the adapter's name on PATH)
    model: str | None = None
    resume: str | None = None  # session id to resume
    permissions: str | None = None  # read-only | edit | full (None: the CLI's own default)
    permission_mode: str | None = None  # Claude: default|acceptEdits|plan|bypassPermissions|dontAsk
    sandbox: str | None = None  # Codex: read-only|workspace-write|danger-full-access
    allowed_tools: list[str] = dataclasses.field(default_factory=list)  # Claude --allowedTools
    disallowed_tools: list[str] = dataclasses.field(default_factory=list)  # Claude --disallowedTools
    max_turns: int | None = None  # Claude --max-turns
    max_budget_usd: float | None = None  # Claude --max-budget-usd
    files: list[str] = dataclasses.field(default_factory=list)  # Aider: files to add to the chat
    args: list[str] = dataclasses.field(default_factory=list)  # extra argv (command adapter: its arguments)
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # extra environment for the child


@dataclasses.dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter can do; reported by ``agent check`` so callers can choose."""

    streaming: bool  # events arrive while the agent works (not only at the end)
    resume: bool  # a previous session can be resumed by id
    cost: bool  # reports cost in USD
    tokens: bool  # reports token usage
    turn_limit: bool  # honours max_turns
    budget_limit: bool  # honours max_budget_usd
    permission_modes: tuple[str, ...] = ()
    sandbox_modes: tuple[str, ...] = ()
    result_from_git: bool = False  # success needs a change in the work tree

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["permission_modes"] = list(self.permission_modes)
        d["sandbox_modes"] = list(self.sandbox_modes)
        return d


@dataclasses.dataclass(frozen=True, slots=True)
class RunEnd:
    """How the agent's process ended, plus what the runner read from git afterwards."""

    exit_code: int | None
    signal: int | None = None
    end_reason: str = "exited"  # kernel EndReason value
    diff: str | None = None  # changes the run left in its git work tree (None: not a repository)
    files_changed: tuple[str, ...] = ()
    detail: str | None = None  # why the runner ended it (idle_timeout: how long it was silent)


def end_errors(end: RunEnd) -> list[str]:
    """Error reasons that come from how the process ended (shared by every adapter)."""
    if end.end_reason != "exited":
        return [end.end_reason]
    if end.signal:
        return [f"signal_{end.signal}"]
    if end.exit_code not in (0, None):
        return [f"exit_code_{end.exit_code}"]
    return []


class StreamParser(abc.ABC):
    """Bytes in, normalized events out.  Subclasses implement :meth:`on_line` and :meth:`result`."""

    #: A final line without a newline is normal for text CLIs; JSON CLIs treat it as a cut.
    last_line_may_be_unterminated = False

    def __init__(self, *, max_line: int, max_text: int, request: AgentRequest | None = None) -> None:
        self.max_text = max_text
        self.request = request
        self._lines = LineAssembler(max_line)
        self._err_lines = LineAssembler(max_line)
        self.last_error: str | None = None  # the CLI's own words for the last problem it reported
        self.stderr_last: str | None = None  # the last non-empty stderr line (e.g. a usage error)
        self.warnings: list[str] = []  # reasons seen (for the result's errors)
        self.stream_cut = False
        self.finished = False

    # --- driving -----------------------------------------------------------------
    def feed(self, chunk: bytes) -> list[AgentEvent]:
        """Parse a chunk of stdout; returns the events of every line it completed."""
        out: list[AgentEvent] = []
        for line in self._lines.feed(chunk):
            self._line(line, out)
        return out

    def feed_stderr(self, chunk: bytes) -> list[AgentEvent]:
        """Parse a chunk of stderr: most CLIs print nothing there a supervisor needs, some print refusals."""
        out: list[AgentEvent] = []
        for line in self._err_lines.feed(chunk):
            if not isinstance(line, LongLine):
                self._stderr_line(line, out)
        return out

    def _stderr_line(self, line: bytes, out: list[AgentEvent]) -> None:
        text = line.decode("utf-8", "replace").strip()
        if text:
            self.stderr_last = clip(text, 500)[0]
        out.extend(self.on_stderr_line(line))

    def finish(self, end: RunEnd) -> list[AgentEvent]:
        """The stream is over: flush a cut last line, then emit the one ``agent.result``."""
        if self.finished:
            raise RuntimeError("StreamParser.finish() called twice")
        self.finished = True
        out: list[AgentEvent] = []
        err_tail = self._err_lines.finish()
        if isinstance(err_tail, bytes):
            self._stderr_line(err_tail, out)
        tail = self._lines.finish()
        if tail is not None:
            if self.last_line_may_be_unterminated or (isinstance(tail, bytes) and self._complete_json(tail)):
                self._line(tail, out)
            else:
                self.stream_cut = True
                size = tail.size if isinstance(tail, LongLine) else len(tail)
                out.append(
                    self.warning(
                        "stream_cut", f"the output ended in the middle of a line ({size} bytes without a newline)"
                    )
                )
        out.extend(self.flush())
        result = self.result(end)
        if end.end_reason == "idle_timeout" and end.detail:
            result["idle_detail"] = end.detail
        if not result.get("ok") and not result.get("error"):
            # The CLI's own words: the last problem it reported, else the last line it wrote to stderr.
            words = self.last_error or self.stderr_last
            if words:
                result["error"] = words
        out.append(AgentEvent(ev.RESULT, result))
        return out

    def _line(self, line: bytes | LongLine, out: list[AgentEvent]) -> None:
        if isinstance(line, LongLine):
            out.append(
                self.warning("line_too_long", f"skipped a {line.size}-byte line (limit {self._lines.max_line} bytes)")
            )
            return
        out.extend(self.on_line(line))

    @staticmethod
    def _complete_json(tail: bytes) -> bool:
        try:
            orjson.loads(tail)
        except orjson.JSONDecodeError:
            return False
        return True

    # --- helpers for subclasses ------------------------------------------------------
    def warning(self, reason: str, detail: Any) -> AgentEvent:
        self.warnings.append(reason)
        if reason in ("error", "rate_limit", "permission_denied") and isinstance(detail, str):
            self.last_error = detail
        return AgentEvent(ev.WARNING, {"reason": reason, "detail": detail})

    def retry(
        self, detail: str, *, attempt: int | None, limit: int | None, status: int | None, delay_s: float | None
    ) -> AgentEvent:
        """The CLI is retrying a failed model request; shown live, never a failure by itself."""
        self.last_error = detail
        data: dict[str, Any] = {
            "reason": "retry",
            "detail": detail,
            "attempt": attempt,
            "limit": limit,
            "status": status,
        }
        data["delay_s"] = None if delay_s is None else round(delay_s, 3)
        return AgentEvent(ev.WARNING, data)

    def text(self, value: Any) -> tuple[str, bool]:
        if not isinstance(value, str):
            value = "" if value is None else orjson.dumps(value).decode()
        return clip(value, self.max_text)

    def message(self, role: str, text: Any) -> AgentEvent:
        t, cut = self.text(text)
        return AgentEvent(ev.MESSAGE, {"role": role, "text": t, "truncated": cut})

    def tool_call(self, call_id: Any, name: Any, tool_input: Any) -> AgentEvent:
        raw = orjson.dumps(tool_input, default=str) if tool_input is not None else b"null"
        if len(raw) > self.max_text:
            t, _ = clip(raw.decode(), self.max_text)
            return AgentEvent(ev.TOOL_CALL, {"id": call_id, "name": name, "input": t, "truncated": True})
        return AgentEvent(ev.TOOL_CALL, {"id": call_id, "name": name, "input": tool_input, "truncated": False})

    def tool_result(self, call_id: Any, output: Any, is_error: bool, **extra: Any) -> AgentEvent:
        t, cut = self.text(output)
        data = {"id": call_id, "output": t, "is_error": bool(is_error), "truncated": cut}
        data.update(extra)
        return AgentEvent(ev.TOOL_RESULT, data)

    # --- the adapter-specific part ---------------------------------------------------
    def flush(self) -> list[AgentEvent]:
        """Events held back until the end of the stream (e.g. a text paragraph); called before result."""
        return []

    @abc.abstractmethod
    def on_line(self, line: bytes) -> Iterable[AgentEvent]:
        """Events for one complete line (no line ending; may be empty)."""

    def on_stderr_line(self, line: bytes) -> Iterable[AgentEvent]:
        """Events for one complete stderr line; most CLIs need none."""
        return ()

    @abc.abstractmethod
    def result(self, end: RunEnd) -> dict[str, Any]:
        """The ``agent.result`` data: at least ok, text, cost_usd, tokens, turns, session_id, errors."""


class JsonLineParser(StreamParser):
    """A parser for NDJSON CLIs: decodes each line and hands objects to :meth:`on_object`."""

    def on_line(self, line: bytes) -> Iterable[AgentEvent]:
        if not line.strip():
            return ()
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            # The official SDK skips non-JSON stdout lines; so do we, but say so.
            t, _ = clip(line.decode("utf-8", "replace"), 200)
            return [self.warning("non_json", t)]
        if not isinstance(obj, dict):
            return [self.warning("non_json", f"a JSON {type(obj).__name__} where an object was expected")]
        return self.on_object(obj)

    @abc.abstractmethod
    def on_object(self, obj: dict[str, Any]) -> Iterable[AgentEvent]:
        """Events for one decoded JSON object."""


class Adapter(abc.ABC):
    """One coding-agent CLI.  Stateless; a run's state lives in its :class:`StreamParser`."""

    name: str = ""
    default_bin: str = ""
    capabilities: Capabilities
    #: Environment variables forwarded from the daemon to the CLI when set (API keys, endpoints).
    env_keys: tuple[str, ...] = ()
    #: Any one of these set means credentials are configured.
    auth_env: tuple[str, ...] = ()
    #: Or any one of these files (relative to $HOME) exists.
    auth_files: tuple[str, ...] = ()
    #: The versions the end-to-end tests run (``make agents``): oldest known to work, newest tested.
    tested_versions: tuple[str, str] | None = None

    # --- configuration ---------------------------------------------------------------
    def resolve_bin(self, bin: str | None, path: str | None = None) -> str | None:
        """The executable's real path, or None when it cannot be found."""
        exe = bin or self.default_bin
        if not exe:
            return None
        if os.sep in exe:
            return os.path.realpath(exe) if os.path.isfile(exe) and os.access(exe, os.X_OK) else None
        found = shutil.which(exe, path=path)
        return os.path.realpath(found) if found else None

    def version_argv(self, exe: str) -> list[str]:
        return [exe, "--version"]

    def parse_version(self, output: str) -> str | None:
        """The version from ``--version`` output (first dotted number), None when there is none."""
        m = re.search(r"\d+(?:\.\d+)+(?:[-+.][0-9A-Za-z.]+)?", output)
        return m.group(0) if m else None

    def auth_status(self, environ: dict[str, str], home: Path | None) -> tuple[bool, str]:
        """Whether credentials look configured, and how (never reads the secret itself)."""
        if not self.auth_env and not self.auth_files:
            return True, "not needed"
        for key in self.auth_env:
            if environ.get(key):
                return True, f"env {key}"
        for rel in self.auth_files:
            if home is not None and (home / rel).exists():
                return True, f"file ~/{rel}"
        wanted = [f"${k}" for k in self.auth_env] + [f"~/{f}" for f in self.auth_files]
        return False, "none of " + ", ".join(wanted)

    def child_env(self, environ: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
        """The variables this CLI needs from the daemon's environment, plus the request's own."""
        env = {k: environ[k] for k in self.env_keys if environ.get(k)}
        env.update(extra)
        return env

    # --- a run -----------------------------------------------------------------------
    @abc.abstractmethod
    def build_argv(self, req: AgentRequest, exe: str) -> list[str]:
        """The argv for ``req`` (never a shell string).

        Raises:
            BadParamsError: the request asks for something this CLI cannot do.
        """

    @abc.abstractmethod
    def parser(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> StreamParser:
        """A fresh parser for one run's stdout."""

    # --- shared validation -----------------------------------------------------------
    def refuse_unsupported(self, req: AgentRequest, **fields: bool) -> None:
        """Raise for request fields that are set but that this adapter does not support."""
        bad = [name for name, supported in fields.items() if not supported and _is_set(getattr(req, name))]
        if bad:
            raise BadParamsError(
                f"the {self.name} adapter does not support {', '.join(bad)}; "
                f"`executive agent check` lists each adapter's capabilities",
                data={"agent": self.name, "unsupported": bad},
            )

    def check_session_id(self, sid: str) -> str:
        if not SESSION_ID_RE.match(sid):
            raise BadParamsError(
                f"session id {sid[:80]!r} is not a plain id (letters, digits, . _ : -; not starting with -)",
                data={"resume": sid[:80]},
            )
        return sid

    def version_status(self, version: str | None) -> str:
        """``tested`` inside :attr:`tested_versions`, ``older`` / ``newer`` outside, ``unknown`` otherwise."""
        if not self.tested_versions or version is None:
            return "unknown"
        v = _version_key(version)
        lo, hi = (_version_key(x) for x in self.tested_versions)
        return "older" if v < lo else "newer" if v > hi else "tested"

    def check_permissions(self, req: AgentRequest, *, conflicts: tuple[str, ...]) -> None:
        """``permissions`` is a known profile and not combined with the CLI-specific field it replaces."""
        if req.permissions is not None and req.permissions not in PERMISSIONS:
            raise BadParamsError(
                f"unknown permissions {req.permissions!r} for {self.name}; use one of {', '.join(PERMISSIONS)}",
                data={"agent": self.name, "permissions": req.permissions, "choices": list(PERMISSIONS)},
            )
        clash = [name for name in conflicts if req.permissions and _is_set(getattr(req, name))]
        if clash:
            raise BadParamsError(
                f"permissions={req.permissions!r} and {clash[0]} both set for {self.name}; give one of them",
                data={"agent": self.name, "conflict": clash},
            )

    @staticmethod
    def check_choice(label: str, value: str | None, choices: tuple[str, ...]) -> None:
        if value is not None and value not in choices:
            raise BadParamsError(f"{label} must be one of {', '.join(choices)}, got {value!r}", data={label: value})


def unique(items: list[str]) -> list[str]:
    """``items`` without repeats, first occurrence kept (error reason lists)."""
    return list(dict.fromkeys(items))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version.split("-")[0])[:3])


def _is_set(value: Any) -> bool:
    return value not in (None, [], {}, "")
