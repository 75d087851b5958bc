"""Pattern executors: schemas and shipped examples, module and config scaffolds, status reports, user patterns."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from executive.agents.patterns import BUILTINS, EXAMPLES_DIR, schema_errors
from executive.api.client import Client, RpcError


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_shipped_example_validates_against_its_schema(name: str) -> None:
    schema = BUILTINS[name].schema
    jsonschema.Draft202012Validator.check_schema(schema)
    example = json.loads((EXAMPLES_DIR / f"{name}.json").read_text())
    assert example["pattern"] == name
    assert schema_errors(schema, example) == []


def example(name: str) -> dict:
    return json.loads((EXAMPLES_DIR / f"{name}.json").read_text())


async def test_module_creation_dry_run_then_run(client: Client, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "src" / "textkit").mkdir(parents=True)
    (root / "src" / "textkit" / "__init__.py").write_text('"""textkit."""\n')
    (root / "README.md").write_text("# proj\n\nIntro.\n\n## other\n\nKeep me.\n")
    inst = example("module_creation")
    dry = await client.call("pattern.run", instance=inst, root=str(root), dry_run=True)
    assert [(f["path"], f["action"]) for f in dry["files"]] == [
        ("src/textkit/slugs.py", "create"),
        ("tests/test_slugs.py", "create"),
        ("src/textkit/__init__.py", "change"),
        ("README.md", "change"),
    ]
    assert (
        not (root / "src/textkit/slugs.py").exists()
        and (root / "src/textkit/__init__.py").read_text() == '"""textkit."""\n'
    )
    out = await client.call("pattern.run", instance=inst, root=str(root))
    assert [f["action"] for f in out["files"]] == ["create", "create", "change", "change"]
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_slugs.py"],
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "4 passed" in res.stdout  # two documented checks, two examples
    readme = (root / "README.md").read_text()
    assert (
        readme.startswith("# proj\n\nIntro.\n\n## other\n\nKeep me.\n")
        and "## slugs" in readme
        and "`slugify(text, sep)`" in readme
    )
    assert "from textkit.slugs import slugify, is_slug" in (root / "src/textkit/__init__.py").read_text()
    again = await client.call("pattern.run", instance=inst, root=str(root))
    assert {f["action"] for f in again["files"]} == {"unchanged"}  # idempotent: no duplicate import or README section


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda i: i["functions"][1].update(name="Bad Name"), "$.functions[1].name"),
        (lambda i: i.pop("summary"), "$"),
        (lambda i: i.update(extra=1), "$"),
        (
            lambda i: (
                i["functions"][0]["params"][0].update(default="x"),
                i["functions"][0]["params"][1].pop("default"),
            ),
            "$.functions[0].params[1]",
        ),
        (lambda i: i["functions"][0].update(body="return (("), "$.functions[0].body"),
    ],
)
async def test_invalid_instances_name_the_json_path(client: Client, tmp_path: Path, mutate, path: str) -> None:
    inst = copy.deepcopy(example("module_creation"))
    mutate(inst)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(RpcError) as e:
        await client.call("pattern.run", instance=inst, root=str(root), dry_run=True)
    assert e.value.code == 1221
    assert e.value.data["errors"][0]["path"].startswith(path)
    assert e.value.data["errors"][0]["path"] in e.value.message
    assert list(root.iterdir()) == []


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
async def test_config_setup_writes_a_config_and_a_loader_that_enforces_it(
    client: Client, tmp_path: Path, fmt: str
) -> None:
    inst = example("config_setup")
    inst["format"] = fmt
    inst["config_path"] = f"config/service.{fmt}"
    out = await client.call("pattern.run", instance=inst, root=str(tmp_path))
    assert [f["path"] for f in out["files"]] == [f"config/service.{fmt}", "src/app/service_config.py"]
    loader = _load_module(tmp_path / "src/app/service_config.py")
    cfg_path = tmp_path / f"config/service.{fmt}"
    with pytest.raises(loader.ConfigError) as e:  # the required api_key is not set yet
        loader.load(cfg_path)
    assert e.value.problems == ["api_key: is required (secret for the upstream API)"]
    text = cfg_path.read_text()
    if fmt == "json":
        data = json.loads(text)
        data["api_key"] = "abc_12345"
        cfg_path.write_text(json.dumps(data))
    elif fmt == "yaml":
        cfg_path.write_text(text.replace("api_key: null", 'api_key: "abc_12345"'))
    else:
        cfg_path.write_text(text + 'api_key = "abc_12345"\n')
    cfg = loader.load(cfg_path)
    assert (cfg.host, cfg.port, cfg.mode, cfg.ratio, cfg.debug, cfg.tags, cfg.api_key) == (
        "127.0.0.1",
        8080,
        "dev",
        0.5,
        False,
        ["web"],
        "abc_12345",
    )
    with pytest.raises(loader.ConfigError) as e:
        loader.validate(
            {"port": 70000, "mode": "test", "debug": 1, "tags": ["a", 2], "api_key": "bad key!", "colour": "red"}
        )
    assert e.value.problems == [
        "colour: unknown setting (known: host, port, mode, ratio, debug, tags, api_key)",
        "port: must be <= 65535, got 70000",
        "mode: must be one of ['dev', 'prod'], got 'test'",
        "debug: expected boolean, got int 1",
        "tags[1]: expected string, got 2",
        "api_key: must match '^[A-Za-z0-9_-]+$', got 'bad key!'",
    ]


async def test_config_setup_rejects_a_default_that_breaks_its_rules(client: Client, tmp_path: Path) -> None:
    inst = example("config_setup")
    inst["fields"][1]["default"] = 0
    with pytest.raises(RpcError) as e:
        await client.call("pattern.run", instance=inst, root=str(tmp_path), dry_run=True)
    assert e.value.data["errors"] == [{"path": "$.fields[1].default", "message": "port: must be >= 1, got 0"}]


async def test_status_patterns(client: Client, fake_bin, tmp_path: Path) -> None:
    inst = {
        "pattern": "automation_status",
        "agents": ["claude", "command"],
        "bins": {"claude": fake_bin["claude"]},
        "output": "status.md",
    }
    dry = await client.call("pattern.run", instance=inst, root=str(tmp_path), dry_run=True)
    assert (
        dry["files"] == [{"path": "status.md", "action": "create", "bytes": dry["files"][0]["bytes"]}]
        and not (tmp_path / "status.md").exists()
    )
    out = await client.call("pattern.run", instance=inst, root=str(tmp_path))
    rep = out["report"]
    assert [a["agent"] for a in rep["adapters"]] == ["claude", "command"]
    assert rep["adapters"][0]["version"] == "2.1.197" and rep["adapters"][1]["usable"] is False
    assert rep["allow_list"] == [] and rep["summary"]["allow_list"].startswith("everything is allowed")
    assert rep["limits"]["patch_bytes"] > 0
    md = (tmp_path / "status.md").read_text()
    assert md.startswith("# Automation status") and "| agent | usable |" in md and "## limits" in md

    await client.call("pattern.run", instance={"pattern": "implementation_status"}, root=str(tmp_path), dry_run=True)
    rep = (await client.call("pattern.run", instance=example("implementation_status"), root=str(tmp_path)))["report"]
    assert set(rep) == {"generated_at", "pipeline", "patterns", "patches", "fix", "agents"}
    assert "available" in rep["pipeline"]
    counts = {p["pattern"]: p for p in rep["patterns"]}
    assert counts["automation_status"]["runs"] == 2 and counts["automation_status"]["dry_runs"] == 1
    assert rep["patches"]["total"] == 0 and rep["fix"]["runs"] == 0
    written = json.loads((tmp_path / "docs/implementation-status.json").read_text())
    assert written["patterns"] == rep["patterns"]


async def test_user_patterns_from_the_home_directory(daemon, client: Client, agents, tmp_path: Path) -> None:
    user = daemon.home / "patterns"
    user.mkdir()
    (user / "adr.yaml").write_text(
        "name: adr\ndescription: An architecture decision record\n"
        "schema:\n  type: object\n  required: [pattern, number, title]\n"
        "  properties: {pattern: {const: adr}, number: {type: integer}, title: {type: string}}\n"
        "files:\n  - path: docs/adr/${number}.md\n    template: |\n      # ${number}. ${title}\n"
    )
    (user / "broken.json").write_text('{"name": "Bad Name", "schema": {}, "files": [{"path": "x", "template": "y"}]}')
    (user / "shadow.json").write_text(
        '{"name": "config_setup", "schema": {}, "files": [{"path": "x", "template": "y"}]}'
    )
    rows = await client.call("pattern.list")
    assert [r["name"] for r in rows][:5] == [
        "module_creation",
        "config_setup",
        "automation_status",
        "implementation_status",
        "adr",
    ]
    errors = {Path(r["source"]).name: r["error"] for r in rows if r.get("error")}
    assert "$.name" in errors["broken.json"] and "built-in" in errors["shadow.json"]
    out = await client.call(
        "pattern.run", instance={"pattern": "adr", "number": 7, "title": "Use SQLite"}, root=str(tmp_path)
    )
    assert (
        out["files"][0]["path"] == "docs/adr/7.md" and (tmp_path / "docs/adr/7.md").read_text() == "# 7. Use SQLite\n"
    )
    with pytest.raises(RpcError) as e:
        await client.call(
            "pattern.run", instance={"pattern": "adr", "number": "seven", "title": "x"}, root=str(tmp_path)
        )
    assert e.value.data["errors"][0]["path"] == "$.number"
    with pytest.raises(RpcError) as e:
        await client.call("pattern.run", instance={"pattern": "nope"}, root=str(tmp_path))
    assert e.value.code == 1220 and "adr" in e.value.message
    # The CLI: list, validate (JSON paths), dry run.
    inst = tmp_path / "mod.json"
    inst.write_text(json.dumps(example("module_creation")))
    code, out_text, _ = await agents.cli(daemon.home, "pattern", "run", str(inst), "--dry-run", "--root", str(tmp_path))
    assert code == 0 and "would create src/textkit/slugs.py" in out_text
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**example("module_creation"), "name": "X-1"}))
    code, _, err = await agents.cli(daemon.home, "pattern", "validate", str(bad))
    assert code == 1 and "$.name" in err
    code, out_text, _ = await agents.cli(daemon.home, "pattern", "list")
    assert code == 0 and "adr" in out_text and "(broken)" in out_text
