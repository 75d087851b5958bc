"""`executive pipeline init`: write the default five-phase pipeline file.

The template ships as package data (``templates/default.yaml``) so it stays a
readable YAML file with comments, and a test loads it through the same parser
as user files — the template can never drift out of the schema.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from executive.kernel.errors import BadParamsError

__all__ = ["DEFAULT_FILENAME", "template_text", "write_template"]

DEFAULT_FILENAME = "pipeline.yaml"


def template_text() -> str:
    """The default template (requirements, design, implementation, testing, deployment)."""
    return (
        importlib.resources.files("executive.pipeline").joinpath("templates/default.yaml").read_text(encoding="utf-8")
    )


def write_template(target: str | Path, *, force: bool = False) -> Path:
    """Write the template to ``target`` (a directory gets ``pipeline.yaml``); returns the file written.

    A target that does not exist and has no ``.yaml``/``.yml`` suffix is a new directory
    (``executive pipeline init demo`` writes ``demo/pipeline.yaml``); its parent must exist.

    Raises:
        BadParamsError: the file exists and ``force`` is false, or the directory is missing.
    """
    path = Path(target)
    if not path.exists() and path.suffix.lower() not in (".yaml", ".yml") and path.parent.is_dir():
        path.mkdir()
    if path.is_dir():
        path = path / DEFAULT_FILENAME
    if not path.parent.is_dir():
        raise BadParamsError(f"directory {path.parent} does not exist; create it first")
    if path.exists() and not force:
        raise BadParamsError(f"{path} already exists; pass --force to overwrite it")
    path.write_text(template_text(), encoding="utf-8")
    return path
