"""Pipeline files: the template loads and runs, the schema is published, malformed files name the bad field."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from executive.api.client import Client, RpcError
from executive.kernel.errors import ErrorCode, LimitError
from executive.kernel.limits import DEFAULT_LIMITS
from executive.pipeline.errors import PipelineInvalidError
from executive.pipeline.model import MAX_REPORTED_PROBLEMS, parse_pipeline, pipeline_schema
from executive.pipeline.template import template_text, write_template

GOOD = """
name: tiny
phases:
  - name: build
    steps:
      - {name: make, command: [touch, out.txt]}
    checks:
      - {name: out, kind: files_exist, paths: [out.txt], owners: [make]}
"""

# (description, yaml text, expected path of the first bad field, a phrase of the message)
MALFORMED = [
    (
        "negative timeout",
        GOOD.replace("command: [touch, out.txt]}", "command: [touch, out.txt], timeout_s: -1}"),
        "phases[0].steps[0].timeout_s",
        "greater than 0",
    ),
    (
        "misspelt key",
        GOOD.replace("owners: [make]}", "owners: [make], wieght: 2}"),
        "phases[0].checks[0].wieght",
        "Extra inputs",
    ),
    (
        "unknown check kind",
        GOOD.replace("kind: files_exist", "kind: file_exists"),
        "phases[0].checks[0]",
        "file_exists",
    ),
    (
        "owner names no step",
        GOOD.replace("owners: [make]", "owners: [mkae]"),
        "phases[0].checks[0].owners[0]",
        "no step 'mkae'",
    ),
    (
        "step with command and agent",
        GOOD.replace("command: [touch, out.txt]}", "command: [x], agent: {prompt: hi}}"),
        "phases[0].steps[0]",
        "exactly one of command",
    ),
    (
        "shell string instead of argv",
        GOOD.replace("command: [touch, out.txt]", "command: touch out.txt"),
        "phases[0].steps[0].command",
        "must be a list",
    ),
    (
        "path escapes the workdir",
        GOOD.replace("paths: [out.txt]", "paths: [../etc/passwd]"),
        "phases[0].checks[0].paths[0]",
        "'..'",
    ),
    (
        "unknown prompt placeholder",
        GOOD.replace("command: [touch, out.txt]}", "agent: {cli: claude, prompt: 'do {requirment}'}}"),
        "phases[0].steps[0].agent.prompt",
        "{requirment}",
    ),
    (
        "thresholds fall",
        GOOD.replace("name: tiny", "name: tiny\ndefaults: {thresholds: [80, 70]}"),
        "defaults.thresholds",
        "must not decrease",
    ),
    (
        "threshold above 100",
        GOOD.replace("name: tiny", "name: tiny\ndefaults: {thresholds: [60, 120]}"),
        "defaults.thresholds[1]",
        "100",
    ),
    ("duplicate phase", GOOD + GOOD[GOOD.index("  - name: build") :], "phases[1].name", "used twice"),
    ("no phases", "name: tiny\nphases: []\n", "phases", "at least 1"),
    ("missing name", GOOD.replace("name: tiny\n", ""), "name", "required"),
    (
        "entry requires a later phase",
        GOOD.replace("    steps:", "    entry: {requires: [deploy]}\n    steps:"),
        "phases[0].entry.requires[0]",
        "not an earlier phase",
    ),
    (
        "too many iterations",
        GOOD.replace("name: tiny", "name: tiny\ndefaults: {max_iterations: 500}"),
        "defaults.max_iterations",
        "pipeline_max_iterations",
    ),
]


@pytest.mark.parametrize("text,path,phrase", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_files_name_the_bad_field(text: str, path: str, phrase: str) -> None:
    with pytest.raises(PipelineInvalidError) as err:
        parse_pipeline(textwrap.dedent(text), source="p.yaml")
    assert err.value.path == path, err.value.message
    assert err.value.code is ErrorCode.PIPELINE_INVALID
    assert err.value.message.startswith(f"p.yaml: {path}: ") and phrase in err.value.message


def test_every_problem_is_listed_with_its_path() -> None:
    # Issue 18: `phases: 3` without a name said "name: Field required (and 1 more problem)".
    with pytest.raises(PipelineInvalidError) as err:
        parse_pipeline("phases: 3\n", source="p.yaml")
    assert err.value.message.splitlines() == ["p.yaml: name: required", "p.yaml: phases: must be a list"]
    assert [e["path"] for e in err.value.data["errors"]] == ["name", "phases"]


def test_problems_listed_are_capped() -> None:
    steps = "".join(f"      - {{name: s{i}, command: [true], timeout_s: -1}}\n" for i in range(30))
    make = "      - {name: make, command: [touch, out.txt]}\n"
    text = GOOD.replace(make, make + steps)
    with pytest.raises(PipelineInvalidError) as err:
        parse_pipeline(text, source="p.yaml")
    lines = err.value.message.splitlines()
    assert len(lines) == MAX_REPORTED_PROBLEMS + 1 and lines[-1] == "p.yaml: ... and 10 more problems; fix these first"
    first = "p.yaml: phases[0].steps[1].timeout_s: Input should be greater than 0 (in phase 'build', step 's0')"
    assert lines[0] == first
    assert len(err.value.data["errors"]) == MAX_REPORTED_PROBLEMS


def test_yaml_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(PipelineInvalidError, match=r"not valid YAML at line 3, column \d+"):
        parse_pipeline("name: x\nphases:\n  bad: key: here\n")


def test_sizes_are_limited() -> None:
    small = dataclasses.replace(DEFAULT_LIMITS, pipeline_file_bytes=100, pipeline_max_steps=1)
    with pytest.raises(LimitError, match="pipeline_file_bytes=100"):
        parse_pipeline(GOOD + "#" * 100, small)
    two_steps = GOOD.replace("      - {name: make", "      - {name: other, command: [true]}\n      - {name: make")
    with pytest.raises(PipelineInvalidError, match="pipeline_max_steps=1") as err:
        parse_pipeline(two_steps, dataclasses.replace(DEFAULT_LIMITS, pipeline_max_steps=1))
    assert err.value.path == "phases[0].steps"
    bomb = "name: x\na: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcde", "bcdef", strict=True)
    )
    with pytest.raises(PipelineInvalidError, match="expands to more than"):
        parse_pipeline(bomb)


def test_yaml_scalars_in_argv_are_words() -> None:
    p = parse_pipeline(GOOD.replace("command: [touch, out.txt]", "command: [true, 1, 2.5]"))
    assert p.phases[0].steps[0].command == ["true", "1", "2.5"]


def test_template_is_five_phases_and_matches_the_published_schema(tmp_path: Path) -> None:
    p = parse_pipeline(template_text())
    assert [ph.name for ph in p.phases] == ["requirements", "design", "implementation", "testing", "deployment"]
    assert p.defaults.thresholds == [60, 75, 85, 90] and p.defaults.min_improvement == 5
    assert all(s.command is not None for ph in p.phases for s in ph.steps), "the template must run without agents"
    schema = pipeline_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(template_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(GOOD.replace("owners: [make]}", "owners: [make], wieght: 2}")), schema)
    path = write_template(tmp_path)
    assert path == tmp_path / "pipeline.yaml" and path.read_text() == template_text()
    with pytest.raises(Exception, match="already exists; pass --force"):
        write_template(tmp_path)


async def test_malformed_file_over_the_wire(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("owners: [make]", "owners: [mkae]"))
    with pytest.raises(RpcError) as err:
        await client.call("pipeline.run", path=str(bad), requirement="test")
    assert err.value.code == ErrorCode.PIPELINE_INVALID
    assert err.value.data["path"] == "phases[0].checks[0].owners[0]"
    assert str(bad) in err.value.message
    with pytest.raises(RpcError) as err:
        await client.call("pipeline.run", path=str(tmp_path / "missing.yaml"), requirement="test")
    assert err.value.code == ErrorCode.PIPELINE_INVALID and "pipeline init" in err.value.message
    schema = await client.call("pipeline.schema")
    assert json.dumps(schema) == json.dumps(pipeline_schema())
    assert await client.call("pipeline.list") == []


def test_init_of_a_new_name_makes_the_directory(tmp_path: Path) -> None:
    # README: `executive pipeline init demo` then `pipeline run demo/pipeline.yaml`; it wrote a *file* named demo.
    path = write_template(tmp_path / "demo")
    assert path == tmp_path / "demo" / "pipeline.yaml" and path.read_text() == template_text()
    assert write_template(tmp_path / "other.yaml") == tmp_path / "other.yaml"
    with pytest.raises(Exception, match="does not exist"):
        write_template(tmp_path / "missing" / "demo")


def test_pipeline_files_that_are_not_regular_files_are_refused() -> None:
    # /dev/zero has st_size 0, so the size check passed and read_bytes() read without end (daemon OOM);
    # a NUL byte in the path escaped as an internal error (-32603).
    from executive.pipeline.model import load_pipeline

    with pytest.raises(PipelineInvalidError, match="not a regular file"):
        load_pipeline("/dev/zero")
    with pytest.raises(PipelineInvalidError, match="cannot read pipeline file"):
        load_pipeline("/tmp/a\x00b.yaml")


@pytest.mark.parametrize("depth", [40, 50_000])
def test_deeply_nested_yaml_is_a_clear_error(depth: int) -> None:
    """A 50,000-deep list under the size limit was an internal error (RecursionError) in pipeline.run."""
    text = "name: x\nphases: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(PipelineInvalidError, match="nest"):
        parse_pipeline(text, dataclasses.replace(DEFAULT_LIMITS, pipeline_file_bytes=1 << 20))


@pytest.mark.parametrize(
    ("placement", "says"),
    [
        ("{on: moon}", 'placement.on must be "local" or "ray"'),
        ("{on: ray, resources: {CPU: -2}}", "placement.resources.CPU must be a number >= 0"),
        ("{on: ray, node: n1}", "placement.node must be a Ray node id"),
    ],
)
def test_a_malformed_step_placement_names_the_step_and_what_is_wrong(placement: str, says: str) -> None:
    text = f"""
name: x
phases:
  - name: build
    steps:
      - {{name: s, command: [true], placement: {placement}}}
    checks:
      - {{name: c, kind: files_exist, paths: [a], owners: [s]}}
"""
    with pytest.raises(PipelineInvalidError) as err:
        parse_pipeline(text, source="p.yaml")
    assert "phases[0].steps[0].placement" in str(err.value) and says in str(err.value)


def test_a_step_placement_is_normalized_and_local_is_no_placement() -> None:
    text = """
name: x
phases:
  - name: build
    steps:
      - {name: r, command: [true], placement: {on: ray, resources: {node_b: 1}}}
      - {name: l, command: [true], placement: {on: local}}
    checks:
      - {name: c, kind: files_exist, paths: [a], owners: [r, l]}
"""
    steps = parse_pipeline(text).phases[0].steps
    assert steps[0].placement == {"on": "ray", "resources": {"node_b": 1.0}}
    assert steps[1].placement is None
