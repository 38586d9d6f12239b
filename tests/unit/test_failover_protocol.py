"""The failover protocol of ``run`` (fission/backends/failover.py), without processes.

First the exact messages for small networks, event by event, as the lifecycle's
tests do; then hypothesis drives random networks through random faults in a model
of the data flow (tests/unit/dataflow_model.py) and checks what reaches the sinks
against an undisturbed run.
"""

from __future__ import annotations

import random

import pytest
from dataflow_model import PATIENCE, Model
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fission.backends.failover import Failover, Start
from fission.core.base import reset
from fission.core.jobs import PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe
from fission.runtime.control import to_text


class Source(PythonJob):
    def run(self):
        return 1


class CountingSource(Source):
    STATE = ("count",)


class Work(PythonJob):
    def run(self, *values):
        return values[0]


class Total(Work):
    STATE = ("total",)


class Pairs(PicklePipe):
    """Its consumer runs on two blocks at once."""

    BLOCK_COUNT = 2


def _chain() -> Network:
    """source 1 -> work 2 -> sink 3"""
    return Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Work(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
        Work(inputs=[PicklePipe(2)]),
    ])


def _running(failover: Failover, inputs: dict[int, dict[int, str]]) -> None:
    """Start every job and report each ready, with the addresses it bound."""
    failover.start()
    for job_id, bound in inputs.items():
        failover.ready(job_id, 0, bound, 0.0)


CHAIN_INPUTS = {1: {}, 2: {1: "tcp://b:1"}, 3: {2: "tcp://c:2"}}


def test_at_start_each_producer_is_connected_once_both_ends_are_ready():
    failover = Failover(_chain())
    assert failover.start().starts == [Start(1, 0), Start(2, 0), Start(3, 0)]
    assert failover.ready(3, 0, {2: "tcp://c:2"}, 0.0).messages == []
    assert failover.ready(2, 0, {1: "tcp://b:1"}, 0.0).messages == [
        (2, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0})]
    assert failover.ready(1, 0, {}, 0.0).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b:1", "since": 0})]
    assert failover.tick(1.0).messages == []  # nothing twice


def test_a_replaced_job_is_fed_from_where_its_consumer_had_got():
    failover = Failover(_chain())
    _running(failover, CHAIN_INPUTS)
    lost = failover.lost([2], 10.0)
    assert lost.messages == [(3, {"op": "fence", "pipe": 2, "incarnation": 1})]
    assert lost.starts == [Start(2, 1)]
    assert failover.ready(2, 0, {1: "tcp://old:1"}, 10.0).messages == []  # the old copy's
    assert failover.ready(2, 1, {1: "tcp://b2:1"}, 10.5).messages == []  # fence unanswered
    done = failover.fenced(2, 40, 11.0)
    assert done.messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b2:1", "since": 40}),
        (2, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0}),
    ]
    assert done.recovered == [(2, 1.0)]
    assert failover.recovering == frozenset()


def test_a_replaced_source_rewinds_the_consumer_that_got_further_then_begins():
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1), PicklePipe(2)]),
        Work(inputs=[PicklePipe(1)]),
        Work(inputs=[PicklePipe(2)]),
    ]))
    _running(failover, {1: {}, 2: {1: "tcp://b:1"}, 3: {2: "tcp://c:2"}})
    lost = failover.lost([1], 5.0)
    assert lost.messages == [(2, {"op": "fence", "pipe": 1, "incarnation": 1}),
                             (3, {"op": "fence", "pipe": 2, "incarnation": 1})]
    assert lost.starts == [Start(1, 1, gated=True)]
    assert failover.ready(1, 1, {}, 5.1).messages == []
    # Connected as soon as fenced; it sends nothing before it begins.
    assert failover.fenced(1, 30, 5.2).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b:1", "since": 0})]
    assert failover.fenced(2, 20, 5.3).messages == [
        (1, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0}),
        (2, {"op": "rewind", "pipe": 1, "seq": 20}),  # it holds 20..29 of the old copy
    ]
    done = failover.rewound(1, 5.5)
    assert done.messages == [(1, {"op": "begin", "seq": 20})]
    assert [job for job, _ in done.recovered] == [1]


def test_a_stateful_replacement_restores_the_latest_snapshot_its_consumer_allows():
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Total(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
        Work(inputs=[PicklePipe(2)]),
    ]))
    _running(failover, CHAIN_INPUTS)
    assert failover.snapshot(2, 8, b"state 8") == [(1, {"op": "covered", "pipe": 1, "seq": 8})]
    failover.snapshot(2, 16, b"state 16")
    lost = failover.lost([2], 1.0)
    assert lost.starts == [Start(2, 1, gated=True, restoring=True)]
    failover.ready(2, 1, {1: "tcp://b2:1"}, 1.1)
    assert failover.fenced(2, 12, 1.2).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b2:1", "since": 8}),
        (2, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0}),
        (2, {"op": "restore", "seq": 8, "state": to_text(b"state 8")}),
    ]


def test_a_job_replaced_with_its_windowed_consumer_replays_whole_windows():
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Work(inputs=[PicklePipe(1)], outputs=[Pairs(2)]),
        Work(inputs=[Pairs(2)], outputs=[PicklePipe(3)]),
        Work(inputs=[PicklePipe(3)]),
    ]))
    _running(failover, {1: {}, 2: {1: "tcp://b:1"}, 3: {2: "tcp://c:2"},
                        4: {3: "tcp://d:3"}})
    assert failover.lost([2, 3], 0.0).messages == [
        (4, {"op": "fence", "pipe": 3, "incarnation": 1})]
    failover.ready(3, 1, {2: "tcp://c2:2"}, 0.1)
    failover.ready(2, 1, {1: "tcp://b2:1"}, 0.1)
    # Job 4 had got to run 7 of job 3: job 3 goes on there, on blocks 14 and 15 of job 2.
    assert failover.fenced(3, 7, 0.2).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b2:1", "since": 14}),
        (2, {"op": "connect", "pipe": 2, "address": "tcp://c2:2", "since": 14}),
        (3, {"op": "connect", "pipe": 3, "address": "tcp://d:3", "since": 0}),
    ]


def test_an_unanswered_fence_is_given_up_after_the_patience_and_all_is_replayed():
    failover = Failover(_chain(), patience=2.0)
    _running(failover, CHAIN_INPUTS)
    failover.lost([2], 0.0)
    failover.ready(2, 1, {1: "tcp://b2:1"}, 0.5)
    assert failover.waiting
    assert failover.tick(1.9).messages == []
    assert failover.tick(2.0).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b2:1", "since": 0}),
        (2, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0}),
    ]
    assert not failover.waiting


def test_a_consumer_that_is_not_ready_yet_is_not_fenced():
    """Found by the property tests: a fence sent before a copy's control channel has
    connected is lost, and the replacement waited the whole patience for its answer."""
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1), PicklePipe(2)]),
        Work(inputs=[PicklePipe(1)]),
        Work(inputs=[PicklePipe(2)]),
    ]))
    failover.start()
    failover.ready(2, 0, {1: "tcp://b:1"}, 0.0)  # job 3 is still starting
    lost = failover.lost([1], 1.0)
    assert lost.messages == [(2, {"op": "fence", "pipe": 1, "incarnation": 1})]
    failover.ready(1, 1, {}, 1.1)
    assert failover.fenced(1, 5, 1.2).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b:1", "since": 0}),
        (2, {"op": "rewind", "pipe": 1, "seq": 0}),  # job 3 has had nothing yet
    ]
    assert failover.rewound(1, 1.25).messages == [(1, {"op": "begin", "seq": 0})]
    assert failover.ready(3, 0, {2: "tcp://c:2"}, 1.3).messages == [
        (1, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0})]


def test_a_fence_pending_at_a_consumer_that_is_lost_too_is_not_waited_for():
    """Found by the property tests: the lost consumer cannot answer; its replacement's
    own needs tell where its producer goes on."""
    failover = Failover(_chain())
    _running(failover, CHAIN_INPUTS)
    failover.lost([1], 1.0)  # fences job 2
    failover.lost([2], 1.1)  # before it answered; fences job 3
    failover.ready(1, 1, {}, 1.3)
    failover.ready(2, 1, {1: "tcp://b2:1"}, 1.4)
    assert failover.fenced(2, 9, 1.5).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b2:1", "since": 9}),
        (2, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0}),
        (1, {"op": "begin", "seq": 9}),
    ]


def test_a_source_goes_back_to_the_oldest_snapshot_of_a_stateful_consumer():
    """Found by the property tests: a source replaced while its stateful consumer was
    at block 3 went on at 3; when the consumer was replaced next and restored its
    snapshot before run 2, block 2 no longer existed anywhere."""
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Total(inputs=[PicklePipe(1)]),
    ]))
    _running(failover, {1: {}, 2: {1: "tcp://b:1"}})
    failover.snapshot(2, 2, b"state 2")
    failover.lost([1], 1.0)
    failover.ready(1, 1, {}, 1.1)
    assert failover.fenced(1, 3, 1.2).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b:1", "since": 0}),
        (2, {"op": "rewind", "pipe": 1, "seq": 2}),
    ]
    assert failover.rewound(1, 1.3).messages == [(1, {"op": "begin", "seq": 2})]


def test_a_late_fence_answer_does_not_move_where_a_source_goes_on():
    """Found by the property tests: a fence answered after the patience moved the
    source's start past a block a consumer had already been told to forget."""
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1), PicklePipe(2)]),
        Work(inputs=[PicklePipe(1)]),
        Work(inputs=[PicklePipe(2)]),
    ]), patience=2.0)
    _running(failover, {1: {}, 2: {1: "tcp://b:1"}, 3: {2: "tcp://c:2"}})
    failover.lost([1], 0.0)
    failover.ready(1, 1, {}, 0.1)
    failover.fenced(2, 3, 0.2)
    assert failover.tick(2.0).messages == [  # job 2's answer is late: it goes on from 0
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b:1", "since": 0}),
        (3, {"op": "rewind", "pipe": 2, "seq": 0}),
    ]
    assert failover.fenced(1, 4, 2.1).messages == [(2, {"op": "rewind", "pipe": 1, "seq": 0})]
    failover.rewound(2, 2.2)
    assert failover.rewound(1, 2.3).messages == [(1, {"op": "begin", "seq": 0})]


def test_a_replaced_job_goes_back_as_far_as_a_stateful_job_further_down_may_need():
    """Found by the property tests: job 2 went on where job 3, without state, had got;
    when job 3 and the sink were lost next, the sink (no snapshot yet) restarted at 0
    and job 3's replacement needed blocks of job 2 that no copy had any more."""
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Work(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
        Work(inputs=[PicklePipe(2)], outputs=[Pairs(3)]),
        Total(inputs=[Pairs(3)]),
    ]))
    _running(failover, {1: {}, 2: {1: "tcp://b:1"}, 3: {2: "tcp://c:2"}, 4: {3: "tcp://d:3"}})
    failover.snapshot(4, 2, b"runs 0 and 1")  # job 4 may go back to its run 2: job 3's 4
    failover.lost([2], 1.0)
    failover.ready(2, 1, {1: "tcp://b2:1"}, 1.1)
    assert failover.fenced(2, 9, 1.2).messages == [
        (1, {"op": "connect", "pipe": 1, "address": "tcp://b2:1", "since": 4}),
        (2, {"op": "connect", "pipe": 2, "address": "tcp://c:2", "since": 0}),
    ]


def test_a_restoring_job_does_not_go_back_before_its_own_snapshots():
    """Going back for a consumer's sake stops at the replacement's oldest snapshot: run
    0 would need blocks its producers have forgotten."""
    failover = Failover(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Total(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
        Total(inputs=[PicklePipe(2)]),
    ]))
    _running(failover, CHAIN_INPUTS)
    failover.snapshot(2, 8, b"state 8")  # job 3 has no snapshot yet
    failover.lost([2], 1.0)
    failover.ready(2, 1, {1: "tcp://b2:1"}, 1.1)
    assert failover.fenced(2, 10, 1.2).messages[-1] == (
        2, {"op": "restore", "seq": 8, "state": to_text(b"state 8")})
    assert failover.shortfalls == [(2, 0, 8)]  # job 3 may need runs 0..7 once replaced


# -- random networks through random faults ------------------------------------------------


@st.composite
def networks(draw: st.DrawFn) -> tuple[Network, set[int]]:
    """A random DAG of 2 to 6 jobs, stateful or not, pipes of one or two blocks a window;
    and the jobs a fault may take (all but sinks without state, whose output, a file,
    no failover can take back)."""
    reset()
    count = draw(st.integers(2, 6))
    sources = draw(st.integers(1, min(2, count - 1)))
    stateful = [draw(st.booleans()) for _ in range(count)]
    inputs: list[list[int]] = [[] for _ in range(count)]  # producer index per input
    for index in range(sources, count):
        producers = draw(st.lists(st.integers(0, index - 1), min_size=1, max_size=2,
                                  unique=True))
        inputs[index] = sorted(producers)
    for source in range(sources):  # every source feeds someone
        if not any(source in each for each in inputs):
            inputs[count - 1].append(source)
    pipes: dict[tuple[int, int], PicklePipe] = {}
    for consumer, producers in enumerate(inputs):
        for producer in producers:
            pipe_id = len(pipes) + 1
            pipes[producer, consumer] = (Pairs if draw(st.booleans()) else PicklePipe)(pipe_id)
    jobs = []
    for index in range(count):
        ins = [pipes[p, index] for p in inputs[index]]
        outs = [pipe for (p, _), pipe in sorted(pipes.items(), key=lambda kv: kv[1].id)
                if p == index]
        if not ins:
            jobs.append((CountingSource if stateful[index] else Source)(outputs=outs))
        else:
            jobs.append((Total if stateful[index] else Work)(inputs=ins, outputs=outs))
    network = Network.from_jobs(jobs)
    losable = {job.id for job in network.jobs if job.outputs or stateful[job.id - 1]}
    return network, losable


def _reference(network: Network, blocks: int) -> dict[int, list]:
    model = Model(network, blocks)
    model.run(random.Random(0))
    assert model.violations == []
    return model.records()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(4, 10), st.integers(1, 3), st.booleans(), st.integers(0, 2**32))
def test_random_faults_lose_repeat_and_mix_nothing(case, blocks, faults, late, seed):
    network, losable = case
    model = Model(network, blocks, losable)
    model.run(random.Random(seed), faults=faults, late=late)
    assert model.violations == []
    event("beyond retention" if model.beyond_retention else "within retention")
    if not model.beyond_retention:
        # Every sink ran each run of an undisturbed run once, on the same values: no
        # block lost, none repeated, no value of a stale copy or a wrong state.
        assert model.records() == _reference(network, blocks)
        assert model.dummies() == 0  # no dummy because of a failover
    # Each job has one live copy, and each failover has come to its end.
    for job in network.jobs:
        assert sum(c.alive for c in model.copies if c.job.id == job.id) == 1
    assert model.unrecovered == set()
    assert model.failover.recovering == frozenset()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(4, 10), st.integers(1, 3), st.integers(0, 2**32))
def test_answers_that_arrive_are_never_waited_for_past_the_patience(case, blocks, faults,
                                                                    seed):
    """With every answer delivered, the protocol never sits waiting for one that cannot
    come (a fence sent to a copy that is gone or not yet listening)."""
    network, losable = case
    model = Model(network, blocks, losable)
    model.run(random.Random(seed), faults=faults)
    assert not model.stuck, f"waited {PATIENCE} s for an answer that could not come"


def _build(jobs: list[tuple[type, list[int], list[int]]], pairs: set[int]) -> Network:
    """A network from (class, input pipe ids, output pipe ids); ``pairs``: the pipes of
    two blocks a window."""
    def pipe(pipe_id: int) -> PicklePipe:
        return (Pairs if pipe_id in pairs else PicklePipe)(pipe_id)

    return Network.from_jobs([cls(**({"inputs": [pipe(i) for i in ins]} if ins else {}),
                                  outputs=[pipe(o) for o in outs])
                              for cls, ins, outs in jobs])


#: Fault sequences the property tests found: each failed with the protocol as it was
#: in run.py (the last one with a first fix of the others, which chose a source's
#: start once and for all):
#: (jobs, pipes of two blocks, jobs a fault may take, blocks, faults, late, seed).
FOUND = {
    "a source went on past a block a stateful consumer would need once replaced": (
        [(Source, [], [1]), (Total, [1], [])], set(), {1, 2}, 6, 2, False, 256),
    "a fence sent to a copy not listening yet was waited for": (
        [(Source, [], [1, 2]), (Work, [1], []), (Work, [2], [])], set(), {1}, 4, 1, False, 4),
    "a late fence answer moved a source's start after a rewind": (
        [(Source, [], [1, 2, 3, 4]), (Work, [1], []), (Work, [2], []), (Work, [3], []),
         (Work, [4], [])], {3}, {1}, 4, 1, True, 0),
    "a job went on past a block a stateful job further down would need": (
        [(Source, [], [1, 2, 4]), (Work, [1], [3]), (Work, [2, 3], [5]), (Total, [4, 5], [])],
        {5}, {1, 2, 3, 4}, 5, 3, False, 3),
    "a loss before a source began did not make it choose again": (
        [(Source, [], [1, 2]), (Total, [1], [3, 4]), (Work, [2, 3], []), (Total, [4], [])],
        {2, 3}, {1, 2, 4}, 8, 3, False, 5124),
}


@pytest.mark.parametrize("case", FOUND.values(), ids=FOUND.keys())
def test_the_fault_sequences_found_lose_repeat_and_mix_nothing(case):
    jobs, pairs, losable, blocks, faults, late, seed = case
    network = _build(jobs, pairs)
    model = Model(network, blocks, losable)
    model.run(random.Random(seed), faults=faults, late=late)
    assert model.violations == []
    assert not model.stuck
    assert not model.beyond_retention
    assert model.records() == _reference(network, blocks)
    assert model.dummies() == 0
