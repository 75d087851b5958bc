"""Fixtures for pipeline tests: the `pl` helpers (write pipeline files, count side effects, wait for runs).

Helpers come as a fixture, not an import, so the tests work under any pytest import mode.
"""

from __future__ import annotations

import hashlib
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import Client


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def lines(path: Path) -> list[str]:
    """The side-effect file: one line per step execution."""
    return path.read_text().split() if path.exists() else []


def tree_hash(root: Path) -> dict[str, str]:
    """sha256 of every file under root (with its mode), by relative path."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{p.stat().st_mode:o}"
        elif p.is_dir():
            out[str(p.relative_to(root)) + "/"] = "dir"
    return out


async def finish(client: Client, run_id: int, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the run stops executing (ended, interrupted or waiting for approval)."""
    info = await client.call("pipeline.wait", run=run_id, timeout=timeout)
    assert not info["timed_out"], info
    return info


def summary(status: dict[str, Any]) -> dict[str, Any]:
    """What must be equal between a crashed-and-resumed run and an uninterrupted one."""
    return {
        "state": status["run"]["state"],
        "phases": [
            (
                ph["name"],
                ph["state"],
                [
                    (
                        it["iteration"],
                        it["score"],
                        it["threshold"],
                        it["verdict"],
                        [(s["step"], s["status"]) for s in it["steps"]],
                    )
                    for it in ph["iterations"]
                ],
            )
            for ph in status["phases"]
        ],
    }


def step_starts(status: dict[str, Any]) -> dict[str, int]:
    return {
        f"{ph['name']}/{s['step']}@{it['iteration']}": s["starts"]
        for ph in status["phases"]
        for it in ph["iterations"]
        for s in it["steps"]
    }


@pytest.fixture
def pl() -> types.SimpleNamespace:
    """`pl.write`, `pl.lines`, `pl.tree_hash`, `await pl.finish(client, run)`, `pl.summary`, `pl.step_starts`."""
    return types.SimpleNamespace(
        write=write, lines=lines, tree_hash=tree_hash, finish=finish, summary=summary, step_starts=step_starts
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d
