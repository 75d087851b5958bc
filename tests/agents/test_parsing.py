"""Parsers without I/O: unified diffs (one case table) and adapter streams under any chunking."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executive.agents.adapters import RunEnd, get_adapter
from executive.agents.diffparse import parse_patch
from executive.agents.errors import PatchInvalidError
from executive.agents.lines import LineAssembler, LongLine

GIT_PATCH = """Subject: [PATCH] several kinds of change

diff --git a/calc.py b/calc.py
index 1111111..2222222 100644
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,3 @@
 def add(a, b):
-    return a + b
+    return b + a
+
diff --git a/bin/run b/bin/run
new file mode 100755
index 0000000..3333333
--- /dev/null
+++ b/bin/run
@@ -0,0 +1 @@
+echo hi
\\ No newline at end of file
diff --git a/old name.txt b/new name.txt
similarity index 100%
rename from old name.txt
rename to new name.txt
diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"
old mode 100644
new mode 100755
diff --git a/img.png b/img.png
index 1..2 100644
Binary files a/img.png and b/img.png differ
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
-- 
2.39.5
"""


def test_git_patch_sections() -> None:
    p = parse_patch(GIT_PATCH)
    assert p.strip == 1
    got = [(f.old_path, f.new_path, f.status, f.new_mode, f.binary, f.added, f.removed) for f in p.files]
    assert got == [
        ("calc.py", "calc.py", "modified", None, False, 2, 1),
        (None, "bin/run", "added", "100755", False, 1, 0),
        ("old name.txt", "new name.txt", "renamed", None, False, 0, 0),
        ("café.txt", "café.txt", "mode", "100755", False, 0, 0),
        ("img.png", "img.png", "modified", None, True, 0, 0),
        ("gone.txt", None, "deleted", None, False, 0, 1),
    ]
    assert p.binary and p.paths[:4] == ["calc.py", "bin/run", "old name.txt", "new name.txt"]


def test_plain_diff_without_prefixes_uses_p0() -> None:
    p = parse_patch("--- calc.py\t2024-01-01 10:00:00\n+++ calc.py\t2024-01-02 10:00:00\n@@ -1 +1 @@\n-a\n+b\n")
    assert p.strip == 0 and p.files[0].old_path == "calc.py"


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+b\n", 3, "ends early"),
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n", 6, "more lines than its header"),
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n?b\n", 5, "still missing"),
        ("--- a/x\n+++ b/x\n@@ -5 +5 @@\n-a\n+b\n@@ -2 +2 @@\n-c\n+d\n", 6, "out of order"),
        ("--- a/x\n+++ b/x\n@@ bogus @@\n", 3, "malformed hunk header"),
        ("diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", 5, "-0,0"),
        ("diff --git a/x b/x\nold mode 99\n", 2, "not a file mode"),
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- y\n+++ y\n@@ -1 +1 @@\n-a\n+b\n", None, "prefixes"),
        ("hello\nworld\n", None, "no file changes"),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n", 1, "no hunks"),
        ("diff --git a/x b/y\nsimilarity index abc%\nrename from x\nrename to y\n", 2, "no percentage"),
    ],
)
def test_malformed_diffs_name_the_line(text: str, line: int | None, words: str) -> None:
    with pytest.raises(PatchInvalidError) as e:
        parse_patch(text)
    assert words in e.value.message and e.value.line == line


def test_file_limit() -> None:
    text = "".join(f"--- a/f{i}\n+++ b/f{i}\n@@ -1 +1 @@\n-a\n+b\n" for i in range(5))
    with pytest.raises(PatchInvalidError, match="more than 3 files"):
        parse_patch(text, max_files=3)


def test_line_assembler_long_lines_and_cut_tail() -> None:
    la = LineAssembler(max_line=10)
    assert la.feed(b"ab") == []
    assert la.feed(b"c\r\nde\n0123456789AB\nxy") == [b"abc", b"de", LongLine(12)]
    assert la.feed(b"z" * 20) == []  # an overlong unfinished line is dropped as it arrives
    assert la.feed(b"\nok\n") == [LongLine(22), b"ok"]
    assert la.feed(b"tail") == [] and la.finish() == b"tail" and la.finish() is None


CLAUDE_STREAM = "".join(
    json.dumps(o) + "\n"
    for o in [
        {"type": "system", "subtype": "init", "session_id": "s-1", "tools": [], "model": "m", "cwd": "/w"},
        {
            "type": "assistant",
            "message": {
                "content": [
                    {"type": "text", "text": "héllo ✓ " * 50},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
                ]
            },
        },
        {
            "type": "user",
            "message": {
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "a\nb"}]}]
            },
        },
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": 1,
            "result": "ok",
            "session_id": "s-1",
            "total_cost_usd": 0.5,
            "usage": {"input_tokens": 1, "output_tokens": 2},
            "permission_denials": [],
        },
    ]
).encode()


def _events(chunks: list[bytes]) -> list[dict]:
    p = get_adapter("claude").parser(None, max_line=1 << 20, max_text=1 << 20)
    out = []
    for c in chunks:
        out += [e.to_dict() for e in p.feed(c)]
    return out + [e.to_dict() for e in p.finish(RunEnd(exit_code=0))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(CLAUDE_STREAM) - 1), max_size=30))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(set(cuts)), len(CLAUDE_STREAM)]
    chunks = [CLAUDE_STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert _events(chunks) == _events([CLAUDE_STREAM])


def test_whole_stream_events() -> None:
    ev = _events([CLAUDE_STREAM])
    assert [e["type"] for e in ev] == [
        "agent.session",
        "agent.message",
        "agent.tool_call",
        "agent.tool_result",
        "agent.result",
    ]
    assert ev[3]["data"]["output"] == "a\nb"
    assert ev[-1]["data"]["ok"] is True and ev[-1]["data"]["cost_usd"] == 0.5
    # The same stream with a killed process is not a success.
    p = get_adapter("claude").parser(None, max_line=1 << 20, max_text=1 << 20)
    p.feed(CLAUDE_STREAM)
    assert p.finish(RunEnd(exit_code=None, signal=15, end_reason="cancelled"))[-1].data["errors"] == ["cancelled"]


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ("tests failed", ["tests failed"]),
        (3, ["3"]),
        (["a", "b"], ["a", "b"]),
        (None, ["declared_failure"]),
    ],
)
def test_command_result_errors_of_any_shape(errors: object, expected: list[str]) -> None:
    # A custom agent declaring `"errors": "tests failed"` failed for one reason, not one per character,
    # and a non-list must not break the parser (which left the run without a result).
    p = get_adapter("command").parser(None, max_line=1 << 20, max_text=1 << 20)
    p.feed(json.dumps({"type": "result", "ok": False, "errors": errors}).encode() + b"\n")
    res = p.finish(RunEnd(exit_code=0))[-1].data
    assert res["ok"] is False and res["errors"] == expected


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("calc.py.orig", "calc.py", "calc.py"),  # diff -u backup file: the +++ file is patched
        ("calc.py", "calc.py.new", "calc.py"),  # the --- name is a shorter prefix of the +++ name: git patches it
        ("a/x.py", "b/y.py", "y.py"),
    ],
)
def test_plain_diff_with_two_names_patches_one_file_like_git_apply(old: str, new: str, name: str) -> None:
    p = parse_patch(f"--- {old}\n+++ {new}\n@@ -1 +1 @@\n-a\n+b\n")
    [f] = p.files
    assert (f.old_path, f.new_path, f.status) == (name, name, "modified") and p.paths == [name]


@pytest.mark.parametrize("budget", [float("nan"), float("inf"), -1.0, 0.0])
def test_claude_refuses_a_budget_that_is_not_a_positive_number(budget: float) -> None:
    from executive.agents.adapters.base import AgentRequest
    from executive.agents.adapters.claude import ClaudeAdapter
    from executive.kernel.errors import BadParamsError

    with pytest.raises(BadParamsError, match="max_budget_usd"):
        ClaudeAdapter().build_argv(
            AgentRequest(agent="claude", prompt="p", cwd="/tmp", max_budget_usd=budget), "/usr/bin/claude"
        )


def test_codex_items_without_an_id_are_each_their_own_call_and_result() -> None:
    # Every id-less item used to share the id None: only the first became a tool call.
    lines = [
        {"type": "thread.started", "thread_id": "th-1"},
        {
            "type": "item.completed",
            "item": {
                "type": "command_execution",
                "command": "ls",
                "aggregated_output": "a",
                "exit_code": 0,
                "status": "completed",
            },
        },
        {
            "type": "item.completed",
            "item": {
                "type": "command_execution",
                "command": "pwd",
                "aggregated_output": "/w",
                "exit_code": 0,
                "status": "completed",
            },
        },
        {"type": "item.started", "item": {"type": "command_execution", "command": "false", "status": "in_progress"}},
        {"type": "item.updated", "item": {"type": "command_execution", "command": "false", "status": "in_progress"}},
        {
            "type": "item.completed",
            "item": {
                "type": "command_execution",
                "command": "false",
                "aggregated_output": "",
                "exit_code": 1,
                "status": "failed",
            },
        },
        {
            "type": "item.completed",
            "item": {"type": "file_change", "changes": [{"path": "x.py", "kind": "update"}], "status": "completed"},
        },
        {
            "type": "item.completed",
            "item": {
                "id": "item_9",
                "type": "command_execution",
                "command": "id",
                "aggregated_output": "u",
                "exit_code": 0,
                "status": "completed",
            },
        },
        {"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 1}},
    ]
    p = get_adapter("codex").parser(None, max_line=1 << 20, max_text=1 << 20)
    evs = [e.to_dict() for e in p.feed("".join(json.dumps(o) + "\n" for o in lines).encode())]
    calls = [e["data"] for e in evs if e["type"] == "agent.tool_call"]
    results = [e["data"] for e in evs if e["type"] == "agent.tool_result"]
    assert [c["input"] for c in calls] == [
        {"command": "ls"},
        {"command": "pwd"},
        {"command": "false"},
        {"changes": [{"path": "x.py", "kind": "update"}]},
        {"command": "id"},
    ]
    ids = [c["id"] for c in calls]
    assert None not in ids and len(set(ids)) == 5 and ids[-1] == "item_9"
    assert [r["id"] for r in results] == ids  # started/updated/completed of one id-less item is one pair
    assert [r["output"] for r in results] == ["a", "/w", "", '[{"path":"x.py","kind":"update"}]', "u"]
    assert [r["is_error"] for r in results] == [False, False, True, False, False]
