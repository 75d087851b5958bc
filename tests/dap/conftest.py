"""Programs for the DAP tests: MVASM with a CALL, a loop and UART output; a fault; and an
MVASM program with a hand-written .sym that carries C line info (a fake prog.c) and locals."""

from __future__ import annotations

import json
from pathlib import Path

from executive.hsx.asm import assemble_text

# Markers ("; @name") name the lines the tests break on; see line_of().
CALLS = """\
.entry main
.export main
main:
    PUSH R7
    MOV R7, R15
    LDI R1, 6
    CALL double             ; @call
    MOV R3, R0              ; @after_call
    LDI32 R2, result
    ST [R2+0], R3           ; @store
    LDI R4, 0
    LDI R5, 1
    LDI R6, 5
loop:
    ADD R4, R4, R5          ; @loop_body
    CMP R4, R6
    JNZ loop
    LDI32 R1, greeting
    LDI R2, 6
    SVC MOD=1, FN=1         ; UART_WRITE(ptr=R1, len=R2)
    MOV R0, R3
    POP R7
    RET                     ; exit code 12

double:
    PUSH R7                 ; @double_entry
    MOV R7, R15
    ADD R0, R1, R1
    POP R7
    RET

.data
result:
    .word 0
greeting:
    .ascii "hello\\n"
"""

# Runs until killed: for attach, pause and leaving a task running.
SPIN = """\
.entry main
.export main
main:
    LDI R4, 0
    LDI R5, 1
spin:
    ADD R4, R4, R5          ; @spin
    JMP spin
"""

# Writes "out" to stdout and "err" to stderr, then echoes one stdin message to stdout.
ECHO = """\
.entry main
main:
    LDI R1, 1
    LDI32 R2, out
    LDI R3, 4
    SVC MOD=4, FN=2         ; FS_WRITE(fd 1)
    LDI R1, 2
    LDI32 R2, err
    LDI R3, 4
    SVC MOD=4, FN=2         ; FS_WRITE(fd 2)
    LDI R1, 1
    LDI32 R2, buf
    LDI R3, 32
    LDI32 R4, 0xFFFF
    LDI R5, 0
    SVC MOD=5, FN=3         ; RECV on stdin, wait forever
    MOV R3, R1
    LDI R1, 2
    LDI32 R2, buf
    LDI R4, 0
    LDI R5, 0
    SVC MOD=5, FN=2         ; SEND to stdout
    LDI R0, 3
    RET
.data
out:
    .ascii "out\\n"
err:
    .ascii "err\\n"
buf:
    .zero 32
"""

FAULT = """\
.entry main
.export main
main:
    LDI R1, 1
    LDI R2, 0
    DIV R0, R1, R2          ; @div
    RET
"""

# C source the hand-written line table points into (what VS Code opens).
PROG_C = """\
int square(int x) {
    return x * x;
}

int main(void) {
    int a = 7;
    int b = square(a);
    b = b + 1;
    return b;
}
"""

# "Compiled" prog.c: each instruction carries its C line (and whether the compiler made it up).
PROG_ASM = [
    ("main:", None, None),
    ("    PUSH R7", 5, "c"),
    ("    MOV R7, R15", 5, "compiler"),
    ("    PUSH R12", 5, "compiler"),
    ("    LDI R1, 7", 6, "c"),
    ("    ST [R7+-4], R1", 6, "c"),
    ("    LD R1, [R7+-4]", 7, "c"),
    ("    CALL square", 7, "c"),
    ("    MOV R2, R0", 7, "c"),
    ("    LDI R3, 1", 8, "c"),
    ("    ADD R2, R2, R3", 8, "c"),
    ("    MOV R0, R2", 9, "c"),
    ("    POP R12", 10, "compiler"),
    ("    POP R7", 10, "c"),
    ("    RET", 10, "c"),
    ("square:", None, None),
    ("    PUSH R7", 1, "c"),
    ("    MOV R7, R15", 1, "compiler"),
    ("    MUL R0, R1, R1", 2, "c"),
    ("    POP R7", 3, "c"),
    ("    RET", 3, "c"),
]


def line_of(source: str, marker: str) -> int:
    """The 1-based line of ``; @marker`` in an MVASM text."""
    for n, text in enumerate(source.splitlines(), 1):
        if f"@{marker}" in text.split(";", 1)[-1].split():
            return n
    raise KeyError(marker)


def write_mvasm(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.mvasm"
    path.write_text(text)
    return path


def write_spin_image(directory: Path) -> Path:
    """spin.hxe (the endless SPIN loop) with its .sym and source beside it; returns the image."""
    res = assemble_text(SPIN, str(directory / "spin.mvasm"))
    (directory / "spin.mvasm").write_text(SPIN)
    path = directory / "spin.hxe"
    path.write_bytes(res.hxe)
    (directory / "spin.sym").write_text(json.dumps(res.sym))
    return path


def write_c_program(directory: Path) -> tuple[Path, Path]:
    """prog.hxe with a .sym whose line table points into prog.c, with locals; returns (hxe, prog.c)."""
    text = ".entry main\n.export main\n" + "\n".join(line for line, _, _ in PROG_ASM) + "\n"
    res = assemble_text(text, "prog.mvasm")
    sym = res.sym
    by_asm_line = {n + 3: (cl, kind) for n, (_, cl, kind) in enumerate(PROG_ASM) if cl is not None}
    for ins in sym["instructions"]:
        c_line, kind = by_asm_line[ins["mvasm_line"]]
        ins.update(file="prog.c", directory="", line=c_line, column=5, source_kind=kind)
    pcs = {ins["mvasm_line"]: ins["pc"] for ins in sym["instructions"]}
    main_pc = {t.strip(): pcs[n + 3] for n, (t, cl, _) in enumerate(PROG_ASM[:15]) if cl is not None}
    square = next(f for f in sym["symbols"]["functions"] if f["name"] == "square")
    main_end = square["address"]
    stack_a = {"kind": "stack", "offset": -4}
    sym["symbols"]["locals"] = [
        {"name": "a", "function": "main", "type": "int", "size": 4, "file": "prog.c", "line": 6,
         "locations": [{"start": main_pc["LDI R1, 7"], "end": main_pc["POP R12"], "location": stack_a}]},
        {"name": "b", "function": "main", "type": "int", "size": 4, "file": "prog.c", "line": 7,
         "locations": [{"start": main_pc["MOV R2, R0"] + 4, "end": main_end,
                        "location": {"kind": "register", "register": "R2"}}]},
        {"name": "x", "function": "square", "type": "int", "size": 4, "file": "prog.c", "line": 1,
         "locations": [{"start": square["address"], "end": square["address"] + square["size"],
                        "location": {"kind": "register", "register": "R1"}}]},
    ]  # fmt: skip
    hxe = directory / "prog.hxe"
    hxe.write_bytes(res.hxe)
    (directory / "prog.sym").write_text(json.dumps(sym))
    c_path = directory / "prog.c"
    c_path.write_text(PROG_C)
    return hxe, c_path
