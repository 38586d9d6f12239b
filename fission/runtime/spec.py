"""JobSpec: everything a job process needs to know, in one picklable record."""

from __future__ import annotations

from dataclasses import dataclass, field

from fission.core.jobs import BaseJob

#: The pipe id carried by blocks of the console input of an InteractiveJob.
CONSOLE_PIPE_ID = 0


@dataclass(frozen=True)
class JobSpec:
    """How to run one job: the job itself and where its pipes live.

    ``inputs`` maps each input pipe id to the address this process binds (a TCP
    address may leave the port to the system, ``tcp://10.0.0.2:*``: the bound
    addresses travel in the ``ready`` report); ``outputs`` maps each output pipe id
    to the address it connects to, and an output missing there waits for a
    ``connect`` from the backend. The backend's ``control`` endpoint is connected
    to; ``console``, for a job with a console input, is bound.

    ``incarnation`` is stamped on every block sent, so consumers can tell a
    replacement's blocks from those of the copy it replaced. A ``gated`` job (a
    replaced source) waits for ``begin`` before producing, which tells it the
    sequence number to continue from.

    ``replay`` (``run``): every output keeps the blocks it sent until the backend
    acknowledges them (``covered``: no replay can need them any more), bounded by the
    pipe's ``RETAIN_BLOCKS`` and ``RETAIN_BYTES``, and the job reports how far it has got
    on its inputs (``progress``), from which the backend computes those
    acknowledgements (fission/backends/acks.py; fission/runtime/retention.py).

    ``covered``: output pipes that keep their blocks without ``replay`` (``simulate``):
    those to a consumer that may restart, acknowledged when a snapshot of the consumer
    covers them. Any other output of a job without ``replay`` keeps nothing.

    ``snapshots``: the job sends its state to the backend now and then (see
    fission/runtime/state.py). ``restoring``: the job is a copy that replaces one
    that failed or was lost; after ``setup`` it waits for ``restore`` (the snapshot
    and the run to continue at) before it runs.

    ``figures`` off spares a run without a dashboard the job's reports.
    """

    job: BaseJob
    control: str
    inputs: dict[int, str] = field(default_factory=dict)
    outputs: dict[int, str] = field(default_factory=dict)
    console: str | None = None
    log_level: str = "DEBUG"
    incarnation: int = 0
    gated: bool = False
    replay: bool = False
    #: Whether the job reports its figures once a second (a dashboard is on).
    figures: bool = True
    #: Output pipe id -> the file that records every block sent on it (``--record``).
    record: dict[int, str] = field(default_factory=dict)
    #: Whether those files are appended to (a copy that replaces one whose recording this
    #: run began, on the same machine) rather than written anew.
    record_append: bool = False
    #: The backend's recording sink (``run``): the frames of the pipes of ``record`` are
    #: sent there, with their times, rather than written to those files by the job.
    record_to: str | None = None
    covered: frozenset[int] = frozenset()
    #: Output pipe id -> the blocks its retention keeps before it may count itself full,
    #: whatever their bytes: what its consumers need before they can acknowledge the
    #: first (fission/runtime/retention.py). A pipe missing here: 1.
    retain_floor: dict[int, int] = field(default_factory=dict)
    snapshots: bool = False
    restoring: bool = False
