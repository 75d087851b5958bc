"""The terminal side of `executive debug`: bounded history file and Tab completion."""

from __future__ import annotations

from pathlib import Path

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory

from executive.cli._debug_input import DebugCompleter, trim_history


def test_history_keeps_only_the_newest_entries(tmp_path: Path) -> None:
    path = tmp_path / "debug_history"
    h = FileHistory(str(path))
    for i in range(30):
        h.store_string(f"step {i}")
    trim_history(path, keep=10)
    assert list(FileHistory(str(path)).load_history_strings()) == [f"step {i}" for i in range(29, 19, -1)]
    trim_history(path, keep=10)  # already small enough: unchanged
    assert len(list(FileHistory(str(path)).load_history_strings())) == 10
    trim_history(tmp_path / "absent", keep=10)  # no file yet: nothing to do
    assert not (tmp_path / "absent").exists()


def _complete(c: DebugCompleter, text: str) -> list[str]:
    return [x.text for x in c.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_completion_of_commands_then_topics_or_symbols() -> None:
    c = DebugCompleter(
        ["break", "bt", "info", "i", "continue"],
        lambda first: ["registers"] if first == "info" else ["fact", "fact_done"],
    )
    assert _complete(c, "b") == ["break", "bt"]
    assert _complete(c, "co") == ["continue"]
    assert _complete(c, "info re") == ["registers"]
    assert _complete(c, "break fact") == ["fact_done"]  # the word itself is not offered again
    assert _complete(c, "break ") == ["fact", "fact_done"]
