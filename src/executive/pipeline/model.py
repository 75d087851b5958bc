"""Pipeline files: pydantic models loaded from YAML, and the published JSON Schema.

A pipeline is an ordered list of phases.  Each phase has an entry gate (earlier
phases passed, files present, commands that succeed, optionally a human
approval), steps (a command or an agent prompt; required or optional; timeout;
retries with backoff) and an exit gate: weighted checks, each naming the steps
that own it, scored against a threshold that rises with each iteration.

Loading is strict and explains itself: unknown keys are errors (a misspelt
``timeout_s`` must not silently become the default), and every error names the
path of the bad field — ``phases[1].steps[0].timeout_s`` — plus the phase and
step names.  Size limits come from ``kernel/limits.py``: the file's bytes, the
number of phases, steps and checks, iteration caps, and the expanded size of the
YAML document (aliases can make a small file expand to a huge one).

Commands are argv lists, never shell strings (DESIGN.md §7); use
``["sh", "-c", "..."]`` when a shell is really wanted.  Paths in checks are
relative to the run's working directory and may not leave it.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from executive.kernel.errors import BadParamsError, LimitError
from executive.kernel.limits import DEFAULT_LIMITS, Limits, nested_deeper_than
from executive.pipeline.errors import PipelineInvalidError
from executive.pipeline.prompts import PLACEHOLDERS, unknown_placeholders
from executive.runtimes.ray_placement import parse_placement
from executive.yaml_text import safe_load

__all__ = [
    "MAX_REPORTED_PROBLEMS",
    "AgentRef",
    "AgentSpec",
    "Check",
    "CommandCheck",
    "CoverageCheck",
    "Defaults",
    "EntryGate",
    "FilesExistCheck",
    "JsonScoreCheck",
    "Phase",
    "Pipeline",
    "RubricCheck",
    "Step",
    "TestRatioCheck",
    "dump_json",
    "load_pipeline",
    "parse_pipeline",
    "pipeline_schema",
]

_MAX_YAML_NODES = 100_000  # expanded scalars + containers; stops alias bombs


def _relative(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{path!r} must be relative to the run's working directory and not contain '..'")
    return path


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
RelPath = Annotated[str, StringConstraints(min_length=1, max_length=1024), AfterValidator(_relative)]


def _scalar_to_str(v: Any) -> Any:
    """YAML reads `[true]` or `[echo, 1]` as bool/int; in an argv they mean the words."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


Arg = Annotated[str, BeforeValidator(_scalar_to_str), StringConstraints(max_length=64 * 1024)]
Argv = Annotated[list[Arg], Field(min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(max_length=64 * 1024)]
Percent = Annotated[float, Field(ge=0, le=100)]
EnvMap = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)], Arg],
    Field(max_length=128),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentRef(_Model):
    """Which coding-agent CLI to run (the agents layer's adapters when installed, else built-in argv)."""

    cli: Literal["claude", "codex", "aider", "custom"] = Field("claude", description="agent CLI; custom uses argv")
    argv: Argv | None = Field(
        None, description="custom: the full argv, with {prompt} where the prompt goes; others: extra arguments"
    )
    model: Annotated[str, StringConstraints(max_length=128)] | None = None
    permissions: Literal["read-only", "edit", "full"] = Field(
        "edit", description="what the agent may do: read-only, edit (files in the workspace) or full; mapped per CLI"
    )

    @model_validator(mode="after")
    def _custom_needs_argv(self) -> AgentRef:
        if self.cli == "custom" and not self.argv:
            raise ValueError('cli "custom" needs argv, e.g. ["my-agent", "--prompt", "{prompt}"]')
        return self


class AgentSpec(AgentRef):
    prompt: Text = Field(
        min_length=1, description="template; placeholders: {requirement} {phase} {iteration} {step} ..."
    )
    rework_prompt: Text | None = Field(
        None, description="template for iterations >= 2; default: prompt + the failed checks and the diff so far"
    )


def _yaml_on(value: Any) -> Any:
    """YAML 1.1 reads the key ``on`` as the boolean true: ``placement: {on: ray}`` means ``"on"``."""
    if isinstance(value, dict) and True in value and "on" not in value:
        return {("on" if k is True else k): v for k, v in value.items()}
    return value


def _placement(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A step's placement, normalized like task.run's (runtimes/ray_placement.py); None runs it here."""
    try:
        return parse_placement(value)
    except BadParamsError as exc:
        raise ValueError(exc.message) from None


class Step(_Model):
    name: Name
    description: Text = ""
    command: Argv | None = Field(None, description="argv list run as a daemon task in the working directory")
    agent: AgentSpec | None = Field(None, description="an agent run instead of a command")
    required: bool = Field(True, description="required steps run on iteration 1; optional ones join from iteration 2")
    timeout_s: float = Field(600.0, gt=0, le=30 * 86400)
    retries: int = Field(0, ge=0, le=10, description="extra attempts when the step fails")
    backoff_s: float = Field(1.0, ge=0, le=3600, description="wait before the first retry")
    backoff_factor: float = Field(2.0, ge=1, le=10, description="each further retry waits this much longer")
    env: EnvMap = Field(default_factory=dict)
    cwd: RelPath | None = Field(None, description="subdirectory of the working directory")
    placement: Annotated[dict[str, Any] | None, BeforeValidator(_yaml_on), AfterValidator(_placement)] = Field(
        None,
        description="where the step runs: {on: ray, resources: {CPU: 1, gpu_box: 1}, node: NODE_ID} on a daemon "
        "started with --ray (the working directory must then exist on that node); default: here",
    )

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if (self.command is None) == (self.agent is None):
            raise ValueError("a step needs exactly one of command (an argv list) or agent (a prompt)")
        return self

    @property
    def kind(self) -> str:
        return "agent" if self.agent is not None else "command"


class _CheckBase(_Model):
    name: Name
    description: Text = ""
    weight: float = Field(1.0, gt=0, le=1000)
    owners: list[Name] = Field(min_length=1, max_length=64, description="steps re-run when this check fails")
    pass_score: Percent | None = Field(
        None, description="the check fails below this; default: the iteration's threshold"
    )
    timeout_s: float = Field(300.0, gt=0, le=86400)


class FilesExistCheck(_CheckBase):
    kind: Literal["files_exist"]
    paths: list[RelPath] = Field(min_length=1, max_length=256, description="paths or globs; score = share present")
    non_empty: bool = False


class CommandCheck(_CheckBase):
    kind: Literal["command"]
    command: Argv


class TestRatioCheck(_CheckBase):
    kind: Literal["test_ratio"]
    command: Argv
    format: Literal["auto", "pytest", "unittest", "json"] = "auto"


class CoverageCheck(_CheckBase):
    kind: Literal["coverage"]
    command: Argv | None = Field(None, description="run first; its 'TOTAL ... NN%' line is read if no report")
    report: RelPath | None = Field(None, description="coverage.py JSON report (totals.percent_covered)")
    target: float = Field(100.0, gt=0, le=100, description="coverage that scores 100")

    @model_validator(mode="after")
    def _source(self) -> CoverageCheck:
        if self.command is None and self.report is None:
            raise ValueError("a coverage check needs a command, a report path, or both")
        return self


class JsonScoreCheck(_CheckBase):
    kind: Literal["json_score"]
    command: Argv
    key: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="dotted path, e.g. summary.score"
    )
    scale: float = Field(100.0, gt=0, description="the value that scores 100")


class RubricCheck(_CheckBase):
    kind: Literal["rubric"]
    rubric: Text = Field(min_length=1)
    agent: AgentRef = Field(default_factory=AgentRef)
    prompt: Text | None = Field(None, description="template; default asks for one JSON line {score, reason}")


Check = Annotated[
    FilesExistCheck | CommandCheck | TestRatioCheck | CoverageCheck | JsonScoreCheck | RubricCheck,
    Field(discriminator="kind"),
]


class EntryGate(_Model):
    requires: list[Name] | None = Field(None, description="earlier phases that must have passed; default all earlier")
    files: list[RelPath] = Field(default_factory=list, max_length=256)
    commands: list[Argv] = Field(default_factory=list, max_length=64, description="each must exit 0")
    approval: bool = Field(False, description="wait for `executive pipeline approve RUN PHASE` before the steps")
    timeout_s: float = Field(300.0, gt=0, le=86400)


def _rising(v: list[float] | None) -> list[float] | None:
    if v is not None and any(b < a for a, b in pairwise(v)):
        raise ValueError(f"thresholds must not decrease from one iteration to the next, got {v}")
    return v


Thresholds = Annotated[list[Percent], Field(min_length=1, max_length=64), AfterValidator(_rising)]


class Defaults(_Model):
    thresholds: Thresholds = Field(
        default_factory=lambda: [60.0, 75.0, 85.0, 90.0], description="% per iteration; the last repeats"
    )
    min_improvement: Percent = Field(5.0, description="points a rework iteration must gain, else the phase stops")
    max_iterations: int = Field(4, ge=1, description="per phase")
    max_total_iterations: int = Field(12, ge=1, description="gate evaluations over the whole run")


class Phase(_Model):
    name: Name
    description: Text = ""
    entry: EntryGate = Field(default_factory=EntryGate)
    steps: list[Step] = Field(min_length=1)
    checks: list[Check] = Field(min_length=1, description="the exit gate")
    thresholds: Thresholds | None = None
    min_improvement: Percent | None = None
    max_iterations: int | None = Field(None, ge=1)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


class Pipeline(_Model):
    """The root of a pipeline file (``version: 1``)."""

    version: Literal[1] = 1
    name: Name
    description: Text = ""
    workdir: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(
        ".", description="relative to the pipeline file's directory, or absolute"
    )
    env: EnvMap = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    phases: list[Phase] = Field(min_length=1)

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    def thresholds(self, phase: Phase) -> list[float]:
        return list(phase.thresholds or self.defaults.thresholds)

    def min_improvement(self, phase: Phase) -> float:
        return self.defaults.min_improvement if phase.min_improvement is None else phase.min_improvement

    def max_iterations(self, phase: Phase) -> int:
        return phase.max_iterations or self.defaults.max_iterations


# ----------------------------------------------------------------------------- loading
def pipeline_schema() -> dict[str, Any]:
    """The JSON Schema of pipeline files (``executive pipeline schema``)."""
    schema = Pipeline.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "executive pipeline file (version 1)"
    return schema


def load_pipeline(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Pipeline, str]:
    """Read and parse a pipeline file; returns the model and the exact text (kept in the run's checkpoint).

    Raises:
        PipelineInvalidError: the file is missing, not YAML, or fails validation.
        LimitError: the file is larger than ``pipeline_file_bytes``.
    """
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            # /dev/zero or a FIFO: st_size says 0, and reading never ends (or never starts).
            raise PipelineInvalidError(
                f"cannot read pipeline file {p}: not a regular file; `executive pipeline init` writes a template",
                source=str(p),
            )
        if st.st_size > limits.pipeline_file_bytes:
            raise _too_big(st.st_size, limits, str(p))
        with p.open("rb") as f:
            raw = f.read(limits.pipeline_file_bytes + 1)
        if len(raw) > limits.pipeline_file_bytes:  # it grew since the stat
            raise _too_big(len(raw), limits, str(p))
    except OSError as exc:
        raise PipelineInvalidError(
            f"cannot read pipeline file {p}: {exc.strerror}; `executive pipeline init` writes a template", source=str(p)
        ) from exc
    except ValueError as exc:  # a NUL byte in the path
        raise PipelineInvalidError(f"cannot read pipeline file {str(p)!r}: {exc}", source=str(p)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineInvalidError(f"{p}: not UTF-8 text ({exc})", source=str(p)) from exc
    return parse_pipeline(text, limits, source=str(p)), text


def _too_big(size: int, limits: Limits, source: str) -> LimitError:
    return LimitError(
        f"{source}: pipeline file of {size} bytes exceeds pipeline_file_bytes={limits.pipeline_file_bytes}; "
        "split it or trim prompts",
        data={"limit": limits.pipeline_file_bytes, "source": source},
    )


_MAX_DEPTH = 32  # nesting of a pipeline document; real files use about six levels
MAX_REPORTED_PROBLEMS = 20  # problems listed in one error (and in data.errors); the rest are counted


def parse_pipeline(text: str, limits: Limits = DEFAULT_LIMITS, *, source: str = "pipeline") -> Pipeline:
    """Validate pipeline text (YAML or JSON).

    Raises:
        PipelineInvalidError: the message lists every problem, one ``SOURCE: PATH: MESSAGE`` line each
            (at most ``MAX_REPORTED_PROBLEMS``); ``path`` names the first, ``data.errors`` holds them all.
        LimitError: the text exceeds ``pipeline_file_bytes``.
    """
    size = len(text.encode("utf-8", "surrogatepass"))  # a lone surrogate is refused by the YAML reader, not here
    if size > limits.pipeline_file_bytes:
        raise _too_big(size, limits, source)
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineInvalidError(f"{source}: not valid YAML{where}: {problem}", source=source) from exc
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError) as exc:
        # PyYAML's constructors raise these for a tagged or implicit value they cannot build
        # (``2001-99-99``, ``!!int x``, a bare ``!!timestamp``, a 5000-digit integer).
        raise PipelineInvalidError(
            f"{source}: not valid YAML: a value cannot be read ({type(exc).__name__}: {str(exc)[:120]}); "
            "quote it to keep it a string",
            source=source,
        ) from None
    except RecursionError:  # PyYAML's composer recurses per nesting level
        raise PipelineInvalidError(
            f"{source}: lists and mappings nest too deeply (a pipeline file needs a few levels)", source=source
        ) from None
    # Count first: the depth walk follows every path, and YAML aliases make a 300-byte file hold 10^9 of them.
    _check_expanded_size(data, source)
    if nested_deeper_than(data, _MAX_DEPTH):
        raise PipelineInvalidError(
            f"{source}: lists and mappings nest more than {_MAX_DEPTH} levels deep (a pipeline file needs a few)",
            source=source,
        )
    if not isinstance(data, dict):
        raise PipelineInvalidError(
            f"{source}: expected a mapping with name and phases at the top, found {type(data).__name__}", source=source
        )
    try:
        pipeline = Pipeline.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [_describe(e, data) for e in exc.errors(include_url=False, include_context=False, include_input=False)]
        raise _invalid(source, errors) from None
    problems = _check_references(pipeline) + _check_limits(pipeline, limits)
    if problems:
        raise _invalid(source, [{"path": p, "message": m, "where": ""} for p, m in problems])
    return pipeline


def _check_expanded_size(data: Any, source: str) -> None:
    count = 0
    stack = [data]
    while stack:
        node = stack.pop()
        count += 1
        if count > _MAX_YAML_NODES:
            raise PipelineInvalidError(
                f"{source}: the document expands to more than {_MAX_YAML_NODES} values (YAML aliases?); "
                "write it out plainly",
                source=source,
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _invalid(source: str, errors: list[dict[str, Any]]) -> PipelineInvalidError:
    """One error listing every problem (up to :data:`MAX_REPORTED_PROBLEMS`), one line each, compiler style.

    Each line is ``SOURCE: PATH: MESSAGE``, so the first line reads as before and
    every problem has its own path: ``phases: 3`` without a name gives both
    ``name: required`` and ``phases: must be a list``.
    """
    shown = errors[:MAX_REPORTED_PROBLEMS]
    lines = [f"{source}: {e['path']}: {e['message']}{e['where']}" for e in shown]
    if len(errors) > len(shown):
        rest = len(errors) - len(shown)
        lines.append(f"{source}: ... and {rest} more problem{'s' if rest > 1 else ''}; fix these first")
    return PipelineInvalidError("\n".join(lines), path=shown[0]["path"], errors=shown, source=source)


# Pydantic's wording for the commonest mistakes, said the way a YAML author thinks of them.
_PLAIN_MESSAGES = {
    "missing": "required",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "string_type": "must be a string",
}

_NOUN = {"phases": "phase", "steps": "step", "checks": "check"}


def _describe(err: Mapping[str, Any], data: Any) -> dict[str, Any]:
    """Turn a pydantic error into {path, message, where}, dropping union tags from the path."""
    parts: list[str] = []
    names: list[str] = []
    node = data
    key = ""
    after_index = False
    for item in err.get("loc", ()):
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and -len(node) <= item < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                names.append(f"{_NOUN.get(key, key)} {node['name']!r}")
            after_index = True
            continue
        key = str(item)
        if after_index and isinstance(node, dict) and node.get("kind") == item:
            # The discriminator tag pydantic inserts right after a tagged union's list index; the check may
            # also have a field of that name (kind: command has command), which comes after the tag.
            after_index = False
            continue
        after_index = False
        parts.append(f".{item}" if parts else str(item))
        node = node.get(item) if isinstance(node, dict) else None
    path = "".join(parts) or "(top level)"
    message = _PLAIN_MESSAGES.get(str(err.get("type")), str(err.get("msg", "invalid")).removeprefix("Value error, "))
    where = f" (in {', '.join(names)})" if names else ""
    return {"path": path, "message": message, "where": where, "type": err.get("type")}


def _check_references(p: Pipeline) -> list[tuple[str, str]]:
    """Cross-field rules pydantic cannot express per field, each with an exact path."""
    out: list[tuple[str, str]] = []
    seen_phases: list[str] = []
    for i, ph in enumerate(p.phases):
        base = f"phases[{i}]"
        if ph.name in seen_phases:
            out.append((f"{base}.name", f"phase name {ph.name!r} is used twice; phase names must be unique"))
        steps = [s.name for s in ph.steps]
        for j, s in enumerate(ph.steps):
            if steps.index(s.name) != j:
                out.append((f"{base}.steps[{j}].name", f"step name {s.name!r} is used twice in phase {ph.name!r}"))
            if s.agent is not None:
                for field in ("prompt", "rework_prompt"):
                    bad = unknown_placeholders(getattr(s.agent, field) or "")
                    if bad:
                        out.append((f"{base}.steps[{j}].agent.{field}", _placeholder_msg(bad)))
        if not any(s.required for s in ph.steps):
            out.append((f"{base}.steps", f"phase {ph.name!r} has no required step; iteration 1 runs the required ones"))
        checks = [c.name for c in ph.checks]
        for j, c in enumerate(ph.checks):
            if checks.index(c.name) != j:
                out.append((f"{base}.checks[{j}].name", f"check name {c.name!r} is used twice in phase {ph.name!r}"))
            for k, owner in enumerate(c.owners):
                if owner not in steps:
                    out.append(
                        (
                            f"{base}.checks[{j}].owners[{k}]",
                            f"no step {owner!r} in phase {ph.name!r}; "
                            f"owners must name steps of the same phase ({', '.join(steps)})",
                        )
                    )
            if isinstance(c, RubricCheck) and c.prompt is not None and unknown_placeholders(c.prompt):
                out.append((f"{base}.checks[{j}].prompt", _placeholder_msg(unknown_placeholders(c.prompt))))
        for k, req in enumerate(ph.entry.requires or []):
            if req not in seen_phases:
                out.append(
                    (
                        f"{base}.entry.requires[{k}]",
                        f"{req!r} is not an earlier phase (earlier: {', '.join(seen_phases) or 'none'})",
                    )
                )
        seen_phases.append(ph.name)
    return out


def _placeholder_msg(bad: list[str]) -> str:
    unknown = ", ".join("{" + b + "}" for b in bad)
    known = ", ".join("{" + k + "}" for k in PLACEHOLDERS)
    return f"unknown placeholder {unknown}; known: {known} (write {{{{ for a literal brace)"


def _check_limits(p: Pipeline, lim: Limits) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if len(p.phases) > lim.pipeline_max_phases:
        out.append(("phases", f"{len(p.phases)} phases exceed pipeline_max_phases={lim.pipeline_max_phases}"))
    cap = lim.pipeline_max_iterations
    for field in ("max_iterations", "max_total_iterations"):
        value = getattr(p.defaults, field)
        if value > cap:
            out.append((f"defaults.{field}", f"{value} exceeds pipeline_max_iterations={cap}"))
    for i, ph in enumerate(p.phases):
        if len(ph.steps) > lim.pipeline_max_steps:
            out.append(
                (f"phases[{i}].steps", f"{len(ph.steps)} steps exceed pipeline_max_steps={lim.pipeline_max_steps}")
            )
        n_checks = len(ph.checks) + len(ph.entry.commands)
        if n_checks > lim.pipeline_max_checks:
            out.append(
                (
                    f"phases[{i}].checks",
                    f"{n_checks} checks and entry commands exceed pipeline_max_checks={lim.pipeline_max_checks}",
                )
            )
        if ph.max_iterations is not None and ph.max_iterations > cap:
            out.append((f"phases[{i}].max_iterations", f"{ph.max_iterations} exceeds pipeline_max_iterations={cap}"))
    return out


def dump_json(p: Pipeline) -> str:
    """The normalized pipeline as JSON (defaults filled in), for display."""
    return json.dumps(p.model_dump(mode="json"), indent=2)
