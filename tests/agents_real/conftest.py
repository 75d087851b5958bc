"""The real agent CLIs (Claude Code, Codex, Aider) end to end, pointed at a scripted model server.

The CLIs come from ``make agents`` (pinned versions under ``.tools/``).  Without them the whole
directory is deselected with one printed line; with ``CI=true`` a missing CLI fails every test
here instead, because CI must test the real programs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the scenarios import model_server and realcli

import model_server as ms  # noqa: E402
from realcli import IN_CI, TOOLS, git, missing_clis  # noqa: E402

_REASON: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_clis()
    mine = [i for i in items if HERE in Path(str(i.fspath)).parents]
    if not missing or not mine:
        return
    reason = f"real agent CLIs not installed in {TOOLS} ({', '.join(missing)} missing): run `make agents`"
    if IN_CI:
        return  # they run, and _fail_without_clis fails each one with the reason
    _REASON.append(f"tests/agents_real: {len(mine)} test(s) not run: {reason}")
    config.hook.pytest_deselected(items=mine)
    items[:] = [i for i in items if i not in mine]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _REASON:
        terminalreporter.write_line(line, yellow=True)


@pytest.fixture(autouse=True)
def _fail_without_clis() -> None:
    if not missing_clis():
        return
    pytest.fail(
        f"CI=true but the real agent CLIs are missing ({', '.join(missing_clis())}); `make agents` must succeed"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "hello.py").write_text("print('helo')\n")
    (path / "README.md").write_text("# demo\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def server_factory():
    made: list[ms.ModelServer] = []

    def make(script: ms.Script, cwd: Path | None = None) -> ms.ModelServer:
        srv = ms.ModelServer(script, cwd=str(cwd) if cwd else "")
        srv.__enter__()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.__exit__(None, None, None)
