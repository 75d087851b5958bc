"""One table of a benchmark results file: name, metric, median A, median B, median ratio A/B.

``make bench`` prints it after running every benchmark.  A result without a baseline
(B) shows "-" for B and the ratio.  Usage: ``python bench/summary.py [FILE]`` (default
``bench/results/latest.json``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from _results import latest, load_results, number, table

DEFAULT = Path(__file__).resolve().parent / "results" / "latest.json"


def rows(results: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in latest(results).values():
        b, ratio = r.get("b"), r.get("ratio")
        arrow = str(r["better"])
        out.append(
            [
                f"{r['bench']}: {r['case']}",
                f"{r['metric']} ({r['unit']})",
                arrow,
                number(r["a"]["median"]),
                number(b["median"]) if b else "-",
                f"{ratio['median']:.2f}x" if ratio else "-",
            ]
        )
    return out


def loads(results: list[dict[str, Any]]) -> str:
    """The range of 1-minute load averages seen while the results were taken."""
    seen = [v for r in results for k, v in r.get("load", {}).items() if k != "cores" and isinstance(v, int | float)]
    cores = max((r.get("load", {}).get("cores", 0) for r in results), default=0)
    return f"load average (1 min) {min(seen):.2f} to {max(seen):.2f} on {cores} cores" if seen else "no load recorded"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT, help=f"results file (default {DEFAULT})")
    args = ap.parse_args(argv)
    try:
        results = load_results(args.file)
    except ValueError as exc:
        print(f"summary: {exc}", file=sys.stderr)
        return 2
    if not results:
        print(f"summary: no results in {args.file}; run `make bench` or a bench/*.py first", file=sys.stderr)
        return 2
    heads = ["benchmark: case", "metric", "better", "median A", "median B", "ratio A/B"]
    print(table(heads, rows(results), [False, False, False, True, True, True]))
    commits = sorted({str(r.get("commit")) for r in results})
    print(f"{len(latest(results))} results from {args.file}; commit {', '.join(commits)}; {loads(results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
