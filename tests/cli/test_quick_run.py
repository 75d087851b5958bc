"""`executive run` on the quick path (cli/quick_run.py): which command lines it takes, and what it makes of them.

What it does with them (output, exit codes, Ctrl-C, a reader that goes away) is tested end to end
in test_tasks_cli.py, through the console script, as a user runs it.
"""

from __future__ import annotations

from typing import Any

import pytest

from executive.cli.quick_run import parse

# (arguments of `run`, what the quick path makes of them; None: the typer command takes the whole line)
RUN_ARGS: list[tuple[list[str], dict[str, Any] | None]] = [
    (["--", "echo", "hi"], {"argv": ["echo", "hi"]}),
    (["echo", "--name", "x"], {"argv": ["echo", "--name", "x"]}),  # the command starts at its first word
    (["-n", "w", "--name=v", "--cwd", "/", "--", "ls", "-l"], {"argv": ["ls", "-l"], "name": "v", "cwd": "/"}),
    (["-e", "A=1", "--env", "B==2", "--", "env"], {"argv": ["env"], "env": {"A": "1", "B": "=2"}}),
    (["--timeout", "1.5", "--idle-timeout=2", "--quota", "4G", "--", "x"], {"timeout": 1.5, "idle_timeout": 2.0}),
    (["-d", "--", "x"], {"argv": ["x"]}),
    (["--stdin", "--", "cat"], None),
    (["--restart", "always", "--", "x"], None),
    (["--on", "ray", "--", "x"], None),
    (["--help"], None),
    (["-nx", "--", "y"], None),
    (["--timeout", "soon", "--", "x"], None),
    (["--env", "NOEQUALS", "--", "x"], None),
    (["--quota", "lots", "--", "x"], None),
    (["--name"], None),
    (["--"], None),
]


@pytest.mark.parametrize(("argv", "want"), RUN_ARGS)
def test_the_quick_run_takes_the_common_options_and_leaves_the_rest_to_typer(
    argv: list[str], want: dict[str, Any] | None
) -> None:
    got = parse(argv)
    if want is None:
        assert got is None
        return
    assert got is not None
    assert got["detach"] == ("-d" in argv)
    params = got["params"]
    assert {k: params[k] for k in want} == want
    if "--quota" in argv:
        assert params["quota"] == 4 * 1024**3
