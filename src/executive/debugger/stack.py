"""Stack reconstruction: walk the frames of a paused HSX task (spec hsx-executive §8.7).

Theory of operation
-------------------
Compiled HSX code (hsx-llc, hsx-vm §9) keeps R7 as the frame pointer.  A function starts
with ``PUSH R7; MOV R7, R15`` (R15 mirrors SP after the PUSH), so in its body::

    [FP]     = the caller's FP
    [FP + 4] = the return PC pushed by CALL
    FP + 8   = the caller's SP at the CALL

and the caller's frame is found by reading those two words.  The walk starts from the
registers: PC, the internal SP and R7.  Three places inside a function are not "body"
and are recognised from the code words, so a stop there still unwinds correctly:

* at the first instruction (a breakpoint on a function): the frame is not built yet,
  the return PC is ``[SP]`` and R7 is still the caller's FP;
* between ``PUSH R7`` and ``MOV R7, R15``: ``[SP]`` is the saved FP, ``[SP+4]`` the return PC;
* at a ``RET`` (after the epilogue's ``POP R7``): ``[SP]`` is the return PC.

The CPU's call depth (CALLs not matched by a RET) says exactly how many frames there
are: the walk stops after ``depth + 1`` frames and never guesses past the outermost.
Every untrusted value is checked before use — FP alignment, FP and the 8 bytes above it
inside the task's stack block, FP strictly increasing (a repeat is a cycle), the return
PC inside the code and just after a CALL — and the first failure ends the walk with
``truncated: true`` and a reason in ``errors`` (``fp_unaligned``, ``fp_out_of_range``,
``fp_cycle``, ``return_pc_invalid``, ``no_frame_pointer``, ``frame_limit_reached``),
instead of the reference's always-failing bounds (§13 #16).

Rejected alternative: scanning the stack for words that look like return addresses —
cheap to write, but it reports stale return addresses left in dead stack slots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from executive.debugger.symbols import SymbolIndex
from executive.hsx.isa import BY_MNEMONIC, encode

__all__ = ["PROLOGUE", "walk_stack"]

_PUSH_R7 = encode(BY_MNEMONIC["PUSH"].opcode, rs1=7)
_MOV_R7_R15 = encode(BY_MNEMONIC["MOV"].opcode, rd=7, rs1=15)
_RET = encode(BY_MNEMONIC["RET"].opcode)
_CALL_OP = BY_MNEMONIC["CALL"].opcode
#: the hsx-llc prologue words
PROLOGUE = (_PUSH_R7, _MOV_R7_R15)


def _word(code: bytes, pc: int) -> int | None:
    if pc < 0 or pc % 4 or pc + 4 > len(code):
        return None
    return int.from_bytes(code[pc : pc + 4], "big")


def _position(code: bytes, pc: int) -> str:
    """Where in a function ``pc`` is: ``entry``, ``prologue``, ``ret`` or ``body``."""
    w = _word(code, pc)
    if w == _PUSH_R7 and _word(code, pc + 4) == _MOV_R7_R15:
        return "entry"
    if w == _MOV_R7_R15 and _word(code, pc - 4) == _PUSH_R7:
        return "prologue"
    if w == _RET:
        return "ret"
    return "body"


def walk_stack(
    *,
    code: bytes,
    read_word: Callable[[int], int],
    pc: int,
    sp: int,
    fp: int,
    depth: int,
    low: int,
    high: int,
    max_frames: int,
    symbols: SymbolIndex | None = None,
) -> dict[str, Any]:
    """Reconstruct the call stack.

    Args:
        code: the task's code space (to recognise prologues and check return PCs).
        read_word: little-endian 32-bit data-memory read (addresses already checked).
        pc, sp, fp: the task's PC, internal SP and R7.
        depth: the CPU's call depth; there are ``depth + 1`` frames.
        low, high: the task's stack block ``[low, high)``; every FP read must lie inside.
        max_frames: hard cap on frames returned (``truncated`` when reached).
        symbols: names each frame (``func_name``, ``func_addr``, ``func_offset``,
            ``symbol``, ``file``, ``line``) when given.

    Returns:
        ``{frames, truncated, errors, depth}``; frame 0 is the innermost.
    """
    frames: list[dict[str, Any]] = []
    errors: list[str] = []
    truncated = False
    cur_pc, cur_sp, cur_fp = pc, sp, fp
    seen: set[int] = set()
    for index in range(depth + 1):
        if index >= max_frames:
            truncated = True
            errors.append(f"frame_limit_reached:{max_frames}")
            break
        where = _position(code, cur_pc) if index == 0 else "body"
        frame: dict[str, Any] = {"index": index, "pc": cur_pc, "sp": cur_sp, "fp": cur_fp if where == "body" else None,
                                 "return_pc": None, "position": where}  # fmt: skip
        _name(frame, symbols, code)
        frames.append(frame)
        if index == depth:
            break  # the outermost function: entered without a CALL
        if where in ("entry", "ret"):
            ret, caller_fp, caller_sp = read_word(cur_sp), cur_fp, cur_sp + 4
        elif where == "prologue":
            ret, caller_fp, caller_sp = read_word(cur_sp + 4), cur_fp, cur_sp + 8
        else:
            problem = _frame_problem(cur_fp, low, high, seen, frame, symbols, code)
            if problem:
                errors.append(problem)
                truncated = True
                break
            seen.add(cur_fp)
            caller_fp, ret, caller_sp = read_word(cur_fp), read_word(cur_fp + 4), cur_fp + 8
        frame["return_pc"] = ret
        call = _word(code, ret - 4)
        if call is None or call >> 24 != _CALL_OP:
            errors.append(f"return_pc_invalid:0x{ret:08X}")
            truncated = True
            break
        cur_pc, cur_sp, cur_fp = ret, caller_sp, caller_fp
    return {"frames": frames, "truncated": truncated, "errors": errors, "depth": depth}


def _frame_problem(
    fp: int, low: int, high: int, seen: set[int], frame: dict[str, Any], symbols: SymbolIndex | None, code: bytes
) -> str | None:
    """Why ``fp`` cannot be followed, or None."""
    func = frame.get("func_addr")
    if func is not None and (_word(code, func), _word(code, func + 4)) != PROLOGUE:
        return f"no_frame_pointer:{frame.get('func_name')} does not start with PUSH R7; MOV R7, R15"
    if fp % 4:
        return f"fp_unaligned:0x{fp:08X}"
    if not (low <= fp and fp + 8 <= high):
        return f"fp_out_of_range:0x{fp:08X} (stack 0x{low:04X}..0x{high:04X})"
    if fp in seen or (seen and fp <= max(seen)):
        return f"fp_cycle:0x{fp:08X}"
    return None


def _name(frame: dict[str, Any], symbols: SymbolIndex | None, code: bytes) -> None:
    """Add the function, nearest symbol and source line of a frame's PC."""
    if symbols is None:
        return
    pc = frame["pc"]
    fn = symbols.function_at(pc)
    if fn is not None:
        sym, off = fn
        frame.update(func_name=sym.name, func_addr=sym.address, func_offset=off)
    frame["symbol"] = symbols.describe(pc)
    ln = symbols.line_at(pc)
    if ln is not None:
        frame.update(file=ln.file, line=ln.line, line_num=ln.line)
