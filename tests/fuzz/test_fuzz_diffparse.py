"""Fuzzing the unified-diff parser: generated well-formed patches, their mutations, and line soup.

Properties:

* ``parse_patch`` raises nothing but :class:`PatchInvalidError`, for any text;
* a well-formed patch built here parses to the files, paths and line counts it was built from;
* quoted (C-escaped) paths come back as the names they encode.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executive.agents.diffparse import parse_patch, unquote
from executive.agents.errors import PatchInvalidError

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a longer hunt than CI affords
_FUZZ = settings(max_examples=300 * SCALE, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])

_name = st.text(alphabet="abcxyz_.-/0189", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("/") and "//" not in s and not s.endswith("/")
)
_body_line = st.text(alphabet=st.characters(blacklist_characters="\n\0", blacklist_categories=("Cs",)), max_size=12)


@st.composite
def _hunk(draw: st.DrawFn, start: int) -> tuple[list[str], int, int, int]:
    """Lines of one hunk starting at old/new line ``start``; returns (lines, old count, new count, next start)."""
    body: list[str] = []
    old = new = added = removed = 0
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(" +-"))
        body.append(kind + draw(_body_line))
        old += kind != "+"
        new += kind != "-"
        added += kind == "+"
        removed += kind == "-"
    header = f"@@ -{start},{old} +{start},{new} @@"
    return [header, *body], added, removed, start + max(old, new) + 3


@st.composite
def _patch(draw: st.DrawFn) -> tuple[str, list[str], int, int]:
    """A git-style patch of distinct modified files; returns (text, paths, added, removed)."""
    paths = draw(st.lists(_name, min_size=1, max_size=4, unique=True))
    lines = [draw(st.sampled_from(["", "Some agent chatter", "From abc Mon Sep 17 00:00:00 2001"]))]
    added = removed = 0
    for path in paths:
        lines += [f"diff --git a/{path} b/{path}", "index 1234567..89abcde 100644", f"--- a/{path}", f"+++ b/{path}"]
        start = 1
        for _ in range(draw(st.integers(1, 3))):
            hunk, a, r, start = draw(_hunk(start))
            lines += hunk
            added += a
            removed += r
    return "\n".join(lines) + "\n", paths, added, removed


_TOKENS = [
    "diff --git a/x b/x", "diff --git ", 'diff --git "a/q\\303\\251" "b/q\\303\\251"', 'diff --git "a/x', "--- a/x",
    "+++ b/x", "--- /dev/null", "+++ /dev/null", "--- x", "+++ y", "@@ -1 +1 @@", "@@ -0,0 +1,2 @@", "@@ -1,2 +0,0 @@",
    "@@ -99999999999999999999,1 +1 @@", "@@ -1,1 +1,1 @@ ctx", " ctx", "+add", "-del", "\\ No newline at end of file",
    "new file mode 100644", "deleted file mode 100755", "old mode 100644", "new mode 12345", "rename from a",
    "rename to b", "copy from ", "copy to \"", "similarity index 90%", "similarity index x", "dissimilarity index 5%",
    "index abc..def", "Binary files a/x and b/x differ", "GIT binary patch", "literal 5", "delta 3", "zcmV", "",
    "\r", '"a/\\777"', '"a/\\q"', '"', "a/", "b/",
]  # fmt: skip


def _parse(text: str) -> None:
    try:
        patch = parse_patch(text)
    except PatchInvalidError:
        return
    assert patch.files and patch.strip in (0, 1)
    for fd in patch.files:
        assert fd.added >= 0 and fd.removed >= 0
        fd.to_dict()


@_FUZZ
@given(_patch())
def test_fuzz_well_formed_patches_parse_to_what_they_hold(case: tuple[str, list[str], int, int]) -> None:
    text, paths, added, removed = case
    patch = parse_patch(text)
    assert patch.paths == paths and patch.strip == 1
    assert sum(f.added for f in patch.files) == added
    assert sum(f.removed for f in patch.files) == removed


@_FUZZ
@given(_patch(), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3), st.sampled_from(_TOKENS)), max_size=4))
def test_fuzz_mutated_patches(case: tuple[str, list[str], int, int], edits: list[tuple[int, int, str]]) -> None:
    lines = case[0].split("\n")
    for at, drop, token in edits:
        at %= len(lines) + 1
        lines[at : at + drop] = [token]
    _parse("\n".join(lines))


@_FUZZ
@given(st.lists(st.one_of(st.sampled_from(_TOKENS), _body_line), max_size=25).map("\n".join))
@example('diff --git "a/\\')  # a quoted path cut inside an escape
@example("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,99999999999999999999 +1 @@\n x\n")
@example("--- a/\udcff\n+++ b/\udcff\n@@ -1 +1 @@\n-a\n+b\n")  # patch apply of non-UTF-8 names (surrogateescape)
def test_fuzz_line_soup(text: str) -> None:
    _parse(text)


@_FUZZ
@given(st.text(max_size=40))
def test_fuzz_text(text: str) -> None:
    _parse(text)


@_FUZZ
@given(
    st.text(alphabet=st.characters(blacklist_characters="\0\n", blacklist_categories=("Cs",)), min_size=1, max_size=12)
)
def test_fuzz_quoted_paths_round_trip(name: str) -> None:
    quoted = '"' + "".join(_c_escape(b) for b in name.encode()) + '"'
    assert unquote(quoted) == name


def _c_escape(byte: int) -> str:
    """How git quotes one byte of a path (core.quotePath)."""
    named = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 34: '"', 92: "\\"}
    if byte in named:
        return "\\" + named[byte]
    return chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}"
