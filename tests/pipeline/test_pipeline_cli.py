"""The `executive pipeline` commands as a subprocess against a real daemon."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

from executive.pipeline.model import pipeline_schema

FIXTURE = Path(__file__).parent / "fixtures" / "project"


async def test_init_then_run_the_template_at_once(e2e: SimpleNamespace, daemon: object, tmp_path: Path) -> None:
    home = daemon.home  # type: ignore[attr-defined]
    proj = tmp_path / "proj"
    proj.mkdir()
    r = await e2e.run_cli(home, "pipeline", "init", str(proj))
    assert r.rc == 0 and "wrote" in r.out, r.err
    r = await e2e.run_cli(home, "pipeline", "run", str(proj / "pipeline.yaml"), "--requirement", "greet the world")
    assert r.rc == 0, r.out + r.err
    assert "run 1 passed: all 5 phases passed" in r.out
    for phase in ("requirements", "design", "implementation", "testing", "deployment"):
        assert phase in r.out  # the live table, printed once at the end when not on a terminal
    assert "greet the world" in (proj / "docs" / "requirements.md").read_text()
    assert (proj / "dist" / "greet").exists()

    r = await e2e.run_cli(home, "pipeline", "status", "1", "--json")
    status = json.loads(r.out)
    assert [(p["name"], p["state"]) for p in status["phases"]] == [
        (n, "passed") for n in ("requirements", "design", "implementation", "testing", "deployment")
    ]
    r = await e2e.run_cli(home, "pipeline", "status", "1")
    assert r.rc == 0 and "write_requirements" in r.out and "passed" in r.out
    r = await e2e.run_cli(home, "pipeline", "list")
    assert r.rc == 0 and "starter" in r.out and "all 5 phases passed" in r.out
    report = tmp_path / "report.html"
    r = await e2e.run_cli(home, "pipeline", "report", "1", "-o", str(report))
    assert r.rc == 0 and "<svg" in report.read_text()
    r = await e2e.run_cli(home, "pipeline", "approve", "1", "deployment")
    assert r.rc == 2 and "no approval gate" in r.err


async def test_schema_errors_validate_and_exit_codes(e2e: SimpleNamespace, daemon: object, tmp_path: Path) -> None:
    home = daemon.home  # type: ignore[attr-defined]
    r = await e2e.run_cli(home, "pipeline", "schema")
    assert r.rc == 0 and json.loads(r.out) == pipeline_schema()

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nphases:\n  - name: a\n    steps: [{name: s, command: [true], timeout_s: 0}]\n"
        "    checks: [{name: c, kind: command, command: [true], owners: [s]}]\n"
    )
    r = await e2e.run_cli(home, "pipeline", "run", str(bad))
    assert r.rc == 2 and "phases[0].steps[0].timeout_s" in r.err

    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    r = await e2e.run_cli(home, "pipeline", "validate", str(project))
    assert r.rc == 1 and "below" in r.out and "guide" in r.out, r.out + r.err
    r = await e2e.run_cli(home, "pipeline", "validate", str(project), "--remediate", "--json")
    assert r.rc == 0, r.out + r.err
    assert json.loads(r.out)["run"]["state"] == "passed"
    r = await e2e.run_cli(home, "pipeline", "resume", "99")
    assert r.rc == 4 and "no pipeline run 99" in r.err  # not found: cli/exit_codes.py
