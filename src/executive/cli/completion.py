"""Shell completion scripts (bash, zsh, fish): commands, sub-commands, options and live task names.

The scripts are generated from the commands themselves (the typer app and the quick
commands' parsers), so they list what this version has.  Task names come from
``executive ps --names`` (a quick command) each time Tab is pressed after a command
that takes a task.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

__all__ = ["TASK_COMMANDS", "script"]

# Commands whose first argument is a task id or name.
TASK_COMMANDS = ("status", "logs", "pause", "resume", "cancel", "stop", "kill", "debug")
_GLOBAL = ("--home", "--version", "--help")


@dataclass
class _Command:
    name: str
    help: str
    options: list[str] = field(default_factory=list)
    subcommands: dict[str, _Command] = field(default_factory=dict)


def _quick_commands() -> dict[str, _Command]:
    from executive.cli.quick import COMMANDS, parser

    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, help_ in COMMANDS.items():
        opts = [o for a in sub.choices[name]._actions for o in a.option_strings if a.help != argparse.SUPPRESS]
        out[name] = _Command(name, help_, sorted(set(opts)))
    return out


def _click_command(name: str, cmd: object) -> _Command:
    params = getattr(cmd, "params", [])
    opts = sorted({o for p in params for o in [*p.opts, *p.secondary_opts] if o.startswith("-")} | {"--help"})
    help_ = (getattr(cmd, "short_help", None) or getattr(cmd, "help", None) or "").strip().split("\n")[0]
    out = _Command(name, help_, opts)
    for sub_name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        out.subcommands[sub_name] = _click_command(sub_name, sub)
    return out


def commands() -> dict[str, _Command]:
    """Every top-level command with its options and sub-commands."""
    import typer.main

    from executive.cli.app import build_app

    group = typer.main.get_command(build_app())
    quick = _quick_commands()
    out: dict[str, _Command] = {}
    for name, cmd in getattr(group, "commands", {}).items():
        out[name] = quick[name] if name in quick else _click_command(name, cmd)
    return dict(sorted(out.items()))


def _bash() -> str:
    cmds = commands()
    cases = []
    for name, c in cmds.items():
        if c.subcommands:
            cases.append(f'        "{name}/") words="{" ".join([*c.subcommands, *c.options])}" ;;')
            for sub_name, s in c.subcommands.items():
                cases.append(f'        "{name}/{sub_name}") words="{" ".join(s.options)}" ;;')
        else:
            cases.append(f'        "{name}/"*) words="{" ".join(c.options)}" ;;')
    tasks = "|".join(TASK_COMMANDS)
    return f"""# executive completion for bash: add to ~/.bashrc:  eval "$(executive completion bash)"
_executive_complete() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} cmd="" sub="" words="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            --home) ((i++)) ;;
            -*) ;;
            *) if [[ -z $cmd ]]; then cmd=${{COMP_WORDS[i]}}; elif [[ -z $sub ]]; then sub=${{COMP_WORDS[i]}}; fi ;;
        esac
    done
    if [[ -z $cmd ]]; then
        words="{" ".join([*cmds, *_GLOBAL])}"
    else
        case "$cmd/$sub" in
{chr(10).join(cases)}
        esac
        case $cmd in
            {tasks}) [[ $cur != -* ]] && words="$words $(executive ps --names 2>/dev/null)" ;;
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F _executive_complete executive
"""


def _zsh() -> str:
    return (
        '# executive completion for zsh: add to ~/.zshrc:  eval "$(executive completion zsh)"\n'
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + _bash().split("\n", 1)[1]
    )


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_options(condition: str, options: list[str]) -> list[str]:
    lines = []
    for o in options:
        flag = f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}"
        lines.append(f"complete -c executive -n {_fish_quote(condition)} {flag}")
    return lines


def _fish() -> str:
    cmds = commands()
    lines = ["# executive completion for fish: executive completion fish > ~/.config/fish/completions/executive.fish"]
    lines.append("complete -c executive -f")
    lines += _fish_options("__fish_use_subcommand", list(_GLOBAL))
    for name, c in cmds.items():
        lines.append(f"complete -c executive -n __fish_use_subcommand -a {name} -d {_fish_quote(c.help[:80])}")
        seen = f"__fish_seen_subcommand_from {name}"
        lines += _fish_options(seen, c.options)
        for sub_name, s in c.subcommands.items():
            lines.append(f"complete -c executive -n {_fish_quote(seen)} -a {sub_name} -d {_fish_quote(s.help[:80])}")
            lines += _fish_options(f"{seen}; and __fish_seen_subcommand_from {sub_name}", s.options)
    tasks = " ".join(TASK_COMMANDS)
    lines.append(
        f"complete -c executive -n '__fish_seen_subcommand_from {tasks}' -a '(executive ps --names 2>/dev/null)'"
    )
    return "\n".join(lines) + "\n"


def script(shell: str) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell]()
