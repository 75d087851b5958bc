"""Where `executive debug` reads its command lines: a line editor on a terminal, a pipe otherwise.

On a terminal the prompt is a prompt_toolkit session: Emacs-style line editing, Up/Down
through a history kept in ``$EXECUTIVE_HOME/debug_history`` across runs (the newest
:data:`HISTORY_MAX` entries), Ctrl-L clears the screen, Tab completes command names,
``info`` topics and the task's symbol names.  prompt_toolkit was chosen over stdlib
readline because its prompt is a coroutine (``prompt_async``): it runs on the CLI's event
loop instead of a blocking ``input()`` in a worker thread, so Ctrl-C at the prompt is a
key it turns into :class:`KeyboardInterrupt` there (the prompt comes back; no traceback),
and it behaves the same where Python's readline is libedit or missing.  The prompt leaves
SIGINT alone (``handle_sigint=False``): while a command runs, the CLI's own handler turns
Ctrl-C into "pause the task".

From a pipe, lines are read as they come and echoed after the prompt, so a scripted
session reads like a typed one.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from rich.markup import escape

from executive.cli._common import console

__all__ = ["HISTORY_MAX", "DebugCompleter", "command_lines", "trim_history"]

HISTORY_MAX = 1000  # entries kept in the history file
HISTORY_FILE = "debug_history"


class DebugCompleter(Completer):
    """Completes the first word from ``commands``, then words from ``topics(first)``."""

    def __init__(self, commands: Iterable[str], topics: Callable[[str], Iterable[str]]) -> None:
        self.commands = sorted(set(commands))
        self.topics = topics

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        words = before.split()
        word = document.get_word_before_cursor(WORD=True)
        if len(words) == 0 or (len(words) == 1 and not before.endswith(" ")):
            candidates: Iterable[str] = self.commands
        else:
            candidates = self.topics(words[0])
        for c in candidates:
            if c.startswith(word) and c != word:
                yield Completion(c, start_position=-len(word))


def trim_history(path: Path, keep: int = HISTORY_MAX) -> None:
    """Rewrite the history file with only its newest ``keep`` entries (if it has more)."""
    if not path.exists():
        return
    entries = list(FileHistory(str(path)).load_history_strings())  # newest first
    if len(entries) <= keep:
        return
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fresh = FileHistory(str(tmp))
    for entry in reversed(entries[:keep]):
        fresh.store_string(entry)
    tmp.replace(path)


async def _terminal_lines(prompt: str, history: Path, completer: Completer) -> AsyncIterator[str]:
    history.parent.mkdir(parents=True, exist_ok=True)
    trim_history(history)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(history)), completer=completer, complete_while_typing=False
    )
    while True:
        try:
            line = await session.prompt_async(prompt, handle_sigint=False, set_exception_handler=False)
        except KeyboardInterrupt:
            console.print("[dim](type quit to detach and leave)[/]")
            continue
        except EOFError:
            return
        yield line


async def _piped_lines(prompt: str) -> AsyncIterator[str]:
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        line = line.rstrip("\n")
        console.print(f"{prompt}{escape(line)}", highlight=False)
        yield line


def command_lines(prompt: str, history: Path, completer: Completer) -> AsyncIterator[str]:
    """The command lines of the session until end of input (Ctrl-D or the pipe's end)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return _terminal_lines(prompt, history, completer)
    return _piped_lines(prompt)
