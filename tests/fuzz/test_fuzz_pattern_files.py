"""Fuzzing the user pattern files the registry reads from the daemon's home.

A broken user file must not break the registry (registry.py's promise): whatever a file holds,
``PatternRegistry.list`` returns, promptly, the built-ins plus one ``error`` entry for that file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executive.agents.patterns.registry import BUILTINS, PatternRegistry

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
_FUZZ = settings(max_examples=150 * SCALE, deadline=10_000, database=None, suppress_health_check=[HealthCheck.too_slow])

_TOKENS = [
    "name: adr\n", "description: x\n", "schema: {type: object}\n", "files:\n", "  - {path: x.md, template: y}\n",
    "&a ", "*a", "!!timestamp", "!!int x", "!!bool x", "2001-99-99", "[", "]", "{", "}", "- ", ": ", "\n", "'", '"',
    "!!python/object:os.system", "? [a]\n: b\n", "9" * 5000, "\ud800", "\x00",
]  # fmt: skip


def _schema_bomb(width: int, depth: int) -> str:
    """A valid pattern whose schema, through YAML aliases, holds width**depth paths in a few hundred bytes."""
    leaf = ", ".join(f"p{i}: {{type: string}}" for i in range(width))
    lines = [f"a0: &a0 {{type: object, properties: {{{leaf}}}}}"]
    for i in range(1, depth):
        props = ", ".join(f"p{j}: *a{i - 1}" for j in range(width))
        lines.append(f"a{i}: &a{i} {{type: object, properties: {{{props}}}}}")
    return (
        "name: bomb\nfiles: [{path: x.md, template: y}]\ndefs:\n  " + "\n  ".join(lines) + f"\nschema: *a{depth - 1}\n"
    )


def _deep_schema(depth: int) -> str:
    inner = '{"items": ' * depth + "{}" + "}" * depth
    return (
        '{"name": "deep", "files": [{"path": "x.md", "template": "y"}], "schema": {"properties": {"a": ' + inner + "}}}"
    )


def _list_with(suffix: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        user = Path(tmp)
        try:
            (user / f"p{suffix}").write_text(text, encoding="utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            return  # a str with lone surrogates cannot be a file's text
        listed = PatternRegistry(user).list()
    names = [p["name"] for p in listed if p["name"] is not None]
    assert names[: len(BUILTINS)] == list(BUILTINS)
    assert len(listed) == len(BUILTINS) + 1, "the file is listed once: as a pattern or with its error"


@_FUZZ
@given(st.sampled_from([".yaml", ".json"]), st.lists(st.sampled_from(_TOKENS), max_size=20).map("".join))
@example(".json", "[" * 100_000 + "]" * 100_000)  # json.loads recursion
@example(".yaml", "[" * 5_000 + "]" * 5_000)  # PyYAML composer recursion
@example(".yaml", "!!timestamp")  # PyYAML constructor errors that are not YAMLError
@example(".yaml", "name: 2001-99-99")
@example(".yaml", _schema_bomb(10, 8))  # 10^7 paths for check_schema to walk
@example(".json", _deep_schema(300))  # parses, then jsonschema recurses past the limit
def test_fuzz_user_pattern_files(suffix: str, text: str) -> None:
    _list_with(suffix, text)


@_FUZZ
@given(st.text(max_size=200))
def test_fuzz_user_pattern_text(text: str) -> None:
    _list_with(".yaml", text)
