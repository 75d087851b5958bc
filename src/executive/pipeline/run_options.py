"""What a client may set on one run beside the file: requirement, session name, iteration cap, thresholds.

Theory of operation
-------------------
``pipeline run`` takes these from the command line (the phased executor's
``--session``, ``--max-phase-iterations``, ``--threshold-schedule``), and the
same params arrive over JSON-RPC from every other client, so they are checked
here, in the engine's layer, before a run exists: a refused request leaves no
row behind.  What passes is stored in the run's ``options`` (and thresholds),
never re-read from the command line, so a resume replays with exactly the
values the run started with.

The threshold schedule is per *iteration*, shared by every phase (like the
file's ``defaults.thresholds``), not one threshold per phase; the last entry
repeats.  A schedule longer than any phase can iterate is refused rather than
silently cut, because its tail would never apply.

Rejected alternative: accepting an empty requirement and letting steps fail on
it later.  Steps and agent prompts see the requirement; an empty one makes a
run that does real work towards nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from executive.kernel.errors import BadParamsError, LimitError
from executive.kernel.limits import Limits
from executive.pipeline.model import Phase, Pipeline

__all__ = [
    "SESSION_PATTERN",
    "check_requirement",
    "check_session",
    "phase_max_iterations",
    "phase_thresholds",
    "run_options",
]

# Starts with a letter, so a session name never reads as a run id (`pipeline status 7` is run 7).
SESSION_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def check_requirement(requirement: str, limits: Limits) -> str:
    """The requirement, stripped; refuse an empty one, a NUL byte, or one over ``pipeline_requirement_bytes``.

    Raises:
        BadParamsError: empty after stripping whitespace, or it contains a NUL byte.
        LimitError: longer than the limit.
    """
    text = requirement.strip()
    if not text:
        raise BadParamsError(
            "the requirement is empty: say what the run should build, e.g. "
            '--requirement "a command that greets people" (steps see it as EXECUTIVE_REQUIREMENT)',
            data={"field": "requirement"},
        )
    if "\x00" in text:
        raise BadParamsError(
            "the requirement contains a NUL byte; it travels to steps in the environment, which cannot hold one",
            data={"field": "requirement"},
        )
    size = len(text.encode())
    if size > limits.pipeline_requirement_bytes:
        raise LimitError(
            f"the requirement has {size} bytes; pipeline_requirement_bytes is {limits.pipeline_requirement_bytes}; "
            "put long requirements in a file a step reads",
            data={"field": "requirement", "limit": limits.pipeline_requirement_bytes},
        )
    return text


def check_session(name: str) -> str:
    """A valid session name, or a :class:`BadParamsError` that says what a name may hold."""
    if not SESSION_PATTERN.match(name):
        raise BadParamsError(
            f"session name {name!r} is not valid: use 1-64 letters, digits, '_', '.' or '-', starting with a letter "
            "(so it never reads as a run id)",
            data={"field": "session", "session": name},
        )
    return name


def run_options(
    pipeline: Pipeline,
    limits: Limits,
    *,
    session: str | None = None,
    max_phase_iterations: int | None = None,
    threshold_schedule: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Check the client's settings against the pipeline and the limits; the run's ``options``.

    Raises:
        BadParamsError: a bad session name, iteration cap or schedule (the message says which and why).
    """
    options: dict[str, Any] = {}
    if session is not None:
        options["session"] = check_session(session)
    cap = limits.pipeline_max_iterations
    if max_phase_iterations is not None:
        if not 1 <= max_phase_iterations <= cap:
            raise BadParamsError(
                f"--max-phase-iterations must be 1..{cap} (pipeline_max_iterations), got {max_phase_iterations}",
                data={"field": "max_phase_iterations", "limit": cap},
            )
        options["max_phase_iterations"] = max_phase_iterations
    if threshold_schedule is not None:
        most = max(phase_max_iterations(pipeline, ph, options) for ph in pipeline.phases)
        options["threshold_schedule"] = _check_schedule(list(threshold_schedule), most, cap)
    return options


def _check_schedule(schedule: list[float], most: int, cap: int) -> list[float]:
    def bad(why: str) -> BadParamsError:
        return BadParamsError(
            f"--threshold-schedule {','.join(f'{t:g}' for t in schedule) or '(empty)'}: {why}; "
            "it is one threshold per iteration, used by every phase (not one per phase), and the last one repeats",
            data={"field": "threshold_schedule"},
        )

    if not schedule:
        raise bad("give at least one threshold, e.g. 60,75,85")
    if len(schedule) > cap:
        raise bad(f"{len(schedule)} thresholds exceed pipeline_max_iterations={cap}")
    for t in schedule:
        if not 0 <= t <= 100:
            raise bad(f"{t:g} is not a percentage (0-100)")
    for a, b in itertools.pairwise(schedule):
        if b <= a:
            raise bad(f"thresholds must increase from one iteration to the next ({a:g} then {b:g})")
    if len(schedule) > most:
        raise bad(
            f"{len(schedule)} thresholds, but a phase runs at most {most} iteration{'s' if most > 1 else ''} "
            f"(max_iterations, or --max-phase-iterations), so the last {len(schedule) - most} would never apply"
        )
    return [float(t) for t in schedule]


def phase_thresholds(pipeline: Pipeline, phase: Phase, options: Mapping[str, Any]) -> list[float]:
    """The run's thresholds for ``phase``: the schedule given at start, else the file's."""
    schedule = options.get("threshold_schedule")
    return [float(t) for t in schedule] if schedule else pipeline.thresholds(phase)


def phase_max_iterations(pipeline: Pipeline, phase: Phase, options: Mapping[str, Any]) -> int:
    """The run's iteration cap for ``phase``: ``--max-phase-iterations`` when given, else the file's."""
    cap = options.get("max_phase_iterations")
    return int(cap) if cap else pipeline.max_iterations(phase)
