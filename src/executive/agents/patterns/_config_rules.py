"""The value rules of ``config_setup`` — used by the executor *and* copied verbatim into every generated loader.

Keeping one copy means the defaults the pattern accepts are exactly the values
the generated loader accepts.  The functions below must stay self-contained
(stdlib ``re`` only, no executive imports): ``config_setup.py`` embeds their
source with :func:`inspect.getsource`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["check_config", "check_value", "type_ok"]


def type_ok(value: Any, kind: str) -> bool:
    """Whether ``value`` has the config type ``kind`` (booleans are not integers or numbers here)."""
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    return False


def check_value(name: str, value: Any, spec: dict[str, Any]) -> list[str]:
    """Every rule of ``spec`` that ``value`` breaks, as messages naming the field."""
    kind = spec["type"]
    if not type_ok(value, kind):
        return [f"{name}: expected {kind}, got {type(value).__name__} {value!r}"]
    problems = []
    if kind == "array" and spec.get("items"):
        problems += [
            f"{name}[{i}]: expected {spec['items']}, got {v!r}"
            for i, v in enumerate(value)
            if not type_ok(v, spec["items"])
        ]
    if "minimum" in spec and kind in ("integer", "number") and value < spec["minimum"]:
        problems.append(f"{name}: must be >= {spec['minimum']}, got {value}")
    if "maximum" in spec and kind in ("integer", "number") and value > spec["maximum"]:
        problems.append(f"{name}: must be <= {spec['maximum']}, got {value}")
    if "min_length" in spec and kind in ("string", "array") and len(value) < spec["min_length"]:
        problems.append(f"{name}: must have at least {spec['min_length']} characters/items, got {len(value)}")
    if "max_length" in spec and kind in ("string", "array") and len(value) > spec["max_length"]:
        problems.append(f"{name}: must have at most {spec['max_length']} characters/items, got {len(value)}")
    if "enum" in spec and value not in spec["enum"]:
        problems.append(f"{name}: must be one of {spec['enum']}, got {value!r}")
    if "regex" in spec and kind == "string" and not re.fullmatch(spec["regex"], value):
        problems.append(f"{name}: must match {spec['regex']!r}, got {value!r}")
    return problems


def check_config(data: Any, fields: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Defaults applied and every problem found (unknown keys, missing required values, broken rules)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, [f"the configuration must be a mapping of settings, got {type(data).__name__}"]
    known = {f["name"]: f for f in fields}
    problems = [f"{k}: unknown setting (known: {', '.join(known)})" for k in data if k not in known]
    values: dict[str, Any] = {}
    for name, spec in known.items():
        value = data.get(name)
        if value is None:
            if "default" in spec:
                value = spec["default"]
            elif spec.get("required"):
                problems.append(f"{name}: is required ({spec.get('description') or spec['type']})")
                continue
            else:
                values[name] = None
                continue
        problems += check_value(name, value, spec)
        values[name] = value
    return values, problems
