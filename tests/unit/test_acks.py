"""Acknowledgements: which blocks of each pipe no replay can need any more (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fission.backends.acks import (
    Acknowledgements,
    Link,
    Shape,
    blocks_before_acknowledgement,
    check_retention,
    needed,
    restart_floors,
    run_floors,
)
from fission.backends.snapshots import Snapshots
from fission.core.jobs import PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe
from fission.errors import ConfigError


def _chain(*windows: int) -> Shape:
    """Jobs 0 -> 1 -> ... in a line; pipe i runs from job i to job i + 1."""
    links = {pipe: Link(pipe, pipe + 1, window) for pipe, window in enumerate(windows)}
    return Shape(links, {job: (job,) if job < len(windows) else () for job in
                         range(len(windows) + 1)})


def test_a_sinks_progress_acknowledges_what_it_ran_through_stateless_jobs():
    shape = _chain(1, 1, 1)  # source 0 -> 1 -> 2 -> sink 3
    progress = {1: {0: 500}, 2: {1: 480}, 3: {2: 100}}
    assert needed(shape, progress, {}) == {0: 100, 1: 100, 2: 100}


def test_windows_map_sequence_numbers_through_each_job():
    shape = _chain(1, 5, 2)  # job 2 takes 5 blocks a run, the sink 2
    progress = {1: {0: 1000}, 2: {1: 500}, 3: {2: 40}}  # the sink ran 20 runs
    # The sink needs block 40 of pipe 2 on: run 40 of job 2, which takes block 200 of
    # pipe 1 on: run 200 of job 1, block 200 of pipe 0.
    assert needed(shape, progress, {}) == {0: 200, 1: 200, 2: 40}


def test_a_snapshot_covers_the_blocks_before_it_and_stops_the_recursion():
    shape = _chain(1, 1, 1)
    progress = {1: {0: 500}, 2: {1: 400}, 3: {2: 90}}
    # Job 2 has state: its replacement restores the latest snapshot no later than run 90
    # (what the sink needs), 80, and is sent pipe 1 again from there.
    need = needed(shape, progress, {2: [40, 80, 120]})
    assert need == {0: 80, 1: 80, 2: 90}
    assert needed(shape, progress, {2: []})[1] == 0  # no snapshot yet: everything
    assert needed(shape, progress, {2: [95, 120]})[1] == 95  # none early enough: the oldest


def test_an_optional_input_acknowledges_what_its_consumer_took():
    links = {1: Link(0, 2), 2: Link(1, 2, optional=True), 3: Link(2, 3)}
    shape = Shape(links, {0: (1,), 1: (2,), 2: (3,), 3: ()})
    need = needed(shape, {2: {1: 50, 2: 77}, 3: {3: 30}}, {})
    assert need == {1: 30, 2: 77, 3: 30}


def test_nothing_said_yet_acknowledges_nothing():
    assert needed(_chain(1, 3), {}, {}) == {0: 0, 1: 0}


@st.composite
def _networks(draw):
    """A random DAG of jobs with windows, optional pipes, state, snapshots and progress."""
    count = draw(st.integers(2, 7))
    links, outputs = {}, {job: [] for job in range(count)}
    pipe = 0
    for consumer in range(1, count):
        for source in draw(st.sets(st.integers(0, consumer - 1), min_size=1, max_size=3)):
            links[pipe] = Link(source, consumer, draw(st.integers(1, 4)),
                               draw(st.booleans()) and draw(st.booleans()))
            outputs[source].append(pipe)
            pipe += 1
    shape = Shape(links, {job: tuple(pipes) for job, pipes in outputs.items()})
    progress = {job: {p: draw(st.integers(0, 300)) for p, link in links.items()
                      if link.consumer == job} for job in range(count)}
    stateful = draw(st.sets(st.integers(1, count - 1)))
    snapshots = {job: sorted(draw(st.sets(st.integers(0, 100), max_size=4)))
                 for job in stateful}
    finished = draw(st.sets(st.integers(1, count - 1), max_size=2))
    return shape, progress, snapshots, finished


def _first_needed_run(shape: Shape, need: dict[int, int], job: int) -> float:
    return min((need[pipe] for pipe in shape.outputs[job]), default=math.inf)


@given(_networks())
def test_no_block_a_replay_can_need_is_acknowledged(network):
    """What each consumer kind may let go of, and no more."""
    shape, progress, snapshots, finished = network
    need = needed(shape, progress, snapshots, finished)
    for pipe, link in shape.links.items():
        taken = progress[link.consumer].get(pipe, 0)
        down = _first_needed_run(shape, need, link.consumer)
        if link.consumer in finished:
            assert need[pipe] == math.inf  # a finished job is never replaced
        elif link.optional:
            assert need[pipe] == taken
        elif link.consumer in snapshots:
            kept = snapshots[link.consumer]
            run, rest = divmod(need[pipe], link.window)
            assert rest == 0 and run in [*kept, 0]
            # the snapshot a replacement would restore, or older
            assert run <= max([seq for seq in kept if seq <= down] or [kept[0] if kept else 0])
        else:
            assert need[pipe] <= taken  # never what the consumer has not run
            if down != math.inf:  # nor what its consumers have not acknowledged
                assert need[pipe] <= link.window * down


@given(_networks(), st.data())
def test_more_progress_never_takes_an_acknowledgement_back(network, data):
    shape, progress, snapshots, finished = network
    before = needed(shape, progress, snapshots, finished)
    later = {job: {pipe: seq + data.draw(st.integers(0, 50)) for pipe, seq in taken.items()}
             for job, taken in progress.items()}
    more = finished | data.draw(st.sets(st.sampled_from(sorted(shape.outputs)), max_size=2))
    after = needed(shape, later, snapshots, more)
    assert all(after[pipe] >= before[pipe] for pipe in shape.links)


@given(_networks())
def test_consistent_progress_of_stateless_jobs_acknowledges_what_the_sinks_ran(network):
    """Without state, a block is let go once every sink below it has run what it became."""
    shape, progress, _, _ = network
    need = needed(shape, progress, {})

    def sinks_need(pipe: int) -> float:  # the blocks of ``pipe`` some sink below still needs
        link = shape.links[pipe]
        taken = progress[link.consumer].get(pipe, 0)
        if link.optional or not shape.outputs[link.consumer]:
            return taken
        below = min(sinks_need(out) for out in shape.outputs[link.consumer])
        return min(taken, link.window * below)

    assert need == {pipe: sinks_need(pipe) for pipe in shape.links}


class _Count(PythonJob):
    def run(self):
        yield from range(3)


class _Pass(PythonJob):
    def run(self, x):
        return x


def test_a_finished_consumer_holds_nothing_up():
    links = {0: Link(0, 1), 1: Link(1, 2), 2: Link(1, 3)}  # job 1 feeds sinks 2 and 3
    shape = Shape(links, {0: (0,), 1: (1, 2), 2: (), 3: ()})
    progress = {1: {0: 90}, 2: {1: 80}, 3: {2: 10}}
    assert needed(shape, progress, {})[0] == 10  # the slow sink 3 holds pipe 0 back
    assert needed(shape, progress, {}, finished={3}) == {0: 80, 1: 80, 2: math.inf}


def test_the_backend_tells_producers_only_when_their_pipe_moves_on():
    network = Network.from_jobs([_Count(outputs=[PicklePipe(1)]),
                                 _Pass(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
                                 _Pass(inputs=[PicklePipe(2)])])
    first, middle, sink = (job.id for job in network.jobs)
    snapshots = {job.id: Snapshots() for job in network.jobs}
    acks = Acknowledgements(network, snapshots, stateful=frozenset())
    assert acks.progress(middle, {"inputs": {"1": 40}}) == []  # the sink has said nothing yet
    assert acks.progress(sink, {"inputs": {"2": 25}}) == [
        (first, {"op": "covered", "pipe": 1, "seq": 25}),
        (middle, {"op": "covered", "pipe": 2, "seq": 25})]
    assert acks.progress(sink, {"inputs": {"2": 20}}) == []  # a replacement's first report
    assert acks.progress(middle, {"inputs": {"1": 60}}) == []  # nothing new downstream
    assert acks.progress(sink, {"inputs": {"2": 30}}) == [
        (first, {"op": "covered", "pipe": 1, "seq": 30}),
        (middle, {"op": "covered", "pipe": 2, "seq": 30})]


def test_a_stateful_consumers_snapshots_acknowledge_its_inputs():
    network = Network.from_jobs([_Count(outputs=[PicklePipe(1)]),
                                 _Pass(inputs=[PicklePipe(1)])])
    first, sink = (job.id for job in network.jobs)
    snapshots = {job.id: Snapshots() for job in network.jobs}
    acks = Acknowledgements(network, snapshots, stateful=frozenset({sink}))
    assert acks.progress(sink, {"inputs": {"1": 50}}) == []  # no snapshot: a replacement needs all
    snapshots[sink].add(30, b"state")
    assert acks.progress(sink, {"inputs": {"1": 51}}) == [
        (first, {"op": "covered", "pipe": 1, "seq": 30})]


def test_a_stateful_source_keeps_the_snapshot_its_lagging_consumer_needs():
    # The source runs far ahead of a consumer cut off from it: its replacement must
    # restore a snapshot no later than where that consumer is, not start from run 0.
    network = Network.from_jobs([_Count(outputs=[PicklePipe(1)]),
                                 _Pass(inputs=[PicklePipe(1)])])
    source, sink = (job.id for job in network.jobs)
    snapshots = {job.id: Snapshots() for job in network.jobs}
    acks = Acknowledgements(network, snapshots, stateful=frozenset({source}))
    snapshots[source].add(100, b"at 100")
    acks.progress(sink, {"inputs": {"1": 150}})
    for seq in range(200, 2000, 100):
        snapshots[source].add(seq, b"later")
    assert snapshots[source].latest(150) == (100, b"at 100")
    acks.progress(sink, {"inputs": {"1": 1650}})  # the consumer catches up: older ones go
    assert snapshots[source].seqs() == [1600, 1700, 1800, 1900]


def test_snapshots_kept_by_count_unless_held_and_never_beyond_the_limit():
    kept = Snapshots()
    for seq in range(10):
        kept.add(seq, b"")
    assert kept.seqs() == [6, 7, 8, 9]
    kept.hold(7)
    assert kept.seqs() == [6, 7, 8, 9]
    held = Snapshots()
    held.hold(0)
    for seq in range(Snapshots.LIMIT + 10):
        held.add(seq, b"")
    assert held.seqs()[0] == 10 and len(held.seqs()) == Snapshots.LIMIT


def _flow(windows: tuple[int, ...], sent: int) -> dict[int, dict[int, int]]:
    """The progress of a chain (:func:`_chain`) whose source sent ``sent`` blocks and
    whose jobs all ran as far as their inputs allow."""
    progress, blocks = {}, sent
    for pipe, window in enumerate(windows):
        runs = blocks // window
        progress[pipe + 1] = {pipe: runs * window}
        blocks = runs
    return progress


@given(st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple))
def test_the_first_acknowledgement_comes_after_exactly_the_blocks_counted(windows):
    """What :func:`blocks_before_acknowledgement` counts is what :func:`needed` waits for:
    one block fewer acknowledges nothing, that many acknowledges the first block."""
    shape = _chain(*windows)
    count = blocks_before_acknowledgement(shape)[0]
    assert count == math.prod(windows)
    assert needed(shape, _flow(windows, count - 1), {})[0] == 0
    assert needed(shape, _flow(windows, count), {})[0] > 0


def test_the_longest_path_counts_and_an_optional_input_acknowledges_at_once():
    # 0 -> 1 (window 3); 1 -> sink 2 (window 2) and 1 -> 3 (window 5) -> sink 4 (window 4)
    links = {0: Link(0, 1, 3), 1: Link(1, 2, 2), 2: Link(1, 3, 5), 3: Link(3, 4, 4),
             4: Link(0, 4, 7, optional=True)}
    shape = Shape(links, {0: (0, 4), 1: (1, 2), 2: (), 3: (3,), 4: ()})
    assert blocks_before_acknowledgement(shape) == {0: 60, 1: 2, 2: 20, 3: 4, 4: 1}


class _Twenty(PicklePipe):
    BLOCK_COUNT = 20
    RETAIN_BLOCKS = 100


class _Six(PicklePipe):
    BLOCK_COUNT = 6


class _Five(PicklePipe):
    BLOCK_COUNT = 5


def test_a_network_whose_producer_would_wait_forever_is_refused_naming_the_pipe():
    network = Network.from_jobs([_Count(outputs=[_Twenty(31)]),
                                 _Pass(inputs=[_Twenty(31)], outputs=[_Six(32)]),
                                 _Pass(inputs=[_Six(32)])])
    with pytest.raises(ConfigError) as refused:
        check_retention(network, "net/config.py")
    message = str(refused.value)
    assert message.startswith("net/config.py: pipe 31 (_Twenty, _Count 1 -> _Pass 2)")
    assert "120 of them" in message
    assert "RETAIN_BLOCKS of 100" in message and "Raise RETAIN_BLOCKS" in message
    check_retention(Network.from_jobs([_Count(outputs=[_Twenty(33)]),
                                       _Pass(inputs=[_Twenty(33)], outputs=[_Five(34)]),
                                       _Pass(inputs=[_Five(34)])]), "net/config.py")


class _Restarting(_Pass):
    RESTART = "on-failure"


class _Short(PicklePipe):
    RETAIN_BLOCKS = 72  # a snapshot every 9 runs of its consumer


def test_retention_floors_are_what_the_first_acknowledgement_and_a_restart_need():
    """Under run: the blocks sent before the first acknowledgement, on every output;
    under simulate: only into a job that may restart, KEPT snapshot intervals and a run."""
    network = Network.from_jobs([_Count(outputs=[_Five(41)]),
                                 _Pass(inputs=[_Five(41)], outputs=[_Six(42)]),
                                 _Restarting(inputs=[_Six(42)], outputs=[_Short(43)]),
                                 _Restarting(inputs=[_Short(43)])])
    first, second, third, _ = network.jobs
    floors = run_floors(network)
    assert floors[first.id] == {41: 30}  # its window of 5 times the next one's 6
    assert floors[second.id] == {42: 6}
    assert restart_floors(network, first) == {}  # its consumer never restarts: none kept
    # Both restarting jobs snapshot every 9 runs (a pipe of theirs keeps 72 blocks).
    assert restart_floors(network, second) == {42: 6 * (Snapshots.KEPT * 9 + 1)}
    assert restart_floors(network, third) == {43: Snapshots.KEPT * 9 + 1}
