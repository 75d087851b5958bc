"""`executive hsx run|asm|disasm|info` through typer's CliRunner (and one real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from executive.cli.hsx import app
from executive.hsx.hxe import load_hxe

HELLO = """\
.entry main
.export main
.value {"group": 1, "id": 2, "name": "temp", "unit": "degC"}
main:
    LDI32 R1, msg
    LDI R2, 5
    CALL write
    LDI R0, 42
    RET
write:
    SVC MOD=1, FN=1
    RET
.data
msg:
    .ascii "hello"
"""


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def hello(tmp_path: Path, cli: CliRunner) -> Path:
    src = tmp_path / "hello.mvasm"
    src.write_text(HELLO)
    out = tmp_path / "hello.hxe"
    result = cli.invoke(app, ["asm", str(src), "-o", str(out), "--app-name", "hello"])
    assert result.exit_code == 0, result.output
    return out


def test_asm_writes_hxe_and_sym(hello: Path) -> None:
    image = load_hxe(hello.read_bytes())
    assert image.app_name == "hello" and len(image.values) == 1
    sym = json.loads(hello.with_suffix(".sym").read_text())
    assert sym["version"] == 1 and sym["hxe_path"] == str(hello) and sym["hxe_crc"] == image.crc
    assert {f["name"] for f in sym["symbols"]["functions"]} == {"main", "write"}


def test_asm_options(tmp_path: Path, cli: CliRunner) -> None:
    src = tmp_path / "p.mvasm"
    src.write_text("RET\n")
    assert cli.invoke(app, ["asm", str(src), "--v1"]).exit_code == 0  # default output p.hxe
    assert load_hxe((tmp_path / "p.hxe").read_bytes()).version == 1
    out = tmp_path / "s.hxe"
    assert cli.invoke(app, ["asm", str(src), "-o", str(out), "--single-instance"]).exit_code == 0
    assert not load_hxe(out.read_bytes()).allow_multiple_instances


def test_asm_links_several_files_and_includes(tmp_path: Path, cli: CliRunner) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "consts.mvasm").write_text("LDI R1, 7\n")
    (tmp_path / "a.mvasm").write_text('.export main\n.import f\nmain:\n.include "inc/consts.mvasm"\nCALL f\nRET\n')
    (tmp_path / "b.mvasm").write_text(".export f\nf:\nRET\n")
    out = tmp_path / "ab.hxe"
    result = cli.invoke(app, ["asm", str(tmp_path / "a.mvasm"), str(tmp_path / "b.mvasm"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert load_hxe(out.read_bytes()).code == bytes.fromhex("01100007240000022500000025000000")


def test_asm_error_is_one_line_exit_2(tmp_path: Path, cli: CliRunner) -> None:
    src = tmp_path / "bad.mvasm"
    src.write_text("main:\n    LD R1, [R7-4]\n")
    result = cli.invoke(app, ["asm", str(src)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {src}:2:12: write [R7+-4] instead of [R7-4] (offsets are added: [Rs+off])\n"
    assert result.stdout == ""


def test_asm_warning_goes_to_stderr(tmp_path: Path, cli: CliRunner) -> None:
    src = tmp_path / "w.mvasm"
    src.write_text("SVC 0x01, 0x01\nRET\n")
    result = cli.invoke(app, ["asm", str(src)])
    assert result.exit_code == 0 and "warning: SVC operands without '='" in result.stderr


def test_info(hello: Path, cli: CliRunner) -> None:
    result = cli.invoke(app, ["info", str(hello)])
    assert result.exit_code == 0, result.output
    for fragment in ("version", "hello", "entry", "0x0000", "crc", " ok", "value 1:2 name='temp'"):
        assert fragment in result.stdout
    doc = json.loads(cli.invoke(app, ["info", str(hello), "--json"]).stdout)
    assert doc["crc_ok"] and doc["app_name"] == "hello" and doc["code_len"] == 32
    assert doc["sections"][0]["kind"] == "value" and doc["values"][0]["unit"] == "degC"


def test_info_reports_crc_mismatch(hello: Path, cli: CliRunner) -> None:
    data = bytearray(hello.read_bytes())
    data[96] ^= 0xFF  # first code byte
    hello.write_bytes(bytes(data))
    result = cli.invoke(app, ["info", str(hello)])
    assert result.exit_code == 2
    assert "MISMATCH" in result.stdout and "CRC mismatch" in result.stderr


def test_disasm_uses_sym_and_reassembles(hello: Path, tmp_path: Path, cli: CliRunner) -> None:
    result = cli.invoke(app, ["disasm", str(hello)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "main:" in text and "CALL write" in text and "LDI32 R1, 0x00004000" in text
    assert "msg" in text  # data symbol named in the comment
    src = tmp_path / "again.mvasm"
    src.write_text(text)
    out = tmp_path / "again.hxe"
    assert cli.invoke(app, ["asm", str(src), "-o", str(out)]).exit_code == 0
    again, original = load_hxe(out.read_bytes()), load_hxe(hello.read_bytes())
    assert (again.code, again.rodata, again.entry) == (original.code, original.rodata, original.entry)
    assert ".data\nmsg:\n    .byte 0x68, 0x65, 0x6C, 0x6C, 0x6F" in text
    hello.with_suffix(".sym").write_text("{broken")
    degraded = cli.invoke(app, ["disasm", str(hello), "--no-addresses"])
    assert degraded.exit_code == 0 and "warning: ignoring" in degraded.stderr and "CALL 3" in degraded.stdout


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "file too small: 0 bytes"),
        (b"HSXE" + bytes(28), "unsupported HXE version 0"),
        (b"\x7fELF" + bytes(100), "unsupported HXE version"),
    ],
)
@pytest.mark.parametrize("command", ["run", "disasm", "info"])
def test_bad_images_are_one_line_errors(
    tmp_path: Path, cli: CliRunner, command: str, content: bytes, fragment: str
) -> None:
    path = tmp_path / "x.hxe"
    path.write_bytes(content)
    result = cli.invoke(app, [command, str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and fragment in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["run", "disasm", "info"])
def test_missing_file(tmp_path: Path, cli: CliRunner, command: str) -> None:
    result = cli.invoke(app, [command, str(tmp_path / "none.hxe")])
    assert result.exit_code == 2 and "No such file" in result.stderr


def test_run_prints_log(hello: Path, cli: CliRunner) -> None:
    pytest.importorskip("executive.hsx.runner")
    result = cli.invoke(app, ["run", str(hello)])
    assert result.exit_code == 42, result.output  # the program's own status, as `load --wait` gives it
    assert "[UART.tx] hello" in result.stdout.splitlines()


def test_run_json(hello: Path, cli: CliRunner) -> None:
    pytest.importorskip("executive.hsx.runner")
    result = cli.invoke(app, ["run", str(hello), "--json"])
    assert result.exit_code == 42, result.output
    doc = json.loads(result.stdout)
    assert doc["output"] == ["hello"] and doc["exit"] == 42 and doc["halt"] == "returned"
    assert doc["regs"][0] == 42 and len(doc["regs"]) == 16 and doc["pc"] == 20 and doc["steps"] == 6


def test_run_max_steps_and_trace(tmp_path: Path, cli: CliRunner) -> None:
    pytest.importorskip("executive.hsx.runner")
    src = tmp_path / "loop.mvasm"
    src.write_text("loop:\n    JMP loop\n")
    assert cli.invoke(app, ["asm", str(src)]).exit_code == 0
    trace = tmp_path / "trace.txt"
    result = cli.invoke(app, ["run", str(tmp_path / "loop.hxe"), "--max-steps", "5", "--trace", str(trace), "--json"])
    assert result.exit_code == 124, result.output  # the budget ran out, as `timeout` says it
    doc = json.loads(result.stdout)
    assert doc["steps"] == 5 and doc["halt"] == "step_limit" and doc["exit"] is None
    assert len(trace.read_text().splitlines()) >= 5


def test_mounted_under_executive_hsx(hello: Path) -> None:
    exe = Path(sys.executable).with_name("executive")
    if not exe.exists():
        pytest.skip("console script not installed")
    proc = subprocess.run(
        [str(exe), "hsx", "info", str(hello), "--json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["app_name"] == "hello"


@pytest.mark.parametrize(
    ("source", "status"),
    [
        ("main:\n    LDI R0, 5\n    RET\n", 5),  # returned 5
        ("main:\n    LDI R0, 300\n    RET\n", 300 & 0xFF),  # statuses are 0..255, as for processes
        ("main:\n    LDI R1, 7\n    LDI R2, 0\n    DIV R3, R1, R2\n    RET\n", 1),  # faulted
    ],
)
def test_run_exits_with_the_programs_status(tmp_path: Path, cli: CliRunner, source: str, status: int) -> None:
    src = tmp_path / "p.mvasm"
    src.write_text(".entry main\n" + source)
    assert cli.invoke(app, ["asm", str(src)]).exit_code == 0
    assert cli.invoke(app, ["run", str(tmp_path / "p.hxe")]).exit_code == status
