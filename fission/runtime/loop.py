"""The job loop: receive, align, run, send.

Per block the loop does one ``recv``, one header unpack, the pipe's ``unpack``, the
aligner's bookkeeping, the job's ``run``, the pipe's ``pack`` with one header pack and
one ``send``. A socket that would block waits a few milliseconds inside ZeroMQ; only
then does the loop fall back to a poll (one poller, made once) that also watches the
control channel and the optional inputs; a timer checks the control channel while
data flows without pause. No logging happens per block.

Backpressure: every pipe is a PUSH socket connected to a PULL socket with
high-water marks on both ends, and the loop reads an input only when the aligner
wants it, so a slow job makes its producers wait and memory stays bounded. PUSH
sockets queue only to connected peers (``IMMEDIATE``): while a consumer is gone, its
producer waits instead of filling a queue that a failover would throw away. The
marks are bounded in bytes too (the pipe's ``QUEUE_BYTES``, fission/runtime/queues.py),
set before a socket connects: an output's from its first block, where it connects; an
input's from the block size its pipe knows beforehand.

The ports (sockets, and the one receive path: decode, admit, unpack) are in
fission/runtime/ports.py; block headers are packed and read only in
fission/wire/frame.py. Failover support is two numbers per input: the lowest
incarnation it accepts (a block of an older one comes from a copy that was replaced,
and is dropped) and how far it has got (the next sequence number it expects). Each
output keeps what it sent until it is acknowledged (fission/runtime/retention.py),
to replay it to a replacement consumer; redirects, replays, fences and rewinds are
handled in fission/runtime/redirect.py. Under ``run`` (``JobSpec.replay``) every output keeps its
blocks and the job reports how far it has got on each input (``progress``, at most
every ``CONTROL_INTERVAL``, where the control channel is looked at anyway), from
which the backend computes what no replay can need any more (``covered``). Under
``simulate`` only outputs to a job that may restart keep blocks (``JobSpec.covered``).
A full retention makes the producer wait, serving its control channel.

Unreadable blocks are dropped and counted (fission/runtime/ports.py). A value the
job returns that an output pipe cannot ``pack`` fails the job, naming the pipe.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import zmq

from fission.core.pipes import BasePipe
from fission.errors import JobError
from fission.runtime import queues, state
from fission.runtime.align import DONE, Aligner
from fission.runtime.control import ControlChannel, from_text
from fission.runtime.heads import headed_run, input_unpack, out_head
from fission.runtime.optional import OptionalInput
from fission.runtime.ports import Input, Output, builtin_decoder, pull, push, receive
from fission.runtime.recording import recorders
from fission.runtime.redirect import Redirects
from fission.runtime.retention import Retention
from fission.runtime.spec import CONSOLE_PIPE_ID, JobSpec
from fission.runtime.usage import usage
from fission.security.curve import Gatekeeper
from fission.wire.frame import END, block_encoder, encode, headed_encoder

log = logging.getLogger("fission.job")
NOBLOCK = zmq.NOBLOCK

#: Seconds between looks at the control channel while data flows without pause.
CONTROL_INTERVAL = 0.05
#: Seconds between two reports of the job's figures to its backend (the dashboard's,
#: ``top``'s): checked where the control channel is, so it costs nothing per block.
FIGURES_INTERVAL = 1.0
#: Milliseconds between two tries to send more of a replay while the job waits.
REPLAY_POLL_MS = 10


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
        self._stopping = False
        self._stop_requested = False
        #: Whether the job has finished and sent its END blocks.
        self._ended = False
        self._first_seq: int | None = None if spec.gated or spec.restoring else 0
        self._restoring = spec.restoring
        #: Snapshots: every ``_every`` runs (the run count of the next is ``_snapshot_at``),
        #: and by ``_snapshot_by`` (monotonic seconds) at the latest. ``_every`` is
        #: resized by bytes at each snapshot (state.resized), up to ``_by_blocks``.
        self._by_blocks = state.interval(job)
        self._every = min(self._by_blocks, state.FIRST_INTERVAL) if spec.snapshots else 0
        self._snapshot_at: float = self._every if spec.snapshots else state.NEVER
        self._snapshot_by = time.monotonic() + state.SNAPSHOT_SECONDS
        #: Runs when the last snapshot was taken.
        self._snapshot_runs = 0
        #: Progress reports (``run``): when the next may go, and the runs the last told.
        self._next_progress = 0.0 if spec.replay and job.inputs else math.inf
        self._reported_runs = 0

        required: list[Input] = []
        required_pipes: list[BasePipe | _ConsoleLine] = []
        if spec.console is not None:
            socket = pull(gate, spec.console, 64, "the console input")
            required.append(Input(CONSOLE_PIPE_ID, _decode_text, socket, job.label))
            required_pipes.append(_ConsoleLine())
        self._optional: list[tuple[Input, OptionalInput]] = []
        # Each run's arguments in config order: (is_optional, index into its list).
        layout: list[tuple[bool, int]] = [(False, 0)] if spec.console is not None else []
        #: The inputs of pipes, with their RETAIN_BYTES (what snapshots are sized by).
        self._sized_inputs: list[tuple[Input, int]] = []
        for pipe in job.inputs:
            socket = pull(gate, spec.inputs[pipe.id], queues.input_mark(pipe), f"pipe {pipe.id}")
            port = Input(pipe.id, input_unpack(pipe, job.HEAD), socket, job.label,
                         None if builtin_decoder(pipe) else pipe,
                         zero_copy=pipe.zero_copy_input())
            self._sized_inputs.append((port, pipe.RETAIN_BYTES))
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
        encoder = headed_encoder if job.HEAD else block_encoder
        self._outputs = []
        for pipe in job.outputs:
            parts = pipe.block_parts_encoder()
            output = Output(pipe.id, encoder(pipe.id, spec.incarnation,
                                             parts or pipe.block_encoder(), parts is not None),
                            push(gate, None, pipe.HWM), spec.outputs.get(pipe.id),
                            Retention(pipe.RETAIN_BLOCKS, pipe.RETAIN_BYTES,
                                      enabled=spec.replay or pipe.id in spec.covered,
                                      floor=spec.retain_floor.get(pipe.id, 1)), pipe=pipe)
            recorder = self._recorders.get(pipe.id)
            if recorder is not None:
                output.remember = _recording(output.retention, recorder.write)
            output.remember = self._sizing_first(output, output.remember)
            self._outputs.append(output)
        self._single_input = (len(required) == 1 and required_pipes[0].BLOCK_COUNT == 1
                              and not self._optional and not job.MAX_QUEUE)
        self._redirects = Redirects(gate, self.control, spec.incarnation, self._outputs,
                                    self._inputs(), required,
                                    None if self._single_input else self._aligner,
                                    self._refresh_live)
        self._handlers = {"stop": self._on_stop, "close_output": self._on_close_output,
                          "begin": self._on_begin, "restore": self._on_restore,
                          "covered": self._on_covered, **self._redirects.handlers()}
        self._poller = zmq.Poller()  # the control channel and signals; more while waiting
        self._poller.register(self.control.socket, zmq.POLLIN)
        if wakeup_fd is not None:
            self._poller.register(wakeup_fd, zmq.POLLIN)
        self._refresh_live()
        if spec.snapshots:
            log.info("sending snapshots of its state every %d runs at first (then sized by "
                     "its blocks' bytes, at most every %d), and every %g s of runs",
                     self._every, self._by_blocks, state.SNAPSHOT_SECONDS)
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
        run, emit, monotonic, wait = self._run, self._emit, time.monotonic, self._wait_for
        while not self._stopping:
            block = receive(port, wait)
            if block is None:
                continue  # dropped, or the job stops
            ended, seq, value = block
            if ended:
                break
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
        mapped = isinstance(result, tuple)
        if mapped and len(result) != len(self._outputs):
            raise self._not_one_per_output(result)
        # The outputs themselves, not their sockets' bound methods: a control message
        # handled while an earlier output waited may have replaced a socket or closed
        # an output.
        for index, output in self._live:
            if not output.open:
                continue
            value = result[index] if mapped else result
            try:
                frame = output.encode(seq, value)
            except Exception as error:
                raise self._unpackable(output, value, error) from error
            self._send(output, frame)

    def _emit_with_heads(self, seq: int, result: Any) -> None:
        """:meth:`_emit` for a job with ``HEAD = True``: each block carries a head field."""
        if not self._outputs:
            return
        job = self.job
        mapped = isinstance(result, tuple)
        if mapped and len(result) != len(self._outputs):
            raise self._not_one_per_output(result)
        for index, output in self._live:
            if not output.open:
                continue
            value = result[index] if mapped else result
            bits, size = out_head(job, index)
            try:
                frame = output.encode(seq, value, bits, size)
            except Exception as error:
                raise self._unpackable(output, value, error) from error
            self._send(output, frame)

    def _send(self, output: Output, frame: bytes) -> None:
        """Keep ``frame`` for replays and send it; wait if the consumer or the retention
        has no room (backpressure)."""
        room = output.remember(frame)
        try:
            if output.pending:
                raise zmq.Again  # a replay's blocks go first
            output.socket.send(frame)  # waits SOCKET_TIMEOUT_MS at most
        except zmq.Again:
            self._send_waiting(output, frame)
        if not room:
            self._await_room(output)

    def _not_one_per_output(self, result: tuple) -> JobError:
        return JobError(
            f"{self.job.label} returned a tuple of {len(result)} values for its "
            f"{len(self._outputs)} outputs; return one value per output, or a non-tuple "
            "value for all of them (wrap a single tuple: return (my_tuple,))"
        )

    def _unpackable(self, output: Output, value: Any, error: Exception) -> JobError:
        pipe = next(pipe for pipe in self.job.outputs if pipe.id == output.pipe_id)
        return JobError(
            f"{self.job.label} returned a value that its output pipe {pipe.id} "
            f"({type(pipe).__name__}) cannot pack: {type(value).__name__} {value!r:.80} "
            f"({type(error).__name__}: {error}); return what the pipe carries (a "
            "PicklePipe: picklable values, not lambdas, open files or sockets), or use "
            "another pipe class"
        )

    def _send_waiting(self, output: Output, frame: bytes) -> None:
        """Send once the consumer has room, handling control messages meanwhile.

        A ``connect`` handled meanwhile replaces the output's socket: the wait goes
        on with the new one. What a replay has still to send goes first.
        """
        while output.open and not self._stop_requested:
            socket = output.socket
            with self._watching((socket,), zmq.POLLOUT):
                events = self._poll()
            if self.control.socket in events:
                self._check_control()
            if output.replayed is frame:
                return  # a redirect meanwhile, whose replay sends it
            if output.pending:
                continue
            if socket in events and output.open and output.socket is socket:
                with contextlib.suppress(zmq.Again):  # a replay's end took the room
                    socket.send(frame, NOBLOCK)
                    return

    def _await_room(self, output: Output) -> None:
        """Wait until acknowledgements make room in the output's retention (backpressure),
        serving the control channel meanwhile: acknowledgements, redirects and stops
        arrive there. A job with inputs takes a snapshot that has become due meanwhile,
        since its producers may wait for one."""
        retention = output.retention
        while retention.full and output.open and not self._stop_requested:
            events = self._poll()
            if self.control.socket in events:
                self._check_control()
            self._idle_snapshot()

    def _refresh_live(self) -> None:
        """The outputs :meth:`_emit` sends to (those still open), with their indexes."""
        self._live = [(index, o) for index, o in enumerate(self._outputs) if o.open]
        if self._outputs and not self._live:
            self._stopping = True  # every consumer has finished

    def _sizing_first(self, output: Output,
                      remember: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
        """``remember``, opening the output at its first block first: the socket's
        sending mark comes from that block's size (fission/runtime/queues.py), so it may
        connect only then. It puts ``remember`` back after that one block."""

        def first(frame: bytes) -> bool:
            output.remember = remember
            self._open_output(output, len(frame))
            return remember(frame)

        return first

    def _open_output(self, output: Output, block_bytes: int) -> None:
        """Set an output's sending mark from its first block's size and connect it."""
        queues.size_output(output.socket, output.pipe, block_bytes)
        output.sized = True
        if output.address is not None:
            output.socket.connect(output.address)
        self._refresh_live()

    # -- receiving -------------------------------------------------------------------

    def _receive(self, index: int) -> None:
        port = self._required[index]
        block = receive(port, self._wait_for)
        if block is None:
            return
        ended, seq, value = block
        if ended:
            self._aligner.end(index, seq)
            return
        if seq >= port.next_seq:
            port.next_seq = seq + 1
        self._aligner.push(index, seq, value)

    def _wait_for(self, port: Input) -> bool:
        """Block until ``port`` has a block (True) or the job stops (False), serving the
        control channel and the optional inputs meanwhile."""
        watched = (port.socket, *(optional.socket for optional, _ in self._optional))
        with self._watching(watched, zmq.POLLIN):
            while not self._stopping:
                events = self._poll()
                if self.control.socket in events:
                    self._check_control()
                self._idle_snapshot()
                if len(events) > 1 or port.socket not in events:
                    self._drain_optional()
                if port.socket in events:
                    return True
        return False

    def _drain_required(self) -> None:
        """Pull every block already waiting (MAX_QUEUE: drop the oldest, never wait)."""
        for index, port in enumerate(self._required):
            while port.socket.poll(0):
                self._receive(index)

    def _drain_optional(self) -> None:
        for port, policy in self._optional:
            while port.socket.poll(0):
                block = receive(port)
                if block is not None and not block[0]:
                    policy.offer(block[2])
                    port.received += 1
                    port.next_seq = block[1] + 1

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
        self._every = state.resized(self._by_blocks, self.runs - self._snapshot_runs,
                                    self._bytes_taken())
        self._snapshot_at = self.runs + self._every
        self._snapshot_by = time.monotonic() + state.SNAPSHOT_SECONDS
        self._snapshot_runs = self.runs
        self._reported_runs = -1  # the next progress report goes out: it may free blocks

    def _bytes_taken(self) -> list[tuple[int, int]]:
        """Per pipe, its RETAIN_BYTES and the bytes of its blocks since the last snapshot
        (a source: its outputs' kept blocks, by their average size)."""
        taken = [(retain_bytes, port.bytes) for port, retain_bytes in self._sized_inputs]
        for port, _ in self._sized_inputs:
            port.bytes = 0
        if not self._sized_inputs:
            runs = self.runs - self._snapshot_runs
            taken.extend((o.retention.max_bytes, o.retention.bytes * runs // len(o.retention))
                         for o in self._outputs if len(o.retention))
        return taken

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
        self._redirects.ended_at = self.next_seq
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
        while not done() and not self._stop_requested:
            self._poll()
            self.control.dispatch(handlers)

    def _inputs(self) -> list[Input]:
        return self._required + [port for port, _ in self._optional]

    @contextlib.contextmanager
    def _watching(self, sockets: tuple[zmq.Socket, ...], event: int) -> Iterator[None]:
        """The job's one poller watches ``sockets`` for ``event`` too, while in the block."""
        for socket in sockets:
            self._poller.register(socket, event)
        try:
            yield
        finally:
            for socket in sockets:
                self._poller.unregister(socket)

    def _poll(self) -> dict:
        """Wait for any event, or a second; a signal's wake-up byte is consumed (its handler
        runs next). A job that waits still reports its figures once a second."""
        timeout = None if self._next_figures == math.inf else FIGURES_INTERVAL * 1000
        if self.runs != self._reported_runs and self._next_progress != math.inf:
            timeout = CONTROL_INTERVAL * 1000  # a progress report is still to go
        if self._redirects.replaying:
            timeout = REPLAY_POLL_MS
        events = dict(self._poller.poll(timeout))
        if self._redirects.replaying:
            self._redirects.flush()
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


def _decode_text(data: memoryview) -> str:
    return bytes(data).decode()


def _recording(retention: Retention, write: Callable[[bytes], Any]) -> Callable[[bytes], bool]:
    """An output's ``remember`` under ``--record``: write each block to the pipe's
    recording, then keep it for replays."""
    keep = retention.keep

    def remember(frame: bytes) -> bool:
        write(frame)
        return keep(frame)

    return remember
