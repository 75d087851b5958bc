"""User patterns: a schema plus file templates, declared in a JSON or YAML file (no code is loaded).

A file ``$EXECUTIVE_HOME/patterns/<anything>.json|.yaml|.yml`` declares one pattern::

    name: adr                       # lower-case identifier; may not shadow a built-in
    description: An architecture decision record
    schema:                         # JSON Schema (2020-12) of the instance
      type: object
      required: [pattern, number, title, slug]
      properties: {pattern: {const: adr}, number: {type: integer}, title: {type: string}, slug: {type: string}}
    files:
      - path: docs/adr/${number}-${slug}.md
        template: |
          # ${number}. ${title}

Paths and templates use ``string.Template`` placeholders (``${field}``) over
the instance's top-level fields; lists and objects are inserted as JSON.  A
placeholder the instance does not provide is an error naming the field.
Rejected alternative: Python executors from the user directory — that would
run arbitrary code inside the daemon.
"""

from __future__ import annotations

import json
import string
from typing import Any

from executive.agents.patterns.base import (
    Pattern,
    PatternContext,
    Plan,
    PlannedFile,
    invalid,
)

__all__ = ["DEFINITION_SCHEMA", "TemplatePattern"]

DEFINITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name", "schema", "files"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "description": {"type": "string", "maxLength": 2000},
        "schema": {"type": "object"},
        "files": {
            "type": "array",
            "minItems": 1,
            "maxItems": 200,
            "items": {
                "type": "object",
                "required": ["path", "template"],
                "additionalProperties": False,
                "properties": {
                    "path": {"type": "string", "minLength": 1, "maxLength": 512},
                    "template": {"type": "string"},
                    "mode": {"enum": ["0644", "0755"]},
                },
            },
        },
    },
}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class TemplatePattern(Pattern):
    """A pattern declared by a user file: schema + templates."""

    def __init__(self, definition: dict[str, Any], source: str) -> None:
        self.name = definition["name"]
        self.description = definition.get("description", "")
        self.source = source
        self._schema: dict[str, Any] = definition["schema"]
        self._files = definition["files"]

    @property
    def schema(self) -> dict[str, Any]:
        return self._schema

    async def plan(self, instance: dict[str, Any], ctx: PatternContext) -> Plan:
        values = {k: _text(v) for k, v in instance.items()}
        files = []
        for i, spec in enumerate(self._files):
            try:
                path = string.Template(spec["path"]).substitute(values)
                content = string.Template(spec["template"]).substitute(values)
            except KeyError as exc:
                raise invalid(
                    self.name,
                    f"$.{exc.args[0]}",
                    f"the template of file {i} needs ${{{exc.args[0]}}}, which the instance does not have",
                ) from None
            except ValueError as exc:
                raise invalid(
                    self.name, "$", f"file {i} of the pattern ({self.source}) has a bad placeholder: {exc}"
                ) from None
            files.append(PlannedFile(path, content, 0o755 if spec.get("mode") == "0755" else 0o644))
        return Plan(files=files)
