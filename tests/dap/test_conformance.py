"""VS Code's own DebugClient (npm @vscode/debugadapter-testsupport) against `executive dap`.

Runs tests/dap/conformance/dap.test.js with node when `make dap-conformance` has installed
the package there; skipped (with how to enable it) otherwise, since npm is not a Python
test dependency.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "conformance"
SRC = Path(__file__).resolve().parents[2] / "src"


_MISSING = shutil.which("node") is None or not (HERE / "node_modules" / "@vscode" / "debugadapter-testsupport").is_dir()
_WHY = "needs node and `make dap-conformance` (installs @vscode/debugadapter-testsupport)"


@pytest.mark.slow
@pytest.mark.skipif(_MISSING and not os.environ.get("CI"), reason=_WHY)
def test_vscode_debug_client_conformance(tmp_path: Path) -> None:
    assert not _MISSING, _WHY  # with CI set, a missing client is a failure, not a skip
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(SRC), EXECUTIVE_HOME=str(tmp_path / "home"))
    run = subprocess.run(["node", "--test"], cwd=HERE, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
