"""``NET/local/events.jsonl``: what happened during a run, one JSON object a line.

Tests and tools read it (:func:`read_events`) instead of scraping the console. Each
record has ``time`` (unix seconds), ``event`` (one of :data:`EVENTS`) and, where they
apply, ``job`` (its id) and ``node`` (its ip). Some carry more:

- ``node_up``: ``address`` (the Dask worker's) and, for a node declared dead before in
  this run, ``steady_in`` (NODE_STEADY: seconds before it may get a job);
- ``node_down``: ``why`` (``gone``: its connection broke; ``silent``: no heartbeat for
  ``NODE_TIMEOUT``);
- ``placed`` and ``job_started``: ``incarnation`` (0 at start, +1 per failover);
- ``failover_started``: ``jobs`` (the ids to place again); ``failover_done``:
  ``seconds`` since the failover started (the job is running and wired);
- ``job_lost``: ``status`` (-9): a job process was killed by a SIGKILL that FISSION did
  not send (the OOM killer, an operator) while the run went on; a failover replaces it;
- ``job_restarted``: ``attempt`` (1 for the first restart) and ``error`` (the one-line
  summary of what the job's ``run`` raised): a job with ``RESTART = "on-failure"`` is
  started again (``simulate`` writes ``NET/simulation/events.jsonl``, node ``local``,
  from its first event on: a run without failures or restarts leaves none);
- ``job_failed`` and ``allocation_error``: ``error`` (or ``status``, an exit status).

Every record is flushed as it is written, so the file is complete up to the moment
a run is killed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

EVENTS = frozenset({
    "node_up", "node_down", "placed", "job_started", "job_finished", "job_failed",
    "job_lost", "job_restarted", "failover_started", "failover_done", "allocation_error",
})


def record(event: str, *, job: int | None = None, node: str | None = None,
           **details: Any) -> dict[str, Any]:
    """One event as the dict written to the file."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    entry: dict[str, Any] = {"time": round(time.time(), 6), "event": event}
    if job is not None:
        entry["job"] = job
    if node is not None:
        entry["node"] = node
    entry.update(details)
    return entry


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def write(self, event: str, *, job: int | None = None, node: str | None = None,
              **details: Any) -> dict[str, Any]:
        """Write one record; return it (the dashboard's timeline shows it too)."""
        entry = record(event, job=job, node=node, **details)
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()
        return entry

    def close(self) -> None:
        self._file.close()


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every record of an events.jsonl file (a partial last line is skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def placements(path: Path) -> dict[int, str]:
    """The node of each job under the running or last ``run``: its latest ``placed`` event.

    Empty when the network never ran (no file). A job placed again by a failover
    shows its latest node.
    """
    if not Path(path).is_file():
        return {}
    return {record["job"]: record["node"] for record in read_events(path)
            if record.get("event") == "placed" and "job" in record and "node" in record}
