"""The one exit-code table: every daemon error code maps into it, every "not found" to the same code."""

from __future__ import annotations

import re
from pathlib import Path

from executive.cli import exit_codes
from executive.kernel.errors import ErrorCode

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_not_found_error_is_exit_4_and_nothing_else_is() -> None:
    for code in ErrorCode:
        got = exit_codes.for_rpc_error(int(code))
        if code.name.endswith("NOT_FOUND") and code != ErrorCode.METHOD_NOT_FOUND:  # no such method: a bad request
            assert got == exit_codes.NOT_FOUND, code
        else:
            assert got in (exit_codes.ERROR, exit_codes.USAGE), code


def test_bad_requests_are_usage_and_daemon_failures_are_errors() -> None:
    assert exit_codes.for_rpc_error(int(ErrorCode.INVALID_PARAMS)) == exit_codes.USAGE
    assert exit_codes.for_rpc_error(int(ErrorCode.INVALID_TRANSITION)) == exit_codes.USAGE
    assert exit_codes.for_rpc_error(-32603) == exit_codes.ERROR  # JSON-RPC internal error
    assert exit_codes.for_rpc_error(int(ErrorCode.SERVER_ERROR)) == exit_codes.ERROR


def test_the_readme_shows_the_same_table() -> None:
    text = README.read_text()
    section = text[text.index("### Exit codes") :]
    rows = re.findall(r"^\| ([0-9+N]+|other) \| (.+?) \|$", section, re.M)
    assert [(code, meaning.replace("`", "")) for code, meaning in rows][: len(exit_codes.TABLE)] == list(
        exit_codes.TABLE
    )
