"""Rich rendering for `executive debug`: stops, registers, listings, stacks, memory, events.

Pure functions from the JSON the daemon returns to rich renderables or markup lines, so
the prompt (cli/debug.py) stays about commands and the look stays in one place.  Colours:
addresses cyan, symbols green, changed registers bold yellow, the PC line reversed,
breakpoints red, problems red/yellow.  With ``NO_COLOR`` rich prints plain text.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

__all__ = [
    "FLAG_NAMES",
    "address",
    "event_line",
    "hexdump",
    "listing",
    "regs_table",
    "stack_table",
    "stop_line",
    "watched",
    "where",
]

FLAG_NAMES = (("Z", 0x1), ("C", 0x2), ("N", 0x4), ("V", 0x8))


def address(n: int | None) -> str:
    return "[cyan]-[/]" if n is None else f"[cyan]0x{n:04X}[/]"


def where(symbol: str | None, line: dict[str, Any] | None) -> str:
    """``symbol  (file:line)`` in markup, or '' when nothing is known."""
    parts = []
    if symbol:
        parts.append(f"[green]{escape(symbol)}[/]")
    if line and line.get("file"):
        parts.append(f"[dim]({escape(str(line['file']))}:{line.get('line')})[/]")
    return " ".join(parts)


def flags(psw: int) -> str:
    return "".join(name if psw & bit else "-" for name, bit in FLAG_NAMES)


def instruction_text(ins: dict[str, Any] | None) -> str:
    if not ins:
        return ""
    text = escape(ins["text"])
    if ins.get("target_symbol"):
        text += f"  [green]<{escape(ins['target_symbol'])}>[/]"
    elif ins.get("comment"):
        text += f"  [dim]; {escape(ins['comment'])}[/]"
    return text


def stop_line(state: dict[str, Any], reason: str | None = None) -> str:
    """``■ 0x004C rec_base (rec.mvasm:28)  LDI R0, 0  [breakpoint]`` for the current stop."""
    head = "[bold magenta]■[/]" if state.get("state") == "paused" else "[bold blue]▶[/]"
    bits = [
        head,
        address(state.get("pc")),
        where(state.get("symbol"), state.get("line")),
        instruction_text(state.get("instruction")),
    ]
    if reason:
        bits.append(f"[magenta]\\[{escape(reason)}][/]")
    return "  ".join(b for b in bits if b)


def regs_table(state: dict[str, Any]) -> Table:
    """R0..R15 in four columns, then PC, SP, PSW; registers in ``changed_regs`` highlighted."""
    changed = set(state.get("changed_regs") or [])
    regs = state.get("regs") or [0] * 16
    table = Table(show_header=False, box=None, padding=(0, 1))  # fits 80 columns: values are never cut
    for _ in range(4):
        table.add_column(justify="right", style="dim", no_wrap=True)
        table.add_column(no_wrap=True, min_width=10)

    def cell(name: str, value: int) -> str:
        hexv = f"0x{value:08X}"
        return f"[bold yellow]{hexv}[/]" if name in changed else hexv

    for row in range(4):
        items: list[str] = []
        for col in range(4):
            i = row + 4 * col
            items += [f"R{i}", cell(f"R{i}", regs[i])]
        table.add_row(*items)
    psw = state.get("psw", 0)
    psw_text = f"0x{psw:X} {flags(psw)}"
    table.add_row(
        "PC",
        f"[cyan]0x{state.get('pc', 0):08X}[/]",
        "SP",
        f"0x{state.get('sp', 0):08X}",
        "PSW",
        f"[bold yellow]{psw_text}[/]" if "PSW" in changed else psw_text,
        "depth",
        str(state.get("depth", 0)),
    )
    return table


def listing(result: dict[str, Any]) -> Table | str:
    """A disassembly: ``→`` marks the PC, ``●`` a breakpoint; labels on their own lines."""
    if result.get("is_data"):
        return f"[yellow]{escape(result['message'])}[/]"
    table = Table(show_header=False, box=None, padding=(0, 1))
    for col in ("mark", "addr", "bytes", "text", "where"):
        table.add_column(col, no_wrap=col != "where")
    for ins in result["instructions"]:
        if ins.get("label"):
            table.add_row("", "", "", f"[bold green]{escape(ins['label'])}:[/]", "")
        mark = ("[red]●[/]" if ins.get("breakpoint") else " ") + ("[bold]→[/]" if ins.get("is_pc") else " ")
        src = f"[dim]{escape(str(ins['file']))}:{ins['line']}[/]" if ins.get("file") else ""
        text = instruction_text(ins)
        if ins.get("is_pc"):
            text = f"[reverse]{text}[/]"
        table.add_row(mark, address(ins["pc"]), f"[dim]{ins['bytes']}[/]", text, src)
    if result.get("truncated"):
        table.add_row("", "", "", "[dim]— end of code —[/]", "")
    return table


def stack_table(result: dict[str, Any]) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    for col in ("#", "pc", "function", "source", "fp", "return"):
        table.add_column(col)
    for f in result["frames"]:
        fn = f.get("func_name")
        name = f"[green]{escape(fn)}[/][dim]+0x{f.get('func_offset', 0):x}[/]" if fn else escape(f.get("symbol") or "?")
        src = f"{escape(str(f['file']))}:{f['line']}" if f.get("file") else ""
        table.add_row(str(f["index"]), address(f["pc"]), name, src, address(f.get("fp")), address(f.get("return_pc")))
    for err in result.get("errors") or []:
        table.add_row("", "", f"[yellow]{escape(err)}[/]", "", "", "")
    return table


def hexdump(addr: int, data: bytes) -> str:
    """16 bytes a line: address, hex, ASCII."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hx = " ".join(f"{b:02x}" for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"[cyan]0x{addr + off:04X}[/]  {hx:<47}  [dim]{escape(asc)}[/]")
    return "\n".join(lines)


def watched(hex_bytes: str) -> str:
    """Watch bytes as shown on the wire (memory order) plus the little-endian value."""
    return f"{hex_bytes} ({int.from_bytes(bytes.fromhex(hex_bytes), 'little')})"


def event_line(ev: dict[str, Any]) -> str | None:
    """One line for an event worth showing at the prompt (None for the rest)."""
    t, d = ev["type"], ev["data"]
    if t == "debug_break":
        sym = f" [green]{escape(d['symbol'])}[/]" if d.get("symbol") else ""
        changed = f"  [dim]changed: {' '.join(d['changed_regs'])}[/]" if d.get("changed_regs") else ""
        return f"[bold magenta]■ {escape(d.get('reason', 'break'))}[/] at {address(d.get('pc'))}{sym}{changed}"
    if t == "watch_update":
        at = f" at {address(d['pc'])}" if d.get("pc") is not None else ""
        new = f"[bold yellow]{watched(d['new'])}[/]"
        return f"[bold]watch {d['watch_id']}[/] {escape(str(d['expr']))}: {d['old']} → {new}{at}"
    if t == "task_state" and d.get("to") == "ended":
        code = f" with status {d['exit_code']}" if d.get("exit_code") is not None else ""
        detail = f" — {escape(str(d['detail']))}" if d.get("detail") else ""
        return f"[bold]task {ev['pid']} {escape(str(d.get('reason')))}[/]{code}{detail}"
    if t == "output":
        text = d.get("data")
        if text is None:
            return None
        style = "red" if d.get("stream") == "stderr" else "white"
        return f"[{style}]{escape(text.rstrip(chr(10)))}[/]"
    return None
