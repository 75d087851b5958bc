"""The programs file: named programs the daemon starts and keeps running (``serve --config FILE``).

Like supervisord's ``[program:x]`` sections or a PM2 ecosystem file, as YAML::

    version: 1
    programs:
      web:
        argv: [python3, -m, http.server, "8000"]
        cwd: site              # relative to the file's directory (the default)
        env: {PYTHONUNBUFFERED: "1"}
        restart: always        # never | on-failure (default) | always
        max_restarts: 5
        backoff_base: 1        # seconds; doubles per consecutive failure...
        backoff_max: 60        # ...up to this
        autostart: true

Loading collects *every* problem, each with its path in the file
(``programs.web.restart: ...``), instead of stopping at the first: the file is
either accepted whole or refused whole (:class:`ProgramsInvalidError`), so a
reload with a bad file changes nothing.  The checks are the model's (pydantic),
the limits (kernel/limits.py) and the machine's: the working directory exists
and the executable is found on the program's PATH.

Pure apart from reading the file and looking at the filesystem through the
injectable ``which`` and ``isdir``; the CLI's ``config check`` runs the same
code as the daemon's ``programs.reload``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from executive.kernel.errors import BadParamsError, ErrorCode, NotFoundError
from executive.kernel.limits import DEFAULT_LIMITS, Limits, nested_deeper_than
from executive.kernel.programs import RestartPolicy, RestartSettings
from executive.yaml_text import safe_load

__all__ = [
    "ProgramDefinition",
    "ProgramNotFoundError",
    "ProgramsConfig",
    "ProgramsInvalidError",
    "check_program_name",
    "load_programs_file",
    "parse_programs",
    "programs_schema",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"
_NAME_RE = re.compile(NAME_PATTERN)
_MAX_PROBLEMS = 100  # problems listed for one file; the count of the rest is said
_MAX_DEPTH = 16  # nesting of a programs document (a real one uses four levels)
_MAX_NODES = 200_000  # values after YAML alias expansion
_THIRTY_DAYS = 30 * 24 * 3600


def _which(exe: str, path: str | None) -> str | None:
    """The executable ``exe`` resolves to on ``path`` (shutil's lookup), or None."""
    return shutil.which(exe, path=path)


class ProgramsInvalidError(BadParamsError):
    """A programs file was refused; ``data = {"source": path, "problems": [{"path", "message"}, ...]}``."""

    default_code = ErrorCode.PROGRAMS_INVALID

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        shown = problems[:_MAX_PROBLEMS]
        lines = [f"  {path}: {message}" for path, message in shown]
        if len(problems) > len(shown):
            lines.append(f"  ... and {len(problems) - len(shown)} more")
        n = len(problems)
        super().__init__(
            f"{source}: {n} problem{'s' if n != 1 else ''}; nothing was changed:\n" + "\n".join(lines),
            data={"source": source, "problems": [{"path": p, "message": m} for p, m in shown]},
        )
        self.problems = problems


class ProgramNotFoundError(NotFoundError):
    default_code = ErrorCode.PROGRAM_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(
            f"no program {name!r}; `executive programs` lists them (start one with `executive run --restart ...` "
            "or in the programs file)",
            data={"program": name},
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProgramSpecModel(_Model):
    """One program of the file."""

    argv: list[str] = Field(min_length=1, description="the command and its arguments (never a shell string)")
    cwd: str | None = Field(None, description="working directory; relative to the file's directory (the default)")
    env: dict[str, str] = Field(default_factory=dict, description="variables added to the daemon's base environment")
    restart: Literal["never", "on-failure", "always"] = Field(
        "on-failure", description="restart a run that ended: never, after a failure (exit status not 0), or always"
    )
    max_restarts: int = Field(5, ge=0, description="restarts after consecutive failures before the program is fatal")
    backoff_base: float = Field(1.0, gt=0, description="seconds before the first restart; doubles per failure")
    backoff_max: float = Field(60.0, gt=0, description="the longest delay between restarts, seconds")
    reset_after: float = Field(60.0, gt=0, description="a run up this long (seconds) forgives earlier failures")
    timeout: float | None = Field(None, gt=0, le=_THIRTY_DAYS, description="wall-clock limit of one run, seconds")
    idle_timeout: float | None = Field(None, gt=0, le=_THIRTY_DAYS, description="end a run silent this long, seconds")
    log_quota: int | None = Field(None, gt=0, description="bytes of stdout+stderr kept per run (default: the daemon's)")
    autostart: bool = Field(True, description="start when the daemon starts or the program is added")


class ProgramsFileModel(_Model):
    """A programs file (version 1)."""

    version: Literal[1] = 1
    programs: dict[str, ProgramSpecModel] = Field(default_factory=dict, description="program name -> program")


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramDefinition:
    """One validated program: what each run starts with, and its restart settings."""

    name: str
    spec: dict[str, Any]  # argv, cwd (absolute), env, timeout, idle_timeout, quota, autostart
    settings: RestartSettings

    def same_as(self, spec: dict[str, Any], settings: RestartSettings) -> bool:
        """Whether a running program was started from this very definition (a reload leaves it alone)."""
        return self.spec == spec and self.settings == settings


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramsConfig:
    source: str  # the file's absolute path
    programs: dict[str, ProgramDefinition]


def programs_schema() -> dict[str, Any]:
    """The JSON Schema of programs files (``executive config schema``)."""
    schema = ProgramsFileModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "executive programs file (version 1)"
    schema["properties"]["programs"]["propertyNames"] = {"pattern": NAME_PATTERN}
    return schema


def check_program_name(name: str, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Why ``name`` cannot name a program, or None when it can."""
    if not _NAME_RE.match(name) or len(name) > limits.max_name or name.isdigit():
        return (
            f"program names are 1..{limits.max_name} letters, digits and _ . @ -, start with a letter or digit "
            "and are not all digits (ids are numbers)"
        )
    return None


def load_programs_file(
    path: str | os.PathLike[str],
    limits: Limits = DEFAULT_LIMITS,
    *,
    which: Callable[[str, str | None], str | None] = _which,
    isdir: Callable[[str], bool] = os.path.isdir,
) -> ProgramsConfig:
    """Read, parse and check a programs file.

    Raises:
        ProgramsInvalidError: the file is missing, too big, not YAML, or has problems; every one is listed.
    """
    p = Path(path).absolute()
    source = str(p)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ProgramsInvalidError(source, [("(file)", "not a regular file")])
        if st.st_size > limits.programs_file_bytes:
            raise ProgramsInvalidError(source, [("(file)", _too_big(st.st_size, limits))])
        with p.open("rb") as f:
            raw = f.read(limits.programs_file_bytes + 1)
    except OSError as exc:
        raise ProgramsInvalidError(source, [("(file)", f"cannot read it: {exc.strerror}")]) from None
    except ValueError as exc:  # a NUL byte in the path
        raise ProgramsInvalidError(source, [("(file)", f"cannot read it: {exc}")]) from None
    if len(raw) > limits.programs_file_bytes:  # it grew since the stat
        raise ProgramsInvalidError(source, [("(file)", _too_big(len(raw), limits))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProgramsInvalidError(source, [("(file)", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    return parse_programs(text, limits, source=source, base_dir=str(p.parent), which=which, isdir=isdir)


def _too_big(size: int, limits: Limits) -> str:
    return f"{size} bytes exceed programs_file_bytes={limits.programs_file_bytes}; split the file or trim it"


def parse_programs(
    text: str,
    limits: Limits = DEFAULT_LIMITS,
    *,
    source: str = "programs",
    base_dir: str = ".",
    which: Callable[[str, str | None], str | None] = _which,
    isdir: Callable[[str], bool] = os.path.isdir,
) -> ProgramsConfig:
    """Validate programs text (YAML or JSON); see :func:`load_programs_file`."""
    data = _read_yaml(text, source, limits)
    problems: list[tuple[str, str]] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProgramsInvalidError(
            source, [("(top level)", f"expected a mapping with version and programs, found {type(data).__name__}")]
        )
    programs_raw = data.get("programs", {})
    top = {k: v for k, v in data.items() if k != "programs"}
    try:
        ProgramsFileModel.model_validate({**top, "programs": {}})
    except pydantic.ValidationError as exc:
        problems += _pydantic_problems(exc, "")
    if programs_raw is None:
        programs_raw = {}
    if not isinstance(programs_raw, dict):
        kind = type(programs_raw).__name__
        problems.append(("programs", f"expected a mapping of program name to program, found {kind}"))
        programs_raw = {}
    if len(programs_raw) > limits.max_programs:
        problems.append(("programs", f"{len(programs_raw)} programs exceed max_programs={limits.max_programs}"))
    out: dict[str, ProgramDefinition] = {}
    for name, raw in programs_raw.items():
        where = f"programs.{name}"
        if not isinstance(name, str):
            problems.append((f"programs.{name!r}", "program names are strings"))
            continue
        bad_name = check_program_name(name, limits)
        if bad_name:
            problems.append((where, bad_name))
        try:
            model = ProgramSpecModel.model_validate(raw)
        except pydantic.ValidationError as exc:
            problems += _pydantic_problems(exc, where)
            # The fields that did validate are still checked, so one run lists every problem.
            partial = _without_bad_fields(raw, exc)
            if partial is not None:
                problems += _check_program(partial, where, limits, base_dir, which, isdir)
            continue
        found = _check_program(model, where, limits, base_dir, which, isdir)
        problems += found
        if not found and not bad_name:
            out[name] = _definition(name, model, base_dir)
    if problems:
        raise ProgramsInvalidError(source, problems)
    return ProgramsConfig(source=source, programs=out)


def _read_yaml(text: str, source: str, limits: Limits) -> Any:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.programs_file_bytes:
        raise ProgramsInvalidError(source, [("(file)", _too_big(size, limits))])
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProgramsInvalidError(source, [(where, f"not valid YAML: {problem}")]) from None
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError) as exc:
        # PyYAML's constructors raise these for a tagged or implicit value they cannot build.
        raise ProgramsInvalidError(
            source, [("(file)", f"a value cannot be read ({type(exc).__name__}); quote it to keep it a string")]
        ) from None
    except RecursionError:
        raise ProgramsInvalidError(source, [("(file)", "lists and mappings nest too deeply")]) from None
    count, stack = 0, [data]
    while stack:  # count first: YAML aliases make a small file hold very many values
        node = stack.pop()
        count += 1
        if count > _MAX_NODES:
            raise ProgramsInvalidError(
                source, [("(file)", f"the document expands to more than {_MAX_NODES} values (YAML aliases?)")]
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if nested_deeper_than(data, _MAX_DEPTH):
        raise ProgramsInvalidError(source, [("(file)", f"lists and mappings nest more than {_MAX_DEPTH} levels")])
    return data


def _pydantic_problems(exc: pydantic.ValidationError, prefix: str) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        parts = [prefix] if prefix else []
        for item in err.get("loc", ()):
            if isinstance(item, int):
                parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
            else:
                parts.append(str(item))
        path = ".".join(parts) or "(top level)"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            message = "unknown field (`executive config schema` lists the fields)"
        out.append((path, message))
    return out


def _without_bad_fields(raw: Any, exc: pydantic.ValidationError) -> ProgramSpecModel | None:
    """The program with its invalid fields left at their defaults (None when that is still invalid)."""
    if not isinstance(raw, dict):
        return None
    bad = {err["loc"][0] for err in exc.errors() if err.get("loc")}
    try:
        return ProgramSpecModel.model_validate({k: v for k, v in raw.items() if k not in bad})
    except pydantic.ValidationError:
        return None  # argv itself is missing or wrong: nothing to check against the machine


def _check_program(
    m: ProgramSpecModel,
    where: str,
    lim: Limits,
    base_dir: str,
    which: Callable[[str, str | None], str | None],
    isdir: Callable[[str], bool],
) -> list[tuple[str, str]]:
    """The rules beyond the model: limits, and what must exist on this machine."""
    out: list[tuple[str, str]] = []
    if len(m.argv) > lim.max_argv:
        out.append((f"{where}.argv", f"{len(m.argv)} entries exceed max_argv={lim.max_argv}"))
    if not m.argv[0] or any("\0" in a for a in m.argv):
        out.append((f"{where}.argv", "argv[0] must not be empty and no entry may contain a NUL byte"))
    if len(m.env) > lim.max_env:
        out.append((f"{where}.env", f"{len(m.env)} entries exceed max_env={lim.max_env}"))
    for k, v in m.env.items():
        if not k or "=" in k or "\0" in k + v:
            out.append((f"{where}.env.{k}", "names are not empty and hold no '='; no NUL bytes anywhere"))
    size = sum(len(a) for a in m.argv) + sum(len(k) + len(v) for k, v in m.env.items())
    if size > lim.max_argv_bytes:
        out.append((f"{where}.argv", f"argv and env take {size} bytes; max_argv_bytes={lim.max_argv_bytes}"))
    if m.max_restarts > lim.program_max_restarts:
        out.append((f"{where}.max_restarts", f"{m.max_restarts} exceeds {lim.program_max_restarts}"))
    for field in ("backoff_base", "backoff_max", "reset_after"):
        if getattr(m, field) > lim.program_backoff_max_s:
            out.append((f"{where}.{field}", f"{getattr(m, field)} exceeds {lim.program_backoff_max_s} seconds"))
    if m.backoff_max < m.backoff_base:
        out.append((f"{where}.backoff_max", f"{m.backoff_max} is less than backoff_base={m.backoff_base}"))
    if m.log_quota is not None and m.log_quota > lim.output_quota_bytes:
        out.append((f"{where}.log_quota", f"{m.log_quota} exceeds output_quota_bytes={lim.output_quota_bytes}"))
    cwd = _absolute_cwd(m.cwd, base_dir)
    if not isdir(cwd):
        out.append((f"{where}.cwd", f"{cwd} is not a directory"))
    elif m.argv[0] and "\0" not in m.argv[0]:
        exe = m.argv[0] if os.sep not in m.argv[0] or os.path.isabs(m.argv[0]) else os.path.join(cwd, m.argv[0])
        path = m.env.get("PATH", os.environ.get("PATH", os.defpath))
        if which(exe, path) is None:
            out.append((f"{where}.argv[0]", f"executable {m.argv[0]!r} not found on PATH; give a full path"))
    return out


def _absolute_cwd(cwd: str | None, base_dir: str) -> str:
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(cwd or ".")))


def _definition(name: str, m: ProgramSpecModel, base_dir: str) -> ProgramDefinition:
    spec: dict[str, Any] = {
        "argv": list(m.argv),
        "cwd": _absolute_cwd(m.cwd, base_dir),
        "env": dict(m.env),
        "timeout": m.timeout,
        "idle_timeout": m.idle_timeout,
        "quota": m.log_quota,
        "autostart": m.autostart,
    }
    settings = RestartSettings(
        policy=RestartPolicy(m.restart),
        max_restarts=m.max_restarts,
        backoff_base=m.backoff_base,
        backoff_max=m.backoff_max,
        reset_after=m.reset_after,
    )
    return ProgramDefinition(name=name, spec=spec, settings=settings)
