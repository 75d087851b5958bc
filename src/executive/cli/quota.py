"""Log quotas from the command line: sizes like ``4G``, ``executive set-quota``, and the line
``executive run`` prints when its task stops on its quota (so a 3 GB stream never just hangs)."""

from __future__ import annotations

import typer

from executive.cli._common import EXIT_USAGE, console, fail, run_client, task_ref
from executive.cli._quota_text import format_size, parse_size, print_notice, quota_notice

__all__ = ["format_size", "parse_size", "print_notice", "quota_notice", "set_quota"]


def set_quota(
    task: str = typer.Argument(..., help="Task id or name."),
    size: str = typer.Argument(..., help="The new quota: bytes, or with K, M, G, T (e.g. 4G)."),
) -> None:
    """Give a running task a new log quota (stdout+stderr in all); a task paused on its quota runs on."""
    try:
        quota = parse_size(size)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    t = run_client(lambda c: c.call("task.set_quota", task=task_ref(task), quota=quota))
    console.print(f"task {t['id']} ({t['name']}): quota {format_size(quota)}, {t['state']}")
