"""Fuzzing the pipeline file loader: structured documents, mutated real files, raw text and YAML features.

Property: ``parse_pipeline`` raises nothing but :class:`PipelineInvalidError` or :class:`LimitError`
(its documented errors), promptly, whatever the text; a pipeline it accepts has its named phases.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executive.kernel.errors import LimitError
from executive.pipeline.errors import PipelineInvalidError
from executive.pipeline.model import parse_pipeline

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
_FUZZ = settings(max_examples=300 * SCALE, deadline=10_000, database=None, suppress_health_check=[HealthCheck.too_slow])
FIXTURE = (Path(__file__).parent.parent / "pipeline" / "fixtures" / "project" / "pipeline.yaml").read_text()


def _parse(text: str) -> None:
    try:
        pipeline = parse_pipeline(text, source="fuzz.yaml")
    except (PipelineInvalidError, LimitError):
        return
    for phase in pipeline.phases:
        assert pipeline.phase(phase.name) is phase
        for step in phase.steps:
            assert step.kind


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["sh", "-c", "echo hi", "../up", "/abs", "a*", "claude", "custom", "{prompt}", "files_exist"]),
)
_any = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10,
)
_argv = st.one_of(st.lists(st.sampled_from(["sh", "-c", "true", "", "\0"]), max_size=3), _any)
_names = st.one_of(st.sampled_from(["a", "b", "build", "docs", "", "A B", "x" * 200]), _any)
_step = st.fixed_dictionaries(
    {"name": _names},
    optional={
        "command": _argv,
        "agent": st.one_of(
            st.fixed_dictionaries({"prompt": _any}, optional={"cli": _any, "argv": _argv, "model": _any}), _any
        ),
        "required": _any,
        "timeout_s": _any,
        "retries": _any,
        "env": st.one_of(st.dictionaries(st.text(max_size=6), _leaf, max_size=3), _any),
        "cwd": _any,
    },
)
_check = st.fixed_dictionaries(
    {
        "name": _names,
        "kind": st.one_of(
            st.sampled_from(["files_exist", "command", "test_ratio", "coverage", "json_score", "rubric"]), _any
        ),
    },
    optional={
        "owners": st.one_of(st.lists(_names, max_size=3), _any),
        "paths": st.one_of(st.lists(_any, max_size=2), _any),
        "command": _argv,
        "report": _any,
        "key": _any,
        "rubric": _any,
        "weight": _any,
        "pass_score": _any,
        "target": _any,
    },
)
_phase = st.fixed_dictionaries(
    {"name": _names},
    optional={
        "steps": st.one_of(st.lists(_step, max_size=3), _any),
        "checks": st.one_of(st.lists(_check, max_size=3), _any),
        "entry": st.one_of(
            st.fixed_dictionaries({}, optional={"requires": _any, "files": _any, "commands": _any, "approval": _any}),
            _any,
        ),
        "thresholds": _any,
        "max_iterations": _any,
    },
)
_documents = st.fixed_dictionaries(
    {"name": _names, "phases": st.one_of(st.lists(_phase, max_size=3), _any)},
    optional={"version": _any, "defaults": _any, "description": _any, "extra": _any},
)


def _alias_bomb(width: int, depth: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


@_FUZZ
@given(_documents, st.booleans())
def test_fuzz_structured_documents(doc: dict[str, Any], as_json: bool) -> None:
    try:
        text = json.dumps(doc) if as_json else yaml.safe_dump(doc)
    except ValueError:
        text = yaml.safe_dump(doc)  # NaN and infinities are YAML, not JSON
    _parse(text)


@_FUZZ
@given(st.lists(st.tuples(st.integers(0, len(FIXTURE)), st.integers(0, 8), st.text(max_size=6)), max_size=6))
def test_fuzz_mutated_fixture(edits: list[tuple[int, int, str]]) -> None:
    text = FIXTURE
    for at, drop, insert in edits:
        text = text[:at] + insert + text[at + drop :]
    _parse(text)


@_FUZZ
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(
            st.sampled_from(
                [
                    "&a ",
                    "*a",
                    "<<: *a\n",
                    "!!set {a, b}",
                    "!!binary aGk=",
                    "!!timestamp 2001-12-14",
                    "!!str ",
                    "!!python/object:os.system",
                    "? [a, b]\n: c\n",
                    "{",
                    "}",
                    "[",
                    "]",
                    "- ",
                    ": ",
                    "\n",
                    "  ",
                    "---\n",
                    "...\n",
                    "%YAML 1.1\n",
                    "name: x\n",
                    "phases:\n",
                    "  - name: p\n",
                    "    steps: [{}]\n",
                    "1e999",
                    ".nan",
                    "~",
                    "0x1F",
                    "0o17",
                    "'",
                    '"',
                    "#",
                    "\t",
                    "\ufeff",
                    "\x00",
                    "\x85",
                    "\ud800",
                ]
            ),
            max_size=30,
        ).map("".join),
    )
)
@example("\ud800")  # a lone surrogate: a str that has no UTF-8 encoding
@example("!!timestamp")  # PyYAML's constructors raise AttributeError, ValueError, KeyError, IndexError
@example("name: 2001-99-99")
@example("!!bool x")
@example("!!int")
@example("name: " + "9" * 5000)
@example("a: &a [*a]\n")  # a recursive alias
@example(_alias_bomb(10, 9))  # a billion-laughs document of 300 bytes must be refused at once, not walked
@example("[" * 5_000 + "]" * 5_000)  # issue 19: deep nesting is a clear error (past the recursion limit)
@example("- " * 5_000 + "x")
@example("name: x\nphases: [{name: p, steps: [{name: s, command: [true]}], checks: [{name: c, kind: command, "
         "command: [true], owners: [s]}]}]\n1: 2\n")  # fmt: skip
def test_fuzz_yaml_text(text: str) -> None:
    _parse(text)
