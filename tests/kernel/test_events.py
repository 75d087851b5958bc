"""EventBus: seq, filters, drop-oldest with a warning, ACK windows, replay."""

from __future__ import annotations

from executive.kernel.events import EventBus


def _drain(sub, n=10_000, b=10**9):  # type: ignore[no-untyped-def]
    return sub.drain(n, b)


def test_seq_is_global_and_strictly_increasing() -> None:
    bus = EventBus()
    seqs = [bus.publish("a", 1, {}).seq for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5] and bus.last_seq == 5


def test_filters_by_type_and_task() -> None:
    bus = EventBus()
    sub = bus.subscribe(types=["x"], pids=[2])
    bus.publish("x", 1, {})
    bus.publish("y", 2, {})
    want = bus.publish("x", 2, {"k": 1})
    got = _drain(sub)
    assert [e.seq for e in got] == [want.seq] and got[0].data == {"k": 1}


def test_overflow_drops_oldest_then_warns_with_count_and_first_seq() -> None:
    bus = EventBus()
    sub = bus.subscribe(max_events=3)
    evs = [bus.publish("output", None, {"i": i}) for i in range(10)]
    got = _drain(sub)
    assert got[0].type == "warning"
    assert got[0].data["reason"] == "events_dropped"
    assert got[0].data["dropped"] == 7 and got[0].data["first_dropped_seq"] == evs[0].seq
    assert got[0].data["last_dropped_seq"] == evs[6].seq
    assert [e.data["i"] for e in got[1:]] == [7, 8, 9]
    # The warning stands in for the last dropped event: the stream's seqs stay increasing.
    assert got[0].seq == evs[6].seq
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    bus.publish("output", None, {"i": 10})
    again = _drain(sub)
    assert [e.type for e in again] == ["output"]  # warning delivered once


def test_byte_bound_drops_oldest() -> None:
    bus = EventBus()
    sub = bus.subscribe(max_events=1000, max_bytes=3000)
    for i in range(10):
        bus.publish("output", 1, {"i": i}, size=1000)
    got = _drain(sub)
    assert got[0].type == "warning" and got[0].data["dropped"] >= 7
    assert got[-1].data["i"] == 9


def test_drain_respects_batch_limits() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    for i in range(10):
        bus.publish("output", 1, {"i": i}, size=100)
    assert len(sub.drain(4, 10**9)) == 4
    assert len(sub.drain(100, 250)) == 2  # 100 + 100, the third would pass 250
    assert len(sub.drain(100, 10**9)) == 4


def test_ack_window_holds_events_until_acked() -> None:
    bus = EventBus()
    sub = bus.subscribe(ack_window=2)
    evs = [bus.publish("e", None, {}) for _ in range(5)]
    assert [e.seq for e in _drain(sub)] == [evs[0].seq, evs[1].seq]
    assert not sub.ready() and _drain(sub) == []
    sub.ack(evs[0].seq)
    assert [e.seq for e in _drain(sub)] == [evs[2].seq]
    sub.ack(evs[2].seq)
    assert [e.seq for e in _drain(sub)] == [evs[3].seq, evs[4].seq]


def test_notify_fires_on_empty_to_nonempty_edge() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    calls = []
    sub.notify = lambda: calls.append(1)
    bus.publish("e", None, {})
    bus.publish("e", None, {})
    assert calls == [1]
    _drain(sub)
    bus.publish("e", None, {})
    assert calls == [1, 1]


def test_since_seq_replays_matching_history() -> None:
    bus = EventBus()
    evs = [bus.publish("t" if i % 2 else "u", 1, {"i": i}) for i in range(6)]
    sub = bus.subscribe(types=["t"], since_seq=evs[1].seq)
    got = _drain(sub)
    assert [e.data["i"] for e in got] == [3, 5]
    live = bus.publish("t", 1, {"i": 6})
    assert [e.seq for e in _drain(sub)] == [live.seq]


def test_replay_gap_is_reported() -> None:
    bus = EventBus(history_events=3)
    evs = [bus.publish("e", None, {"i": i}) for i in range(6)]
    sub = bus.subscribe(since_seq=0)
    got = _drain(sub)
    assert got[0].type == "warning" and got[0].data["reason"] == "replay_gap"
    assert got[0].data["missing_from"] == 1 and got[0].data["missing_to"] == evs[2].seq
    assert got[0].seq == evs[2].seq
    assert [e.data["i"] for e in got[1:]] == [3, 4, 5]


def test_replay_gap_survives_a_replay_that_overflows_the_ring() -> None:
    bus = EventBus(history_events=5)
    for i in range(8):
        bus.publish("output", None, {"i": i})
    sub = bus.subscribe(since_seq=0, max_events=2)
    got = _drain(sub)
    assert [(e.type, e.data.get("reason")) for e in got[:2]] == [
        ("warning", "replay_gap"),
        ("warning", "events_dropped"),
    ]
    assert [e.data["i"] for e in got[2:]] == [6, 7]
    assert [e.seq for e in got] == sorted(e.seq for e in got)


def test_seqs_continue_after_a_lease() -> None:
    leases: list[int] = []
    bus = EventBus()
    bus.resume_from(5000, leases.append, step=3)
    assert leases == [5003]
    seqs = [bus.publish("e", None, {}).seq for _ in range(4)]
    assert seqs == [5001, 5002, 5003, 5004]
    assert leases == [5003, 5006]  # extended before 5003 was handed out


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.unsubscribe(sub.id)
    bus.publish("e", None, {})
    assert sub.closed and _drain(sub) == []


# --- control events are never dropped for output (issue 20) ----------------------------------


def test_a_flood_of_output_never_drops_task_state() -> None:
    bus = EventBus()
    sub = bus.subscribe(max_events=4, max_bytes=10**9)
    ends = []
    for pid in range(1, 9):
        bus.publish("task_state", pid, {"to": "running"})
        for i in range(50):
            bus.publish("output", pid, {"stream": "stdout", "offset": i * 10, "data": "x" * 10}, size=10)
        ends.append(bus.publish("task_state", pid, {"to": "ended"}).seq)
    got = _drain(sub)
    assert [e.seq for e in got if e.type == "task_state" and e.data["to"] == "ended"] == ends
    assert sum(e.type == "task_state" for e in got) == 16
    assert [e.seq for e in got] == sorted({e.seq for e in got})  # strictly increasing, warnings included
    assert sum(e.type == "output" for e in got) == 4  # the bulk ring kept its newest four


def test_the_drop_warning_names_the_output_to_reread_and_comes_after_older_state() -> None:
    bus = EventBus()
    sub = bus.subscribe(max_events=2)
    first_state = bus.publish("task_state", 7, {"to": "running"})
    out = [bus.publish("output", 7, {"stream": "stdout", "offset": 100 * i, "data": "y"}) for i in range(5)]
    err = bus.publish("output", 7, {"stream": "stderr", "offset": 0, "data": "z"})
    got = _drain(sub)
    assert got[0].seq == first_state.seq  # older than every dropped event: delivered before the warning
    warning = got[1]
    assert warning.type == "warning" and warning.seq == out[3].seq
    assert warning.data["dropped"] == 4 and warning.data["first_dropped_seq"] == out[0].seq
    assert warning.data["reread"] == [{"task": 7, "stream": "stdout", "offset": 0}]
    assert [e.seq for e in got[2:]] == [out[4].seq, err.seq]


def test_the_control_lane_has_its_own_bound_and_reports_what_it_lost() -> None:
    bus = EventBus()
    sub = bus.subscribe(max_events=2, max_control=3)
    evs = [bus.publish("task_state", i, {"to": "ended"}) for i in range(5)]
    got = _drain(sub)
    assert got[0].type == "warning" and got[0].data["control_dropped"] == 2 and got[0].data["dropped"] == 2
    assert got[0].seq == evs[1].seq
    assert [e.seq for e in got[1:]] == [e.seq for e in evs[2:]]


def test_ack_window_applies_to_both_lanes_in_seq_order() -> None:
    bus = EventBus()
    sub = bus.subscribe(ack_window=2)
    a = bus.publish("output", 1, {"stream": "stdout", "offset": 0, "data": "a"})
    b = bus.publish("task_state", 1, {"to": "ended"})
    c = bus.publish("output", 1, {"stream": "stdout", "offset": 1, "data": "c"})
    assert [e.seq for e in _drain(sub)] == [a.seq, b.seq]
    assert _drain(sub) == []
    sub.ack(b.seq)
    assert [e.seq for e in _drain(sub)] == [c.seq]


def _ranges_sub(bus: EventBus, **kw):  # type: ignore[no-untyped-def]
    return bus.subscribe(output_ranges=True, **kw)


def test_output_ranges_keep_the_place_of_output_over_the_byte_bound() -> None:
    """A subscription with output_ranges drops nothing to its byte bound: the oldest output
    becomes ranges of the log, one per stream while contiguous, in seq order with the rest."""
    bus = EventBus()
    sub = _ranges_sub(bus, max_bytes=3000)
    first = [bus.publish_output(1, "stdout", i * 1000, b"a" * 1000) for i in range(3)]
    state = bus.publish("task_state", 1, {"to": "paused"})
    rest = [bus.publish_output(1, "stdout", (3 + i) * 1000, b"b" * 1000) for i in range(5)]
    err = bus.publish_output(1, "stderr", 0, b"e" * 10)
    assert sub.stats()["buffered_bytes"] <= 3000 + 64 * 10
    got = _drain(sub)
    assert not any(e.type == "warning" for e in got)
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    at_state = got.index(state)  # output never moves across a state event
    assert all(e.offset < 3000 for e in got[:at_state]) and all(e.offset >= 3000 for e in got[at_state + 1 : -1])
    ranges = [e for e in got if type(e).__name__ == "OutputRange"]
    assert len(ranges) == 4 and ranges[-1].seq == rest[0].seq and ranges[-1].size == 3000  # contiguous ones merged
    assert ranges[0].seq == first[0].seq
    # Every byte is accounted for, stream by stream, contiguous from offset 0.
    at = 0
    for e in got:
        if e.type == "output" and e.stream == "stdout":
            assert e.offset == at
            at += e.size
    assert at == 8000 and got[-1].seq == err.seq
    assert sub.stats()["buffered_bytes"] == 0 and sub.pending == 0


def test_output_ranges_split_at_their_size_cap_and_at_a_gap() -> None:
    from executive.kernel.events import RANGE_BYTES

    bus = EventBus()
    sub = _ranges_sub(bus, max_bytes=1)
    step = 64 * 1024
    n = RANGE_BYTES // step + 2
    for i in range(n):
        bus.publish_output(7, "stdout", i * step, b"x" * step)
    bus.publish_output(7, "stdout", n * step + 5, b"y")  # not contiguous: a new range
    bus.publish_output(7, "stdout", n * step + 6, b"z")  # the newest event keeps its bytes
    got = _drain(sub)
    sizes = [(type(e).__name__, e.offset, e.size) for e in got]
    assert sizes == [
        ("OutputRange", 0, RANGE_BYTES),
        ("OutputRange", RANGE_BYTES, n * step - RANGE_BYTES),
        ("OutputRange", n * step + 5, 1),
        ("OutputEvent", n * step + 6, 1),
    ]


def test_output_ranges_past_the_event_bound_are_dropped_with_a_reread_warning() -> None:
    bus = EventBus()
    sub = _ranges_sub(bus, max_bytes=1, max_events=3)
    for t in range(1, 6):  # five tasks: five ranges, one per stream
        bus.publish_output(t, "stdout", 0, b"x" * 100)
        bus.publish_output(t, "stdout", 100, b"x" * 100)
    got = _drain(sub)
    assert got[0].type == "warning"
    # At most three events or ranges held: tasks 4 and 5 (a range and task 5's newest event, whole).
    assert {(r["task"], r["offset"]) for r in got[0].data["reread"]} == {(1, 0), (2, 0), (3, 0)}
    assert [(e.pid, e.offset, e.size) for e in got[1:]] == [(4, 0, 200), (5, 0, 100), (5, 100, 100)]
    assert sub.stats()["buffered_bytes"] == 0


def test_without_output_ranges_output_over_the_byte_bound_is_dropped() -> None:
    bus = EventBus()
    sub = bus.subscribe(max_bytes=1500)
    for i in range(4):
        bus.publish_output(1, "stdout", i * 1000, b"a" * 1000)
    got = _drain(sub)
    assert got[0].type == "warning" and got[0].data["reread"] == [{"task": 1, "stream": "stdout", "offset": 0}]
    assert [e.offset for e in got[1:]] == [3000]
