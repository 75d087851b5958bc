"""The patch engine and ledger on real git repositories, through the wire."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from executive.api.client import Client, RpcError


def diff_of(agents, repo: Path, change) -> str:
    """Make a change, take `git diff` of it (untracked included via intent-to-add), then undo it."""
    before = agents.git(repo, "stash", "list")
    assert before == ""
    change()
    agents.git(repo, "add", "-A")
    text = agents.git(repo, "diff", "--cached", "--binary", "-M")
    agents.git(repo, "reset", "-q", "--hard")
    agents.git(repo, "clean", "-qfd")
    return text


async def test_good_patch_applies_and_verifies(client: Client, agents, repo: Path) -> None:
    text = diff_of(
        agents,
        repo,
        lambda: (repo / "calc.py").write_text(
            "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
        ),
    )
    check = [sys.executable, "-c", "import calc; assert calc.sub(5, 3) == 2"]
    rec = await client.call("patch.apply", diff=text, cwd=str(repo), verify=check)
    assert rec["state"] == "verified", rec["reason"]
    assert [t["to"] for t in rec["transitions"]] == ["created", "validated", "applied", "verified"]
    assert all(t["reason"] and t["at"] for t in rec["transitions"])
    assert rec["verify_exit"] == 0 and rec["verify_task"]
    assert "def sub" in (repo / "calc.py").read_text()
    assert rec["files"][0]["new_path"] == "calc.py" and rec["files"][0]["added"] == 4
    listed = await client.call("patch.list", cwd=str(repo))
    assert [p["id"] for p in listed] == [rec["id"]] and "text" not in listed[0]
    # The verification ran as an ordinary task in a throw-away worktree, which is gone now.
    task = await client.call("task.info", task=rec["verify_task"])
    assert task["cwd"] != str(repo) and task["exit_code"] == 0
    assert await client.call("agent.worktrees") == []


async def test_patch_that_breaks_the_tests_never_touches_the_tree(client: Client, agents, repo: Path) -> None:
    before = agents.tree_state(repo)
    text = diff_of(agents, repo, lambda: (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n"))
    rec = await client.call(
        "patch.apply",
        diff=text,
        cwd=str(repo),
        verify=[sys.executable, "-c", "import calc; assert calc.add(2, 2) == 4"],
    )
    assert rec["state"] == "quarantined" and "verification" in rec["reason"] and rec["verify_exit"] == 1
    assert agents.tree_state(repo) == before


async def test_rollback_restores_the_exact_prior_tree(client: Client, agents, repo: Path) -> None:
    (repo / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "tool.sh").chmod(0o755)
    (repo / "old.txt").write_text("old name\n")
    (repo / "gone.txt").write_text("to be deleted\n")
    agents.git(repo, "add", "-A")
    agents.git(repo, "commit", "-qm", "more")

    def change() -> None:
        (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
        (repo / "tool.sh").chmod(0o644)
        (repo / "old.txt").rename(repo / "new.txt")
        (repo / "gone.txt").unlink()
        (repo / "pkg" / "sub").mkdir(parents=True)
        (repo / "pkg" / "sub" / "mod.py").write_text("X = 1\n")

    text = diff_of(agents, repo, change)
    # A dirty tree before the patch: uncommitted edits, an untracked file, an odd mode.
    (repo / "README.md").write_text("# demo\nlocal notes\n")
    (repo / "scratch.txt").write_text("untracked\n")
    (repo / "scratch.txt").chmod(0o600)
    before = agents.tree_state(repo)
    rec = await client.call("patch.apply", diff=text, cwd=str(repo))
    assert rec["state"] == "applied", rec["reason"]
    assert (repo / "pkg/sub/mod.py").exists() and not (repo / "gone.txt").exists() and (repo / "new.txt").exists()
    assert not os.access(repo / "tool.sh", os.X_OK)
    rb = await client.call("patch.rollback", patch=rec["id"])
    assert rb["state"] == "rolled_back" and "exactly" in rb["reason"]
    assert (
        agents.tree_state(repo) == before
    )  # content, modes, new files and their directories removed, deleted files back
    with pytest.raises(RpcError) as e:
        await client.call("patch.rollback", patch=rec["id"])
    assert e.value.code == 1213 and "rolled_back" in e.value.message


async def test_rollback_refuses_to_overwrite_later_edits_unless_forced(client: Client, agents, repo: Path) -> None:
    before = agents.tree_state(repo)
    text = diff_of(agents, repo, lambda: (repo / "calc.py").write_text("def add(a, b):\n    return a + b + 0\n"))
    rec = await client.call("patch.apply", diff=text, cwd=str(repo))
    (repo / "calc.py").write_text("edited by hand afterwards\n")
    with pytest.raises(RpcError) as e:
        await client.call("patch.rollback", patch=rec["id"])
    assert e.value.code == 1214 and "calc.py" in e.value.message and "--force" in e.value.message
    rb = await client.call("patch.rollback", patch=rec["id"], force=True)
    assert rb["state"] == "rolled_back" and "overwrote" in rb["reason"]
    assert agents.tree_state(repo) == before


@pytest.mark.parametrize(
    "diff, problem",
    [
        ("--- a/../outside.txt\n+++ b/../outside.txt\n@@ -0,0 +1 @@\n+x\n", "climbs out"),
        ("--- /dev/null\n+++ /etc/evil\n@@ -0,0 +1 @@\n+x\n", "absolute"),
        ("diff --git a/.git/config b/.git/config\n--- a/.git/config\n+++ b/.git/config\n@@ -1 +1 @@\n-a\n+b\n", ".git"),
        (
            "diff --git a/link/x.txt b/link/x.txt\nnew file mode 100644\n"
            "--- /dev/null\n+++ b/link/x.txt\n@@ -0,0 +1 @@\n+x\n",
            "symlink",
        ),
        (
            "diff --git a/l b/l\nnew file mode 120000\n"
            "--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+../../etc\n\\ No newline at end of file\n",
            "symlink to",
        ),
    ],
)
async def test_patch_outside_the_workspace_is_refused(
    client: Client, agents, repo: Path, tmp_path: Path, diff: str, problem: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (repo / "link").symlink_to(outside)
    before = agents.tree_state(repo)
    with pytest.raises(RpcError) as e:
        await client.call("patch.apply", diff=diff, cwd=str(repo))
    assert e.value.code == 1212 and problem in e.value.message
    rec = await client.call("patch.show", patch=e.value.data["patch"])
    assert rec["state"] == "quarantined" and [t["to"] for t in rec["transitions"]] == ["created", "quarantined"]
    assert agents.tree_state(repo) == before and list(outside.iterdir()) == []


async def test_binary_patches_need_permission(client: Client, agents, repo: Path) -> None:
    text = diff_of(agents, repo, lambda: (repo / "blob.bin").write_bytes(bytes(range(256)) * 4))
    assert "GIT binary patch" in text
    with pytest.raises(RpcError) as e:
        await client.call("patch.apply", diff=text, cwd=str(repo))
    assert "binary" in e.value.message
    rec = await client.call("patch.apply", diff=text, cwd=str(repo), allow_binary=True)
    assert rec["state"] == "applied" and (repo / "blob.bin").read_bytes() == bytes(range(256)) * 4
    rb = await client.call("patch.rollback", patch=rec["id"])
    assert rb["state"] == "rolled_back" and not (repo / "blob.bin").exists()


async def test_commit_contains_only_the_patch_paths(client: Client, agents, repo: Path) -> None:
    (repo / "staged.txt").write_text("staged but unrelated\n")
    agents.git(repo, "add", "staged.txt")
    (repo / "README.md").write_text("# demo\nunrelated edit\n")
    (repo / "untracked.txt").write_text("never committed\n")
    text = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# reviewed\n"
    rec = await client.call("patch.apply", diff=text, cwd=str(repo), commit=True, message="calc: mark reviewed")
    assert rec["state"] == "committed" and rec["commit_id"]
    assert [t["to"] for t in rec["transitions"]] == ["created", "validated", "applied", "committed"]
    assert agents.git(repo, "show", "--name-only", "--format=%s", "HEAD").split() == [
        "calc:",
        "mark",
        "reviewed",
        "calc.py",
    ]
    status = agents.git(repo, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M README.md", "?? untracked.txt", "A  staged.txt"]
    with pytest.raises(RpcError) as e:
        await client.call("patch.rollback", patch=rec["id"])
    assert e.value.code == 1213 and "committed" in e.value.message


async def test_conflicting_and_malformed_patches(client: Client, repo: Path) -> None:
    conflict = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a * b\n+    return a / b\n"
    rec = await client.call("patch.apply", diff=conflict, cwd=str(repo))
    assert rec["state"] == "apply_failed" and "calc.py" in rec["reason"]
    with pytest.raises(RpcError) as e:
        await client.call(
            "patch.apply", diff="--- a/calc.py\n+++ b/calc.py\n@@ -1,3 +1,3 @@\n def add(a, b):\n", cwd=str(repo)
        )
    assert e.value.code == 1211 and e.value.data["line"] == 3 and "ends early" in e.value.message
    with pytest.raises(RpcError) as e:
        await client.call("patch.apply", diff="just words\n", cwd=str(repo))
    assert e.value.code == 1211
    with pytest.raises(RpcError) as e:
        await client.call("patch.show", patch=9999)
    assert e.value.code == 1210


async def test_validate_only_then_the_tree_is_untouched(client: Client, agents, repo: Path) -> None:
    before = agents.tree_state(repo)
    text = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# x\n"
    rec = await client.call("patch.apply", diff=text, cwd=str(repo), apply=False)
    assert rec["state"] == "validated" and agents.tree_state(repo) == before


async def test_a_plain_diff_against_a_backup_commits_only_the_patched_file(client: Client, agents, repo: Path) -> None:
    # `diff -u calc.py.orig calc.py` patches calc.py (what git apply does); the user's untracked backup
    # calc.py.orig is not part of the patch and must not be committed or counted as one of its paths.
    (repo / "calc.py.orig").write_text("def add(a, b):\n    return a + b\n")
    text = (
        "--- calc.py.orig\t2024-01-01 10:00:00.000000000 +0000\n+++ calc.py\t2024-01-02 10:00:00.000000000 +0000\n"
        "@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# reviewed\n"
    )
    rec = await client.call("patch.apply", diff=text, cwd=str(repo), commit=True, message="calc: mark reviewed")
    assert rec["state"] == "committed", rec["reason"]
    assert [(f["old_path"], f["new_path"], f["status"]) for f in rec["files"]] == [("calc.py", "calc.py", "modified")]
    assert agents.git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["calc.py"]
    assert agents.git(repo, "status", "--porcelain").splitlines() == ["?? calc.py.orig"]


async def test_rollback_never_writes_through_a_link_that_leads_outside(
    client: Client, agents, repo: Path, tmp_path: Path
) -> None:
    # The patch deletes the only file of pkg/ (so pkg/ goes away).  Before the rollback, pkg comes back
    # as a symlink to a directory outside the workspace: restoring pkg/mod.py must not follow it.
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    agents.git(repo, "add", "-A")
    agents.git(repo, "commit", "-qm", "pkg")
    text = diff_of(agents, repo, lambda: ((repo / "pkg" / "mod.py").unlink(), (repo / "pkg").rmdir()))
    rec = await client.call("patch.apply", diff=text, cwd=str(repo))
    assert rec["state"] == "applied", rec["reason"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "pkg").symlink_to(outside)
    with pytest.raises(RpcError) as e:
        await client.call("patch.rollback", patch=rec["id"], force=True)
    assert "outside the workspace" in e.value.message
    assert list(outside.iterdir()) == []  # nothing was written there
    assert (await client.call("patch.show", patch=rec["id"]))["state"] == "applied"  # the refusal changed nothing


async def test_commit_refuses_edits_made_after_the_apply_unless_forced(client: Client, agents, repo: Path) -> None:
    text = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# reviewed\n"
    rec = await client.call("patch.apply", diff=text, cwd=str(repo))
    assert rec["state"] == "applied", rec["reason"]
    head = agents.git(repo, "rev-parse", "HEAD")
    (repo / "calc.py").write_text(
        "def add(a, b):\n    return a + b\n# reviewed\nSECRET = 'edited by hand afterwards'\n"
    )
    with pytest.raises(RpcError) as e:
        await client.call("patch.commit", patch=rec["id"])
    assert e.value.code == 1214 and "calc.py" in e.value.message and "--force" in e.value.message
    assert e.value.data["diverged"] == ["calc.py"]
    assert agents.git(repo, "rev-parse", "HEAD") == head  # nothing was committed
    assert (await client.call("patch.show", patch=rec["id"]))["state"] == "applied"
    done = await client.call("patch.commit", patch=rec["id"], force=True)
    assert done["state"] == "committed" and "later edits to calc.py" in done["reason"]
    assert "SECRET" in agents.git(repo, "show", "HEAD:calc.py")


async def test_commit_of_an_unchanged_applied_patch_needs_no_force(client: Client, agents, repo: Path) -> None:
    text = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n     return a + b\n+# reviewed\n"
    rec = await client.call("patch.apply", diff=text, cwd=str(repo))
    (repo / "README.md").write_text("# demo\nnot part of the patch\n")  # other files may change freely
    done = await client.call("patch.commit", patch=rec["id"])
    assert done["state"] == "committed" and "later edits" not in done["reason"]
    assert agents.git(repo, "show", "HEAD:calc.py").endswith("# reviewed\n")
