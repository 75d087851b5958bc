"""Reading tasks at a cost that does not grow with history: pages of ``task.list``, summaries, old tasks.

Theory of operation
-------------------
The task table (kernel/tasks.py) holds every live task and the newest ended ones;
the store holds them all.  Three reads stay O(what they return):

* **Pages.**  ``task.list`` returns ``{tasks, next}``: at most ``limit`` summaries
  ordered by id, newest first (``before_id``) or oldest first (``after_id``), after
  the filters (``state``, ``kind``, ``name`` glob, ``since``).  ``next`` is the
  cursor of the following page (pass it as ``before_id``, or as ``after_id`` when
  paging oldest first), null after the last.  A cursor is an id: ids are allocated
  in order and never change, so tasks created or ended between two pages neither
  repeat nor shift a page (new ones are newer than any cursor; with a state filter a
  task may of course leave or enter the filter between pages).
* **Where a page comes from.**  Ids at or above the table's ``complete_from`` are
  all in memory and are found by walking ids (they are dense), so a page there
  costs its own rows; a page that reaches below it asks the store for the rest
  (one indexed query after the task rows pending in this loop turn are written),
  and shows a task that is also in memory from memory.  A filter on live states
  only reads the table's live index and never the store (every live task is in
  memory).
* **Summaries.**  A page carries each task's row with no big field: ``argv`` cut
  to the first ``SUMMARY_ARGS`` arguments and ``SUMMARY_CHARS`` characters with
  ``argv_cut`` saying so, ``end_detail`` cut to ``SUMMARY_DETAIL_CHARS``, no lock
  holder, log sizes only for live tasks.  ``task.info`` returns the whole task.
* **Old tasks.**  :meth:`TaskHistory.find` looks in memory, then in the store, so
  ``task.info``, ``task.output`` (``executive logs``), ``task.wait`` and
  ``task.restart`` work on a task that left memory, or was never loaded at start-up.

Rejected alternatives: an offset cursor (``offset=1000``) shifts under tasks being
created, so a client paging back would see tasks twice; a ``total`` count in every
page would cost a scan of the store with every filter (``ps`` says "more" from
``next`` instead); keeping the bare list of every task as the reply grows with
history, which is what this module exists to stop.
"""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, cast

from executive.kernel.errors import BadParamsError, NotFoundError
from executive.kernel.tasks import LIVE_STATES, Task, TaskKind, TaskState
from executive.service.results import OutputBytes, TaskPage, TaskSummary
from executive.task_records import task_from_row

if TYPE_CHECKING:  # pragma: no cover
    from executive.service.executive import Executive

__all__ = ["DEFAULT_PAGE", "SUMMARY_ARGS", "SUMMARY_CHARS", "SUMMARY_DETAIL_CHARS", "TaskHistory"]

DEFAULT_PAGE = 100  # tasks in a page of task.list when no limit is given
SUMMARY_ARGS = 32  # arguments of argv a summary keeps
SUMMARY_CHARS = 512  # ... and characters
SUMMARY_DETAIL_CHARS = 300  # characters of end_detail a summary keeps
MAX_GLOB = 256  # characters in a name pattern
_CUT = "…"

_STATE_NAMES = {s.value: s for s in TaskState}
_KIND_NAMES = {k.value: k for k in TaskKind}


class TaskHistory:
    """The reads of ``task.list``, ``task.info`` and friends that must not grow with history."""

    def __init__(self, executive: Executive) -> None:
        self.ex = executive

    # ------------------------------------------------------------------ finding one task
    async def find(self, ref: int | str) -> Task:
        """The task ``ref`` names (id or name), in memory or, when it has left memory, in the store.

        A task read from the store is a copy detached from the table (it has ended: only
        ended tasks leave memory); reading it changes nothing.

        Raises:
            NotFoundError: no task has that id or name.
        """
        try:
            return self.ex.tasks.get(ref)
        except NotFoundError:
            by_id = isinstance(ref, int) or ref.isdigit()
            if by_id and int(ref) >= self.ex.tasks.complete_from:
                raise  # every task from there on is in memory: there is no such task
            if by_id:
                task_id = int(ref)
                row = await self.ex.store.call(lambda s: s.load_task(task_id))
            else:
                name = str(ref)
                row = await self.ex.store.call(lambda s: s.find_task(name))
            if row is None:
                raise
        return self.ex.tasks.get_id(row["id"]) or task_from_row(row)

    # ------------------------------------------------------------------ pages
    async def page(
        self,
        *,
        state: str | list[str] | None = None,
        kind: str | list[str] | None = None,
        name: str | None = None,
        since: float | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> TaskPage:
        """One page of tasks; see the module docstring for the order, the cursor and the filters.

        Args:
            state: a state, ``"live"`` (every state but ended), or a list of them.
            kind: a kind or a list of kinds.
            name: a shell-style pattern the name must match (``*``, ``?``, ``[abc]``, ``[!abc]``).
            since: only tasks created at or after this time (Unix seconds).
            before_id: newest first, ids below this (a previous page's ``next``).
            after_id: oldest first, ids above this (a previous oldest-first page's ``next``).
                With both, the ids between them, oldest first.
            limit: tasks in the page, 1..``limits.max_task_page``.

        Returns:
            ``{"tasks": [summary, ...], "next": cursor or None}``.

        Raises:
            BadParamsError: an unknown state or kind, a bad limit, cursor or pattern.
        """
        top = self.ex.limits.max_task_page
        if not 1 <= limit <= top:
            raise BadParamsError(
                f"limit must be 1..{top} (tasks in one page); for more, call again with before_id set to "
                "the reply's next",
                data={"limit": top},
            )
        for label, cursor in (("before_id", before_id), ("after_id", after_id)):
            if cursor is not None and cursor < 0:
                raise BadParamsError(f"{label} must be a task id (>= 0), got {cursor}")
        if name is not None and len(name) > MAX_GLOB:
            raise BadParamsError(f"name must be a pattern of at most {MAX_GLOB} characters")
        states = _parse(state, _STATE_NAMES, "state", extra={"live": LIVE_STATES})
        kinds = _parse(kind, _KIND_NAMES, "kind")
        newest_first = after_id is None
        lo = after_id or 0  # ids strictly between lo and hi
        hi = before_id if before_id is not None else self.ex.tasks.peek_next_id()
        match = _Filter(states, kinds, name, since)
        if states is not None and states <= LIVE_STATES:
            picked, nxt = self._live_page(lo, hi, match, limit, newest_first)
        elif newest_first:
            picked, nxt = await self._newest_first(lo, hi, match, limit)
        else:
            picked, nxt = await self._oldest_first(lo, hi, match, limit)
        return {"tasks": [self.summary(t) for t in picked], "next": nxt}

    def _live_page(
        self, lo: int, hi: int, match: _Filter, limit: int, newest_first: bool
    ) -> tuple[list[Task], int | None]:
        pool = [t for t in self.ex.tasks.live() if lo < t.id < hi and match(t)]
        if newest_first:
            pool.reverse()
        return _cut_page(pool, limit)

    async def _newest_first(
        self,
        lo: int,
        hi: int,
        match: _Filter,
        limit: int,
    ) -> tuple[list[Task], int | None]:
        table = self.ex.tasks
        floor = table.complete_from
        picked: list[Task] = []
        for task in table.walk(max(floor, lo + 1), hi, newest_first=True):
            if match(task):
                picked.append(task)
                if len(picked) > limit:
                    return _cut_page(picked, limit)
        if floor <= lo + 1 or hi <= 1:
            return picked, None  # memory covered the whole range
        need = limit - len(picked)
        rows = await self._store_rows(lo, min(hi, floor), need + 1, True, match)
        if len(rows) <= need:
            return picked + self._from_store(rows, match), None
        # More: the cursor is the lowest id looked at (a row shown from memory may have left the filter).
        rows = rows[:need]
        nxt = rows[-1]["id"] if rows else picked[-1].id
        return picked + self._from_store(rows, match), nxt

    async def _oldest_first(
        self,
        lo: int,
        hi: int,
        match: _Filter,
        limit: int,
    ) -> tuple[list[Task], int | None]:
        table = self.ex.tasks
        floor = table.complete_from
        picked: list[Task] = []
        if lo + 1 < floor:  # the oldest part of the range has left memory: the store first
            rows = await self._store_rows(lo, min(hi, floor), limit + 1, False, match)
            if len(rows) > limit:
                rows = rows[:limit]
                return self._from_store(rows, match), rows[-1]["id"]
            picked = self._from_store(rows, match)
        for task in table.walk(max(floor, lo + 1), hi, newest_first=False):
            if match(task):
                picked.append(task)
                if len(picked) > limit:
                    break
        return _cut_page(picked, limit)

    async def _store_rows(
        self,
        lo: int,
        hi: int,
        limit: int,
        newest_first: bool,
        match: _Filter,
    ) -> list[Any]:
        """Rows with ``lo < id < hi`` from the store (``self.ex.store`` writes this turn's task rows first)."""
        state_names = sorted(s.value for s in match.states) if match.states is not None else []
        kind_names = sorted(k.value for k in match.kinds) if match.kinds is not None else []
        name, since = match.name, match.since
        return await self.ex.store.call(
            lambda s: s.task_page(
                after_id=lo,
                before_id=hi,
                states=state_names,
                kinds=kind_names,
                name_glob=name,
                since=since,
                limit=limit,
                newest_first=newest_first,
            )
        )

    def _from_store(self, rows: list[Any], match: _Filter) -> list[Task]:
        """Tasks for store rows: the one in memory when it is there (it is current), else one made from the row."""
        out = []
        for row in rows:
            task = self.ex.tasks.get_id(row["id"])
            if task is None:
                out.append(task_from_row(row))
            elif match(task):  # a row written this turn agrees with memory; a later edge may not
                out.append(task)
        return out

    # ------------------------------------------------------------------ summaries
    def summary(self, task: Task) -> TaskSummary:
        """The row of ``task`` with its big fields cut (see the module docstring)."""
        d = cast(TaskSummary, task.to_dict())
        argv = task.argv
        if argv is not None:
            chars = sum(map(len, argv))
            if len(argv) > SUMMARY_ARGS or chars > SUMMARY_CHARS:
                d["argv"] = _cut_argv(argv)
                d["argv_cut"] = {"args": len(argv), "chars": chars, "see": "task.info"}
        detail = task.end_detail
        if detail is not None and len(detail) > SUMMARY_DETAIL_CHARS:
            d["end_detail"] = detail[: SUMMARY_DETAIL_CHARS - 1] + _CUT
        self.ex.programs.annotate(task, cast(dict[str, Any], d))
        if task.is_live:
            out = self.ex.task_service.live_output(task.id)
            if out is not None:
                d["output_bytes"] = cast(OutputBytes, out.sizes())
        return d


def _cut_argv(argv: list[str]) -> list[str]:
    """The first arguments of ``argv`` within SUMMARY_ARGS and SUMMARY_CHARS; an argument cut short ends in …."""
    out: list[str] = []
    room = SUMMARY_CHARS
    for arg in argv[:SUMMARY_ARGS]:
        if len(arg) > room:
            if room > 0:
                out.append(arg[: room - 1] + _CUT)
            break
        out.append(arg)
        room -= len(arg)
    return out


def _cut_page(tasks: list[Task], limit: int) -> tuple[list[Task], int | None]:
    """The first ``limit`` tasks, and the cursor after them when there were more."""
    if len(tasks) > limit:
        return tasks[:limit], tasks[limit - 1].id
    return tasks, None


def _parse(
    value: str | list[str] | None, names: dict[str, Any], label: str, *, extra: dict[str, frozenset[Any]] | None = None
) -> frozenset[Any] | None:
    """A filter value (one name or a list) as the set of enum members it selects; None: no filter."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise BadParamsError(f"{label} must name at least one {label} when given")
    out: set[Any] = set()
    for v in values:
        if extra and v in extra:
            out |= extra[v]
        elif v in names:
            out.add(names[v])
        else:
            allowed = ", ".join([*names, *(extra or {})])
            raise BadParamsError(f"unknown {label} {v!r}; one of: {allowed}", data={label: v})
    return frozenset(out)


@dataclasses.dataclass(frozen=True)
class _Filter:
    """The filters of one page: a predicate on a task in memory, and the same filters for the store's SQL."""

    states: frozenset[TaskState] | None
    kinds: frozenset[TaskKind] | None
    name: str | None
    since: float | None

    def __call__(self, t: Task) -> bool:
        return (
            (self.states is None or t.state in self.states)
            and (self.kinds is None or t.kind in self.kinds)
            and (self.name is None or fnmatchcase(t.name, self.name))
            and (self.since is None or t.created >= self.since)
        )
