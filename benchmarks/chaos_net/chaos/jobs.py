"""The jobs of the chaos network: the tutorial's version 3, with values that check themselves.

- :class:`Source` ``i`` (1, 2, 3) sends ``10 * seq + i`` for seq = 0, 1, 2, ... at
  ``rate`` blocks per second (each block due 1/rate after the last, so it does not drift): a value
  says which source sent it and which round it belongs to.
- :class:`Join` multiplies the three values of a round; it sends ``(seq, product)`` to the
  reduce pipe and the product to the sink, whose row ``a, b, c, product`` then checks
  itself: one round (``a // 10 == b // 10 == c // 10``), one value of each source, and
  ``a * b * c == product``.
- :class:`Reduce` sums windows of five ``(seq, product)``; its row ``first:last:sum`` checks
  itself against the products of the rounds ``first .. last``.

A dummy handed to user code (``None``: a block lost upstream before any value came, or
after a failover) is written as :data:`DUMMY` (-1) instead of failing the job, so that the
benchmark goes on and counts it as a wrong row.

See benchmarks/chaos.py, which reads the two CSV files the sinks write.
"""

import time

from fission.core.jobs import PythonJob
from fission.core.pipes import PicklePipe


class ReducePipe(PicklePipe):
    BLOCK_COUNT = 5


def product(seq):
    """The product the Join computes for round ``seq``."""
    return (10 * seq + 1) * (10 * seq + 2) * (10 * seq + 3)


class Source(PythonJob):
    """A method-style source whose position is its state: with ``STATE`` (issue 12's job
    state), a replacement continues the sequence; without it, it starts again at 0."""

    STATE = ("seq",)

    def __init__(self, index, rate=200.0, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = index
        self.rate = rate
        self.seq = 0

    def setup(self):
        self._due = None  # when the next block is due; not state: a replacement paces anew

    def run(self):
        now = time.monotonic()
        if self._due is None or now - self._due > 1.0:  # the first block, or far behind
            self._due = now
        elif self._due > now:
            time.sleep(self._due - now)
        self._due += 1 / self.rate
        value = 10 * self.seq + self.index
        self.seq += 1
        return value


#: What the Join sends for a round in which it was handed a dummy (``None``, the zero of
#: a PicklePipe) instead of a value: a row the benchmark counts as wrong, not a crash.
DUMMY = -1


class Join(PythonJob):
    def run(self, a, b, c):
        if None in (a, b, c):
            return (DUMMY, DUMMY), DUMMY
        result = a * b * c
        return (a // 10, result), result


class Reduce(PythonJob):
    def run(self, window):
        if any(block is None or block[0] == DUMMY for block in window):
            return f"{DUMMY}:{DUMMY}:{DUMMY}"
        seqs = [seq for seq, _ in window]
        return f"{seqs[0]}:{seqs[-1]}:{sum(value for _, value in window)}"
