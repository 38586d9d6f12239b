"""The blocks an output keeps until no replay can need them: its retention.

A producer keeps each frame it sends, to send it again to the replacement of a
consumer that failed. A frame is dropped only when it is acknowledged: the backend
says (``covered``, with a sequence number) that no replacement can need the frames
before it any more, because a snapshot of the consumer covers them or everything
computed from them has reached the sinks (fission/backends/acks.py). A fixed window
of the last blocks would lose whatever a failover needs beyond it.

Retention is bounded in blocks and in bytes (the pipe's ``RETAIN_BLOCKS`` and
``RETAIN_BYTES``). Once :meth:`Retention.keep` reports it full, the producer waits,
serving its control channel, until acknowledgements make room: backpressure, never a
silent drop.

The floor. A consumer can acknowledge nothing before it has received some number of
blocks: a window of ``BLOCK_COUNT`` blocks, times the windows of the jobs after it,
under ``run``; the blocks up to its next snapshots, for a job that may restart under
``simulate``. A retention that counted itself full before that many blocks would
make the producer wait for an acknowledgement that cannot come: with big blocks,
``RETAIN_BYTES`` is reached after a few of them. So a retention is never full while
it keeps fewer than ``floor`` blocks, whatever their bytes and ``RETAIN_BLOCKS``
(``JobSpec.retain_floor``, computed by the backend; at least 1, so a block larger
than ``RETAIN_BYTES`` still flows). ``RETAIN_BYTES`` is exceeded only by what the first
acknowledgement needs.

An output that nothing can replay to (``simulate`` without restarts) has a disabled
retention: :meth:`keep` forgets the frame at once and is never full.
"""

from __future__ import annotations

from collections import deque

from fission.wire.frame import seq_of as _seq


class Retention:
    """The frames of one output, oldest first, that are not acknowledged yet."""

    __slots__ = ("_frames", "bytes", "max_blocks", "max_bytes", "floor", "acknowledged",
                 "enabled")

    def __init__(self, max_blocks: int, max_bytes: int, enabled: bool = True,
                 floor: int = 1) -> None:
        if floor < 1:
            raise ValueError(f"a retention's floor must be at least 1 block (got {floor})")
        self._frames: deque[bytes] = deque()
        #: Bytes of the frames kept.
        self.bytes = 0
        self.max_blocks = max_blocks
        self.max_bytes = max_bytes
        #: Fewer blocks than this never make it full (see the module's docstring).
        self.floor = floor
        #: Every block before this sequence number is acknowledged (none is kept).
        self.acknowledged = 0
        self.enabled = enabled

    def keep(self, frame: bytes) -> bool:
        """Keep ``frame``; whether there is room for another (False: the producer waits)."""
        if not self.enabled:
            return True
        frames = self._frames
        frames.append(frame)
        self.bytes += len(frame)
        count = len(frames)
        return count < self.floor or (count < self.max_blocks and self.bytes < self.max_bytes)

    @property
    def full(self) -> bool:
        count = len(self._frames)
        return count >= self.floor and (count >= self.max_blocks or self.bytes >= self.max_bytes)

    def acknowledge(self, seq: int) -> None:
        """No replay can need blocks before ``seq`` any more: drop them."""
        if seq <= self.acknowledged:
            return  # acknowledgements only move forward; a late, lower one changes nothing
        self.acknowledged = seq
        frames = self._frames
        while frames and _seq(frames[0]) < seq:
            self.bytes -= len(frames.popleft())

    def clear(self) -> None:
        """Nothing can be replayed any more (the consumer has finished)."""
        self._frames.clear()
        self.bytes = 0
        self.enabled = False

    def since(self, seq: int) -> list[bytes]:
        """The frames kept with sequence numbers ``seq`` or later, in order."""
        return [frame for frame in self._frames if _seq(frame) >= seq]

    def first(self) -> int | None:
        """The sequence number of the oldest frame kept (None: none is)."""
        return _seq(self._frames[0]) if self._frames else None

    def next_seq(self) -> int | None:
        """One past the sequence number of the newest frame kept (None: none is)."""
        return _seq(self._frames[-1]) + 1 if self._frames else None

    def __len__(self) -> int:
        return len(self._frames)
