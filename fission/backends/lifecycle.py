"""Which control messages follow when a job of a running network changes state.

A pure state machine, no I/O, shared by every backend: the backend feeds it what a
job reported and sends the messages it returns. It encodes how a network winds
down by itself:

- when a job finishes, every producer still sending to it is told to stop sending
  on that pipe (``close_output``); a producer left without consumers finishes too;
- a finished job keeps its sockets open until every consumer of its outputs has
  finished, and is then let go (``release``), so its END blocks are never lost in a
  closing socket.

:func:`describe_losses` turns the counters a job reports into words for the console.
"""

from __future__ import annotations

import enum

from fission.core.network import Network

#: A control message for one job: (job id, message).
Message = tuple[int, dict]


class JobState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class Lifecycle:
    def __init__(self, network: Network) -> None:
        self._network = network
        self.states = {job.id: JobState.STARTING for job in network.jobs}

    def ready(self, job_id: int) -> list[Message]:
        """A copy of the job runs. A copy that replaces one (a failover, a restart) is
        told of each consumer that finished meanwhile, as its first copy was."""
        self.states[job_id] = JobState.RUNNING
        pipes = self._network.pipes
        return [(job_id, {"op": "close_output", "pipe": pipe.id})
                for pipe in self._network.job(job_id).outputs
                if self.states[pipes[pipe.id].destination] is JobState.FINISHED]

    def restart(self, job_id: int) -> list[Message]:
        """A new copy of the job is starting (a failover)."""
        self.states[job_id] = JobState.STARTING
        return []

    def failed(self, job_id: int) -> list[Message]:
        self.states[job_id] = JobState.FAILED
        return []

    def finished(self, job_id: int) -> list[Message]:
        self.states[job_id] = JobState.FINISHED
        pipes = self._network.pipes
        messages = []
        for pipe in self._network.job(job_id).inputs:
            producer = pipes[pipe.id].source
            if self.states[producer] is JobState.FINISHED:
                messages += self._release_if_done(producer)
            else:
                messages.append((producer, {"op": "close_output", "pipe": pipe.id}))
        return messages + self._release_if_done(job_id)

    def _release_if_done(self, job_id: int) -> list[Message]:
        pipes = self._network.pipes
        consumers = (pipes[pipe.id].destination for pipe in self._network.job(job_id).outputs)
        if all(self.states[c] is JobState.FINISHED for c in consumers):
            return [(job_id, {"op": "release"})]
        return []

    def in_state(self, job_id: int, *states: JobState) -> bool:
        return self.states[job_id] in states

    @property
    def all_finished(self) -> bool:
        return all(state is JobState.FINISHED for state in self.states.values())


def describe_losses(stats: dict) -> str:
    """What a job's counters say was lost or replaced, in words; "" if nothing was."""
    totals = dict.fromkeys(("dummies", "dropped", "garbage", "stale"), 0)
    for counters in stats.get("inputs", {}).values():
        for key in totals:
            totals[key] += counters.get(key, 0)
    words = {
        "dummies": "missing blocks replaced by dummies",
        "dropped": "blocks dropped (MAX_QUEUE or a full optional buffer)",
        "garbage": "unreadable blocks dropped",
        "stale": "duplicate or out-of-order blocks dropped",
    }
    return "; ".join(f"{count} {words[key]}" for key, count in totals.items() if count)
