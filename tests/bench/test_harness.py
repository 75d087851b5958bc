"""The benchmark harness's statistics and results file, and bench/compare.py on tiny files (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import _harness  # noqa: E402
import _results  # noqa: E402


def test_spread_is_min_median_max() -> None:
    s = _harness.Spread.of([3.0, 1.0, 10.0, 2.0, 4.0])
    assert (s.lo, s.median, s.hi) == (1.0, 3.0, 10.0)
    assert _harness.Spread.of([1.0, 2.0]).median == 1.5
    with pytest.raises(ValueError, match="no samples"):
        _harness.Spread.of([])


def test_ratios_pair_rounds() -> None:
    assert _harness.ratios([2.0, 9.0], [1.0, 3.0]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="one per round"):
        _harness.ratios([1.0], [1.0, 2.0])


def test_interleave_alternates_which_side_goes_first() -> None:
    calls: list[str] = []

    def side(name: str, value: float):  # type: ignore[no-untyped-def]
        def run() -> float:
            calls.append(name)
            return value

        return run

    xs, ys = _harness.interleave(4, side("a", 1.0), side("b", 2.0))
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert (xs, ys) == ([1.0] * 4, [2.0] * 4)


def test_verify_compares_content_not_only_size() -> None:
    produced, same, flipped = _harness.Digest(), _harness.Digest(), _harness.Digest()
    produced.update(b"abc")
    produced.update(b"def")
    same.update(b"abcdef")  # chunking does not matter
    flipped.update(b"abcdeF")
    _harness.verify("same", produced, same)
    with pytest.raises(_harness.ContentMismatch, match="flipped"):
        _harness.verify("flipped", produced, flipped)


def test_bench_records_and_appends_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    with _harness.Bench("demo", "demo", argv=["--rounds", "3", "--json", str(out)]) as bench:
        assert bench.rounds == 3
        bench.record("case", "rate", "op/s", "ours", [4.0, 6.0, 5.0], "base", [2.0, 2.0, 2.5])
        bench.record("case", "rss", "MiB", "ours", [1.0, 3.0, 2.0], better="lower")
    printed = capsys.readouterr().out
    assert "load average (1 min) at start" in printed and "ratio A/B" in printed
    results = _results.load_results(out)
    assert [r["metric"] for r in results] == ["rate", "rss"]
    rate = results[0]
    assert rate["a"]["samples"] == [4.0, 6.0, 5.0] and rate["a"]["median"] == 5.0
    assert rate["ratio"]["samples"] == [2.0, 3.0, 2.0] and rate["ratio"]["median"] == 2.0
    assert results[1]["b"] is None and results[1]["ratio"] is None
    assert set(rate["load"]) >= {"start", "end", "cores"}
    with _harness.Bench("demo", "demo", argv=["--json", str(out)]) as bench:  # a second run appends
        bench.record("other", "rate", "op/s", "ours", [1.0], "base", [1.0])
    assert len(_results.load_results(out)) == 3


def test_bench_rejects_zero_rounds() -> None:
    with pytest.raises(SystemExit):
        _harness.Bench("demo", "demo", argv=["--rounds", "0"])


def _result(case: str, a: float, b: float | None, better: str = "higher") -> dict[str, Any]:
    return {
        "bench": "demo",
        "case": case,
        "metric": "m",
        "unit": "u",
        "better": better,
        "a": {"label": "A", "samples": [a], "min": a, "median": a, "max": a},
        "b": None if b is None else {"label": "B", "samples": [b], "min": b, "median": b, "max": b},
        "ratio": None if b is None else {"samples": [a / b], "min": a / b, "median": a / b, "max": a / b},
        "load": {"start": 1.0, "end": 1.0, "cores": 2},
        "commit": "abc",
    }


def _write(path: Path, results: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"format": _results.FORMAT, "results": results}))
    return path


def _compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / "compare.py"), *args], capture_output=True, text=True)


def test_compare_flags_regressions_beyond_threshold(tmp_path: Path) -> None:
    old = _write(
        tmp_path / "old.json",
        [
            _result("faster", 100, 100),  # ratio 1.0
            _result("slower", 100, 100),
            _result("latency", 1.0, 1.0, better="lower"),
            _result("no baseline", 50, None),
            _result("gone", 1, 1),
        ],
    )
    new = _write(
        tmp_path / "new.json",
        [
            _result("faster", 120, 100),  # ratio +20%: better
            _result("slower", 90, 100),  # ratio -10%: worse
            _result("latency", 1.03, 1.0, better="lower"),  # +3%: within 5%
            _result("no baseline", 40, None),  # A -20%: worse
            _result("new one", 1, 1),
        ],
    )
    out = _compare(str(old), str(new))
    assert out.returncode == 1, out.stderr
    flagged = {line.split("  ")[0] for line in out.stdout.splitlines() if line.endswith("REGRESSION")}
    assert flagged == {"demo: slower", "demo: no baseline"}
    assert "only in the old file: demo: gone" in out.stdout and "only in the new file: demo: new one" in out.stdout
    assert "2 regression(s) beyond 5%" in out.stdout
    assert _compare(str(old), str(new), "--threshold", "25").returncode == 0
    lat = _compare(str(old), str(new), "--threshold", "2")
    assert any(line.startswith("demo: latency") and line.endswith("REGRESSION") for line in lat.stdout.splitlines())


def test_compare_judges_ratio_not_machine_speed(tmp_path: Path) -> None:
    """A slower machine slows A and B alike: the ratio holds, so it is no regression unless --on a."""
    old = _write(tmp_path / "old.json", [_result("x", 100, 50)])
    new = _write(tmp_path / "new.json", [_result("x", 60, 30)])
    assert _compare(str(old), str(new)).returncode == 0
    assert _compare(str(old), str(new), "--on", "a").returncode == 1


def test_compare_rejects_a_file_that_is_not_results(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"something": "else"}')
    good = _write(tmp_path / "good.json", [_result("x", 1, 1)])
    out = _compare(str(bad), str(good))
    assert out.returncode == 2 and "not a benchmark results file" in out.stderr
    out = _compare(str(tmp_path / "missing.json"), str(good))
    assert out.returncode == 2 and "no results" in out.stderr


def test_summary_prints_one_row_per_result(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.json", [_result("x", 2, 1), _result("x", 4, 1), _result("y", 3, None)])
    out = subprocess.run([sys.executable, str(BENCH / "summary.py"), str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("demo:")]
    assert len(rows) == 2  # the later "x" replaces the earlier one
    assert rows[0].split()[-1] == "4.00x" and rows[1].split()[-1] == "-"
