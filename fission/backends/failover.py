"""The failover protocol of ``run``, as a pure state machine: events in, messages out.

No sockets, no Dask, no clock of its own: the supervisor (fission/backends/run.py)
feeds a :class:`Failover` what happened (copies lost, a copy ready, a consumer's
``fenced`` or ``rewound`` answer, a snapshot kept, the time in :meth:`Failover.tick`)
and does what comes back (:class:`Actions`): the control messages to send, the
copies to start, the failovers that are done. Being pure, the protocol is tested
by driving random networks through random faults (tests/unit/test_failover_protocol.py).

The protocol. Every copy of a job has an *incarnation* (0 at start, one more for
each replacement). When copies are lost (their node died, their process was
killed, or a failed job is restarted), each lost job gets exactly one new copy,
and every live, ready consumer of its outputs is *fenced* first: from then on it
drops blocks of older incarnations, and its answer says how far it had got on the
pipe (its *position*). Only once both ends of a pipe are ready and no fence of it
is pending is its producer told where to send (``connect``), with ``since``: the
first block the consumer needs, which the producer sends again from its memory.

What a replaced copy needs. The first run a replaced copy's consumers need now
(:meth:`Failover._first_needed`) is the lowest of: the position of each live
consumer, and, for a consumer replaced as well, the run *it* goes on from, turned
into this copy's blocks (times the pipe's ``BLOCK_COUNT``). What they may need
*later* can be earlier: a live consumer with snapshots, or one feeding a job with
snapshots further down, may be replaced in turn and go back to the oldest snapshot
kept; the lost copy kept its blocks for that (``covered``, ``REPLAY_COUNT``), and
its memory went with it, so the replacement goes back there too. A copy without
state goes on from what may be needed later; a copy that restores goes on from the
latest snapshot no later than that (or, if it has none so early, its oldest one, if
that is no later than what is needed now: a *shortfall*, logged), and is sent it
(``restore``). The point is chosen once. A replaced source waits for it (``begin``
or ``restore``); a consumer that holds later blocks of the old source, not yet run,
forgets them first (``rewind``), since the new copy sends them anew; what consumers
already have, they drop as duplicates. A fence or rewind answer that does not come
within ``patience`` seconds is given up on: a consumer's unknown position counts as
0 (replay all there is).

Answers that cannot come are not waited for. A consumer lost while a fence or
rewind of one of its inputs is pending will not answer: that wait ends at once, and
its replacement's own needs count instead. A consumer that is a copy not ready yet
is not fenced at all: no copy that is gone was ever told to send to it, and a
message sent before its control channel has connected would be lost.

The property tests found five faults of the protocol as it was in ``run.py``: the
two waits above (each cost ``patience``), a late fence answer that moved a source's
start after consumers had been rewound to another, and the two ways a second fault
soon after a first lost blocks (a replacement that went on from a live consumer's
position, where that consumer, or a stateful job after it, would need earlier ones
once replaced itself). A source's start chosen before it has begun is chosen again
(never later) when further copies are lost, and each rewind that follows is
answered before it begins.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from fission.backends.lifecycle import Message
from fission.backends.snapshots import Snapshots, keep_snapshot
from fission.core.durability import restartable, stateful
from fission.core.jobs import BaseJob
from fission.core.network import Network
from fission.core.pipes import BasePipe
from fission.runtime.control import to_text

log = logging.getLogger("fission.run")

#: Seconds a replacement waits for a consumer's fence or rewind answer before going on.
FENCE_PATIENCE = 2.0


def sends_snapshots(job: BaseJob) -> bool:
    """Whether a job sends snapshots under ``run``: it has state, or it may be restarted;
    its replacements restore one. (Under ``simulate``, where only a restart replaces a
    copy, only a job that may be restarted does: :func:`restartable`.)"""
    return stateful(job) or restartable(job)


@dataclass(frozen=True)
class Start:
    """Start this copy of a job: a replaced source (``gated``) waits for ``begin`` and a
    copy that ``restoring`` waits for ``restore`` before its first run."""

    job: int
    incarnation: int
    gated: bool = False
    restoring: bool = False


@dataclass
class Actions:
    """What the supervisor does after an event: send ``messages`` (in order, each to
    the job's current copy), start ``starts``, and note each failover in ``recovered``
    as done (job id, seconds since it began)."""

    messages: list[Message] = field(default_factory=list)
    starts: list[Start] = field(default_factory=list)
    recovered: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class _Copy:
    """What the protocol knows of a job's current copy."""

    incarnation: int
    gated: bool = False
    restoring: bool = False
    ready: bool = False
    begun: bool = True
    #: Input pipe -> the address the copy bound it on (from its ``ready``).
    inputs: dict[int, str] = field(default_factory=dict)
    #: The run a replacement goes on from, once chosen, and (restoring) the state of
    #: the snapshot taken before it.
    first: int | None = None
    restore_state: bytes | None = None
    #: The lowest run it was chosen to go on from before a loss further down made
    #: that choice out of date: consumers may have been rewound to it, so it never
    #: goes on from a later one.
    floor: int | None = None
    #: Output pipe -> the block its consumer was told to forget from (``rewind``).
    rewound: dict[int, int] = field(default_factory=dict)


class Failover:
    """The wiring and failover of one run's copies (see the module's docstring)."""

    def __init__(self, network: Network, patience: float = FENCE_PATIENCE,
                 snapshotting: Callable[[BaseJob], bool] = sends_snapshots) -> None:
        """``snapshotting`` says which jobs send snapshots (their replacements restore
        one, and their producers may have to go back as far as their oldest)."""
        self._network = network
        self._patience = patience
        self._snapshotting = snapshotting
        self._jobs = {job.id: job for job in network.jobs}
        self.snapshots = {job.id: Snapshots() for job in network.jobs}
        self._copies: dict[int, _Copy] = {}
        #: Pipe -> (producer incarnation, address) it was last connected with.
        self._connected: dict[int, tuple[int, str]] = {}
        #: Pipe -> when its consumer's fence answer is late.
        self._fencing: dict[int, float] = {}
        #: Pipe -> how far its consumer, which kept running, had got at the fence.
        self._positions: dict[int, int] = {}
        #: Pipe -> when its consumer's rewind answer is late, and how many answers are
        #: awaited (a second rewind, further back, may follow the first).
        self._rewinding: dict[int, tuple[float, int]] = {}
        #: Job id -> when its failover began.
        self._recovering: dict[int, float] = {}
        #: (job, run, run) for each replacement that could not go back as far as its
        #: consumers may need later, and the run of the oldest snapshot it went on from.
        self.shortfalls: list[tuple[int, int, int]] = []

    # -- events ------------------------------------------------------------------------

    def start(self) -> Actions:
        """The run begins: one copy of every job, incarnation 0, free to run."""
        starts = []
        for job in self._network.jobs:
            self._copies[job.id] = _Copy(0)
            starts.append(Start(job.id, 0))
        return Actions(starts=starts)

    def lost(self, job_ids: list[int], now: float) -> Actions:
        """The current copies of ``job_ids`` are gone (or failed, to be restarted): fence
        their live consumers and start the next incarnation of each."""
        actions = Actions()
        replaced = set(job_ids)
        pipes = self._network.pipes
        # What the copies not begun yet need may change now: they choose again. (Only a
        # source waits, for rewinds, once its start is chosen; a copy with inputs begins
        # in the step that connects them, so no since of an old choice is out.)
        for copy in self._copies.values():
            if copy.first is not None and not copy.begun:
                copy.floor = copy.first if copy.floor is None else min(copy.floor, copy.first)
                copy.first = copy.restore_state = None
        for job_id in job_ids:
            job = self._jobs[job_id]
            self._recovering[job_id] = now
            for pipe in job.inputs + job.outputs:
                self._connected.pop(pipe.id, None)
            for pipe in job.inputs:  # its answers cannot come any more
                self._fencing.pop(pipe.id, None)
                self._positions.pop(pipe.id, None)
                self._rewinding.pop(pipe.id, None)
            incarnation = self._copies[job_id].incarnation + 1
            for pipe in job.outputs:
                consumer = pipes[pipe.id].destination
                self._positions.pop(pipe.id, None)
                if consumer not in replaced and self._copies[consumer].ready:
                    self._fencing[pipe.id] = now + self._patience
                    actions.messages.append((consumer, {"op": "fence", "pipe": pipe.id,
                                                        "incarnation": incarnation}))
        for job_id in job_ids:
            job = self._jobs[job_id]
            incarnation = self._copies[job_id].incarnation + 1
            restoring = self._snapshotting(job)
            gated = restoring or not job.inputs
            self._copies[job_id] = _Copy(incarnation, gated=gated, restoring=restoring,
                                         begun=not gated)
            actions.starts.append(Start(job_id, incarnation, gated, restoring))
        return actions

    def ready(self, job_id: int, incarnation: int, inputs: dict[int, str],
              now: float) -> Actions:
        """A copy has started and bound its inputs at ``inputs`` (pipe -> address)."""
        copy = self._copies.get(job_id)
        if copy is None or copy.incarnation != incarnation:
            return Actions()
        copy.ready = True
        copy.inputs = dict(inputs)
        return self.tick(now)

    def fenced(self, pipe: int, position: int, now: float) -> Actions:
        """A consumer accepts only the new incarnation on ``pipe``; it had got to block
        ``position`` (the next it expects)."""
        self._positions[pipe] = position
        self._fencing.pop(pipe, None)
        return self.tick(now)

    def rewound(self, pipe: int, now: float) -> Actions:
        """A consumer has forgotten the blocks of ``pipe`` a replaced source sends anew."""
        late, count = self._rewinding.get(pipe, (0.0, 1))
        if count > 1:
            self._rewinding[pipe] = (late, count - 1)
        else:
            self._rewinding.pop(pipe, None)
        return self.tick(now)

    def snapshot(self, job_id: int, seq: int, state: bytes | None) -> list[Message]:
        """Keep a snapshot of a job's state before run ``seq``; the ``covered`` messages
        that tell its producers which blocks no replacement can need any more."""
        return keep_snapshot(self.snapshots[job_id], self._network, self._jobs[job_id],
                             {"seq": seq, "data": state})

    def tick(self, now: float) -> Actions:
        """Give up on late answers, then send every connect, rewind, begin and restore
        that has become possible; note the failovers that are done."""
        for pipe_id, late in list(self._fencing.items()):
            if now >= late:
                log.warning("pipe %s: no fence reply from its consumer; going on", pipe_id)
                del self._fencing[pipe_id]
                self._positions[pipe_id] = 0  # how far it got is unknown: replay all there is
        for pipe_id, (late, _) in list(self._rewinding.items()):
            if now >= late:
                log.warning("pipe %s: no rewind reply from its consumer; going on", pipe_id)
                del self._rewinding[pipe_id]
        actions = Actions()
        self._connect(actions)
        self._begin(actions, now)
        self._check_recovered(actions, now)
        return actions

    # -- what the supervisor may ask ---------------------------------------------------

    @property
    def recovering(self) -> frozenset[int]:
        """The jobs whose failover is not done yet."""
        return frozenset(self._recovering)

    @property
    def waiting(self) -> bool:
        """Whether an answer (fence or rewind) is still awaited."""
        return bool(self._fencing or self._rewinding)

    # -- the protocol ------------------------------------------------------------------

    def _connect(self, actions: Actions) -> None:
        for pipe_id, link in self._network.pipes.items():
            producer, consumer = self._copies[link.source], self._copies[link.destination]
            if not (producer.ready and consumer.ready) or pipe_id in self._fencing:
                continue
            address = consumer.inputs.get(pipe_id)
            wanted = (producer.incarnation, address)
            if not address or self._connected.get(pipe_id) == wanted:
                continue
            first = self._replay_point(link.destination) if consumer.incarnation else 0
            if first is None:
                continue  # where to replay from is not known yet
            self._connected[pipe_id] = wanted
            actions.messages.append((link.source, {
                "op": "connect", "pipe": pipe_id, "address": address,
                "since": first * link.pipe.BLOCK_COUNT}))

    def _begin(self, actions: Actions, now: float) -> None:
        for job in self._network.jobs:
            copy = self._copies[job.id]
            if not copy.ready or copy.begun:
                continue
            first = self._replay_point(job.id)
            if first is None or (not job.inputs and self._rewinding_for(job, first, actions,
                                                                         now)):
                continue
            copy.begun = True
            if copy.restoring:
                actions.messages.append((job.id, {"op": "restore", "seq": first,
                                                  "state": to_text(copy.restore_state)}))
            else:
                actions.messages.append((job.id, {"op": "begin", "seq": first}))

    def _first_needed(self, job_id: int,
                      seen: frozenset[int] = frozenset()) -> tuple[int, int] | None:
        """The first run of replaced job ``job_id`` that its consumers need now, and the
        first they may need later; None while a fence answer that tells is awaited.

        It numbers the blocks of the job's outputs. A consumer that kept running said
        at its fence how far it had got (needed now); one with snapshots may be
        replaced in turn and restore its oldest snapshot kept, so it may need the
        blocks from there on later (:meth:`_kept_for`). A consumer replaced as well
        needs what it goes on from. The first block needed anywhere, so no consumer
        misses one; what some already have they drop as duplicates.
        """
        now, later = [], []
        for output in self._jobs[job_id].outputs:
            if output.id in self._fencing:
                return None
            downstream = self._network.pipes[output.id].destination
            if output.id in self._positions:  # its consumer kept running
                position = self._positions[output.id]
                now.append(position)
                later.append(self._kept_for(downstream, output, position))
                continue
            if self._copies[downstream].incarnation == 0 or downstream in seen:
                now.append(0)
                later.append(0)
                continue
            first = self._replay_point(downstream, seen | {job_id})
            if first is None:
                return None
            now.append(first * output.BLOCK_COUNT)
            later.append(first * output.BLOCK_COUNT)
        return min(now, default=0), min(later, default=0)

    def _kept_for(self, consumer: int, pipe: BasePipe, position: int) -> int:
        """The first block of ``pipe`` a consumer that kept running at ``position`` may
        need later, as far as the snapshots tell: a consumer with snapshots may be
        replaced in turn and restore its oldest snapshot kept, and so may a stateful
        job further down, which a consumer without state replaced then would have to
        feed from there. The blocks from there on must exist again: the lost copy kept
        them, and its memory went with it."""
        later = self._may_restart_at(consumer, frozenset())
        return position if later == math.inf else min(position, int(later) * pipe.BLOCK_COUNT)

    def _may_restart_at(self, job_id: int, seen: frozenset[int]) -> float:
        """The earliest run a later replacement of ``job_id`` may go on from, as far as
        the snapshots kept tell (``inf``: none of them bounds it)."""
        if self._snapshotting(self._jobs[job_id]):
            return self.snapshots[job_id].oldest()
        earliest = math.inf
        for output in self._jobs[job_id].outputs:
            consumer = self._network.pipes[output.id].destination
            if consumer not in seen:
                later = self._may_restart_at(consumer, seen | {job_id})
                earliest = min(earliest, later * output.BLOCK_COUNT)
        return earliest

    def _replay_point(self, job_id: int, seen: frozenset[int] = frozenset()) -> int | None:
        """The run a replaced job goes on from, and its producers replay from.

        A copy without state goes on from the first run its consumers may need later
        (its producers send what they still have of it). A copy that restores goes on
        from the latest snapshot no later than that, if one is kept; else from the
        latest no later than what they need now (going back to run 0 instead would
        ask its producers for blocks its own snapshots let them forget). A sink
        restores its latest snapshot.

        It is chosen once, as soon as it is known: consumers are rewound to it and
        producers replay from it, so an answer that comes late (after the patience)
        must not move it; the copy would go on from a point its consumers were not
        told of (found by the property tests: a late fence answer moved a source's
        start past a block a consumer had been told to forget). Only a loss of
        further copies before the copy has begun makes it choose again, never later
        than before (its consumers are rewound further if need be).
        """
        copy = self._copies[job_id]
        if copy.first is not None:
            return copy.first
        needs = self._first_needed(job_id, seen)
        if needs is None:
            return None
        now, later = needs
        if copy.floor is not None:
            now, later = min(now, copy.floor), min(later, copy.floor)
        if not copy.restoring:
            copy.first = later
            return later
        job = self._jobs[job_id]
        snapshots = self.snapshots[job_id]
        if not job.outputs:
            chosen = snapshots.latest()
        else:
            chosen = snapshots.latest(later)
            if chosen[1] is None and snapshots.oldest() <= now:
                chosen = snapshots.latest(snapshots.oldest())
                self.shortfalls.append((job_id, later, chosen[0]))
                log.warning("%s cannot go back to run %d, which a consumer may need if it is "
                            "replaced too: its oldest snapshot kept is before run %d",
                            job.label, later, chosen[0])
        copy.first, copy.restore_state = chosen
        snapshots.restart_from(copy.first)
        log.info("%s goes on from its snapshot before run %d", job.label, copy.first)
        return copy.first

    def _rewinding_for(self, job: BaseJob, first: int, actions: Actions, now: float) -> bool:
        """Whether consumers still forget blocks a replaced source will send anew.

        The source continues at ``first``; a consumer that kept running may hold later
        blocks of the old copy, not yet run, whose values the new copy will not repeat:
        it is told to forget them (``rewind``), and the source waits until it has.
        """
        copy = self._copies[job.id]
        for pipe in job.outputs:
            if (self._positions.get(pipe.id, first) > first
                    and copy.rewound.get(pipe.id, math.inf) > first):
                copy.rewound[pipe.id] = first
                _, count = self._rewinding.get(pipe.id, (0.0, 0))
                self._rewinding[pipe.id] = (now + self._patience, count + 1)
                consumer = self._network.pipes[pipe.id].destination
                actions.messages.append((consumer, {"op": "rewind", "pipe": pipe.id,
                                                    "seq": first}))
        return any(pipe.id in self._rewinding for pipe in job.outputs)

    def _check_recovered(self, actions: Actions, now: float) -> None:
        """A replaced job has recovered once it runs, may produce, and every output
        whose consumer runs is connected to it: then its failover is done."""
        for job_id, started in list(self._recovering.items()):
            copy = self._copies[job_id]
            if copy.ready and copy.begun and all(
                    self._sends_to_running_consumer(copy, pipe)
                    for pipe in self._jobs[job_id].outputs):
                del self._recovering[job_id]
                actions.recovered.append((job_id, now - started))

    def _sends_to_running_consumer(self, copy: _Copy, pipe: BasePipe) -> bool:
        consumer = self._copies[self._network.pipes[pipe.id].destination]
        connected = self._connected.get(pipe.id)
        return not consumer.ready or (connected is not None
                                      and connected[0] == copy.incarnation)
