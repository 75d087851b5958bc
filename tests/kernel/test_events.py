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
    evs = [bus.publish("e", None, {"i": i}) for i in range(10)]
    got = _drain(sub)
    assert got[0].type == "warning"
    assert got[0].data["reason"] == "events_dropped"
    assert got[0].data["dropped"] == 7 and got[0].data["first_dropped_seq"] == evs[0].seq
    assert got[0].data["last_dropped_seq"] == evs[6].seq
    assert [e.data["i"] for e in got[1:]] == [7, 8, 9]
    # The warning stands in for the last dropped event: the stream's seqs stay increasing.
    assert got[0].seq == evs[6].seq
    assert [e.seq for e in got] == sorted(e.seq for e in got)
    bus.publish("e", None, {"i": 10})
    again = _drain(sub)
    assert [e.type for e in again] == ["e"]  # warning delivered once


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
        bus.publish("e", None, {"i": i})
    sub = bus.subscribe(since_seq=0, max_events=2)
    got = _drain(sub)
    assert [(e.type, e.data.get("reason")) for e in got[:2]] == [("warning", "replay_gap"), ("warning", "events_dropped")]
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
