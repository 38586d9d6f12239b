"""A job's state, snapshotted in its process and restored into a copy that replaces it.

A job names its state in ``STATE`` (attributes) or snapshots itself
(``snapshot()``/``restore(state)``; see fission/core/durability.py). A snapshot is
the pickled state together with ``seq``, the number of the run it was taken before:
the state is what runs ``0 .. seq-1`` made of it. It travels to the backend as a
``snapshot`` report on the control channel, where it is kept (a node's death cannot
take it). A replacement is told, in a ``restore`` message, the snapshot to start
from: it restores the state after its ``setup`` and takes its inputs from run
``seq`` on, which its producers send again, so its runs and outputs go on as if it
had never stopped.

When. Producers keep only their last ``REPLAY_COUNT`` blocks, so a snapshot must be
recent enough for a replay to reach back to it: one is taken at least every
:func:`interval` runs (half the smallest replay window of the job's pipes) and at
least every :data:`SNAPSHOT_SECONDS` while runs happen. Jobs without snapshots pay
one integer comparison per run.
"""

from __future__ import annotations

import base64
import math
import pickle
from typing import Any

from fission.core.durability import custom_state
from fission.core.jobs import BaseJob
from fission.errors import JobError

#: The longest a job with snapshots runs without taking one, in seconds.
SNAPSHOT_SECONDS = 1.0
#: The run count of "never": a job without snapshots never reaches it.
NEVER = math.inf


def interval(job: BaseJob) -> int:
    """Runs between two snapshots: half the smallest replay window, in runs, of the
    job's pipes (inputs: what its producers can send again; outputs: what it can)."""
    windows = [pipe.REPLAY_COUNT // pipe.BLOCK_COUNT for pipe in job.inputs + job.outputs]
    return max(1, min(windows, default=2) // 2)


def capture(job: BaseJob) -> str:
    """The job's state, pickled, as text for the JSON control channel."""
    if custom_state(job):
        state: Any = job.snapshot()
    else:
        state = {name: getattr(job, name) for name in job.STATE}
    try:
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise JobError(
            f"{job.name}: its state cannot be snapshotted ({type(error).__name__}: {error}); "
            "STATE (or what snapshot() returns) must be picklable: numbers, lists, dicts, "
            "arrays, not open files, sockets or lambdas") from error
    return base64.b64encode(data).decode("ascii")


def restore(job: BaseJob, text: str | None) -> None:
    """Put a state :func:`capture` made back into ``job``; None leaves it as it is."""
    if text is None:
        return
    state = pickle.loads(base64.b64decode(text))
    if custom_state(job):
        job.restore(state)
        return
    for name, value in state.items():
        setattr(job, name, value)
