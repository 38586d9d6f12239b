"""The chaos network, configured by benchmarks/chaos.py through environment variables.

Shaped like the tutorial's version 3 (three sources, a join of the three, a reduce over
windows of five, two CSV sinks on the client). Only the client imports this file:

- ``CHAOS_CLIENT_IP`` and ``CHAOS_PORT``: CLIENT_IP and SCHEDULER_PORT;
- ``CHAOS_NODES``: the node addresses, comma-separated;
- ``CHAOS_RATE``: blocks per second of each source (default 200).
"""

import os

from chaos.jobs import Join, Reduce, ReducePipe, Source
from fission.core.jobs import CSVSinkJob
from fission.core.nodes import BaseNode
from fission.core.pipes import PicklePipe

LOG_LEVEL = "WARNING"
LOG_FILE = None
REMOTE_ROOT = "~/fission"
CLIENT_IP = os.environ.get("CHAOS_CLIENT_IP", "127.0.0.1")
SCHEDULER_PORT = int(os.environ.get("CHAOS_PORT", "8786"))
NODE_WAIT = 30.0
DEBUG_WINDOW = False
NODES = [BaseNode(ip, cpus=4) for ip in
         os.environ.get("CHAOS_NODES", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5").split(",")]

RATE = float(os.environ.get("CHAOS_RATE", "200"))

JOBS = [
    Source(1, RATE, outputs=[PicklePipe(101), PicklePipe(201)]),
    Source(2, RATE, outputs=[PicklePipe(102), PicklePipe(202)]),
    Source(3, RATE, outputs=[PicklePipe(103), PicklePipe(203)]),
    Join(inputs=[PicklePipe(101), PicklePipe(102), PicklePipe(103)],
         outputs=[ReducePipe(105), PicklePipe(205)]),
    Reduce(inputs=[ReducePipe(105)], outputs=[PicklePipe(301)]),
    CSVSinkJob(path="join.csv",
               inputs=[PicklePipe(201), PicklePipe(202), PicklePipe(203), PicklePipe(205)]),
    CSVSinkJob(path="reduce.csv", inputs=[PicklePipe(301)]),
]
