"""`executive hsx ...`: run, assemble, disassemble and inspect HSX programs without a daemon.

This is the file-I/O shell around the pure :mod:`executive.hsx` library: it reads files,
calls the library and prints. Every expected failure (unreadable file, malformed HXE,
assembler error, broken .sym) is one line on stderr and exit code 2 — no traceback.

* ``run PROG.hxe``: the reference stand-alone CLI in its ``--no-preload`` mode (hsx-vm.md §16):
  the host log lines, then the halt summary; ``--json`` prints one JSON object instead.
* ``asm SRC... -o OUT.hxe``: assemble and link (§15), writing OUT.hxe and OUT.sym.
* ``disasm PROG.hxe``: reassemblable MVASM (code and data), annotated from PROG.sym when present.
* ``info PROG.hxe``: header, sections, metadata and CRC status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from executive.cli import exit_codes
from executive.hsx.asm import MAX_SOURCE_BYTES, AsmError, assemble
from executive.hsx.disasm import disassemble, render, render_data
from executive.hsx.hxe import MAX_IMAGE_SIZE, HxeError, HxeImage, load_hxe
from executive.hsx.symbols import SymbolError, SymbolTable

app = typer.Typer(no_args_is_help=True, add_completion=False, help="HSX VM tools: run, asm, disasm, info.")

EXIT_USAGE = exit_codes.USAGE  # bad input: unreadable or malformed file, assembler error
MAX_SYM_BYTES = 64 << 20  # refuse absurd .sym files before parsing them

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    _err.print(f"error: {message}", markup=False)
    raise typer.Exit(EXIT_USAGE)


def _warn(message: str) -> None:
    _err.print(message, markup=False)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn the library's and the OS's expected errors into one line on stderr, exit 2."""
    try:
        yield
    except (HxeError, AsmError, SymbolError) as exc:
        _fail(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        _fail(f"not UTF-8 text ({exc.reason} at byte {exc.start})")


def _read_hxe(path: Path, *, verify_crc: bool = True) -> HxeImage:
    size = path.stat().st_size
    if size > MAX_IMAGE_SIZE:
        raise HxeError(f"{path}: file too large: {size} bytes (limit {MAX_IMAGE_SIZE})")
    try:
        return load_hxe(path.read_bytes(), verify_crc=verify_crc)
    except HxeError as exc:
        raise HxeError(f"{path}: {exc}") from None


def _read_text(path: str) -> str:
    p = Path(path)
    if p.stat().st_size > MAX_SOURCE_BYTES:
        raise OSError(0, f"larger than {MAX_SOURCE_BYTES} bytes", path)
    return p.read_text(encoding="utf-8")


# -----------------------------------------------------------------------------------------


@app.command("run")
def run_cmd(
    program: Path = typer.Argument(..., help="HXE image to run."),
    max_steps: int = typer.Option(100_000, "--max-steps", help="Instruction budget (<= 0: unlimited)."),
    trace: Path | None = typer.Option(None, "--trace", help="Write one [TRACE] line per instruction to FILE."),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object with output, exit, steps, pc, regs, halt."
    ),
) -> None:
    """Run a program stand-alone (like host_vm.py --no-preload) and print its output and exit status.

    Exits with the program's own status (0..255, as `load --wait` does), 1 when it faulted or
    stopped at an illegal instruction or a BRK, and 124 when the step budget ran out (as `timeout` does).
    """
    with _errors():
        image = _read_hxe(program)
        try:
            from executive.hsx.runner import run_standalone
        except ImportError as exc:  # pragma: no cover - only while the runner is being written
            _fail(f"the HSX runner is not available ({exc})")
        trace_file = trace.open("w", encoding="utf-8") if trace else None
        try:
            sink = (lambda line: trace_file.write(line + "\n")) if trace_file else None
            result = run_standalone(image.code, image.rodata, image.entry, max_steps=max_steps, trace=sink)
        finally:
            if trace_file:
                trace_file.close()
    if as_json:
        doc = {
            "output": list(result.output),
            "exit": result.exit,
            "steps": result.steps,
            "pc": result.pc,
            "regs": list(result.regs),
            "halt": result.halt,
        }
        typer.echo(json.dumps(doc))
    else:
        for line in result.log:
            typer.echo(line)
    raise typer.Exit(_exit_status(result.halt, result.exit))


def _exit_status(halt: str, exit_code: int | None) -> int:
    """The shell status of a stand-alone run (see run_cmd)."""
    if halt == "step_limit":
        return exit_codes.TASK_TIMED_OUT
    if exit_code is not None and halt in ("exited", "returned"):
        return exit_code & 0xFF
    return 0 if halt in ("exited", "returned") else 1


@app.command("asm")
def asm_cmd(
    sources: list[Path] = typer.Argument(..., help="MVASM source files, linked in this order."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Output .hxe (default: first source with .hxe)."),
    v1: bool = typer.Option(False, "--v1", help="Write a version 1 image (no name, flags or metadata)."),
    app_name: str | None = typer.Option(None, "--app-name", help="App name in the v2 header."),
    single_instance: bool = typer.Option(False, "--single-instance", help="Clear the allow-multiple-instances flag."),
    req_cap: int = typer.Option(0, "--req-cap", help="Required capability mask (16 bits)."),
) -> None:
    """Assemble and link MVASM sources into OUT.hxe, and write OUT.sym beside it."""
    out = output or sources[0].with_suffix(".hxe")
    sym_path = out.with_suffix(".sym")
    with _errors():
        texts = [(str(src), _read_text(str(src))) for src in sources]
        result = assemble(
            texts,
            version=1 if v1 else 2,
            app_name=app_name,
            single_instance=single_instance,
            req_caps=req_cap,
            hxe_path=str(out),
            include_loader=_read_text,
        )
        for warning in result.warnings:
            _warn(warning)
        out.write_bytes(result.hxe)
        sym_path.write_text(json.dumps(result.sym, indent=1) + "\n", encoding="utf-8")
    image = result.image
    _out.print(
        f"wrote {out} (v{image.version}, code {len(image.code)} bytes, rodata {len(image.rodata)} bytes, "
        f"entry 0x{image.entry:04X}, crc 0x{image.crc:08X}) and {sym_path}",
        markup=False,
    )


def _load_symbols(program: Path, sym: Path | None) -> SymbolTable | None:
    path = sym or program.with_suffix(".sym")
    if sym is None and not path.exists():
        return None
    try:
        if path.stat().st_size > MAX_SYM_BYTES:
            raise SymbolError(f"larger than {MAX_SYM_BYTES} bytes")
        return SymbolTable.from_sym(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError) as exc:  # SymbolError and JSON errors are ValueErrors
        if sym is not None:
            raise SymbolError(f"{path}: {exc}") from None
        _warn(f"warning: ignoring {path}: {exc}")
        return None


@app.command("disasm")
def disasm_cmd(
    program: Path = typer.Argument(..., help="HXE image to disassemble."),
    sym: Path | None = typer.Option(None, "--sym", help="Symbol file (default: PROG.sym if present)."),
    addresses: bool = typer.Option(True, "--addresses/--no-addresses", help="Address and word comments."),
) -> None:
    """Print code and data as MVASM that reassembles to the same image contents, labelled from the .sym."""
    with _errors():
        image = _read_hxe(program)
        table = _load_symbols(program, sym)
    listing = disassemble(image.code, table)
    typer.echo(f"; {program.name}: entry 0x{image.entry:04X}, {len(image.code)} code bytes", nl=True)
    typer.echo(f".entry 0x{image.entry:X}")
    typer.echo(render(listing, table, addresses=addresses, end=len(image.code)), nl=False)
    if image.rodata:
        typer.echo("")
        typer.echo(render_data(image.rodata, table), nl=False)


def _info_doc(path: Path, image: HxeImage) -> dict[str, Any]:
    return {
        "path": str(path),
        "version": image.version,
        "file_size": image.file_size,
        "header_size": image.header_size,
        "flags": image.flags,
        "allow_multiple_instances": image.allow_multiple_instances,
        "app_name": image.app_name,
        "entry": image.entry,
        "code_len": len(image.code),
        "ro_len": len(image.rodata),
        "bss_size": image.bss_size,
        "req_caps": image.req_caps,
        "crc": image.crc,
        "crc_computed": image.computed_crc,
        "crc_ok": image.crc_ok,
        "sections": [
            {"type": s.type, "kind": s.kind, "offset": s.offset, "size": s.size, "entry_count": s.entry_count}
            for s in image.sections
        ],
        "values": [
            {
                "group": v.group,
                "id": v.value_id,
                "name": v.name,
                "unit": v.unit,
                "flags": v.flags,
                "auth": v.auth,
                "init": v.init,
                "epsilon": v.epsilon,
                "min": v.min,
                "max": v.max,
                "persist_key": v.persist_key,
                "group_name": v.group_name,
            }
            for v in image.values
        ],
        "commands": [
            {
                "group": c.group,
                "id": c.cmd_id,
                "name": c.name,
                "help": c.help,
                "flags": c.flags,
                "auth": c.auth,
                "handler_offset": c.handler_offset,
                "group_name": c.group_name,
            }
            for c in image.commands
        ],
        "mailboxes": [
            {"target": m.target, "capacity": m.capacity, "mode_mask": m.mode_mask, "owner_pid": m.owner_pid}
            for m in image.mailboxes
        ],
    }


@app.command("info")
def info_cmd(
    program: Path = typer.Argument(..., help="HXE image to inspect."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show the header, metadata sections and entries, and whether the CRC matches."""
    with _errors():
        image = _read_hxe(program, verify_crc=False)
    doc = _info_doc(program, image)
    if as_json:
        typer.echo(json.dumps(doc))
        return
    crc = f"0x{image.crc:08X} " + ("ok" if image.crc_ok else f"MISMATCH (contents give 0x{image.computed_crc:08X})")
    rows = [
        ("file", f"{program} ({image.file_size} bytes)"),
        ("version", f"{image.version} (header {image.header_size} bytes)"),
        ("app name", image.app_name or "-"),
        (
            "flags",
            f"0x{image.flags:04X} (multiple instances {'allowed' if image.allow_multiple_instances else 'refused'})",
        ),
        ("entry", f"0x{image.entry:04X}"),
        ("code", f"{len(image.code)} bytes"),
        ("rodata", f"{len(image.rodata)} bytes at 0x4000"),
        ("bss", str(image.bss_size)),
        ("req_caps", f"0x{image.req_caps:X}"),
        ("crc", crc),
    ]
    for key, value in rows:
        _out.print(f"{key:<9} {value}", markup=False)
    if image.sections:
        table = Table(title="metadata sections", title_justify="left")
        for col in ("type", "offset", "size", "entries"):
            table.add_column(col)
        for s in image.sections:
            table.add_row(s.kind, str(s.offset), str(s.size), str(s.entry_count))
        _out.print(table)
    for v in image.values:
        _out.print(f"value {v.group}:{v.value_id} name={v.name!r} unit={v.unit!r} flags=0x{v.flags:02X} "
                   f"auth={v.auth} init=0x{v.init:04X}", markup=False)  # fmt: skip
    for c in image.commands:
        _out.print(f"command {c.group}:{c.cmd_id} name={c.name!r} handler=0x{c.handler_offset:04X} "
                   f"flags=0x{c.flags:02X} auth={c.auth}", markup=False)  # fmt: skip
    for m in image.mailboxes:
        _out.print(f"mailbox {m.target} capacity={m.capacity} mode=0x{m.mode_mask:02X}", markup=False)
    if not image.crc_ok:
        _fail(f"{program}: CRC mismatch: header says 0x{image.crc:08X}, contents give 0x{image.computed_crc:08X}")
