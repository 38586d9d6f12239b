"""Jobs and pipes the end-to-end tests wire into their networks.

This module is not imported by pytest: each test copies it into the root of a temporary
project, where a network's ``config.py`` imports it (``from netjobs import CountSource``) and
every job process re-imports it by module path. Everything a job needs travels in
``__init__`` arguments (pickled) or lands in files in its working directory
(``simulation/<id>/``), where the tests read it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fission.core.jobs import PythonJob
from fission.core.pipes import OptionalPicklePipe, PicklePipe
from fission.errors import WireError


class Window5(PicklePipe):
    BLOCK_COUNT = 5


class OnceOptional(OptionalPicklePipe):
    """Each value reaches one run; runs without a new value get the default."""

    OPTIONAL_DEFAULT = "-"
    OPTIONAL_STORE = False


class KeepOptional(OptionalPicklePipe):
    """The last value reaches every run until a newer one arrives."""

    OPTIONAL_DEFAULT = "-"
    OPTIONAL_STORE = True


class Fussy(PicklePipe):
    """A user's pipe whose own ``unpack`` has a bug: it cannot take the value 3."""

    def unpack(self, data):
        value = super().unpack(data)
        if value == 3:
            raise ValueError("three is not welcome")
        return value


class Picky(PicklePipe):
    """A user's pipe that declares the value 3 not one of its blocks (dropped as garbage)."""

    def unpack(self, data):
        value = super().unpack(data)
        if value == 3:
            raise WireError("three is not a block of this pipe")
        return value


def _write_count(path: str | None, count: int) -> None:
    """Replace the file whole, so a reader never sees it truncated and still empty."""
    if path is not None:
        partial = Path(f"{path}.partial")
        partial.write_text(str(count))
        os.replace(partial, path)


class CountSource(PythonJob):
    """A generator source: yields start, start+1, ... (``n`` values, or forever if ``n`` is None).

    ``count_file``: after every ``every`` yields, the number of values handed out so far is
    written there (the yield returns once the runtime has taken the value).
    """

    def __init__(self, n: int | None = None, start: int = 0, sleep: float = 0.0,
                 count_file: str | None = None, every: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n, self.start, self.sleep = n, start, sleep
        self.count_file, self.every = count_file, every

    def run(self):
        value, count = self.start, 0
        while self.n is None or count < self.n:
            yield value
            count += 1
            value += 1
            if count % self.every == 0:
                _write_count(self.count_file, count)
            if self.sleep:
                time.sleep(self.sleep)


class CallSource(PythonJob):
    """A non-generator source: ``run`` returns 0, 1, ..., n-1 and then None (the end)."""

    def __init__(self, n: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n = n
        self.calls = 0

    def run(self):
        if self.calls >= self.n:
            return None
        self.calls += 1
        return self.calls - 1


class Double(PythonJob):
    def run(self, x):
        return 2 * x


class Add(PythonJob):
    def run(self, *values):
        return sum(values)


class Split(PythonJob):
    """Two outputs: a tuple maps element-wise, so the first gets x and the second -x."""

    def run(self, x):
        return (x, -x)


class WholeTuple(PythonJob):
    """A tuple wrapped in a tuple goes whole to the single output."""

    def run(self, x):
        return ((x, x + 1),)


class WrongTuple(PythonJob):
    """Has two outputs but returns three values."""

    def run(self, x):
        return (x, x, x)


class SumWindow(PythonJob):
    def run(self, values):
        return sum(values)


class BadJob(PythonJob):
    """Passes values through until ``fail_at``; then waits until ``wait_file`` has
    ``wait_lines`` lines (so the sink has provably written what came before) and raises."""

    def __init__(self, fail_at: int, wait_file: str | None = None, wait_lines: int = 0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.fail_at, self.wait_file, self.wait_lines = fail_at, wait_file, wait_lines

    def run(self, x):
        if x == self.fail_at:
            deadline = time.monotonic() + 10
            while self.wait_file is not None and time.monotonic() < deadline:
                path = Path(self.wait_file)
                if path.exists() and len(path.read_text().splitlines()) >= self.wait_lines:
                    break
                time.sleep(0.02)
            raise RuntimeError(f"boom at {x}")
        return x


class SlowCounter(PythonJob):
    """Sleeps ``sleep`` per block and writes how many blocks it has run to ``count_file``."""

    def __init__(self, sleep: float, count_file: str = "count", **kwargs) -> None:
        super().__init__(**kwargs)
        self.sleep, self.count_file, self.count = sleep, count_file, 0

    def run(self, x):
        time.sleep(self.sleep)
        self.count += 1
        _write_count(self.count_file, self.count)
        return x


class LossySlowCounter(SlowCounter):
    """A SlowCounter that keeps at most 10 blocks waiting and drops the oldest."""

    MAX_QUEUE = 10


class Echo(PythonJob):
    """Prints each value it passes on."""

    def run(self, x):
        print(f"echo {x}")
        return x


class Spawner(PythonJob):
    """Passes values on; its ``setup`` starts processes of its own, of every kind a job may.

    A ``subprocess.Popen`` child, a shell pipeline, a plain ``os.fork`` child and a daemon
    that forks twice into a session of its own: all ``sleep`` a long time. Once all are up
    it writes ``pids`` (the job's own pid first, then theirs); ``teardown`` writes
    ``teardown`` after ``slow_teardown`` seconds. ``fail_at``: the value at which ``run`` raises.
    """

    def __init__(self, fail_at: int | None = None, slow_teardown: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.fail_at, self.slow_teardown = fail_at, slow_teardown

    def setup(self) -> None:
        import signal
        import subprocess

        self.children = [subprocess.Popen(["sleep", "1000"]),
                         subprocess.Popen("sleep 1000 | sleep 1001", shell=True)]
        pids = [os.getpid()] + [child.pid for child in self.children]
        forked = os.fork()
        if forked == 0:  # a copy of this job process that only sleeps
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            time.sleep(1000)
            os._exit(0)
        pids.append(forked)
        read, write = os.pipe()
        middle = os.fork()
        if middle == 0:  # the classic daemon: fork, setsid, fork again, the middle one exits
            os.setsid()
            daemon = os.fork()
            if daemon == 0:
                os.execvp("sleep", ["sleep", "1002"])
            os.write(write, str(daemon).encode())
            os._exit(0)
        os.waitpid(middle, 0)
        os.close(write)
        pids.append(int(os.read(read, 64)))
        os.close(read)
        Path("pids").write_text("\n".join(map(str, pids)) + "\n")

    def run(self, x):
        if x == self.fail_at:
            raise RuntimeError(f"boom at {x}")
        return x

    def teardown(self) -> None:
        time.sleep(self.slow_teardown)
        Path("teardown").write_text("done")
class ReturnsLambda(PythonJob):
    """Returns a lambda for its second output, which a PicklePipe cannot carry."""

    def run(self, x):
        return x, (lambda: x)


class BigBlocks(PythonJob):
    """Yields ``n`` distinct blocks of ``size`` bytes, then small ones ``sleep`` s apart."""

    def __init__(self, n: int, size: int, sleep: float = 0.05, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n, self.size, self.sleep = n, size, sleep

    def run(self):
        for index in range(self.n):
            yield index.to_bytes(8, "little") * (self.size // 8)
        while True:
            yield b""
            time.sleep(self.sleep)


class CountsBlocks(PythonJob):
    """Writes how many non-empty blocks it got to ``count_file``; returns nothing."""

    def __init__(self, count_file: str = "count", **kwargs) -> None:
        super().__init__(**kwargs)
        self.count_file, self.count = count_file, 0

    def run(self, block):
        if block:
            self.count += 1
            _write_count(self.count_file, self.count)
