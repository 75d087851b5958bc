"""Task ids are never reused, even when a crash beat the task's row to the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from executive.kernel.errors import ErrorCode, ExecutiveError
from executive.service import Executive


async def test_an_id_with_a_log_directory_but_no_row_is_not_reused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "tasks" / "7").mkdir(parents=True)
    (home / "tasks" / "7" / "stdout.log").write_text("from before the crash\n")
    ex = await Executive.open(home)
    try:
        t = await ex.task_run(["true"])
        assert t["id"] == 8
        await ex.task_wait(t["id"], timeout=10)
        assert (home / "tasks" / "7" / "stdout.log").read_text() == "from before the crash\n"
    finally:
        await ex.aclose()


@pytest.mark.parametrize("name", ["a\0b", "line\nbreak", "\x1b[31mred"])
async def test_task_names_must_be_printable(tmp_path: Path, name: str) -> None:
    ex = await Executive.open(tmp_path / "home")
    try:
        with pytest.raises(ExecutiveError) as info:
            await ex.task_run(["true"], name=name)
        assert info.value.code is ErrorCode.INVALID_PARAMS and "printable" in info.value.message
        assert (await ex.task_list())["tasks"] == []
    finally:
        await ex.aclose()
