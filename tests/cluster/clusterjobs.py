"""Jobs of the cluster tests; copied into a test project's ``shared/`` so nodes get them."""

from __future__ import annotations

import time

from fission.core.jobs import PythonJob
from fission.core.pipes import PicklePipe


class Counter(PythonJob):
    """Yields 0, 1, ... ``n`` values (forever if None), ``sleep`` seconds apart."""

    def __init__(self, n=None, sleep=0.0, **kwargs):
        super().__init__(**kwargs)
        self.n, self.sleep = n, sleep

    def run(self):
        value = 0
        while self.n is None or value < self.n:
            yield value
            value += 1
            if self.sleep:
                time.sleep(self.sleep)


class Twice(PythonJob):
    def run(self, x):
        return 2 * x


class Fails(PythonJob):
    def run(self, x):
        if x == 3:
            raise ValueError(f"cannot take {x}")
        return x


class ReadsTable(PythonJob):
    """Looks its input up in ``table.txt``, a DEPENDENCIES file next to it."""

    DEPENDENCIES = ["data/table.txt"]

    def setup(self):
        with open("table.txt") as table:
            self.words = table.read().split()

    def run(self, x):
        return self.words[x % len(self.words)]


class Five(PicklePipe):
    """Its consumer gets five blocks a run."""

    BLOCK_COUNT = 5


class Total(PythonJob):
    def run(self, values):
        return sum(values)


class Add(PythonJob):
    def run(self, *values):
        return sum(values)


class Mirrored(Counter):
    """Yields (i, -i): one value for each of its two outputs."""

    def run(self):
        for value in super().run():
            yield value, -value


class Pair(PythonJob):
    """Passes its two inputs on, one to each of its two outputs."""

    def run(self, a, b):
        return a, b
