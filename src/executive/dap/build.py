"""Build what a ``launch`` names: an ``.mvasm`` becomes a temporary ``.hxe`` with its ``.sym``.

The session core does no file I/O; this is the one place the adapter writes files, and
it is passed to :class:`~executive.dap.session.DapSession` (a test can pass another).  The
assembler runs in the adapter (hsx/ is a pure library, as for ``executive hsx asm``) with
the absolute source path as the module name, so the line table names the files the
editor set breakpoints in.  Outputs go to a private temporary directory, removed by
:meth:`Builder.close` when the session ends — never beside the user's sources — each build
in a folder of its own, so the programs of one launch may share a file name
(``a/main.mvasm`` and ``b/main.mvasm``) without one image overwriting the other.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import orjson

from executive.dap.protocol import DapError
from executive.hsx.asm import MAX_SOURCE_BYTES, AsmError, assemble

__all__ = ["Build", "Builder"]


@dataclasses.dataclass(frozen=True, slots=True)
class Build:
    image: Path  # the .hxe to load (its .sym beside it)
    warnings: list[str]  # assembler warnings, "file:line:col: warning: ..."


class Builder:
    """Assembles MVASM sources into one temporary directory per session."""

    def __init__(self) -> None:
        self._dir: str | None = None  # created on the first build
        self._builds = 0  # builds so far: the next one's folder name

    def __call__(self, source: Path) -> Build:
        """Assemble ``source`` (and its ``.include`` files).

        Raises:
            DapError: unreadable or too large (``MAX_SOURCE_BYTES``), or an assembler error
                located at file:line:column.
        """

        def read(p: str) -> str:
            q = Path(p)
            if q.stat().st_size > MAX_SOURCE_BYTES:
                raise OSError(f"{p} is larger than {MAX_SOURCE_BYTES} bytes")
            return q.read_text(encoding="utf-8")

        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="executive-dap-")
        self._builds += 1
        folder = Path(self._dir) / str(self._builds)
        folder.mkdir()
        out = folder / (source.stem + ".hxe")
        try:
            result = assemble([(str(source), read(str(source)))], hxe_path=str(out), include_loader=read)
        except OSError as exc:
            raise DapError(f"cannot read {source}: {exc.strerror or exc}") from None
        except AsmError as exc:
            raise DapError(f"assembling {source.name} failed: {exc}") from None
        out.write_bytes(result.hxe)
        out.with_suffix(".sym").write_bytes(orjson.dumps(result.sym))
        return Build(out, list(result.warnings))

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
