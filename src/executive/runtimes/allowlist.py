"""Which commands the daemon may run.

An allow-list is a list of rules.  A rule names an executable — a path, a
bare name looked up on PATH, or a glob over the resolved real path — and may
give argument patterns (regular expressions, each argument must fully match at
least one).  A command is allowed when some rule matches its *resolved*
executable (symlinks followed, so ``/usr/bin/python3`` and ``python3`` are the
same program) and all its arguments.  No allow-list means everything is
allowed; an empty list allows nothing.

The environment is part of what runs: ``LD_PRELOAD=evil.so echo hi`` runs
``evil.so``'s constructor, whatever ``echo`` is.  While an allow-list is
active, a task's own variables may not include the loader's, interpreters'
or shells' code-injection variables (:data:`DENIED_ENV`), unless the rule that
allows the command names them in ``env`` (names or globs).

File format (JSON)::

    {"rules": [{"exe": "echo"},
               {"exe": "/usr/bin/python3*", "args": ["-c", ".*"], "env": ["PYTHONPATH"]},
               {"exe": "git", "args": ["status", "log", "--oneline"]}]}
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from executive.kernel.errors import BadParamsError, ErrorCode, NotAllowedError

__all__ = ["DENIED_ENV", "AllowList", "Rule"]

MAX_RULES = 1024
MAX_ENV_PATTERNS = 256  # per rule

# Variables (globs) that make a program load or run code other than the checked one: the dynamic
# loader's (glibc and macOS), interpreters' search paths and start-up hooks, shells' start-up files
# and exported functions, and the helper programs git, ssh and pagers start.  A deny-list cannot
# be complete for every program; the README's threat model says what the allow-list guarantees.
DENIED_ENV: tuple[str, ...] = (
    "LD_*", "DYLD_*", "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "HOSTALIASES", "MALLOC_*", "RES_OPTIONS",
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONINSPECT", "PYTHONBREAKPOINT",
    "PYTHONEXECUTABLE", "PYTHONPLATLIBDIR", "PYTHONSAFEPATH",
    "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "LUA_PATH*", "LUA_CPATH*", "LUA_INIT*",
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "PS4", "BASH_FUNC_*", "ZDOTDIR", "IFS",
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_CONFIG*", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_EDITOR",
    "GIT_ASKPASS", "GIT_PROXY_COMMAND", "SSH_ASKPASS", "PAGER", "EDITOR", "VISUAL", "LESSOPEN", "LESSCLOSE",
)  # fmt: skip


def denied_env_names(names: Iterable[str], allowed: tuple[str, ...] = ()) -> list[str]:
    """The variables of ``names`` that DENIED_ENV refuses and no pattern of ``allowed`` permits."""
    return sorted(
        n
        for n in names
        if any(fnmatch.fnmatchcase(n, d) for d in DENIED_ENV) and not any(fnmatch.fnmatchcase(n, a) for a in allowed)
    )


@dataclasses.dataclass(frozen=True)
class Rule:
    exe: str  # as written
    resolved: str | None  # realpath when exe names a program we can find, else None (glob)
    args: tuple[re.Pattern[str], ...] | None
    env: tuple[str, ...] = ()  # DENIED_ENV variables (names or globs) this command may be given

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
            "env": list(self.env),
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
            env = r.get("env", [])
            if not isinstance(env, list) or not all(isinstance(e, str) and e for e in env):
                raise BadParamsError(f"{source}: rule {i} 'env' must be a list of variable names (globs allowed)")
            if len(env) > MAX_ENV_PATTERNS:
                raise BadParamsError(f"{source}: rule {i} has {len(env)} env patterns, at most {MAX_ENV_PATTERNS}")
            exe = r["exe"]
            resolved = None
            if not any(ch in exe for ch in "*?["):
                found = exe if os.sep in exe else shutil.which(exe)
                resolved = os.path.realpath(found) if found else os.path.realpath(exe) if os.sep in exe else None
                if resolved is None:
                    raise BadParamsError(f"{source}: rule {i}: executable {exe!r} not found on PATH")
            rules.append(Rule(exe=exe, resolved=resolved, args=patterns, env=tuple(env)))
        return cls(rules)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AllowList:
        p = Path(path)
        try:
            obj = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise BadParamsError(f"cannot read allow-list {p}: {exc}") from exc
        return cls.from_obj(obj, source=str(p))

    def check(self, real_exe: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        """Raise NotAllowedError unless a rule allows this command with these task variables.

        ``env`` is what the client asked to set (not the daemon's own base environment).
        """
        denied: list[str] = []
        for rule in self.rules:
            if rule.matches(real_exe, argv[1:]):
                denied = denied_env_names(env or (), rule.env)
                if not denied:
                    return
        if denied:
            raise NotAllowedError(
                f"environment variable(s) {', '.join(denied)} not allowed for {real_exe}: they can make it load or "
                "run other code; drop them, or ask the daemon's operator to name them in the rule's \"env\" list",
                code=ErrorCode.COMMAND_NOT_ALLOWED,
                data={"executable": real_exe, "env": denied},
            )
        raise NotAllowedError(
            f"command not allowed: {real_exe} {' '.join(argv[1:])[:200]!s} matches no allow-list rule; "
            "ask the daemon's operator to add a rule (serve --allow-list FILE)",
            code=ErrorCode.COMMAND_NOT_ALLOWED,
            data={"executable": real_exe, "argv": argv[:16]},
        )

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rules]
