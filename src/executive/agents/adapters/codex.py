"""OpenAI Codex CLI: ``codex exec --json`` (spec/agent-clis.md §2).

JSONL events: ``thread.started`` (the session id is ``thread_id``),
``turn.started``, ``turn.completed`` (token ``usage``), ``turn.failed``,
``item.started`` / ``item.updated`` / ``item.completed`` and a top-level
``error``.  Items: ``agent_message`` and ``reasoning`` become messages;
``command_execution``, ``file_change``, ``mcp_tool_call``, ``web_search`` and
``todo_list`` become a tool call when they start and a tool result when they
complete.  Items without an ``id`` get a synthetic one (``noid-N``), so each is
its own call/result pair.  Codex reports no cost, only tokens.

Success: exit 0 with a normal end, at least one ``turn.completed``, and no
``turn.failed`` or final ``error`` event (Codex's exit code is not reliable either:
SIGINT has returned 0, #4721).  Codex 0.171 reports its own retries as top-level
``{"type":"error","message":"Reconnecting... 1/5 (…)"}`` (or ``Reconnecting...
waiting for network (…)`` when the endpoint is unreachable, forever): those are
live ``retry`` warnings, and a turn that then completes is a success.  Items of
type ``error`` (``Model metadata for … not found``) are warnings too.  A patch
the sandbox refuses appears only on stderr (``patch rejected: writing is
blocked by read-only sandbox``): that is ``permission_denied``.

Resume: ``codex exec resume <id>`` restores only the context; the flags are
given again, which the argv builder does.
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
    JsonLineParser,
    RunEnd,
    StreamParser,
    end_errors,
    unique,
)
from executive.agents.events import AgentEvent

__all__ = ["CodexAdapter", "CodexParser"]

SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
#: ``permissions`` -> ``--sandbox`` (exec never prompts, and starts read-only).
PROFILE_SANDBOX = {"read-only": "read-only", "edit": "workspace-write", "full": "danger-full-access"}
_RECONNECT = re.compile(r"^Reconnecting\.\.\.\s*(?:(?P<n>\d+)/(?P<m>\d+)\s*)?(?P<rest>.*)$", re.S)
_STATUS = re.compile(r"\bstatus (\d{3})\b")
_REJECTED = re.compile(r"(?:error=)?(patch rejected: .*|[^=]*blocked by [^=]*sandbox.*)$")
_TOOL_ITEMS = ("command_execution", "file_change", "mcp_tool_call", "web_search", "todo_list")


class CodexParser(JsonLineParser):
    def __init__(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> None:
        super().__init__(max_line=max_line, max_text=max_text, request=req)
        self.thread_id: str | None = None
        self.turns = 0
        self.failed: list[str] = []
        self.last_text = ""
        self.tokens = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
        self._started: set[str] = set()  # tool items whose call was already emitted
        self._anon = 0  # counter for the synthetic ids of tool items that carry no id
        self._anon_open: dict[str, list[str]] = {}  # item type -> synthetic ids of id-less items started, not completed

    def on_object(self, obj: dict[str, Any]) -> Iterable[AgentEvent]:
        kind = obj.get("type")
        if kind == "thread.started":
            self.thread_id = obj.get("thread_id")
            resumed = self.request.resume if self.request else None
            return [
                AgentEvent(
                    ev.SESSION, {"session_id": self.thread_id, "model": None, "cwd": None, "resumed_from": resumed}
                )
            ]
        if kind == "turn.completed":
            self.turns += 1
            usage = obj.get("usage") or {}
            if isinstance(usage, dict):
                self.tokens["input"] += int(usage.get("input_tokens") or 0)
                self.tokens["output"] += int(usage.get("output_tokens") or 0)
                self.tokens["cache_read"] += int(usage.get("cached_input_tokens") or 0)
            return []
        if kind == "turn.failed":
            err = obj.get("error")
            detail = err.get("message") if isinstance(err, dict) else err
            self.failed.append("turn_failed")
            if detail and detail == self.last_error:
                return []  # codex printed the same words as a top-level error just before
            return [self.warning("error", detail or "turn failed")]
        if kind == "error":
            detail = obj.get("message") or obj.get("error")
            text = str(detail or "")
            m = _RECONNECT.match(text)
            if m:
                st = _STATUS.search(text)
                return [
                    self.retry(
                        m.group("rest").strip().strip("()") or text,
                        attempt=int(m.group("n")) if m.group("n") else None,
                        limit=int(m.group("m")) if m.group("m") else None,
                        status=int(st.group(1)) if st else None,
                        delay_s=None,
                    )
                ]
            self.failed.append("error")
            if "rate limit" in text.lower() or "429" in text:
                return [self.warning("rate_limit", detail)]
            return [self.warning("error", detail)]
        if kind in ("item.started", "item.updated", "item.completed"):
            item = obj.get("item")
            if isinstance(item, dict):
                return self._item(kind, item)
        return []

    def on_stderr_line(self, line: bytes) -> Iterable[AgentEvent]:
        m = _REJECTED.search(line.decode("utf-8", "replace"))
        if not m:
            return ()
        self.failed.append("permission_denied")
        return [self.warning("permission_denied", m.group(1).strip())]

    def _item(self, kind: str, item: dict[str, Any]) -> list[AgentEvent]:
        itype = item.get("type")
        item_id = item.get("id")
        if itype == "error":  # e.g. "Model metadata for `x` not found"; the turn decides success
            return [self.warning("item_error", item.get("message"))] if kind == "item.completed" else []
        if itype in ("agent_message", "reasoning"):
            if kind != "item.completed":
                return []  # partial text; the completed item carries all of it
            text = item.get("text") or ""
            if itype == "agent_message":
                self.last_text = text
                return [self.message("assistant", text)]
            return [self.message("reasoning", text)]
        if itype not in _TOOL_ITEMS:
            return []
        if item_id is None or item_id == "":
            item_id = self._anon_id(kind, itype)
        out: list[AgentEvent] = []
        if item_id not in self._started:
            self._started.add(item_id)
            out.append(self.tool_call(item_id, itype, _tool_input(item)))
        if kind == "item.completed":
            status = item.get("status")
            exit_code = item.get("exit_code")
            is_error = status in ("failed", "declined") or (isinstance(exit_code, int) and exit_code != 0)
            output = item.get("aggregated_output")
            if output is None:
                output = item.get("changes") if itype == "file_change" else item.get("result", item.get("error"))
            out.append(self.tool_result(item_id, output, is_error, exit_code=exit_code, status=status))
        return out

    def _anon_id(self, kind: str, itype: str) -> str:
        """A unique id for an id-less tool item; its updates and completion go to the oldest open one of its type."""
        open_ids = self._anon_open.setdefault(itype, [])
        if kind == "item.started" or not open_ids:
            self._anon += 1
            sid = f"noid-{self._anon}"
            if kind != "item.completed":
                open_ids.append(sid)
            return sid
        return open_ids.pop(0) if kind == "item.completed" else open_ids[0]

    def result(self, end: RunEnd) -> dict[str, Any]:
        errors = end_errors(end) + self.failed
        if self.turns == 0 and not self.failed:
            errors.append("no_turn_completed")
        if "rate_limit" in self.warnings:
            errors.append("rate_limited")
        if self.stream_cut:
            errors.append("stream_cut")
        text, cut = self.text(self.last_text)
        return {
            "ok": not errors,
            "errors": unique(errors),
            "text": text,
            "text_truncated": cut,
            "cost_usd": None,
            "tokens": dict(self.tokens),
            "turns": self.turns,
            "session_id": self.thread_id,
            "resumed_from": self.request.resume if self.request else None,
            "exit_code": end.exit_code,
            "end_reason": end.end_reason,
        }


def _tool_input(item: dict[str, Any]) -> Any:
    itype = item.get("type")
    if itype == "command_execution":
        return {"command": item.get("command")}
    if itype == "file_change":
        return {"changes": item.get("changes")}
    if itype == "mcp_tool_call":
        return {"server": item.get("server"), "tool": item.get("tool"), "arguments": item.get("arguments")}
    if itype == "web_search":
        return {"query": item.get("query")}
    return {"items": item.get("items")}


class CodexAdapter(Adapter):
    name = "codex"
    default_bin = "codex"
    capabilities = Capabilities(
        streaming=True,
        resume=True,
        cost=False,
        tokens=True,
        turn_limit=False,
        budget_limit=False,
        sandbox_modes=SANDBOX_MODES,
    )
    env_keys = ("CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME", "HTTPS_PROXY", "NO_PROXY")
    auth_env = ("CODEX_API_KEY", "OPENAI_API_KEY")
    auth_files = (".codex/auth.json",)
    tested_versions = ("0.171.0", "0.171.0")

    def build_argv(self, req: AgentRequest, exe: str) -> list[str]:
        self.refuse_unsupported(
            req,
            permission_mode=False,
            allowed_tools=False,
            disallowed_tools=False,
            max_turns=False,
            max_budget_usd=False,
            files=False,
        )
        self.check_choice("sandbox", req.sandbox, SANDBOX_MODES)
        self.check_permissions(req, conflicts=("sandbox",))
        argv = [exe, "exec", "--json", "--skip-git-repo-check"]
        if req.model:
            argv.append(f"--model={req.model}")
        sandbox = PROFILE_SANDBOX[req.permissions] if req.permissions else req.sandbox
        if sandbox:
            argv.append(f"--sandbox={sandbox}")
        argv += req.args
        if req.resume:
            argv += ["resume", self.check_session_id(req.resume)]
        argv += ["--", req.prompt]
        return argv

    def parser(self, req: AgentRequest | None, *, max_line: int, max_text: int) -> StreamParser:
        return CodexParser(req, max_line=max_line, max_text=max_text)
