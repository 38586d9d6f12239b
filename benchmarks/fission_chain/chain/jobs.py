"""The three jobs of the benchmark chain.

A block is a tuple, and a job's tuple result maps element-wise onto its outputs, so
each job with one output wraps its block in a 1-tuple.

The sink writes ``result.json`` in its working directory (``chain/simulation/3/``) in
``teardown``, so a network stopped by ``--duration`` reports too. Its keys are the
ones ``benchmarks/harness.py`` reads (see its docstring).
"""

import json
import os
import time
from array import array

from fission.core.jobs import PythonJob

MODES = ("small", "large", "latency", "array16k", "array1m")
#: Bytes of the float64 array of each array mode (as benchmarks/harness.py's ARRAY_BYTES).
ARRAY_BYTES = {"array16k": 16 * 1024, "array1m": 1024 * 1024}
#: Blocks between two entries of the sink's progress record, for an unbounded run.
PROGRESS_EVERY = 1000
RESULT = "result.json"


class Source(PythonJob):
    """Sends ``count`` blocks (0: until stopped), paced to ``rate`` in latency mode."""

    def __init__(self, count, mode, rate=1000.0, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if mode not in MODES:
            raise ValueError(f"FISSION_BENCH_MODE must be one of {MODES}, got {mode!r}")
        self.count = count
        self.mode = mode
        self.rate = rate

    def run(self):
        if self.mode in ARRAY_BYTES:
            yield from self._arrays()
            return
        now = time.perf_counter_ns
        payload = None
        if self.mode == "large":
            import numpy as np

            payload = np.random.default_rng(0).random(4096, dtype=np.float32)
        period = int(1e9 / self.rate) if self.mode == "latency" else 0
        count = self.count
        deadline = now()
        seq = 0
        while count <= 0 or seq < count:
            if period:
                deadline += period
                wait = deadline - now()
                if wait > 0:
                    time.sleep(wait / 1e9)
            yield ((seq, now()) if payload is None else (seq, now(), payload),)
            seq += 1

    def _arrays(self):
        """The same array every time (the ArrayPipe copies it out), numbered in element 0."""
        import numpy as np

        array = np.random.default_rng(0).random(ARRAY_BYTES[self.mode] // 8)
        count = self.count
        seq = 0
        while count <= 0 or seq < count:
            array[0] = seq
            yield array
            seq += 1


class Forward(PythonJob):
    """Passes each block on; the runtime unpickles and re-pickles it."""

    def run(self, block):
        return (block,)


class HistoryForward(Forward):
    """:class:`Forward` that writes into 4 KiB of history every run, which nothing
    snapshots: the baseline of :class:`StatefulForward`, so the two differ only in
    what FISSION does for the state, not in the work of ``run``."""

    STATE_BYTES = 4096

    def setup(self):
        self.history = bytearray(self.STATE_BYTES)

    def run(self, block):
        self.history[block[0] % self.STATE_BYTES] = block[0] & 0xFF
        return (block,)


class StatefulForward(HistoryForward):
    """:class:`HistoryForward` with its history snapshotted (``STATE``) and restartable
    (``simulate`` then takes snapshots and the source keeps blocks for a replay)."""

    STATE = ("history",)
    RESTART = "on-failure"


class Sink(PythonJob):
    """Counts blocks, checks their order, times them; writes ``result.json`` at the end."""

    def __init__(self, count, mode, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count = count
        self.mode = mode

    def setup(self):
        self.array = self.mode in ARRAY_BYTES
        self.every = max(1, self.count // 1000) if self.count > 0 else PROGRESS_EVERY
        self.latencies = array("q")
        self.progress = []
        self.received = 0
        self.gaps = 0
        self.last_ns = 0
        self.timed = self.mode == "latency"

    def run(self, block):
        t = time.perf_counter_ns()
        if self.timed:
            self.latencies.append(t - block[1])
        if (int(block[0]) if self.array else block[0]) != self.received:
            self.gaps += 1
        self.received += 1
        self.last_ns = t
        if self.received == 1 or self.received % self.every == 0:
            self.progress.append([self.received, t])

    def teardown(self):
        progress = self.progress
        if progress and progress[-1][0] != self.received:
            progress.append([self.received, self.last_ns])
        record = {
            "received": self.received,
            "gaps": self.gaps,
            "progress": progress,
            "latencies_ns": self.latencies.tolist(),
            "pid": os.getpid(),
        }
        with open(RESULT + ".tmp", "w") as file:
            json.dump(record, file)
        os.replace(RESULT + ".tmp", RESULT)
