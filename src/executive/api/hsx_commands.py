"""HSX commands for tasks, the clock, registers, memory, values and diagnostics (spec hsx-executive §3).

Mailbox and stdio commands are in hsx_mailbox.py.

Each handler maps one HSX command onto ``Executive.vm`` and shapes the reply
as the reference does.  Semantics chosen for this port:

* ``load``/``exec`` make a *clocked* task; while the clock is stopped it is
  held paused with ``pause_reason:"loaded"``: in the reference nothing runs
  until the clock starts.
  ``clock start`` sets it going; ``step`` runs it by hand; a ``resume``
  makes it ready, and it runs once the clock runs (§3.5).
* ``clock`` is the HSX port's clock (``Executive.vm.clock``): it starts
  stopped, as the reference's, and governs the programs loaded through this
  port only — programs loaded with ``executive load`` or ``vm.load`` run
  whatever it says.  ``clock rate R`` (R > 0) replaces the free-running clock
  by R instructions per second, paced by the shell's ticker
  (:class:`RateClock`); ``rate 0`` is unthrottled.
* ``ps`` keeps ended programs (``state`` ``returned``/``faulted``/``terminated``,
  ``exit_status``) until a client dismisses them with ``kill``, which then
  answers ``task:{pid, state:"terminated"}`` as for a live task.
* ``sched PID priority N quantum M`` sets the task's priority (0..255, higher
  runs first) and slice length (runtimes/vm_ready.py).
* ``val.*``/``cmd.*`` go to the shared registry (``Executive.vm.valcmd``), which
  already answers in the HSX shapes; a ``pid`` is lock-checked.
* ``shutdown`` stops the daemon only when the port was started with
  ``allow_shutdown``; ``restart`` is always refused — both say why.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, cast

from executive.api.hsx_args import Call, HsxError, bool_arg, int_arg, opt_int, shown, str_arg
from executive.api.hsx_debug import annotate_tasks, debug_step, load_symbols
from executive.hsx.valcmd import ValCmdRequestError
from executive.service.vm import VmState

__all__ = ["COMMANDS", "RateClock", "clock_status", "step_result"]


@dataclasses.dataclass(slots=True)
class RateClock:
    """``clock rate``: instructions per second, paced by the shell's ticker (spec §6.3)."""

    hz: float = 0.0  # 0 = unthrottled (the scheduler's own free-running clock)
    on: bool = False  # the paced clock is running (the free-running one is then stopped)
    owed: float = 0.0  # fractional instructions carried to the next tick
    auto_steps: int = 0  # ticks that executed something
    auto_total_steps: int = 0  # instructions executed by the paced clock
    manual_steps: int = 0  # step / clock step requests
    manual_total_steps: int = 0  # instructions they executed

    def tick(self, call_clock: Any, elapsed_s: float, max_step: int) -> int:
        """Run the instructions owed for ``elapsed_s`` seconds; returns how many ran."""
        if not self.on or self.hz <= 0:
            return 0
        self.owed = min(self.owed + self.hz * elapsed_s, max(self.hz, 1.0))
        n = min(int(self.owed), max_step)
        if n <= 0:
            return 0
        self.owed -= n
        executed = int(call_clock("step", steps=n).get("result", {}).get("executed", 0))
        if executed:
            self.auto_steps += 1
            self.auto_total_steps += executed
        return executed


def _rate(call: Call) -> RateClock:
    rc = call.core.state.get("rate")
    if rc is None:
        rc = call.core.state["rate"] = RateClock()
    return rc


def _vm_task(call: Call, pid: int) -> Any:
    return call.ex.vm.task(pid)


# --- diagnostics -------------------------------------------------------------------------------------
def _ping(call: Call) -> dict[str, Any]:
    return {"reply": "pong"}


def clock_status(call: Call) -> dict[str, Any]:
    """The §3.5 clock object; safe to poll (touches no task)."""
    status = dict(call.ex.vm.clock("status"))
    rc = _rate(call)
    if rc.on:
        status.update(state="running", running=True, mode="rate")
    status.update(
        rate_hz=rc.hz,
        throttle_reason="rate" if rc.on else None,
        last_wait_s=None,
        auto_steps=rc.auto_steps,
        auto_total_steps=status.get("auto_total_steps", 0),
        manual_steps=rc.manual_steps,
        manual_total_steps=rc.manual_total_steps,
    )
    return status


def _info_obj(call: Call, pid: int | None) -> dict[str, Any]:
    ex = call.ex
    ps = ex.vm.ps(ended=True)  # the same rows as `ps`
    view = ex.vm.overview()
    clock = clock_status(call)
    out: dict[str, Any] = {
        "loaded": view["loaded"],
        "program": view["program"],
        "running": clock["running"] and view["runnable"],
        "pc": view["current_pc"],
        "attached": True,
        "paused": not clock["running"],
        "sleep_pending": view["sleeping"],
        "current_pid": ps["current_pid"],
        "active_context": ps["current_pid"],
        "tasks": ps["tasks"],
        "scheduler": {"trace": [], "counters": _counters(call)},
        "auto": clock["running"],
        "clock": clock,
    }
    if pid is not None:
        out["selected_pid"] = pid
        try:
            out["selected_registers"] = _registers(call, pid)
        except Exception as exc:
            out["selected_error"] = getattr(exc, "message", None) or str(exc)
    return out


def _info(call: Call) -> dict[str, Any]:
    return {"info": _info_obj(call, opt_int(call, "pid"))}


def _attach(call: Call) -> dict[str, Any]:
    """Attach/detach are no-ops: the executive and its VM are one process (§1.3)."""
    return {
        "info": _info_obj(call, None),
        "note": f"{call.cmd} is a no-op here: the VM runs inside the executive daemon",
    }


def _dmesg(call: Call) -> dict[str, Any]:
    limit = opt_int(call, "limit")
    want = call.get("filter_session")
    logs = [e for e in call.core.dmesg if want is None or e.get("session_id") == want or e.get("session") == want]
    if limit is not None:
        logs = logs[-limit:] if limit > 0 else []
    return {"logs": logs}


def _shutdown(call: Call) -> dict[str, Any]:
    core = call.core
    if not core.allow_shutdown or core.on_shutdown is None:
        raise HsxError(
            "shutdown refused: this executive daemon serves other clients too and was not started to let the HSX "
            "port stop it; stop it with Ctrl-C or SIGTERM on `executive serve`"
        )
    core.log("info", "shutdown requested", session_id=call.session)
    core.on_shutdown()
    return {"shutdown": "scheduled"}


def _restart(call: Call) -> dict[str, Any]:
    raise HsxError(
        "restart refused: the VM runs inside the executive daemon, which serves other clients too; "
        "restart the daemon with your service manager (`kill` the tasks you want gone with kill)"
    )


# --- tasks --------------------------------------------------------------------------------------------
def _ps(call: Call) -> dict[str, Any]:
    ps = call.ex.vm.ps(ended=True)
    annotate_tasks(call, cast(list[dict[str, Any]], ps["tasks"]))
    return {"tasks": ps}


def _load(call: Call) -> dict[str, Any]:
    """``load``/``exec``: a clocked task, held (paused, ``loaded``) while the clock is stopped; it
    runs at once when the clock runs, as in the reference (§3.4)."""
    path = str_arg(call, "path")
    held = not clock_status(call)["running"]
    image = cast(
        dict[str, Any],
        call.ex.vm.load(path=path, paused=held, session_id=call.session, pause_reason="loaded", clocked=True),
    )
    override = call.get("symbols")
    if "symbols" not in image or override is not None:  # vm.load auto-loaded <program>.sym; an override replaces it
        image["symbols"], warnings = load_symbols(call, image["pid"], None if override is None else str(override))
        image["warnings"] = warnings
    call.core.log("info", "task loaded", pid=image["pid"], program=image.get("program"), session_id=call.session)
    return {"image": image}


def _reload(call: Call) -> dict[str, Any]:
    pid = int_arg(call, "pid")
    ex = call.ex
    vt = ex.vm.control(pid, call.session)
    if vt.path is None:
        raise HsxError(f"reload: task {pid} was uploaded, not loaded from a path; load it again")
    if not vt.finished:
        ex.vm.kill(pid, session_id=call.session)
    ex.vm.reap(pid, session_id=call.session)
    call.args = {**call.args, "path": vt.path}
    image = _load(call)["image"]
    return {
        "reload": {
            "old_pid": pid,
            "new_pid": image["pid"],
            "program": vt.path,
            "image": image,
            "task": ex.vm.task(image["pid"]).summary(),
        }
    }


def _pause(call: Call) -> dict[str, Any]:
    """``pause``; pausing a paused task is a no-op, as in the reference (§3.4)."""
    vt = call.ex.vm.control(int_arg(call, "pid"), call.session)
    if vt.state is VmState.PAUSED:
        return {"task": vt.summary()}
    return {"task": call.ex.vm.pause(vt.pid, session_id=call.session)}


def _resume(call: Call) -> dict[str, Any]:
    """``resume``; a live task that is not paused is left as it is, a finished one is refused (§13 #20)."""
    vt = call.ex.vm.control(int_arg(call, "pid"), call.session)
    if vt.state is not VmState.PAUSED and not vt.finished:
        return {"task": vt.summary()}
    return {"task": call.ex.vm.resume(vt.pid, session_id=call.session)}


def _kill(call: Call) -> dict[str, Any]:
    """``kill``: ends a live task; an ended one is dismissed from ``ps`` (both answer ``terminated``, §3.4)."""
    pid = int_arg(call, "pid")
    vt = call.ex.vm.control(pid, call.session)
    if vt.finished:
        summary = cast(dict[str, Any], call.ex.vm.reap(pid, session_id=call.session))
        summary = {**summary, "state": "terminated", "ended_as": summary["state"]}
    else:
        summary = cast(dict[str, Any], call.ex.vm.kill(pid, session_id=call.session))
        call.ex.vm.reap(pid, session_id=call.session)
    call.core.state.setdefault("listen", {}).pop(pid, None)
    return {"task": summary}


def _counters(call: Call) -> dict[int, Any]:
    return dict(call.ex.vm.scheduler()["counters"])


def _sched(call: Call) -> dict[str, Any]:
    pid = opt_int(call, "pid")
    if pid is None:
        return {"scheduler": {"counters": _counters(call), "trace": [], "quantum": call.ex.vm.quantum}}
    priority, quantum = opt_int(call, "priority"), opt_int(call, "quantum")
    return {"task": call.ex.vm.sched(pid, priority=priority, quantum=quantum, session_id=call.session)}


# --- execution control ------------------------------------------------------------------------------
def step_result(call: Call, pid: int, r: dict[str, Any]) -> dict[str, Any]:
    """The §3.5 step result for a single-task step (``Executive.vm.step`` result in)."""
    vt = _vm_task(call, pid)
    state = vt.summary()["state"]
    events: list[dict[str, Any]] = []
    if r.get("debug_break"):
        events.append({"type": "debug_break", "pid": pid, "data": r["debug_break"]})
    return {
        "executed": r["executed"],
        "running": state in ("ready", "running"),
        "pc": r["pc"],
        "prev_pc": r.get("prev_pc"),
        "steps": r["steps"],
        "cycles": r["steps"],
        "sleep_pending": vt.state is VmState.SLEEPING or bool(vt.wait and vt.wait.kind == "sleep"),
        "events": events,
        "paused": state == "paused",
        "current_pid": pid,
        "next_pid": pid,
        "debug_event": r.get("debug_break"),
        "state": state,
        "halt": r.get("halt"),
        **{k: r[k] for k in ("changed_regs", "symbol", "line") if k in r},
    }


def _run_steps(call: Call, steps: int, pid: int | None) -> dict[str, Any]:
    ex = call.ex
    rc = _rate(call)
    if pid is not None:
        source_only = bool_arg(call.get("source_only", "source", default=False), "source_only")
        result = step_result(call, pid, debug_step(call, pid, steps, source_only=source_only))
    else:
        result = dict(ex.vm.clock("step", steps=steps)["result"])
        if not result.get("executed"):
            held = ex.vm.overview()["held"]
            if held:  # nothing runnable but a freshly loaded program: step it, as the reference would
                result = step_result(call, held[0], cast(dict[str, Any], ex.vm.step(held[0], steps)))
        result.setdefault("events", [])
        result.setdefault("paused", not clock_status(call)["running"])
    rc.manual_steps += 1
    rc.manual_total_steps += int(result.get("executed") or 0)
    return {"result": result, "clock": clock_status(call)}


def _step(call: Call) -> dict[str, Any]:
    steps = int_arg(call, "steps", default=1)
    if steps <= 0:
        raise HsxError("step steps must be positive")
    return _run_steps(call, steps, opt_int(call, "pid"))


def _clock_start(call: Call) -> None:
    rc = _rate(call)
    call.ex.vm.clock("start")  # also releases programs held since their load
    if rc.hz > 0:
        call.ex.vm.clock("stop")
        rc.on, rc.owed = True, 0.0
        if call.core.on_rate_clock is not None:
            call.core.on_rate_clock(True)


def _clock_stop(call: Call) -> None:
    rc = _rate(call)
    if rc.on:
        rc.on = False
        if call.core.on_rate_clock is not None:
            call.core.on_rate_clock(False)
    call.ex.vm.clock("stop")


def _clock(call: Call) -> dict[str, Any]:
    op = str(call.get("op", default="status") or "status").lower()
    if op == "status":
        pass
    elif op in ("start", "run"):
        _clock_start(call)
    elif op in ("stop", "halt"):
        _clock_stop(call)
    elif op == "rate":
        raw = call.get("rate", "value", "hz")
        if raw is None:
            raise HsxError("clock rate requires 'rate' value")
        try:
            hz = float(raw)
        except (TypeError, ValueError):
            raise HsxError(f"clock rate must be a number, got {shown(raw)}") from None
        if hz < 0 or math.isnan(hz):
            raise HsxError("clock rate must be non-negative")
        rc = _rate(call)
        was_running = clock_status(call)["running"]
        if was_running:
            _clock_stop(call)
        rc.hz = hz
        if was_running:
            _clock_start(call)
    elif op == "step":
        steps = int_arg(call, "steps", default=1)
        if steps <= 0:
            raise HsxError("clock step steps must be positive")
        return _run_steps(call, steps, opt_int(call, "pid"))
    else:
        raise HsxError(f"unknown clock op '{op}'")
    return {"clock": clock_status(call)}


def _start_auto(call: Call) -> dict[str, Any]:
    _clock_start(call)
    return {"clock": clock_status(call)}


def _stop_auto(call: Call) -> dict[str, Any]:
    _clock_stop(call)
    return {"clock": clock_status(call)}


# --- registers and memory ---------------------------------------------------------------------------
def _registers(call: Call, pid: int) -> dict[str, Any]:
    regs = cast(dict[str, Any], call.ex.vm.regs(pid))  # plus the HSX ``context`` block
    vt = _vm_task(call, pid)
    s = vt.summary()
    regs["context"] = {
        k: s.get(k)
        for k in (
            "pid",
            "state",
            "priority",
            "accounted_steps",
            "accounted_cycles",
            "reg_base",
            "stack_base",
            "stack_limit",
            "stack_size",
            "exit_status",
            "pause_reason",
        )
    }
    regs["context"].update(
        wait_kind=vt.wait.kind if vt.wait else None,
        wait_mailbox=s.get("wait_mailbox"),
        wait_handle=s.get("wait_handle"),
        wait_deadline=s.get("wait_deadline") or s.get("sleep_deadline"),
    )
    return regs


def _dumpregs(call: Call) -> dict[str, Any]:
    return {"registers": _registers(call, int_arg(call, "pid"))}


def _peek(call: Call) -> dict[str, Any]:
    pid = int_arg(call, "pid")
    addr = int_arg(call, "addr", "address")
    length = int_arg(call, "length", default=16)
    r = call.ex.vm.mem_read(pid, addr & 0xFFFF, length)
    return {"data": r["data"], "pid": pid, "addr": addr & 0xFFFF, "length": r["length"]}


def _poke(call: Call) -> dict[str, Any]:
    pid = int_arg(call, "pid")
    addr = int_arg(call, "addr", "address")
    data = str_arg(call, "data")
    assert data is not None
    r = call.ex.vm.mem_write(pid, addr & 0xFFFF, data.replace(" ", ""), session_id=call.session)
    return {"pid": pid, "addr": r["addr"], "length": r["length"]}


def _memory(call: Call) -> dict[str, Any]:
    op = str(call.get("op", default="regions") or "regions").lower()
    if op not in ("regions", "region", "list"):
        raise HsxError(f"unknown memory op '{op}'")
    return {"memory": call.ex.vm.regions(int_arg(call, "pid"))}


# --- values and commands (§3.9, §10.3) -----------------------------------------------------------------
def _caller(call: Call) -> int | None:
    """The optional ``pid`` a value/command request acts for; lock-checked when given (§3.9)."""
    pid = opt_int(call, "pid")
    if pid is not None:
        call.ex.vm.control(pid, call.session)
    return pid


def _filters(call: Call) -> dict[str, Any]:
    name = call.get("name")
    return {
        "pid": _caller(call),
        "group": opt_int(call, "group"),
        "oid": opt_int(call, "oid"),
        "name": str(name) if name is not None else None,
    }


def _val_list(call: Call) -> dict[str, Any]:
    return call.ex.vm.valcmd.val_list(**_filters(call))


def _val_get(call: Call) -> dict[str, Any]:
    oid = int_arg(call, "oid")
    return call.ex.vm.valcmd.val_get(oid, pid=_caller(call))


def _val_set(call: Call) -> dict[str, Any]:
    oid = int_arg(call, "oid")
    value = call.get("value")
    if value is None:
        raise HsxError("val.set requires 'value'")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise HsxError("val_set requires numeric 'value'")
    try:
        return call.ex.vm.valcmd.val_set(oid, value, pid=_caller(call))
    except ValCmdRequestError as exc:
        raise HsxError(str(exc)) from None


def _val_stats(call: Call) -> dict[str, Any]:
    return call.ex.vm.valcmd.val_stats()


def _cmd_list(call: Call) -> dict[str, Any]:
    return call.ex.vm.valcmd.cmd_list(**_filters(call))


def _cmd_call(call: Call) -> dict[str, Any]:
    oid = int_arg(call, "oid")
    run_async = bool_arg(call.get("async", default=False), "async")
    return call.ex.vm.valcmd.cmd_call(oid, pid=_caller(call), async_=run_async)


def _cmd_stats(call: Call) -> dict[str, Any]:
    return call.ex.vm.valcmd.cmd_stats()


COMMANDS = {
    "ping": _ping,
    "info": _info,
    "attach": _attach,
    "detach": _attach,
    "dmesg": _dmesg,
    "shutdown": _shutdown,
    "restart": _restart,
    "ps": _ps,
    "load": _load,
    "exec": _load,
    "reload": _reload,
    "pause": _pause,
    "resume": _resume,
    "kill": _kill,
    "sched": _sched,
    "step": _step,
    "clock": _clock,
    "start_auto": _start_auto,
    "stop_auto": _stop_auto,
    "dumpregs": _dumpregs,
    "peek": _peek,
    "poke": _poke,
    "memory": _memory,
    "val.list": _val_list,
    "val.get": _val_get,
    "val.set": _val_set,
    "val.stats": _val_stats,
    "cmd.list": _cmd_list,
    "cmd.call": _cmd_call,
    "cmd.stats": _cmd_stats,
}
