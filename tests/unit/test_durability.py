"""STATE, snapshot()/restore() and the restart policy: checked at load, snapshots kept, backoff.

Pure functions and bookkeeping (fission/core/durability.py, fission/runtime/state.py,
fission/backends/restarts.py, fission/backends/snapshots.py); the processes that use them are
tested in e2e/test_restarts.py and cluster/test_state_failover.py.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.backends.restarts import BACKOFF_FIRST, BACKOFF_MAX, Restarts, backoff
from fission.backends.snapshots import Snapshots
from fission.core.jobs import PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe
from fission.errors import ConfigError, JobError
from fission.runtime import state
from fission.runtime.control import attached, from_text, to_text


def _job(**attributes):
    return type("Tally", (PythonJob,), {"run": lambda self, value: value, **attributes})


def _load(job_class) -> None:
    class Src(PythonJob):
        def run(self):
            yield 1

    Network.from_jobs([Src(outputs=[PicklePipe(1)]), job_class(inputs=[PicklePipe(1)])])


@pytest.mark.parametrize(("attributes", "words"), [
    ({"STATE": "total"}, ["Tally.STATE must be a tuple of attribute names", "'total'"]),
    ({"STATE": ("total", 3)}, ["Tally.STATE must be a tuple"]),
    ({"STATE": ("not a name",)}, ["Tally.STATE must be a tuple"]),
    ({"snapshot": lambda self: 1}, ["Tally defines snapshot() without restore(state)"]),
    ({"restore": lambda self, s: None}, ["Tally defines restore() without snapshot()"]),
    ({"STATE": ("a",), "snapshot": lambda self: 1, "restore": lambda self, s: None},
     ["Tally names STATE and defines snapshot()/restore() too"]),
    ({"RESTART": "always"}, ["Tally.RESTART must be one of 'never', 'on-failure'", "'always'"]),
    ({"RESTART": True}, ["Tally.RESTART must be one of"]),
    ({"MAX_RESTARTS": -1}, ["Tally.MAX_RESTARTS must be an int >= 0 (got -1)"]),
    ({"MAX_RESTARTS": True}, ["Tally.MAX_RESTARTS must be an int >= 0"]),
    ({"RESTART_WINDOW": 0}, ["Tally.RESTART_WINDOW must be a number of seconds > 0"]),
    ({"RESTART_WINDOW": "60"}, ["Tally.RESTART_WINDOW must be a number"]),
    ({"RESTART_WINDOW": math.nan}, ["Tally.RESTART_WINDOW must be a number"]),
])
def test_malformed_state_or_restart_policy_is_a_config_error_naming_the_job(attributes, words):
    with pytest.raises(ConfigError) as caught:
        _load(_job(**attributes))
    for word in words:
        assert word in str(caught.value)


def test_well_formed_attributes_load():
    _load(_job(STATE=("total", "count"), RESTART="on-failure", MAX_RESTARTS=0,
               RESTART_WINDOW=0.5))
    _load(_job(snapshot=lambda self: 1, restore=lambda self, s: None, RESTART="never"))


def test_state_attributes_are_captured_and_restored():
    tally = _job(STATE=("total", "seen"))()
    tally.total, tally.seen, tally.other = 41, [1, 2], "not state"
    data = state.capture(tally)
    fresh = _job(STATE=("total", "seen"))()
    fresh.other = "kept"
    state.restore(fresh, data)
    assert (fresh.total, fresh.seen, fresh.other) == (41, [1, 2], "kept")
    state.restore(fresh, None)  # no snapshot yet: the job keeps what setup made
    assert fresh.total == 41


def test_snapshot_and_restore_methods_carry_any_state():
    class Custom(PythonJob):
        def __init__(self):
            super().__init__()
            self.history = {"a": 1}

        def snapshot(self):
            return ("v1", self.history)

        def restore(self, saved):
            self.history = saved[1]

        def run(self, value):
            return value

    job = Custom()
    job.history["b"] = 2
    other = Custom()
    state.restore(other, state.capture(job))
    assert other.history == {"a": 1, "b": 2}


def test_unpicklable_state_fails_the_job_naming_it():
    job = _job(STATE=("fn",))()
    job.id, job.fn = 4, lambda: None
    with pytest.raises(JobError, match=r"Tally 4: its state cannot be snapshotted .*picklable"):
        state.capture(job)


class _Small(PicklePipe):
    RETAIN_BLOCKS = 48


class _Window(PicklePipe):
    BLOCK_COUNT = 4
    RETAIN_BLOCKS = 400


def test_snapshot_interval_is_an_eighth_of_the_smallest_retention_window_in_runs():
    # A PicklePipe's producer keeps up to RETAIN_BLOCKS = 16384 blocks: 2048 runs.
    assert state.interval(_job()(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)])) == 2048
    assert state.MAX_INTERVAL == 2048 and state.FIRST_INTERVAL == 128
    assert state.interval(_job()(inputs=[PicklePipe(3)], outputs=[_Small(5)])) == 6  # 48 // 8
    assert state.interval(_job()(inputs=[_Window(4)])) == 12  # 400 blocks are 100 runs
    tiny = type("Tiny", (PicklePipe,), {"RETAIN_BLOCKS": 1})
    assert state.interval(_job()(inputs=[tiny(6)])) == 1


def test_snapshots_are_sized_by_the_bytes_their_runs_take():
    mib = 2**20
    # Small blocks: the block bound holds.
    assert state.resized(2048, 128, [(64 * mib, 128 * 100)]) == 2048
    # 1 MiB a run, 64 MiB retained: an eighth of 64 runs.
    assert state.resized(2048, 128, [(64 * mib, 128 * mib)]) == 8
    # The smallest window of any pipe, never below one run; no runs or bytes: blocks.
    assert state.resized(2048, 10, [(64 * mib, 10), (mib, 10 * mib)]) == 1
    assert state.resized(300, 0, [(mib, 0)]) == state.resized(300, 5, [(mib, 0)]) == 300


@given(st.integers(1, 4096), st.integers(1, 10_000), st.integers(1, 2**30),
       st.integers(1, 2**30))
def test_a_sized_interval_of_runs_fits_an_eighth_of_the_retained_bytes(by_blocks, runs,
                                                                       retain, taken):
    every = state.resized(by_blocks, runs, [(retain, taken)])
    assert 1 <= every <= by_blocks
    assert every == 1 or every * taken * state.PER_WINDOW <= retain * runs


def test_state_travels_as_bytes_and_back_through_a_json_message():
    job = _job(STATE=("total",))()
    job.total = 12
    data = state.capture(job)
    assert isinstance(data, bytes)
    fresh = _job(STATE=("total",))()
    state.restore(fresh, from_text(to_text(data)))
    assert fresh.total == 12 and to_text(None) is None and from_text(None) is None
    assert attached([b"id", data, b"{}"]) == data and attached([b"id", b"{}"]) is None


@given(st.integers(min_value=1, max_value=10_000))
def test_backoff_doubles_from_half_a_second_up_to_ten(attempt):
    delay = backoff(attempt)
    assert BACKOFF_FIRST <= delay <= BACKOFF_MAX
    assert delay == min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(attempt - 1, 10))
    assert backoff(attempt + 1) >= delay


def test_backoff_values():
    assert [backoff(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    with pytest.raises(ValueError):
        backoff(0)


def test_never_restarts_by_default():
    assert Restarts(_job()()).after_failure(0.0) is None


@given(st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=40),
       st.integers(min_value=0, max_value=5), st.floats(min_value=0.1, max_value=100))
def test_at_most_max_restarts_within_any_window(gaps, limit, window):
    restarts = Restarts(_job(RESTART="on-failure", MAX_RESTARTS=limit, RESTART_WINDOW=window)())
    now, granted = 0.0, []
    for gap in gaps:
        now += gap
        delay = restarts.after_failure(now)
        if delay is not None:
            granted.append(now)
            recent = [t for t in granted if now - t < window]
            assert delay == backoff(len(recent))
    for time in granted:  # no window holds more than MAX_RESTARTS granted restarts
        assert sum(1 for t in granted if time <= t < time + window) <= limit
    assert restarts.attempts == len(granted)


def test_restarts_allowed_again_once_the_window_has_passed():
    restarts = Restarts(_job(RESTART="on-failure", MAX_RESTARTS=2, RESTART_WINDOW=10)())
    assert [restarts.after_failure(t) for t in (0, 1, 2)] == [0.5, 1.0, None]
    assert restarts.after_failure(10.5) == 1.0  # the one at 0 has left the window


def test_snapshots_kept_give_the_newest_a_replacement_can_use():
    kept = Snapshots()
    assert kept.latest() == (0, None) and kept.oldest() == 0
    for seq in range(10, 70, 10):
        kept.add(seq, f"s{seq}")
    kept.add(55, "late, of a replaced copy")
    assert kept.latest() == (60, "s60")
    assert kept.latest(before=45) == (40, "s40")
    assert kept.latest(before=5) == (0, None)  # older than any kept: start afresh
    assert kept.oldest() == 70 - 10 * Snapshots.KEPT
    kept.restart_from(40)
    kept.add(50, "new copy's")
    assert kept.latest() == (50, "new copy's")
