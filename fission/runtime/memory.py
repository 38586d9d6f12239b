"""MAX_MEMORY: a job that uses too much memory fails, and the machine stays up.

The limit is on the job process's resident memory (RSS), what actually occupies
RAM and what drives a small node into swap. The obvious kernel limits measure
something else, and measured on this runtime they would fail healthy jobs:

============================  ==========  ================
idle job process (2 cores)    plain       numpy imported
============================  ==========  ================
RSS                           21 MiB      37 MiB
VmData (RLIMIT_DATA)          36 MiB      147 MiB
VmSize (RLIMIT_AS)            176 MiB     325 MiB
============================  ==========  ================

ZeroMQ's and the gatekeeper's threads each reserve a stack, and OpenBLAS
reserves buffers per core (more on a 4-core Pi), none of it used: a 512M
RLIMIT_AS or RLIMIT_DATA would leave a numpy job far less than it asked for.

So a watchdog thread reads the RSS every :data:`INTERVAL` seconds. Over the
limit, it interrupts the main thread with :data:`SIGNAL`, whose handler raises
:class:`~fission.errors.MemoryLimitError` in the user's code: the job fails as if
it had raised it there, ``teardown`` runs and the report names the job, the limit
and the line it was at. Code that does not get back to Python in time (a long
C call) or swallows the error is ended :data:`GRACE` seconds later, or at once
beyond 1.5 times the limit: the watchdog logs why and exits the process with
:data:`EXIT_STATUS`, which the backends tell apart from other exits. Limits of
this design: memory allocated within one interval overshoots the limit by that
much; processes the job starts have their own memory, not counted here.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType

from fission.core.jobs import BaseJob
from fission.core.sizes import format_size
from fission.errors import MemoryLimitError

#: Seconds between two looks at the job's resident memory.
INTERVAL = 0.05
#: Seconds a job over its limit has to fail by itself before its process is ended.
GRACE = 2.0
#: Beyond this multiple of the limit the process is ended at once.
HARD_FACTOR = 1.5
#: The exit status of a job process ended by the watchdog.
EXIT_STATUS = 3
#: The signal that makes the main thread raise MemoryLimitError.
SIGNAL = signal.SIGUSR2


def watch(job: BaseJob) -> MemoryWatch | None:
    """Start watching ``job``'s process if it has a MAX_MEMORY (call from the main thread)."""
    limit = job.memory_limit()
    if limit is None:
        return None
    watcher = MemoryWatch(job, limit)
    signal.signal(SIGNAL, watcher.raise_in_main)
    watcher.start()
    return watcher


def describe_breach(job: BaseJob) -> str:
    """How a backend words the exit of a job process the watchdog ended."""
    return (f"went over its MAX_MEMORY = {job.MAX_MEMORY!r} and was ended "
            f"(exit status {EXIT_STATUS})")


class MemoryWatch(threading.Thread):
    """The watchdog of one job process's resident memory."""

    def __init__(self, job: BaseJob, limit: int) -> None:
        super().__init__(name="fission-memory-watch", daemon=True)
        self._job = job
        self._limit = limit
        self._main = threading.main_thread().ident
        import psutil  # here: only jobs with a MAX_MEMORY pay the 2 MiB it costs

        self._process = psutil.Process()
        self._used = 0

    def run(self) -> None:
        told_at = None
        while True:
            used = self._process.memory_info().rss
            if used > self._limit:
                now = time.monotonic()
                if told_at is None:
                    self._used, told_at = used, now
                    signal.pthread_kill(self._main, SIGNAL)
                elif now - told_at > GRACE or used > self._limit * HARD_FACTOR:
                    self._end(used)
            time.sleep(INTERVAL)

    def raise_in_main(self, signum: int, frame: FrameType | None) -> None:
        raise MemoryLimitError(
            f"{self._job.label} uses {format_size(self._used)}, more than its MAX_MEMORY = "
            f"{self._job.MAX_MEMORY!r} ({format_size(self._limit)}); raise MAX_MEMORY of "
            f"{type(self._job).__name__} or make the job keep less in memory")

    def _end(self, used: int) -> None:
        logging.getLogger("fission.job").error(
            "%s uses %s, more than its MAX_MEMORY = %r, and did not fail when told to (a long "
            "C call, or an except that caught MemoryLimitError): ending its process now; raise "
            "MAX_MEMORY of %s or make the job keep less in memory", self._job.label,
            format_size(used), self._job.MAX_MEMORY, type(self._job).__name__)
        os._exit(EXIT_STATUS)
