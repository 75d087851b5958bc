"""Pattern executors: a JSON Schema per pattern plus an executor, in a registry (built-ins + user files)."""

from __future__ import annotations

from executive.agents.patterns.base import (
    Pattern,
    PatternContext,
    Plan,
    PlannedFile,
    schema_errors,
    validate_instance,
)
from executive.agents.patterns.registry import BUILTINS, EXAMPLES_DIR, PatternRegistry
from executive.agents.patterns.runner import Patterns

__all__ = [
    "BUILTINS",
    "EXAMPLES_DIR",
    "Pattern",
    "PatternContext",
    "PatternRegistry",
    "Patterns",
    "Plan",
    "PlannedFile",
    "schema_errors",
    "validate_instance",
]
