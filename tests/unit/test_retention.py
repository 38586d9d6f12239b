"""Retention: what an output keeps until it is acknowledged, bounded in blocks and bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.runtime.retention import Retention
from fission.wire.frame import decode, encode


def _frame(seq: int, size: int = 10) -> bytes:
    return encode(7, seq, b"x" * size)


def _seqs(frames: list[bytes]) -> list[int]:
    return [decode(frame, 7)[2] for frame in frames]


def test_it_is_full_at_its_block_bound_and_room_comes_only_with_acknowledgements():
    kept = Retention(max_blocks=3, max_bytes=10**9)
    assert kept.keep(_frame(0)) and kept.keep(_frame(1))
    assert not kept.keep(_frame(2))  # the third fills it: the producer waits now
    assert kept.full and len(kept) == 3
    kept.acknowledge(1)
    assert not kept.full and _seqs(kept.since(0)) == [1, 2]


def test_bytes_bound_it_too_and_one_block_bigger_than_that_is_still_kept():
    kept = Retention(max_blocks=100, max_bytes=1000)
    assert kept.keep(_frame(0, 400)) and kept.keep(_frame(1, 400))
    assert not kept.keep(_frame(2, 400))
    assert kept.full and kept.bytes == 3 * len(_frame(0, 400))
    kept.acknowledge(3)
    assert len(kept) == 0 and kept.bytes == 0 and not kept.full
    assert not kept.keep(_frame(3, 5000))  # alone over the bound: kept, then wait
    assert _seqs(kept.since(0)) == [3]


def test_acknowledgements_never_go_back_and_replays_start_where_asked():
    kept = Retention(max_blocks=100, max_bytes=10**9)
    for seq in range(10):
        kept.keep(_frame(seq))
    kept.acknowledge(4)
    kept.acknowledge(2)  # late and lower: changes nothing
    assert kept.acknowledged == 4 and kept.first() == 4 and kept.next_seq() == 10
    assert _seqs(kept.since(7)) == [7, 8, 9]
    assert _seqs(kept.since(0)) == list(range(4, 10))


def test_a_disabled_retention_keeps_nothing_and_is_never_full():
    kept = Retention(max_blocks=1, max_bytes=1, enabled=False)
    assert all(kept.keep(_frame(seq, 100)) for seq in range(5))
    assert len(kept) == 0 and not kept.full and kept.next_seq() is None


def test_clear_forgets_everything_for_a_finished_consumer():
    kept = Retention(max_blocks=2, max_bytes=10**9)
    kept.keep(_frame(0))
    kept.keep(_frame(1))
    kept.clear()
    assert not kept.full and kept.bytes == 0 and kept.keep(_frame(2)) and len(kept) == 0


@given(st.lists(st.one_of(st.tuples(st.just("send"), st.integers(1, 300)),
                          st.tuples(st.just("ack"), st.integers(0, 60))), max_size=80),
       st.integers(1, 8), st.integers(1, 1500))
def test_nothing_unacknowledged_is_ever_dropped_and_the_bounds_hold(steps, blocks, size):
    """Whatever is sent and acknowledged, the frames kept are exactly those sent and not
    acknowledged since (an acknowledgement drops what is kept below it); a producer that
    waits whenever the retention is full never holds more than its bounds plus the one
    frame that filled it."""
    kept = Retention(max_blocks=blocks, max_bytes=size)
    held: list[tuple[int, int]] = []  # (seq, frame length) a correct retention holds
    sent = 0
    for kind, value in steps:
        if kind == "send":
            if kept.full:
                continue  # the producer waits: it sends nothing until room is made
            frame = _frame(sent, value)
            kept.keep(frame)
            held.append((sent, len(frame)))
            sent += 1
        elif value > kept.acknowledged:
            kept.acknowledge(value)
            held = [(seq, length) for seq, length in held if seq >= value]
        assert _seqs(kept.since(0)) == [seq for seq, _ in held]
        assert kept.bytes == sum(length for _, length in held)
        assert len(kept) <= blocks
        if len(kept) > 1:
            assert kept.bytes < size + max(length for _, length in held)


def test_below_its_floor_it_is_never_full_whatever_the_bytes():
    kept = Retention(max_blocks=100, max_bytes=1000, floor=3)
    assert kept.keep(_frame(0, 5000)) and kept.keep(_frame(1, 5000))
    assert not kept.full  # two blocks, ten times the bytes bound: room for the third
    assert not kept.keep(_frame(2, 5000)) and kept.full
    kept.acknowledge(1)
    assert not kept.full and kept.keep(_frame(3, 5000)) is False


def test_a_floor_below_one_block_is_refused():
    with pytest.raises(ValueError, match="at least 1 block"):
        Retention(max_blocks=4, max_bytes=10, floor=0)


@given(st.lists(st.one_of(st.tuples(st.just("send"), st.integers(1, 3000)),
                          st.tuples(st.just("ack"), st.integers(0, 60))), max_size=80),
       st.integers(1, 8), st.integers(1, 1500), st.integers(1, 12))
def test_with_a_floor_a_waiting_producer_keeps_at_least_the_floor_and_drops_nothing(
        steps, blocks, size, floor):
    """A producer that sends whenever the retention is not full gets ``floor`` blocks kept
    before it first waits, whatever their bytes; beyond the floor the bounds hold as
    without one; nothing unacknowledged is ever dropped."""
    kept = Retention(max_blocks=blocks, max_bytes=size, floor=floor)
    held: list[tuple[int, int]] = []
    sent = 0
    for kind, value in steps:
        if kind == "send":
            if kept.full:
                assert len(kept) >= floor  # it waits only once the floor is kept
                continue
            frame = _frame(sent, value)
            room = kept.keep(frame)
            held.append((sent, len(frame)))
            sent += 1
            assert room == (not kept.full)
            if len(held) < floor:
                assert room
        elif value > kept.acknowledged:
            kept.acknowledge(value)
            held = [(seq, length) for seq, length in held if seq >= value]
        assert _seqs(kept.since(0)) == [seq for seq, _ in held]
        assert kept.bytes == sum(length for _, length in held)
        assert len(kept) <= max(blocks, floor)
        if len(kept) > floor:
            assert kept.bytes < size + max(length for _, length in held)
