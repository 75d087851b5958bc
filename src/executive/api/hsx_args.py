"""Leaf helpers of the HSX TCP port: the error type, argument coercion, the call record.

Every command handler of the HSX line-JSON protocol (spec hsx-executive §3)
receives a :class:`Call` and returns the reply fields (a dict without
``version``/``status``).  Failures are :class:`HsxError` with the exact error
text of spec §2.6 (``pid_locked:3``, ``unknown_cmd:foo``, ``bp requires
'pid'``), or any :class:`~executive.kernel.errors.ExecutiveError`, which the
core turns into text once, at the boundary (hsx_protocol.error_text).

Integer arguments follow spec §2.4 with the §13 #23 fix: numbers, decimal
strings and ``0x`` strings are accepted everywhere (also for ``peek``/``poke``
``addr``); booleans are not integers.  This module imports nothing above it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from executive.api.hsx_protocol import HsxConnection, HsxCore
    from executive.service import Executive

__all__ = ["Call", "HsxError", "bool_arg", "int_arg", "opt_int", "pid_list", "require", "shown", "str_arg", "to_int"]


class HsxError(Exception):
    """A command failure whose text goes to the client verbatim as ``error`` (spec §2.2)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclasses.dataclass(slots=True)
class Call:
    """One request being served: who asked, on which connection, with which arguments."""

    core: HsxCore
    conn: HsxConnection | None  # None when a request is served outside a connection (tests)
    cmd: str  # lower-cased command name
    args: dict[str, Any]  # the whole request object
    session: str | None  # a validated, live session id, or None

    @property
    def ex(self) -> Executive:
        return self.core.ex

    def get(self, *names: str, default: Any = None) -> Any:
        """The first of ``names`` present (and not null) in the request."""
        for n in names:
            v = self.args.get(n)
            if v is not None:
                return v
        return default


_SHOWN_CHARS = 80  # characters of a client's value an error text quotes


def shown(value: Any) -> str:
    """A client's value as an error text quotes it: short (never the whole input), and an array or
    object by its type only (its repr could be megabytes, or nested past the recursion limit)."""
    if isinstance(value, (list, dict)):
        return f"<{'array' if isinstance(value, list) else 'object'}>"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}…"


def to_int(value: Any, what: str) -> int:
    """An integer from a JSON number, a decimal string or a ``0x``/``0o``/``0b`` string.

    Raises:
        HsxError: ``invalid <what> '<value>': expected an integer (decimal or 0x hex)``.
    """
    if isinstance(value, bool):
        raise HsxError(f"invalid {what} {shown(value)}: expected an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 0)
        except ValueError:
            try:
                return int(text, 10)  # "010" is decimal 10 for the reference's int()
            except ValueError:
                pass
    raise HsxError(f"invalid {what} {shown(value)}: expected an integer (decimal or 0x hex)")


def int_arg(call: Call, *names: str, default: int | None = None, required: bool = True) -> int:
    """A required integer argument (the first of ``names`` given); ``<cmd> requires '<name>'`` if absent."""
    value = call.get(*names)
    if value is None or value == "":
        if default is not None or not required:
            return default  # type: ignore[return-value]
        raise HsxError(f"{call.cmd} requires '{names[0]}'")
    return to_int(value, names[0])


def opt_int(call: Call, *names: str) -> int | None:
    """An optional integer argument, None when absent or empty."""
    value = call.get(*names)
    if value is None or value == "":
        return None
    return to_int(value, names[0])


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def bool_arg(value: Any, what: str) -> bool:
    """A boolean from JSON true/false, 0/1 or on/off/true/false/yes/no strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise HsxError(f"invalid {what} {shown(value)}: expected on/off or true/false")


def str_arg(call: Call, *names: str, required: bool = True) -> str | None:
    """A string argument; ``<cmd> requires '<name>'`` when required and absent or empty."""
    value = call.get(*names)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise HsxError(f"{call.cmd} requires '{names[0]}'")
        return None
    if not isinstance(value, str):
        raise HsxError(f"invalid {names[0]} {shown(value)}: expected a string")
    return value


def require(call: Call, name: str) -> Any:
    """The raw value of a required argument."""
    value = call.args.get(name)
    if value is None:
        raise HsxError(f"{call.cmd} requires '{name}'")
    return value


def pid_list(value: Any, what: str) -> list[int]:
    """An int or a list of ints (``pid_lock``, ``filters.pid``), de-duplicated and sorted."""
    items = value if isinstance(value, (list, tuple)) else [value]
    out: set[int] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise HsxError(f"{what} must contain integer PIDs")
        try:
            out.add(to_int(item, what))
        except HsxError:
            raise HsxError(f"{what} must contain integer PIDs") from None
    return sorted(out)
