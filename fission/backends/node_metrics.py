"""What a node tells placement about itself, in every Dask heartbeat.

Dask's own worker metrics describe the worker *process*; placement wants the
machine: free CPU, free memory and disk, used swap and the wireless link's
quality. :class:`NodeMetrics` adds one metric, ``fission``, that the worker sends
with each heartbeat (twice a second), so the client always has a fresh view
without a protocol of its own.

TQ (transmit quality, 0-255) comes from batman-adv's originator table (``batctl o``)
where the mesh module is loaded: the mean TQ of the best route to each originator.
Without batman-adv, it is 255. ``batctl`` runs at most every :data:`TQ_INTERVAL`
seconds; the heartbeat itself only reads cached numbers and psutil counters.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import psutil
from distributed.diagnostics.plugin import WorkerPlugin

TQ_INTERVAL = 5.0
_BEST_ROUTE = re.compile(r"^\s*\*.*?\(\s*(\d+)\s*\)", re.MULTILINE)


class NodeMetrics(WorkerPlugin):
    """Adds the ``fission`` metric (a dict, see :meth:`read`) to a worker's heartbeats."""

    name = "fission-node-metrics"

    def __init__(self, cpus: int, disk_path: str = "/") -> None:
        self.cpus = cpus
        self.disk_path = disk_path
        self._tq = 255
        self._tq_read = 0.0
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement

    def setup(self, worker) -> None:  # noqa: ANN001 - distributed.Worker
        worker.metrics["fission"] = lambda _worker: self.read()

    def read(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        return {
            "cpus": self.cpus,
            "cpu": max(0.0, 100.0 - psutil.cpu_percent(interval=None)),
            "memory": memory.available,
            "disk": shutil.disk_usage(self.disk_path).free,
            "swap": psutil.swap_memory().percent,
            "TQ": self._link_quality(),
        }

    def _link_quality(self) -> int:
        now = time.monotonic()
        if now - self._tq_read >= TQ_INTERVAL:
            self._tq_read = now
            self._tq = read_tq()
        return self._tq


def read_tq() -> int:
    """Mean TQ of batman-adv's best routes, or 255 without batman-adv."""
    if not Path("/sys/module/batman_adv").exists() or shutil.which("batctl") is None:
        return 255
    try:
        table = subprocess.run(["batctl", "o"], capture_output=True, text=True, timeout=2,
                               env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 255
    return parse_tq(table)


def parse_tq(table: str) -> int:
    """The mean TQ of the best routes (lines starting with ``*``) in ``batctl o`` output."""
    values = [int(value) for value in _BEST_ROUTE.findall(table)]
    return round(sum(values) / len(values)) if values else 255
