"""The latest figures of a running network, for the dashboard, ``/metrics`` and ``top``.

Both backends feed one :class:`Monitor` from their supervising thread: each job's
``figures`` reports (about once a second, over the control channel), its state and
node, the lines it printed, the run's events and, under ``run``, the nodes' heartbeat
metrics. The dashboard's thread reads :meth:`Monitor.snapshot`, a plain JSON-able
dict, so the two threads share nothing but this object and its lock. Rates (runs/s,
blocks/s per pipe) and CPU % come from the difference between a job's last two
reports: the jobs send counters only, which costs them nothing per block.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fission.core.network import Network
from fission.events import record

#: Lines of output kept per job, and events kept for the timeline.
LINES_KEPT = 20
EVENTS_KEPT = 500
#: What the per-node figures take of a node's heartbeat metrics (``seen``: when the
#: scheduler last heard of it, unix seconds).
NODE_FIGURES = ("cpus", "cpu", "memory", "disk", "swap", "TQ", "seen")
#: Rates are taken over this many reports (one a second): a job that runs every few
#: seconds shows its average rate rather than 0 and 1 in turn.
RATE_WINDOW = 5
#: The name of the client in the per-node figures and the graph.
CLIENT = "client"

STARTING, RUNNING, FINISHED, FAILED, STOPPED, MOVING = (
    "starting", "running", "finished", "failed", "stopped", "moving")


#: The state an event puts its job in.
_STATES = {"job_started": RUNNING, "job_finished": FINISHED, "job_failed": FAILED}


@dataclass
class _Job:
    id: int
    #: The job's class, and how it is shown (``JoinJob 4``).
    kind: str
    name: str
    node: str = CLIENT
    state: str = STARTING
    incarnation: int = 0
    restarts: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0
    #: Earlier reports and when they came, for rates over :data:`RATE_WINDOW` reports.
    earlier: deque[tuple[float, dict[str, Any]]] = field(
        default_factory=lambda: deque(maxlen=RATE_WINDOW))
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=LINES_KEPT))


class Monitor:
    """Thread-safe store of the latest figures of one run."""

    def __init__(self, name: str, network: Network, backend: str,
                 client_ip: str | None = None) -> None:
        """``client_ip``: the client's address in events, shown as :data:`CLIENT`."""
        self.name = name
        self._client_ip = client_ip
        self.network = network
        self.backend = backend
        self.started = time.time()
        self._lock = threading.Lock()
        self._jobs = {job.id: _Job(job.id, type(job).__name__, job.name) for job in network.jobs}
        self._nodes: dict[str, dict[str, Any]] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self._failovers = 0
        #: Seconds each replaced job took to run again, one entry per job replaced.
        self._recoveries: list[float] = []

    # -- fed by the backend ----------------------------------------------------------

    def figures(self, job_id: int, stats: dict[str, Any]) -> None:
        """A job's report: its counters (see ``JobRunner.figures``)."""
        now = time.monotonic()
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.stats:
                job.earlier.append((job.at, job.stats))
            job.stats, job.at = stats, now

    def finished(self, job_id: int, stats: dict[str, Any], *, stopped: bool = False) -> None:
        """A job's last report: its final counters (``stopped``: it was told to stop)."""
        self.figures(job_id, stats)
        if stopped:
            with self._lock:
                job = self._jobs.get(job_id)
                if job is not None and job.state in (STARTING, RUNNING):
                    job.state = STOPPED

    def line(self, job_id: int, text: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.lines.append(text.rstrip("\n"))

    def event(self, entry: dict[str, Any]) -> None:
        """One record of the run's events (the format of ``events.jsonl``); the jobs'
        states and nodes follow from them, under both backends alike."""
        with self._lock:
            self._events.append(entry)
            kind, job = entry.get("event"), self._jobs.get(entry.get("job"))
            if kind == "failover_done" and "seconds" in entry:
                self._recoveries.append(float(entry["seconds"]))
            if kind == "failover_started":
                self._failovers += 1
                for job_id in entry.get("jobs", ()):
                    if job_id in self._jobs:
                        self._jobs[job_id].state = MOVING
            if job is None:
                return
            if kind == "placed":
                node = entry.get("node")
                job.node = CLIENT if node in (None, self._client_ip) else node
                incarnation = int(entry.get("incarnation", 0))
                if incarnation != job.incarnation:
                    job.incarnation, job.restarts = incarnation, job.restarts + 1
                    job.earlier.clear()
                    job.stats = {}
                job.state = MOVING if incarnation else STARTING
            elif kind in _STATES:
                job.state = _STATES[kind]

    def note(self, event: str, **fields: Any) -> None:
        """An event the backend does not write to ``events.jsonl`` (``simulate``)."""
        self.event(record(event, **fields))

    def nodes(self, rows: Iterable[dict[str, Any]]) -> None:
        """The nodes' latest figures; a node missing from ``rows`` is down."""
        now = time.time()
        with self._lock:
            seen = set()
            for row in rows:
                seen.add(row["ip"])
                self._nodes[row["ip"]] = {"seen": now, **row, "up": True}
            for ip, row in self._nodes.items():
                if ip not in seen:
                    row["up"] = False

    # -- read by the dashboard -------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything a view shows, as JSON-able data."""
        now = time.time()
        with self._lock:
            jobs = [self._job_view(job) for job in self._jobs.values()]
            nodes = [{**row, "age": round(now - row["seen"], 1),
                      "jobs": sorted(j["id"] for j in jobs if j["node"] == ip)}
                     for ip, row in sorted(self._nodes.items())]
            events = list(self._events)
            failovers, recoveries = self._failovers, list(self._recoveries)
        return {"network": self.name, "backend": self.backend, "time": now,
                "started": self.started, "jobs": jobs, "pipes": self._pipes(jobs),
                "nodes": nodes, "events": events, "failovers": failovers,
                "failover_seconds": recoveries}

    def _job_view(self, job: _Job) -> dict[str, Any]:
        stats = job.stats
        previous_at, previous = job.earlier[0] if job.earlier else (job.at, {})
        # A job that has ended runs no more: its rates are 0, not those of its last reports.
        seconds = job.at - previous_at if job.state not in (FINISHED, STOPPED, FAILED) else 0.0

        def rate(now: float, before: float) -> float:
            return round((now - before) / seconds, 2) if seconds > 0 else 0.0

        inputs = stats.get("inputs", {})
        blocks_in = _by_pipe(stats.get("blocks_in"))
        before_in = _by_pipe(previous.get("blocks_in"))
        return {
            "id": job.id, "kind": job.kind, "name": job.name, "node": job.node, "state": job.state,
            "incarnation": job.incarnation, "restarts": job.restarts,
            "runs": stats.get("runs", 0),
            "runs_per_s": rate(stats.get("runs", 0), previous.get("runs", 0)),
            "blocks_in": blocks_in,
            "in_per_s": {pipe: rate(count, before_in.get(pipe, 0))
                         for pipe, count in blocks_in.items()},
            "blocks_out": _by_pipe(stats.get("blocks_out")),
            "waiting": _by_pipe(stats.get("waiting")),
            "inputs": {int(pipe): {key: int(value) for key, value in counts.items()
                                   if key in ("dummies", "dropped", "garbage")}
                       for pipe, counts in inputs.items()},
            "dummies": sum(int(i.get("dummies", 0)) for i in inputs.values()),
            "dropped": sum(int(i.get("dropped", 0)) for i in inputs.values()),
            "garbage": sum(int(i.get("garbage", 0)) for i in inputs.values()),
            "cpu_percent": round(100 * rate(stats.get("cpu", 0.0), previous.get("cpu", 0.0)), 1),
            "rss": int(stats.get("rss", 0)),
            "lines": list(job.lines),
        }

    def _pipes(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each pipe with its producer and consumer, blocks sent and received, how many
        are in flight or waiting (a backing-up input), and the consumer's rate."""
        by_id = {job["id"]: job for job in jobs}
        pipes = []
        for pipe_id, link in sorted(self.network.pipes.items()):
            producer, consumer = link.source, link.destination
            sent = by_id[producer]["blocks_out"].get(pipe_id, 0)
            received = by_id[consumer]["blocks_in"].get(pipe_id, 0)
            waiting = by_id[consumer]["waiting"].get(pipe_id, 0)
            hwm = link.pipe.HWM
            backlog = max(0, sent - received) + waiting
            pipes.append({"id": pipe_id, "from": producer, "to": consumer, "sent": sent,
                          "received": received, "waiting": waiting, "backlog": backlog,
                          "backing_up": backlog >= hwm, "hwm": hwm,
                          "per_s": by_id[consumer]["in_per_s"].get(pipe_id, 0.0)})
        return pipes


def _by_pipe(values: dict | None) -> dict[int, int]:
    """A per-pipe dict from JSON (whose keys are strings) with int pipe ids."""
    return {int(pipe): int(count) for pipe, count in (values or {}).items()}
