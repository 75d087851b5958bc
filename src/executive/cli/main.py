"""The `executive` entry point: the quick commands without typer, everything else through the typer app.

`ps`, `status`, `logs`, `top`, `pause`, `resume`, `cancel`, `stop`, `kill` and `completion`
run from cli/quick.py, which imports only the standard library and a small blocking client,
and so does `run` with its common options (cli/quick_run.py); any other command (and
`executive --help`) loads the full typer app of cli/app.py.
"""

from __future__ import annotations

import sys

__all__ = ["app"]


def _split_globals(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--home DIR`` / ``--home=DIR`` before the command, and the rest of the command line."""
    home = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--home" and i + 1 < len(argv):
            home = argv[i + 1]
            i += 2
        elif arg.startswith("--home="):
            home = arg[len("--home=") :]
            i += 1
        else:
            break
    return home, argv[i:]


def app(prog_name: str = "executive") -> None:
    """Run the command line in ``sys.argv``; exits the process with the command's exit code."""
    home, rest = _split_globals(sys.argv[1:])
    if rest[:1] in (["--version"], ["-V"]):
        from executive import __version__

        sys.stdout.write(f"executive {__version__}\n")
        sys.exit(0)
    if rest:
        from executive.cli.quick import COMMANDS, main

        if rest[0] in COMMANDS:
            sys.exit(main(rest, home=home))
        if rest[0] == "run":  # the common form of `run` without typer (cli/quick_run.py); None: typer's
            from executive.cli import quick_run

            code = quick_run.main(rest[1:], home=home)
            if code is not None:
                sys.exit(code)
    from executive.cli.app import build_app

    build_app(rest[0] if rest else None)(prog_name=prog_name)
