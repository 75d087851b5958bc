"""`executive load`: run an HSX program (HXE image) as a task on the daemon."""

from __future__ import annotations

import os
from typing import Any

import typer

from executive.api.client import Client
from executive.cli._common import console, err_console, run_client, write_out
from executive.cli._follow import OutputFollower, subscribe_output


def load(
    image: str = typer.Argument(..., help="Path of the .hxe file (its .sym beside it is picked up by the debugger)."),
    name: str | None = typer.Option(None, "--name", "-n", help="Task name (default: the app name)."),
    paused: bool = typer.Option(
        False, "--paused", help="Load without running (set breakpoints, then `executive resume ID`)."
    ),
    wait: bool = typer.Option(False, "--wait", "-w", help="Stream the program's output and exit with its status."),
) -> None:
    """Load an HSX program; it starts at once unless --paused."""

    async def go(client: Client) -> int:
        cursor = (await client.call("daemon.health"))["last_seq"]
        params: dict[str, Any] = {"path": os.path.abspath(image), "paused": paused}
        if name:
            params["name"] = name
        info = await client.call("vm.load", **params)
        pid = info["pid"]
        if not wait:
            console.print(
                f"loaded {image} as task {pid} (app {info['app_name']}, entry 0x{info['entry']:04X}, "
                f"{info['code_len']} code bytes): {info['state']}"
            )
            return 0
        binary = await subscribe_output(client, tasks=[pid], types=["output", "task_state"], since_seq=cursor)
        end = await OutputFollower(client, pid, write_out, binary=binary).follow()
        assert end is not None
        if end.get("reason") == "faulted":  # a diagnostic: stderr, never mixed into the program's output
            err_console.print(f"[red]task {pid} faulted: {end.get('detail')}[/]", soft_wrap=True)
            return 1
        return int(end.get("exit_code") or 0) & 0xFF

    raise typer.Exit(run_client(go))
