"""A generic command as an agent: any program that takes a prompt and edits files.

argv = ``[bin, *args]`` where each ``{prompt}`` in ``args`` is replaced by the
prompt; with no placeholder the prompt is the last argument.  The child also
gets the prompt in ``$EXECUTIVE_AGENT_PROMPT``.

Output: a line that is a JSON object whose ``type`` is one of ``session``,
``message``, ``tool_call``, ``tool_result`` or ``result`` is taken as that
normalized event (the ``data`` member, or the object itself) — so a custom
agent can speak the normalized protocol directly; any other line is assistant
text.  Success = exit 0 and a normal end, and ``ok`` of a ``result`` line when
there is one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

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
from executive.kernel.errors import BadParamsError

__all__ = ["PROMPT_PLACEHOLDER", "CommandAdapter", "CommandParser"]

PROMPT_PLACEHOLDER = "{prompt}"
_KINDS = {"session": ev.SESSION, "message": ev.MESSAGE, "tool_call": ev.TOOL_CALL, "tool_result": ev.TOOL_RESULT}


class CommandParser(StreamParser):
    last_line_may_be_unterminated = True

    def __init__(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> None:
        super().__init__(max_line=max_line, max_text=max_text, request=req)
        self.declared: dict[str, Any] | None = None
        self.session_id: str | None = None
        self.last_text = ""

    def on_line(self, line: bytes) -> Iterable[AgentEvent]:
        if line[:1] == b"{":
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and (obj.get("type") in _KINDS or obj.get("type") == "result"):
                given = obj.get("data")
                data: dict[str, Any] = (
                    given if isinstance(given, dict) else {k: v for k, v in obj.items() if k != "type"}
                )
                if obj["type"] == "result":
                    self.declared = data
                    return []
                if obj["type"] == "session":
                    self.session_id = data.get("session_id") or self.session_id
                if obj["type"] == "message":
                    self.last_text = str(data.get("text", ""))
                    return [self.message(str(data.get("role", "assistant")), data.get("text", ""))]
                if obj["type"] == "tool_call":
                    return [self.tool_call(data.get("id"), data.get("name"), data.get("input"))]
                if obj["type"] == "tool_result":
                    return [self.tool_result(data.get("id"), data.get("output"), bool(data.get("is_error")))]
                return [AgentEvent(_KINDS[obj["type"]], data)]
        text = line.decode("utf-8", "replace")
        if not text.strip():
            return []
        self.last_text = text
        return [self.message("assistant", text)]

    def result(self, end: RunEnd) -> dict[str, Any]:
        declared = self.declared or {}
        errors = end_errors(end)
        if self.declared is not None and not declared.get("ok", True):
            declared_errors = declared.get("errors") or ["declared_failure"]
            if not isinstance(declared_errors, list):  # "errors": "tests failed" is one reason, not one per character
                declared_errors = [declared_errors]
            errors += [str(e) for e in declared_errors]
        text, cut = self.text(declared.get("text", self.last_text))
        cost = declared.get("cost_usd")
        given_tokens = declared.get("tokens")
        tokens: dict[str, Any] = given_tokens if isinstance(given_tokens, dict) else {}
        return {
            "ok": not errors,
            "errors": unique(errors),
            "text": text,
            "text_truncated": cut,
            "cost_usd": float(cost) if isinstance(cost, (int, float)) else None,
            "tokens": {k: int(v) for k, v in tokens.items() if isinstance(v, int)},
            "turns": int(declared["turns"]) if isinstance(declared.get("turns"), int) else 1,
            "session_id": declared.get("session_id", self.session_id),
            "resumed_from": self.request.resume if self.request else None,
            "exit_code": end.exit_code,
            "end_reason": end.end_reason,
        }


class CommandAdapter(Adapter):
    name = "command"
    default_bin = ""  # no default: --bin names the program
    capabilities = Capabilities(
        streaming=True, resume=False, cost=False, tokens=False, turn_limit=False, budget_limit=False
    )

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
            files=False,
        )
        self.check_permissions(req, conflicts=())  # a plain command has no permission system: checked, no effect
        if any(PROMPT_PLACEHOLDER in a for a in req.args):
            return [exe, *(a.replace(PROMPT_PLACEHOLDER, req.prompt) for a in req.args)]
        return [exe, *req.args, req.prompt]

    def child_env(self, environ: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
        return dict(extra)

    def resolve_bin(self, bin: str | None, path: str | None = None) -> str | None:
        if not bin:
            raise BadParamsError("the command adapter needs --bin PATH (the program to run as the agent)")
        return super().resolve_bin(bin, path)

    def parser(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> StreamParser:
        return CommandParser(req, max_line=max_line, max_text=max_text)
