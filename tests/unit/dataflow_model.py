"""A small model of a running network's data flow, to drive the failover protocol with.

It plays what the protocol talks to, the way fission/runtime/loop.py and
fission/backends/run.py do it, one step at a time and in whatever order a random
scheduler picks: job copies that connect their control channel, report ``ready``,
send blocks (remembering each for replays), receive them through the runtime's own
:class:`~fission.runtime.align.Aligner` (or the one-input path), answer ``fence``,
``rewind``, ``begin``, ``restore`` and ``connect`` as the runtime does, and take
snapshots; and the supervisor's side, which feeds the reports to a
:class:`~fission.backends.failover.Failover`, sends what it answers to the current
copy of each job and starts the copies it asks for. Between the steps, copies are
lost (all at once, as a node's) and time passes.

What it leaves out, on purpose: END blocks and the wind-down (lifecycle.py's), and
placement. Retention is the runtime's: an output remembers every block except that a
snapshot of its consumer makes it forget what it covers (``covered``), as the
runtime does; a replay that reaches back before what was so forgotten is noted
(:attr:`Model.beyond_retention`), and so is a replacement whose snapshots kept do
not reach back as far as its consumers may need (``Failover.shortfalls``), and a
replay to a consumer without state of blocks from before its replaced producer began
(the lost copy kept its last ``REPLAY_COUNT``, a best effort): what is lost then is
the retention's limit, not the protocol's fault. Every job's values are a pure
function of what it was given, a stateful job's of its state too, so an undisturbed
run is the reference a disturbed one must match.

Faithful where the protocol's correctness hangs on it: a message to a copy whose
control channel has not connected yet is lost (a ROUTER drops it), a lost copy
answers nothing, blocks a lost producer had sent are still delivered, in any order
with the new copy's, and a redirected output drops what it had queued for the old
consumer before it replays its memory.
"""

from __future__ import annotations

import pickle
import random
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fission.backends.failover import Actions, Failover, Start
from fission.core.durability import stateful
from fission.core.jobs import BaseJob
from fission.core.network import Network
from fission.runtime.align import READY, Aligner
from fission.runtime.control import from_text

#: A stateful copy reports a snapshot after every this many of its runs.
SNAPSHOT_EVERY = 2
#: Model seconds per step, and the patience of the protocol under test.
STEP = 0.01
PATIENCE = 2.0


def _digest(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode())


@dataclass
class Frame:
    incarnation: int
    seq: int
    value: Any


@dataclass
class _Output:
    pipe: int
    address: str | None = None
    history: list[Frame] = field(default_factory=list)
    #: The first block this copy remembered (a replacement begins where it is told).
    first: int | None = None


@dataclass
class _Input:
    pipe: int
    window: int
    incarnation: int = 0
    next_seq: int = 0


class Copy:
    """One copy of a job, as its process would behave."""

    def __init__(self, model: Model, job: BaseJob, start: Start) -> None:
        self.model = model
        self.job = job
        self.incarnation = start.incarnation
        self.alive = True
        self.connected = False
        self.reported_ready = False
        self.inbox: deque[dict] = deque()
        self.outbox: deque[dict] = deque()
        self.inputs = [_Input(pipe.id, pipe.BLOCK_COUNT) for pipe in job.inputs]
        self.single = len(job.inputs) == 1 and job.inputs[0].BLOCK_COUNT == 1
        self.aligner = Aligner(job.inputs)
        self.outputs = [_Output(pipe.id) for pipe in job.outputs]
        self.first_seq: int | None = None if start.gated or start.restoring else 0
        self.restoring = start.restoring
        self.stateful = stateful(job)
        self.state: dict = {"total": 0, "record": []}
        self.runs = 0
        self.next_seq = 0
        #: Frames of the run just done still to be sent, output by output:
        #: (output index, frame, whether it is remembered yet).
        self.sending: deque[list] = deque()

    def address(self, pipe: int) -> str:
        return f"{self.job.id}.{self.incarnation}/{pipe}"

    # -- what the scheduler may do with it -------------------------------------------

    def steps(self) -> list:
        if not self.alive:
            return []
        if not self.connected:
            return [self.connect]
        steps = []
        if not self.reported_ready:
            return [self.report_ready]
        if self.inbox:
            steps.append(self.handle_control)
        if self.restoring:
            return steps
        if self.sending:
            index, _, _ = self.sending[0]
            if self.outputs[index].address is not None or not self.sending[0][2]:
                steps.append(self.send)
            return steps
        if not self.job.inputs:
            if self.first_seq is not None and self.next_seq < self.model.blocks:
                steps.append(self.produce)
            return steps
        if self.single:
            if self.model.waiting(self, 0):
                steps.append(self.receive_one)
            return steps
        wanted = self.aligner.wanting()
        if wanted == READY:
            steps.append(self.run_window)
        elif wanted >= 0 and self.model.waiting(self, wanted):
            steps.append(lambda: self.receive(wanted))
        return steps

    def connect(self) -> None:
        self.connected = True

    def report_ready(self) -> None:
        self.reported_ready = True
        self.outbox.append({"op": "ready", "inputs": {port.pipe: self.address(port.pipe)
                                                      for port in self.inputs}})

    # -- data --------------------------------------------------------------------------

    def produce(self) -> None:
        seq = self.next_seq
        if self.stateful:
            value = (self.job.id, seq, self.state["total"])
            self.state["total"] += 1
        else:
            value = (self.job.id, seq)
        self.next_seq += 1
        self._ran(seq, value)

    def receive_one(self) -> None:
        port = self.inputs[0]
        frame = self.model.take(self, 0)
        if not self._admit(port, frame):
            return
        if frame.seq < port.next_seq:
            return  # a duplicate
        port.next_seq = frame.seq + 1
        self._compute(frame.seq, [frame.value])

    def receive(self, index: int) -> None:
        port = self.inputs[index]
        frame = self.model.take(self, index)
        if not self._admit(port, frame):
            return
        if frame.seq >= port.next_seq:
            port.next_seq = frame.seq + 1
        self.aligner.push(index, frame.seq, frame.value)

    def run_window(self) -> None:
        values = self.aligner.pop()
        self._compute(self.aligner.next_run - 1, values)

    def _admit(self, port: _Input, frame: Frame) -> bool:
        self.model.accepted(self, port, frame)
        if frame.incarnation == port.incarnation:
            return True
        if frame.incarnation > port.incarnation:
            port.incarnation = frame.incarnation
            return True
        return False

    def _compute(self, run: int, values: list) -> None:
        values = tuple(tuple(v) if isinstance(v, list) else v for v in values)
        if self.stateful:
            self.state["total"] = _digest(self.state["total"], values)
            value = (self.job.id, run, self.state["total"])
        else:
            value = (self.job.id, run, _digest(values))
        if not self.job.outputs:
            self.state["record"].append((run, value))
        self._ran(run, value)

    def _ran(self, run: int, value: Any) -> None:
        self.runs += 1
        for index in range(len(self.outputs)):
            self.sending.append([index, Frame(self.incarnation, run, value), False])
        if self.stateful and self.runs % SNAPSHOT_EVERY == 0:
            self.outbox.append({"op": "snapshot", "seq": run + 1,
                                "data": pickle.dumps(self.state)})

    def send(self) -> None:
        entry = self.sending[0]
        index, frame, remembered = entry
        output = self.outputs[index]
        if not remembered:
            output.history.append(frame)
            output.first = frame.seq if output.first is None else output.first
            entry[2] = True
        if output.address is not None:
            self.model.put(output.pipe, output.address, self.incarnation, frame)
            self.sending.popleft()

    # -- control -----------------------------------------------------------------------

    def handle_control(self) -> None:
        message = self.inbox.popleft()
        op = message["op"]
        if op == "fence":
            for port in self.inputs:
                if port.pipe == message["pipe"]:
                    port.incarnation = max(port.incarnation, message["incarnation"])
                    self.outbox.append({"op": "fenced", "pipe": port.pipe,
                                        "position": port.next_seq})
        elif op == "rewind":
            position = None
            for index, port in enumerate(self.inputs):
                if port.pipe == message["pipe"] and not self.single:
                    port.next_seq = self.aligner.rewind(index, message["seq"])
                    position = port.next_seq
            self.outbox.append({"op": "rewound", "pipe": message["pipe"], "position": position})
        elif op == "begin":
            self.first_seq = self.next_seq = message["seq"]
        elif op == "restore":
            seq = message["seq"]
            data = from_text(message["state"])
            if data is not None:
                self.state = pickle.loads(data)
            for port in self.inputs:
                port.next_seq = seq * port.window
            self.aligner.start_at(seq)
            self.first_seq = self.next_seq = seq
            self.restoring = False
        elif op == "connect":
            self._connect(message)
        elif op == "covered":
            output = next(o for o in self.outputs if o.pipe == message["pipe"])
            output.history = [frame for frame in output.history if frame.seq >= message["seq"]]
            forgotten = self.model.forgotten
            forgotten[output.pipe] = max(forgotten.get(output.pipe, 0), message["seq"])

    def _connect(self, message: dict) -> None:
        output = next(o for o in self.outputs if o.pipe == message["pipe"])
        if output.address is None:
            output.address = message["address"]
            return
        self.model.drop(output.pipe, output.address, self.incarnation)
        output.address = message["address"]
        if message["since"] < self.model.forgotten.get(output.pipe, 0):
            self.model.beyond_retention = True
        consumer = self.model.network.job(self.model.network.pipes[output.pipe].destination)
        began = output.first if output.first is not None else self.next_seq
        if message["since"] < began and not stateful(consumer):
            # Blocks from before this copy began, for a consumer without state: the lost
            # copy kept its last REPLAY_COUNT, which no protocol can give again (the
            # consumer's acknowledgements could say how many are still needed).
            self.model.beyond_retention = True
        replayed = [frame for frame in output.history if frame.seq >= message["since"]]
        for frame in replayed:
            self.model.put(output.pipe, output.address, self.incarnation, frame)
        if (replayed and self.sending and self.sending[0][0] == self.outputs.index(output)
                and self.sending[0][1] is replayed[-1]):
            self.sending.popleft()  # the block it waited to send went with the replay


class Model:
    """The network's copies, the blocks between them and the supervisor's side."""

    def __init__(self, network: Network, blocks: int, losable: set[int] | None = None) -> None:
        self.network = network
        self.blocks = blocks
        self.failover = Failover(network, patience=PATIENCE)
        self.now = 0.0
        self.current: dict[int, Copy] = {}
        self.copies: list[Copy] = []
        #: (pipe, consumer address, producer incarnation) -> blocks on their way.
        self.channels: dict[tuple[int, str, int], deque[Frame]] = {}
        #: Jobs with no failover done since their last loss.
        self.unrecovered: set[int] = set()
        #: Faults that violate a property, in words (the tests assert there are none).
        self.violations: list[str] = []
        #: (pipe, consumer address) -> the highest producer incarnation told to connect there.
        self.connects: dict[tuple[int, str], int] = {}
        self.timed_out = False
        self.stuck = False
        #: Pipe -> the blocks before which a snapshot of its consumer let its producer
        #: forget; whether a replay reached back before that.
        self.forgotten: dict[int, int] = {}
        self.beyond_retention = False
        self.losable = {job.id for job in network.jobs} if losable is None else losable
        self._apply(self.failover.start())

    # -- blocks ------------------------------------------------------------------------

    def put(self, pipe: int, address: str, incarnation: int, frame: Frame) -> None:
        self.channels.setdefault((pipe, address, incarnation), deque()).append(frame)

    def drop(self, pipe: int, address: str, incarnation: int) -> None:
        self.channels.pop((pipe, address, incarnation), None)

    def _queues(self, copy: Copy, index: int) -> list[deque[Frame]]:
        address = copy.address(copy.inputs[index].pipe)
        pipe = copy.inputs[index].pipe
        return [queue for (p, a, _), queue in sorted(self.channels.items(), key=lambda kv: kv[0])
                if p == pipe and a == address and queue]

    def waiting(self, copy: Copy, index: int) -> bool:
        return bool(self._queues(copy, index))

    def take(self, copy: Copy, index: int) -> Frame:
        queues = self._queues(copy, index)
        return self.random.choice(queues).popleft()

    def accepted(self, copy: Copy, port: _Input, frame: Frame) -> None:
        """Note a block that reaches an input: one older than a copy told to send there
        since must never be taken (the fence came first)."""
        told = self.connects.get((port.pipe, copy.address(port.pipe)), 0)
        if (frame.incarnation < told and frame.incarnation >= port.incarnation
                and not self.timed_out):
            self.violations.append(
                f"job {copy.job.id} took block {frame.seq} of pipe {port.pipe} from incarnation "
                f"{frame.incarnation} after incarnation {told} was connected to it")

    # -- the supervisor's side ---------------------------------------------------------

    def _apply(self, actions: Actions, lost: list[int] = ()) -> None:
        self._send(actions.messages)
        starts = [start.job for start in actions.starts]
        if lost and sorted(starts) != sorted(lost):
            self.violations.append(f"lost {sorted(lost)} but started {sorted(starts)}")
        for start in actions.starts:
            previous = self.current.get(start.job)
            expected = 0 if previous is None else previous.incarnation + 1
            if start.incarnation != expected:
                self.violations.append(f"job {start.job} started as incarnation "
                                       f"{start.incarnation}, not {expected}")
            copy = Copy(self, self.network.job(start.job), start)
            self.current[start.job] = copy
            self.copies.append(copy)
        for job_id, _seconds in actions.recovered:
            self.unrecovered.discard(job_id)

    def _send(self, messages: list) -> None:
        for job_id, message in messages:
            copy = self.current[job_id]
            if message["op"] == "connect":
                key = (message["pipe"], message["address"])
                self.connects[key] = max(self.connects.get(key, 0), copy.incarnation)
            if copy.alive and copy.connected:
                copy.inbox.append(message)

    def deliver(self, copy: Copy) -> None:
        """One report of ``copy`` reaches the supervisor (ignored if it was replaced)."""
        report = copy.outbox.popleft()
        if self.current[copy.job.id] is not copy:
            return
        op = report["op"]
        if op == "ready":
            self._apply(self.failover.ready(copy.job.id, copy.incarnation, report["inputs"],
                                            self.now))
        elif op == "fenced":
            self._apply(self.failover.fenced(report["pipe"], report["position"], self.now))
        elif op == "rewound":
            self._apply(self.failover.rewound(report["pipe"], self.now))
        elif op == "snapshot":
            self._send(self.failover.snapshot(copy.job.id, report["seq"], report["data"]))

    def lose(self, job_ids: list[int]) -> None:
        """The current copies of ``job_ids`` are gone at once (their node died)."""
        for job_id in job_ids:
            self.current[job_id].alive = False
        self.unrecovered |= set(job_ids)
        self._apply(self.failover.lost(job_ids, self.now), lost=job_ids)

    def tick(self, seconds: float) -> None:
        if seconds >= PATIENCE and self.failover.waiting:
            self.timed_out = True
        self.now += seconds
        self._apply(self.failover.tick(self.now))

    # -- running -----------------------------------------------------------------------

    def steps(self) -> list:
        steps = []
        for copy in self.copies:
            steps += copy.steps()
            if copy.outbox:
                steps.append(lambda copy=copy: self.deliver(copy))
        return steps

    def run(self, rng: random.Random, faults: int = 0, late: bool = False,
            limit: int = 20000) -> None:
        """Step at random, with ``faults`` losses of random copies on the way (and, if
        ``late``, pauses longer than the protocol's patience); then on to the end."""
        self.random = rng
        for _ in range(limit):
            steps = self.steps()
            live = [job for job, copy in self.current.items()
                    if job in self.losable and copy.alive]
            if faults and live and rng.random() < 0.02:
                faults -= 1
                self.lose(sorted(rng.sample(live, rng.randint(1, len(live)))))
                continue
            if late and rng.random() < 0.01:
                self.tick(PATIENCE * 1.5)
                continue
            if not steps:
                if faults:
                    faults = 0  # the network has drained: nothing left to disturb
                    continue
                if self.failover.waiting:
                    self.stuck = True  # an answer that can never come: only patience helps
                    self.tick(PATIENCE)
                    continue
                return
            rng.choice(steps)()
            self.now += STEP
            if self.failover.shortfalls:
                self.beyond_retention = True  # snapshots kept do not reach back so far
        self.violations.append(f"no end after {limit} steps")

    def records(self) -> dict[int, list]:
        """What each sink ran, run by run."""
        return {job.id: list(self.current[job.id].state["record"])
                for job in self.network.jobs if not job.outputs}

    def dummies(self) -> int:
        return sum(sum(copy.aligner.dummies) for copy in self.copies)
