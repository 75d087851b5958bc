"""``module_creation``: scaffold a Python module — implementation, tests, ``__init__`` export, README section.

Re-running an instance is idempotent: the module and test files are rewritten
with the same content (``unchanged``), the ``__init__`` import line is added
only once, and the README section (from its ``## <name>`` heading to the next
``## `` heading) is replaced in place rather than appended again.

A function with a ``body`` gets it; one without raises ``NotImplementedError``
naming the function, and its generated test checks only that it exists and is
documented, so the scaffold's tests pass from the start.  Each ``examples``
entry becomes an assertion ``fn(*args) == returns``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from executive.agents.patterns.base import (
    Pattern,
    PatternContext,
    Plan,
    PlannedFile,
    invalid,
)

__all__ = ["ModuleCreation"]


def _signature(fn: dict[str, Any]) -> str:
    params = []
    for p in fn.get("params", []):
        piece = f"{p['name']}: {p.get('type', 'object')}"
        if "default" in p:
            piece += f" = {p['default']!r}"
        params.append(piece)
    return f"def {fn['name']}({', '.join(params)}) -> {fn.get('returns', 'None')}:"


def _function(fn: dict[str, Any], module: str) -> str:
    doc = fn["doc"].strip().replace('"""', '\\"\\"\\"')
    body = fn.get("body")
    if body:
        code = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    else:
        code = f'    raise NotImplementedError("{module}.{fn["name"]} is not written yet")'
    return f'{_signature(fn)}\n    """{doc}"""\n{code}\n'


def _module(inst: dict[str, Any]) -> str:
    names = [fn["name"] for fn in inst["functions"]]
    parts = [
        f'"""{inst["summary"].strip()}"""\n',
        "from __future__ import annotations\n",
        f"__all__ = {names!r}\n",
    ]
    parts += [_function(fn, inst["name"]) for fn in inst["functions"]]
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def _tests(inst: dict[str, Any], import_name: str) -> str:
    names = [fn["name"] for fn in inst["functions"]]
    lines = [
        f'"""Tests of {import_name}.{inst["name"]} (scaffolded by the module_creation pattern)."""',
        "",
        f"from {import_name}.{inst['name']} import {', '.join(names)}",
        "",
    ]
    for fn in inst["functions"]:
        lines += [
            "",
            f"def test_{fn['name']}_is_documented() -> None:",
            f"    assert callable({fn['name']}) and {fn['name']}.__doc__",
            "",
        ]
        for i, ex in enumerate(fn.get("examples", [])):
            args = ", ".join(repr(a) for a in ex["args"])
            lines += [
                "",
                f"def test_{fn['name']}_example_{i + 1}() -> None:",
                f"    assert {fn['name']}({args}) == {ex['returns']!r}",
                "",
            ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _readme_section(inst: dict[str, Any], import_name: str) -> str:
    lines = [f"## {inst['name']}", "", inst["summary"].strip(), "", f"`from {import_name}.{inst['name']} import …`", ""]
    for fn in inst["functions"]:
        sig = ", ".join(p["name"] for p in fn.get("params", []))
        lines.append(f"- `{fn['name']}({sig})` → `{fn.get('returns', 'None')}`: {fn['doc'].strip().splitlines()[0]}")
    return "\n".join(lines) + "\n"


def _replace_section(text: str, heading: str, section: str) -> str:
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == heading), None)
    if start is None:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


class ModuleCreation(Pattern):
    name = "module_creation"
    description = "Scaffold a Python module: implementation, tests, __init__ export and a README section."

    async def plan(self, instance: dict[str, Any], ctx: PatternContext) -> Plan:
        inst = instance
        seen: set[str] = set()
        for i, fn in enumerate(inst["functions"]):
            if fn["name"] in seen:
                raise invalid(self.name, f"$.functions[{i}].name", f"{fn['name']!r} is defined twice")
            seen.add(fn["name"])
            params = [p["name"] for p in fn.get("params", [])]
            if len(set(params)) != len(params):
                raise invalid(self.name, f"$.functions[{i}].params", "two parameters have the same name")
            with_default = False
            for j, p in enumerate(fn.get("params", [])):
                if "default" in p:
                    with_default = True
                elif with_default:
                    raise invalid(
                        self.name,
                        f"$.functions[{i}].params[{j}]",
                        "a parameter without a default follows one with a default",
                    )
            if fn.get("body"):
                try:
                    compile(_function(fn, inst["name"]), f"<{fn['name']}>", "exec")
                except SyntaxError as exc:
                    raise invalid(
                        self.name, f"$.functions[{i}].body", f"not valid Python: {exc.msg} (line {exc.lineno})"
                    ) from None
        package = inst["package"].strip("/")
        import_name = inst.get("import_name") or package.rsplit("/", 1)[-1]
        if not all(part.isidentifier() for part in import_name.split(".")):
            raise invalid(
                self.name, "$.package", f"the last part {import_name!r} is not an importable name; set import_name"
            )
        tests_dir = inst.get("tests_dir", "tests").strip("/")
        readme = inst.get("readme", "README.md")
        files = [
            PlannedFile(f"{package}/{inst['name']}.py", _module(inst)),
            PlannedFile(f"{tests_dir}/test_{inst['name']}.py", _tests(inst, import_name)),
        ]
        init = ctx.root / package / "__init__.py"
        export = f"from {import_name}.{inst['name']} import {', '.join(fn['name'] for fn in inst['functions'])}\n"
        if init.exists():
            current = init.read_text()
            new = (
                current
                if export in current
                else current + ("" if current.endswith("\n") or not current else "\n") + export
            )
        else:
            new = f'"""The {import_name} package."""\n\n{export}'
        files.append(PlannedFile(f"{package}/__init__.py", new))
        readme_path: Path = ctx.root / readme
        current = readme_path.read_text() if readme_path.exists() else ""
        files.append(
            PlannedFile(readme, _replace_section(current, f"## {inst['name']}", _readme_section(inst, import_name)))
        )
        return Plan(files=files)
