"""The CLI's followers ask for binary output and fall back to JSON events with a daemon older than that."""

from __future__ import annotations

from typing import Any

import pytest

from executive.api.rpc_errors import RpcError
from executive.cli import quick_logs
from executive.cli._follow import subscribe_output

# What a daemon from before binary output answers: its params model forbids unknown fields.
_OLD_DAEMON = RpcError(-32602, "invalid params", [{"type": "extra_forbidden", "loc": ["output"], "msg": "Extra"}])


class _Stub:
    def __init__(self, fail: RpcError | None) -> None:
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> Any:
        self.calls.append(params)
        if "output" in params and self.fail is not None:
            raise self.fail
        return {"subscription": 1}


class _AsyncStub(_Stub):
    async def call(self, method: str, **params: Any) -> Any:  # type: ignore[override]
        return _Stub.call(self, method, **params)


async def test_the_async_follower_subscribes_binary_or_falls_back() -> None:
    new, old = _AsyncStub(None), _AsyncStub(_OLD_DAEMON)
    await subscribe_output(new, tasks=[3])  # type: ignore[arg-type]
    await subscribe_output(old, tasks=[3])  # type: ignore[arg-type]
    assert new.calls == [{"tasks": [3], "output": "binary"}]
    assert old.calls == [{"tasks": [3], "output": "binary"}, {"tasks": [3]}]
    other = _AsyncStub(RpcError(-32602, "since_seq must be >= 0"))
    with pytest.raises(RpcError):  # any other refusal is the caller's to see
        await subscribe_output(other, since_seq=-1)  # type: ignore[arg-type]


def test_the_quick_follower_subscribes_binary_or_falls_back() -> None:
    new, old = _Stub(None), _Stub(_OLD_DAEMON)
    quick_logs.subscribe_output(new, tasks=[3])
    quick_logs.subscribe_output(old, tasks=[3])
    assert new.calls == [{"tasks": [3], "output": "binary"}]
    assert old.calls == [{"tasks": [3], "output": "binary"}, {"tasks": [3]}]
