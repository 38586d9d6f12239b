"""Sequence alignment of a job's required inputs.

Every block carries its producer's sequence number. Run ``r`` of a job takes
window ``r`` of every required input: blocks ``r*n .. r*n+n-1`` of an input whose
pipe has ``BLOCK_COUNT = n`` (one block when ``n`` is 1). So blocks of different
sequence numbers are never combined, and windows start at the first block.

Blocks lost upstream show up as gaps. A window whose blocks are missing on *every*
input is skipped; a block missing on *some* inputs is replaced by its pipe's dummy
and counted. The first run is the first window that every input holds from its
start: a job never runs on a dummy standing for blocks from before its inputs began.
That matters for a job placed again during a failover: its producers replay what they
remember, and their memories begin at different blocks (each producer got as far
ahead as its pipes let it); the windows before the latest of those beginnings were
lost on some inputs, so they are skipped, and their blocks counted as stale, rather
than run on dummies (a ``PicklePipe``'s is ``None``) that the job never saw a value of.
A stream that ends inside a window leaves that window incomplete: it is not run, and
the job has finished.

The aligner is pure bookkeeping, no I/O: the loop asks :meth:`Aligner.wanting` which
input to read next, :meth:`Aligner.push`es what arrives, and :meth:`Aligner.pop`s a
run when one is ready. Each input holds at most what one window needs plus what the
producer got ahead by, which the pipes' high-water marks bound; ``max_queue`` bounds
it explicitly and drops the oldest blocks beyond it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

#: :meth:`Aligner.wanting` results that are not an input index.
READY = -1
DONE = -2


class Windowed(Protocol):
    """What the aligner needs of a pipe (:class:`~fission.core.pipes.BasePipe` has it)."""

    BLOCK_COUNT: int

    def dummy(self, previous: Any, has_previous: bool) -> Any: ...


class Aligner:
    def __init__(self, pipes: Sequence[Windowed], max_queue: int = 0) -> None:
        self._pipes = tuple(pipes)
        self._windows = tuple(pipe.BLOCK_COUNT for pipe in pipes)
        self._queues: list[deque[tuple[int, Any]]] = [deque() for _ in pipes]
        self._ended: list[int | None] = [None] * len(pipes)
        self._previous: list[Any] = [None] * len(pipes)
        self._has_previous = [False] * len(pipes)
        self._max_queue = max_queue
        self._run = 0
        self._started = False
        #: The index of the next run; after :meth:`pop`, the one just popped plus one.
        self.next_run = 0
        self.dummies = [0] * len(pipes)
        self.dropped = [0] * len(pipes)
        self.stale = [0] * len(pipes)

    def push(self, index: int, seq: int, value: Any) -> None:
        """Accept block ``seq`` of input ``index``."""
        queue = self._queues[index]
        if seq < self.next_run * self._windows[index] or (queue and seq <= queue[-1][0]):
            self.stale[index] += 1
            return
        if self._max_queue and len(queue) >= self._max_queue:
            queue.popleft()
            self.dropped[index] += 1
        queue.append((seq, value))

    def waiting(self) -> list[int]:
        """How many blocks each input holds that wait for their run."""
        return [len(queue) for queue in self._queues]

    def rewind(self, index: int, seq: int) -> int:
        """Forget input ``index``'s blocks from ``seq`` on (its producer was replaced and
        sends them again, with new values); return where the input now stands.

        Blocks of runs already run cannot be forgotten: the input never goes back
        before the current run.
        """
        start = max(seq, self.next_run * self._windows[index])
        queue = self._queues[index]
        while queue and queue[-1][0] >= start:
            queue.pop()
        return start

    def start_at(self, run: int) -> None:
        """Begin with run ``run``: a restored job's earlier runs are in its state."""
        self.next_run = run
        for index, queue in enumerate(self._queues):
            while queue and queue[0][0] < run * self._windows[index]:
                queue.popleft()

    def end(self, index: int, count: int) -> None:
        """Input ``index`` has ended after ``count`` blocks (sequence numbers ``< count``)."""
        self._ended[index] = count

    def wanting(self) -> int:
        """The input to read from next, or :data:`READY` to :meth:`pop`, or :data:`DONE`."""
        queues, windows, ended = self._queues, self._windows, self._ended
        if not self._started:
            empty = self._skip_to_common_start()
            if empty is not None:
                return DONE if ended[empty] is not None else empty
        run = -1
        for index, queue in enumerate(queues):
            if not queue:
                return DONE if ended[index] is not None else index
            window = queue[0][0] // windows[index]
            if run < 0 or window < run:
                run = window
        for index, queue in enumerate(queues):
            last = (run + 1) * windows[index] - 1
            if queue[-1][0] >= last:
                continue
            count = ended[index]
            if count is None:
                return index
            if count <= last:
                return DONE
        self._run = run
        return READY

    def pop(self) -> list[Any]:
        """The inputs of the run :meth:`wanting` found ready, one value (or list) per input."""
        run = self._run
        values = []
        for index, queue in enumerate(self._queues):
            size = self._windows[index]
            if size == 1:
                values.append(self._take(index, queue, run))
            else:
                first = run * size
                values.append([self._take(index, queue, seq) for seq in range(first, first + size)])
        self.next_run = run + 1
        self._started = True
        return values

    def _skip_to_common_start(self) -> int | None:
        """Before the first run: drop each input's blocks from before the first window
        that every input holds from its start; return an input left without blocks."""
        queues, windows = self._queues, self._windows
        start = 0
        while True:
            for index, queue in enumerate(queues):
                while queue and queue[0][0] < start * windows[index]:
                    queue.popleft()
                    self.stale[index] += 1
                if not queue:
                    return index
            first = max(-(-queue[0][0] // window)
                        for queue, window in zip(queues, windows, strict=True))
            if first == start:
                return None
            start = first

    def _take(self, index: int, queue: deque[tuple[int, Any]], seq: int) -> Any:
        if queue and queue[0][0] == seq:
            value = queue.popleft()[1]
            self._previous[index] = value
            self._has_previous[index] = True
            return value
        self.dummies[index] += 1
        return self._pipes[index].dummy(self._previous[index], self._has_previous[index])

    def leftover(self) -> int:
        """Blocks received but never run (an incomplete last window)."""
        return sum(len(queue) for queue in self._queues)
