"""Jobs of the HEAD tests (copied into each test project, like netjobs.py)."""

from __future__ import annotations

import itertools

from fission.core.jobs import CSVSinkJob, Head, PythonJob
from fission.core.pipes import PicklePipe

MARK = Head(0b1000_0000)


class Window3(PicklePipe):
    BLOCK_COUNT = 3


class Marker(PythonJob):
    """An endless HEAD source: 0, 1, 2, ...; every tenth block carries MARK."""

    HEAD = True

    def run(self):
        for value in itertools.count():
            if value % 10 == 0:
                self.out_heads[0] = MARK
            yield value


class Mixer(PythonJob):
    """Reports the heads it sees per run; finishes the network at ``last``."""

    HEAD = True

    def __init__(self, last: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.last = last

    def run(self, marked, plain, window):
        seen = [self.in_heads[0].head, self.in_heads[1].head, [h.head for h in self.in_heads[2]]]
        if marked == self.last:
            self.finish()
        return f"{marked}:{plain}:{sum(window)}:{seen}:{self.head.head}"


class HeadCSV(CSVSinkJob):
    """A CSV sink that also writes the head of its first input."""

    HEAD = True

    def run(self, *values):
        super().run(*values, self.in_heads[0].head)


class StopAt(PythonJob):
    """A job without HEAD that ends the network with finish() when it sees ``last``."""

    def __init__(self, last: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.last = last

    def run(self, value):
        if value == self.last:
            self.finish()
        return value
