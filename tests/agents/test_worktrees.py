"""Worktrees across a daemon restart, through the Executive object."""

from __future__ import annotations

from pathlib import Path

from executive.service import Executive


async def test_restart_removes_leftover_throwaway_worktrees_and_keeps_agent_ones(tmp_path: Path, agents) -> None:
    repo = agents.make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    (repo / "a.txt").write_text("dirty\n")
    ex = await Executive.open(tmp_path / "home")
    throwaway = await ex.agents.worktrees.create(
        str(repo), purpose="validate", branch=False
    )  # held: an operation "in progress"
    kept = await ex.agents.worktrees.create(str(repo), purpose="agent", branch=True)
    ex.agents.worktrees.release(kept)
    assert (Path(throwaway.path) / "a.txt").read_text() == "dirty\n"  # a mirror of the working state, not of HEAD
    await ex.aclose()

    ex = await Executive.open(tmp_path / "home")
    try:
        rows = {r["id"]: r for r in await ex.agents.worktrees.list(include_removed=True)}
        assert rows[throwaway.id]["state"] == "removed" and "previous daemon" in rows[throwaway.id]["detail"]
        assert not Path(throwaway.path).exists()
        assert rows[kept.id]["state"] == "ready" and rows[kept.id]["in_use"] is None
        listed = agents.git(repo, "worktree", "list", "--porcelain")
        assert throwaway.path not in listed and kept.path in listed
        stale = await ex.agents.worktrees.stale()
        assert [s["id"] for s in stale] == [kept.id] and stale[0]["stale_reason"] == "no task or operation uses it"
        await ex.agents.worktrees.prune()
        assert not Path(kept.path).exists() and kept.branch in agents.git(repo, "branch")
    finally:
        await ex.aclose()
