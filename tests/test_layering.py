"""The layering of DESIGN.md §2, checked on the source: imports point down only, and the
transports (api/) and the CLI reach the daemon only through the service surface.

Both tests parse the files (``ast``), so every import counts: module level, inside a
function (lazy imports) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "executive"

# DESIGN.md §2, lowest first: a module may import its own layer or a lower one.  The store
# sits below the kernel, beside hsx: it imports nothing of ours but executive.paths (its rows
# are plain records; executive.task_records maps them to kernel tasks, on the service side).
LAYERS = ["hsx", "store", "kernel", "runtimes", "debugger", "agents", "pipeline", "service", "api", "cli"]
# Packages that sit beside a layer (DESIGN.md §10): the DAP adapter is a client of the daemon, like cli/.
BESIDE = {"dap": "cli"}
# Top-level modules: the package itself, paths.py and logs.py are shared helpers below every
# layer (they import nothing of ours); __main__.py is the CLI's entry point, and task_records.py
# (kernel Task <-> store row) belongs to the service, which owns both.
BASE_MODULES = {"executive", "executive.paths", "executive.logs", "executive.yaml_text"}
MODULE_LAYER = {"executive.__main__": "cli", "executive.task_records": "service"}

# Upward imports that exist today, each with the reason it is still here.  The list may only
# shrink: an entry that no longer matches an import fails the test, so it goes with its fix.
# (Empty since agents/ and pipeline/ depend on Protocols of their host instead of Executive.)
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}

# What api/ and cli/ must not import: the kernel, the runtimes and the store sit behind the
# service.  Two kernel modules are shared vocabulary rather than machinery, so every layer
# may use them: kernel.errors is the one error-code table all transports answer with, and
# kernel.limits holds the limits the daemon is configured with (serve builds them from flags).
FORBIDDEN_PACKAGES = ("executive.kernel", "executive.runtimes", "executive.store")
SHARED_KERNEL_MODULES = {"executive.kernel.errors", "executive.kernel.limits"}

# Names by which api/ and cli/ hold the service object (ctx.service, call.ex, self.core.ex, ...).
SERVICE_NAMES = {"ex", "executive", "service", "svc"}
# Attributes of the service (or of its sub-services) that are internals, not surface:
# the kernel objects and runtimes, the store, the sub-services' own state, and the parts of
# the agents layer and the pipeline engine behind Executive.agents and Executive.pipelines.
INTERNAL_ATTRIBUTES = {
    "runtime",
    "bus",
    "tasks",
    "store",
    "processes",
    "sessions",
    "task_service",
    "session_service",
    "event_service",
    "engine",
    "layer",
    "runs",
    "worktrees",
    "patches",
    "patterns",
    "fixes",
    "git",
}


def _modules(*packages: str) -> Iterator[tuple[str, Path]]:
    roots = [SRC / p for p in packages] if packages else [SRC]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(SRC).with_suffix("").parts
            name = ".".join(("executive", *rel)).removesuffix(".__init__")
            yield name, path


def _imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from executive import service` imports executive.service
                yield f"{target}.{alias.name}", node.lineno


def _layer(module: str) -> str | None:
    """The layer of one of our modules; None for a shared base module or a third-party one."""
    if module in MODULE_LAYER:
        return MODULE_LAYER[module]
    if module in BASE_MODULES or not module.startswith("executive."):
        return None
    top = module.split(".")[1]
    top = BESIDE.get(top, top)
    return top if top in LAYERS else None


def _is_ours(module: str) -> bool:
    return module == "executive" or module.startswith("executive.")


def test_every_module_imports_only_its_own_layer_or_lower() -> None:
    upward: dict[tuple[str, str], list[str]] = {}
    unplaced: list[str] = []
    for module, path in _modules():
        mine = _layer(module)
        if mine is None and module not in BASE_MODULES:
            unplaced.append(f"{module}: not in a layer of DESIGN.md §2; place it or add it to BASE_MODULES")
            continue
        for target, line in _imports(path, module):
            if not _is_ours(target) or target in BASE_MODULES:
                continue
            theirs = _layer(target)
            if theirs is None:
                continue  # `from executive.x import name` also yields executive.x.name; x decides
            if mine is None:
                unplaced.append(f"{module}:{line} is a base module but imports {target}")
            elif LAYERS.index(theirs) > LAYERS.index(mine):
                key = (module, ".".join(target.split(".")[:2]))
                upward.setdefault(key, []).append(f"{module}:{line} imports {target} ({mine} -> {theirs})")
    assert not unplaced, "\n".join(unplaced)
    new = {k: v for k, v in upward.items() if k not in ALLOWED_UPWARD}
    assert not new, "upward imports (DESIGN.md §2: imports point down only):\n" + "\n".join(
        line for lines in new.values() for line in lines
    )
    stale = sorted(k for k in ALLOWED_UPWARD if k not in upward)
    assert not stale, f"ALLOWED_UPWARD entries that no longer match an import; remove them: {stale}"


def _forbidden_import(target: str) -> bool:
    if target in SHARED_KERNEL_MODULES or any(target.startswith(m + ".") for m in SHARED_KERNEL_MODULES):
        return False
    return any(target == p or target.startswith(p + ".") for p in FORBIDDEN_PACKAGES)


def test_transports_and_cli_import_no_kernel_runtime_or_store() -> None:
    bad = [
        f"{module}:{line} imports {target}"
        for module, path in _modules("api", "cli", "dap")
        for target, line in _imports(path, module)
        if _forbidden_import(target)
    ]
    assert not bad, (
        "api/, cli/ and dap/ reach the kernel, runtimes and store only through executive.service:\n" + "\n".join(bad)
    )


def _chain(node: ast.expr) -> list[str]:
    """The names along an attribute chain, root first: ``ctx.service.vm.runtime`` -> [ctx, service, vm, runtime]."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names[::-1]


def test_transports_and_cli_use_no_service_internals() -> None:
    bad = []
    for module, path in _modules("api", "cli", "dap"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Attribute) or node.attr not in INTERNAL_ATTRIBUTES:
                continue
            chain = _chain(node)
            if any(name in SERVICE_NAMES for name in chain[:-1]):
                bad.append(f"{module}:{node.lineno} uses {'.'.join(chain)}")
    assert not bad, "api/, cli/ and dap/ call service methods, never its internals:\n" + "\n".join(bad)


def test_the_checks_see_what_they_are_meant_to_see(tmp_path: Path) -> None:
    """The parsers catch imports under TYPE_CHECKING and in functions, and internal chains."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from executive.runtimes.vm import VmTask\n"
        "def f(ctx):\n"
        "    from executive.store import sqlite\n"
        "    return ctx.service.vm.runtime.tasks, call.ex.bus\n"
    )
    found = {t for t, _ in _imports(sample, "executive.api.sample")}
    assert {"executive.runtimes.vm", "executive.store", "executive.store.sqlite"} <= found
    assert all(_forbidden_import(t) for t in ("executive.runtimes.vm", "executive.store.sqlite"))
    assert not _forbidden_import("executive.kernel.errors")
    chains = [
        _chain(n)
        for n in ast.walk(ast.parse(sample.read_text()))
        if isinstance(n, ast.Attribute) and n.attr == "runtime"
    ]
    assert chains == [["ctx", "service", "vm", "runtime"]]
    assert _layer("executive.agents.runs") == "agents" and _layer("executive.paths") is None
    assert LAYERS.index("store") < LAYERS.index("kernel") < LAYERS.index("service")
