"""Per-task trace ring buffers of ``hsx.trace/1`` records (spec hsx-executive §9).

Theory of operation
-------------------
While tracing is on for a task, the CPU's trace hook (``Cpu.set_trace``) reports every
retired instruction; the debugger turns it into one record::

    {seq, pid, pc, opcode, next_pc, steps, flags, regs, changed_regs?, mem_access?}

appends it to the task's :class:`TraceBuffer` and publishes it as a ``trace_step``
event.  The buffer is a ring: capacity N keeps the newest N records; capacity 0
disables recording (events still flow).  Resizing keeps the newest records.

Records travel out (``export``) and back in (``import``) as plain JSON.  Imported
records are untrusted, so :func:`normalize` checks each one: the required fields
``seq``, ``pid``, ``pc``, ``opcode`` are present, integers are integers or decimal/``0x``
strings (never booleans), lists and ``mem_access`` have their documented shape.
Unknown keys are kept verbatim, as the format allows.  Rejected alternative: a pydantic
model — the format preserves unknown keys and accepts ``0x`` strings, which would need
as much custom code as this, plus a dependency in a layer below the API.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import Any

from executive.debugger.regdiff import REG_NAMES
from executive.kernel.errors import BadParamsError

__all__ = ["FORMAT", "SEQ_WRAP", "TraceBuffer", "import_records", "make_record", "normalize"]

FORMAT = "hsx.trace/1"
SEQ_WRAP = 10**9  # the trace seq counter wraps here (spec §9)
_REQUIRED = ("seq", "pid", "pc", "opcode")
_OPTIONAL_INTS = ("next_pc", "steps", "flags")
_U32 = 0xFFFFFFFF


class TraceBuffer:
    """The newest ``capacity`` trace records of one task."""

    def __init__(self, capacity: int) -> None:
        self._ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=max(capacity, 0))

    @property
    def capacity(self) -> int:
        return self._ring.maxlen or 0

    def __len__(self) -> int:
        return len(self._ring)

    def resize(self, capacity: int) -> None:
        """Change the capacity, keeping the newest records; 0 disables and clears."""
        self._ring = collections.deque(self._ring, maxlen=max(capacity, 0))

    def append(self, record: dict[str, Any]) -> None:
        if self._ring.maxlen:
            self._ring.append(record)

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        if self._ring.maxlen:
            self._ring.extend(records)

    def clear(self) -> None:
        self._ring.clear()

    def newest(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` records, oldest first (all when None; none when <= 0)."""
        if limit is None:
            return list(self._ring)
        if limit <= 0:
            return []
        n = len(self._ring)
        return [self._ring[i] for i in range(max(0, n - limit), n)]


def make_record(
    seq: int,
    pid: int,
    pc: int,
    opcode: int,
    next_pc: int,
    steps: int,
    flags: int,
    regs: list[int],
    changed_regs: list[str] | None,
    mem_access: tuple[str, int, int, int] | None,
) -> dict[str, Any]:
    """One ``hsx.trace/1`` record from what the CPU's trace hook reports."""
    rec: dict[str, Any] = {
        "seq": seq, "pid": pid, "pc": pc, "opcode": opcode, "next_pc": next_pc,
        "steps": steps, "flags": flags, "regs": regs,
    }  # fmt: skip
    if changed_regs is not None:
        rec["changed_regs"] = changed_regs
    if mem_access is not None:
        kind, address, width, value = mem_access
        rec["mem_access"] = {
            "op": "write" if kind == "w" else "read",
            "address": address,
            "width": width,
            "value": value,
        }
    return rec


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise BadParamsError(f"{where} must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            pass
    raise BadParamsError(f"{where} must be an integer or a decimal/0x string, got {value!r}")


def normalize(record: Any, *, default_pid: int, index: int) -> dict[str, Any]:
    """Validate and normalise one imported record (spec §9).

    Args:
        record: the record as received.
        default_pid: used when the record has no ``pid``.
        index: its position, for error messages.

    Raises:
        BadParamsError: names the record and the field, e.g.
            ``trace record 3 is missing required field 'pc'``.
    """
    at = f"trace record {index}"
    if not isinstance(record, Mapping):
        raise BadParamsError(f"{at} must be an object, got {type(record).__name__}")
    out: dict[str, Any] = dict(record)
    if out.get("pid") is None:
        out["pid"] = default_pid
    for field in _REQUIRED:
        if out.get(field) is None:
            raise BadParamsError(f"{at} is missing required field '{field}'", data={"index": index, "field": field})
        out[field] = _int(out[field], f"{at}.{field}")
    for field in _OPTIONAL_INTS:
        if out.get(field) is not None:
            out[field] = _int(out[field], f"{at}.{field}")
    if not 0 <= out["seq"] < SEQ_WRAP:
        raise BadParamsError(f"{at}.seq must be 0..{SEQ_WRAP - 1}, got {out['seq']}")
    ts = out.get("ts")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, (int, float))):
        raise BadParamsError(f"{at}.ts must be a number of epoch seconds")
    regs = out.get("regs")
    if regs is not None:
        if not isinstance(regs, list) or len(regs) > 16:
            raise BadParamsError(f"{at}.regs must be a list of at most 16 register values")
        out["regs"] = [_int(v, f"{at}.regs[{i}]") & _U32 for i, v in enumerate(regs)]
        if not out["regs"]:
            del out["regs"]
    changed = out.get("changed_regs")
    if changed is not None:
        if not isinstance(changed, list) or not all(isinstance(n, str) for n in changed):
            raise BadParamsError(f"{at}.changed_regs must be a list of register names")
        out["changed_regs"] = [n.upper() for n in changed]
        unknown = [n for n in out["changed_regs"] if n not in REG_NAMES]
        if unknown:
            raise BadParamsError(f"{at}.changed_regs names unknown registers {unknown}; use R0..R15 and PSW")
    access = out.get("mem_access")
    if access is not None:
        if not isinstance(access, Mapping) or access.get("op") not in ("read", "write"):
            raise BadParamsError(f"{at}.mem_access must be an object with op 'read' or 'write'")
        acc = dict(access)
        if acc.get("address") is None:
            raise BadParamsError(f"{at}.mem_access is missing 'address'")
        for k in ("address", "width", "value", "mask"):
            if acc.get(k) is not None:
                acc[k] = _int(acc[k], f"{at}.mem_access.{k}")
        out["mem_access"] = acc
    return out


def import_records(buffer: TraceBuffer, records: Any, *, pid: int, replace: bool, max_records: int) -> int | None:
    """Validate ``records`` (all of them, before changing anything) and load them.

    ``replace`` empties the buffer first; either way only the newest ``capacity``
    records stay.  Returns the highest imported seq (None when there were none), so the
    caller can move its seq counter past it (spec §9).

    Raises:
        BadParamsError: not a list, more than ``max_records``, or a bad record.
    """
    if not isinstance(records, list):
        raise BadParamsError(f"records must be a list of {FORMAT} records")
    if len(records) > max_records:
        raise BadParamsError(f"{len(records)} records exceed the trace limit of {max_records} (limit max_trace_buffer)")
    clean = [normalize(r, default_pid=pid, index=i) for i, r in enumerate(records)]
    if replace:
        buffer.clear()
    buffer.extend(clean)
    return max((r["seq"] for r in clean), default=None)
