"""Which commands the daemon may run.

An allow-list is a list of rules.  A rule names an executable — a path, a
bare name looked up on PATH, or a glob over the resolved real path — and may
give argument patterns (regular expressions, each argument must fully match at
least one).  A command is allowed when some rule matches its *resolved*
executable (symlinks followed, so ``/usr/bin/python3`` and ``python3`` are the
same program) and all its arguments.  No allow-list means everything is
allowed; an empty list allows nothing.

File format (JSON)::

    {"rules": [{"exe": "echo"},
               {"exe": "/usr/bin/python3*", "args": ["-c", ".*"]},
               {"exe": "git", "args": ["status", "log", "--oneline"]}]}
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from executive.kernel.errors import BadParamsError, ErrorCode, NotAllowedError

__all__ = ["AllowList", "Rule"]

MAX_RULES = 1024


@dataclasses.dataclass(frozen=True)
class Rule:
    exe: str  # as written
    resolved: str | None  # realpath when exe names a program we can find, else None (glob)
    args: tuple[re.Pattern[str], ...] | None

    def matches(self, real_exe: str, args: list[str]) -> bool:
        if self.resolved is not None:
            if real_exe != self.resolved:
                return False
        elif not fnmatch.fnmatchcase(real_exe, self.exe):
            return False
        if self.args is None:
            return True
        return all(any(p.fullmatch(a) for p in self.args) for a in args)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exe": self.exe,
            "resolved": self.resolved,
            "args": [p.pattern for p in self.args] if self.args is not None else None,
        }


class AllowList:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    @classmethod
    def from_obj(cls, obj: Any, *, source: str = "allow-list") -> AllowList:
        """Build from the parsed JSON; errors say which rule is wrong."""
        raw = obj.get("rules") if isinstance(obj, dict) else obj
        if not isinstance(raw, list):
            raise BadParamsError(f'{source}: expected {{"rules": [...]}} or a list of rules')
        if len(raw) > MAX_RULES:
            raise BadParamsError(f"{source}: {len(raw)} rules, at most {MAX_RULES}")
        rules = []
        for i, r in enumerate(raw):
            if isinstance(r, str):
                r = {"exe": r}
            if not isinstance(r, dict) or not isinstance(r.get("exe"), str) or not r["exe"]:
                raise BadParamsError(f"{source}: rule {i} needs a non-empty string 'exe'")
            args = r.get("args")
            if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
                raise BadParamsError(f"{source}: rule {i} 'args' must be a list of regular expressions")
            try:
                patterns = tuple(re.compile(a) for a in args) if args is not None else None
            except re.error as exc:
                raise BadParamsError(f"{source}: rule {i} has a bad pattern: {exc}") from exc
            exe = r["exe"]
            resolved = None
            if not any(ch in exe for ch in "*?["):
                found = exe if os.sep in exe else shutil.which(exe)
                resolved = os.path.realpath(found) if found else os.path.realpath(exe) if os.sep in exe else None
                if resolved is None:
                    raise BadParamsError(f"{source}: rule {i}: executable {exe!r} not found on PATH")
            rules.append(Rule(exe=exe, resolved=resolved, args=patterns))
        return cls(rules)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AllowList:
        p = Path(path)
        try:
            obj = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise BadParamsError(f"cannot read allow-list {p}: {exc}") from exc
        return cls.from_obj(obj, source=str(p))

    def check(self, real_exe: str, argv: list[str]) -> None:
        """Raise NotAllowedError unless a rule allows this command."""
        for rule in self.rules:
            if rule.matches(real_exe, argv[1:]):
                return
        raise NotAllowedError(
            f"command not allowed: {real_exe} {' '.join(argv[1:])[:200]!s} matches no allow-list rule; "
            "ask the daemon's operator to add a rule (serve --allow-list FILE)",
            code=ErrorCode.COMMAND_NOT_ALLOWED,
            data={"executable": real_exe, "argv": argv[:16]},
        )

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rules]
