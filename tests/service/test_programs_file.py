"""The programs file (service/programs_file.py): every problem listed with its path, the limits, the schema."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from executive.kernel.errors import ErrorCode
from executive.kernel.limits import DEFAULT_LIMITS
from executive.kernel.programs import RestartPolicy
from executive.service.programs_file import (
    ProgramsInvalidError,
    load_programs_file,
    parse_programs,
    programs_schema,
)

GOOD = """
version: 1
programs:
  web:
    argv: [sh, -c, "sleep 1000"]
    cwd: site
    env: {GREETING: hi}
    restart: always
    max_restarts: 3
    backoff_base: 0.5
    backoff_max: 8
    timeout: 3600
    log_quota: 1048576
  worker:
    argv: [sleep, "1000"]
    autostart: false
"""


def _problems(exc: pytest.ExceptionInfo[ProgramsInvalidError]) -> dict[str, str]:
    return {p["path"]: p["message"] for p in exc.value.data["problems"]}


def test_a_good_file_gives_absolute_cwds_and_settings(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    f = tmp_path / "programs.yaml"
    f.write_text(GOOD)
    config = load_programs_file(f)
    assert config.source == str(f) and sorted(config.programs) == ["web", "worker"]
    web, worker = config.programs["web"], config.programs["worker"]
    assert web.spec == {
        "argv": ["sh", "-c", "sleep 1000"],
        "cwd": str(tmp_path / "site"),
        "env": {"GREETING": "hi"},
        "timeout": 3600.0,
        "idle_timeout": None,
        "quota": 1048576,
        "autostart": True,
    }
    assert (web.settings.policy, web.settings.max_restarts, web.settings.backoff_max) == (RestartPolicy.ALWAYS, 3, 8)
    assert worker.spec["cwd"] == str(tmp_path) and worker.spec["autostart"] is False
    assert worker.settings.policy is RestartPolicy.ON_FAILURE  # the default, as supervisord's "unexpected"


def test_every_problem_is_listed_with_its_path(tmp_path: Path) -> None:
    text = """
version: 2
colour: blue
programs:
  web:
    argv: []
    restart: sometimes
  api:
    argv: [no-such-program-anywhere]
    cwd: missing-dir
  db:
    argv: [no-such-program-anywhere]
    backoff_base: 10
    backoff_max: 1
    max_restarts: -1
    surprise: true
  "123":
    argv: [sleep, "1"]
"""
    with pytest.raises(ProgramsInvalidError) as info:
        parse_programs(text, source="p.yaml", base_dir=str(tmp_path))
    problems = _problems(info)
    assert set(problems) == {
        "version",
        "colour",
        "programs.web.argv",
        "programs.web.restart",
        "programs.api.cwd",
        "programs.db.max_restarts",
        "programs.db.surprise",
        "programs.db.argv[0]",  # checked although other fields of db are invalid: every problem, at once
        "programs.db.backoff_max",
        "programs.123",
    }
    assert "unknown field" in problems["colour"] and "unknown field" in problems["programs.db.surprise"]
    assert "'never', 'on-failure' or 'always'" in problems["programs.web.restart"]
    assert problems["programs.api.cwd"] == f"{tmp_path / 'missing-dir'} is not a directory"
    assert "not all digits" in problems["programs.123"]
    assert info.value.code is ErrorCode.PROGRAMS_INVALID
    assert "10 problems; nothing was changed" in info.value.message
    assert all(f"  {path}: " in info.value.message for path in problems)  # the message lists each one too


def test_rules_beyond_the_model_are_checked_per_program(tmp_path: Path) -> None:
    text = """
programs:
  slow:
    argv: [no-such-program-anywhere]
    backoff_base: 10
    backoff_max: 1
  huge:
    argv: [sleep, "1"]
    max_restarts: 999999
    log_quota: 99999999999999
    env: {"A=B": x}
"""
    with pytest.raises(ProgramsInvalidError) as info:
        parse_programs(text, base_dir=str(tmp_path))
    problems = _problems(info)
    assert set(problems) == {
        "programs.slow.backoff_max",
        "programs.slow.argv[0]",
        "programs.huge.max_restarts",
        "programs.huge.log_quota",
        "programs.huge.env.A=B",
    }
    assert "not found on PATH" in problems["programs.slow.argv[0]"]


def test_the_programs_path_may_be_relative_to_the_cwd_and_found_with_the_programs_path(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "mytool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    text = f"programs:\n  a:\n    argv: [mytool]\n    env: {{PATH: {bindir}}}\n  b:\n    argv: [./bin/mytool]\n"
    config = parse_programs(text, base_dir=str(tmp_path))
    assert sorted(config.programs) == ["a", "b"]


def test_yaml_errors_say_where(tmp_path: Path) -> None:
    with pytest.raises(ProgramsInvalidError) as info:
        parse_programs("programs:\n  web: [unclosed\n", base_dir=str(tmp_path))
    [(path, message)] = _problems(info).items()
    assert path.startswith("line ") and "not valid YAML" in message
    with pytest.raises(ProgramsInvalidError) as info:
        parse_programs("- just\n- a list\n", base_dir=str(tmp_path))
    assert "expected a mapping" in _problems(info)["(top level)"]
    with pytest.raises(ProgramsInvalidError) as info:
        parse_programs("programs: [a, b]\n", base_dir=str(tmp_path))
    assert "mapping of program name" in _problems(info)["programs"]


def test_an_empty_file_is_no_programs(tmp_path: Path) -> None:
    assert parse_programs("", base_dir=str(tmp_path)).programs == {}
    assert parse_programs("programs:\n", base_dir=str(tmp_path)).programs == {}


def test_limits_on_file_size_and_program_count(tmp_path: Path) -> None:
    small = dataclasses.replace(DEFAULT_LIMITS, programs_file_bytes=200, max_programs=2)
    f = tmp_path / "big.yaml"
    f.write_text("programs:\n" + "".join(f"  p{i}:\n    argv: [sleep, '1']\n" for i in range(20)))
    with pytest.raises(ProgramsInvalidError) as info:
        load_programs_file(f, small)
    assert "exceed programs_file_bytes=200" in _problems(info)["(file)"]
    text = "programs:\n" + "".join(f"  p{i}:\n    argv: [sleep, '1']\n" for i in range(3))
    with pytest.raises(ProgramsInvalidError) as info:
        parse_programs(text, dataclasses.replace(DEFAULT_LIMITS, max_programs=2), base_dir=str(tmp_path))
    assert "3 programs exceed max_programs=2" in _problems(info)["programs"]


def test_a_missing_or_odd_file_is_refused_plainly(tmp_path: Path) -> None:
    with pytest.raises(ProgramsInvalidError) as info:
        load_programs_file(tmp_path / "nope.yaml")
    assert "cannot read it" in _problems(info)["(file)"]
    with pytest.raises(ProgramsInvalidError) as info:
        load_programs_file(tmp_path)
    assert "not a regular file" in _problems(info)["(file)"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ProgramsInvalidError):
        load_programs_file(fifo)  # refused without reading (a read would wait for a writer forever)


def test_yaml_aliases_cannot_blow_up_the_reader(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    with pytest.raises(ProgramsInvalidError) as info:
        parse_programs(bomb, base_dir=str(tmp_path))
    assert "expands to more than" in _problems(info)["(file)"]


def test_the_schema_describes_the_file_and_accepts_the_example(tmp_path: Path) -> None:
    schema = programs_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(yaml.safe_load(GOOD)))
    assert list(validator.iter_errors({"programs": {"web": {"argv": ["x"], "restart": "sometimes"}}}))
    assert list(validator.iter_errors({"programs": {"bad name!": {"argv": ["x"]}}}))
    web = schema["$defs"]["ProgramSpecModel"]["properties"]
    assert {"argv", "cwd", "env", "restart", "max_restarts", "backoff_base", "autostart", "log_quota"} <= set(web)
