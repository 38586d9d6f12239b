"""The jobs of the scale network: chains of a counter and a forward, one sink for all.

:class:`Counter` yields 0, 1, 2, ... at ``rate`` blocks per second (paced against its
start); :class:`Forward` passes each value on; the sink (a ``CSVSinkJob`` on the client)
writes one row per round with one column per chain, so a correct row holds one value
``len(chains)`` times, and a gap in the first column is a round lost.
"""

import time

from fission.core.jobs import PythonJob


class Counter(PythonJob):
    def __init__(self, rate=10.0, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rate = rate

    def run(self):
        start = time.monotonic()
        value = 0
        while True:
            yield value
            value += 1
            delay = start + value / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class Forward(PythonJob):
    def run(self, value):
        return value
