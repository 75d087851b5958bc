"""Dependency direction around the store, checked on the source (imports under TYPE_CHECKING count too).

* ``store/`` imports nothing of executive outside itself but ``executive.paths``
  (a leaf: file modes of the state directory); it is the bottom layer beside
  ``hsx/``, and the row <-> Task mapping lives in ``executive.task_records``;
* ``agents/`` and ``pipeline/`` never import ``executive.service``: they depend
  on Protocols of what they use (``agents/host.py``, ``pipeline/engine.py``);
* no module outside ``store/`` holds SQL or imports ``sqlite3``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import executive

SRC = Path(executive.__file__).resolve().parent
_SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX))\b"
)


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _modules(sub: str) -> list[Path]:
    return sorted((SRC / sub).rglob("*.py"))


def test_the_store_imports_only_itself() -> None:
    bad = {
        f"{p.relative_to(SRC)}: {m}"
        for p in _modules("store")
        for m in _imports(p)
        if m.startswith("executive") and not m.startswith("executive.store") and m != "executive.paths"
    }
    assert not bad, bad


def test_agents_and_pipeline_do_not_import_the_service() -> None:
    bad = {
        f"{p.relative_to(SRC)}: {m}"
        for sub in ("agents", "pipeline")
        for p in _modules(sub)
        for m in _imports(p)
        if m == "executive.service" or m.startswith(("executive.service.", "executive.service_"))
    }
    assert not bad, bad


def test_no_sql_outside_the_store() -> None:
    bad = []
    for p in sorted(SRC.rglob("*.py")):
        if p.is_relative_to(SRC / "store"):
            continue
        if "sqlite3" in _imports(p):
            bad.append(f"{p.relative_to(SRC)}: imports sqlite3")
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL.search(node.value):
                bad.append(f"{p.relative_to(SRC)}:{node.lineno}: {node.value[:60]!r}")
    assert not bad, bad
