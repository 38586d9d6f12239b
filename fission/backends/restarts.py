"""The restart policy of a job, as arithmetic: no processes, no clock of its own.

A job with ``RESTART = "on-failure"`` whose ``run`` raised is started again, at most
``MAX_RESTARTS`` times within any ``RESTART_WINDOW`` seconds; the n-th restart in a
row waits :func:`backoff` (0.5 s, 1 s, 2 s ... at most 10 s), so a job that fails at
once does not spin. Both backends feed a :class:`Restarts` the failures they see,
with the time, and do what it answers.
"""

from __future__ import annotations

from collections import deque

from fission.core.jobs import BaseJob

#: Seconds before the first restart, doubled for each further one, up to BACKOFF_MAX.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0


def backoff(attempt: int) -> float:
    """Seconds to wait before restart number ``attempt`` (1 for the first)."""
    if attempt < 1:
        raise ValueError(f"restart attempts count from 1, got {attempt}")
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** min(attempt - 1, 64))


class Restarts:
    """The restarts of one job so far, and whether one more is allowed."""

    def __init__(self, job: BaseJob) -> None:
        self.enabled = job.RESTART == "on-failure"
        self.limit = job.MAX_RESTARTS
        self.window = float(job.RESTART_WINDOW)
        self._times: deque[float] = deque()
        #: Restarts so far in this run.
        self.attempts = 0

    def after_failure(self, now: float) -> float | None:
        """The job failed at ``now``: seconds until its restart, or None for none
        (the policy is "never", or MAX_RESTARTS restarts happened within RESTART_WINDOW)."""
        if not self.enabled:
            return None
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return None
        self._times.append(now)
        self.attempts += 1
        return backoff(len(self._times))
