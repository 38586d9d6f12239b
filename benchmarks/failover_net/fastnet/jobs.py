"""The jobs of the failover network.

- :class:`Counter` (pinned to 127.0.0.2) yields 0, 1, 2, ... every ``interval`` seconds;
  it is never on the node that fails, so its values number the blocks and a gap in
  them at the sink is a block lost.
- :class:`Forward` (pinned to 127.0.0.3, the node the benchmark kills) passes each
  value on with its own pid, so the sink can tell the original from its replacement;
  :class:`NamespacedForward` is the same job pinned to the node in the link-cut
  namespace.
- :class:`ArrivalSink` (on the client) appends ``time.time() value pid`` per block to
  ``arrivals.txt`` in its working directory (``fastnet/local/3/``), one flushed line
  each, so the benchmark reads arrival times as they happen.

``DEFAULT_NODE`` is only read by the client's placement; on a replacement the pinned
node is down, so the job goes wherever the placement rules put it.
"""

import os
import time

from fission.core.jobs import LocalJob, PythonJob

ARRIVALS = "arrivals.txt"


class Counter(PythonJob):
    DEFAULT_NODE = "127.0.0.2"

    def __init__(self, interval=0.005, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.interval = interval

    def run(self):
        value = 0
        while True:
            yield value
            value += 1
            time.sleep(self.interval)


class Forward(PythonJob):
    DEFAULT_NODE = "127.0.0.3"

    def setup(self):
        self.pid = os.getpid()

    def run(self, value):
        return ((value, self.pid),)  # one output: wrap the tuple


class NamespacedForward(Forward):
    DEFAULT_NODE = "10.231.0.2"


class ArrivalSink(LocalJob):
    def setup(self):
        self.file = open(ARRIVALS, "w", buffering=1)  # noqa: SIM115 - closed in teardown

    def run(self, block):
        value, pid = block
        self.file.write(f"{time.time():.6f} {value} {pid}\n")

    def teardown(self):
        self.file.close()
