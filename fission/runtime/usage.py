"""What a job process costs its machine: CPU seconds so far and resident memory.

The job measures itself, so the figures are there whether its backend can see the
process (``simulate``, local jobs) or not (a job on a node). The backend turns CPU
seconds into a percentage from two reports. The resident size is read from
``/proc/self/statm`` rather than through psutil, which would cost every job process
about 2 MiB for one number (see tests/test_runtime_imports.py).
"""

from __future__ import annotations

import os
import time

_PAGE = os.sysconf("SC_PAGE_SIZE")


def usage() -> dict[str, float]:
    """``cpu``: CPU seconds used by this process; ``rss``: its resident memory in bytes."""
    return {"cpu": time.process_time(), "rss": _resident()}


def _resident() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):  # not Linux: the peak is the best there is
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
