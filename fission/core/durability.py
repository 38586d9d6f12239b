"""What a job class says about surviving faults: its state and its restart policy.

``STATE`` names the attributes that are the job's state (snapshotted together with
the sequence number of the next run, and restored into a replacement); a job whose
state is not a few attributes defines ``snapshot()`` (returning anything picklable)
and ``restore(state)`` instead. ``RESTART``, ``MAX_RESTARTS`` and ``RESTART_WINDOW``
say whether a job whose ``run`` raised is started again. This module checks those
attributes when the config is loaded, so a typo is a ConfigError naming the job and
not a surprise in the middle of a run; the runtime (fission/runtime/state.py) and
the backends (fission/backends/restarts.py) rely on what it accepts.
"""

from __future__ import annotations

from typing import Any

from fission.errors import ConfigError

#: The values ``RESTART`` may take.
RESTART_POLICIES = ("never", "on-failure")


def custom_state(job: Any) -> bool:
    """Whether the job snapshots itself (``snapshot()``/``restore(state)``)."""
    return callable(getattr(job, "snapshot", None))


def stateful(job: Any) -> bool:
    """Whether the job has state to carry across a failover or restart."""
    return bool(job.STATE) or custom_state(job)


def restartable(job: Any) -> bool:
    return job.RESTART == "on-failure"


def check(job: Any) -> None:
    """A ConfigError naming the job class if STATE or the restart policy is malformed."""
    name = type(job).__name__
    names = job.STATE
    if isinstance(names, str) or not isinstance(names, (tuple, list)) or not all(
            isinstance(each, str) and each.isidentifier() for each in names):
        raise ConfigError(f"{name}.STATE must be a tuple of attribute names, e.g. "
                          f"STATE = ('total',) (got {names!r})")
    has_snapshot, has_restore = custom_state(job), callable(getattr(job, "restore", None))
    if has_snapshot != has_restore:
        raise ConfigError(f"{name} defines {'snapshot()' if has_snapshot else 'restore()'} "
                          f"without {'restore(state)' if has_snapshot else 'snapshot()'}; "
                          "define both (or neither, and name the attributes in STATE)")
    if has_snapshot and names:
        raise ConfigError(f"{name} names STATE and defines snapshot()/restore() too; use one "
                          "of the two ways to say what its state is")
    if job.RESTART not in RESTART_POLICIES:
        raise ConfigError(f"{name}.RESTART must be one of "
                          f"{', '.join(map(repr, RESTART_POLICIES))} (got {job.RESTART!r})")
    count = job.MAX_RESTARTS
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigError(f"{name}.MAX_RESTARTS must be an int >= 0 (got {count!r})")
    window = job.RESTART_WINDOW
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > 0:
        raise ConfigError(f"{name}.RESTART_WINDOW must be a number of seconds > 0 "
                          f"(got {window!r})")
