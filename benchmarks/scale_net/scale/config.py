"""The scale network, configured by benchmarks/scale.py through environment variables.

- ``SCALE_PORT``: SCHEDULER_PORT; ``SCALE_NODES``: the node addresses, comma-separated
  (each node has one CPU, so one job);
- ``SCALE_CHAINS``: how many counter -> forward chains (two jobs on nodes each);
- ``SCALE_RATE``: blocks per second of each counter (default 10);
- ``SCALE_NODE_TIMEOUT``: NODE_TIMEOUT in seconds (default: FISSION's default, with which
  the benchmark counts false failovers).
"""

import os

from fission.core.jobs import CSVSinkJob
from fission.core.nodes import BaseNode
from fission.core.pipes import PicklePipe
from scale.jobs import Counter, Forward

LOG_LEVEL = "WARNING"
LOG_FILE = None
REMOTE_ROOT = "~/fission"
CLIENT_IP = "127.0.0.1"
SCHEDULER_PORT = int(os.environ.get("SCALE_PORT", "8786"))
NODE_WAIT = 300.0
DEBUG_WINDOW = False
NODES = [BaseNode(ip, cpus=1) for ip in os.environ.get("SCALE_NODES", "127.0.0.2").split(",")]

CHAINS = int(os.environ.get("SCALE_CHAINS", "1"))
RATE = float(os.environ.get("SCALE_RATE", "10"))
if os.environ.get("SCALE_NODE_TIMEOUT"):
    NODE_TIMEOUT = float(os.environ["SCALE_NODE_TIMEOUT"])

JOBS = []
for chain in range(CHAINS):
    JOBS.append(Counter(RATE, outputs=[PicklePipe(1000 + chain)]))
    JOBS.append(Forward(inputs=[PicklePipe(1000 + chain)], outputs=[PicklePipe(2000 + chain)]))
JOBS.append(CSVSinkJob(path="rounds.csv",
                       inputs=[PicklePipe(2000 + chain) for chain in range(CHAINS)]))
