"""Run a pattern instance: validate, plan, compare with the disk, write (or not), record.

Every run — dry or not, successful or not — is recorded in ``pattern_runs``
so ``implementation_status`` can report pattern progress.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from executive.agents.errors import PatternInvalidError
from executive.agents.host import AgentsHost
from executive.agents.patterns.base import (
    PatternContext,
    compare_plan,
    validate_instance,
    write_plan,
)
from executive.agents.patterns.registry import EXAMPLES_DIR, PatternRegistry
from executive.kernel.errors import BadParamsError, ExecutiveError, LimitError
from executive.store.records import PatternRunRow

if TYPE_CHECKING:
    from executive.agents.service import AgentService

__all__ = ["Patterns"]


class Patterns:
    """The pattern registry of one daemon and the way to run instances."""

    def __init__(self, ex: AgentsHost, *, agents: AgentService | None = None, user_dir: Path | None = None) -> None:
        self.ex = ex
        self.agents = agents  # the agents layer, for status patterns
        lim = ex.limits
        self.registry = PatternRegistry(
            user_dir if user_dir is not None else ex.home / "patterns",
            max_user=lim.max_user_patterns,
            max_bytes=lim.pattern_instance_bytes,
        )

    def list(self) -> list[dict[str, Any]]:
        return self.registry.list()

    def schema(self, name: str) -> dict[str, Any]:
        return self.registry.get(name).schema

    def example(self, name: str) -> dict[str, Any]:
        self.registry.get(name)
        path = EXAMPLES_DIR / f"{name}.json"
        if not path.exists():
            raise BadParamsError(
                f"pattern {name!r} has no shipped example; `executive pattern schema {name}` shows its schema"
            )
        return cast(dict[str, Any], json.loads(path.read_text()))

    def _check(self, instance: Any) -> Any:
        if not isinstance(instance, dict):
            raise PatternInvalidError(
                'a pattern instance is a JSON object with a "pattern" field',
                data={"errors": [{"path": "$", "message": "not an object"}]},
            )
        size = len(json.dumps(instance, default=str))
        if size > self.ex.limits.pattern_instance_bytes:
            raise LimitError(f"the instance has {size} bytes; the limit is {self.ex.limits.pattern_instance_bytes}")
        name = instance.get("pattern")
        if not isinstance(name, str):
            raise PatternInvalidError(
                'the instance needs a string "pattern" naming the pattern (`executive pattern list`)',
                data={"errors": [{"path": "$.pattern", "message": "missing or not a string"}]},
            )
        pattern = self.registry.get(name)
        validate_instance(pattern, instance)
        return pattern

    def validate(self, instance: Any) -> dict[str, Any]:
        """Validate only: ``{ok, pattern, errors: [{path, message}]}`` (never raises for schema errors)."""
        try:
            pattern = self._check(instance)
        except PatternInvalidError as exc:
            return {
                "ok": False,
                "pattern": instance.get("pattern") if isinstance(instance, dict) else None,
                "errors": exc.data.get("errors", []),
            }
        return {"ok": True, "pattern": pattern.name, "errors": []}

    async def run(self, instance: Any, *, root: str, dry_run: bool = False) -> dict[str, Any]:
        """Validate and execute; the dry run lists the files it would create or change.

        Returns ``{pattern, dry_run, root, files: [{path, action, bytes}], report}``.

        Raises:
            PatternNotFoundError, PatternInvalidError (errors name JSON paths), LimitError, BadParamsError.
        """
        root_path = Path(os.path.abspath(root))
        name = instance.get("pattern") if isinstance(instance, dict) else None
        row: PatternRunRow = {
            "pattern": str(name),
            "root": str(root_path),
            "dry_run": dry_run,
            "ok": False,
            "files": None,
            "error": None,
            "at": time.time(),
        }
        try:
            if not root_path.is_dir():
                raise BadParamsError(f"root {root_path} is not a directory")
            pattern = self._check(instance)
            plan = await pattern.plan(instance, PatternContext(root=root_path, ex=self.ex, agents=self.agents))
            lim = self.ex.limits
            # Up to pattern_files x pattern_file_bytes of disk I/O: off the event loop.
            actions = await asyncio.to_thread(
                compare_plan, plan, root_path, max_files=lim.pattern_files, max_bytes=lim.pattern_file_bytes
            )
            if not dry_run:
                await asyncio.to_thread(write_plan, plan, root_path, actions)
            row["ok"], row["files"] = True, actions
            return {
                "pattern": pattern.name,
                "dry_run": dry_run,
                "root": str(root_path),
                "files": actions,
                "report": plan.report,
            }
        except ExecutiveError as exc:
            row["error"] = exc.message[:2000]
            raise
        finally:
            await self.ex.store.call(lambda s: s.pattern_run_insert(row))
