"""Jobs and pipes of the executable-job tests (copied into each test project, like netjobs.py).

The programs they run live in ``programs/``: a C filter compiled by the test, a Python program
that talks over inherited file descriptors, and shell sources.
"""

from __future__ import annotations

import itertools
import struct
import time

from fission.core.jobs import ExecutableJob, Head, PythonJob
from fission.core.pipes import BasePipe


class Int64Pipe(BasePipe):
    """A signed 64-bit little-endian int per block: a pipe with a fixed BLOCK_SIZE."""

    BLOCK_SIZE = 8

    def pack(self, value: int) -> bytes:
        return struct.pack("<q", value)

    def unpack(self, data: bytes) -> int:
        return struct.unpack("<q", data)[0]


class IntSource(PythonJob):
    """Yields 0 .. n-1 (forever if ``n`` is None), ``sleep`` seconds apart."""

    def __init__(self, n: int | None, sleep: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n, self.sleep = n, sleep

    def run(self):
        for value in itertools.count() if self.n is None else range(self.n):
            if self.sleep:
                time.sleep(self.sleep)
            yield value


class Triple(ExecutableJob):
    """The C filter ``triple`` (3 * v + 1 per block), a subclass as the original wrote them."""

    DEPENDENCIES = "cprog"
    EXECUTABLE = "./triple"
    PARAMETERS = "--tag triple"


class MarkedInts(PythonJob):
    """A HEAD source: 0 .. n-1 on an Int64Pipe, every tenth block with head 0b1000_0000."""

    HEAD = True

    def __init__(self, n: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n = n

    def run(self):
        for value in range(self.n):
            if value % 10 == 0:
                self.out_heads[0] = Head(0b1000_0000)
            yield value
