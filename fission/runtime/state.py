"""A job's state, snapshotted in its process and restored into a copy that replaces it.

A job names its state in ``STATE`` (attributes) or snapshots itself
(``snapshot()``/``restore(state)``; see fission/core/durability.py). A snapshot is
the pickled state together with ``seq``, the number of the run it was taken before:
the state is what runs ``0 .. seq-1`` made of it. It travels to the backend as a
``snapshot`` report on the control channel (the pickle in a frame of its own: no
encoding of it costs time), where it is kept (a node's death cannot
take it). A replacement is told, in a ``restore`` message, the snapshot to start
from: it restores the state after its ``setup`` and takes its inputs from run
``seq`` on, which its producers send again, so its runs and outputs go on as if it
had never stopped.

When. The producers of a job with snapshots keep their blocks until a snapshot of
the job covers them (the backend keeps the latest few and says so, ``covered``), at
most ``RETAIN_BLOCKS`` blocks (and ``RETAIN_BYTES``) of a pipe, and wait when that is
full (fission/runtime/retention.py). A snapshot must be recent enough for a replay
to reach back to it, so one is taken at least every eighth of that window, in runs
(the backend keeps four snapshots, so the one a replacement needs is still covered),
and at least every :data:`SNAPSHOT_SECONDS` while runs happen, also while the job
waits for input: its producers may be waiting for that snapshot.

The window is bounded twice, in blocks (``RETAIN_BLOCKS``, known up front:
:func:`interval`) and in bytes (``RETAIN_BYTES``, which depends on how big the blocks
are: :func:`resized`, from the bytes the runs since the last snapshot took). The
first interval is at most :data:`FIRST_INTERVAL` runs, before any block size is
known; later ones at most :data:`MAX_INTERVAL`, so a snapshot, whose cost is its
pickling, is rare for small blocks and still frequent enough for big ones that a
producer never waits on a full retention for it. Jobs without snapshots pay one
integer comparison per run.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

from fission.core.durability import custom_state
from fission.core.jobs import BaseJob
from fission.errors import JobError

#: Snapshots per retention window (see the module's docstring).
PER_WINDOW = 8
#: The most runs before the first snapshot, while the size of the blocks is unknown.
FIRST_INTERVAL = 128
#: The most runs between two snapshots.
MAX_INTERVAL = 2048
#: The longest a job with snapshots runs without taking one, in seconds.
SNAPSHOT_SECONDS = 1.0
#: The run count of "never": a job without snapshots never reaches it.
NEVER = math.inf


def interval(job: BaseJob) -> int:
    """Runs between two snapshots by blocks: an eighth of the smallest retention window,
    in runs, of the job's pipes (inputs: what its producers can send again; outputs,
    for a source: how far its consumers may lag behind it), at most
    :data:`MAX_INTERVAL`."""
    windows = [pipe.RETAIN_BLOCKS // pipe.BLOCK_COUNT for pipe in job.inputs + job.outputs]
    return max(1, min(min(windows, default=PER_WINDOW) // PER_WINDOW, MAX_INTERVAL))


def resized(by_blocks: int, runs: int, taken: list[tuple[int, int]]) -> int:
    """Runs until the next snapshot: ``by_blocks`` (:func:`interval`), or fewer where an
    eighth of a pipe's ``RETAIN_BYTES`` holds fewer runs' worth of its blocks.

    ``taken`` has, per pipe, its ``RETAIN_BYTES`` and the bytes of its blocks that the
    last ``runs`` runs took (or made).
    """
    bound = by_blocks
    if runs > 0:
        for retain_bytes, taken_bytes in taken:
            if taken_bytes > 0:
                bound = min(bound, retain_bytes * runs // (taken_bytes * PER_WINDOW))
    return max(1, bound)


def capture(job: BaseJob) -> bytes:
    """The job's state, pickled."""
    if custom_state(job):
        state: Any = job.snapshot()
    else:
        state = {name: getattr(job, name) for name in job.STATE}
    try:
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise JobError(
            f"{job.label}: its state cannot be snapshotted ({type(error).__name__}: {error}); "
            "STATE (or what snapshot() returns) must be picklable: numbers, lists, dicts, "
            "arrays, not open files, sockets or lambdas") from error


def restore(job: BaseJob, data: bytes | None) -> None:
    """Put a state :func:`capture` made back into ``job``; None leaves it as it is."""
    if data is None:
        return
    state = pickle.loads(data)
    if custom_state(job):
        job.restore(state)
        return
    for name, value in state.items():
        setattr(job, name, value)
