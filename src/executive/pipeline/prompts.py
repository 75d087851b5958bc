"""Prompt templates for agent steps and rubric checks: placeholders and rendering.

A template is plain text with ``{name}`` placeholders from :data:`PLACEHOLDERS`
(``{{`` and ``}}`` give literal braces).  Unknown names are rejected when the
pipeline file loads, with the path of the field, so a typo never reaches an
agent.  Rejected alternative: ``str.format`` — it evaluates attribute and index
expressions (``{x.__class__}``) taken from a user's file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["DEFAULT_REWORK_SUFFIX", "DEFAULT_RUBRIC_PROMPT", "PLACEHOLDERS", "render", "unknown_placeholders"]

PLACEHOLDERS: dict[str, str] = {
    "requirement": "the run's requirement text (--requirement)",
    "pipeline": "the pipeline's name",
    "phase": "the phase's name",
    "iteration": "the iteration number (1 = first pass)",
    "step": "the step's name",
    "workdir": "the absolute working directory of the run",
    "run": "the run id",
    "failed_checks": "rework only: the exit-gate checks that failed, one per line with score and detail",
    "diff": "rework only: the changes made so far (git diff, or the files changed since the run started)",
    "rubric": "rubric checks only: the rubric text",
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")

DEFAULT_REWORK_SUFFIX = (
    "\n\n---\nThis is iteration {iteration} of phase {phase}. The exit gate failed these checks:\n"
    "{failed_checks}\n\nChanges made so far:\n{diff}\n\nFix what the failed checks report; keep what already passes."
)

DEFAULT_RUBRIC_PROMPT = (
    "You are reviewing the work of phase {phase} for this requirement:\n{requirement}\n\n"
    "Score the files in {workdir} against this rubric from 0 to 100:\n{rubric}\n\n"
    'Reply with one line of JSON and nothing else: {{"score": <0-100>, "reason": "<one sentence>"}}'
)


def unknown_placeholders(template: str) -> list[str]:
    """Placeholder names in ``template`` that :func:`render` would not know."""
    return sorted({m.group(1) for m in _TOKEN.finditer(template) if m.group(1) and m.group(1) not in PLACEHOLDERS})


def render(template: str, values: Mapping[str, object], *, max_bytes: int) -> str:
    """Substitute placeholders; missing values render as empty text.

    The result is cut to ``max_bytes`` (UTF-8) with a marker, so a huge diff or
    requirement cannot produce an argv the OS refuses.
    """

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        value = values.get(m.group(1), "")
        return "" if value is None else str(value)

    out = _TOKEN.sub(sub, template)
    raw = out.encode()
    if len(raw) > max_bytes:
        marker = "\n[... prompt cut at the pipeline_prompt_bytes limit ...]"
        out = raw[: max_bytes - len(marker.encode())].decode("utf-8", "ignore") + marker
    return out
