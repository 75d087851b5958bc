"""Normalized agent events: one vocabulary for every coding-agent CLI.

Each adapter turns its CLI's own output (Claude's stream-json, Codex's JSONL,
Aider's text) into these events; the runner publishes them on the bus with
``pid`` = the agent task's id, so a client follows any agent the same way.

=====================  =========================================================
type                   data
=====================  =========================================================
``agent.session``      ``{session_id, model, cwd, resumed_from}``
``agent.message``      ``{role: assistant|reasoning|user|system, text, truncated}``
``agent.tool_call``    ``{id, name, input}``
``agent.tool_result``  ``{id, output, is_error, truncated}``
``agent.warning``      ``{reason, detail}`` — reason is one of WARNING_REASONS
``agent.result``       ``{ok, text, cost_usd, tokens, turns, session_id, errors, ...}``
=====================  =========================================================

``agent.result`` is always the last event of a run and appears exactly once.
Text fields are cut at ``Limits.agent_event_text_bytes`` (``truncated: true``);
the task's stdout log keeps every byte.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "MESSAGE",
    "RESULT",
    "SESSION",
    "TOOL_CALL",
    "TOOL_RESULT",
    "WARNING",
    "WARNING_REASONS",
    "AgentEvent",
    "clip",
]

SESSION = "agent.session"
MESSAGE = "agent.message"
TOOL_CALL = "agent.tool_call"
TOOL_RESULT = "agent.tool_result"
WARNING = "agent.warning"
RESULT = "agent.result"
EVENT_TYPES = (SESSION, MESSAGE, TOOL_CALL, TOOL_RESULT, WARNING, RESULT)

WARNING_REASONS = (
    "non_json",  # a stdout line that is not JSON (skipped, like the vendor SDKs do)
    "line_too_long",  # a line above Limits.agent_line_bytes (skipped; the run goes on)
    "stream_cut",  # the output ended in the middle of a line
    "rate_limit",  # the CLI reported a rate limit
    "error",  # the CLI reported an error event (Codex `error`, `turn.failed`)
)


@dataclasses.dataclass(frozen=True, slots=True)
class AgentEvent:
    """One normalized event; ``data`` is JSON-safe."""

    type: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes (on a character boundary); returns (text, truncated)."""
    if len(text) * 4 <= limit:  # fast path: even all-4-byte characters fit
        return text, False
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text, False
    return raw[:limit].decode("utf-8", "ignore"), True
