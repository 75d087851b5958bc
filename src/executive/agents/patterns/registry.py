"""The pattern registry: the built-ins plus declarative patterns from a user directory.

The user directory is read again on every lookup (it is small and bounded by
``Limits.max_user_patterns``), so a new or edited pattern file is picked up
without restarting the daemon.  A broken file does not break the registry: it
is listed with its error (``pattern list`` shows why), and a user pattern may
not shadow a built-in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from executive.agents.errors import PatternNotFoundError
from executive.agents.patterns.automation_status import AutomationStatus
from executive.agents.patterns.base import Pattern, schema_errors
from executive.agents.patterns.config_setup import ConfigSetup
from executive.agents.patterns.implementation_status import ImplementationStatus
from executive.agents.patterns.module_creation import ModuleCreation
from executive.agents.patterns.template import DEFINITION_SCHEMA, TemplatePattern
from executive.yaml_text import safe_load

__all__ = ["BUILTINS", "EXAMPLES_DIR", "PatternRegistry"]

BUILTINS: dict[str, Pattern] = {
    p.name: p for p in (ModuleCreation(), ConfigSetup(), AutomationStatus(), ImplementationStatus())
}
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
_SUFFIXES = (".json", ".yaml", ".yml")


_MAX_NODES = 100_000  # values in one pattern document, YAML aliases expanded
_MAX_DEPTH = 48  # nesting of lists and objects; the schema checks recurse per level


def _parse(text: str, *, json_text: bool) -> Any:
    """A user file's document; any text that is not one, or that is too large or deep to check, is a
    ValueError saying why."""
    try:
        doc = json.loads(text) if json_text else safe_load(text)
    except RecursionError:  # both parsers recurse per nesting level
        raise ValueError("lists and objects nest too deeply to be a pattern file") from None
    except (TypeError, AttributeError, IndexError, KeyError, OverflowError) as exc:
        # PyYAML's constructors raise these (not YAMLError) for a value they cannot build: a bare !!timestamp
        raise ValueError(f"a YAML value cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from None
    count, stack = 0, [(doc, 1)]
    while stack:  # one bounded walk: aliases can make a small file hold 10^9 paths
        node, depth = stack.pop()
        count += 1
        if count > _MAX_NODES:
            raise ValueError(f"the document expands to more than {_MAX_NODES} values (YAML aliases?)")
        if depth > _MAX_DEPTH:
            raise ValueError(f"lists and objects nest more than {_MAX_DEPTH} levels deep")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, depth + 1) for c in children)
    return doc


class PatternRegistry:
    """Finds patterns by name.

    Args:
        user_dir: directory of user pattern files (may not exist).
        max_user: at most this many user files are read.
        max_bytes: a user file larger than this is reported broken.
    """

    def __init__(self, user_dir: Path | None, *, max_user: int = 256, max_bytes: int = 1024 * 1024) -> None:
        self.user_dir = user_dir
        self.max_user = max_user
        self.max_bytes = max_bytes

    def _load_user(self) -> tuple[dict[str, Pattern], list[dict[str, Any]]]:
        found: dict[str, Pattern] = {}
        broken: list[dict[str, Any]] = []
        if self.user_dir is None or not self.user_dir.is_dir():
            return found, broken
        files = sorted(p for p in self.user_dir.iterdir() if p.suffix in _SUFFIXES and p.is_file())
        if len(files) > self.max_user:
            broken.append(
                {
                    "source": str(self.user_dir),
                    "error": f"{len(files)} pattern files; only the first {self.max_user} are read",
                }
            )
            files = files[: self.max_user]
        for path in files:
            error = None
            try:
                if path.stat().st_size > self.max_bytes:
                    raise ValueError(f"larger than {self.max_bytes} bytes")
                text = path.read_text(encoding="utf-8")
                definition = _parse(text, json_text=path.suffix == ".json")
                errs = schema_errors(DEFINITION_SCHEMA, definition)
                if errs:
                    raise ValueError(f"{errs[0]['path']}: {errs[0]['message']}")
                jsonschema.Draft202012Validator.check_schema(definition["schema"])
                name = definition["name"]
                if name in BUILTINS:
                    raise ValueError(f"{name!r} is a built-in pattern; choose another name")
                if name in found:
                    raise ValueError(f"{name!r} is already defined by {found[name].source}")
                found[name] = TemplatePattern(definition, str(path))
            except jsonschema.SchemaError as exc:
                error = f"its schema is not a valid JSON Schema: {exc.message}"
            except (OSError, ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
                error = str(exc)
            if error:
                broken.append({"source": str(path), "error": error})
        return found, broken

    def get(self, name: str) -> Pattern:
        """The pattern called ``name``.

        Raises:
            PatternNotFoundError: listing the names that exist.
        """
        if name in BUILTINS:
            return BUILTINS[name]
        user, _ = self._load_user()
        if name in user:
            return user[name]
        raise PatternNotFoundError(name, sorted([*BUILTINS, *user]))

    def list(self) -> list[dict[str, Any]]:
        """Every pattern (built-ins first), then the user files that failed to load."""
        user, broken = self._load_user()
        out = []
        for p in [*BUILTINS.values(), *user.values()]:
            example = EXAMPLES_DIR / f"{p.name}.json"
            out.append(
                {
                    "name": p.name,
                    "description": p.description,
                    "source": p.source,
                    "example": str(example) if example.exists() else None,
                }
            )
        out += [{"name": None, "description": None, "source": b["source"], "error": b["error"]} for b in broken]
        return out
