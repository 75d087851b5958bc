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
_INFO = re.compile(
    r"^(Aider v|Weak model:|Editor model:|Git repo:|Repo-map:|Added .+ to the chat|Use /help|Warning: |https://aider\.chat)"
)
_RATE = re.compile(r"RateLimitError|rate limit", re.I)
_FATAL = re.compile(
    r"(AuthenticationError|APIConnectionError|NotFoundError|BadRequestError|did not conform to the edit format)"
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

    def on_line(self, line: bytes) -> Iterable[AgentEvent]:
        text = line.decode("utf-8", "replace")
        out: list[AgentEvent] = []
        m = _MODEL.match(text)
        if m:
            self.model = m.group(1)
            return self._session()
        if _INFO.match(text):
            return []
        out += self._session()
        if not text.strip():
            return out + self._flush()
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
        self.paragraph.append(text)
        return out

    def flush(self) -> list[AgentEvent]:
        return self._session() + self._flush()

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
        ]
        if req.model:
            argv.append(f"--model={req.model}")
        argv += req.args
        if req.files:
            argv += ["--", *req.files]
        return argv

    def parser(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> StreamParser:
        return AiderParser(req, max_line=max_line, max_text=max_text)
