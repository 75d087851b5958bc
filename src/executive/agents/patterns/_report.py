"""Render a status report (a nested dict) as Markdown or JSON for the status patterns."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render"]


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _section(title: str, value: Any, level: int) -> list[str]:
    out = [f"{'#' * level} {title}", ""]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        cols = list(dict.fromkeys(k for v in value for k in v))
        out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(_cell(v.get(c)) for c in cols) + " |" for v in value]
    elif isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, (dict, list)) or not v}
        nested = {k: v for k, v in value.items() if k not in scalars}
        out += [f"- **{k}**: {_cell(v)}" for k, v in scalars.items()]
        for k, v in nested.items():
            out += ["", *_section(k, v, min(level + 1, 6))]
    elif isinstance(value, list):
        out += [f"- {_cell(v)}" for v in value] or ["(none)"]
    else:
        out.append(_cell(value))
    out.append("")
    return out


def render(title: str, report: dict[str, Any], fmt: str) -> str:
    """The report as a document: ``markdown`` (headings, tables, lists) or ``json``."""
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    lines = [f"# {title}", ""]
    for key, value in report.items():
        lines += _section(key, value, 2)
    return "\n".join(lines).rstrip("\n") + "\n"
