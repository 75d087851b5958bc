"""Claude Code in print mode: ``claude -p --output-format stream-json --verbose`` (spec/agent-clis.md §1).

Line types handled: ``system`` (``init`` gives the session; ``api_retry`` —
``{"subtype":"api_retry","attempt":N,"max_retries":M,"retry_delay_ms":…,
"error_status":401,"error":"authentication_failed"}`` — becomes a live ``retry``
warning; a recovered retry is not a failure), ``assistant``
(text / tool_use / thinking blocks), ``user`` (tool_result blocks),
``rate_limit_event``, ``result`` (last line).  ``stream_event`` lines only
appear with ``--include-partial-messages``, which we never pass; other
``system`` subtypes (``compact_boundary``) carry nothing for a supervisor.

Success needs all of: exit code 0 and a normal end, a ``result`` line, its
``is_error`` false, its ``subtype`` ``success`` and no ``permission_denials``
— Claude exits 0 for rate limits (#79500) and denied tools (#76867).

With ``--resume X`` the echoed ``session_id`` may be a new id without a
transcript (#58760), so the result carries ``resumed_from`` = the id we passed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from executive.agents import events as ev
from executive.agents.adapters.base import (
    Adapter,
    AgentRequest,
    Capabilities,
    JsonLineParser,
    RunEnd,
    StreamParser,
    end_errors,
    unique,
)
from executive.agents.events import AgentEvent
from executive.kernel.errors import BadParamsError

__all__ = ["ClaudeAdapter", "ClaudeParser"]

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto")
#: ``permissions`` -> ``--permission-mode``: print mode denies Edit unless acceptEdits (or bypass).
PROFILE_MODES = {"read-only": "plan", "edit": "acceptEdits", "full": "bypassPermissions"}


class ClaudeParser(JsonLineParser):
    def __init__(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> None:
        super().__init__(max_line=max_line, max_text=max_text, request=req)
        self.session_id: str | None = None
        self.model: str | None = None
        self.result_obj: dict[str, Any] | None = None
        self.last_text = ""
        self.rate_limited = False
        self.assistant_turns = 0

    def on_object(self, obj: dict[str, Any]) -> Iterable[AgentEvent]:
        kind = obj.get("type")
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "user":
            return self._user(obj)
        if kind == "system":
            if obj.get("subtype") == "api_retry":
                return [self._retry(obj)]
            if obj.get("subtype") == "init":
                self.session_id = obj.get("session_id") or self.session_id
                self.model = obj.get("model")
                return [
                    AgentEvent(
                        ev.SESSION,
                        {
                            "session_id": self.session_id,
                            "model": self.model,
                            "cwd": obj.get("cwd"),
                            "permission_mode": obj.get("permissionMode"),
                            "tools": len(obj.get("tools") or []),
                            "resumed_from": self.request.resume if self.request else None,
                        },
                    )
                ]
            return []
        if kind == "rate_limit_event":
            info = obj.get("rate_limit_info") or {}
            status = info.get("status") if isinstance(info, dict) else None
            if status in (None, "allowed"):
                return []  # informational: the quota is fine
            self.rate_limited = True
            return [self.warning("rate_limit", info)]
        if kind == "result":
            self.result_obj = obj
            self.session_id = obj.get("session_id") or self.session_id
            return []
        return []

    def _retry(self, obj: dict[str, Any]) -> AgentEvent:
        status = obj.get("error_status")
        delay = obj.get("retry_delay_ms")
        err = str(obj.get("error") or "api_error")
        return self.retry(
            f"{err} (HTTP {status})" if isinstance(status, int) else err,
            attempt=obj.get("attempt") if isinstance(obj.get("attempt"), int) else None,
            limit=obj.get("max_retries") if isinstance(obj.get("max_retries"), int) else None,
            status=status if isinstance(status, int) else None,
            delay_s=delay / 1000 if isinstance(delay, (int, float)) else None,
        )

    def _assistant(self, obj: dict[str, Any]) -> list[AgentEvent]:
        self.session_id = self.session_id or obj.get("session_id")
        msg = obj.get("message") or {}
        out: list[AgentEvent] = []
        blocks = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        self.assistant_turns += 1
        for block in blocks or []:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text":
                self.last_text = block.get("text") or ""
                out.append(self.message("assistant", self.last_text))
            elif btype == "thinking":
                out.append(self.message("reasoning", block.get("thinking") or ""))
            elif btype in ("tool_use", "server_tool_use"):
                out.append(self.tool_call(block.get("id"), block.get("name"), block.get("input")))
        return out

    def _user(self, obj: dict[str, Any]) -> list[AgentEvent]:
        msg = obj.get("message") or {}
        blocks = msg.get("content") if isinstance(msg, dict) else None
        out: list[AgentEvent] = []
        if not isinstance(blocks, list):
            return out
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block.get("content")
                if isinstance(content, list):  # a list of content blocks: keep the text ones
                    content = "\n".join(
                        b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
                    )
                out.append(self.tool_result(block.get("tool_use_id"), content, bool(block.get("is_error"))))
        return out

    def result(self, end: RunEnd) -> dict[str, Any]:
        r = self.result_obj or {}
        errors = end_errors(end)
        if not r:
            errors.append("no_result")
        else:
            if r.get("is_error"):
                errors.append("is_error")
                if isinstance(r.get("result"), str) and r["result"]:
                    self.last_error = r["result"]
            subtype = r.get("subtype")
            if subtype != "success":
                errors.append(str(subtype or "no_subtype"))
            if r.get("permission_denials"):
                errors.append("permission_denied")
        if self.rate_limited or "rate_limit" in self.warnings:
            errors.append("rate_limited")
        if self.stream_cut:
            errors.append("stream_cut")
        given_usage = r.get("usage")
        usage: dict[str, Any] = given_usage if isinstance(given_usage, dict) else {}
        tokens = {
            "input": int(usage.get("input_tokens") or 0),
            "output": int(usage.get("output_tokens") or 0),
            "cache_read": int(usage.get("cache_read_input_tokens") or 0),
            "cache_write": int(usage.get("cache_creation_input_tokens") or 0),
        }
        cost = r.get("total_cost_usd", r.get("cost_usd"))
        text, cut = self.text(r.get("result") if r.get("result") is not None else self.last_text)
        denials = r.get("permission_denials") or []
        return {
            "ok": not errors,
            "errors": unique(errors),
            "text": text,
            "text_truncated": cut,
            "cost_usd": float(cost) if isinstance(cost, (int, float)) else None,
            "tokens": tokens,
            "turns": int(r["num_turns"]) if isinstance(r.get("num_turns"), int) else self.assistant_turns,
            "session_id": self.session_id,
            "resumed_from": self.request.resume if self.request else None,
            "subtype": r.get("subtype"),
            "is_error": bool(r.get("is_error")) if r else None,
            "permission_denials": [
                {"tool_name": d.get("tool_name"), "tool_use_id": d.get("tool_use_id")}
                for d in denials
                if isinstance(d, dict)
            ],
            "duration_ms": r.get("duration_ms"),
            "exit_code": end.exit_code,
            "end_reason": end.end_reason,
            "model": self.model,
            "api_error_status": r.get("api_error_status"),
        }


class ClaudeAdapter(Adapter):
    name = "claude"
    default_bin = "claude"
    capabilities = Capabilities(
        streaming=True,
        resume=True,
        cost=True,
        tokens=True,
        turn_limit=True,
        budget_limit=True,
        permission_modes=PERMISSION_MODES,
    )
    env_keys = (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "CLAUDE_CONFIG_DIR",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
        "AWS_REGION",
        "AWS_PROFILE",
        "CLOUD_ML_REGION",
        "ANTHROPIC_VERTEX_PROJECT_ID",
        "HTTPS_PROXY",
        "NO_PROXY",
    )
    auth_env = (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
    )
    auth_files = (".claude/.credentials.json",)
    tested_versions = ("2.1.0", "2.1.197")

    def build_argv(self, req: AgentRequest, exe: str) -> list[str]:
        self.refuse_unsupported(req, sandbox=False, files=False)
        self.check_choice("permission_mode", req.permission_mode, PERMISSION_MODES)
        self.check_permissions(req, conflicts=("permission_mode",))
        argv = [exe, "-p", "--output-format", "stream-json", "--verbose"]
        if req.model:
            argv.append(f"--model={req.model}")
        if req.resume:
            argv.append(f"--resume={self.check_session_id(req.resume)}")  # `=` form: an id can never be read as a flag
        if req.max_turns is not None:
            argv += ["--max-turns", str(int(req.max_turns))]
        if req.max_budget_usd is not None:
            budget = float(req.max_budget_usd)
            if not (math.isfinite(budget) and budget > 0):
                raise BadParamsError(f"max_budget_usd must be a positive number of dollars, got {req.max_budget_usd!r}")
            argv += ["--max-budget-usd", f"{budget:g}"]
        mode = PROFILE_MODES[req.permissions] if req.permissions else req.permission_mode
        if mode:
            argv.append(f"--permission-mode={mode}")
        if req.allowed_tools:
            argv += ["--allowedTools", *req.allowed_tools]
        if req.disallowed_tools:
            argv += ["--disallowedTools", *req.disallowed_tools]
        argv += req.args
        argv += ["--", req.prompt]  # `--`: a prompt that starts with a dash stays a prompt
        return argv

    def parser(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> StreamParser:
        return ClaudeParser(req, max_line=max_line, max_text=max_text)
