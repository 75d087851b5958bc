"""Scores and verdicts: pure functions, no I/O, no clock.

An exit gate is a weighted mean of check scores (each 0-100).  The threshold
rises with the iteration (``thresholds[i-1]``, the last entry repeating), so a
phase that needs rework must come back better, not merely as good.  The
verdict of one evaluation, in order of precedence:

1. ``PASSED``         score >= the iteration's threshold, and no required step is unfinished
                      (its latest run timed out: the checks may pass on stale work);
2. ``BELOW``          validate mode: reported, never reworked;
3. ``NOT_IMPROVING``  a rework iteration gained less than ``min_improvement`` points;
4. ``EXHAUSTED``      the phase's (or the run's) last allowed iteration;
5. ``REWORK``         otherwise: re-run the steps that own the failed checks.

A check *fails* when its score is below its own ``pass_score``, or, without
one, below the iteration's threshold; at least one check fails whenever the
gate does, so rework always has something to re-run.

The parsers read what real tools print: a pytest summary (``3 passed, 1
failed``), unittest (``Ran 4 tests`` / ``FAILED (failures=1)``), JSON
``{"passed": n, "failed": m}``, coverage.py's ``TOTAL ... 87%`` line and JSON
report, and an agent's ``{"score": n}`` reply (also inside a Claude
``stream-json`` ``result`` line).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from executive.pipeline.states import Verdict

__all__ = [
    "clamp",
    "coverage_from_report",
    "decide",
    "failed_checks",
    "json_from_output",
    "lookup",
    "parse_coverage_text",
    "parse_rubric_score",
    "parse_test_summary",
    "threshold_for",
    "weighted_score",
]


def clamp(x: float) -> float:
    return max(0.0, min(100.0, float(x)))


def threshold_for(thresholds: list[float], iteration: int) -> float:
    """The threshold of ``iteration`` (1-based); beyond the table the last entry holds."""
    if iteration < 1:
        raise ValueError(f"iterations count from 1, got {iteration}")
    return float(thresholds[min(iteration, len(thresholds)) - 1])


def weighted_score(results: Iterable[Mapping[str, Any]]) -> float:
    """Weighted mean of ``score`` by ``weight``, rounded to 0.01; 0 when there are no checks."""
    total = weight = 0.0
    for r in results:
        total += float(r["score"]) * float(r["weight"])
        weight += float(r["weight"])
    return round(total / weight, 2) if weight else 0.0


def failed_checks(results: Iterable[Mapping[str, Any]], threshold: float) -> list[Mapping[str, Any]]:
    """Checks below their own pass_score, or below ``threshold`` when they have none.

    When every check clears its own (lower) pass_score but the weighted score is still
    below ``threshold``, the checks below ``threshold`` fail: a failing gate always has
    something for rework to re-run.
    """
    rows = list(results)
    out = []
    for r in rows:
        bar = r.get("pass_score")
        if float(r["score"]) < (threshold if bar is None else float(bar)):
            out.append(r)
    if not out and weighted_score(rows) < threshold:
        out = [r for r in rows if float(r["score"]) < threshold]
    return out


def decide(
    *,
    score: float,
    threshold: float,
    iteration: int,
    max_iterations: int,
    previous: float | None,
    min_improvement: float,
    total_used: int,
    max_total: int,
    validate: bool = False,
    unfinished: bool = False,
) -> Verdict:
    """The verdict of one exit-gate evaluation (see the module docstring for the order)."""
    if score >= threshold and not unfinished:
        return Verdict.PASSED
    if validate:
        return Verdict.BELOW
    if previous is not None and score - previous < min_improvement:
        return Verdict.NOT_IMPROVING
    if iteration >= max_iterations or total_used >= max_total:
        return Verdict.EXHAUSTED
    return Verdict.REWORK


# ------------------------------------------------------------------------- parsers
_PYTEST = re.compile(r"(\d+) (passed|failed|errors?|xfailed|xpassed|skipped|deselected)\b")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests?\b", re.M)
_UNITTEST_STATUS = re.compile(r"^(OK|FAILED)(?: \(([^)]*)\))?\s*$", re.M)


def parse_test_summary(text: str, fmt: str = "auto") -> tuple[int, int] | None:
    """``(passed, not_passed)`` from a test runner's output, or None if no summary is found.

    ``auto`` tries JSON, then pytest, then unittest.  Skipped tests count for
    neither side; errors and xpassed count as not passed.
    """
    if fmt in ("auto", "json"):
        obj = json_from_output(text)
        if isinstance(obj, dict) and isinstance(obj.get("passed"), int):
            passed = int(obj["passed"])
            if isinstance(obj.get("failed"), int):
                return passed, int(obj["failed"]) + int(obj.get("errors", 0) or 0)
            if isinstance(obj.get("total"), int):
                return passed, max(0, int(obj["total"]) - passed)
        if fmt == "json":
            return None
    if fmt in ("auto", "pytest"):
        lines = [ln for ln in text.splitlines() if _PYTEST.search(ln)]
        if lines:
            counts: dict[str, int] = {}
            for n, word in _PYTEST.findall(lines[-1]):
                counts[word.rstrip("s") if word.startswith("error") else word] = int(n)
            passed = counts.get("passed", 0)
            bad = counts.get("failed", 0) + counts.get("error", 0) + counts.get("xpassed", 0)
            return passed, bad
        if fmt == "pytest":
            return None
    ran = _UNITTEST_RAN.findall(text)
    if ran:
        total = int(ran[-1])
        counts = {}
        status = _UNITTEST_STATUS.findall(text)
        if status:
            for part in status[-1][1].split(","):
                key, _, value = part.strip().partition("=")
                if value.isdigit():
                    counts[key] = int(value)
        bad = counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpected successes", 0)
        neutral = counts.get("skipped", 0) + counts.get("expected failures", 0)
        return max(0, total - bad - neutral), bad
    return None


_COVERAGE_TOTAL = re.compile(r"^TOTAL\b.*?(\d+(?:\.\d+)?)%\s*$", re.M)


def parse_coverage_text(text: str) -> float | None:
    """The percentage on coverage.py's ``TOTAL`` line, or ``percent_covered`` from JSON output."""
    m = _COVERAGE_TOTAL.findall(text)
    if m:
        return float(m[-1])
    obj = json_from_output(text)
    return coverage_from_report(obj) if obj is not None else None


def coverage_from_report(obj: Any) -> float | None:
    """coverage.py's JSON report: ``totals.percent_covered``."""
    if isinstance(obj, dict):
        totals = obj.get("totals")
        if isinstance(totals, dict) and isinstance(totals.get("percent_covered"), (int, float)):
            return float(totals["percent_covered"])
        if isinstance(obj.get("percent_covered"), (int, float)):
            return float(obj["percent_covered"])
    return None


def json_from_output(text: str) -> Any:
    """The whole output as JSON, else the last line that parses as a JSON object; None if neither."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):  # RecursionError: nesting too deep for the parser
        pass
    for line in reversed(stripped.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except (ValueError, RecursionError):
                continue
    return None


def lookup(obj: Any, key: str) -> Any:
    """Follow a dotted path (``a.b.0.c``) through dicts and lists.

    Raises:
        KeyError: with the part of the path that is missing.
    """
    node = obj
    for i, part in enumerate(key.split(".")):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(".".join(key.split(".")[: i + 1]))
    return node


_SCORE_TEXT = re.compile(r'"score"\s*:\s*(-?\d+(?:\.\d+)?)')


def parse_rubric_score(text: str) -> float | None:
    """An agent's score: the last ``{"score": n}`` in its output (plain, JSON lines, or a stream-json result)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            if isinstance(obj.get("score"), (int, float)) and not isinstance(obj.get("score"), bool):
                return clamp(obj["score"])
            inner = obj.get("result")
            if isinstance(inner, str):
                m = _SCORE_TEXT.findall(inner)
                if m:
                    return clamp(float(m[-1]))
            continue
        m = _SCORE_TEXT.findall(line)
        if m:
            return clamp(float(m[-1]))
    return None
