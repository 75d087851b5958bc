"""HSX commands for mailboxes and stdio (spec hsx-executive §3.8, §10.2).

* ``mailbox_snapshot``/``list``: the descriptors (all, or one task's).
* ``listen`` reads a task's stdout *log* from a per-task cursor (the port's
  stand-in for consuming ``svc:stdio.out``): one message per line, at most
  ``max_len`` bytes each.
* ``send`` posts to a task's stdin (or any target) as the executive (pid 0).
* ``stdio_fanout`` queries or sets fan-out on stdio mailboxes
  (``Executive.vm.stdio_fanout``; service/vm_stdio.py says what it does).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any, cast

from executive.api.hsx_args import Call, HsxError, int_arg, opt_int, shown

__all__ = ["COMMANDS"]


def _vm_task(call: Call, pid: int) -> Any:
    return call.ex.vm.task(pid)


def _mailbox_snapshot(call: Call) -> dict[str, Any]:
    return cast(dict[str, Any], call.ex.vm.mailbox_snapshot())


def _list(call: Call) -> dict[str, Any]:
    pid = int_arg(call, "pid")
    _vm_task(call, pid)
    keys = (
        "descriptor_id",
        "target",
        "name",
        "namespace",
        "mode_mask",
        "capacity",
        "bytes_used",
        "queue_depth",
        "subscriber_count",
    )
    chans = [
        {k: d.get(k) for k in keys} for d in call.ex.vm.mailbox_snapshot()["descriptors"] if d.get("owner_pid") == pid
    ]
    return {"channels": {"pid": pid, "channels": chans}}


async def _listen(call: Call) -> dict[str, Any]:
    ex = call.ex
    pid = opt_int(call, "pid")
    limit = int_arg(call, "limit", default=5)
    max_len = int_arg(call, "max_len", default=512)
    if limit <= 0 or max_len <= 0:
        raise HsxError("listen limit and max_len must be positive")
    max_len = min(max_len, 65536)
    if pid is not None:
        pids = [_vm_task(call, pid).pid]
    else:
        pids = [t["pid"] for t in ex.vm.ps()["tasks"]]
    cursors: dict[int, int] = call.core.state.setdefault("listen", {})
    messages: list[dict[str, Any]] = []
    for p in pids:
        if len(messages) >= limit:
            break
        offset = cursors.get(p, 0)
        chunk = await ex.task_output(p, stream="stdout", offset=offset, limit=(limit - len(messages)) * max_len)
        raw = chunk["data"].encode() if "data" in chunk else base64.b64decode(chunk["data_b64"])
        pos = 0
        while pos < len(raw) and len(messages) < limit:
            nl = raw.find(b"\n", pos, pos + max_len)
            end = nl + 1 if nl >= 0 else min(len(raw), pos + max_len)
            piece = raw[pos:end]
            messages.append(
                {
                    "target": f"svc:stdio.out@{p}",
                    "text": piece.decode("utf-8", "replace"),
                    "data_hex": piece.hex(),
                    "flags": 0,
                    "channel": 0,
                    "length": len(piece),
                    "src_pid": p,
                }
            )
            pos = end
        cursors[p] = offset + pos
    return {"messages": messages}


def _send(call: Call) -> dict[str, Any]:
    pid = int_arg(call, "pid")
    if call.get("data") is not None:
        data = str(call.get("data")).encode()
    elif call.get("data_hex") is not None:
        try:
            data = bytes.fromhex(str(call.get("data_hex")))
        except ValueError:
            raise HsxError("send data_hex must be hex bytes, e.g. '68690a'") from None
    else:
        raise HsxError("send requires 'data' or 'data_hex'")
    target = call.get("channel")
    if target is not None and not isinstance(target, str):
        raise HsxError("send channel must be a mailbox target string, e.g. 'app:demo' or 'svc:stdio.in@3'")
    call.ex.vm.control(pid, call.session)
    return cast(dict[str, Any], call.ex.vm.mailbox_send(pid=pid, target=target, data=data, session_id=call.session))


_FANOUT_STREAMS = {
    "in": ["in"],
    "stdin": ["in"],
    "out": ["out"],
    "stdout": ["out"],
    "err": ["err"],
    "stderr": ["err"],
    "both": ["out", "err"],
    "all": ["in", "out", "err"],
    "any": ["in", "out", "err"],
}
_FANOUT_MODES = {
    "off": "off",
    "none": "off",
    "default": "off",
    "drop": "fanout",
    "fanout": "fanout",
    "fanout_drop": "fanout",
    "block": "fanout_block",
    "fanout_block": "fanout_block",
}


def _stdio_fanout(call: Call) -> dict[str, Any]:
    """``stdio_fanout {pid?, stream?, mode?}`` (§10.2): query, or set fan-out on stdio mailboxes."""
    raw_pid = call.get("pid")
    pid: int | None = None
    if raw_pid is None or (
        isinstance(raw_pid, str) and raw_pid.strip().lower() in ("", "default", "global", "template")
    ):
        scope = "default"
    elif isinstance(raw_pid, str) and raw_pid.strip().lower() in ("all", "*"):
        scope = "all"
    else:
        scope, pid = "pid", int_arg(call, "pid")
    stream = str(call.get("stream", default="out")).strip().lower()
    if stream not in _FANOUT_STREAMS:
        raise HsxError(f"stdio_fanout stream must be in, out, err, both or all; got {shown(stream)}")
    mode: str | None = None
    if call.get("mode") is not None:
        key = str(call.get("mode")).strip().lower()
        if key not in _FANOUT_MODES:
            raise HsxError(f"stdio_fanout mode must be off, drop (fanout) or block (fanout_block); got {shown(key)}")
        mode = _FANOUT_MODES[key]
    config = call.ex.vm.stdio_fanout(
        scope, pid=pid, streams=_FANOUT_STREAMS[stream], mode=mode, session_id=call.session
    )
    return {"config": config}


COMMANDS: dict[str, Callable[[Call], dict[str, Any] | Awaitable[dict[str, Any]]]] = {
    "mailbox_snapshot": _mailbox_snapshot,
    "list": _list,
    "listen": _listen,
    "send": _send,
    "stdio_fanout": _stdio_fanout,
}
