"""Socket queues bounded in bytes: the high-water marks of a pipe's two sockets.

ZeroMQ's high-water marks count messages, not bytes: a pipe's ``HWM`` of 256 blocks is
a few hundred kB of small blocks, but 12 GB of 50 MB ones, on the sending side and
again on the receiving side. So each side's mark is as many blocks as the pipe's
``QUEUE_BYTES`` holds, at least 1 and at most ``HWM`` (:func:`marks`), set once per
socket, before it is connected: ZeroMQ applies a mark to a connection when the
connection is made, and changing it on a live one can stall the pipe for good
(measured with libzmq 4.3.5). Blocks after that cost nothing more.

- The producer sizes its output from its first block (or its END, if it ends without
  one), so an output connects there, not when it is told its consumer's address. The
  fresh socket of a redirect takes over the mark of the one it replaces.
- The consumer binds each input before any block arrives, so it sizes it from what
  the pipe knows beforehand (:meth:`BasePipe.block_bytes`: a ``BytesPipe``, an
  ``ArrayPipe`` with ``dtype`` and ``shape``). For a pipe that does not know (a
  ``PicklePipe``), the receive queue is bounded by ``HWM`` blocks only: give such a
  pipe of big blocks a small ``HWM``.
"""

from __future__ import annotations

import zmq

from fission.core.pipes import BasePipe


def marks(queue_bytes: int, hwm: int, block_bytes: int) -> int:
    """The high-water mark for blocks of ``block_bytes``: what ``queue_bytes`` holds of
    them, at least 1 (a bigger block still flows, one at a time), at most ``hwm``."""
    return max(1, min(hwm, queue_bytes // max(1, block_bytes)))


def size_output(socket: zmq.Socket, pipe: BasePipe, block_bytes: int) -> None:
    """Set an output's sending mark from its first block, before its socket connects."""
    socket.setsockopt(zmq.SNDHWM, marks(pipe.QUEUE_BYTES, pipe.HWM, block_bytes))


def input_mark(pipe: BasePipe) -> int:
    """The receiving mark of an input, from the size of its blocks if the pipe knows it."""
    size = pipe.block_bytes()
    return pipe.HWM if size is None else marks(pipe.QUEUE_BYTES, pipe.HWM, size)
