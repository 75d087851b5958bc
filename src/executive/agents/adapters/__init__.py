"""Adapters for coding-agent CLIs, one file each, and their registry."""

from __future__ import annotations

from executive.agents.adapters.aider import AiderAdapter
from executive.agents.adapters.base import (
    Adapter,
    AgentRequest,
    Capabilities,
    RunEnd,
    StreamParser,
)
from executive.agents.adapters.claude import ClaudeAdapter
from executive.agents.adapters.codex import CodexAdapter
from executive.agents.adapters.command import CommandAdapter
from executive.agents.errors import AgentUnknownError

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AgentRequest",
    "AiderAdapter",
    "Capabilities",
    "ClaudeAdapter",
    "CodexAdapter",
    "CommandAdapter",
    "RunEnd",
    "StreamParser",
    "get_adapter",
]

ADAPTERS: dict[str, Adapter] = {a.name: a for a in (ClaudeAdapter(), CodexAdapter(), AiderAdapter(), CommandAdapter())}


def get_adapter(name: str) -> Adapter:
    """The adapter called ``name``.

    Raises:
        AgentUnknownError: no such adapter; the message lists the known ones.
    """
    try:
        return ADAPTERS[name]
    except KeyError:
        raise AgentUnknownError(
            f"no agent adapter {name!r}; choose one of {', '.join(ADAPTERS)}",
            data={"agent": name, "known": list(ADAPTERS)},
        ) from None
