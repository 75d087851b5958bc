"""The fix loop on real git repositories with a fake agent that really edits files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from executive.agents.testresults import count_failures
from executive.api.client import Client

RUNNER = """import importlib.util, pathlib, sys, traceback
sys.path.insert(0, ".")
files = sys.argv[1:] or sorted(str(p) for p in pathlib.Path("tests").glob("test_*.py"))
failed = passed = 0
for f in files:
    spec = importlib.util.spec_from_file_location(pathlib.Path(f).stem, f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in sorted(dir(mod)):
        if name.startswith("test_"):
            try:
                getattr(mod, name)()
                passed += 1
            except Exception:
                failed += 1
                print(f"FAILED {f}::{name}")
                traceback.print_exc()
print(f"{failed} failed, {passed} passed" if failed else f"{passed} passed")
sys.exit(1 if failed else 0)
"""

FIX = {"path": "calc.py", "find": "a - b", "replace": "a + b"}
WORSE = {"path": "calc.py", "find": "a - b", "replace": "a - b - 1"}


@pytest.fixture
def buggy(tmp_path: Path, agents) -> Path:
    return agents.make_repo(
        tmp_path / "buggy",
        {
            "calc.py": "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n",
            "tests/test_calc.py": "from calc import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
            "def test_add_zero():\n    assert add(4, 0) == 4\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n",
            "run_tests.py": RUNNER,
        },
    )


async def fix(client: Client, fake_bin, repo: Path, plan: dict, tmp_path: Path, **kw) -> dict:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    run = await client.call(
        "agent.fix",
        cwd=str(repo),
        test_cmd=f"{sys.executable} run_tests.py",
        agent=kw.pop("agent", "claude"),
        bin=kw.pop("bin", fake_bin["claude"]),
        env={"FAKE_PLAN": str(plan_file)},
        **kw,
    )
    done = await client.call("agent.fix_wait", run=run["id"], timeout=120)
    assert not done["timed_out"]
    return done


async def test_one_attempt_makes_it_green(client: Client, fake_bin, buggy: Path, tmp_path: Path) -> None:
    run = await fix(client, fake_bin, buggy, {"fix": [[FIX]]}, tmp_path, max_iterations=3)
    assert (
        run["state"] == "green"
        and run["failures_before"] == 1
        and run["failures_after"] == 0
        and run["iterations"] == 1
    )
    [a] = run["attempts"]
    assert (a["kind"], a["outcome"], a["failures_before"], a["failures_after"]) == ("fix", "kept", 1, 0)
    assert a["cost_usd"] == 0.0123 and a["duration_s"] > 0 and a["agent_task"] and a["test_task"]
    patch = await client.call("patch.show", patch=a["patch_id"])
    assert patch["state"] == "verified" and patch["source"] == "fix" and patch["fix_run"] == run["id"]
    assert "a + b" in (buggy / "calc.py").read_text()
    assert await client.call("agent.worktrees") == []  # every mirror was removed


async def test_a_worse_patch_is_rolled_back_exactly_then_a_fix_is_kept(
    client: Client, agents, fake_bin, buggy: Path, tmp_path: Path
) -> None:
    (buggy / "notes.txt").write_text("uncommitted notes\n")
    before = agents.tree_state(buggy)
    run = await fix(client, fake_bin, buggy, {"fix": [[WORSE], [FIX]]}, tmp_path, max_iterations=5)
    assert run["state"] == "green" and run["iterations"] == 2
    first, second = run["attempts"]
    assert (first["outcome"], first["failures_before"], first["failures_after"]) == ("rolled_back", 1, 2)
    assert "not fewer" in first["detail"]
    assert (await client.call("patch.show", patch=first["patch_id"]))["state"] == "rolled_back"
    assert (
        second["outcome"] == "kept"
        and (await client.call("patch.show", patch=second["patch_id"]))["state"] == "verified"
    )
    after = agents.tree_state(buggy)
    assert {k: v for k, v in after.items() if k != "calc.py" and "__pycache__" not in k} == {
        k: v for k, v in before.items() if k != "calc.py" and "__pycache__" not in k
    }


async def test_no_fix_leaves_the_exact_tree(client: Client, agents, fake_bin, buggy: Path, tmp_path: Path) -> None:
    (buggy / "notes.txt").write_text("uncommitted notes\n")
    before = {k: v for k, v in agents.tree_state(buggy).items() if "__pycache__" not in k}
    run = await fix(client, fake_bin, buggy, {"fix": [[WORSE], []]}, tmp_path, max_iterations=2)
    assert run["state"] == "unchanged" and [a["outcome"] for a in run["attempts"]] == ["rolled_back", "no_patch"]
    assert {k: v for k, v in agents.tree_state(buggy).items() if "__pycache__" not in k} == before


async def test_regression_test_first_and_fixes_must_pass_it(
    client: Client, fake_bin, buggy: Path, tmp_path: Path
) -> None:
    regression = [
        {
            "path": "tests/test_regression.py",
            "content": "from calc import add\n\n\ndef test_negatives():\n    assert add(-1, -1) == -2\n",
        }
    ]
    partial = {"path": "calc.py", "find": "a - b", "replace": "(a + b if a >= 0 else 0)"}
    run = await fix(
        client,
        fake_bin,
        buggy,
        {"regression": regression, "fix": [[partial], [FIX]]},
        tmp_path,
        max_iterations=4,
        regression_test=True,
    )
    assert run["state"] == "green", run
    reg, first, second = run["attempts"]
    assert (reg["kind"], reg["outcome"], reg["failures_before"], reg["failures_after"]) == ("regression", "kept", 1, 2)
    assert run["regression_patch"] == reg["patch_id"]
    # The partial fix makes the old test pass (2 -> 1 failures) but not the regression test: rolled back.
    assert (first["outcome"], first["failures_after"]) == ("rolled_back", 1) and "regression test still fails" in first[
        "detail"
    ]
    assert second["outcome"] == "kept" and "regression test passes" in second["detail"]
    assert (buggy / "tests/test_regression.py").exists() and "a + b" in (buggy / "calc.py").read_text()


async def test_a_regression_test_that_passes_reproduces_nothing(
    client: Client, fake_bin, buggy: Path, tmp_path: Path
) -> None:
    passing = [{"path": "tests/test_regression.py", "content": "def test_nothing():\n    assert True\n"}]
    run = await fix(
        client,
        fake_bin,
        buggy,
        {"regression": passing, "fix": [[FIX]]},
        tmp_path,
        max_iterations=1,
        regression_test=True,
    )
    assert run["state"] == "failed" and "reproduced" in run["detail"]
    assert [a["outcome"] for a in run["attempts"]] == ["not_reproduced"]
    assert not (buggy / "tests/test_regression.py").exists()


async def test_fix_cli_and_stats(daemon, agents, fake_bin, buggy: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"fix": [[WORSE], [FIX]]}))
    code, out, err = await agents.cli(
        daemon.home,
        "fix",
        "--test-cmd",
        f"{sys.executable} run_tests.py",
        "--agent",
        "aider",
        "--bin",
        fake_bin["aider"],
        "--cwd",
        str(buggy),
        "--env",
        f"FAKE_PLAN={plan}",
        "--max-iterations",
        "3",
    )
    assert code == 0, out + err
    assert (
        "baseline: 1 failure(s)" in out
        and "attempt 1 (fix): rolled_back" in out
        and "attempt 2 (fix): kept" in out
        and "green" in out
    )
    code, out, _ = await agents.cli(daemon.home, "fix", "--stats")
    assert code == 0 and "fix runs: 1 (green 1); success rate 100%" in out and "fix attempts kept 1/2 (50%)" in out
    code, out, _ = await agents.cli(daemon.home, "fix", "--stats", "--json")
    st = json.loads(out)
    assert st["attempts_by_outcome"] == {"kept": 1, "rolled_back": 1} and st["by_agent"]["aider"]["kept"] == 1
    code, _, err = await agents.cli(daemon.home, "fix", "--agent", "claude")
    assert code == 2 and "--test-cmd" in err


@pytest.mark.parametrize(
    "output, code, n",
    [
        ("===== 2 failed, 7 passed, 1 error in 0.31s =====", 1, 3),
        ("3 passed in 0.1s", 0, 0),
        ("Ran 4 tests\n\nFAILED (failures=2, errors=1)", 1, 3),
        ("--- FAIL: TestA (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL", 1, 2),
        ("Tests:       2 failed, 5 passed, 7 total", 1, 2),
        ("test result: FAILED. 5 passed; 2 failed; 0 ignored", 101, 2),
        ("segmentation fault", 139, 1),
    ],
)
def test_failure_counting(output: str, code: int, n: int) -> None:
    assert count_failures(output, code) == n


async def test_a_patch_that_breaks_test_collection_is_not_an_improvement(
    client: Client, agents, fake_bin, tmp_path: Path
) -> None:
    # Two failing tests; the agent's patch is a syntax error, so pytest reports just "1 error" (no test runs).
    # One error is not fewer failures than two: the patch must be rolled back, not kept.
    repo = agents.make_repo(
        tmp_path / "pyrepo",
        {
            "calc.py": "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a + b\n\n\n"
            "def mul(a, b):\n    return a * b\n",
            "test_calc.py": "from calc import add, mul, sub\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
            "def test_sub():\n    assert sub(5, 3) == 2\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n",
        },
    )
    before = agents.tree_state(repo)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"fix": [[{"path": "calc.py", "find": "a - b", "replace": "a -"}]]}))
    run = await client.call(
        "agent.fix",
        cwd=str(repo),
        test_cmd=f"{sys.executable} -m pytest -q -p no:cacheprovider",
        agent="claude",
        bin=fake_bin["claude"],
        env={"FAKE_PLAN": str(plan_file)},
        max_iterations=1,
    )
    run = await client.call("agent.fix_wait", run=run["id"], timeout=120)
    assert run["failures_before"] == 2
    [a] = run["attempts"]
    assert a["outcome"] == "rolled_back", a
    assert agents.tree_state(repo) == before


@pytest.mark.parametrize(
    ("output", "code", "passed"),
    [
        ("==== 2 failed, 1 passed in 0.10s ====", 1, 1),
        ("ERROR collecting test_calc.py\n1 error in 0.05s", 2, 0),
        ("Ran 5 tests in 0.001s\n\nFAILED (failures=2, errors=1)", 1, 2),
        ("Ran 5 tests in 0.001s\n\nOK", 0, 5),
        ("Tests:       1 failed, 4 passed, 5 total", 1, 4),
        ("test result: FAILED. 5 passed; 2 failed; 0 ignored", 101, 5),
        ("Segmentation fault", 139, None),
    ],
)
def test_count_passed(output: str, code: int, passed: int | None) -> None:
    from executive.agents.testresults import count_passed

    assert count_passed(output, code) == passed
