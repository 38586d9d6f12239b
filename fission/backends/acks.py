"""Acknowledgements: which blocks of each pipe no replay can need any more.

A producer keeps every block it sends (fission/runtime/retention.py) until the
backend tells it (``covered``, a sequence number) that no replacement of any job can
need the blocks before it. Jobs report how far their runs have got on each input
(``progress``, at most every ``CONTROL_INTERVAL``); from these reports and the
snapshots it keeps, the backend works out, with the pure function :func:`needed`,
the first block of each pipe that a replay might still need:

- a block of pipe ``p`` into a job ``C`` that has snapshots is needed until a
  snapshot of ``C`` covers it: ``C``'s replacement restores the latest snapshot no
  later than what ``C``'s consumers still need, and is sent ``p`` again from there;
- into a ``C`` without state, until everything ``C`` computed from it has been
  acknowledged downstream: run ``r`` of ``C`` takes blocks ``r*n .. r*n+n-1`` of ``p``
  (``n`` its ``BLOCK_COUNT``) and makes block ``r`` of each of ``C``'s outputs, so the
  first block needed of ``p`` is ``n`` times the first block needed of any output of
  ``C``, found the same way, down to the sinks, whose progress acknowledges what they
  ran;
- an optional input never holds up a run and its blocks are not tied to runs: what
  its consumer has taken is acknowledged;
- a consumer that has finished needs nothing more (it is never replaced): its inputs
  hold nothing up, neither there nor, through stateless jobs, further up.

Progress only moves forward: a replacement's first reports, from before it caught
up, acknowledge nothing that its first copy had not already. A ``covered`` message
goes to a producer only when its pipe's number has grown.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from fission.backends.lifecycle import Message
from fission.backends.snapshots import Snapshots
from fission.core.durability import restartable
from fission.core.jobs import BaseJob
from fission.core.network import Network
from fission.errors import ConfigError
from fission.runtime import state


@dataclass(frozen=True)
class Link:
    """What acknowledgements need of a pipe: who produces and consumes it, how."""

    source: int
    consumer: int
    #: The consumer's ``BLOCK_COUNT`` on it.
    window: int = 1
    optional: bool = False


@dataclass(frozen=True)
class Shape:
    """A network as :func:`needed` sees it: its pipes, and each job's output pipes."""

    links: Mapping[int, Link]
    outputs: Mapping[int, Sequence[int]]

    @classmethod
    def of(cls, network: Network) -> Shape:
        links = {pipe_id: Link(link.source, link.destination, link.pipe.BLOCK_COUNT,
                               link.pipe.optional)
                 for pipe_id, link in network.pipes.items()}
        return cls(links, {job.id: tuple(pipe.id for pipe in job.outputs)
                           for job in network.jobs})


def needed(shape: Shape, progress: Mapping[int, Mapping[int, int]],
           snapshots: Mapping[int, Sequence[int]],
           finished: Collection[int] = ()) -> dict[int, float]:
    """Per pipe, the first sequence number a replay might still need (inf: none).

    ``progress[job][pipe]``: the next block of ``pipe`` that ``job``'s runs have not
    taken (0 if it has not said). ``snapshots[job]``: the runs the kept snapshots of a
    job *with state* were taken before (a job missing there has no state).
    ``finished``: jobs that have finished. The producer of each pipe may drop the
    blocks before its number.
    """
    memo: dict[int, float] = {}

    def first_needed_run(job: int, seen: frozenset[int]) -> float:
        """The first run of ``job`` whose outputs someone might still need (inf: none)."""
        return min((pipe_needed(pipe, seen | {job}) for pipe in shape.outputs.get(job, ())),
                   default=math.inf)

    def restore_point(job: int, seen: frozenset[int]) -> int:
        """The run a replacement of ``job`` (with state) would restore at, at the earliest."""
        kept = sorted(snapshots[job])
        down = first_needed_run(job, seen)
        usable = [seq for seq in kept if seq <= down]
        if usable:
            return usable[-1]
        return kept[0] if kept else 0

    def pipe_needed(pipe: int, seen: frozenset[int]) -> float:
        if pipe in memo:
            return memo[pipe]
        link = shape.links[pipe]
        consumer = link.consumer
        taken = progress.get(consumer, {}).get(pipe, 0)
        if consumer in finished:
            result: float = math.inf
        elif consumer in seen:
            result = 0  # a cycle (through optional pipes only): claim nothing
        elif link.optional:
            result = taken
        elif consumer in snapshots:
            result = link.window * restore_point(consumer, seen)
        else:
            down = first_needed_run(consumer, seen)
            result = min(taken, link.window * down)
        memo[pipe] = result
        return result

    return {pipe: pipe_needed(pipe, frozenset()) for pipe in shape.links}


def blocks_before_acknowledgement(shape: Shape) -> dict[int, int]:
    """Per pipe, how many of its blocks its producer may have sent before the first of
    them can be acknowledged (under ``run``, where every output keeps its blocks).

    A run of a job with inputs takes ``BLOCK_COUNT`` blocks of each; the first block
    of a pipe is acknowledged once its consumer's first run is, and that run once the
    first block of each of the consumer's outputs is, down to the sinks, whose runs
    acknowledge themselves: so the count is the product of the windows along the
    longest such path. (A consumer with snapshots acknowledges from its snapshots, but
    a snapshot counts only once its consumers have got that far, so the same holds.)
    An optional input acknowledges what its consumer took: 1.
    """
    memo: dict[int, int] = {}

    def blocks(pipe: int, seen: frozenset[int]) -> int:
        if pipe not in memo:
            link = shape.links[pipe]
            if link.optional or link.consumer in seen:
                return 1  # a cycle runs through optional pipes only
            runs = max((blocks(out, seen | {link.consumer})
                        for out in shape.outputs.get(link.consumer, ())), default=1)
            memo[pipe] = link.window * runs
        return memo[pipe]

    return {pipe: blocks(pipe, frozenset()) for pipe in shape.links}


def check_retention(network: Network, where: str) -> None:
    """Refuse a network whose producers would wait forever under ``run``: a pipe whose
    ``RETAIN_BLOCKS`` is fewer than the blocks sent before any can be acknowledged
    fills its producer's retention before its consumers can run far enough to free it.
    """
    for pipe_id, count in blocks_before_acknowledgement(Shape.of(network)).items():
        link = network.pipes[pipe_id]
        pipe = link.pipe
        if count > pipe.RETAIN_BLOCKS:
            source, consumer = network.job(link.source), network.job(link.destination)
            raise ConfigError(
                f"{where}: pipe {pipe_id} ({type(pipe).__name__}, {source.label} -> "
                f"{consumer.label}): "
                f"under run its producer keeps every block until it is acknowledged, and "
                f"{count} of them are sent before the first can be (its BLOCK_COUNT of "
                f"{pipe.BLOCK_COUNT} times those of the jobs after {consumer.label}), more "
                f"than its RETAIN_BLOCKS of {pipe.RETAIN_BLOCKS}: {source.label} would wait "
                "forever. Raise RETAIN_BLOCKS on that pipe's class, or lower a BLOCK_COUNT."
            )


def run_floors(network: Network) -> dict[int, dict[int, int]]:
    """Per job id, per output pipe of it, the floor of its retention under ``run``
    (``JobSpec.retain_floor``): the blocks sent before the first can be acknowledged.
    Fewer would let big blocks fill ``RETAIN_BYTES`` first, and the producer would wait
    for an acknowledgement that cannot come (fission/runtime/retention.py). Computed once
    per run, for every start and restart of a job."""
    counts = blocks_before_acknowledgement(Shape.of(network))
    return {job.id: {pipe.id: counts[pipe.id] for pipe in job.outputs}
            for job in network.jobs}


def restart_floors(network: Network, job: BaseJob) -> dict[int, int]:
    """Per output pipe of ``job`` into a job that may restart, the floor of its retention
    under ``simulate``: the producer keeps blocks from its consumer's oldest kept snapshot
    on (fission/backends/snapshots.py), which is dropped only once ``Snapshots.KEPT``
    newer ones are kept, taken at most its snapshot interval of runs apart
    (fission/runtime/state.py): so ``KEPT`` intervals of windows, and one more window
    for the run after them. Fewer, and the consumer could never get that far."""
    floors = {}
    for pipe in job.outputs:
        consumer = network.job(network.pipes[pipe.id].destination)
        if restartable(consumer):
            floors[pipe.id] = pipe.BLOCK_COUNT * (Snapshots.KEPT * state.interval(consumer) + 1)
    return floors


class Acknowledgements:
    """The progress a backend has heard of, and the ``covered`` messages that follow."""

    def __init__(self, network: Network, snapshots: Mapping[int, Snapshots],
                 stateful: frozenset[int]) -> None:
        self._shape = Shape.of(network)
        self._snapshots = snapshots
        self._stateful = stateful
        self._progress: dict[int, dict[int, int]] = {job.id: {} for job in network.jobs}
        self._sent: dict[int, int] = {}
        self._finished: set[int] = set()

    def progress(self, job_id: int, message: Mapping) -> list[Message]:
        """A ``progress`` report of ``job_id``: ``inputs`` (pipe id, as JSON keys are
        text -> next block not taken) and ``finished`` (its last, as it finishes); the
        ``covered`` messages it makes possible."""
        taken = self._progress[job_id]
        for key, seq in (message.get("inputs") or {}).items():
            pipe = int(key)
            if pipe in self._shape.links:
                taken[pipe] = max(taken.get(pipe, 0), int(seq))
        if message.get("finished"):
            self._finished.add(job_id)
        kept = {job: self._snapshots[job].seqs() for job in self._stateful}
        needs = needed(self._shape, self._progress, kept, self._finished)
        for job in self._stateful:  # run r of a job makes block r of each output
            outputs = self._shape.outputs.get(job, ())
            if outputs:
                self._snapshots[job].hold(min(needs.get(pipe, math.inf) for pipe in outputs))
        messages = []
        for pipe, seq in needs.items():
            if seq != math.inf and seq > self._sent.get(pipe, 0):
                self._sent[pipe] = seq
                messages.append((self._shape.links[pipe].source,
                                 {"op": "covered", "pipe": pipe, "seq": int(seq)}))
        return messages
