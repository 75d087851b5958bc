"""Fan-out of HSX programs' stdio mailboxes: ``Executive.vm.stdio_fanout`` (spec hsx-executive §10.2).

Every program has ``svc:stdio.in``/``out``/``err`` descriptors.  By default the
executive is the only reader of ``out`` and ``err`` (their messages go to the task's
logs as they are written) and the program the only reader of ``in``.  Switching a
descriptor to fan-out lets other programs open it and each get every message, while
the log still gets its copy (runtimes/vm.py ``drain_stdio``):

* ``fanout`` (mask RDWR|FANOUT|FANOUT_DROP = 27): a full queue drops its oldest message;
  a reader that missed one sees the OVERRUN flag;
* ``fanout_block`` (RDWR|FANOUT|FANOUT_BLOCK = 43): a full queue makes the writer's send
  answer WOULDBLOCK until every reader has caught up;
* ``off`` (RDWR = 3): one reader, the default.

Scopes: ``default`` changes the template new programs get *and* every live program
(the reference's ``update_existing``); ``pid`` changes one program; ``all`` changes every
live program and leaves the template alone.  A query (no ``mode``) changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from executive.hsx.mailbox import Mode
from executive.kernel.errors import BadParamsError

if TYPE_CHECKING:  # pragma: no cover
    from executive.runtimes.vm_task import VmTask
    from executive.service.vm import VmService

__all__ = ["MODES", "STREAMS", "mode_name", "stdio_fanout"]

STREAMS = ("in", "out", "err")
MODES = {
    "off": int(Mode.RDWR),
    "fanout": int(Mode.RDWR | Mode.FANOUT | Mode.FANOUT_DROP),
    "fanout_block": int(Mode.RDWR | Mode.FANOUT | Mode.FANOUT_BLOCK),
}
SCOPES = ("default", "pid", "all")


def mode_name(mask: int) -> str:
    """The HSX name of a descriptor mode mask: ``off``, ``fanout``, ``fanout_block`` or ``tap``."""
    if mask & Mode.FANOUT:
        return "fanout_block" if mask & Mode.FANOUT_BLOCK else "fanout"
    if mask & Mode.TAP:
        return "tap"
    return "off"


def _entry(stream: str, mask: int) -> dict[str, Any]:
    return {"stream": stream, "mode_mask": mask, "mode": mode_name(mask)}


def _task_streams(vt: VmTask, streams: list[str]) -> list[dict[str, Any]]:
    return [_entry(s, vt.stdio[s].mode) for s in streams if s in vt.stdio]


def stdio_fanout(
    vm: VmService,
    scope: str,
    *,
    pid: int | None = None,
    streams: list[str],
    mode: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Query or set the stdio modes of one scope (see the module docstring).

    Args:
        scope: ``default``, ``pid`` (with ``pid``) or ``all``.
        streams: a non-empty subset of ``in``, ``out``, ``err``.
        mode: ``off``, ``fanout`` or ``fanout_block``; None queries.

    Returns:
        ``{scope, streams, default?, tasks?, pid?}`` with ``{stream, mode_mask, mode}``
        entries; a change adds ``mode``, ``mode_mask`` and ``applied`` (``{pid, stream, target,
        mbx_status}`` per descriptor changed: the fields the shell prints).

    Raises:
        BadParamsError: an unknown scope, stream or mode (nothing changes).
        NotFoundError / TaskLockedError: ``pid`` is not a program, or another session holds it.
    """
    rt = vm.runtime
    if scope not in SCOPES:
        raise BadParamsError(f"stdio_fanout scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    bad = [s for s in streams if s not in STREAMS]
    if not streams or bad:
        raise BadParamsError(f"stdio streams must be some of in, out, err; got {', '.join(map(str, streams))}")
    if mode is not None and mode not in MODES:
        raise BadParamsError(f"stdio mode must be off, fanout or fanout_block; got {mode!r}")
    target: VmTask | None = None
    if scope == "pid":
        if pid is None:
            raise BadParamsError("stdio_fanout for one program needs its pid")
        target = vm.control(pid, session_id) if mode is not None else vm.task(pid)
    live = [vt for vt in sorted(rt.tasks.values(), key=lambda v: v.pid) if not vt.finished]
    applied: list[dict[str, Any]] = []
    if mode is not None:
        mask = MODES[mode]
        if scope == "pid":
            assert target is not None
            tasks = [target]
        else:
            tasks = [vt for vt in live if session_id is None or vm.ex.lock_owner(vt.pid) in (None, session_id)]
        if scope == "default":
            for s in streams:
                rt.stdio_template[s] = mask
        for vt in tasks:
            for s in streams:
                if rt.set_stdio_mode(vt, s, mask):
                    name = f"svc:stdio.{s}@{vt.pid}"
                    applied.append({"pid": vt.pid, "stream": s, "target": name, "mbx_status": 0})
    default = [_entry(s, rt.stdio_template[s]) for s in streams]
    out: dict[str, Any] = {"scope": scope}
    if scope == "default":
        out["streams"] = default
    elif scope == "pid":
        assert target is not None
        out.update(pid=target.pid, streams=_task_streams(target, streams), default=default)
    else:
        out.update(
            streams=[], default=default, tasks=[{"pid": vt.pid, "streams": _task_streams(vt, streams)} for vt in live]
        )
    if mode is not None:
        out.update(mode=mode, mode_mask=MODES[mode], applied=applied)
    return out
