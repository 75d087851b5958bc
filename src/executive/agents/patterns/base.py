"""What a pattern is, and how any pattern is validated, planned and written.

Theory of operation
-------------------
A pattern is a JSON Schema for its *instance* (a JSON document naming the
pattern in ``"pattern"``) plus an executor.  Running one is always the same
three steps, whatever the pattern:

1. **validate** the instance against the schema; every error names its JSON
   path (``$.fields[2].type``) so the user can find it;
2. **plan**: the executor returns the files it wants (path relative to the
   root, full content, mode) and, for status patterns, a report — it never
   writes itself;
3. **write** (unless dry run): each planned file is compared with the disk
   (``create`` / ``change`` / ``unchanged``) and written atomically (temporary
   file + rename).  Paths must stay inside the root (no absolute paths, ``..``
   or symlinks that lead out), and counts and sizes are bounded.

A dry run stops after the comparison and lists what it would create or change.
Executors are plain objects; running status patterns needs the daemon, which
they reach through :class:`PatternContext`.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import jsonschema

from executive.agents.errors import PatternInvalidError
from executive.kernel.errors import BadParamsError, LimitError

if TYPE_CHECKING:
    from executive.agents.host import AgentsHost
    from executive.agents.service import AgentService

__all__ = [
    "Pattern",
    "PatternContext",
    "Plan",
    "PlannedFile",
    "compare_plan",
    "schema_errors",
    "validate_instance",
    "write_plan",
]

_SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedFile:
    path: str  # relative to the root, with /
    content: str
    mode: int = 0o644


@dataclasses.dataclass(slots=True)
class Plan:
    files: list[PlannedFile] = dataclasses.field(default_factory=list)
    report: dict[str, Any] | None = None  # status patterns: what they found


@dataclasses.dataclass(slots=True)
class PatternContext:
    """What an executor may use: the root it writes under and, for status patterns, the daemon."""

    root: Path
    ex: AgentsHost | None = None
    agents: AgentService | None = None  # the agents layer (runs, worktrees), for status patterns


class Pattern(abc.ABC):
    """One pattern: a name, a description, a schema and :meth:`plan`."""

    name: str = ""
    description: str = ""
    source: str = "builtin"

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema of this pattern's instances (built-ins read ``schemas/<name>.schema.json``)."""
        return cast(dict[str, Any], json.loads((_SCHEMA_DIR / f"{self.name}.schema.json").read_text()))

    @abc.abstractmethod
    async def plan(self, instance: dict[str, Any], ctx: PatternContext) -> Plan:
        """The files to write (and the report) for a *valid* instance.

        Raises:
            PatternInvalidError: a rule the schema cannot express (paths name the field).
        """


def schema_errors(schema: dict[str, Any], instance: Any) -> list[dict[str, str]]:
    """All schema violations as ``{path, message}``, in document order."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [{"path": e.json_path, "message": e.message} for e in errors]


def validate_instance(pattern: Pattern, instance: Any) -> None:
    """Raise :class:`PatternInvalidError` listing every violation with its JSON path."""
    errors = schema_errors(pattern.schema, instance)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PatternInvalidError(
            f"{pattern.name} instance is invalid at {first['path']}: {first['message']}{more}",
            data={"pattern": pattern.name, "errors": errors},
        )


def invalid(pattern: str, path: str, message: str) -> PatternInvalidError:
    """An instance error the schema could not catch (e.g. a default of the wrong type)."""
    return PatternInvalidError(
        f"{pattern} instance is invalid at {path}: {message}",
        data={"pattern": pattern, "errors": [{"path": path, "message": message}]},
    )


def _safe_target(root: Path, rel: str) -> Path:
    parts = rel.replace("\\", "/").split("/")
    if not rel or rel.startswith("/") or ".." in parts or any(p.lower() == ".git" for p in parts) or "\0" in rel:
        raise BadParamsError(
            f"the pattern wants to write {rel!r}: only paths inside the root are allowed (no absolute, '..' or .git)"
        )
    target = root.joinpath(*[p for p in parts if p not in ("", ".")])
    real_root = os.path.realpath(root)
    real = os.path.realpath(target)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise BadParamsError(
            f"the pattern wants to write {rel!r}, which leads outside the root {root} (through a symlink)"
        )
    return target


def compare_plan(plan: Plan, root: Path, *, max_files: int, max_bytes: int) -> list[dict[str, Any]]:
    """Each planned file with ``action`` create / change / unchanged.

    Raises:
        LimitError: too many files, or one too large.  BadParamsError: a path outside the root.
    """
    if len(plan.files) > max_files:
        raise LimitError(
            f"the pattern plans {len(plan.files)} files; the limit is {max_files}", data={"limit": max_files}
        )
    out = []
    seen: set[str] = set()
    for f in plan.files:
        data = f.content.encode("utf-8")
        if len(data) > max_bytes:
            raise LimitError(
                f"{f.path} would be {len(data)} bytes; the limit is {max_bytes}", data={"limit": max_bytes}
            )
        if f.path in seen:
            raise BadParamsError(f"the pattern plans {f.path} twice")
        seen.add(f.path)
        target = _safe_target(root, f.path)
        if target.is_dir():
            raise BadParamsError(f"{f.path} is a directory; the pattern wants a file there")
        if not target.exists():
            action = "create"
        elif target.read_bytes() == data:
            action = "unchanged"
        else:
            action = "change"
        out.append({"path": f.path, "action": action, "bytes": len(data)})
    return out


def write_plan(plan: Plan, root: Path, actions: list[dict[str, Any]]) -> None:
    """Write every file whose action is create or change, each atomically."""
    by_path = {f.path: f for f in plan.files}
    for a in actions:
        if a["action"] == "unchanged":
            continue
        f = by_path[a["path"]]
        target = _safe_target(root, f.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".executive-pattern-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f.content)
            os.chmod(tmp, f.mode)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
