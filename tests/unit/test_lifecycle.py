"""How a network winds down: the control messages that follow each job's report."""

from __future__ import annotations

from fission.backends.lifecycle import JobState, Lifecycle, describe_losses
from fission.core.jobs import PythonJob
from fission.core.network import Network
from fission.core.pipes import PicklePipe


class Source(PythonJob):
    def run(self):
        yield 1


class Pass(PythonJob):
    def run(self, *values):
        return values[0]


def chain() -> Lifecycle:
    """1 -> 2 -> 3"""
    return Lifecycle(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Pass(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
        Pass(inputs=[PicklePipe(2)]),
    ]))


def test_a_chain_releases_each_job_once_its_consumer_has_finished():
    lifecycle = chain()
    assert lifecycle.finished(1) == []  # job 2 may still read its END block
    assert lifecycle.finished(2) == [(1, {"op": "release"})]
    assert lifecycle.finished(3) == [(2, {"op": "release"}), (3, {"op": "release"})]
    assert lifecycle.all_finished


def test_a_finished_consumer_closes_the_pipes_of_producers_still_running():
    lifecycle = Lifecycle(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Source(outputs=[PicklePipe(2)]),
        Pass(inputs=[PicklePipe(1), PicklePipe(2)]),
    ]))
    assert lifecycle.finished(1) == []
    # Job 3 ends with input 1; job 2 is still sending on pipe 2 and must stop.
    assert lifecycle.finished(3) == [
        (1, {"op": "release"}),
        (2, {"op": "close_output", "pipe": 2}),
        (3, {"op": "release"}),
    ]
    assert not lifecycle.all_finished
    assert lifecycle.finished(2) == [(2, {"op": "release"})]
    assert lifecycle.all_finished


def test_a_replacement_is_told_of_consumers_that_finished_before_it_started():
    lifecycle = Lifecycle(Network.from_jobs([
        Source(outputs=[PicklePipe(1)]),
        Source(outputs=[PicklePipe(2)]),
        Pass(inputs=[PicklePipe(1), PicklePipe(2)]),
    ]))
    assert lifecycle.ready(2) == []  # at start nobody has finished
    lifecycle.finished(1)
    lifecycle.finished(3)
    lifecycle.restart(2)  # job 2 fails and is restarted: its consumer has finished
    assert lifecycle.ready(2) == [(2, {"op": "close_output", "pipe": 2})]


def test_states_follow_the_reports():
    lifecycle = chain()
    assert lifecycle.in_state(1, JobState.STARTING)
    lifecycle.ready(1)
    lifecycle.failed(2)
    assert lifecycle.in_state(1, JobState.RUNNING)
    assert lifecycle.in_state(2, JobState.FINISHED, JobState.FAILED)
    assert not lifecycle.all_finished


def test_losses_are_described_in_words_and_nothing_lost_says_nothing():
    assert describe_losses({"runs": 5, "inputs": {"1": {"dummies": 0, "dropped": 0}}}) == ""
    assert describe_losses({"inputs": {"1": {"dummies": 2, "garbage": 1},
                                       "2": {"dummies": 1, "dropped": 4}}}) == (
        "3 missing blocks replaced by dummies; 4 blocks dropped (MAX_QUEUE or a full optional "
        "buffer); 1 unreadable blocks dropped")
