"""Per-benchmark change between two results files (two commits), with regressions flagged.

For every result in both files it prints A's median before and after and the median
ratio A/B before and after, with the change in percent.  A regression is a change in
the worse direction (lower for "higher is better", higher for "lower is better") beyond
``--threshold`` percent (default 5).  It is judged on the ratio against the same-run
baseline when the result has one — that is what stays comparable when the machine's
load differs between the two runs — and on A's median otherwise (``--on a`` judges A
everywhere).  Exit status: 0, or 1 when anything regressed, 2 on bad input.

Usage: ``python bench/compare.py OLD.json NEW.json [--threshold 5] [--on ratio|a]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from _results import Key, latest, load_results, number, table


def change(old: float | None, new: float | None) -> float | None:
    """Relative change in percent (None when either side is missing or old is 0)."""
    if old is None or new is None or old == 0:
        return None
    return (new - old) / abs(old) * 100


def worse(pct: float | None, better: str, threshold: float) -> bool:
    if pct is None:
        return False
    return pct < -threshold if better == "higher" else pct > threshold


def _ratio(r: dict[str, Any]) -> float | None:
    ratio = r.get("ratio")
    return float(ratio["median"]) if ratio else None


def compare(
    old: dict[Key, dict[str, Any]], new: dict[Key, dict[str, Any]], threshold: float, on: str
) -> tuple[list[list[str]], list[Key]]:
    """Table rows for the results in both files, and the keys that regressed."""
    rows: list[list[str]] = []
    regressed: list[Key] = []
    for k, n in new.items():
        o = old.get(k)
        if o is None:
            continue
        a_pct = change(o["a"]["median"], n["a"]["median"])
        r_old, r_new = _ratio(o), _ratio(n)
        r_pct = change(r_old, r_new)
        judged = r_pct if on == "ratio" and r_pct is not None else a_pct
        bad = worse(judged, n["better"], threshold)
        if bad:
            regressed.append(k)
        rows.append(
            [
                f"{k[0]}: {k[1]}",
                f"{k[2]} ({n['unit']})",
                n["better"],
                number(o["a"]["median"]),
                number(n["a"]["median"]),
                "-" if a_pct is None else f"{a_pct:+.1f}%",
                "-" if r_old is None else f"{r_old:.2f}x",
                "-" if r_new is None else f"{r_new:.2f}x",
                "-" if r_pct is None else f"{r_pct:+.1f}%",
                "REGRESSION" if bad else "",
            ]
        )
    return rows, regressed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="results file of the earlier run (e.g. bench/results/previous.json)")
    ap.add_argument("new", type=Path, help="results file of the later run (e.g. bench/results/latest.json)")
    ap.add_argument("--threshold", type=float, default=5.0, help="percent change that counts (default 5)")
    ap.add_argument("--on", choices=("ratio", "a"), default="ratio", help="judge the ratio A/B (default) or A's median")
    args = ap.parse_args(argv)
    if args.threshold < 0:
        ap.error("--threshold must be 0 or more")
    try:
        old, new = latest(load_results(args.old)), latest(load_results(args.new))
    except ValueError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    for path, got in ((args.old, old), (args.new, new)):
        if not got:
            print(f"compare: no results in {path}", file=sys.stderr)
            return 2
    rows, regressed = compare(old, new, args.threshold, args.on)
    heads = [
        "benchmark: case",
        "metric",
        "better",
        "old A",
        "new A",
        "A change",
        "old ratio",
        "new ratio",
        "change",
        "",
    ]
    print(table(heads, rows, [False, False, False, True, True, True, True, True, True, False]))
    only_old = [k for k in old if k not in new]
    only_new = [k for k in new if k not in old]
    for label, keys in (("only in the old file", only_old), ("only in the new file", only_new)):
        for k in keys:
            print(f"{label}: {k[0]}: {k[1]} ({k[2]})")
    judged = "the ratio A/B where there is one, else A" if args.on == "ratio" else "A's median"
    print(
        f"{len(rows)} compared, {len(regressed)} regression(s) beyond {args.threshold:g}% (judged on {judged}); "
        f"old commit {_commits(old)}, new commit {_commits(new)}"
    )
    return 1 if regressed else 0


def _commits(results: dict[Key, dict[str, Any]]) -> str:
    return ", ".join(sorted({str(r.get("commit")) for r in results.values()}))


if __name__ == "__main__":
    raise SystemExit(main())
