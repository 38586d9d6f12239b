"""What a job process costs its machine: CPU seconds so far and resident memory.

The job measures itself, so the figures are there whether its backend can see the
process (``simulate``, local jobs) or not (a job on a node). The backend turns CPU
seconds into a percentage from two reports.
"""

from __future__ import annotations

import functools
import time

import psutil


@functools.cache
def _me() -> psutil.Process:
    return psutil.Process()


def usage() -> dict[str, float]:
    """``cpu``: CPU seconds used by this process; ``rss``: its resident memory in bytes."""
    return {"cpu": time.process_time(), "rss": _me().memory_info().rss}
