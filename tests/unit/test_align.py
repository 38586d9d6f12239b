"""The Aligner: which blocks make a run, dummies for gaps, windows, the end of a stream."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from fission.core.base import reset
from fission.core.pipes import BytesPipe, PicklePipe
from fission.runtime.align import DONE, READY, Aligner


def pipes(*block_counts: int, mode: str = "prev") -> list[PicklePipe]:
    """One pipe per block count (ids 1, 2, ...), with the given dummy mode."""
    reset()  # hypothesis runs many examples per test; each makes its own pipe classes
    made = []
    for index, count in enumerate(block_counts, start=1):
        cls = type(f"P{count}{mode}", (PicklePipe,), {"BLOCK_COUNT": count, "DUMMY_MODE": mode})
        made.append(cls(index))
    return made


def drain(aligner: Aligner) -> tuple[list[list], int]:
    """Pop every ready run; return them and what the aligner wants next."""
    runs = []
    while (state := aligner.wanting()) == READY:
        runs.append(aligner.pop())
    return runs, state


def feed(aligner: Aligner, events: Sequence[tuple]) -> tuple[list[list], int]:
    """Apply ``(index, seq, value)`` pushes and ``(index, "end", count)`` ends in order,
    popping every run as soon as it is ready, and stopping at DONE, as the job loop does."""
    runs: list[list] = []
    state = None
    for index, seq, value in events:
        if seq == "end":
            aligner.end(index, value)
        else:
            aligner.push(index, seq, value)
        popped, state = drain(aligner)
        runs += popped
        if state == DONE:
            break
    return runs, state


def test_single_input_runs_once_per_block():
    aligner = Aligner(pipes(1))
    assert aligner.wanting() == 0
    aligner.push(0, 0, "a")
    assert aligner.wanting() == READY
    assert aligner.pop() == ["a"]
    assert aligner.next_run == 1
    assert aligner.wanting() == 0
    aligner.push(0, 1, "b")
    assert drain(aligner) == ([["b"]], 0)


def test_three_inputs_are_aligned_by_sequence_number():
    aligner = Aligner(pipes(1, 1, 1))
    # Input 2 runs ahead, input 0 lags: runs still combine blocks of one sequence number.
    events = [(2, s, f"c{s}") for s in range(3)] + [(1, 0, "b0"), (1, 1, "b1")]
    runs, state = feed(aligner, events)
    assert runs == [] and state == 0
    runs, state = feed(aligner, [(0, 0, "a0"), (0, 1, "a1"), (1, 2, "b2"), (0, 2, "a2")])
    assert runs == [["a0", "b0", "c0"], ["a1", "b1", "c1"], ["a2", "b2", "c2"]]
    assert aligner.dummies == [0, 0, 0]


def test_the_input_wanted_is_one_without_a_block():
    aligner = Aligner(pipes(1, 1))
    aligner.push(0, 0, "a")
    assert aligner.wanting() == 1


def test_block_count_windows_start_at_the_first_block_and_never_skip_or_repeat():
    aligner = Aligner(pipes(5))
    runs, state = feed(aligner, [(0, s, s) for s in range(12)])
    assert runs == [[[0, 1, 2, 3, 4]], [[5, 6, 7, 8, 9]]]
    assert state == 0
    runs, state = feed(aligner, [(0, s, s) for s in range(12, 15)])
    assert runs == [[[10, 11, 12, 13, 14]]]
    assert aligner.dummies == [0]


def test_a_window_pipe_next_to_a_single_block_pipe():
    aligner = Aligner(pipes(5, 1))
    events = [(0, s, s) for s in range(10)] + [(1, 0, "x"), (1, 1, "y")]
    runs, _ = feed(aligner, events)
    assert runs == [[[0, 1, 2, 3, 4], "x"], [[5, 6, 7, 8, 9], "y"]]


def test_a_gap_on_one_input_repeats_its_previous_value_in_prev_mode():
    aligner = Aligner(pipes(1, 1))
    events = [(0, 0, "a0"), (1, 0, "b0"), (0, 1, "a1"), (1, 1, "b1"),
              (0, 3, "a3"), (1, 2, "b2"), (1, 3, "b3")]
    runs, _ = feed(aligner, events)
    assert runs == [["a0", "b0"], ["a1", "b1"], ["a1", "b2"], ["a3", "b3"]]
    assert aligner.dummies == [1, 0]


def test_the_first_run_is_the_first_window_every_input_holds_from_its_start():
    """A job placed again in a failover gets the blocks its producers remember, and
    their memories begin at different blocks: the windows before the latest beginning
    are skipped, never run on a dummy of an input that has not begun (None here)."""
    aligner = Aligner(pipes(1, 1))
    runs, _ = feed(aligner, [(0, s, f"a{s}") for s in range(10, 16)]
                   + [(1, s, f"b{s}") for s in range(13, 16)])
    assert runs == [["a13", "b13"], ["a14", "b14"], ["a15", "b15"]]
    assert aligner.dummies == [0, 0]
    assert aligner.stale == [3, 0]  # a10 .. a12: their round was lost on input 1


def test_the_first_run_starts_at_a_whole_window():
    aligner = Aligner(pipes(5, 1))
    runs, _ = feed(aligner, [(0, s, s) for s in range(7, 15)] + [(1, 1, "x1"), (1, 2, "x2")])
    assert runs == [[[10, 11, 12, 13, 14], "x2"]]  # window 1 (5-9) began before block 7
    assert aligner.stale == [3, 1] and aligner.dummies == [0, 0]


def test_a_gap_after_the_common_start_moves_it_on():
    aligner = Aligner(pipes(1, 1))
    runs, _ = feed(aligner, [(0, 5, "a5"), (0, 8, "a8"), (1, 2, "b2"), (1, 6, "b6"),
                             (1, 8, "b8")])
    assert runs == [["a8", "b8"]]  # from 5, input 0 has nothing of round 6: start at 8
    assert aligner.dummies == [0, 0]


def test_zero_mode_uses_the_pipes_zero():
    aligner = Aligner([BytesPipe(1, 3), PicklePipe(2)])
    events = [(0, 0, b"abc"), (1, 0, "x0"), (1, 1, "x1"), (0, 2, b"def"), (1, 2, "x2")]
    runs, _ = feed(aligner, events)
    assert runs == [[b"abc", "x0"], [b"\x00\x00\x00", "x1"], [b"def", "x2"]]
    assert aligner.dummies == [1, 0]


def test_zero_mode_on_a_pickle_pipe():
    aligner = Aligner([*pipes(1, mode="zero"), PicklePipe(9)])
    runs, _ = feed(aligner, [(0, 0, "a0"), (1, 0, 0), (1, 1, 1), (0, 2, "a2"), (1, 2, 2)])
    assert runs == [["a0", 0], [None, 1], ["a2", 2]]


def test_a_gap_inside_a_window_is_filled_with_dummies():
    aligner = Aligner(pipes(5))
    runs, _ = feed(aligner, [(0, 0, 0), (0, 1, 1), (0, 3, 3), (0, 4, 4)])
    assert runs == [[[0, 1, 1, 3, 4]]]
    assert aligner.dummies == [1]


def test_a_gap_on_every_input_is_skipped_without_dummies():
    aligner = Aligner(pipes(1, 1))
    events = [(0, 0, "a0"), (1, 0, "b0"), (0, 3, "a3"), (1, 3, "b3")]
    runs, _ = feed(aligner, events)
    assert runs == [["a0", "b0"], ["a3", "b3"]]
    assert aligner.dummies == [0, 0]
    assert aligner.next_run == 4


def test_a_missing_window_on_every_input_is_skipped():
    aligner = Aligner(pipes(5))
    runs, _ = feed(aligner, [(0, s, s) for s in [*range(5), *range(10, 15)]])
    assert runs == [[[0, 1, 2, 3, 4]], [[10, 11, 12, 13, 14]]]
    assert aligner.dummies == [0]


def test_the_end_inside_a_window_is_done_and_the_window_is_not_run():
    aligner = Aligner(pipes(5))
    runs, state = feed(aligner, [(0, s, s) for s in range(7)] + [(0, "end", 7)])
    assert runs == [[[0, 1, 2, 3, 4]]]
    assert state == DONE
    assert aligner.leftover() == 2


def test_the_end_of_one_input_ends_the_job_after_its_last_block():
    aligner = Aligner(pipes(1, 1))
    events = [(1, s, s) for s in range(5)] + [(0, s, s) for s in range(3)] + [(0, "end", 3)]
    runs, state = feed(aligner, events)
    assert runs == [[0, 0], [1, 1], [2, 2]]
    assert state == DONE
    assert aligner.leftover() == 2


def test_an_end_right_after_a_window_is_done():
    aligner = Aligner(pipes(1))
    runs, state = feed(aligner, [(0, 0, "a"), (0, "end", 1)])
    assert runs == [["a"]] and state == DONE


def test_an_input_that_has_ended_is_never_wanted_again():
    """Block 9 never arrived (say it could not be unpacked), then the END says 10 were sent.
    Nothing more can come on input 0, so the aligner must not wait for it: waiting would
    hang the job forever."""
    aligner = Aligner(pipes(5))
    runs, _ = feed(aligner, [(0, s, s) for s in range(9)] + [(0, "end", 10)])
    assert runs[0] == [[0, 1, 2, 3, 4]]
    assert aligner.wanting() in (READY, DONE)


def test_max_queue_drops_the_oldest_blocks_and_counts_them():
    aligner = Aligner(pipes(1, 1), max_queue=3)
    for seq in range(6):
        aligner.push(0, seq, seq)
    assert aligner.dropped == [3, 0]
    runs, _ = feed(aligner, [(1, 3, "b3"), (1, 4, "b4")])
    assert runs == [[3, "b3"], [4, "b4"]]
    assert aligner.dummies == [0, 0]


def test_stale_and_duplicate_blocks_are_counted_and_ignored():
    aligner = Aligner(pipes(1))
    assert feed(aligner, [(0, 0, "a")])[0] == [["a"]]
    aligner.push(0, 0, "again")  # already run
    aligner.push(0, 3, "d")
    aligner.push(0, 3, "dup")  # duplicate
    aligner.push(0, 2, "late")  # older than one waiting
    assert aligner.stale == [3]
    assert drain(aligner) == ([["d"]], 0)


# -- properties -----------------------------------------------------------------------------


@st.composite
def streams(draw, gaps: bool):
    """Per input: a BLOCK_COUNT and the in-order sequence numbers its producer delivers,
    then one arrival interleaving of all of them (each stream followed by its END)."""
    inputs = draw(st.integers(1, 3))
    counts = [draw(st.integers(1, 3)) for _ in range(inputs)]
    seqs = []
    for _ in range(inputs):
        length = draw(st.integers(0, 16))
        if gaps:
            seqs.append(sorted(draw(st.sets(st.integers(0, length), max_size=length))))
        else:
            seqs.append(list(range(length)))
    return counts, seqs


def arrival(draw_index, seqs: list[list[int]]) -> list[tuple]:
    """The events of ``seqs`` interleaved by ``draw_index(n)`` (which of n streams goes next)."""
    pending = [[(i, s, (i, s)) for s in stream] + [(i, "end", (stream[-1] + 1) if stream else 0)]
               for i, stream in enumerate(seqs)]
    events = []
    while any(pending):
        live = [queue for queue in pending if queue]
        events.append(live[draw_index(len(live))].pop(0))
    return events


def expected_runs(counts: list[int], seqs: list[list[int]]) -> list[list]:
    """What the aligner must produce, computed from the definition in its docstring."""
    seqs = [[s for s in stream if s >= first_run(counts, seqs) * counts[i]]
            for i, stream in enumerate(seqs)]
    present = [set(stream) for stream in seqs]
    windows = sorted({s // counts[i] for i, stream in enumerate(seqs) for s in stream})
    runs = []
    for run in windows:
        if any(not stream or stream[-1] < (run + 1) * counts[i] - 1
               for i, stream in enumerate(seqs)):
            break  # some input ended before completing this window: done
        values = []
        for i, count in enumerate(counts):
            window = []
            for seq in range(run * count, (run + 1) * count):
                if seq in present[i]:
                    window.append((i, seq))
                else:  # 'prev': the latest block before it (the first run begins with one)
                    window.append((i, max(s for s in present[i] if s < seq)))
            values.append(window[0] if count == 1 else window)
        runs.append(values)
    return runs


def first_run(counts: list[int], seqs: list[list[int]]) -> int:
    """The first window every input holds from its start (0 if some input has none)."""
    start = 0
    while True:
        fronts = [[s for s in stream if s >= start * count]
                  for stream, count in zip(seqs, counts, strict=True)]
        if not all(fronts):
            return start
        first = max(-(-front[0] // count) for front, count in zip(fronts, counts, strict=True))
        if first == start:
            return start
        start = first


@given(streams(gaps=True), st.data())
def test_any_arrival_order_gives_the_runs_of_the_definition(case, data):
    counts, seqs = case
    events = arrival(lambda n: data.draw(st.integers(0, n - 1)), seqs)
    aligner = Aligner(pipes(*counts))
    runs, state = feed(aligner, events)
    assert state == DONE
    assert runs == expected_runs(counts, seqs)
    if runs:  # else the job may have ended before looking at every input
        start = first_run(counts, seqs)
        assert aligner.stale == [sum(s < start * count for s in stream)
                                 for stream, count in zip(seqs, counts, strict=True)]


@given(streams(gaps=True), st.data())
def test_two_arrival_orders_give_the_same_runs(case, data):
    counts, seqs = case
    first = feed(Aligner(pipes(*counts)), arrival(lambda n: 0, seqs))
    second = feed(Aligner(pipes(*counts)),
                  arrival(lambda n: data.draw(st.integers(0, n - 1)), seqs))
    assert first == second


@given(streams(gaps=False), st.data())
def test_without_gaps_there_are_no_dummies(case, data):
    counts, seqs = case
    aligner = Aligner(pipes(*counts))
    runs, state = feed(aligner, arrival(lambda n: data.draw(st.integers(0, n - 1)), seqs))
    assert state == DONE
    assert aligner.dummies == [0] * len(counts)
    complete = [len(stream) // count for stream, count in zip(seqs, counts, strict=True)]
    assert len(runs) == min(complete)


def test_rewind_forgets_waiting_blocks_so_new_values_take_their_place():
    aligner = Aligner(pipes(1, 1))
    runs, _ = feed(aligner, [(0, 0, "old0"), (1, 0, "b0")] + [(0, s, f"old{s}") for s in (1, 2, 3)])
    assert runs == [["old0", "b0"]]
    # The producer of input 0 was replaced and sends blocks 2 and on again, anew.
    assert aligner.rewind(0, 2) == 2
    runs, _ = feed(aligner, [(0, 2, "new2"), (1, 1, "b1"), (1, 2, "b2")])
    assert runs == [["old1", "b1"], ["new2", "b2"]]
    assert aligner.stale == [0, 0]


def test_rewind_never_goes_back_before_the_current_run():
    aligner = Aligner(pipes(5))
    runs, _ = feed(aligner, [(0, s, s) for s in range(7)])
    assert runs == [[[0, 1, 2, 3, 4]]]
    assert aligner.rewind(0, 3) == 5  # run 0 (blocks 0-4) has run already
    runs, _ = feed(aligner, [(0, s, -s) for s in range(5, 10)])
    assert runs == [[[-5, -6, -7, -8, -9]]]
