"""How many tests failed, read from a test command's output — for the fix loop's "did it get better".

The exit code decides green or not; the count only ranks red results.  Known
summary lines are read (the *last* one wins, as runners print it at the end):

* pytest — ``=== 2 failed, 7 passed, 1 error in 0.31s ===`` (failed + errors)
* unittest — ``FAILED (failures=2, errors=1)``
* go test — one ``--- FAIL:`` line per failed test
* jest / vitest — ``Tests:  2 failed, 5 passed, 7 total``
* cargo test — ``test result: FAILED. 5 passed; 2 failed;``

Anything else that exits non-zero counts as one failure.  So a patch that
turns an unknown runner green is an improvement, and one that leaves it red is
not.

:func:`count_passed` reads the passed tests from the same summaries (None when
there is none), so a patch that "fixes" two failures by breaking collection —
pytest then reports just ``1 error``, with nothing passed — is not mistaken
for an improvement.
"""

from __future__ import annotations

import re

__all__ = ["count_failures", "count_passed"]

_PYTEST = re.compile(r"(\d+) (failed|errors?)\b")
_PYTEST_LINE = re.compile(r"\b\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
_UNITTEST = re.compile(r"^FAILED \(([^)]*)\)\s*$", re.M)
_UNITTEST_PART = re.compile(r"(failures|errors|unexpected successes)=(\d+)")
_GO = re.compile(r"^\s*--- FAIL:", re.M)
_JEST = re.compile(r"^Tests:\s+(.*)$", re.M)
_CARGO = re.compile(r"test result: FAILED\.[^\n]*?(\d+) failed")


def count_failures(output: str, exit_code: int | None) -> int:
    """Failed tests (at least 1 when the command failed; 0 when it exited 0)."""
    if exit_code == 0:
        return 0
    found: int | None = None
    lines = [ln for ln in output.splitlines() if _PYTEST_LINE.search(ln)]
    if lines:
        found = sum(int(n) for n, _ in _PYTEST.findall(lines[-1]))
    if found is None and (m := list(_UNITTEST.finditer(output))):
        found = sum(int(v) for _, v in _UNITTEST_PART.findall(m[-1].group(1)))
    if found is None and (m := list(_JEST.finditer(output))):
        n = re.search(r"(\d+) failed", m[-1].group(1))
        found = int(n.group(1)) if n else None
    if found is None and (m := list(_CARGO.finditer(output))):
        found = int(m[-1].group(1))
    if found is None and (go := len(_GO.findall(output))):
        found = go
    return max(found or 0, 1)


_PASSED = re.compile(r"(\d+) passed")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests?\b", re.M)
_CARGO_PASSED = re.compile(r"test result: \w+\.\s*(\d+) passed")


def count_passed(output: str, exit_code: int | None) -> int | None:
    """Passed tests per the runner's summary; None when the output has no summary this module knows."""
    lines = [ln for ln in output.splitlines() if _PYTEST_LINE.search(ln)]
    if lines:
        m = _PASSED.search(lines[-1])
        return int(m.group(1)) if m else 0
    if ran := list(_UNITTEST_RAN.finditer(output)):
        total = int(ran[-1].group(1))
        if exit_code == 0:
            return total
        bad = list(_UNITTEST.finditer(output))
        return max(total - sum(int(v) for _, v in _UNITTEST_PART.findall(bad[-1].group(1))), 0) if bad else None
    if jest := list(_JEST.finditer(output)):
        n = _PASSED.search(jest[-1].group(1))
        return int(n.group(1)) if n else 0
    if cargo := list(_CARGO_PASSED.finditer(output)):
        return int(cargo[-1].group(1))
    return None
