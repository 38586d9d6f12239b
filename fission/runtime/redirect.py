"""Failover inside a job: redirects of its outputs, replays, fences and rewinds.

Why apart from the job loop: these control messages change the ports underneath
the data path (a redirect closes an output's socket and makes a new one; a fence or a
rewind moves an input's position), and they come rarely, while the loop runs per
block. Keeping them here leaves the loop its four steps (receive, align, run, send),
and puts every mutation of a port by the failover protocol in one place.

- ``connect``: an output is sent to a (new) consumer address. A redirect gets a fresh
  socket: ``disconnect`` is asynchronous in ZeroMQ, and blocks sent just after it could
  still go to the consumer that failed; closing the old socket drops what was queued
  for it. The replacement then gets the retained blocks from the one it needs first
  on (``since``), so what the failed node had not passed on is computed again.
- A replay goes before any newer block, so the consumer gets them in order (it drops
  those it has as duplicates). It may be far longer than the pipe's buffers, and the
  consumer may need another output's blocks before it reads on (a job that joins two
  outputs of this one): it is sent as far as the consumer takes it now, and the rest
  whenever the job waits (:meth:`Redirects.flush`), never blocking the job.
- ``fence``: an input accepts only blocks of a producer incarnation or later, and
  reports how far it has got, so that a replaced producer continues the numbering.
- ``rewind``: an input takes blocks again from a sequence number on: its replaced
  producer sends them anew. Only what still waits to be run can be taken again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import zmq

from fission.runtime.align import Aligner
from fission.runtime.control import ControlChannel
from fission.runtime.ports import Input, Output, push
from fission.security.curve import Gatekeeper
from fission.wire.frame import END, encode

log = logging.getLogger("fission.job")

#: Milliseconds a replay waits for the connection to a replacement consumer.
REPLAY_WAIT_MS = 1000


class Redirects:
    """The job's handlers of ``connect``, ``fence`` and ``rewind``, and its replays."""

    def __init__(self, gate: Gatekeeper, control: ControlChannel, incarnation: int,
                 outputs: list[Output], inputs: list[Input], required: list[Input],
                 aligner: Aligner | None, changed: Callable[[], None]) -> None:
        """``aligner`` is None for a job whose one input needs none (no rewinds then);
        ``changed`` is called after an output's socket or address changed."""
        self._gate = gate
        self._control = control
        self._incarnation = incarnation
        self._outputs = outputs
        self._inputs = inputs
        self._required = required
        self._aligner = aligner
        self._changed = changed
        #: Outputs whose replay has blocks left to send.
        self.replaying: list[Output] = []
        #: The END block's sequence number once the job has finished (a replacement
        #: consumer needs it too), else None.
        self.ended_at: int | None = None

    def handlers(self) -> dict[str, Callable[[dict], None]]:
        return {"connect": self.on_connect, "fence": self.on_fence, "rewind": self.on_rewind}

    def on_connect(self, message: dict) -> None:
        """Send an output to a (new) consumer address, replaying to a replacement."""
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
            output.socket = push(self._gate, address, hwm)
            output.address = address
            self.replay(output, int(message.get("since", 0)))
        self._changed()

    def replay(self, output: Output, since: int) -> None:
        """Send the retained blocks numbered ``since`` or later to the new consumer."""
        frames = output.retention.since(since)
        if self.ended_at is not None:
            frames.append(encode(output.pipe_id, self.ended_at, b"", END, self._incarnation))
        if not frames:
            return
        if not output.socket.poll(REPLAY_WAIT_MS, zmq.POLLOUT):
            log.warning("pipe %s: %s did not accept a connection within %d ms; %d blocks "
                        "are not sent again", output.pipe_id, output.address, REPLAY_WAIT_MS,
                        len(frames))
            return
        output.pending = deque(frames)  # what an earlier replay left is in it again
        output.replayed = frames[-1]
        if output not in self.replaying:
            self.replaying.append(output)
        log.info("pipe %s: sending %d blocks again, from block %d on", output.pipe_id,
                 len(frames), since)
        self.flush()

    def flush(self) -> None:
        """Send what replays have still to send, as far as their consumers take it now."""
        for output in list(self.replaying):
            pending, send = output.pending, output.socket.send
            if not output.open:
                pending.clear()
            try:
                while pending:
                    send(pending[0], zmq.NOBLOCK)
                    pending.popleft()
            except zmq.Again:
                continue
            self.replaying.remove(output)

    def on_fence(self, message: dict) -> None:
        for port in self._inputs:
            if port.pipe_id == message.get("pipe"):
                port.incarnation = max(port.incarnation, int(message["incarnation"]))
                log.info("pipe %s: accepting incarnation %d and later only, at block %d",
                         port.pipe_id, port.incarnation, port.next_seq)
                self._control.send("fenced", pipe=port.pipe_id, position=port.next_seq)

    def on_rewind(self, message: dict) -> None:
        position = None
        if self._aligner is not None:
            for index, port in enumerate(self._required):
                if port.pipe_id == message.get("pipe"):
                    port.next_seq = self._aligner.rewind(index, int(message["seq"]))
                    position = port.next_seq
                    log.info("pipe %s: taking blocks again from %d on", port.pipe_id,
                             position)
        self._control.send("rewound", pipe=message.get("pipe"), position=position)
