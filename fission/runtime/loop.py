"""The job loop: receive, align, run, send.

Per block the loop does one non-blocking ``recv``, one header unpack, the pipe's
``unpack``, the aligner's bookkeeping, the job's ``run``, the pipe's ``pack`` and one
non-blocking ``send``. Only when a socket would block does it fall back to a poll
that also watches the control channel and the optional inputs; a timer checks the
control channel while data flows without pause. No logging happens per block.

Backpressure: every pipe is a PUSH socket connected to a PULL socket with
high-water marks on both ends, and the loop reads an input only when the aligner
wants it, so a slow job makes its producers wait and memory stays bounded. PUSH
sockets queue only to connected peers (``IMMEDIATE``): while a consumer is gone, its
producer waits instead of filling a queue that a failover would throw away. The
marks are bounded in bytes too (the pipe's ``QUEUE_BYTES``, fission/runtime/queues.py),
set before a socket connects: an output's from its first block, where it connects; an
input's from the block size its pipe knows beforehand.

Failover support is two numbers per input: the lowest incarnation it accepts (a
block of an older one comes from a copy that was replaced, and is dropped) and how
far it has got (the next sequence number it expects), which a ``fence`` reports so
that a replaced source continues the numbering instead of restarting it. Each
output keeps what it sent until it is acknowledged (fission/runtime/retention.py):
when a ``connect`` points it at a replacement consumer, the blocks from the one the
replacement needs first on are sent again, so what the failed node had not passed
on is computed again. Under ``run`` (``JobSpec.replay``) every output keeps its
blocks and the job reports how far it has got on each input (``progress``, at most
every ``CONTROL_INTERVAL``, where the control channel is looked at anyway), from
which the backend computes what no replay can need any more (``covered``). Under
``simulate`` only outputs to a job that may restart keep blocks (``JobSpec.covered``).
A full retention makes the producer wait, serving its control channel.

Unreadable blocks. A message that is not a block of the pipe (too short, another
format version, another pipe's id: :class:`~fission.errors.WireError`) comes from a
peer, not from this network's code: it is dropped and counted as garbage. So is a
payload that one of FISSION's own pipes (``PicklePipe``, ``JSONPipe``, ``BytesPipe``
and their optional forms) cannot decode: foreign bytes. A pipe class that overrides
``unpack`` owns its decoding: an exception it raises is a bug in the user's code and
fails the job, naming the pipe, unless it is a ``WireError`` (the way for such a pipe
to say "not a block of mine: drop it"). Likewise a value the job returns that an
output pipe cannot ``pack`` fails the job, naming the pipe.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from fission.core.pipes import BasePipe
from fission.errors import JobError, WireError
from fission.runtime import queues, state
from fission.runtime.align import DONE, Aligner
from fission.runtime.control import ControlChannel, from_text
from fission.runtime.heads import headed_run, input_unpack, out_head
from fission.runtime.optional import OptionalInput
from fission.runtime.recording import recorders
from fission.runtime.retention import Retention
from fission.runtime.spec import CONSOLE_PIPE_ID, JobSpec
from fission.runtime.usage import usage
from fission.security.curve import Gatekeeper
from fission.wire.frame import END, HEAD, HEADER, VERSION, decode, encode, pack_head

log = logging.getLogger("fission.job")
NOBLOCK = zmq.NOBLOCK

#: Seconds between looks at the control channel while data flows without pause.
CONTROL_INTERVAL = 0.05
#: Seconds between two reports of the job's figures to its backend (the dashboard's,
#: ``top``'s): checked where the control channel is, so it costs nothing per block.
FIGURES_INTERVAL = 1.0
#: Milliseconds a replay waits for the connection to a replacement consumer.
REPLAY_WAIT_MS = 1000
#: Milliseconds between two tries to send more of a replay while the job waits.
REPLAY_POLL_MS = 10
#: How many unreadable blocks are logged one by one before only being counted.
GARBAGE_LOG_LIMIT = 5


@dataclass
class _Output:
    pipe_id: int
    pack: Callable[[Any], bytes]
    socket: zmq.Socket
    address: str | None
    #: The blocks sent and not yet acknowledged, to replay to a replacement consumer.
    retention: Retention
    #: The last block the latest replay sends (the one a blocked send waits with, maybe).
    replayed: bytes | None = None
    open: bool = True
    #: What a replay has still to send, before any newer block (see ``_replay``).
    pending: deque[bytes] = field(default_factory=deque)
    pipe: BasePipe | None = None
    #: Whether its sending mark is set and its socket may connect (fission/runtime/queues.py).
    sized: bool = False


@dataclass
class _Input:
    pipe_id: int
    unpack: Callable[[Any], Any]
    socket: zmq.Socket
    #: The pipe, when its class overrides ``unpack``: then what that raises is the user's bug.
    user_pipe: BasePipe | None = None
    garbage: int = 0
    #: Blocks of older incarnations dropped (a replaced producer's).
    fenced: int = 0
    #: What :meth:`JobRunner._receive_waiting` polls for this input (made on first wait).
    poller: zmq.Poller | None = None
    #: The lowest producer incarnation accepted.
    incarnation: int = 0
    #: One past the highest sequence number received.
    next_seq: int = 0
    #: Blocks taken from an optional input (its figures; required ones count by next_seq).
    received: int = 0


class JobRunner:
    """Runs one job inside its process until it finishes, fails or is stopped."""

    def __init__(self, spec: JobSpec, gate: Gatekeeper, wakeup_fd: int | None = None) -> None:
        """``gate`` secures every socket of the job (its context is the job's).

        ``wakeup_fd`` is the read end of the process's ``signal.set_wakeup_fd`` pipe.

        Every blocking poll watches it: a signal that lands just before the poll
        system call would otherwise not interrupt it, and the job would miss SIGTERM.
        """
        self.job = job = spec.job
        self._gate = gate
        self._wakeup_fd = wakeup_fd
        self._incarnation = spec.incarnation
        self.control = ControlChannel(gate, spec.control, job.id, spec.incarnation)
        self._handlers = {"stop": self._on_stop, "close_output": self._on_close_output,
                          "connect": self._on_connect, "fence": self._on_fence,
                          "rewind": self._on_rewind, "begin": self._on_begin,
                          "restore": self._on_restore, "covered": self._on_covered}
        self._stopping = False
        self._stop_requested = False
        #: Whether the job has finished and sent its END blocks.
        self._ended = False
        self._first_seq: int | None = None if spec.gated or spec.restoring else 0
        self._restoring = spec.restoring
        #: Snapshots: every ``_every`` runs (the run count of the next is ``_snapshot_at``),
        #: and by ``_snapshot_by`` (monotonic seconds) at the latest.
        self._every = state.interval(job) if spec.snapshots else 0
        self._snapshot_at: float = self._every if spec.snapshots else state.NEVER
        self._snapshot_by = time.monotonic() + state.SNAPSHOT_SECONDS
        #: Runs when the last snapshot was taken.
        self._snapshot_runs = 0
        #: Progress reports (``run``): when the next may go, and the runs the last told.
        self._next_progress = 0.0 if spec.replay and job.inputs else math.inf
        self._reported_runs = 0

        required: list[_Input] = []
        required_pipes: list[BasePipe | _ConsoleLine] = []
        if spec.console is not None:
            socket = _pull(gate, spec.console, 64, "the console input")
            required.append(_Input(CONSOLE_PIPE_ID, _decode_text, socket))
            required_pipes.append(_ConsoleLine())
        self._optional: list[tuple[_Input, OptionalInput]] = []
        # Each run's arguments in config order: (is_optional, index into its list).
        layout: list[tuple[bool, int]] = [(False, 0)] if spec.console is not None else []
        for pipe in job.inputs:
            socket = _pull(gate, spec.inputs[pipe.id], queues.input_mark(pipe), f"pipe {pipe.id}")
            port = _Input(pipe.id, input_unpack(pipe, job.HEAD), socket,
                          None if _builtin_decoder(pipe) else pipe)
            if pipe.optional:
                layout.append((True, len(self._optional)))
                self._optional.append((port, OptionalInput(pipe)))
            else:
                layout.append((False, len(required)))
                required.append(port)
                required_pipes.append(pipe)
        self._required = required
        self._layout = layout if self._optional else None
        self._aligner = Aligner(required_pipes, max_queue=job.MAX_QUEUE)
        self._windows = [pipe.BLOCK_COUNT for pipe in required_pipes]

        self._recorders = recorders(spec, gate)
        self._outputs = [
            _Output(pipe.id, pipe.block_encoder(),
                    _push(gate, None, pipe.HWM), spec.outputs.get(pipe.id),
                    Retention(pipe.RETAIN_BLOCKS, pipe.RETAIN_BYTES,
                              enabled=spec.replay or pipe.id in spec.covered,
                              floor=spec.retain_floor.get(pipe.id, 1)), pipe=pipe)
            for pipe in job.outputs
        ]
        #: Outputs whose replay has blocks left to send.
        self._replaying: list[_Output] = []
        self._refresh_live()
        if spec.snapshots:
            log.info("sending snapshots of its state every %d runs, and every %g s of runs",
                     self._every, state.SNAPSHOT_SECONDS)
        for pipe_id in sorted(spec.covered):
            log.info("pipe %s: keeping blocks until a snapshot of its consumer covers them",
                     pipe_id)
        self._run = job.run
        job.__dict__["_fission_end"] = self._end_from_inside  # what job.finish() calls
        if job.HEAD:  # heads cost only these jobs: other callables, the same loops
            job.in_heads = [None] * len(job.inputs)
            job.out_heads = [None] * len(job.outputs)
            self._emit = self._emit_with_heads
            if job.inputs:
                self._run = headed_run(job)
        self._next_control = 0.0
        self._next_figures = 0.0 if spec.figures else math.inf
        self._single_input = (len(required) == 1 and required_pipes[0].BLOCK_COUNT == 1
                              and not self._optional and not job.MAX_QUEUE)
        #: Runs so far, and the sequence number the next block sent would carry.
        self.runs = 0
        self.next_seq = 0

    # -- the two loops ---------------------------------------------------------------

    def run(self) -> None:
        """Set the job up, run it to its end, and tear it down whatever happens."""
        bound = {port.pipe_id: port.socket.getsockopt_string(zmq.LAST_ENDPOINT)
                 for port in self._inputs()}
        self.control.send("ready", inputs=bound)
        self.job.setup()
        try:
            if self._restoring:
                self._serve_control_until(lambda: not self._restoring)
            if self._single_input:
                self._consume_one()
            elif self._required:
                self._consume()
            else:
                self._produce()
        finally:
            self.job.teardown()
            for recorder in self._recorders.values():
                recorder.close()
        self._finish()

    def _consume(self) -> None:
        """Run once per aligned set of input blocks, until an input ends."""
        aligner, run, emit = self._aligner, self._run, self._emit
        wanting, receive = aligner.wanting, self._receive
        drain = self.job.MAX_QUEUE > 0
        while not self._stopping:
            if drain:
                self._drain_required()
            state = wanting()
            if state >= 0:
                receive(state)
                continue
            if state == DONE:
                break
            values = aligner.pop()
            result = run(*self._arguments(values)) if self._layout else run(*values)
            self.runs += 1
            emit(aligner.next_run - 1, result)
            if self.runs >= self._snapshot_at:
                self._snapshot(aligner.next_run)
            if time.monotonic() >= self._next_control:
                self._check_control()
        self.next_seq = aligner.next_run

    def _consume_one(self) -> None:
        """:meth:`_consume` for the common job with one plain input: no aligner needed.

        With one input every block is its own run and a gap has nothing to be
        aligned with, so the block's own sequence number is the run's.
        """
        port = self._required[0]
        recv, unpack, pipe = port.socket.recv, port.unpack, port.pipe_id
        run, emit, monotonic = self._run, self._emit, time.monotonic
        while not self._stopping:
            try:
                frame = recv(NOBLOCK)
            except zmq.Again:
                frame = self._receive_waiting(port)
                if frame is None:
                    break
            try:
                flags, incarnation, seq, payload = decode(frame, pipe)
                if incarnation != port.incarnation and not _admit(port, incarnation):
                    continue
                if flags & END:
                    break
                value = unpack(payload)
            except Exception as error:  # noqa: BLE001 - counted, or failing the job: _garbage
                self._garbage(port, error)
                continue
            if seq < port.next_seq:
                self._aligner.stale[0] += 1
                continue
            port.next_seq = seq + 1
            emit(seq, run(value))
            self.runs += 1
            if self.runs >= self._snapshot_at:
                self._snapshot(seq + 1)
            if monotonic() >= self._next_control:
                self._check_control()
        self.next_seq = port.next_seq

    def _produce(self) -> None:
        """Call a source's generator or ``run`` until it is exhausted or returns None."""
        job = self.job
        self._serve_control_until(lambda: self._first_seq is not None)
        if self._stop_requested:
            return
        first = self._first_seq
        if inspect.isgeneratorfunction(job.run):
            values = job.run()
        elif self._layout:
            values = iter(lambda: job.run(*self._arguments([])), None)
        else:
            values = iter(job.run, None)
        emit, monotonic = self._emit, time.monotonic
        for seq, value in enumerate(values, first):
            emit(seq, value)
            self.runs += 1
            if self.runs >= self._snapshot_at:
                self._snapshot(seq + 1)
            if monotonic() >= self._next_control:
                self._check_control()
            if self._stopping:
                break
        self.next_seq = first + self.runs

    def _arguments(self, values: list[Any]) -> list[Any]:
        self._drain_optional()
        optional = self._optional
        return [optional[index][1].take() if is_optional else values[index]
                for is_optional, index in self._layout]

    # -- sending ---------------------------------------------------------------------

    def _emit(self, seq: int, result: Any) -> None:
        if not self._outputs:
            return  # a sink: what run returns goes nowhere
        header, incarnation = HEADER.pack, self._incarnation
        mapped = isinstance(result, tuple)
        if mapped and len(result) != len(self._outputs):
            raise JobError(
                f"{self.job.label} returned a tuple of {len(result)} values for its "
                f"{len(self._outputs)} outputs; return one value per output, or a non-tuple "
                "value for all of them (wrap a single tuple: return (my_tuple,))"
            )
        for index, pipe_id, pack, remember, output in self._live:
            try:
                payload = pack(result[index] if mapped else result)
            except Exception as error:
                raise self._unpackable(output, result[index] if mapped else result,
                                       error) from error
            frame = header(VERSION, 0, incarnation, pipe_id, seq) + payload
            room = remember(frame)
            try:
                if output.pending:
                    raise zmq.Again  # a replay's blocks go first
                # Looked up at each send: a ``connect`` handled while an earlier output
                # waited may have replaced this output's socket.
                output.socket.send(frame, NOBLOCK)
            except zmq.Again:
                self._send_waiting(output, frame)
            if not room:
                self._await_room(output)

    def _emit_with_heads(self, seq: int, result: Any) -> None:
        """:meth:`_emit` for a job with ``HEAD = True``: each block carries a head field."""
        if not self._outputs:
            return
        job, incarnation = self.job, self._incarnation
        mapped = isinstance(result, tuple)
        if mapped and len(result) != len(self._outputs):
            JobRunner._emit(self, seq, result)  # raises the error any job gets
        for index, pipe_id, pack, remember, output in self._live:
            value = result[index] if mapped else result
            try:
                payload = pack(value)
            except Exception as error:
                raise self._unpackable(output, value, error) from error
            frame = (HEADER.pack(VERSION, HEAD, incarnation, pipe_id, seq)
                     + pack_head(*out_head(job, index)) + payload)
            room = remember(frame)
            try:
                if output.pending:
                    raise zmq.Again  # a replay's blocks go first
                output.socket.send(frame, NOBLOCK)
            except zmq.Again:
                self._send_waiting(output, frame)
            if not room:
                self._await_room(output)

    def _unpackable(self, output: _Output, value: Any, error: Exception) -> JobError:
        pipe = next(pipe for pipe in self.job.outputs if pipe.id == output.pipe_id)
        return JobError(
            f"{self.job.label} returned a value that its output pipe {pipe.id} "
            f"({type(pipe).__name__}) cannot pack: {type(value).__name__} {value!r:.80} "
            f"({type(error).__name__}: {error}); return what the pipe carries (a "
            "PicklePipe: picklable values, not lambdas, open files or sockets), or use "
            "another pipe class"
        )

    def _send_waiting(self, output: _Output, frame: bytes) -> None:
        """Send once the consumer has room, handling control messages meanwhile.

        A ``connect`` handled meanwhile replaces the output's socket: the wait goes
        on with the new one. What a replay has still to send goes first.
        """
        while output.open and not self._stop_requested:
            socket = output.socket
            poller = self._new_poller()
            poller.register(socket, zmq.POLLOUT)
            events = self._poll(poller)
            if self.control.socket in events:
                self._check_control()
            if output.replayed is frame:
                return  # a redirect meanwhile, whose replay sends it
            if output.pending:
                continue
            if socket in events and output.open and output.socket is socket:
                with contextlib.suppress(zmq.Again):  # a replay's end took the room
                    socket.send(frame, zmq.NOBLOCK)
                    return

    def _await_room(self, output: _Output) -> None:
        """Wait until acknowledgements make room in the output's retention (backpressure),
        serving the control channel meanwhile: acknowledgements, redirects and stops
        arrive there. A job with inputs takes a snapshot that has become due meanwhile,
        since its producers may wait for one."""
        retention = output.retention
        poller = self._new_poller()
        while retention.full and output.open and not self._stop_requested:
            events = self._poll(poller)
            if self.control.socket in events:
                self._check_control()
            self._idle_snapshot()

    def _refresh_live(self) -> None:
        """Precompute what :meth:`_emit` needs of each output still open."""
        self._live = [(index, o.pipe_id, o.pack, self._remembering(o), o)
                      for index, o in enumerate(self._outputs) if o.open]
        if self._outputs and not self._live:
            self._stopping = True  # every consumer has finished

    def _remembering(self, output: _Output) -> Callable[[bytes], bool]:
        """What :meth:`_emit` calls with each frame: keep it for replays and, under
        ``--record``, write it to the pipe's recording; it says whether the retention
        has room for another."""
        recorder = self._recorders.get(output.pipe_id)
        keep = output.retention.keep
        if recorder is not None:
            keep = _recording(recorder.write, keep)
        if output.sized:
            return keep

        def first(frame: bytes) -> bool:
            self._open_output(output, len(frame))
            return keep(frame)

        return first

    def _open_output(self, output: _Output, block_bytes: int) -> None:
        """At an output's first block: set its sending mark from the block's size, connect
        it (fission/runtime/queues.py), and send on without this check."""
        queues.size_output(output.socket, output.pipe, block_bytes)
        output.sized = True
        if output.address is not None:
            output.socket.connect(output.address)
        self._refresh_live()

    # -- receiving -------------------------------------------------------------------

    def _receive(self, index: int) -> None:
        port = self._required[index]
        try:
            frame = port.socket.recv(zmq.NOBLOCK)
        except zmq.Again:
            frame = self._receive_waiting(port)
            if frame is None:
                return
        try:
            flags, incarnation, seq, payload = decode(frame, port.pipe_id)
            if incarnation != port.incarnation and not _admit(port, incarnation):
                return
            if flags & END:
                self._aligner.end(index, seq)
                return
            value = port.unpack(payload)
        except Exception as error:  # noqa: BLE001 - counted, or failing the job: _garbage
            self._garbage(port, error)
            return
        if seq >= port.next_seq:
            port.next_seq = seq + 1
        self._aligner.push(index, seq, value)

    def _receive_waiting(self, port: _Input) -> bytes | None:
        """Block until ``port`` has a block, serving control and optional inputs meanwhile.

        Its poller (control channel, signal wake-up, optional inputs and ``port``) is
        made once: a wait costs only the poll.
        """
        poller = port.poller
        if poller is None:
            poller = port.poller = self._new_poller()
            for optional, _ in self._optional:
                poller.register(optional.socket, zmq.POLLIN)
            poller.register(port.socket, zmq.POLLIN)
        while not self._stopping:
            events = self._poll(poller)
            if self.control.socket in events:
                self._check_control()
            self._idle_snapshot()
            if len(events) > 1 or port.socket not in events:
                self._drain_optional()
            if port.socket in events:
                return port.socket.recv(zmq.NOBLOCK)
        return None

    def _drain_required(self) -> None:
        """Pull every block already waiting (MAX_QUEUE: drop the oldest, never wait)."""
        for index, port in enumerate(self._required):
            while port.socket.poll(0):
                self._receive(index)

    def _drain_optional(self) -> None:
        for port, policy in self._optional:
            socket = port.socket
            while socket.poll(0):
                frame = socket.recv()
                try:
                    flags, incarnation, seq, payload = decode(frame, port.pipe_id)
                    if incarnation != port.incarnation and not _admit(port, incarnation):
                        continue
                    if not flags & END:
                        policy.offer(port.unpack(payload))
                        port.received += 1
                        port.next_seq = seq + 1
                except Exception as error:  # noqa: BLE001 - counted, or failing the job: _garbage
                    self._garbage(port, error)

    def _garbage(self, port: _Input, error: Exception) -> None:
        """Count an unreadable block, or fail the job if the user's ``unpack`` raised."""
        if port.user_pipe is not None and not isinstance(error, WireError):
            pipe = port.user_pipe
            raise JobError(
                f"{self.job.label}: unpack() of its input pipe {pipe.id} "
                f"({type(pipe).__name__}) raised {type(error).__name__}: {error}; fix that "
                "pipe class (raise fission.errors.WireError there to drop a block as garbage)"
            ) from error
        port.garbage += 1
        if port.garbage <= GARBAGE_LOG_LIMIT:
            last = "; further ones are only counted" if port.garbage == GARBAGE_LOG_LIMIT else ""
            log.warning("pipe %s: dropped an unreadable block (%s: %s)%s", port.pipe_id,
                        type(error).__name__, error, last)

    # -- control ---------------------------------------------------------------------

    def _check_control(self) -> None:
        now = time.monotonic()
        self._next_control = now + CONTROL_INTERVAL
        if now >= self._next_figures:
            self._report_figures(now)
        if now >= self._snapshot_by and self._every:
            self._snapshot_at = min(self._snapshot_at, self.runs + 1)  # at the next run
        if now >= self._next_progress:
            self._report_progress(now)
        self.control.dispatch(self._handlers)

    def _report_progress(self, now: float) -> None:
        """Tell the backend how far the job has got on each input, if it has run since
        it last did: the blocks its runs have taken (``progress``), which acknowledge
        blocks to their producers (fission/backends/acks.py)."""
        self._next_progress = now + CONTROL_INTERVAL
        if self.runs == self._reported_runs:
            return
        self._reported_runs = self.runs
        run = self._required[0].next_seq if self._single_input else self._aligner.next_run
        inputs = {port.pipe_id: run * window
                  for port, window in zip(self._required, self._windows, strict=True)
                  if port.pipe_id != CONSOLE_PIPE_ID}
        inputs.update({port.pipe_id: port.next_seq for port, _ in self._optional})
        self.control.send("progress", inputs=inputs)

    def _snapshot(self, seq: int) -> None:
        """Send the job's state, as it is before run ``seq``, to the backend."""
        self.control.send_with("snapshot", state.capture(self.job), seq=seq)
        self._snapshot_at = self.runs + self._every
        self._snapshot_by = time.monotonic() + state.SNAPSHOT_SECONDS
        self._snapshot_runs = self.runs
        self._reported_runs = -1  # the next progress report goes out: it may free blocks

    def _idle_snapshot(self) -> None:
        """Take a snapshot that is due while the job waits between runs: its producers
        may be waiting for one to acknowledge their blocks, and no next run comes first."""
        if (self._every and self._required and not self._restoring
                and self.runs > self._snapshot_runs and time.monotonic() >= self._snapshot_by):
            self._snapshot(self._required[0].next_seq if self._single_input
                           else self._aligner.next_run)

    def _on_covered(self, message: dict) -> None:
        """No replay can need the pipe's blocks before ``seq`` any more: forget them."""
        for output in self._outputs:
            if output.pipe_id == message.get("pipe"):
                output.retention.acknowledge(int(message["seq"]))

    def _on_restore(self, message: dict) -> None:
        """Start from a snapshot: its state, and its run number on every input."""
        seq = int(message["seq"])
        state.restore(self.job, from_text(message.get("state")))
        for port, window in zip(self._required, self._windows, strict=True):
            port.next_seq = seq * window
        self._aligner.start_at(seq)
        self._first_seq = seq
        self._restoring = False
        log.info("restored from the snapshot before run %d", seq)

    def _end_from_inside(self) -> None:
        """``job.finish()``: end after this run, as a finite source ends."""
        self._stopping = True

    def _report_figures(self, now: float) -> None:
        self._next_figures = now + FIGURES_INTERVAL
        self.control.send("figures", stats=self.figures())

    def _on_stop(self, message: dict) -> None:
        log.info("stop requested by the backend")
        self._stop_requested = self._stopping = True

    def _on_connect(self, message: dict) -> None:
        """Send an output to a (new) consumer address.

        A redirect gets a fresh socket: ``disconnect`` is asynchronous in ZeroMQ, and
        blocks sent just after it could still go down the pipe to the consumer that
        failed. Closing the old socket drops what was queued for it.
        """
        for output in self._outputs:
            if output.pipe_id != message.get("pipe"):
                continue
            address = str(message["address"])
            log.info("pipe %s: sending to %s", output.pipe_id, address)
            if output.address is None or not output.sized:  # nothing was delivered yet
                output.address = address
                if output.sized:  # else it connects at its first block (queues.py)
                    output.socket.connect(address)
                continue
            hwm = output.socket.getsockopt(zmq.SNDHWM)
            output.socket.close(linger=0)
            output.socket = _push(self._gate, address, hwm)
            output.address = address
            self._replay(output, int(message.get("since", 0)))
        self._refresh_live()

    def _replay(self, output: _Output, since: int) -> None:
        """Send the remembered blocks numbered ``since`` or later to the new consumer.

        They go before any newer block, so the consumer gets them in order; blocks it
        already has it drops as duplicates. A replay may be far longer than the pipe's
        buffers, and the consumer may need another output's blocks before it reads on
        (a job that joins two outputs of this one): so it is sent as far as the consumer
        takes it now, and the rest whenever the job waits (:meth:`_flush_replays`),
        never blocking the job.
        """
        frames = output.retention.since(since)
        if self._ended:  # the job has finished: the new consumer needs the END block too
            frames.append(encode(output.pipe_id, self.next_seq, b"", END, self._incarnation))
        if not frames:
            return
        if not output.socket.poll(REPLAY_WAIT_MS, zmq.POLLOUT):
            log.warning("pipe %s: %s did not accept a connection within %d ms; %d blocks "
                        "are not sent again", output.pipe_id, output.address, REPLAY_WAIT_MS,
                        len(frames))
            return
        output.pending = deque(frames)  # what an earlier replay left is in it again
        output.replayed = frames[-1]
        if output not in self._replaying:
            self._replaying.append(output)
        log.info("pipe %s: sending %d blocks again, from block %d on", output.pipe_id,
                 len(frames), since)
        self._flush_replays()

    def _flush_replays(self) -> None:
        """Send what replays have still to send, as far as their consumers take it now."""
        for output in list(self._replaying):
            pending, send = output.pending, output.socket.send
            if not output.open:
                pending.clear()
            try:
                while pending:
                    send(pending[0], NOBLOCK)
                    pending.popleft()
            except zmq.Again:
                continue
            self._replaying.remove(output)

    def _on_fence(self, message: dict) -> None:
        for port in self._inputs():
            if port.pipe_id == message.get("pipe"):
                port.incarnation = max(port.incarnation, int(message["incarnation"]))
                log.info("pipe %s: accepting incarnation %d and later only, at block %d",
                         port.pipe_id, port.incarnation, port.next_seq)
                self.control.send("fenced", pipe=port.pipe_id, position=port.next_seq)

    def _on_rewind(self, message: dict) -> None:
        """Take blocks of a pipe again from ``seq`` on: its replaced producer sends them
        anew. Only what is still waiting to be run can be taken again."""
        position = None
        for index, port in enumerate(self._required):
            if port.pipe_id == message.get("pipe") and not self._single_input:
                port.next_seq = self._aligner.rewind(index, int(message["seq"]))
                position = port.next_seq
                log.info("pipe %s: taking blocks again from %d on", port.pipe_id, position)
        self.control.send("rewound", pipe=message.get("pipe"), position=position)

    def _on_begin(self, message: dict) -> None:
        self._first_seq = int(message["seq"])
        log.info("continuing at block %d", self._first_seq)

    def _on_close_output(self, message: dict) -> None:
        for output in self._outputs:
            if output.pipe_id == message.get("pipe"):
                output.open = False
                output.retention.clear()  # a finished consumer needs no replay
                log.info("pipe %s: consumer has finished; no longer sending", output.pipe_id)
        self._refresh_live()

    # -- the end ---------------------------------------------------------------------

    def _finish(self) -> None:
        """Tell consumers the stream ended and the backend what happened."""
        if self._stop_requested:
            stats = self.statistics()
            log.info("stopped after %d runs: %s", self.runs, stats)
            self.control.send("stopped", stats=stats)
            return
        self._ended = True
        if self._next_progress != math.inf:  # it needs nothing more: its inputs hold nothing up
            self.control.send("progress", inputs={}, finished=True)
        for output in self._outputs:
            if output.open and not output.sized:  # an empty stream: connect for its END
                self._open_output(output, 0)
            if output.open:
                self._send_waiting(output, encode(output.pipe_id, self.next_seq, b"", END,
                                                  self._incarnation))
        stats = self.statistics()
        log.info("finished after %d runs: %s", self.runs, stats)
        self.control.send("finished", stats=stats)
        self._await_release()

    def _await_release(self) -> None:
        """Keep the sockets open until the backend says every consumer has finished.

        Closing a ZeroMQ socket right after the last send can lose what is still
        queued for a busy peer, LINGER or not; the END blocks must not be lost, so
        the process stays until its consumers are done with them.
        """
        if self._stop_requested:
            return
        released = False

        def release(message: dict) -> None:
            nonlocal released
            released = True

        self._serve_control_until(lambda: released, {"release": release, "stop": release})

    def _serve_control_until(self, done: Callable[[], bool],
                             extra: dict[str, Callable[[dict], None]] | None = None) -> None:
        """Handle control messages (and signals) until ``done()`` or a stop."""
        handlers = {**self._handlers, **(extra or {})}
        poller = self._new_poller()
        while not done() and not self._stop_requested:
            self._poll(poller)
            self.control.dispatch(handlers)

    def _inputs(self) -> list[_Input]:
        return self._required + [port for port, _ in self._optional]

    def _new_poller(self) -> zmq.Poller:
        """A poller on the control channel and the signal wake-up pipe."""
        poller = zmq.Poller()
        poller.register(self.control.socket, zmq.POLLIN)
        if self._wakeup_fd is not None:
            poller.register(self._wakeup_fd, zmq.POLLIN)
        return poller

    def _poll(self, poller: zmq.Poller) -> dict:
        """Wait for any event, or a second; a signal's wake-up byte is consumed (its handler
        runs next). A job that waits still reports its figures once a second."""
        timeout = None if self._next_figures == math.inf else FIGURES_INTERVAL * 1000
        if self.runs != self._reported_runs and self._next_progress != math.inf:
            timeout = CONTROL_INTERVAL * 1000  # a progress report is still to go
        if self._replaying:
            timeout = REPLAY_POLL_MS
        events = dict(poller.poll(timeout))
        if self._replaying:
            self._flush_replays()
        if self._wakeup_fd in events:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wakeup_fd, 512)
        now = time.monotonic()
        if now >= self._next_figures:
            self._report_figures(now)
        if now >= self._next_progress:
            self._report_progress(now)
        return events

    def statistics(self) -> dict[str, Any]:
        """Counters of this job, per pipe id, for its log and the backend."""
        aligner = self._aligner
        per_input = {}
        for index, port in enumerate(self._required):
            per_input[port.pipe_id] = {"garbage": port.garbage,
                                       "dummies": aligner.dummies[index],
                                       "dropped": aligner.dropped[index],
                                       "stale": aligner.stale[index] + port.fenced}
        for port, policy in self._optional:
            per_input[port.pipe_id] = {"garbage": port.garbage, "dropped": policy.dropped,
                                       "stale": port.fenced}
        return {"runs": self.runs, "inputs": per_input,
                "outputs": {o.pipe_id: {"open": o.open} for o in self._outputs},
                "leftover": aligner.leftover()}

    def figures(self) -> dict[str, Any]:
        """:meth:`statistics` and what a live view adds: blocks per pipe so far, blocks
        waiting to be run per input, the process's CPU seconds and resident memory."""
        stats = self.statistics()
        waiting = self._aligner.waiting()
        stats["blocks_in"] = {port.pipe_id: port.next_seq for port in self._required}
        stats["blocks_in"].update({port.pipe_id: port.received for port, _ in self._optional})
        stats["waiting"] = {port.pipe_id: waiting[index]
                            for index, port in enumerate(self._required)}
        stats["blocks_out"] = {o.pipe_id: o.retention.next_seq()
                               or max(o.retention.acknowledged, self.runs)
                               for o in self._outputs}
        stats.update(usage())
        return stats


class _ConsoleLine:
    """What the aligner needs of the console input: one line per run, no dummies."""

    BLOCK_COUNT = 1

    def dummy(self, previous: Any, has_previous: bool) -> str:
        return ""


def _recording(write: Callable[[bytes], Any],
               keep: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    """``keep``, writing each frame to the pipe's recording first (``--record``)."""

    def remember(frame: bytes) -> bool:
        write(frame)
        return keep(frame)

    return remember


def _decode_text(data: memoryview) -> str:
    return bytes(data).decode()


def _builtin_decoder(pipe: BasePipe) -> bool:
    """Whether the pipe decodes with one of FISSION's own ``unpack`` methods (not the
    abstract one of ``BasePipe``, whose NotImplementedError is the user's to fix)."""
    unpack = type(pipe).unpack
    return unpack is not BasePipe.unpack and unpack.__module__ == BasePipe.__module__


def _pull(gate: Gatekeeper, address: str, hwm: int, label: str) -> zmq.Socket:
    socket = gate.context.socket(zmq.PULL)
    gate.serve(socket, label)
    socket.setsockopt(zmq.RCVHWM, hwm)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(address)
    return socket


def _push(gate: Gatekeeper, address: str | None, hwm: int) -> zmq.Socket:
    socket = gate.context.socket(zmq.PUSH)
    gate.dial(socket)
    socket.setsockopt(zmq.SNDHWM, hwm)
    socket.setsockopt(zmq.RECONNECT_IVL, 10)
    socket.setsockopt(zmq.IMMEDIATE, 1)
    socket.setsockopt(zmq.LINGER, 0)
    if address is not None:
        socket.connect(address)
    return socket


def _admit(port: _Input, incarnation: int) -> bool:
    """Whether a block of another incarnation than the input's current one is taken.

    A newer one means the producer was replaced: from now on only its blocks count.
    An older one comes from the replaced copy, and is dropped.
    """
    if incarnation > port.incarnation:
        port.incarnation = incarnation
        return True
    port.fenced += 1
    return False
