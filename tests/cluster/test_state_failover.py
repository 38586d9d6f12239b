"""Job state under `run`: a running total survives its node's death and its own failure.

Real agents on loopback addresses; the total's rows are compared with an undisturbed run's.
Without snapshots the replacement would start its total at 0 again (or, restarted, stop the
run), and the rows after the fault would be wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clusterhelp import csv_rows, make_project, network_package, settings_for, wait_until

NETWORK = '''
import os
from fission.core.jobs import CSVSinkJob, PythonJob
from fission.core.pipes import PicklePipe
from shared.clusterjobs import Counter


class Source(Counter):
    DEFAULT_NODE = "127.0.0.2"


class Running(PythonJob):
    """A running total on node 127.0.0.3, its total in STATE."""

    DEFAULT_NODE = "127.0.0.3"
    STATE = ("total",)
    RESTART = "on-failure"

    def __init__(self, fail_at=None, **kw):
        super().__init__(**kw)
        self.fail_at = fail_at

    def setup(self):
        self.total = 0

    def run(self, value):
        if value == self.fail_at and not os.path.exists("failed-once"):
            open("failed-once", "w").close()
            raise ValueError(f"cannot take {value}")
        self.total += value
        return f"{value}:{self.total}"


JOBS = [
    Source(sleep=0.02, outputs=[PicklePipe(1)]),
    Running(fail_at=FAIL_AT, inputs=[PicklePipe(1)], outputs=[PicklePipe(2)]),
    CSVSinkJob(path="totals.csv", inputs=[PicklePipe(2)]),
]
'''


def _check_totals(rows: list[list[str]]) -> None:
    """Each row is ``value:total`` of an undisturbed run: values 0, 1, 2 ... none lost or
    repeated, and the total of all of them."""
    pairs = [row[0].split(":") for row in rows]
    values = [int(value) for value, _ in pairs]
    assert values == list(range(len(values))), values
    assert [int(total) for _, total in pairs] == [v * (v + 1) // 2 for v in values], pairs


def _project(tmp_path: Path, cluster, fail_at: int | None) -> Path:
    project = make_project(tmp_path, cluster)
    network_package(project, "totals", settings_for(cluster)
                    + NETWORK.replace("FAIL_AT", repr(fail_at)))
    return project


@pytest.mark.timeout(90)
def test_a_stateful_job_whose_agent_is_killed_continues_its_total(own_cluster, runs,
                                                                   tmp_path: Path) -> None:
    run = runs(_project(tmp_path, own_cluster, None), "totals")
    totals = run.local / "3" / "totals.csv"
    wait_until(lambda: len(csv_rows(totals)) >= 80, 30, f"80 rows\n{run.output}")
    own_cluster.agent("127.0.0.3").kill()
    wait_until(lambda: run.events_of("failover_done", job=2), 15, f"failover\n{run.output}")
    count = len(csv_rows(totals))
    wait_until(lambda: len(csv_rows(totals)) >= count + 40, 15, f"rows after\n{run.output}")
    run.interrupt()
    assert run.wait(10) == 0, run.output
    assert run.placed(incarnation=1)[2] != "127.0.0.3"
    _check_totals(csv_rows(totals))
    assert "goes on from its snapshot" not in run.output  # logged, not printed
    assert "replaced by dummies" not in run.output


@pytest.mark.timeout(90)
def test_a_failed_job_is_restarted_on_its_node_from_its_snapshot(own_cluster, runs,
                                                                 tmp_path: Path) -> None:
    run = runs(_project(tmp_path, own_cluster, 70), "totals")
    totals = run.local / "3" / "totals.csv"
    wait_until(lambda: run.events_of("job_restarted", job=2), 30, f"a restart\n{run.output}")
    wait_until(lambda: len(csv_rows(totals)) >= 120, 20, f"120 rows\n{run.output}")
    run.interrupt()
    assert run.wait(10) == 0, run.output
    (restarted,) = run.events_of("job_restarted", job=2)
    assert restarted["node"] == "127.0.0.3" and restarted["attempt"] == 1, restarted
    assert "ValueError: cannot take 70" in restarted["error"], restarted
    assert run.placed(incarnation=1)[2] == "127.0.0.3"  # where it ran
    assert "ValueError: cannot take 70" in run.output  # its traceback is shown
    assert "Running 2 failed on 127.0.0.3 (ValueError: cannot take 70" in run.output
    _check_totals(csv_rows(totals))


@pytest.mark.timeout(90)
def test_a_failed_local_job_is_restarted_on_the_client_and_its_output_relayed(
        own_cluster, runs, tmp_path: Path) -> None:
    project = make_project(tmp_path, own_cluster)
    network_package(project, "totals", settings_for(own_cluster) + "DEBUG_WINDOW = True\n"
                    + NETWORK.replace("FAIL_AT", "50").replace(
                        'DEFAULT_NODE = "127.0.0.3"', 'GROUPS = ["LOCAL"]').replace(
                        "        self.total += value\n",
                        "        self.total += value\n        print('total', self.total)\n"))
    run = runs(project, "totals")
    totals = run.local / "3" / "totals.csv"
    wait_until(lambda: run.events_of("job_restarted", job=2), 30, f"a restart\n{run.output}")
    wait_until(lambda: len(csv_rows(totals)) >= 90, 20, f"90 rows\n{run.output}")
    run.interrupt()
    assert run.wait(10) == 0, run.output
    assert run.placed(incarnation=1)[2] == "127.0.0.1"
    assert "[Running 2 @local] total 3003" in run.output  # value 77: after the restart
    _check_totals(csv_rows(totals))
