"""A job's ports: one per input and output pipe, each with its socket.

Why a module of its own: the job loop (fission/runtime/loop.py) reads a block in
three places (the single-input loop, the aligned loop and the drain of optional
inputs), and redirects (fission/runtime/redirect.py) replace output sockets. Both
need the same sockets, made with the same options, and every read must treat a
block the same way: decode its header, drop a replaced producer's blocks, unpack
the payload, count what cannot be read. So that is written once, in
:func:`receive`, and the sockets are made only by :func:`pull` and :func:`push`.

Sockets. An input is a bound PULL socket, an output a PUSH socket with
``IMMEDIATE`` (it queues only to a connected consumer: while one is gone its producer
waits instead of filling a queue that a failover would throw away), both with the
pipe's high-water mark. Both have a short timeout (:data:`SOCKET_TIMEOUT_MS`): a read
or send that would block waits that long inside ZeroMQ, without a poll per block,
before the loop falls back to a poll that also serves the control channel. An input
whose pipe decodes without copying (``ArrayPipe``) is read without a copy as well
while its blocks are big (the size of the last one predicts the next's).

Unreadable blocks. A message that is not a block of the pipe
(:class:`~fission.errors.WireError`) or a payload one of FISSION's own pipes cannot
decode comes from a peer, not from this network's code: it is dropped and counted as
garbage. A pipe class that overrides ``unpack`` owns its decoding: what it raises,
unless a ``WireError``, is a bug in the user's code and fails the job, naming the pipe.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from fission.core.pipes import BasePipe
from fission.errors import JobError, WireError
from fission.runtime.retention import Retention
from fission.security.curve import Gatekeeper
from fission.wire.frame import END, decode

log = logging.getLogger("fission.job")

#: Milliseconds a read or send waits inside ZeroMQ before the loop polls (see above).
SOCKET_TIMEOUT_MS = 10
#: Blocks of this size or more are read without a copy, where the pipe allows it:
#: below it, a copy costs less than ZeroMQ's message object does.
ZERO_COPY_BYTES = 64 * 2**10
#: How many unreadable blocks are logged one by one before only being counted.
GARBAGE_LOG_LIMIT = 5

#: What :func:`receive` returns: ``(ended, seq, value)``; ``ended`` with ``seq`` the
#: number of blocks the producer sent, and no value.
Block = tuple[bool, int, Any]


@dataclass(eq=False)
class Output:
    """One output pipe: its socket, where it sends, and what it keeps for replays."""

    pipe_id: int
    #: ``encode(seq, value)`` -> the block (fission/wire/frame.py).
    encode: Callable[..., bytes]
    socket: zmq.Socket
    address: str | None
    #: The blocks sent and not yet acknowledged, to replay to a replacement consumer.
    retention: Retention
    #: What is called with each block sent: keeps it (and records it under --record);
    #: whether the retention has room for another.
    remember: Callable[[bytes], bool] = field(init=False)
    #: The last block the latest replay sends (the one a blocked send waits with, maybe).
    replayed: bytes | None = None
    open: bool = True
    #: What a replay has still to send, before any newer block.
    pending: deque[bytes] = field(default_factory=deque)
    pipe: BasePipe | None = None
    #: Whether its sending mark is set and its socket may connect (fission/runtime/queues.py).
    sized: bool = False

    def __post_init__(self) -> None:
        self.remember = self.retention.keep


@dataclass(eq=False)
class Input:
    """One input pipe: its socket, how its payloads decode, and how far it has got."""

    pipe_id: int
    unpack: Callable[[Any], Any]
    socket: zmq.Socket
    #: Who reads it, for messages: "JoinJob 4".
    owner: str
    #: The pipe, when its class overrides ``unpack``: then what that raises is the user's bug.
    user_pipe: BasePipe | None = None
    #: Whether blocks may be read without a copy (the decoder then gets a view of
    #: ZeroMQ's message), and whether the next is: the last one was big.
    zero_copy: bool = False
    big: bool = False
    garbage: int = 0
    #: Blocks of older incarnations dropped (a replaced producer's).
    fenced: int = 0
    #: The lowest producer incarnation accepted.
    incarnation: int = 0
    #: One past the highest sequence number received.
    next_seq: int = 0
    #: Blocks taken from an optional input (its figures; required ones count by next_seq).
    received: int = 0
    #: Bytes of the blocks read since the last snapshot (sizes the next interval).
    bytes: int = 0


def receive(port: Input, wait: Callable[[Input], bool] | None = None) -> Block | None:
    """Read one block of ``port``: ``(ended, seq, value)``, or None if there was none.

    Without ``wait`` it does not block. With it, it waits up to
    :data:`SOCKET_TIMEOUT_MS` inside ZeroMQ and then calls ``wait(port)``, which
    returns once the port has a message (True) or the job stops (False). A block that
    is dropped (garbage, a replaced producer's) gives None too.
    """
    copy = not port.big
    try:
        frame = port.socket.recv(0 if wait else zmq.NOBLOCK, copy=copy)
    except zmq.Again:
        if wait is None or not wait(port):
            return None
        frame = port.socket.recv(zmq.NOBLOCK, copy=copy)
    if not copy:
        frame = frame.buffer
    size = len(frame)
    port.bytes += size
    if port.zero_copy:
        port.big = size >= ZERO_COPY_BYTES
    try:
        flags, incarnation, seq, payload = decode(frame, port.pipe_id)
        if incarnation != port.incarnation and not admit(port, incarnation):
            return None
        if flags & END:
            return True, seq, None
        return False, seq, port.unpack(payload)
    except Exception as error:  # noqa: BLE001 - counted, or failing the job: garbage
        garbage(port, error)
        return None


def admit(port: Input, incarnation: int) -> bool:
    """Whether a block of another incarnation than the input's current one is taken.

    A newer one means the producer was replaced: from now on only its blocks count.
    An older one comes from the replaced copy, and is dropped.
    """
    if incarnation > port.incarnation:
        port.incarnation = incarnation
        return True
    port.fenced += 1
    return False


def garbage(port: Input, error: Exception) -> None:
    """Count an unreadable block, or fail the job if the user's ``unpack`` raised."""
    if port.user_pipe is not None and not isinstance(error, WireError):
        pipe = port.user_pipe
        raise JobError(
            f"{port.owner}: unpack() of its input pipe {pipe.id} "
            f"({type(pipe).__name__}) raised {type(error).__name__}: {error}; fix that "
            "pipe class (raise fission.errors.WireError there to drop a block as garbage)"
        ) from error
    port.garbage += 1
    if port.garbage <= GARBAGE_LOG_LIMIT:
        last = "; further ones are only counted" if port.garbage == GARBAGE_LOG_LIMIT else ""
        log.warning("pipe %s: dropped an unreadable block (%s: %s)%s", port.pipe_id,
                    type(error).__name__, error, last)


def builtin_decoder(pipe: BasePipe) -> bool:
    """Whether the pipe decodes with one of FISSION's own ``unpack`` methods (not the
    abstract one of ``BasePipe``, whose NotImplementedError is the user's to fix)."""
    unpack = type(pipe).unpack
    return unpack is not BasePipe.unpack and unpack.__module__ == BasePipe.__module__


def pull(gate: Gatekeeper, address: str, hwm: int, label: str) -> zmq.Socket:
    """An input's socket, bound to ``address``."""
    socket = gate.context.socket(zmq.PULL)
    gate.serve(socket, label)
    socket.setsockopt(zmq.RCVHWM, hwm)
    socket.setsockopt(zmq.RCVTIMEO, SOCKET_TIMEOUT_MS)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(address)
    return socket


def push(gate: Gatekeeper, address: str | None, hwm: int) -> zmq.Socket:
    """An output's socket, connected to ``address`` if there is one yet."""
    socket = gate.context.socket(zmq.PUSH)
    gate.dial(socket)
    socket.setsockopt(zmq.SNDHWM, hwm)
    socket.setsockopt(zmq.SNDTIMEO, SOCKET_TIMEOUT_MS)
    socket.setsockopt(zmq.RECONNECT_IVL, 10)
    socket.setsockopt(zmq.IMMEDIATE, 1)
    socket.setsockopt(zmq.LINGER, 0)
    if address is not None:
        socket.connect(address)
    return socket
