"""MVASM assembler and linker: sources → HXE image + `.sym` document (spec hsx-vm.md §15).

Pipeline (one private module per stage)::

    _asm_source  includes, comments, tokens, literals      -> SourceLine lists
    _asm_module  one module: directives, instructions      -> ObjModule (code, data, relocs)
    _asm_link    modules in order: bases, exports, relocs  -> Linked (code, rodata, entry, metadata)
    _asm_sym     the .sym JSON (hsx-executive.md §11.1)
    hxe.write_hxe                                          -> image bytes

The library does no file I/O: callers pass ``(name, text)`` pairs and, for ``.include``, an
``include_loader``. Every problem is an :class:`AsmError` with ``file``, ``line`` and
``column``; non-fatal oddities (``SVC 1, 1``, LDI of an address ≥ 0x800) become
``AsmResult.warnings``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from executive.hsx._asm_link import link
from executive.hsx._asm_module import assemble_module
from executive.hsx._asm_source import (
    MAX_INCLUDE_DEPTH,
    MAX_SOURCE_BYTES,
    AsmError,
    IncludeLoader,
    read_lines,
)
from executive.hsx._asm_sym import build_sym
from executive.hsx.hxe import FLAG_ALLOW_MULTIPLE, HxeError, HxeImage, write_hxe

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "MAX_SOURCE_BYTES",
    "AsmError",
    "AsmResult",
    "IncludeLoader",
    "assemble",
    "assemble_text",
]


@dataclass(slots=True)
class AsmResult:
    """An assembled and linked program."""

    hxe: bytes  # the image file
    image: HxeImage  # the same image as a structure (code, rodata, entry, metadata)
    sym: dict[str, Any]  # the .sym document (JSON-ready)
    warnings: list[str] = field(default_factory=list)  # "file:line:col: warning: ..."

    @property
    def code_words(self) -> list[int]:
        """The code as 32-bit words (what the disassembler round trip compares)."""
        code = self.image.code
        return [int.from_bytes(code[i : i + 4], "big") for i in range(0, len(code), 4)]


def assemble(
    sources: Sequence[tuple[str, str]],
    *,
    version: int = 2,
    app_name: str | None = None,
    single_instance: bool = False,
    req_caps: int = 0,
    hxe_path: str = "",
    include_loader: IncludeLoader | None = None,
) -> AsmResult:
    """Assemble and link MVASM modules, in order, into an HXE image and its `.sym`.

    Args:
        sources: ``(name, text)`` per module; ``name`` appears in errors and the .sym and
            anchors relative ``.include`` paths.
        version: 2 (default, like hld.py) or 1 (no app name, flags or metadata).
        app_name: v2 header app name (≤ 32 ASCII characters).
        single_instance: clear the allow-multiple-instances flag (v2).
        req_caps: header req_caps; truncated to 16 bits as hld.py does.
        hxe_path: recorded as ``hxe_path`` in the .sym.
        include_loader: ``path -> text`` for ``.include`` (raise OSError when missing).

    Returns:
        The image bytes, the parsed image, the .sym document and any warnings.

    Raises:
        AsmError: the first error, located at file:line:column where it has a location.
    """
    if not sources:
        raise AsmError("no source files given")
    if version not in (1, 2):
        raise AsmError(f"HXE version {version} is not supported (use 1 or 2)")
    if version == 1 and (app_name or single_instance):
        raise AsmError("version 1 images have no app name and always allow multiple instances; drop --v1")
    line_lists = read_lines(list(sources), include_loader)
    modules = [assemble_module(name, lines) for (name, _), lines in zip(sources, line_lists, strict=True)]
    linked = link(modules)
    has_meta = bool(linked.values or linked.commands or linked.mailboxes)
    if version == 1 and has_meta:
        raise AsmError("version 1 images cannot carry .value/.cmd/.mailbox metadata; assemble as version 2")
    image = HxeImage(
        code=b"".join(w.to_bytes(4, "big") for w in linked.code),
        rodata=linked.rodata,
        entry=linked.entry,
        version=version,
        flags=0 if single_instance else FLAG_ALLOW_MULTIPLE,
        req_caps=req_caps & 0xFFFF,
        app_name=app_name,
        values=linked.values,
        commands=linked.commands,
        mailboxes=linked.mailboxes,
    )
    try:
        data = write_hxe(image)
    except HxeError as exc:
        raise AsmError(str(exc)) from None
    image.crc = image.computed_crc = int.from_bytes(data[0x1C:0x20], "big")
    image.file_size = len(data)
    sym = build_sym(linked, image.crc, hxe_path)
    return AsmResult(data, image, sym, linked.warnings)


def assemble_text(text: str, name: str = "<source>", **options: Any) -> AsmResult:
    """Assemble a single module given as a string (see :func:`assemble` for options)."""
    return assemble([(name, text)], **options)
