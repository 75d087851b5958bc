"""Aider: ``aider --message … --yes-always --no-auto-commits`` (spec/agent-clis.md §3).

Aider prints human text only, so this parser reads the few lines whose shape
is stable — ``Main model:``/``Model:``, ``Applied edit to F``, ``Did not apply
edit to F``, ``Tokens: … Cost: … session.``, ``…RateLimitError`` — and turns
the rest into assistant messages, one per paragraph.

The result is read from git, as the spec advises: with ``--no-auto-commits``
the edits stay in the work tree, and the runner passes the diff the run left
(:attr:`RunEnd.diff`).  Aider exits 0 when the model made no change, so an
empty diff is a failure (``no_changes``).  ``--yes-always`` declines shell
commands the model proposes (``explicit_yes_required``), which is what a
supervisor wants.

Model-request failures: litellm prints ``litellm.InternalServerError: …``
(wrapped at the console width, every wrapped line ending in a space) and aider
then ``Retrying in 0.2 seconds...``; each retry is a live ``retry`` warning.
A ``Tokens:`` line afterwards means the request finally succeeded; an error
with no response after it is a failure even though aider exits 0.

Permissions: ``read-only`` adds ``--dry-run``; ``edit`` and ``full`` are the
same here (aider edits files; ``--yes-always`` still declines shell commands).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from executive.agents import events as ev
from executive.agents.adapters.base import (
    Adapter,
    AgentRequest,
    Capabilities,
    RunEnd,
    StreamParser,
    end_errors,
    unique,
)
from executive.agents.events import AgentEvent

__all__ = ["AiderAdapter", "AiderParser"]

_MODEL = re.compile(r"^(?:Main )?[Mm]odel: (\S+)")
_APPLIED = re.compile(r"^Applied edit to (.+?)\s*$")
_NOT_APPLIED = re.compile(r"^Did not apply edit to (.+?)(?: \(--dry-run\))?\s*$")
_TOKENS = re.compile(
    r"^Tokens: (?P<sent>[\d.]+[kM]?) sent,(?P<rest>.*?) (?P<recv>[\d.]+[kM]?) received\."
    r"(?:.*?\$(?P<session>[\d.]+) session)?"
)
_CACHE = re.compile(r"(?P<n>[\d.]+[kM]?) cache (?P<kind>write|hit)")
# Setup and notice lines: never assistant text.  The HTTPSConnectionPool line is litellm failing to fetch
# its model price list offline; "The API provider ..." is aider's hint under a litellm error.
_INFO = re.compile(
    r"^(Aider v|Weak model:|Editor model:|Git repo:|Repo-map:|Added .+ to the chat|Use /help|Warning: |Warning for |"
    r"https://aider\.chat|Analytics have been|Update git (name|email) with|HTTPSConnectionPool\(|The API provider|"
    r"Scanning repo|Initial repo scan|Newer aider version|You can skip this check|Cost estimates may be|"
    r"For more info, see)"
)
# litellm's error line: `litellm.InternalServerError: InternalServerError: OpenAIException - …`, wrapped by
# aider's console at the terminal width with a trailing space on every line but the last.
_LITELLM = re.compile(r"^litellm\.(?P<cls>\w+):\s*(?P<msg>.*)$")
_RETRYING = re.compile(r"^Retrying in (?P<s>[\d.]+) seconds")
_HTTP_STATUS = {
    "AuthenticationError": 401,
    "PermissionDeniedError": 403,
    "NotFoundError": 404,
    "BadRequestError": 400,
    "RateLimitError": 429,
    "InternalServerError": 500,
    "ServiceUnavailableError": 503,
}
_RATE = re.compile(r"RateLimitError|rate limit", re.I)
_FATAL = re.compile(
    r"(AuthenticationError|APIConnectionError|NotFoundError|BadRequestError|did not conform to the edit format|"
    r"Empty response received from LLM)"
)


def _count(text: str) -> int:
    mult = 1000 if text.endswith("k") else 1_000_000 if text.endswith("M") else 1
    return round(float(text.rstrip("kM")) * mult)


class AiderParser(StreamParser):
    last_line_may_be_unterminated = True  # plain text: a last line without newline is just a line

    def __init__(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> None:
        super().__init__(max_line=max_line, max_text=max_text, request=req)
        self.model: str | None = None
        self.session_sent = False
        self.paragraph: list[str] = []
        self.last_text = ""
        self.applied: list[str] = []
        self.not_applied: list[str] = []
        self.fatal: list[str] = []
        self.turns = 0
        self.tokens = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
        self.cost: float | None = None
        self._edits = 0
        self._err: list[str] | None = None  # a litellm error still being read (wrapped lines)
        self._err_class = ""
        self.pending_error: str | None = None  # the last model-request error not followed by a response
        self._pending_class = ""
        self._retries = 0

    def _session(self) -> list[AgentEvent]:
        if self.session_sent:
            return []
        self.session_sent = True
        return [AgentEvent(ev.SESSION, {"session_id": None, "model": self.model, "cwd": None, "resumed_from": None})]

    def _flush(self) -> list[AgentEvent]:
        if not self.paragraph:
            return []
        text = "\n".join(self.paragraph).strip("\n")
        self.paragraph = []
        if not text:
            return []
        self.last_text = text
        return [self.message("assistant", text)]

    def _end_error(self) -> None:
        """The wrapped litellm error line is complete: it is pending until a retry or a response follows."""
        if self._err is None:
            return
        self.pending_error = "litellm." + " ".join(part.strip() for part in self._err)
        self._pending_class = self._err_class
        self._err = None

    def on_line(self, line: bytes) -> Iterable[AgentEvent]:
        text = line.decode("utf-8", "replace")
        if self._err is not None:
            if self._err[-1].endswith(" ") and text.strip():
                self._err.append(text)
                return []
            self._end_error()
        out: list[AgentEvent] = []
        m = _MODEL.match(text)
        if m:
            self.model = m.group(1)
            return self._session()
        if _INFO.match(text):
            return []
        if m := _LITELLM.match(text):
            out += self._flush()
            self._err = [f"{m.group('cls')}: {m.group('msg')}"]
            self._err_class = m.group("cls")
            return out
        if m := _RETRYING.match(text):
            self._retries += 1
            detail = self.pending_error or "model request failed"
            out.append(
                self.retry(
                    detail,
                    attempt=self._retries,
                    limit=None,
                    status=_HTTP_STATUS.get(self._pending_class),
                    delay_s=float(m.group("s")),
                )
            )
            return out
        if not text.strip():
            return out + self._flush()
        out += self._session()
        if m := _APPLIED.match(text):
            out += self._flush()
            self._edits += 1
            call_id = f"edit-{self._edits}"
            self.applied.append(m.group(1))
            out.append(self.tool_call(call_id, "edit", {"path": m.group(1)}))
            out.append(self.tool_result(call_id, "applied", False))
            return out
        if m := _NOT_APPLIED.match(text):
            out += self._flush()
            self._edits += 1
            call_id = f"edit-{self._edits}"
            self.not_applied.append(m.group(1))
            out.append(self.tool_call(call_id, "edit", {"path": m.group(1)}))
            out.append(self.tool_result(call_id, "not applied", True))
            return out
        if m := _TOKENS.match(text):
            out += self._flush()
            self.pending_error = None  # a response arrived: earlier failed attempts were recovered
            self.turns += 1
            self.tokens["input"] += _count(m.group("sent"))
            self.tokens["output"] += _count(m.group("recv"))
            for c in _CACHE.finditer(m.group("rest")):
                self.tokens["cache_write" if c.group("kind") == "write" else "cache_read"] += _count(c.group("n"))
            if m.group("session"):
                self.cost = float(m.group("session"))
            return out
        if _RATE.search(text):
            out += self._flush()
            out.append(self.warning("rate_limit", text.strip()))
            return out
        if m := _FATAL.search(text):
            self.fatal.append(m.group(1))
            out.append(self.warning("error", text.strip()))
            return out
        self.paragraph.append(text)
        return out

    def flush(self) -> list[AgentEvent]:
        self._end_error()
        out = self._session() + self._flush()
        if self.pending_error:  # the last model request failed and aider gave up
            if self._pending_class == "RateLimitError":
                out.append(self.warning("rate_limit", self.pending_error))
            else:
                self.fatal.append(self._pending_class or "error")
                out.append(self.warning("error", self.pending_error))
        return out

    def result(self, end: RunEnd) -> dict[str, Any]:
        errors = end_errors(end)
        if "rate_limit" in self.warnings:
            errors.append("rate_limited")
        if self.fatal:
            errors.append("error")
        if end.diff is not None:
            if not end.diff.strip():
                errors.append("no_changes")
        elif not self.applied:
            errors.append("no_changes")
        text, cut = self.text(self.last_text)
        return {
            "ok": not errors,
            "errors": unique(errors),
            "text": text,
            "text_truncated": cut,
            "cost_usd": self.cost,
            "tokens": dict(self.tokens),
            "turns": self.turns,
            "session_id": None,
            "resumed_from": None,
            "edits_applied": self.applied,
            "edits_not_applied": self.not_applied,
            "exit_code": end.exit_code,
            "end_reason": end.end_reason,
            "model": self.model,
        }


class AiderAdapter(Adapter):
    name = "aider"
    default_bin = "aider"
    capabilities = Capabilities(
        streaming=True,
        resume=False,
        cost=True,
        tokens=True,
        turn_limit=False,
        budget_limit=False,
        result_from_git=True,
    )
    env_keys = (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "DEEPSEEK_API_KEY",
        "OPENROUTER_API_KEY",
        "GROQ_API_KEY",
        "OPENAI_API_BASE",
        "OLLAMA_API_BASE",
        "AIDER_MODEL",
        "HTTPS_PROXY",
        "NO_PROXY",
    )
    auth_env = (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "DEEPSEEK_API_KEY",
        "OPENROUTER_API_KEY",
        "GROQ_API_KEY",
        "OLLAMA_API_BASE",
    )
    auth_files = (".aider.conf.yml",)
    tested_versions = ("0.86.0", "0.86.2")

    def build_argv(self, req: AgentRequest, exe: str) -> list[str]:
        self.refuse_unsupported(
            req,
            resume=False,
            permission_mode=False,
            sandbox=False,
            allowed_tools=False,
            disallowed_tools=False,
            max_turns=False,
            max_budget_usd=False,
        )
        self.check_permissions(req, conflicts=())
        argv = [
            exe,
            f"--message={req.prompt}",  # `=` form: a prompt starting with a dash is still the value
            "--yes-always",
            "--no-auto-commits",
            "--no-dirty-commits",
            "--no-pretty",
            "--no-stream",
            "--no-check-update",
            "--analytics-disable",
            "--no-show-model-warnings",  # else an unknown model asks to open a web page
            # Nothing the agent did not mean to change may enter a patch: no `.aider*` line appended to
            # .gitignore, no chat/input history files and no repo-map tag cache in the work tree.
            "--no-gitignore",
            "--chat-history-file=/dev/null",
            "--input-history-file=/dev/null",
            "--map-tokens=0",
        ]
        if req.permissions == "read-only":
            argv.append("--dry-run")
        if req.model:
            argv.append(f"--model={req.model}")
        argv += req.args
        if req.files:
            argv += ["--", *req.files]
        return argv

    def parser(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> StreamParser:
        return AiderParser(req, max_line=max_line, max_text=max_text)
