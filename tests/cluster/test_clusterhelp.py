"""The cluster tests' own helpers: a helper that cannot fail would hide a broken test."""

from __future__ import annotations

import pytest
from clusterhelp import Run


def test_events_of_rejects_an_event_no_run_writes(tmp_path) -> None:
    run = object.__new__(Run)  # no process: only the events file is read
    run.project, run.network = tmp_path, "net"
    assert run.events_of("failover_started") == []
    with pytest.raises(ValueError, match="failover_start'.*failover_started"):
        run.events_of("failover_start")
