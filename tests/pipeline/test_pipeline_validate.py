"""Validate mode scores an existing project with the same gate code and changes nothing; --remediate reworks."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from executive.api.client import Client, RpcError

FIXTURE = Path(__file__).parent / "fixtures" / "project"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dst = tmp_path / "project"
    shutil.copytree(FIXTURE, dst)
    return dst


def _by_phase(status: dict) -> dict[str, list[tuple]]:
    return {
        ph["name"]: [
            (it["iteration"], it["score"], it["threshold"], it["verdict"], [s["step"] for s in it["steps"]])
            for it in ph["iterations"]
        ]
        for ph in status["phases"]
    }


async def test_validate_scores_and_changes_no_file(pl: SimpleNamespace, client: Client, project: Path) -> None:
    before = pl.tree_hash(project)
    run = await client.call("pipeline.validate", dir=str(project))
    assert run["mode"] == "validate"
    done = await pl.finish(client, run["id"])
    assert done["state"] == "failed" and "docs" in done["detail"]
    status = await client.call("pipeline.status", run=run["id"])
    assert _by_phase(status) == {
        "docs": [(1, 50, 60, "below", [])],
        "code": [(1, 100, 60, "passed", [])],
    }
    docs = status["phases"][0]["iterations"][0]["checks"]
    assert [(c["name"], c["failed"], c["detail"]) for c in docs] == [
        ("readme", False, "all present"),
        ("guide", True, "missing or empty: docs/guide.md"),
    ]
    assert pl.tree_hash(project) == before, "validate must not change the project"


async def test_validate_against_a_later_iteration_threshold(pl: SimpleNamespace, client: Client, project: Path) -> None:
    run = await client.call("pipeline.validate", dir=str(project), iteration=4)
    await pl.finish(client, run["id"])
    status = await client.call("pipeline.status", run=run["id"])
    assert [it[2] for ph in _by_phase(status).values() for it in ph] == [90, 90]


async def test_remediate_runs_only_the_rework_steps(pl: SimpleNamespace, client: Client, project: Path) -> None:
    run = await client.call("pipeline.validate", dir=str(project), remediate=True)
    done = await pl.finish(client, run["id"])
    assert done["state"] == "passed", done["detail"]
    status = await client.call("pipeline.status", run=run["id"])
    assert _by_phase(status) == {
        "docs": [(1, 50, 60, "rework", []), (2, 100, 75, "passed", ["write_guide"])],
        "code": [(1, 100, 60, "passed", [])],
    }
    assert pl.lines(project / "side.txt") == ["write_guide"]
    assert (project / "docs" / "guide.md").read_text() == "Run src/greet.sh NAME.\n"


async def test_validate_needs_a_directory_and_a_pipeline(client: Client, tmp_path: Path) -> None:
    with pytest.raises(RpcError, match="is not a directory"):
        await client.call("pipeline.validate", dir=str(tmp_path / "nope"))
    with pytest.raises(RpcError, match=r"cannot read pipeline file .*pipeline\.yaml"):
        await client.call("pipeline.validate", dir=str(tmp_path))
