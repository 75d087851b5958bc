"""Restart, restart policies and the programs file as a user drives them: the `executive` console
script against a real daemon (in-process, or `executive serve` as a subprocess where the test
restarts or kills it), with real processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from executive.api.client import Client

FAST = ["--backoff-base", "0.02", "--backoff-max", "0.1"]


async def _program(client: Client, name: str) -> dict[str, Any] | None:
    found = [p for p in await client.call("programs.list") if p["name"] == name]
    return found[0] if found else None


async def _until(e2e: Any, client: Client, name: str, pred: Any, timeout: float = 30.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        p = await _program(client, name)
        return p if p is not None and pred(p) else None

    return await e2e.wait_for(check, timeout=timeout, interval=0.05)


async def test_restart_command_keeps_argv_env_and_cwd(daemon: Any, client: Client, e2e: Any, tmp_path: Path) -> None:
    r = await e2e.run_cli(
        daemon.home, "run", "--detach", "-n", "greet", "--env", "GREETING=hi there", "--cwd", str(tmp_path),
        "--", "sh", "-c", 'echo "$GREETING"; pwd',
    )  # fmt: skip
    first = int(r.out.strip())
    await client.call("task.wait", task=first, timeout=30)
    r = await e2e.run_cli(daemon.home, "restart", "greet")
    assert r.rc == 0, r.err
    [(second, name)] = [(int(w[1]), w[2]) for w in [r.out.split()[2:5]]]
    assert name == "(greet)" and f"(restart of task {first})" in r.out
    await client.call("task.wait", task=second, timeout=30)
    expected = f"hi there\n{tmp_path}\n"
    for tid in (first, second):
        r = await e2e.run_cli(daemon.home, "logs", str(tid))
        assert r.out == expected
    info = await client.call("task.info", task=second)
    assert info["meta"]["restart_of"] == first
    r = await e2e.run_cli(daemon.home, "restart", "no-such-task")
    assert r.rc == 4 and "no task 'no-such-task'" in r.err


async def test_on_failure_reaches_fatal_visible_in_ps_and_programs(daemon: Any, client: Client, e2e: Any) -> None:
    r = await e2e.run_cli(
        daemon.home, "run", "--restart", "on-failure", "--max-restarts", "1", *FAST, "-n", "crash",
        "--", "sh", "-c", "exit 4",
    )  # fmt: skip
    assert r.rc == 0 and r.out.strip().isdigit()
    p = await _until(e2e, client, "crash", lambda p: p["state"] == "fatal")
    assert p["runs"] == 2
    r = await e2e.run_cli(daemon.home, "ps")
    rows = [line for line in r.out.splitlines() if " crash " in line]
    assert len(rows) == 2 and "↻ FATAL" in rows[-1] and "↻" not in rows[0]  # only the latest run carries it
    r = await e2e.run_cli(daemon.home, "programs")
    [row] = [line for line in r.out.splitlines() if line.startswith("crash")]
    assert "FATAL" in row and "on-failure" in row and "failed 2 times in a row" in row
    r = await e2e.run_cli(daemon.home, "programs", "--json")
    assert json.loads(r.out)[0]["reason"].startswith("failed 2 times in a row (last: exited with status 4)")
    # Recovery: the command is fixed by the environment it reads, then a restart by name revives it.
    r = await e2e.run_cli(daemon.home, "restart", "crash")
    assert r.rc == 0 and "restarted program crash" in r.out


async def test_always_restarts_after_exit_0_and_ps_shows_the_policy(
    daemon: Any, client: Client, e2e: Any, tmp_path: Path
) -> None:
    count = tmp_path / "count"
    script = f'echo x >> {count}; [ "$(wc -l < {count})" -ge 3 ] && exec sleep 1000; exit 0'
    r = await e2e.run_cli(daemon.home, "run", "--restart", "always", *FAST, "-n", "svc", "--", "sh", "-c", script)
    assert r.rc == 0
    p = await _until(e2e, client, "svc", lambda p: p["runs"] == 3 and p["state"] == "running")
    assert p["failures"] == 0
    r = await e2e.run_cli(daemon.home, "ps")
    [live] = [line for line in r.out.splitlines() if " svc " in line and "running" in line]
    assert "↻ always" in live
    r = await e2e.run_cli(daemon.home, "programs", "stop", "svc")
    assert r.rc == 0 and "program svc: stopped" in r.out
    r = await e2e.run_cli(daemon.home, "programs", "start", "svc")
    assert r.rc == 0 and "program svc: running" in r.out
    r = await e2e.run_cli(daemon.home, "programs", "stop", "nope")
    assert r.rc == 4 and "no program 'nope'" in r.err


async def test_policies_survive_a_daemon_restart_and_a_crash(daemon_process: Any, e2e: Any) -> None:
    d = daemon_process()
    d.start()
    home = d.home
    r = await e2e.run_cli(home, "run", "--restart", "always", "-n", "keeper", "--", "sleep", "1000")
    first = int(r.out.strip())
    r = await e2e.run_cli(
        home, "run", "--restart", "on-failure", "--backoff-base", "3", "-n", "later", "--", "sh", "-c", "exit 1"
    )
    assert r.rc == 0
    client = await d.client()
    try:
        await _until(e2e, client, "later", lambda p: p["state"] == "backoff")
    finally:
        await client.close()
    d.stop()  # a clean stop: the runs end because the daemon does, which is not the programs' doing

    d.start()
    client = await d.client()
    try:
        keeper = await _until(e2e, client, "keeper", lambda p: p["state"] == "running" and p["task"] != first)
        assert keeper["restart"] == "always" and keeper["runs"] == 2 and keeper["failures"] == 0
        run = await client.call("task.info", task=keeper["task"])
        assert run["meta"]["restart_of"] == first and run["argv"] == ["sleep", "1000"]
        assert (await client.call("task.info", task=first))["meta"]["restarted_as"] == keeper["task"]
        # The pending backoff continued in the new daemon: the second run happened there.
        # (Wait for the second run's failure, not only its start: `runs` counts a run as it starts.)
        later = await _until(e2e, client, "later", lambda p: p["runs"] >= 2 and p["failures"] >= 2)
        assert later["restart"] == "on-failure" and later["failures"] >= 2
    finally:
        await client.close()

    d.kill9()  # a crash: keeper's run is lost with the daemon (its tree killed by the next one)
    d.start()
    client = await d.client()
    try:
        again = await _until(e2e, client, "keeper", lambda p: p["state"] == "running" and p["runs"] == 3)
        lost = await client.call("task.info", task=keeper["task"])
        assert lost["end_reason"] == "lost" and lost["meta"]["restarted_as"] == again["task"]
    finally:
        await client.close()


PROGRAMS = """
programs:
  steady:
    argv: [sleep, "1000"]
  tweak:
    argv: [sh, -c, 'echo "mode=$MODE"; exec sleep 1000']
    env: {{MODE: one}}
  gone:
    argv: [sleep, "1000"]
  manual:
    argv: [sleep, "1000"]
    autostart: false
    cwd: {cwd}
"""

EDITED = """
programs:
  steady:
    argv: [sleep, "1000"]
  tweak:
    argv: [sh, -c, 'echo "mode=$MODE"; exec sleep 1000']
    env: {{MODE: two}}
    restart: always
  manual:
    argv: [sleep, "1000"]
    autostart: false
    cwd: {cwd}
  fresh:
    argv: [sleep, "1000"]
"""

BAD = """
programs:
  steady:
    argv: [sleep, "1000"]
    restart: sometimes
  tweak:
    argv: [no-such-program-anywhere]
  extra:
    argv: [sleep, "1"]
    cwd: /no/such/dir
    colour: blue
"""


async def _snapshot(client: Client) -> dict[str, tuple[str, int | None]]:
    return {p["name"]: (p["state"], p["task"]) for p in await client.call("programs.list")}


async def test_programs_file_started_edited_and_reloaded(daemon_process: Any, e2e: Any, tmp_path: Path) -> None:
    config = tmp_path / "programs.yaml"
    config.write_text(PROGRAMS.format(cwd=tmp_path))
    d = daemon_process(extra=["--config", str(config)])
    d.start()
    client = await d.client()
    try:
        before = await _snapshot(client)
        assert {n: s for n, (s, _) in before.items()} == {
            "steady": "running",
            "tweak": "running",
            "gone": "running",
            "manual": "stopped",
        }
        r = await e2e.run_cli(d.home, "programs")
        assert r.rc == 0 and all(name in r.out for name in before)

        config.write_text(EDITED.format(cwd=tmp_path))
        r = await e2e.run_cli(d.home, "reload")
        assert r.rc == 0, r.err
        assert "added: fresh" in r.out and "changed: tweak" in r.out and "removed: gone" in r.out
        assert "unchanged: 2" in r.out
        after = await _snapshot(client)
        assert set(after) == {"steady", "tweak", "manual", "fresh"}
        assert after["steady"] == before["steady"]  # untouched: the same run goes on
        assert after["manual"] == before["manual"]
        assert after["tweak"][0] == "running" and after["tweak"][1] != before["tweak"][1]
        assert after["fresh"][0] == "running"
        old_tweak = await client.call("task.info", task=before["tweak"][1])
        assert old_tweak["state"] == "ended" and old_tweak["end_reason"] == "cancelled"
        new_tweak = await client.call("task.info", task=after["tweak"][1])
        assert new_tweak["meta"]["restart_of"] == before["tweak"][1]
        assert (await _program(client, "tweak") or {})["restart"] == "always"
        await e2e.wait_for(lambda: _has_output(client, after["tweak"][1], b"mode=two\n"), timeout=20)
        gone = await client.call("task.info", task=before["gone"][1])
        assert gone["state"] == "ended" and gone["end_reason"] == "cancelled"

        r = await e2e.run_cli(d.home, "reload")  # nothing changed since
        assert r.rc == 0 and "no changes" in r.out and "unchanged: 4" in r.out
        assert await _snapshot(client) == after

        # A bad file is refused whole, every problem listed with its path; nothing changes.
        config.write_text(BAD)
        r = await e2e.run_cli(d.home, "reload")
        assert r.rc == 2
        for path in (
            "programs.steady.restart",
            "programs.tweak.argv[0]",
            "programs.extra.cwd",
            "programs.extra.colour",
        ):
            assert path in r.err, r.err
        assert "nothing was changed" in r.err
        assert await _snapshot(client) == after
        r = await e2e.run_cli(d.home, "config", "check", str(config))
        assert r.rc == 2 and "programs.steady.restart" in r.err and "programs.extra.colour" in r.err

        # The manual program starts on request only.
        r = await e2e.run_cli(d.home, "programs", "start", "manual")
        assert r.rc == 0 and "program manual: running" in r.out
    finally:
        await client.close()


async def _has_output(client: Client, task_id: int, data: bytes) -> bool:
    out = await client.call("task.output", task=task_id)
    return out.get("data", "").encode() == data


async def test_serve_refuses_a_bad_programs_file_naming_every_problem(e2e: Any, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD)
    home = tmp_path / "home"
    r = await e2e.run_cli(home, "serve", "--port", "0", "--config", str(config), timeout=60)
    assert r.rc == 2 and "Traceback" not in r.err
    assert (
        "4 problems" in r.err
        and "programs.tweak.argv[0]" in r.err
        and "programs.steady.restart" in r.err
        and "programs.extra.cwd" in r.err
    )
    assert not (home / "daemon.json").exists()


async def test_config_schema_and_check(e2e: Any, tmp_path: Path) -> None:
    r = await e2e.run_cli(tmp_path / "home", "config", "schema")
    assert r.rc == 0
    schema = json.loads(r.out)
    assert schema["title"].startswith("executive programs file") and "programs" in schema["properties"]
    good = tmp_path / "programs.yaml"
    good.write_text(PROGRAMS.format(cwd=tmp_path))
    r = await e2e.run_cli(tmp_path / "home", "config", "check", str(good))
    assert r.rc == 0 and "ok, 4 programs" in r.out and "manual: restart on-failure, autostart off" in r.out


async def test_reload_without_a_programs_file_says_how_to_get_one(daemon: Any, e2e: Any) -> None:
    r = await e2e.run_cli(daemon.home, "reload")
    assert r.rc == 2 and "serve --config" in r.err
