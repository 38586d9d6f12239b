"""The live view of a running network: a web page, ``/metrics`` and the data of ``top``.

:func:`serve` starts the server beside a backend's run, prints where it is and records
its address and token in ``run.json`` for ``top``. The server and its libraries
(aiohttp, prometheus-client) are imported only when a dashboard is on.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from fission.backends.console import publish
from fission.backends.monitor import Monitor
from fission.config import Settings


@contextlib.contextmanager
def serve(settings: Settings, monitor: Monitor, private_dir: Path) -> Iterator[None]:
    """Serve ``monitor`` at ``settings.dashboard`` while inside (nothing if it is None)."""
    if settings.dashboard is None:
        yield
        return
    from fission.dashboard.server import Dashboard

    host, port = settings.dashboard
    dashboard = Dashboard(monitor, host, port, project=settings.project,
                          private_dir=private_dir)
    dashboard.start()
    try:
        publish(settings.directory, {"dashboard": dashboard.url, "token": dashboard.token})
        print(f"dashboard: {dashboard.address}", file=sys.stderr, flush=True)
        yield
    finally:
        dashboard.close()
