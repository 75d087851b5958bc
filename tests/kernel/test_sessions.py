"""Sessions: limits, capabilities, expiry with a fake clock, exclusive locks."""

from __future__ import annotations

import pytest

from executive.kernel.errors import ErrorCode, LimitError, LockedError, NotFoundError
from executive.kernel.sessions import SessionManager


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock | None = None, **kw):  # type: ignore[no-untyped-def]
    args = {"max_sessions": 2, "idle_s": 10.0, "max_locks": 2}
    args.update(kw)
    return SessionManager(clock=clock or Clock(), **args)


def test_open_grants_known_capabilities_and_warns_on_others() -> None:
    m = make()
    s, warnings = m.open(client="t", capabilities=["events", "teleport", "events"])
    assert s.capabilities == ["events"] and warnings == ["unsupported_capability:teleport"]


def test_session_limit() -> None:
    m = make()
    m.open(client="a", capabilities=None)
    m.open(client="b", capabilities=None)
    with pytest.raises(LimitError) as info:
        m.open(client="c", capabilities=None)
    assert info.value.code is ErrorCode.SESSION_LIMIT and len(m) == 2


def test_idle_sessions_expire_and_activity_keeps_them() -> None:
    clock = Clock()
    m = make(clock)
    a, _ = m.open(client="a", capabilities=None)
    b, _ = m.open(client="b", capabilities=None)
    clock.now += 8
    m.get(a.id)  # activity
    clock.now += 5
    assert [s.id for s in m.expire()] == [b.id]
    with pytest.raises(NotFoundError) as info:
        m.get(b.id)
    assert info.value.code is ErrorCode.SESSION_NOT_FOUND
    assert m.get(a.id) is a


def test_locks_are_exclusive_and_released_on_close() -> None:
    m = make()
    a, _ = m.open(client="a", capabilities=None)
    b, _ = m.open(client="b", capabilities=None)
    m.lock(a, 5)
    m.check_control(5, a.id)
    with pytest.raises(LockedError):
        m.check_control(5, b.id)
    with pytest.raises(LockedError):
        m.check_control(5, None)
    with pytest.raises(LockedError):
        m.lock(b, 5)
    m.close(a.id)
    m.check_control(5, None)
    m.lock(b, 5)
    assert m.lock_owner(5) == b.id


def test_lock_limit_per_session() -> None:
    m = make()
    a, _ = m.open(client="a", capabilities=None)
    m.lock(a, 1)
    m.lock(a, 2)
    with pytest.raises(LimitError):
        m.lock(a, 3)
    m.unlock(a, 1)
    m.lock(a, 3)
