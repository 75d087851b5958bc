"""A real two-node Ray cluster on this machine, started and stopped by the tests (session scope).

Without Ray every test here is skipped from one place (``pytest_runtest_setup`` below), so ``-ra``
prints one line; with ``CI=true`` a missing Ray is a failure: CI installs the ``[cluster]`` extra
(`make cluster`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

try:
    import ray  # noqa: F401

    MISSING: str | None = None
except ImportError:
    MISSING = "Ray is not installed: the cluster tests need `make cluster` (pip install 'executive[cluster]')"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or in CI fail) every cluster test without Ray.

    A hook, not a fixture: pytest reports a fixture's skip at each test, one line apiece, but this
    one at this line, so ``-ra`` folds them into one.  (A module-level skip here would abort the
    run when tests/cluster is named on the command line: it is then an initial conftest.)
    """
    if MISSING is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(MISSING, pytrace=False)
    pytest.skip(MISSING)


HEALTH = {"health_check_period_ms": 500, "health_check_timeout_ms": 1000, "health_check_failure_threshold": 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cli() -> str:
    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.exists() else (shutil.which("ray") or "ray")


class Cluster:
    """Head (1 CPU) plus node_b (1 CPU and the custom resource ``node_b``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")

    def _ray(self, *args: str) -> None:
        out = subprocess.run([_ray_cli(), *args], env=self.env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args[:2])} failed: {out.stderr[-2000:]}")

    def start(self) -> None:
        common = ["--num-cpus", "1", "--object-store-memory", "80000000", "--disable-usage-stats"]
        self._ray(
            "start", "--head", "--port", str(self.port), "--node-ip-address", "127.0.0.1",
            "--include-dashboard", "false", "--temp-dir", str(self.root), "--system-config", json.dumps(HEALTH),
            *common,
        )  # fmt: skip
        self.add_node_b()

    def add_node_b(self) -> None:
        self._ray(
            "start", "--address", self.address, "--node-ip-address", "127.0.0.1",
            "--resources", json.dumps({"node_b": 1}), "--num-cpus", "1",
            "--object-store-memory", "80000000", "--disable-usage-stats",
        )  # fmt: skip

    def node_b_processes(self) -> list[psutil.Process]:
        """node_b's raylet and the processes under it (its workers)."""
        import ray

        node = next(n for n in ray.nodes() if n["Alive"] and "node_b" in n["Resources"])
        flag = f"--node_id={node['NodeID']}"
        raylets = [p for p in psutil.process_iter(["cmdline"]) if flag in (p.info["cmdline"] or [])]
        out = []
        for r in raylets:
            out.append(r)
            out.extend(r.children(recursive=True))
        return out

    def node_b_alive(self) -> bool:
        import ray

        return any(n["Alive"] and "node_b" in n["Resources"] for n in ray.nodes())

    def stop(self) -> None:
        subprocess.run([_ray_cli(), "stop", "--force"], env=self.env, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="exr", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    cluster = Cluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            import ray

            ray.shutdown()
        finally:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def node_b(ray_cluster: Cluster) -> Cluster:
    """The cluster with node_b alive (a node-loss test may have killed it)."""
    import ray

    if ray.is_initialized() and not ray_cluster.node_b_alive():
        ray_cluster.add_node_b()
        deadline = time.monotonic() + 60
        while not ray_cluster.node_b_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
    return ray_cluster


def kill_marked(marker: str) -> None:
    """Kill what a killed node left of a task (on a real dead node nothing is left)."""
    from executive.runtimes.ray_actor import process_tree  # a host scan by marker, as the node itself does

    for pid in process_tree(None, marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def node_of(nodes: list[dict[str, Any]], resource: str) -> str:
    return next(n["node_id"] for n in nodes if n["alive"] and resource in n["resources"])
