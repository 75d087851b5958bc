"""The allow-list covers the environment: a task cannot inject code into an allowed program.

A real shared library whose constructor leaves a marker file is compiled for the test; with
`{"exe": "echo"}` allowed, `LD_PRELOAD=evil.so echo hi` must be refused before anything runs,
and run only when the rule names the variable (which also proves the library really loads).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from executive.api.client import RpcError
from executive.kernel.errors import ErrorCode as E
from executive.runtimes.allowlist import AllowList, denied_env_names

EVIL_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void evil(void) {
    const char *p = getenv("EVIL_MARKER");
    if (p) { FILE *f = fopen(p, "w"); if (f) { fputs("ran\n", f); fclose(f); } }
}
"""


@pytest.fixture
def evil_so(tmp_path: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the LD_PRELOAD library")
    src = tmp_path / "evil.c"
    src.write_text(EVIL_C)
    out = tmp_path / "evil.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return out


async def test_ld_preload_is_refused_unless_the_rule_names_it(
    daemon_factory: Any, tmp_path: Path, evil_so: Path
) -> None:
    marker = tmp_path / "marker"
    env = {"LD_PRELOAD": str(evil_so), "EVIL_MARKER": str(marker)}
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"rules": [{"exe": "echo"}]}))
    d = await daemon_factory("strict", allow_list=strict)
    c = await d.client()
    for name in ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "BASH_ENV", "PYTHONPATH", "BASH_FUNC_echo%%"):
        with pytest.raises(RpcError) as exc:
            await c.call("task.run", argv=["echo", "hi"], env={name: str(evil_so), "EVIL_MARKER": str(marker)})
        assert exc.value.code == E.COMMAND_NOT_ALLOWED and name in exc.value.message
        assert exc.value.data["env"] == [name]
    assert (await c.call("task.list"))["tasks"] == [] and not marker.exists()
    ok = await c.call("task.run", argv=["echo", "hi"], env={"GREETING": "harmless"})  # other variables are fine
    assert (await c.call("task.wait", task=ok["id"], timeout=20))["exit_code"] == 0
    await c.close()

    named = tmp_path / "named.json"
    named.write_text(json.dumps({"rules": [{"exe": "echo", "env": ["LD_PRELOAD"]}]}))
    d2 = await daemon_factory("named", allow_list=named)
    c2 = await d2.client()
    t = await c2.call("task.run", argv=["echo", "hi"], env=env)
    assert (await c2.call("task.wait", task=t["id"], timeout=20))["exit_code"] == 0
    assert marker.read_text() == "ran\n"  # the library is real: the refusal above is what stopped it
    with pytest.raises(RpcError):  # naming one variable allows only that one
        await c2.call("task.run", argv=["echo", "hi"], env={"LD_AUDIT": str(evil_so)})
    await c2.close()


def test_denied_names_and_rule_globs() -> None:
    assert denied_env_names(["PATH", "HOME", "LD_PRELOAD", "DYLD_INSERT_LIBRARIES", "GIT_SSH_COMMAND"]) == [
        "DYLD_INSERT_LIBRARIES",
        "GIT_SSH_COMMAND",
        "LD_PRELOAD",
    ]
    assert denied_env_names(["LD_PRELOAD", "LD_LIBRARY_PATH"], ("LD_*",)) == []
    rules = AllowList.from_obj({"rules": [{"exe": "echo", "env": ["PYTHON*"]}]})
    assert rules.rules[0].env == ("PYTHON*",)
    with pytest.raises(Exception, match="'env' must be a list"):
        AllowList.from_obj({"rules": [{"exe": "echo", "env": "LD_PRELOAD"}]})
