"""Measuring A against B honestly: interleaved rounds, spread, load, verified content, JSON results.

Every benchmark compares what it measures (A, usually the executive) with a baseline (B)
measured in the same run.  The rules this module enforces:

* A and B alternate over N rounds (``--rounds``, default 5; odd rounds run B first), so
  drift on a shared machine hits both alike; each side gets one sample per round.
* min / median / max are printed for A, for B and for the per-round ratio A/B.
* The 1-minute load average is printed when the benchmark starts and ends, with a warning
  when it is above the number of cores (numbers from a busy machine are noise-prone).
* Whatever moves data is checked by content: :func:`verify` compares the sha256 of what
  arrived with the sha256 of what was produced and stops the benchmark on a mismatch.
* Each result is appended as JSON to ``--json FILE`` (default ``bench/results/latest.json``),
  which ``bench/summary.py`` and ``bench/compare.py`` read (format: ``_results.py``).

``make bench`` sets the defaults of ``--rounds`` and ``--json`` through the environment
(``BENCH_ROUNDS``, ``BENCH_JSON``).

Every benchmark starts by compiling ``src/`` to bytecode, as ``pip install`` does: a command
whose modules were edited since their ``.pyc`` (or a shell with ``PYTHONDONTWRITEBYTECODE``)
would otherwise compile them at every start and measure the compiler (15 ms per
``executive run`` here), not what an installed user runs.

Importing this module also puts ``src/`` first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"

from _daemon import BenchDaemon as BenchDaemon  # noqa: E402  (re-exported: benchmarks use _harness.BenchDaemon)
from _results import append_results  # noqa: E402


def compile_sources() -> None:
    """Bring every ``.pyc`` of ``src/`` up to date (what an installed package has)."""
    import compileall

    compileall.compile_dir(str(ROOT / "src"), quiet=2)


@dataclass(frozen=True)
class Spread:
    """min / median / max of one series of per-round samples."""

    lo: float
    median: float
    hi: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        if not samples:
            raise ValueError("no samples: a benchmark side must run at least one round")
        return cls(min(samples), statistics.median(samples), max(samples))

    def as_dict(self) -> dict[str, float]:
        return {"min": self.lo, "median": self.median, "max": self.hi}


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Per-round ratios A/B: round i of A against round i of B, which ran next to it."""
    if len(a) != len(b):
        raise ValueError(f"A has {len(a)} samples and B {len(b)}: interleaved sides must have one per round each")
    return [x / y if y else float("inf") for x, y in zip(a, b, strict=True)]


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def cores() -> int:
    return os.cpu_count() or 1


class ContentMismatch(AssertionError):
    """What arrived is not what was produced."""


class Digest:
    """Byte count and sha256 of a stream, fed chunk by chunk (same work on both sides)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def __repr__(self) -> str:
        return f"Digest({self.size:,} bytes, sha256 {self.hexdigest()[:16]}...)"


def verify(what: str, produced: Digest, received: Digest) -> None:
    """Stop the benchmark unless ``received`` has the same bytes as ``produced``."""
    if (produced.size, produced.hexdigest()) != (received.size, received.hexdigest()):
        raise ContentMismatch(f"{what}: produced {produced!r} but received {received!r}")


def interleave(rounds: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[list[float], list[float]]:
    """Run A and B ``rounds`` times each, alternating which goes first; one sample per call."""
    xs: list[float] = []
    ys: list[float] = []
    for r in range(rounds):
        if r % 2:
            ys.append(b())
            xs.append(a())
        else:
            xs.append(a())
            ys.append(b())
    return xs, ys


async def interleave_async(
    rounds: int, a: Callable[[], Awaitable[float]], b: Callable[[], Awaitable[float]]
) -> tuple[list[float], list[float]]:
    """:func:`interleave` for coroutines (both sides share the caller's event loop)."""
    xs: list[float] = []
    ys: list[float] = []
    for r in range(rounds):
        if r % 2:
            ys.append(await b())
            xs.append(await a())
        else:
            xs.append(await a())
            ys.append(await b())
    return xs, ys


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _fmt(x: float) -> str:
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:,.3f}" if abs(x) < 100 else f"{x:,.1f}"
    return f"{x:.3g}"


class Bench:
    """One benchmark file's run: its options, its printed results and its JSON records.

    Use as a context manager; ``record`` prints one A-against-B result and keeps it,
    leaving the block appends the kept results to the JSON file (also after an error,
    so the cases that finished are not lost).
    """

    def __init__(
        self,
        name: str,
        description: str,
        argv: Sequence[str] | None = None,
        options: Callable[[argparse.ArgumentParser], None] | None = None,
    ) -> None:
        ap = argparse.ArgumentParser(prog=f"bench/{name}.py", description=description)
        rounds = int(os.environ.get("BENCH_ROUNDS") or 5)
        path = Path(os.environ.get("BENCH_JSON") or DEFAULT_JSON)
        ap.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds of A and B (default {rounds})")
        ap.add_argument("--json", type=Path, default=path, help=f"results file to append to (default {path})")
        if options is not None:
            options(ap)
        self.args = ap.parse_args(argv)
        if self.args.rounds < 1:
            ap.error("--rounds must be at least 1")
        self.name = name
        self.rounds: int = self.args.rounds
        self.results: list[dict[str, Any]] = []
        compile_sources()
        self.load_before = load_average()
        self._say_load("start", self.load_before)

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _say_load(self, when: str, load: float) -> None:
        n = cores()
        warn = f"  WARNING: above the {n} cores, expect noisy numbers" if load > n else ""
        print(f"{self.name}: load average (1 min) at {when}: {load:.2f} on {n} cores{warn}", flush=True)

    def record(
        self,
        case: str,
        metric: str,
        unit: str,
        a_label: str,
        a: Sequence[float],
        b_label: str | None = None,
        b: Sequence[float] | None = None,
        *,
        better: str = "higher",
        verified: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """Print and keep one result; ``better`` is "higher" (rates) or "lower" (times)."""
        if better not in ("higher", "lower"):
            raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
        sa = Spread.of(a)
        sb = Spread.of(b) if b is not None else None
        rs = ratios(a, b) if b is not None else None
        sr = Spread.of(rs) if rs is not None else None
        check = f", content {verified}" if verified else ""
        print(f"{self.name}: {case}: {metric} in {unit}, {better} is better, {len(a)} rounds{check}")
        width = max(len(a_label), len(b_label or ""), 12)
        print(f"  {'':{width}}  {'min':>12} {'median':>12} {'max':>12}")
        print(f"  {a_label:{width}}  {_fmt(sa.lo):>12} {_fmt(sa.median):>12} {_fmt(sa.hi):>12}")
        if sb is not None and sr is not None:
            print(f"  {b_label:{width}}  {_fmt(sb.lo):>12} {_fmt(sb.median):>12} {_fmt(sb.hi):>12}")
            print(f"  {'ratio A/B':{width}}  {sr.lo:>11.2f}x {sr.median:>11.2f}x {sr.hi:>11.2f}x")
        if note:
            print(f"  {note}")
        sys.stdout.flush()
        result: dict[str, Any] = {
            "bench": self.name,
            "case": case,
            "metric": metric,
            "unit": unit,
            "better": better,
            "rounds": len(a),
            "a": {"label": a_label, "samples": list(a), **sa.as_dict()},
            "b": {"label": b_label, "samples": list(b), **sb.as_dict()} if b is not None and sb else None,
            "ratio": {"samples": rs, **sr.as_dict()} if rs is not None and sr else None,
            "verified": verified,
            "note": note,
            "load": {"start": self.load_before, "now": load_average(), "cores": cores()},
            "time": time.time(),
        }
        self.results.append(result)
        return result

    def finish(self) -> None:
        """Print the load at the end and append the kept results to the JSON file."""
        after = load_average()
        self._say_load("end", after)
        if not self.results:
            return
        commit = _commit()
        for r in self.results:
            r["load"]["end"] = after
            r["commit"] = commit
        append_results(self.args.json, self.results)
        print(f"{self.name}: {len(self.results)} result(s) appended to {self.args.json}", flush=True)
        self.results = []
