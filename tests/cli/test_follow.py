"""The CLI's followers ask for binary output and fall back to JSON events with a daemon older than that."""

from __future__ import annotations

import asyncio
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


class _Log:
    """A fake daemon's task.output over one stdout log: binary slices, several requests outstanding."""

    def __init__(self, data: bytes, cap: int = 10) -> None:
        self.data = data
        self.cap = cap  # the daemon's largest slice (the followers ask for at most their own limit)
        self.sent: dict[int, dict[str, Any]] = {}
        self.most_outstanding = 0
        self.ids = iter(range(1, 1_000_000))

    def reply(self, p: dict[str, Any]) -> dict[str, Any]:
        off, n = p["offset"], min(p.get("limit") or self.cap, self.cap)
        raw = memoryview(self.data[off : off + n])
        out = {"task": p["task"], "stream": p["stream"], "offset": off, "next_offset": off + len(raw)}
        return {**out, "size": len(self.data), "eof": False, "output": "binary", "raw": raw}

    # the blocking client's surface
    def call(self, method: str, **p: Any) -> dict[str, Any]:
        return self.reply(p)

    def send_request(self, method: str, **p: Any) -> int:
        i = next(self.ids)
        self.sent[i] = p
        self.most_outstanding = max(self.most_outstanding, len(self.sent))
        return i

    def wait_reply(self, i: int) -> dict[str, Any]:
        return self.reply(self.sent.pop(i))


class _AsyncLog(_Log):
    async def call(self, method: str, **p: Any) -> dict[str, Any]:  # type: ignore[override]
        self.sent[id(p)] = p
        self.most_outstanding = max(self.most_outstanding, len(self.sent))
        await asyncio.sleep(0)  # both slices are on their way before either is answered
        return self.reply(self.sent.pop(id(p)))


# (log bytes, start offset, upto): to the log's end, to an offset, from the middle, a short log
FILLS = [(bytes(range(95)), 0, None), (bytes(range(95)), 0, 41), (bytes(range(95)), 13, None), (b"abc", 0, None)]


@pytest.mark.parametrize(("data", "start", "upto"), FILLS)
def test_the_quick_follower_reads_ahead_and_writes_each_byte_once(
    data: bytes, start: int, upto: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quick_logs, "_FILL_LIMIT", 10)
    log = _Log(data)
    got = bytearray()
    f = quick_logs.SyncFollower(log, lambda _t, _s, chunk: got.extend(chunk))
    f.read.binary = True
    f.next[(1, "stdout")] = start
    f.fill(1, "stdout", upto)
    end = len(data) if upto is None else upto
    assert bytes(got) == data[start:end] and f.next[(1, "stdout")] == end
    assert not log.sent  # every reply asked for was collected
    assert log.most_outstanding == (2 if end - start > 10 else 1)


@pytest.mark.parametrize(("data", "start", "upto"), FILLS)
async def test_the_async_follower_reads_ahead_and_writes_each_byte_once(
    data: bytes, start: int, upto: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from executive.cli import _follow

    monkeypatch.setattr(_follow, "FILL_LIMIT", 10)
    log = _AsyncLog(data)
    got = bytearray()
    f = _follow.OutputFollower(log, 1, lambda _s, chunk: got.extend(chunk), {"stdout": start}, ("stdout",), binary=True)  # type: ignore[arg-type]
    await f.fill("stdout", upto)
    end = len(data) if upto is None else upto
    assert bytes(got) == data[start:end] and f.next["stdout"] == end
    assert not log.sent
    assert log.most_outstanding == (2 if end - start > 10 else 1)
