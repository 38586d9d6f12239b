"""The failover network, configured by the benchmark through environment variables.

Only the client imports this file (the jobs travel pickled), so the variables need to
be set for ``python manage.py fastnet run`` alone:

- ``FAILOVER_CLIENT_IP`` (default 127.0.0.1) and ``FAILOVER_PORT`` (default 8786):
  CLIENT_IP and SCHEDULER_PORT;
- ``FAILOVER_NODES``: the node addresses, comma-separated (default the three loopback
  nodes 127.0.0.2-4);
- ``FAILOVER_FORWARD_NODE``: where the forwarding job is pinned, 127.0.0.3 (default)
  or 10.231.0.2 (the link-cut namespace);
- ``FAILOVER_INTERVAL``: seconds between two blocks of the counter (default 0.005).

NODE_TIMEOUT is left at its default (1.5 s): the benchmark measures the default.
"""

import os

from fastnet.jobs import ArrivalSink, Counter, Forward, NamespacedForward
from fission.core.nodes import BaseNode
from fission.core.pipes import PicklePipe

FORWARDS = {Forward.DEFAULT_NODE: Forward, NamespacedForward.DEFAULT_NODE: NamespacedForward}

LOG_LEVEL = "WARNING"
LOG_FILE = None
REMOTE_ROOT = "~/fission"
CLIENT_IP = os.environ.get("FAILOVER_CLIENT_IP", "127.0.0.1")
SCHEDULER_PORT = int(os.environ.get("FAILOVER_PORT", "8786"))
NODE_WAIT = 30.0
DEBUG_WINDOW = False
NODES = [BaseNode(ip, cpus=4) for ip in
         os.environ.get("FAILOVER_NODES", "127.0.0.2,127.0.0.3,127.0.0.4").split(",")]

forward = FORWARDS[os.environ.get("FAILOVER_FORWARD_NODE", Forward.DEFAULT_NODE)]

JOBS = [
    Counter(interval=float(os.environ.get("FAILOVER_INTERVAL", "0.005")),
            outputs=[PicklePipe(1)]),
    forward(inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    ArrivalSink(inputs=[PicklePipe(2)]),
]
