"""What a node tells placement about itself, in every Dask heartbeat.

Dask's own worker metrics describe the worker *process*; placement wants the
machine: free CPU, free memory and disk, used swap and the wireless link's
quality. :class:`NodeMetrics` adds one metric, ``fission``, that the worker sends
with each heartbeat (twice a second), so the client always has a fresh view
without a protocol of its own.

TQ (transmit quality, 0-255) comes from batman-adv's originator table (``batctl o``)
where the mesh module is loaded: the mean TQ of the best route to each originator.
Without batman-adv, it is 255.

Nothing is measured inside a heartbeat: the heartbeat runs on the worker's event loop,
and a probe that hangs there (``batctl`` on a busy radio, a disk that stalls) would
silence the node and get it declared dead. A background thread measures every
:data:`REFRESH` seconds (``batctl`` at most every :data:`TQ_INTERVAL`); the heartbeat
only hands over the latest reading.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from distributed.diagnostics.plugin import WorkerPlugin

#: Seconds between two readings of the machine's counters.
REFRESH = 0.5
#: Seconds between two calls of ``batctl o``.
TQ_INTERVAL = 5.0
_BEST_ROUTE = re.compile(r"^\s*\*.*?\(\s*(\d+)\s*\)", re.MULTILINE)


class NodeMetrics(WorkerPlugin):
    """Adds the ``fission`` metric (a dict, see :meth:`read`) to a worker's heartbeats.

    ``tq_probe`` reads the link quality (:func:`read_tq` unless a test passes another),
    at most every ``tq_interval`` seconds.
    """

    name = "fission-node-metrics"

    def __init__(self, cpus: int, disk_path: str = "/",
                 tq_probe: Callable[[], int] | None = None,
                 tq_interval: float = TQ_INTERVAL) -> None:
        self.cpus = cpus
        self.disk_path = disk_path
        self._tq_probe = tq_probe or read_tq
        self._tq = 255
        self._tq_interval = tq_interval
        self._tq_read = -tq_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement
        self._reading = self.read()

    def setup(self, worker) -> None:  # noqa: ANN001 - distributed.Worker
        worker.metrics["fission"] = lambda _worker: self._reading
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._refresh, daemon=True,
                                            name="fission-node-metrics")
            self._thread.start()

    def teardown(self, worker) -> None:  # noqa: ANN001 - distributed.Worker
        self._stop.set()

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH):
            self._reading = self.read()

    def read(self) -> dict[str, float]:
        """Measure now (off the heartbeat: this may take as long as ``batctl`` does)."""
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
        if now - self._tq_read >= self._tq_interval:
            self._tq_read = now
            self._tq = self._tq_probe()
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
