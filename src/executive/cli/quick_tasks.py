"""Quick task commands: ps (with filters, CPU and memory), status, top, pause/resume/cancel/stop/kill.

``ps`` reads one page of ``task.list`` (service/task_history.py), never the whole
history: by default every live task and the newest ``--limit`` ended ones; with
``--all``, ``--state`` or ``--before`` one page of the newest ``--limit`` matching
tasks below ``--before``.  When there are more it says on stderr how to see them,
so the rows on stdout stay whole for ``grep``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from executive.cli import exit_codes
from executive.cli._program_state import program_suffix
from executive.cli._term import Cell, clean, render_table, terminal_width, use_colour
from executive.cli.quick import QuickError, with_client

__all__ = ["add_cancel", "add_control", "add_ps", "add_status", "add_top", "fmt_bytes", "live_tasks", "task_ref"]

STATES = ("queued", "starting", "running", "paused", "stopping", "ended")
LIVE = ("queued", "starting", "running", "paused", "stopping")
KINDS = ("process", "agent", "vm")
_RECENT_ENDED = 20  # ended tasks plain `ps` shows (beside every live one)
_PAGE = 100  # tasks one page of `ps --all` / `--state` / `--before` shows
_MAX_PAGE = 1000  # the daemon's largest page (limits.max_task_page)


def task_ref(ref: str) -> int | str:
    return int(ref) if ref.isdigit() else ref


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}G"


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "-"


def _fmt_duration(t: dict[str, Any]) -> str:
    if not t.get("started"):
        return "-"
    secs = (t.get("ended") or time.time()) - t["started"]
    if secs < 120:
        return f"{secs:.1f}s"
    if secs < 7200:
        return f"{secs / 60:.1f}m"
    return f"{secs / 3600:.1f}h"


def _state_cell(t: dict[str, Any]) -> Cell:
    """The STATE cell: the task's state and, for the latest run of a program, the program's (↻ ...)."""
    text, colour = _task_state(t)
    suffix = program_suffix(t)
    if suffix.endswith("FATAL"):
        colour = "red"
    return (text + suffix, colour)


def _task_state(t: dict[str, Any]) -> tuple[str, str]:
    st = t["state"]
    if st == "ended":
        reason = t.get("end_reason") or "ended"
        if t.get("exit_code") is not None:
            ok = t["exit_code"] == 0 and reason == "exited"
            return (f"{reason} ({t['exit_code']})", "green" if ok else "red")
        if t.get("signal"):
            return (f"{reason} (sig {t['signal']})", "red")
        return (reason, "red")
    if st == "paused" and t.get("pause_reason"):
        return (f"paused ({t['pause_reason']})", "yellow")
    return (st, {"running": "cyan", "queued": "dim"}.get(st, ""))


def _node(t: dict[str, Any]) -> str:
    """The Ray node of a task (12 hex digits, as `executive nodes` shows it); ``placing`` before it has one."""
    meta = t.get("meta") or {}
    if meta.get("node"):
        return str(meta["node"])[:12]
    return "placing" if (meta.get("placement") or {}).get("on") == "ray" and t["state"] != "ended" else "-"


def _command(t: dict[str, Any]) -> str:
    return " ".join(t.get("argv") or []) or (t.get("image") or "")


def _filters(args: argparse.Namespace | None) -> dict[str, Any]:
    """The task.list filters of --kind and --name (the daemon applies them)."""
    params: dict[str, Any] = {}
    kinds, name = getattr(args, "kind", None), getattr(args, "name", None)
    if kinds:
        params["kind"] = list(kinds)
    if name:
        params["name"] = name
    return params


def live_tasks(client: Any, args: argparse.Namespace | None = None) -> list[dict[str, Any]]:
    """Every live task matching the filters, oldest first (pages of live tasks: bounded by the queue, not history)."""
    rows: list[dict[str, Any]] = []
    wanted = [s for s in getattr(args, "state", None) or LIVE if s in LIVE]  # `top --state running`
    if not wanted:
        return rows
    params = {**_filters(args), "state": wanted, "limit": _MAX_PAGE}
    while True:
        page = client.call("task.list", **params)
        rows += page["tasks"]
        if page["next"] is None:
            return sorted(rows, key=lambda t: t["id"])
        params["before_id"] = page["next"]


def _paged(args: argparse.Namespace) -> bool:
    """Whether `ps` shows one page of every matching task (--all, --state, --before) rather than the recent view."""
    before = getattr(args, "before", None)
    return bool(getattr(args, "all", False) or getattr(args, "state", None) or before is not None)


def _fetch(client: Any, args: argparse.Namespace) -> tuple[list[dict[str, Any]], str | None]:
    """The rows `ps` shows, oldest first, and a line saying how to see more (None: nothing more).

    By default every live task and the newest ``--limit`` ended ones; with --all, --state or
    --before one page of the newest ``--limit`` matching tasks below --before.
    """
    limit = getattr(args, "limit", None)
    if not _paged(args):
        n = _RECENT_ENDED if limit is None else limit
        page = client.call("task.list", **_filters(args), state="ended", limit=n)
        rows = sorted(live_tasks(client, args) + page["tasks"], key=lambda t: t["id"])
        more = None
        if page["next"] is not None:
            more = f"the newest {n} ended tasks are shown; older ones: {_again(args, page['next'], ['ended'])}"
        return rows, more
    n = _PAGE if limit is None else limit
    params = {**_filters(args), "limit": n}
    if getattr(args, "state", None):
        params["state"] = list(args.state)
    if getattr(args, "before", None) is not None:
        params["before_id"] = args.before
    page = client.call("task.list", **params)
    more = None
    if page["next"] is not None:
        more = f"{len(page['tasks'])} tasks shown; older ones: {_again(args, page['next'])}"
    return sorted(page["tasks"], key=lambda t: t["id"]), more


def _again(args: argparse.Namespace, before: int, states: list[str] | None = None) -> str:
    """The `ps` command line of the next page: the same filters (or ``states``), one page further back."""
    import shlex

    parts = ["executive", "ps"]
    states = states or getattr(args, "state", None) or []
    if not states:
        parts.append("--all")
    for state in states:
        parts += ["--state", state]
    for kind in getattr(args, "kind", None) or []:
        parts += ["--kind", kind]
    if getattr(args, "name", None):
        parts += ["--name", args.name]
    if getattr(args, "limit", None) is not None:
        parts += ["--limit", str(args.limit)]
    parts += ["--before", str(before)]
    return shlex.join(parts)


def _stats(client: Any, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    ids = [t["id"] for t in rows if t["state"] in ("running", "paused", "stopping") and t.get("pid")]
    if not ids:
        return {}
    return dict(client.call("task.stats", tasks=ids)["tasks"])


def _table(rows: list[dict[str, Any]], stats: dict[str, dict[str, Any]], width: int | None) -> list[str]:
    wide = width is None or width >= 100  # PID and STARTED only where they fit
    remote = any(_node(t) != "-" for t in rows)  # NODE only when some task runs on a Ray cluster
    cols = ["ID", "NAME", "KIND", "STATE"] + (["NODE"] if remote else []) + (["PID", "STARTED"] if wide else [])
    cols += ["TIME", "CPU%", "RSS", "COMMAND"]
    body: list[list[Cell]] = []
    for t in rows:
        s = stats.get(str(t["id"]))
        cells: list[Cell] = [str(t["id"]), t["name"], t["kind"], _state_cell(t)] + ([_node(t)] if remote else [])
        if wide:
            cells += [str(t.get("pid") or "-"), _fmt_time(t.get("started"))]
        cells += [_fmt_duration(t)]
        cells += [f"{s['cpu_percent']:.1f}", fmt_bytes(s["rss"])] if s and s.get("procs") else ["-", "-"]
        cells.append(_command(t)[:500])
        body.append(cells)
    return render_table(cols, body, width=width, colours=use_colour(sys.stdout))


def _print(lines: list[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", action="append", choices=STATES, help="Only tasks in this state; repeatable.")
    p.add_argument("--kind", action="append", choices=KINDS, help="Only tasks of this kind; repeatable.")
    p.add_argument("--name", metavar="GLOB", help="Only tasks whose name matches GLOB (e.g. 'build-*').")


# -- ps --------------------------------------------------------------------------


def _page_size(text: str) -> int:
    n = int(text)
    if not 1 <= n <= _MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be 1..{_MAX_PAGE}")
    return n


def _task_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError("must be a task id")
    return int(text)


def add_ps(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-a",
        "--all",
        action="store_true",
        help=f"Tasks in every state, one page: the newest --limit (default {_PAGE}); --before pages back.",
    )
    add_filters(p)
    p.add_argument(
        "--limit",
        type=_page_size,
        metavar="N",
        help=f"Tasks in the page (default: {_RECENT_ENDED} ended ones beside the live ones; {_PAGE} with "
        f"--all, --state or --before; at most {_MAX_PAGE}).",
    )
    p.add_argument(
        "--before", type=_task_id, metavar="ID", help="Only tasks older than task ID (the next page, as ps says)."
    )
    p.add_argument(
        "--json", action="store_true", help="Print the rows as JSON (with cpu_percent and rss of live ones)."
    )
    p.add_argument("--names", action="store_true", help=argparse.SUPPRESS)  # task names only (shell completion)
    p.set_defaults(run=_ps)


def _ps(args: argparse.Namespace) -> int:
    def go(client: Any) -> int:
        rows, more = _fetch(client, args)
        if args.names:
            _print([t["name"] for t in rows])
            return 0
        if more:  # on stderr: the rows on stdout stay whole for grep and JSON parsers
            sys.stderr.write(f"{more}\n")
        stats = _stats(client, rows)
        if args.json:
            for t in rows:
                s = stats.get(str(t["id"]))
                t["cpu_percent"], t["rss"] = (s["cpu_percent"], s["rss"]) if s and s.get("procs") else (None, None)
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return 0
        if not rows:
            filtered = args.state or args.kind or args.name
            if args.before is not None:
                line = f"no tasks before task {args.before}" + (" match the filters" if filtered else "")
            elif filtered:
                line = "no tasks match the filters"
            else:
                line = "no tasks; start one with `executive run -- CMD`"
            _print([line])
            return 0
        _print(_table(rows, stats, terminal_width()))
        return 0

    return with_client(args.home, go)


# -- status ----------------------------------------------------------------------


def add_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", nargs="?", help="Task id or name (default: every live task, one line each).")
    p.add_argument("--json", action="store_true", help="Print the task (with cpu_percent and rss) as JSON.")
    p.set_defaults(run=_status)


def _detail(t: dict[str, Any], s: dict[str, Any] | None) -> list[tuple[str, str]]:
    import shlex

    state = _state_cell(t)
    out = [
        ("task", f"{t['id']} ({t['name']})"),
        ("kind", t["kind"]),
        ("state", state[0] if isinstance(state, tuple) else state),
    ]
    if t.get("end_detail"):
        out.append(("detail", t["end_detail"]))
    if t.get("argv"):
        out.append(("command", shlex.join(t["argv"])))
    if t.get("image"):
        out.append(("image", t["image"]))
    if t.get("cwd"):
        out.append(("cwd", t["cwd"]))
    out.append(("pid", str(t.get("pid") or "-")))
    for key in ("created", "started", "ended"):
        if t.get(key):
            out.append((key, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t[key]))))
    out.append(("time", _fmt_duration(t)))
    if t.get("exit_code") is not None:
        out.append(("exit code", str(t["exit_code"])))
    if t.get("signal"):
        out.append(("signal", str(t["signal"])))
    if s and s.get("procs"):
        out.append(("cpu", f"{s['cpu_percent']:.1f}% over {s['procs']} process(es)"))
        out.append(("memory", f"{fmt_bytes(s['rss'])} RSS"))
    sizes = t.get("output_bytes")
    if sizes:
        out.append(("output", f"stdout {fmt_bytes(sizes['stdout'])}, stderr {fmt_bytes(sizes['stderr'])}"))
    if t.get("owner"):
        out.append(("owner", t["owner"]))
    if t.get("locked_by"):
        out.append(("locked by", t["locked_by"]))
    return out


def _status(args: argparse.Namespace) -> int:
    def go(client: Any) -> int:
        if args.task is None:
            rows = live_tasks(client, args)
            if args.json:
                sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            elif not rows:
                _print(["no live tasks"])
            else:
                _print(_table(rows, _stats(client, rows), terminal_width()))
            return 0
        t = client.call("task.info", task=task_ref(args.task))
        s = _stats(client, [t]).get(str(t["id"]))
        if args.json:
            t["cpu_percent"], t["rss"] = (s["cpu_percent"], s["rss"]) if s and s.get("procs") else (None, None)
            sys.stdout.write(json.dumps(t, indent=2) + "\n")
            return 0
        pairs = _detail(t, s)
        width = max(len(k) for k, _ in pairs)
        _print([f"{k + ':':<{width + 1}} {clean(v)}" for k, v in pairs])
        return 0

    return with_client(args.home, go)


# -- top -------------------------------------------------------------------------


def add_top(p: argparse.ArgumentParser) -> None:
    add_filters(p)
    p.add_argument("--interval", type=float, default=2.0, help="Seconds between refreshes (default 2, at least 0.2).")
    p.add_argument("-n", "--iterations", type=int, default=0, help="Stop after N refreshes (default: until q/Ctrl-C).")
    p.set_defaults(run=_top)


def _top(args: argparse.Namespace) -> int:
    from executive.cli.quick_top import run_top

    if args.interval < 0.2:
        raise QuickError("--interval must be at least 0.2 seconds", exit_codes.USAGE)
    if args.iterations < 0:
        raise QuickError("--iterations must be >= 0", exit_codes.USAGE)

    def frame(client: Any, width: int | None) -> list[str]:
        rows = live_tasks(client, args)
        stats = _stats(client, rows)
        rows.sort(key=lambda t: -(stats.get(str(t["id"]), {}).get("cpu_percent") or 0.0))
        cpu = sum(s.get("cpu_percent", 0.0) for s in stats.values())
        rss = sum(s.get("rss", 0) for s in stats.values())
        now = time.strftime("%H:%M:%S")
        head = f"executive top  {now}  {len(rows)} live task(s)  cpu {cpu:.1f}%  rss {fmt_bytes(rss)}"
        return [head, ""] + (_table(rows, stats, width) if rows else ["no live tasks"])

    return with_client(args.home, lambda client: run_top(client, frame, args.interval, args.iterations))


# -- pause / resume / kill / cancel / stop ---------------------------------------

_CONTROL = {
    "pause": ("task.pause", "paused"),
    "resume": ("task.resume", "resumed"),
    "cancel": ("task.cancel", "cancelling"),
    "stop": ("task.cancel", "cancelling"),
    "kill": ("task.kill", "killed"),
}


def add_control(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="Task id or name.")
    p.set_defaults(run=_control)


def add_cancel(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", nargs="?", help="Task id or name.")
    p.add_argument("--all", action="store_true", help="Every live task (asks first unless --yes).")
    p.add_argument("-y", "--yes", action="store_true", help="Do not ask before --all.")
    p.set_defaults(run=_control)


def _control(args: argparse.Namespace) -> int:
    method, verb = _CONTROL[args.command]
    every = getattr(args, "all", False)
    if every and args.task:
        raise QuickError("give a task or --all, not both", exit_codes.USAGE)
    if not every and not args.task:
        raise QuickError(f"`executive {args.command}` needs a task id or name (or --all)", exit_codes.USAGE)

    def go(client: Any) -> int:
        if not every:
            t = client.call(method, task=task_ref(args.task))
            _print([f"{verb} task {t['id']} ({t['name']}): {t['state']}"])
            return 0
        live = live_tasks(client, args)
        if not live:
            _print(["no live tasks"])
            return 0
        if not args.yes:
            _confirm(
                f"{args.command} {len(live)} live task(s): {', '.join(t['name'] for t in live[:10])}"
                f"{' …' if len(live) > 10 else ''}?"
            )
        from executive.api.rpc_errors import RpcError

        lines = []
        for t in live:
            try:
                r = client.call(method, task=t["id"])
            except RpcError as exc:
                if exit_codes.for_rpc_error(exc.code) == exit_codes.USAGE:  # it ended meanwhile
                    continue
                raise
            lines.append(f"{verb} task {r['id']} ({r['name']}): {r['state']}")
        _print(lines)
        return 0

    return with_client(args.home, go)


def _confirm(question: str) -> None:
    """Ask on the terminal; refuse without one (a script says --yes)."""
    if not sys.stdin.isatty():
        raise QuickError(
            "--all asks for confirmation on a terminal; add --yes to run it from a script", exit_codes.USAGE
        )
    sys.stderr.write(f"{clean(question)} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise QuickError("nothing done", exit_codes.ERROR)
