"""The benchmark results file: what the harness appends, what summary.py and compare.py read.

One JSON document ``{"format": 1, "results": [...]}``; each result names its benchmark
(``bench``), the case, the metric and unit, which direction is better, and A's and B's
per-round samples with min/median/max, the per-round ratio A/B, the load average and
the commit.  A result is identified by (bench, case, metric); when a file holds the same
one twice (a benchmark run twice into it), the later one counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMAT = 1

Key = tuple[str, str, str]


def load_results(path: Path) -> list[dict[str, Any]]:
    """The results kept in ``path`` (empty when the file does not exist)."""
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON ({exc}); remove it or pass another results file") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("results"), list):
        raise ValueError(f"{path} is not a benchmark results file (format {FORMAT}); remove it or pass another one")
    return list(doc["results"])


def append_results(path: Path, results: Sequence[dict[str, Any]]) -> None:
    """Add ``results`` to ``path``, rewriting it atomically."""
    kept = load_results(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "results": [*kept, *results]}, indent=1) + "\n")
    os.replace(tmp, path)


def key(result: dict[str, Any]) -> Key:
    return (str(result["bench"]), str(result["case"]), str(result["metric"]))


def latest(results: Sequence[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """One result per key, the last one written; in the order first seen."""
    out: dict[Key, dict[str, Any]] = {}
    for r in results:
        out[key(r)] = r
    return out


def number(x: float | None) -> str:
    """A measurement for a table: about four significant digits."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    ax = abs(x)
    if ax >= 1e4:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:,.1f}"
    if ax >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2e}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A plain-text table; ``right`` says which columns align right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
