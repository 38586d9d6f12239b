"""SilenceClock: a node's silence counts only the time its listener was listening."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fission.backends.silence import SilenceClock

TICK = 0.1


def _ticks(clock: SilenceClock, start: float, end: float, heard: dict[str, float]) -> dict:
    """Read ``clock`` on time every TICK from ``start`` to ``end``; the last reading."""
    now, silences = start, {}
    while now <= end + 1e-9:
        silences = clock.read(now, heard)
        now += TICK
    return silences


def test_a_node_heard_of_no_more_grows_silent_on_time() -> None:
    clock = SilenceClock(TICK)
    silences = _ticks(clock, 0.0, 2.0, {"a": 0.0})
    assert abs(silences["a"] - 2.0) < 1e-6
    assert clock.deaf < 1e-6


def test_a_stalled_listener_does_not_count_its_stall_against_a_node() -> None:
    """The reading after a 3 s stall sees the last heartbeat 3.1 s old: 0.1 s of silence."""
    clock = SilenceClock(TICK)
    heard = {"a": 1.0, "b": 0.95}
    _ticks(clock, 0.0, 1.0, heard)
    silences = clock.read(4.1, heard)  # due at 1.1, late by 3 s
    assert abs(clock.deaf - 3.0) < 1e-6
    assert silences["a"] < 0.2 and silences["b"] < 0.2
    # The node that stays quiet from then on is silent after as long as ever.
    later = _ticks(clock, 4.2, 5.6, heard)
    assert abs(later["a"] - (5.6 - 1.0 - 3.0)) < 1e-6


def test_a_heartbeat_read_just_before_a_stall_gets_the_stall_not_counted() -> None:
    clock = SilenceClock(TICK)
    _ticks(clock, 0.0, 1.0, {"a": 0.5})
    # Read at 1.05 (before or after the stall that makes this reading late: not known).
    silences = clock.read(3.1, {"a": 1.05})
    assert silences["a"] < TICK


def test_a_node_that_joins_starts_silent_from_its_first_heartbeat() -> None:
    clock = SilenceClock(TICK)
    _ticks(clock, 0.0, 1.0, {"a": 1.0})
    silences = clock.read(3.0, {"a": 1.0, "new": 2.9})  # late by 1.9 s
    assert silences["new"] <= 0.1 + 1e-6
    assert silences["a"] < 0.2
    later = _ticks(clock, 3.1, 4.0, {"a": 1.0, "new": 2.9})
    # Of the stall, only the 0.1 s after its first heartbeat was not counted against it.
    assert abs(later["new"] - (4.0 - 2.9 - 0.1)) < 1e-6


@given(st.lists(st.tuples(st.floats(0.0, 5.0), st.booleans()), min_size=1, max_size=60))
def test_silence_is_never_more_than_the_time_since_the_last_heartbeat(steps) -> None:
    """Whatever the stalls and heartbeats, a node's silence lies between the time since its
    heartbeat less every stall since, and the time since its heartbeat."""
    clock = SilenceClock(TICK)
    now, heard_at, deaf_at_heard = 0.0, 0.0, 0.0
    clock.read(now, {"a": heard_at})
    for lateness, heartbeat in steps:
        deaf_before = clock.deaf
        now += TICK + lateness
        if heartbeat:  # read somewhere in the interval
            heard_at, deaf_at_heard = now - (TICK + lateness) / 2, deaf_before
        silence = clock.read(now, {"a": heard_at})["a"]
        since = now - heard_at
        assert silence <= since + 1e-9
        assert silence >= since - (clock.deaf - deaf_at_heard) - 1e-9
        assert silence >= 0.0
